"""Fit, memory plan and predicted speed of a repository's variants on this machine, from the
remote GGUF headers (HTTP range reads: a few MiB per file, never the weights)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workbench.hub.auth import Token
from workbench.hub.config import HubConfig
from workbench.hub.quant import Variant
from workbench.planner.variant_plan import VariantPlan


def machine_budget() -> Any:
    """This machine's free GPU memory and RAM, as the planner's ``MachineBudget``."""
    from workbench.hardware import detect
    from workbench.planner.recommend import machine_budget as budget_of

    return budget_of(detect())


def budget_to_dict(budget: Any) -> dict[str, Any]:
    return {"backend": budget.backend, "gpus": [g.name for g in budget.gpus],
            "free_vram_bytes": list(budget.free_vram_bytes),
            "free_ram_bytes": budget.free_ram_bytes, "notes": list(budget.notes)}


def _offload(headers: Sequence[Any], budget: Any, ctx: int) -> Any:
    from workbench.planner import plan_offload

    if budget.backend == "cpu":
        return plan_offload(list(headers), free_vram_bytes=None,
                            free_ram_bytes=budget.free_ram_bytes, n_ctx=ctx, n_ctx_min=ctx,
                            backend="cpu")
    free_ram = budget.free_ram_bytes
    if budget.unified:  # one memory: what the GPU may take is not free for the CPU side
        free_ram = max(0, free_ram - sum(budget.free_vram_bytes))
    return plan_offload(list(headers), free_vram_bytes=list(budget.free_vram_bytes),
                        free_ram_bytes=free_ram, n_ctx=ctx, n_ctx_min=ctx,
                        backend=budget.backend)


def plan_variant(variant: Variant, *, budget: Any, ctx: int, config: HubConfig,
                 token: Token | None, predictor: Any = None) -> VariantPlan:
    """Read the variant's remote header(s) and plan it on ``budget``."""
    from workbench.errors import WorkbenchError
    from workbench.gguf import read_header

    urls = [config.resolve_url(f.repo_id, f.path, f.commit or f.revision) for f in variant.files]
    try:
        headers = [read_header(url, token=token.value if token else None) for url in urls]
        offload = _offload(headers, budget, ctx)
    except WorkbenchError as err:
        return VariantPlan.failed(variant.name, str(err))
    mp = offload.plan
    speed, note = _speed(headers, offload, budget, predictor)
    free_vram, free_ram = _free(budget)
    return VariantPlan(variant.name, offload.fit, offload.n_gpu_layers, mp.n_layers,
                       offload.n_ctx, mp, speed, note, offload.reason,
                       free_vram_bytes=free_vram, free_ram_bytes=free_ram)


def _free(budget: Any) -> tuple[int | None, int | None]:
    """The free GPU memory (None without a GPU) and RAM ``_offload`` plans against."""
    if budget.backend == "cpu":
        return None, budget.free_ram_bytes
    vram = sum(budget.free_vram_bytes)
    return vram, max(0, budget.free_ram_bytes - vram) if budget.unified else budget.free_ram_bytes


def _speed(headers: Sequence[Any], offload: Any, budget: Any,
           predictor: Any) -> tuple[Any, str | None]:
    if offload.fit == "too_large":
        return None, "not predicted: the model does not fit this machine"
    from workbench.planner.speed import Predictor, weight_profile

    predictor = predictor or Predictor()
    gpu = budget.gpus[0] if budget.gpus and offload.n_gpu_layers else None
    try:
        p = predictor.predict(weight_profile(list(headers)), gpu=gpu,
                              n_gpu_layers=offload.n_gpu_layers, headers=list(headers))
    except Exception as err:  # a prediction must never hide the memory plan
        return None, f"speed not predicted: {type(err).__name__}: {err}"
    if p.tg_tokens_per_s is None and p.pp_tokens_per_s is None:
        return None, f"speed not predicted: {p.basis}"
    return p, None


def plan_variants(variants: Sequence[Variant], *, ctx: int = 4096, budget: Any = None,
                  config: HubConfig | None = None, token: Token | None = None,
                  predictor: Any = None, max_workers: int = 4,
                  progress: Callable[[str], None] | None = None) -> dict[str, VariantPlan]:
    """Plans of every complete model variant (projectors and incomplete split sets are
    skipped), keyed by variant name; headers are read ``max_workers`` at a time."""
    config = config or HubConfig.from_env()
    config.require_online("planning from remote headers")
    budget = budget if budget is not None else machine_budget()
    if predictor is None:
        from workbench.planner.speed import Predictor

        predictor = Predictor()
    todo = [v for v in variants if v.kind == "model" and v.complete]
    if todo and predictor is not None and hasattr(predictor, "bandwidth_gbps"):
        # measured once here, not by several threads at once; a failure shows in the plans
        with contextlib.suppress(Exception):
            predictor.bandwidth_gbps()

    def work(variant: Variant) -> VariantPlan:
        if progress:
            progress(f"reading the header of {variant.name}")
        return plan_variant(variant, budget=budget, ctx=ctx, config=config, token=token,
                            predictor=predictor)

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        results = list(pool.map(work, todo))
    return {r.name: r for r in results}
