"""The curated model catalog (``models/*.json``): loading, validation and what follows from it.

Each family file lists instruct GGUF repositories with their quant files, the architecture
numbers from the model's ``config.json``, licence, task tags and a quality score with its
source; ``models/quant_loss.json`` holds llama.cpp's published quantisation-loss figures.

Without downloading anything a catalog entry becomes a *synthetic GGUF header*
(``synthetic_header``): the tensors llama.cpp would load (the one layout,
``workbench.synth.layout``), with the types its quantiser picks for that file type
(``workbench.planner.synthetic.quantiser_types``), and the metadata keys the memory planner and
the speed predictor read. The file's real size (when the catalog has it)
rescales the tensor sizes so the total matches the file.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf.constants import LlamaFileType

from workbench.errors import BadInput
from workbench.gguf import GGUFHeader
from workbench.planner.defaults import TASKS
from workbench.planner.synthetic import ALIGNMENT as ALIGNMENT  # the one alignment constant
from workbench.planner.synthetic import (
    FTYPE_BASE,
    build_header,
    padded,
    quantised_tensors,
    quantiser_types,
    type_nbytes,
)
from workbench.resources import models_dir
from workbench.synth.layout import ArchShape, TensorSpec, layout_tensors

CATALOG_ENV = "WORKBENCH_CATALOG_DIR"
QUANT_LOSS_FILE = "quant_loss.json"
ARCHS = ("llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3", "olmo2")
SIZE_SOURCES = ("hf-listing", "computed")
COMPARABLE_METRIC = "MMLU-Pro"
QUANT_TYPES = tuple(FTYPE_BASE)


# -- data ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Architecture:
    """The numbers from a model's config.json that decide its tensors, KV cache and speed."""

    arch: str  # llama.cpp's general.architecture
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    tied_embeddings: bool
    sliding_window: int = 0
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_expert: int = 0

    @property
    def q_dim(self) -> int:
        return self.n_head * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_head_kv * self.head_dim

    @property
    def layout(self) -> ArchShape:
        """The numbers that decide the tensors (workbench.synth.layout), for this model."""
        return ArchShape(arch=self.arch, n_layer=self.n_layer, n_embd=self.n_embd,
                         n_head=self.n_head, n_head_kv=self.n_head_kv, head_dim=self.head_dim,
                         n_ff=self.n_ff, n_vocab=self.n_vocab,
                         tied_embeddings=self.tied_embeddings, n_expert=self.n_expert,
                         n_ff_expert=self.n_ff_expert)


@dataclass(frozen=True)
class QuantFile:
    """One downloadable quantisation. ``parts`` lists every shard of a split file (else empty)."""

    quant: str
    name: str
    size_bytes: int
    size_source: str  # "hf-listing" (rounded as the Hub lists it) or "computed"
    parts: tuple[str, ...] = ()

    @property
    def computed(self) -> bool:
        return self.size_source == "computed"


@dataclass(frozen=True)
class Quality:
    """A published benchmark score; only ``MMLU-Pro`` scores are compared with each other."""

    score: float
    metric: str
    source: str
    date: str

    @property
    def comparable(self) -> bool:
        return self.metric == COMPARABLE_METRIC


@dataclass(frozen=True)
class QuantLoss:
    """llama.cpp's measured loss of a quant type against FP16 (LLaMA 3 8B scoreboard)."""

    quant: str
    kld: float
    delta_ppl: float
    mean_delta_p: float  # mean change of the correct token's probability, in percent
    rms_delta_p: float
    imatrix: str


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    family: str
    repo: str
    base_model: str
    released: str
    licence: str
    tasks: tuple[str, ...]
    architecture: Architecture
    context_length: int
    n_params: int
    arch_source: str
    quality: Quality | None
    files: tuple[QuantFile, ...]
    notes: str = ""

    def file(self, quant: str) -> QuantFile | None:
        for f in self.files:
            if f.quant == quant.upper():
                return f
        return None

    def url(self, quant_file: QuantFile, endpoint: str | None = None) -> str:
        """The file's download URL (the first shard of a split file); honours ``HF_ENDPOINT``."""
        base = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        name = quant_file.parts[0] if quant_file.parts else quant_file.name
        return f"{base}/{self.repo}/resolve/main/{name}"

    def to_dict(self) -> dict[str, Any]:
        a = self.architecture
        return {
            "id": self.id, "name": self.name, "family": self.family, "repo": self.repo,
            "licence": self.licence, "tasks": list(self.tasks),
            "context_length": self.context_length, "n_params": self.n_params,
            "architecture": {k: getattr(a, k) for k in a.__dataclass_fields__},
            "quality": None if self.quality is None else {
                "score": self.quality.score, "metric": self.quality.metric,
                "source": self.quality.source, "date": self.quality.date},
            "files": [{"quant": f.quant, "name": f.name, "size_bytes": f.size_bytes,
                       "size_source": f.size_source} for f in self.files],
        }


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    quant_losses: dict[str, QuantLoss] = field(default_factory=dict)
    loss_source: str = ""

    def get(self, entry_id: str) -> CatalogEntry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise BadInput(f"no catalog entry {entry_id!r}")

    def for_task(self, task: str | None) -> list[CatalogEntry]:
        if task is None:
            return list(self.entries)
        if task not in TASKS:
            raise BadInput(f"unknown task {task!r}; choose from: {', '.join(TASKS)}")
        return [e for e in self.entries if task in e.tasks]

    def loss(self, quant: str) -> QuantLoss | None:
        return self.quant_losses.get(quant.upper())


# -- loading and validation ------------------------------------------------------------------
def catalog_dir() -> Path:
    """``$WORKBENCH_CATALOG_DIR``, else the shipped ``models/`` folder: the checkout's, or the
    one a wheel installs under ``<prefix>/share/workbench`` (``workbench.resources``)."""
    env = os.environ.get(CATALOG_ENV)
    if env:
        return Path(env).expanduser()
    return models_dir()


def load_catalog(directory: Path | str | None = None) -> Catalog:
    """Read and validate every family file; ``BadInput`` lists what is wrong."""
    return _load_cached(str(Path(directory) if directory else catalog_dir()))


@functools.lru_cache(maxsize=4)
def _load_cached(directory: str) -> Catalog:
    root = Path(directory)
    if not root.is_dir():
        raise BadInput(f"model catalog not found at {root} (set {CATALOG_ENV})")
    families: dict[str, Any] = {}
    for path in sorted(root.glob("*.json")):
        if path.name == QUANT_LOSS_FILE:
            continue
        try:
            families[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise BadInput(f"catalog file {path} is not valid JSON: {err}") from None
    loss_path = root / QUANT_LOSS_FILE
    try:
        losses = json.loads(loss_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise BadInput(f"{loss_path} is missing or not valid JSON: {err}") from None
    problems = validate(families, losses)
    if problems:
        raise BadInput("model catalog is invalid: " + "; ".join(problems[:10]))
    entries = tuple(_entry(raw, data["family"]) for data in families.values()
                    for raw in data["entries"])
    quant_losses = {row["quant"]: QuantLoss(**row) for row in losses["rows"]}
    return Catalog(entries, quant_losses, losses["source"])


def _entry(raw: dict[str, Any], family: str) -> CatalogEntry:
    quality = raw.get("quality")
    return CatalogEntry(
        id=raw["id"], name=raw["name"], family=family, repo=raw["repo"],
        base_model=raw["base_model"], released=raw["released"], licence=raw["licence"],
        tasks=tuple(raw["tasks"]), architecture=Architecture(**raw["architecture"]),
        context_length=raw["context_length"], n_params=raw["n_params"],
        arch_source=raw["arch_source"],
        quality=Quality(**quality) if quality else None,
        files=tuple(QuantFile(quant=f["quant"], name=f["name"], size_bytes=f["size_bytes"],
                              size_source=f["size_source"], parts=tuple(f.get("parts", ())))
                    for f in raw["files"]),
        notes=raw.get("notes", ""),
    )


_ENTRY_KEYS = {"id", "name", "repo", "base_model", "released", "licence", "tasks",
               "architecture", "context_length", "n_params", "arch_source", "quality", "files"}
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


def validate(families: dict[str, Any], losses: dict[str, Any]) -> list[str]:
    """Every problem found in the raw catalog data (empty when it is sound)."""
    problems: list[str] = []
    seen: set[str] = set()
    if not isinstance(losses, dict) or not losses.get("source") or not losses.get("rows"):
        problems.append(f"{QUANT_LOSS_FILE}: needs a source and rows")
        loss_quants: set[str] = set()
    else:
        loss_quants = {row.get("quant") for row in losses["rows"]}
        for row in losses["rows"]:
            if set(row) != set(QuantLoss.__dataclass_fields__):
                problems.append(f"{QUANT_LOSS_FILE}: row {row.get('quant')} has keys {sorted(row)}")
    for filename, data in families.items():
        if not isinstance(data, dict) or not data.get("family") or not isinstance(
                data.get("entries"), list) or not data["entries"]:
            problems.append(f"{filename}: needs 'family' and a non-empty 'entries' list")
            continue
        for raw in data["entries"]:
            problems += [f"{filename}: {p}" for p in _validate_entry(raw, seen, loss_quants)]
    return problems


def _validate_entry(raw: Any, seen: set[str], loss_quants: set[str]) -> list[str]:
    if not isinstance(raw, dict):
        return ["an entry is not an object"]
    eid = raw.get("id", "?")
    out: list[str] = []
    missing = _ENTRY_KEYS - set(raw)
    if missing:
        return [f"{eid}: missing {', '.join(sorted(missing))}"]
    if eid in seen:
        out.append(f"{eid}: duplicate id")
    seen.add(eid)
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", str(raw["repo"])):
        out.append(f"{eid}: repo {raw['repo']!r} is not owner/name")
    if not _DATE.match(str(raw["released"])):
        out.append(f"{eid}: released must be YYYY-MM[-DD]")
    if not raw["licence"]:
        out.append(f"{eid}: licence is empty")
    bad_tasks = [t for t in raw["tasks"] if t not in TASKS] if raw["tasks"] else ["(none)"]
    if bad_tasks:
        out.append(f"{eid}: unknown tasks {bad_tasks}")
    try:
        arch = Architecture(**raw["architecture"])
    except TypeError as err:
        return [*out, f"{eid}: architecture: {err}"]
    if arch.arch not in ARCHS:
        out.append(f"{eid}: architecture {arch.arch!r} not one of {ARCHS}")
    numbers = ("n_layer", "n_embd", "n_head", "n_head_kv", "head_dim", "n_ff", "n_vocab")
    if any(getattr(arch, k) <= 0 for k in numbers):
        out.append(f"{eid}: architecture numbers must be positive")
        return out
    if arch.n_head % arch.n_head_kv:
        out.append(f"{eid}: n_head is not a multiple of n_head_kv")
    if (arch.n_expert > 0) != (arch.n_expert_used > 0) or arch.n_expert_used > arch.n_expert:
        out.append(f"{eid}: expert counts are inconsistent")
    if raw["context_length"] <= 0:
        out.append(f"{eid}: context_length must be positive")
    if arch.arch in ARCHS and raw["n_params"] != count_parameters(arch):
        out.append(f"{eid}: n_params {raw['n_params']} differs from the architecture's "
                   f"{count_parameters(arch)}")
    if not raw["arch_source"]:
        out.append(f"{eid}: arch_source is empty")
    quality = raw["quality"]
    if quality is not None:
        if set(quality) != {"score", "metric", "source", "date"}:
            out.append(f"{eid}: quality needs score, metric, source, date")
        elif not (0 < float(quality["score"]) <= 100 and quality["source"] and
                  _DATE.match(str(quality["date"]))):
            out.append(f"{eid}: quality score must be in (0, 100] with a source and a date")
    elif not raw.get("notes"):
        out.append(f"{eid}: no quality score and no note saying why")
    if not raw["files"]:
        out.append(f"{eid}: no files")
    quants = set()
    for f in raw["files"]:
        quant = f.get("quant")
        if quant not in FTYPE_BASE:
            out.append(f"{eid}: unknown quant type {quant!r}")
            continue
        if quant in quants:
            out.append(f"{eid}: {quant} listed twice")
        quants.add(quant)
        if loss_quants and quant not in loss_quants:
            out.append(f"{eid}: no quantisation-loss row for {quant}")
        if not str(f.get("name", "")).endswith(".gguf"):
            out.append(f"{eid}: {quant} file name must end in .gguf")
        if not isinstance(f.get("size_bytes"), int) or f["size_bytes"] <= 0:
            out.append(f"{eid}: {quant} size must be a positive integer")
            continue
        if f.get("size_source") not in SIZE_SOURCES:
            out.append(f"{eid}: {quant} size_source must be one of {SIZE_SOURCES}")
        elif arch.arch in ARCHS:
            expected = computed_file_size(arch, quant)
            if f["size_source"] == "computed" and f["size_bytes"] != expected:
                out.append(f"{eid}: computed {quant} size {f['size_bytes']} != {expected}")
            elif not 0.85 <= f["size_bytes"] / expected <= 1.25:
                out.append(f"{eid}: {quant} size {f['size_bytes']} is far from the "
                           f"{expected} its architecture implies")
        parts = f.get("parts", [])
        if parts and (f["name"] != parts[0] or not all(str(p).endswith(".gguf") for p in parts)):
            out.append(f"{eid}: {quant} parts must start with the file name")
    return out


# -- tensors, types and sizes ----------------------------------------------------------------
# One layout (workbench.synth.layout) and one header builder (workbench.planner.synthetic) serve
# the catalog, the presets and the synthesiser; these names are the catalog's view of them.
TensorPlan = TensorSpec  # a tensor llama.cpp loads: GGUF name, ggml shape (ne0 first), role, layer


def plan_tensors(a: Architecture) -> list[TensorPlan]:
    """The tensors of a model with these numbers, in llama.cpp's naming and order."""
    return list(layout_tensors(a.layout))


def count_parameters(a: Architecture) -> int:
    """Every element of every tensor llama.cpp loads (what ``llama_model_n_params`` reports)."""
    return sum(t.n_elements for t in layout_tensors(a.layout))


def tensor_types(a: Architecture, quant: str) -> list[tuple[TensorPlan, str]]:
    """Each tensor with the ggml type llama.cpp's quantiser gives it for file type ``quant``
    (``workbench.planner.synthetic.quantised_tensors``)."""
    return list(quantised_tensors(a.layout, quant))


def computed_file_size(a: Architecture, quant: str) -> int:
    """Bytes of tensor data a file of this quant type holds (the header adds a few MB more)."""
    return sum(padded(type_nbytes(ty, t.shape)) for t, ty in quantised_tensors(a.layout, quant))


# -- a header without a file -------------------------------------------------------------------
def synthetic_header(entry: CatalogEntry, quant_file: QuantFile) -> GGUFHeader:
    """A GGUF header for ``quant_file`` built from the catalog's numbers (nothing downloaded).

    Tensor types follow llama.cpp's quantiser; each tensor's byte count is scaled so that the
    total matches the file's catalogued size (which includes the real file's tokenizer header).
    """
    a = entry.architecture
    layout = a.layout
    arch = a.arch
    metadata: dict[str, Any] = {
        "general.architecture": arch,
        "general.name": entry.name,
        "general.file_type": int(LlamaFileType[f"MOSTLY_{quant_file.quant}"]),
        f"{arch}.block_count": a.n_layer,
        f"{arch}.context_length": entry.context_length,
        f"{arch}.embedding_length": a.n_embd,
        f"{arch}.feed_forward_length": a.n_ff,
        f"{arch}.attention.head_count": a.n_head,
        f"{arch}.attention.head_count_kv": a.n_head_kv,
        f"{arch}.attention.key_length": a.head_dim,
        f"{arch}.attention.value_length": a.head_dim,
        f"{arch}.vocab_size": a.n_vocab,
    }
    if a.sliding_window:
        metadata[f"{arch}.attention.sliding_window"] = a.sliding_window
    if a.n_expert:
        metadata[f"{arch}.expert_count"] = a.n_expert
        metadata[f"{arch}.expert_used_count"] = a.n_expert_used
        metadata[f"{arch}.expert_feed_forward_length"] = a.n_ff_expert
    return build_header(layout_tensors(layout), quantiser_types(layout, quant_file.quant),
                        metadata, source=f"catalog:{entry.id}:{quant_file.quant}",
                        file_size=quant_file.size_bytes, rescale=not quant_file.computed)


def entries_with_files(entries: Iterable[CatalogEntry]) -> list[tuple[CatalogEntry, QuantFile]]:
    return [(e, f) for e in entries for f in e.files]
