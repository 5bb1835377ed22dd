"""Round chart axes: ticks at 1, 2 or 5 times a power of ten (0, 500, 1,000, ... not 594)."""

from __future__ import annotations

import math
from dataclasses import dataclass

STEPS = (1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class RoundAxis:
    top: float  # the axis runs from 0 to top, a whole number of steps
    step: float  # 1, 2 or 5 x 10^k

    @property
    def ticks(self) -> list[float]:
        count = round(self.top / self.step)
        return [round(i * self.step, 12) for i in range(count + 1)]

    @property
    def decimals(self) -> int:
        """Decimals a tick label needs (0 for whole steps)."""
        return max(0, -math.floor(math.log10(self.step) + 1e-9))


def round_axis(high: float, max_intervals: int = 6) -> RoundAxis:
    """The smallest 1-2-5 step that covers 0..``high`` in at most ``max_intervals`` steps."""
    if not math.isfinite(high) or high <= 0:
        high = 1.0
    raw = high / max_intervals
    power = 10.0 ** math.floor(math.log10(raw))
    step = STEPS[-1] * power
    for factor in STEPS:
        step = factor * power
        if step * max_intervals >= high * (1 - 1e-12):
            break
    intervals = max(1, math.ceil(high / step - 1e-9))
    return RoundAxis(top=intervals * step, step=step)
