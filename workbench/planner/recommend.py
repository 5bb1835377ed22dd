"""Which catalog models this machine runs well: memory fit, predicted speed, expected quality.

For every catalog entry and quant file: the offload plan (``offload.plan_offload`` on the
entry's synthetic header, or on the real header read remotely with ``online=True``), the
predicted generation speed (``speed.Predictor``) and the expected quality (the published
MMLU-Pro score less llama.cpp's measured loss of the quant type). Ranking:

1. usable first: predicted generation speed at least ``min_tokens_per_s`` (or unknown);
2. fit: full_gpu > partial > cpu_only (too_large is left out unless asked for, then last);
3. expected quality (entries without a comparable score after those with one, larger first).

With ``per_entry`` (the default) each entry is represented by its best file by the same order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import BadInput, WorkbenchError
from workbench.gguf import GGUFError, GGUFHeader, read_split_headers
from workbench.hardware.model import (
    CpuInfo,
    GpuInfo,
    GpuProcess,
    HardwareReport,
    LlamaBuild,
    NvmlStatus,
    OsInfo,
    PciDisplayDevice,
    RamInfo,
)
from workbench.planner.catalog import (
    Catalog,
    CatalogEntry,
    Quality,
    QuantFile,
    load_catalog,
    synthetic_header,
)
from workbench.planner.defaults import DEFAULT_MIN_TOKENS_PER_S
from workbench.planner.memory import FIT_LABELS, MemoryPlan
from workbench.planner.offload import OffloadPlan, plan_offload
from workbench.planner.speed import Predictor, SpeedPrediction, weight_profile

FIT_ORDER = {fit: rank for rank, fit in enumerate(FIT_LABELS)}
BACKEND_BY_VENDOR = {"nvidia": "cuda", "amd": "rocm", "apple": "metal"}


def planner_backend(vendor: str, report: HardwareReport) -> str:
    """The backend a ``vendor`` GPU is planned with: the vendor's own (CUDA, ROCm, Metal),
    unless the installed llama.cpp build has only others (then Vulkan, else the first)."""
    preferred = BACKEND_BY_VENDOR.get(vendor, "vulkan")
    families = report.llama.gpu_backends() if report.llama.probe_ok else set()
    if families and preferred not in families:
        return "vulkan" if "vulkan" in families else sorted(families)[0]
    return preferred
ONLINE_REFRESH = 10  # best entries whose real headers are read with --online


@dataclass(frozen=True)
class MachineBudget:
    """What the planner may use: GPUs (one backend), their free memory, free RAM."""

    backend: str
    gpus: tuple[GpuInfo, ...]
    free_vram_bytes: tuple[int, ...]
    free_ram_bytes: int
    unified: bool
    notes: tuple[str, ...] = ()


def hardware_from_dict(data: dict[str, Any]) -> HardwareReport:
    """A ``HardwareReport`` from its ``to_dict()`` form (``workbench hw --json``)."""

    def make(cls: Any, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise BadInput(f"hardware description: {cls.__name__} must be an object")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    try:
        gpus = []
        for raw in data.get("gpus", []):
            gpu = make(GpuInfo, raw)
            gpu.processes = [make(GpuProcess, p) for p in raw.get("processes", [])]
            gpus.append(gpu)
        return HardwareReport(
            os=make(OsInfo, data["os"]), cpu=make(CpuInfo, data["cpu"]),
            ram=make(RamInfo, data["ram"]), gpus=gpus,
            nvml=make(NvmlStatus, data.get("nvml") or {"available": False}),
            llama=make(LlamaBuild, data.get("llama") or {"installed": False}),
            pci_display_devices=[make(PciDisplayDevice, d)
                                 for d in data.get("pci_display_devices", [])],
        )
    except (KeyError, TypeError) as err:
        raise BadInput(f"hardware description is incomplete: {err}") from None


def machine_budget(report: HardwareReport) -> MachineBudget:
    """The GPUs llama.cpp can use (the first vendor's) and the free memory, from ``detect()``."""
    ram = report.ram.available_bytes or report.ram.total_bytes or 0
    notes: list[str] = []
    usable = [g for g in report.gpus if g.llama_usable is not False]
    skipped = [g for g in report.gpus if g.llama_usable is False]
    if skipped:
        notes.append(f"{len(skipped)} GPU(s) not usable by this llama.cpp build: planned "
                     "without them")
    if usable:
        vendor = usable[0].vendor
        gpus = tuple(g for g in usable if g.vendor == vendor)
        free = tuple(int(g.vram_free_bytes if g.vram_free_bytes is not None
                         else g.vram_total_bytes or 0) for g in gpus)
        if sum(free) > 0:
            unified = any(g.unified_memory for g in gpus)
            return MachineBudget(BACKEND_BY_VENDOR.get(vendor, "vulkan"), gpus, free, ram,
                                 unified, tuple(notes))
    return MachineBudget("cpu", (), (), ram, False, tuple(notes))


@dataclass(frozen=True)
class Recommendation:
    """One catalog file on this machine: fit, memory, GPU layers, speed, quality, licence."""

    entry: CatalogEntry
    file: QuantFile
    fit: str
    n_gpu_layers: int
    n_layers: int  # offloadable layers (blocks + output)
    n_ctx: int
    memory: MemoryPlan
    speed: SpeedPrediction
    quality: Quality | None
    expected_quality: float | None
    usable: bool
    reason: str
    header_source: str  # "catalog" (synthetic header) or the URL read with --online
    quant_loss: float = 0.0  # the quant type's mean delta-p (percent, <= 0)
    notes: tuple[str, ...] = field(default=())

    @property
    def repo_filename(self) -> str:
        """The repository path that selects the recommended file (the first shard of a split)."""
        return self.file.parts[0] if self.file.parts else self.file.name

    def sort_key(self) -> tuple[Any, ...]:
        scored = self.expected_quality is not None
        # unscored entries: larger models first, then the quant type that loses least
        return (not self.usable, FIT_ORDER.get(self.fit, 9), not scored,
                -(self.expected_quality or 0.0), -self.entry.n_params, -self.quant_loss,
                -(self.speed.tg_tokens_per_s or 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.entry.id,
            "name": self.entry.name,
            "repo": self.entry.repo,
            "file": self.file.name,
            "quant": self.file.quant,
            "size_bytes": self.file.size_bytes,
            "size_source": self.file.size_source,
            "fit": self.fit,
            "n_gpu_layers": self.n_gpu_layers,
            "n_layers": self.n_layers,
            "n_ctx": self.n_ctx,
            "memory": self.memory.totals(),
            "speed": {"tg_tokens_per_s": self.speed.tg_tokens_per_s,
                      "pp_tokens_per_s": self.speed.pp_tokens_per_s,
                      "method": self.speed.method, "device": self.speed.device,
                      "bound": self.speed.bound, "basis": self.speed.basis},
            "quality": None if self.quality is None else {
                "score": self.quality.score, "metric": self.quality.metric,
                "source": self.quality.source, "date": self.quality.date,
                "comparable": self.quality.comparable},
            "expected_quality": self.expected_quality,
            "quant_loss_mean_delta_p": self.quant_loss,
            "usable": self.usable,
            "licence": self.entry.licence,
            "tasks": list(self.entry.tasks),
            "n_params": self.entry.n_params,
            "reason": self.reason,
            "header_source": self.header_source,
            "notes": list(self.notes),
        }


def expected_quality(entry: CatalogEntry, quant: str, catalog: Catalog) -> float | None:
    """The comparable score less the quant's measured loss: score x (1 + mean delta-p)."""
    if entry.quality is None or not entry.quality.comparable:
        return None
    loss = catalog.loss(quant)
    factor = 1.0 + (loss.mean_delta_p / 100.0 if loss else 0.0)
    return round(entry.quality.score * factor, 2)


def evaluate(entry: CatalogEntry, quant_file: QuantFile, budget: MachineBudget, *,
             catalog: Catalog, predictor: Predictor, ctx: int = 4096, kv_type: str = "f16",
             min_tokens_per_s: float = DEFAULT_MIN_TOKENS_PER_S,
             header: GGUFHeader | tuple[GGUFHeader, ...] | None = None,
             header_source: str = "catalog") -> Recommendation:
    """Plan, predict and score one file of one entry on this machine."""
    headers = header if header is not None else synthetic_header(entry, quant_file)
    plan = _plan(headers, budget, ctx, kv_type)
    mp = plan.plan
    gpu = budget.gpus[0] if budget.gpus and plan.n_gpu_layers else None
    if gpu is not None and len(budget.gpus) > 1:
        known = [g for g in budget.gpus if g.memory_bandwidth_gbps]
        gpu = min(known, key=lambda g: g.memory_bandwidth_gbps or 0) if known else gpu
    profile = weight_profile(headers)
    if plan.fit == "too_large":
        speed = SpeedPrediction(None, None, "bandwidth", "cpu", None,
                                "not predicted: the model does not fit this machine")
    else:
        speed = predictor.predict(profile, gpu=gpu, n_gpu_layers=plan.n_gpu_layers,
                                  headers=headers)
    tg = speed.tg_tokens_per_s
    usable = plan.fit != "too_large" and (tg is None or tg >= min_tokens_per_s)
    notes = list(budget.notes)
    loss = catalog.loss(quant_file.quant)
    if plan.n_ctx < ctx:
        notes.append(f"context reduced to {plan.n_ctx} to fit")
    if tg is not None and tg < min_tokens_per_s and plan.fit != "too_large":
        notes.append(f"below the usable-speed floor of {min_tokens_per_s:g} tok/s")
    return Recommendation(
        entry=entry, file=quant_file, fit=plan.fit, n_gpu_layers=plan.n_gpu_layers,
        n_layers=mp.n_layers, n_ctx=plan.n_ctx, memory=mp, speed=speed,
        quality=entry.quality, expected_quality=expected_quality(entry, quant_file.quant,
                                                                 catalog),
        usable=usable, reason=plan.reason, header_source=header_source,
        quant_loss=loss.mean_delta_p if loss else 0.0, notes=tuple(notes))


def _plan(headers: Any, budget: MachineBudget, ctx: int, kv_type: str) -> OffloadPlan:
    settings: dict[str, Any] = {"kv_type": kv_type}
    if budget.backend == "cpu":
        return plan_offload(headers, free_vram_bytes=None, free_ram_bytes=budget.free_ram_bytes,
                            n_ctx=ctx, n_ctx_min=ctx, backend="cpu", **settings)
    free_ram = budget.free_ram_bytes
    if budget.unified:  # one memory: what the GPU may take is not free for the CPU side
        free_ram = max(0, free_ram - sum(budget.free_vram_bytes))
    plan = plan_offload(headers, free_vram_bytes=list(budget.free_vram_bytes),
                        free_ram_bytes=free_ram, n_ctx=ctx, n_ctx_min=ctx,
                        backend=budget.backend, **settings)
    if plan.fit == "too_large" and budget.unified:
        cpu = plan_offload(headers, free_vram_bytes=None, free_ram_bytes=budget.free_ram_bytes,
                           n_ctx=ctx, n_ctx_min=ctx, backend="cpu", **settings)
        if cpu.fit != "too_large":
            return cpu
    return plan


def recommend(
    hardware_report: HardwareReport,
    *,
    task: str | None = None,
    ctx: int = 4096,
    min_tokens_per_s: float = DEFAULT_MIN_TOKENS_PER_S,
    limit: int | None = None,
    per_entry: bool = True,
    include_too_large: bool = False,
    kv_type: str = "f16",
    catalog: Catalog | None = None,
    predictor: Predictor | None = None,
    online: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Recommendation]:
    """Ranked recommendations for ``hardware_report`` (see the module doc for the order)."""
    if ctx < 256 or ctx > 1 << 24:
        raise BadInput(f"context length {ctx} is out of range (256 .. {1 << 24})")
    if min_tokens_per_s < 0:
        raise BadInput("the usable-speed floor cannot be negative")
    if limit is not None and limit < 1:
        raise BadInput("limit must be at least 1")
    catalog = catalog or load_catalog()
    predictor = predictor or Predictor()
    budget = machine_budget(hardware_report)
    results = []
    for entry in catalog.for_task(task):
        for quant_file in entry.files:
            results.append(evaluate(entry, quant_file, budget, catalog=catalog,
                                    predictor=predictor, ctx=ctx, kv_type=kv_type,
                                    min_tokens_per_s=min_tokens_per_s))
    ranked = _rank(results, per_entry=per_entry, include_too_large=include_too_large)
    if online:
        ranked = _refresh_online(ranked[:limit or ONLINE_REFRESH], budget, catalog=catalog,
                                 predictor=predictor, ctx=ctx, kv_type=kv_type,
                                 min_tokens_per_s=min_tokens_per_s, endpoint=endpoint,
                                 token=token, progress=progress)
        ranked = _rank(ranked, per_entry=False, include_too_large=include_too_large)
    return ranked[:limit] if limit else ranked


FIRST_PICK_TOKENS_PER_S = 10.0  # a first model should answer faster than one reads


def first_pick(hardware_report: HardwareReport, **options: Any) -> list[Recommendation]:
    """The one catalog file to offer on a first start (the Start page's pick): the best among
    those predicted to answer comfortably fast (at least ``FIRST_PICK_TOKENS_PER_S``; a first
    model at the usual 5 tok/s floor feels broken), else the best at the usual floor. At most
    one recommendation; ``options`` go to ``recommend`` (catalog, predictor, ctx, ...)."""
    picks = recommend(hardware_report, limit=1, min_tokens_per_s=FIRST_PICK_TOKENS_PER_S,
                      **options)
    if picks and picks[0].usable:
        return picks
    return recommend(hardware_report, limit=1, **options)


def _rank(results: list[Recommendation], *, per_entry: bool,
          include_too_large: bool) -> list[Recommendation]:
    if not include_too_large:
        results = [r for r in results if r.fit != "too_large"]
    results = sorted(results, key=Recommendation.sort_key)
    if not per_entry:
        return results
    seen: set[str] = set()
    best = []
    for r in results:
        if r.entry.id not in seen:
            seen.add(r.entry.id)
            best.append(r)
    return best


def _refresh_online(ranked: list[Recommendation], budget: MachineBudget, *, catalog: Catalog,
                    predictor: Predictor, ctx: int, kv_type: str, min_tokens_per_s: float,
                    endpoint: str | None, token: str | None,
                    progress: Callable[[str], None] | None) -> list[Recommendation]:
    """Re-plan the best recommendations from their real headers (HTTP range reads)."""
    out = []
    for rec in ranked:
        url = rec.entry.url(rec.file, endpoint)
        if progress:
            progress(f"reading {url}")
        try:
            headers = read_split_headers(url, token=token)
        except (GGUFError, WorkbenchError) as err:
            note = f"online header not read ({err}); catalog figures kept"
            out.append(dataclasses.replace(rec, notes=(*rec.notes, note)))
            continue
        size = sum(h.file_size for h in headers)
        refreshed = dataclasses.replace(rec.file, size_bytes=size, size_source="hf-listing")
        out.append(evaluate(rec.entry, refreshed, budget, catalog=catalog, predictor=predictor,
                            ctx=ctx, kv_type=kv_type, min_tokens_per_s=min_tokens_per_s,
                            header=tuple(headers), header_source=url))
    return out
