"""Benchmarks in llama-bench's terms: one model's pp/tg measurement through the worker, and its
result as mean and standard deviation of tok/s samples (shared by ``workbench bench`` and the
GUI's Benchmarks page)."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.cancel import Cancellable
    from workbench.engine.client import LocalEngine
    from workbench.engine.protocol import LoadedModel
    from workbench.engine.settings import LoadSettings


@dataclass(frozen=True)
class BenchResult:
    model_path: str
    pp_tokens: int
    tg_tokens: int
    repetitions: int
    pp_tokens_per_s: float | None
    pp_sd: float | None
    tg_tokens_per_s: float | None
    tg_sd: float | None
    settings: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_sd(samples: list[float]) -> tuple[float | None, float | None]:
    """llama-bench's avg_ts and stdev_ts (sample standard deviation; 0 for one sample)."""
    if not samples:
        return None, None
    mean = statistics.fmean(samples)
    sd = statistics.stdev(samples) if len(samples) > 1 else 0.0
    return mean, sd


def bench_context(pp_tokens: int, tg_tokens: int) -> int:
    """The context a bench needs when none is given: the test's tokens, at least 512."""
    return max(pp_tokens + tg_tokens + 1, 512)


def quant_name(path: str) -> str | None:
    """The file's quantization as its header names it (file type, else the dominant type)."""
    from workbench.gguf import read_header, summarize

    summary = summarize(read_header(path))
    return summary.file_type or summary.dominant_type


def measure(
    engine: LocalEngine,
    settings: LoadSettings,
    pp_tokens: int,
    tg_tokens: int,
    repetitions: int,
    *,
    on_progress: Callable[[str, int], None] | None = None,
    on_loaded: Callable[[LoadedModel], None] | None = None,
    cancel: Cancellable | None = None,
) -> BenchResult | None:
    """Load ``settings.model_path`` in ``engine`` and run llama-bench's pp/tg tests on it.

    ``n_ctx == 0`` means "what the test needs" (bench_context). ``on_progress(stage, rep)`` gets
    ``load``, ``warmup``, ``pp`` and ``tg``; ``on_loaded(info)`` llama.cpp's facts (with the
    notes on the settings Workbench chose). Returns None when ``cancel`` stopped it.
    """
    if not settings.n_ctx:
        settings = dataclasses.replace(settings, n_ctx=bench_context(pp_tokens, tg_tokens))
    if on_progress is not None:
        on_progress("load", 0)
    from workbench.engine.defaults import resolve_load_settings

    info = engine.load(*resolve_load_settings(settings))
    settings = engine.settings or settings
    if on_loaded is not None:
        on_loaded(info)
    if cancel is not None and cancel.is_set():
        return None
    raw = engine.bench(pp_tokens, tg_tokens, repetitions, on_progress=on_progress, cancel=cancel)
    if raw.cancelled or (cancel is not None and cancel.is_set()):
        return None
    pp, pp_sd = mean_sd(list(raw.pp_samples))
    tg, tg_sd = mean_sd(list(raw.tg_samples))
    path = settings.model_path
    return BenchResult(
        model_path=path,
        pp_tokens=pp_tokens,
        tg_tokens=tg_tokens,
        repetitions=repetitions,
        pp_tokens_per_s=pp,
        pp_sd=pp_sd,
        tg_tokens_per_s=tg,
        tg_sd=tg_sd,
        settings={
            "threads": info.threads,
            "flash_attn": settings.flash_attn,
            "repack": info.repack,
            "gpu_layers": settings.n_gpu_layers,
            "ctx": info.n_ctx,
            "batch": settings.n_batch,
            "ubatch": settings.n_ubatch,
            "kv_type": settings.kv_type,
            "llama_cpp_version": info.llama_cpp_version,
            "system_info": raw.system_info,
            "loras": [[path, scale] for path, scale in info.loras],
        },
        model={
            "name": info.name,
            "architecture": info.architecture,
            "quant": quant_name(path),
            "n_params": info.n_params,
            "model_size_bytes": info.model_size_bytes,
        },
    )
