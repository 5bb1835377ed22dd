"""The curated model catalog (``models/*.json``): loading, validation and what follows from it.

Each family file lists instruct GGUF repositories with their quant files, the architecture
numbers from the model's ``config.json``, licence, task tags and a quality score with its
source; ``models/quant_loss.json`` holds llama.cpp's published quantisation-loss figures.

Without downloading anything a catalog entry becomes a *synthetic GGUF header*
(``synthetic_header``): the tensors llama.cpp would load, with the types its quantiser picks for
that file type (``src/llama-quant.cpp``, llama-cpp-python 0.3.36), and the metadata keys the
memory planner and the speed predictor read. The file's real size (when the catalog has it)
rescales the tensor sizes so the total matches the file.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from workbench.errors import BadInput
from workbench.gguf import GGUFHeader, TensorInfo
from workbench.planner.defaults import TASKS
from workbench.resources import models_dir

CATALOG_ENV = "WORKBENCH_CATALOG_DIR"
QUANT_LOSS_FILE = "quant_loss.json"
ARCHS = ("llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3", "olmo2")
SIZE_SOURCES = ("hf-listing", "computed")
COMPARABLE_METRIC = "MMLU-Pro"
ALIGNMENT = 32

# File type -> the ggml type most tensors get (llama_ftype_get_default_type, llama-quant.cpp).
FTYPE_BASE: dict[str, str] = {
    "F16": "F16", "BF16": "BF16", "Q8_0": "Q8_0", "Q6_K": "Q6_K",
    "Q5_K_M": "Q5_K", "Q5_K_S": "Q5_K", "Q4_K_M": "Q4_K", "Q4_K_S": "Q4_K", "Q4_0": "Q4_0",
    "Q3_K_L": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_S": "Q3_K", "Q2_K": "Q2_K",
    "IQ4_XS": "IQ4_XS", "IQ4_NL": "IQ4_NL",
}
QUANT_TYPES = tuple(FTYPE_BASE)
# tensor_type_fallback: a 256-block type on a row length that is not a multiple of 256.
_FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
             "IQ4_XS": "IQ4_NL"}


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
@dataclass(frozen=True)
class TensorPlan:
    """A tensor llama.cpp loads for this architecture: GGUF name, ggml shape (ne0 first), role."""

    name: str
    shape: tuple[int, ...]
    role: str  # token_embd output attn_q attn_k attn_v attn_qkv attn_output ffn_gate ffn_up
    # ffn_down ffn_gate_exps ffn_up_exps ffn_down_exps router norm bias
    layer: int = -1

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def plan_tensors(a: Architecture) -> list[TensorPlan]:
    """The tensors of a model with these numbers, in llama.cpp's naming and order."""
    E, V, F = a.n_embd, a.n_vocab, a.n_ff
    out = [TensorPlan("token_embd.weight", (E, V), "token_embd")]
    for i in range(a.n_layer):
        def t(name: str, role: str, *shape: int, i: int = i) -> TensorPlan:
            return TensorPlan(f"blk.{i}.{name}", shape, role, i)

        if a.arch != "olmo2":
            out.append(t("attn_norm.weight", "norm", E))
        if a.arch == "phi3":
            out.append(t("attn_qkv.weight", "attn_qkv", E, a.q_dim + 2 * a.kv_dim))
        else:
            out += [t("attn_q.weight", "attn_q", E, a.q_dim),
                    t("attn_k.weight", "attn_k", E, a.kv_dim),
                    t("attn_v.weight", "attn_v", E, a.kv_dim)]
        if a.arch == "qwen2":
            out += [t("attn_q.bias", "bias", a.q_dim), t("attn_k.bias", "bias", a.kv_dim),
                    t("attn_v.bias", "bias", a.kv_dim)]
        if a.arch in ("qwen3", "qwen3moe", "gemma3"):
            out += [t("attn_q_norm.weight", "norm", a.head_dim),
                    t("attn_k_norm.weight", "norm", a.head_dim)]
        if a.arch == "olmo2":
            out += [t("attn_q_norm.weight", "norm", a.q_dim),
                    t("attn_k_norm.weight", "norm", a.kv_dim)]
        out.append(t("attn_output.weight", "attn_output", a.q_dim, E))
        if a.arch in ("gemma2", "gemma3", "olmo2"):
            out.append(t("post_attention_norm.weight", "norm", E))
        if a.arch != "olmo2":
            out.append(t("ffn_norm.weight", "norm", E))
        if a.n_expert:
            X, Fe = a.n_expert, a.n_ff_expert
            out += [t("ffn_gate_inp.weight", "router", E, X),
                    t("ffn_gate_exps.weight", "ffn_gate_exps", E, Fe, X),
                    t("ffn_down_exps.weight", "ffn_down_exps", Fe, E, X),
                    t("ffn_up_exps.weight", "ffn_up_exps", E, Fe, X)]
        elif a.arch == "phi3":
            out += [t("ffn_up.weight", "ffn_up", E, 2 * F), t("ffn_down.weight", "ffn_down", F, E)]
        else:
            out += [t("ffn_gate.weight", "ffn_gate", E, F), t("ffn_down.weight", "ffn_down", F, E),
                    t("ffn_up.weight", "ffn_up", E, F)]
        if a.arch in ("gemma2", "gemma3", "olmo2"):
            out.append(t("post_ffw_norm.weight", "norm", E))
    out.append(TensorPlan("output_norm.weight", (E,), "norm"))
    if not a.tied_embeddings:
        out.append(TensorPlan("output.weight", (E, V), "output"))
    return out


def count_parameters(a: Architecture) -> int:
    """Every element of every tensor llama.cpp loads (what ``llama_model_n_params`` reports)."""
    return sum(t.n_elements for t in plan_tensors(a))


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_types(a: Architecture, quant: str) -> list[tuple[TensorPlan, str]]:
    """Each tensor with the ggml type llama.cpp's quantiser gives it for file type ``quant``.

    Follows ``llama_tensor_get_type_impl`` for the file types in ``FTYPE_BASE`` (no importance
    matrix, no overrides), including the row-length fallbacks of ``tensor_type_fallback``.
    """
    return list(_tensor_types(a, quant.upper()))


@functools.lru_cache(maxsize=512)
def _tensor_types(a: Architecture, quant: str) -> tuple[tuple[TensorPlan, str], ...]:
    """``tensor_types``, memoised: validation, sizes and headers ask for the same ones."""
    base = FTYPE_BASE[quant]
    gqa = a.n_head // a.n_head_kv
    n_layer = a.n_layer
    seventy_b = n_layer == 80 and a.n_embd == 8192  # LLM_TYPE_70B
    out: list[tuple[TensorPlan, str]] = []
    for t in plan_tensors(a):
        if t.role in ("norm", "bias", "router"):
            out.append((t, "F32"))
            continue
        if base in ("F16", "BF16"):
            out.append((t, base))
            continue
        new = base
        i = t.layer
        if t.role == "output" or (a.tied_embeddings and t.role == "token_embd"):
            new = "Q8_0" if t.shape[0] % 256 or base == "Q8_0" else "Q6_K"
        elif t.role == "token_embd":
            new = base
        elif t.role == "attn_v":
            if quant == "Q2_K":
                new = "Q4_K" if gqa >= 4 else "Q3_K"
            elif quant == "Q3_K_M":
                new = "Q5_K" if i < 2 else "Q4_K"
            elif quant == "Q3_K_L" or (quant in ("IQ4_NL", "IQ4_XS") and gqa >= 4):
                new = "Q5_K"
            elif quant in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layer):
                new = "Q6_K"
            elif quant == "Q4_K_S" and i < 4:
                new = "Q5_K"
            if seventy_b and new in ("Q3_K", "Q4_K"):
                new = "Q5_K"
            if a.n_expert == 8:
                new = "Q8_0"
        elif t.role == "attn_k" and a.n_expert == 8:
            new = "Q8_0"
        elif t.role in ("ffn_down", "ffn_down_exps"):
            if quant == "Q2_K":
                new = "Q3_K"
            elif quant == "Q3_K_M":
                new = "Q5_K" if i < n_layer // 16 else "Q4_K"
            elif quant == "Q3_K_L":
                new = "Q5_K"
            elif quant in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layer):
                new = "Q6_K"
            elif quant in ("IQ4_NL", "IQ4_XS", "Q4_K_S") and i < n_layer // 8:
                new = "Q5_K"  # IQ4: without an importance matrix, as computed sizes assume
        elif t.role == "attn_output":
            if a.n_expert == 8:
                if quant in ("Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS"):
                    new = "Q5_K"
            elif quant == "Q2_K":
                new = "Q3_K"
            elif quant == "Q3_K_M":
                new = "Q4_K"
            elif quant == "Q3_K_L":
                new = "Q5_K"
        elif t.role == "attn_qkv":
            if quant in ("Q3_K_M", "Q3_K_L"):
                new = "Q4_K"
            elif quant == "Q4_K_M":
                new = "Q5_K"
            elif quant == "Q5_K_M":
                new = "Q6_K"
        out.append((t, _fallback(new, t.shape[0])))
    return tuple(out)


def _fallback(type_name: str, ncols: int) -> str:
    block = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]][0]
    if ncols % block == 0:
        return type_name
    fallback = _FALLBACK.get(type_name, type_name)
    if ncols % GGML_QUANT_SIZES[GGMLQuantizationType[fallback]][0]:
        return "F16"
    return fallback


def type_nbytes(type_name: str, shape: Sequence[int]) -> int:
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    rows = 1
    for d in shape[1:]:
        rows *= d
    return shape[0] // block * size * rows


def computed_file_size(a: Architecture, quant: str) -> int:
    """Bytes of tensor data a file of this quant type holds (the header adds a few MB more)."""
    return sum(_padded(type_nbytes(ty, t.shape)) for t, ty in tensor_types(a, quant))


def _padded(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


# -- a header without a file -------------------------------------------------------------------
def synthetic_header(entry: CatalogEntry, quant_file: QuantFile) -> GGUFHeader:
    """A GGUF header for ``quant_file`` built from the catalog's numbers (nothing downloaded).

    Tensor types follow llama.cpp's quantiser; each tensor's byte count is scaled so that the
    total matches the file's catalogued size (which includes the real file's tokenizer header).
    """
    a = entry.architecture
    typed = tensor_types(a, quant_file.quant)
    raw = [type_nbytes(ty, t.shape) for t, ty in typed]
    computed = sum(_padded(n) for n in raw)
    scale = 1.0 if quant_file.computed else min(1.3, max(0.75, quant_file.size_bytes / computed))
    tensors: list[TensorInfo] = []
    offset = 0
    for (plan, ty), nbytes in zip(typed, raw, strict=True):
        size = nbytes if plan.role in ("norm", "bias", "router") else int(nbytes * scale)
        ggml_type = int(GGMLQuantizationType[ty])
        tensors.append(TensorInfo(name=plan.name, shape=plan.shape, ggml_type=ggml_type,
                                  type_name=ty, offset=offset, n_bytes=size,
                                  n_elements=plan.n_elements))
        offset += _padded(size)
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
    file_size = max(quant_file.size_bytes, offset)
    return GGUFHeader(
        source=f"catalog:{entry.id}:{quant_file.quant}", version=3, metadata=metadata,
        tensors=tuple(tensors), alignment=ALIGNMENT, data_offset=file_size - offset,
        file_size=file_size, header_size=file_size - offset,
    )


def entries_with_files(entries: Iterable[CatalogEntry]) -> list[tuple[CatalogEntry, QuantFile]]:
    return [(e, f) for e in entries for f in e.files]
