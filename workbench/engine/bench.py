"""Benchmark results in llama-bench's terms: mean and standard deviation of tok/s samples."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


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
