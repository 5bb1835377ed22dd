"""The offload planner: the most GPU layers and the longest context that fit, as llama.cpp's
``--fit`` (common/fit.cpp) would choose them.

Order (llama.cpp's): keep a margin free on every GPU (1 GiB by default, like --fit); if the
full model does not fit at the wanted context, shrink the context first, in steps of 256, down
to a floor (4096, or the wanted context if smaller); then, for a mixture-of-experts model, keep
expert tensors on the CPU (all of them, then as few layers' worth as fit: --n-cpu-moe), and only
then offload fewer layers. The CPU side must fit the free RAM less its own margin.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import BadInput
from workbench.gguf import GGUFHeader
from workbench.planner.hparams import ModelParams, model_params
from workbench.planner.kvcache import pad
from workbench.planner.memory import MemoryPlan, estimate_memory

GiB = 1 << 30
DEFAULT_MARGIN = 1 * GiB
DEFAULT_CTX_FLOOR = 4096


@dataclass(frozen=True)
class OffloadPlan:
    """What to load with: GPU layers, context, experts kept on the CPU, and the memory plan."""

    n_gpu_layers: int
    n_ctx: int
    n_cpu_moe: int
    fit: str
    plan: MemoryPlan
    reason: str
    free_vram_bytes: tuple[int, ...]
    free_ram_bytes: int
    margin_bytes: int
    steps: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_gpu_layers": self.n_gpu_layers, "n_ctx": self.n_ctx, "n_cpu_moe": self.n_cpu_moe,
            "fit": self.fit, "reason": self.reason,
            "free_vram_bytes": list(self.free_vram_bytes), "free_ram_bytes": self.free_ram_bytes,
            "margin_bytes": self.margin_bytes, "steps": list(self.steps),
            "plan": self.plan.to_dict(),
        }


def plan_offload(
    model: GGUFHeader | Sequence[GGUFHeader] | ModelParams,
    *,
    free_vram_bytes: int | Sequence[int] | None,
    free_ram_bytes: int,
    n_ctx: int,
    n_ctx_min: int = DEFAULT_CTX_FLOOR,
    margin_bytes: int = DEFAULT_MARGIN,
    ram_margin_bytes: int = DEFAULT_MARGIN,
    backend: str = "cuda",
    **settings: Any,
) -> OffloadPlan:
    """The largest offload and context that fit, with its ``MemoryPlan`` and a fit label.

    ``free_vram_bytes`` is one number or one per GPU (None/empty: no GPU); ``settings`` go to
    ``estimate_memory`` (n_ubatch, kv_type, flash_attn, repack, swa_full, ...).
    """
    p = model if isinstance(model, ModelParams) else model_params(model)
    if "n_gpu_layers" in settings or "n_cpu_moe" in settings:
        raise BadInput("plan_offload chooses n_gpu_layers and n_cpu_moe itself")
    frees = _as_list(free_vram_bytes)
    if any(f < 0 for f in frees) or free_ram_bytes < 0:
        raise BadInput("free memory cannot be negative")
    want = pad(n_ctx or p.n_ctx_train or DEFAULT_CTX_FLOOR)
    floor = min(pad(n_ctx_min), want)
    n_all = p.n_layer + 1
    steps: list[str] = []
    ram_target = free_ram_bytes - ram_margin_bytes

    gpu = backend != "cpu" and bool(frees) and sum(frees) > 0
    if not gpu:
        return _cpu_only(p, want, floor, frees, free_ram_bytes, margin_bytes, ram_target,
                         settings, steps)

    n_gpus = len(frees)
    vram_target = sum(f - margin_bytes for f in frees)
    per_gpu_target = min(f - margin_bytes for f in frees) if n_gpus > 1 else vram_target

    def plan(ngl: int, ctx: int, cpu_moe: int = 0) -> MemoryPlan:
        return estimate_memory(p, n_ctx=ctx, n_gpu_layers=ngl, n_cpu_moe=cpu_moe,
                               backend=backend, n_gpus=n_gpus, **settings)

    def gpu_fits(mp: MemoryPlan) -> bool:
        if mp.gpu_bytes > vram_target:
            return False
        # several GPUs: each holds its share of the layers (by free memory) and a compute buffer
        return n_gpus == 1 or _largest_share(mp, frees) <= per_gpu_target

    def done(mp: MemoryPlan, ngl: int, ctx: int, cpu_moe: int, reason: str) -> OffloadPlan:
        fit = mp.fit if mp.cpu_bytes <= ram_target else "too_large"
        if fit == "too_large":
            reason = (f"needs {_gib(mp.cpu_bytes)} of RAM with {ngl} GPU layers, "
                      f"{_gib(max(ram_target, 0))} free after the margin")
        return OffloadPlan(ngl, mp.ctx, cpu_moe, fit, dataclasses.replace(mp, fit=fit), reason,
                           tuple(frees), free_ram_bytes, margin_bytes, tuple(steps))

    full = plan(n_all, want)
    if gpu_fits(full):
        return done(full, n_all, want, 0, "the whole model fits on the GPU")
    steps.append(f"full offload at ctx {want} needs {_gib(full.gpu_bytes)} of GPU memory, "
                 f"{_gib(vram_target)} free after the margin")

    # 1. shrink the context (full offload)
    if floor < want:
        ctx = _largest(floor, want, lambda c: gpu_fits(plan(n_all, c)), step=256)
        if ctx is not None:
            steps.append(f"context reduced to {ctx}")
            return done(plan(n_all, ctx), n_all, ctx, 0,
                        f"the whole model fits on the GPU with the context cut to {ctx}")
        steps.append(f"full offload does not fit even at ctx {floor}")
    ctx = floor

    # 2. mixture of experts: experts to the CPU first, dense weights stay on the GPU
    if p.n_expert and p.n_expert_used:
        all_moe = plan(n_all, ctx, p.n_layer)
        if gpu_fits(all_moe):
            n_moe = _smallest(0, p.n_layer, lambda m: gpu_fits(plan(n_all, ctx, m)))
            layers = f"{n_moe} layer{'s' if n_moe > 1 else ''}"
            steps.append(f"expert tensors of {layers} kept on the CPU")
            return done(plan(n_all, ctx, n_moe), n_all, ctx, n_moe,
                        f"all layers on the GPU, experts of {layers} on the CPU")
        steps.append("even with every expert on the CPU the dense weights do not fit")
        ngl = _largest(1, n_all, lambda n: gpu_fits(plan(n, ctx, p.n_layer))) or 0
        if ngl:
            steps.append(f"{ngl} of {n_all} layers fit on the GPU, experts on the CPU")
            return done(plan(ngl, ctx, p.n_layer), ngl, ctx, p.n_layer,
                        f"{ngl} of {n_all} layers on the GPU, experts on the CPU")
    else:
        # 3. fewer layers
        ngl = _largest(1, n_all - 1, lambda n: gpu_fits(plan(n, ctx))) or 0
        if ngl:
            steps.append(f"{ngl} of {n_all} layers fit on the GPU")
            mp = plan(ngl, ctx)
            return done(mp, ngl, ctx, 0, f"{ngl} of {n_all} layers on the GPU at ctx {mp.ctx}")
    # 4. not even the output layer (with the GPU's own overhead and compute buffer) fits
    steps.append("not even the output layer fits on the GPU: planning without it")
    return _cpu_only(p, want, floor, frees, free_ram_bytes, margin_bytes, ram_target, settings,
                     steps, reason="nothing fits on the GPU: CPU only (load with no GPU device)")


def _cpu_only(p: ModelParams, want: int, floor: int, frees: list[int], free_ram: int,
              margin: int, ram_target: int, settings: dict[str, Any],
              steps: list[str], reason: str = "no usable GPU: CPU only") -> OffloadPlan:
    def plan(ctx: int) -> MemoryPlan:
        return estimate_memory(p, n_ctx=ctx, n_gpu_layers=0, backend="cpu", **settings)

    mp = plan(want)
    if mp.cpu_bytes > ram_target:
        ctx = _largest(floor, want, lambda c: plan(c).cpu_bytes <= ram_target, step=256)
        if ctx is None:
            mp = plan(floor)
            reason = (f"needs {_gib(mp.cpu_bytes)} of RAM at ctx {mp.ctx}, "
                      f"{_gib(max(ram_target, 0))} free after the margin")
            steps.append(reason)
            return OffloadPlan(0, mp.ctx, 0, "too_large", dataclasses.replace(
                mp, fit="too_large"), reason, tuple(frees), free_ram, margin, tuple(steps))
        steps.append(f"context reduced to {ctx} to fit the RAM")
        mp = plan(ctx)
        reason = f"{reason}, context cut to {ctx} to fit the RAM"
    return OffloadPlan(0, mp.ctx, 0, "cpu_only", dataclasses.replace(mp, fit="cpu_only"),
                       reason, tuple(frees), free_ram, margin, tuple(steps))


def _largest_share(mp: MemoryPlan, frees: list[int]) -> int:
    """The most any one GPU would hold when layers are split by free memory (llama.cpp's default
    tensor split): its share of the weights and KV cache plus a whole compute buffer."""
    total = sum(frees)
    share = max(frees) / total
    spread = (mp.weights_gpu_bytes + mp.kv_gpu_bytes) * share
    per_gpu_overhead = mp.overhead_bytes // len(frees)
    return int(spread + mp.compute_gpu_bytes // len(frees) + per_gpu_overhead)


def _largest(lo: int, hi: int, ok: Callable[[int], bool], step: int = 1) -> int | None:
    """The largest value in [lo, hi] (multiples of ``step`` from lo) with ok(value), assuming ok
    is monotonic (true up to a point); None if not even lo is."""
    if not ok(lo):
        return None
    a, b = 0, (hi - lo) // step
    while a < b:
        mid = (a + b + 1) // 2
        if ok(lo + mid * step):
            a = mid
        else:
            b = mid - 1
    return lo + a * step


def _smallest(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """The smallest value in [lo, hi] with ok(value) (ok(hi) is known true, monotonic)."""
    a, b = lo, hi
    while a < b:
        mid = (a + b) // 2
        if ok(mid):
            b = mid
        else:
            a = mid + 1
    return a


def _as_list(free: int | Sequence[int] | None) -> list[int]:
    if free is None:
        return []
    if isinstance(free, int):
        return [free]
    return [int(f) for f in free]


def _gib(n: int) -> str:
    return f"{n / GiB:.2f} GiB"
