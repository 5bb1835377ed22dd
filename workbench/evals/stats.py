"""The statistics of an eval: a pass rate's interval, two targets compared on the same cases,
percentiles. Pure functions of counts (docs/evals.md, "Statistics", gives every formula).

- ``wilson(k, n)``: Wilson's score interval for k passes out of n (it behaves at 0/n and n/n,
  where the textbook p +- z*se interval collapses to a point).
- ``paired_difference(a, b)``: two targets' pass (True) / fail (False) on the SAME cases, in the
  same order. The difference is ``pass rate of b - pass rate of a``; its 95% interval is
  Newcombe's method 10 (the score interval for the difference of paired proportions, Newcombe
  1998, Stat Med 17:2635), and the p-value is McNemar's exact test: a two-sided binomial test of
  the discordant pairs (cases only one of the two passed) against an even split.
- ``percentile(values, q)``: linear interpolation between the closest ranks (numpy's default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Z95 = 1.96  # the standard normal's 97.5th percentile, as the published examples use it


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for ``k`` successes in ``n`` trials; (0.0, 1.0) when n is 0.

    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` with p = k/n."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class PairedDiff:
    """Target b against target a on ``n`` shared cases: ``diff`` = b's pass rate - a's,
    ``[low, high]`` its 95% interval, ``p_value`` McNemar's exact two-sided p; ``a_only`` and
    ``b_only`` count the cases only a (only b) passed."""

    diff: float
    low: float
    high: float
    p_value: float
    n: int
    a_only: int
    b_only: int

    @property
    def significant(self) -> bool:
        """The interval excludes 0: the difference is unlikely to be noise."""
        return self.n > 0 and (self.low > 0 or self.high < 0)

    @property
    def discordant(self) -> int:
        return self.a_only + self.b_only

    def to_dict(self) -> dict[str, Any]:
        return {"diff": self.diff, "low": self.low, "high": self.high,
                "p_value": self.p_value, "n": self.n, "a_only": self.a_only,
                "b_only": self.b_only, "significant": self.significant}


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """McNemar's exact two-sided p-value: ``min(1, 2·P(X <= min(a_only, b_only)))`` with
    X ~ Binomial(a_only + b_only, 1/2); 1.0 when no pair is discordant."""
    m = a_only + b_only
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(a_only, b_only) + 1))
    return min(1.0, float(2 * tail / 2 ** m))  # exact integers: no overflow for large m


def _newcombe_phi(both: int, a_only: int, b_only: int, neither: int) -> float:
    """Newcombe's continuity-corrected phi coefficient of the 2x2 table (method 10)."""
    n = both + a_only + b_only + neither
    product = (both + b_only) * (a_only + neither) * (both + a_only) * (b_only + neither)
    if product == 0:
        return 0.0
    cross = both * neither - a_only * b_only
    if cross > n / 2:
        numerator = cross - n / 2
    elif cross < 0:
        numerator = float(cross)
    else:
        numerator = 0.0
    return numerator / math.sqrt(product)


def paired_difference(a: Sequence[bool], b: Sequence[bool], z: float = Z95) -> PairedDiff:
    """b's pass rate minus a's on the same cases (``a[i]`` and ``b[i]`` judge case i)."""
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need the same cases: {len(a)} against {len(b)}")
    n = len(a)
    pairs = [(bool(x), bool(y)) for x, y in zip(a, b, strict=True)]
    both = pairs.count((True, True))
    a_only = pairs.count((True, False))
    b_only = pairs.count((False, True))
    neither = n - both - a_only - b_only
    p_value = mcnemar_exact(a_only, b_only)
    if n == 0:
        return PairedDiff(0.0, -1.0, 1.0, p_value, 0, 0, 0)
    # Newcombe's notation: p1 is the first proportion (here b), p2 the second (a)
    k1, k2 = both + b_only, both + a_only
    p1, p2 = k1 / n, k2 / n
    l1, u1 = wilson(k1, n, z)
    l2, u2 = wilson(k2, n, z)
    phi = _newcombe_phi(both, a_only, b_only, neither)
    diff = p1 - p2
    dl1, du1, dl2, du2 = p1 - l1, u1 - p1, p2 - l2, u2 - p2
    low = diff - math.sqrt(max(0.0, dl1 ** 2 - 2 * phi * dl1 * du2 + du2 ** 2))
    high = diff + math.sqrt(max(0.0, du1 ** 2 - 2 * phi * du1 * dl2 + dl2 ** 2))
    return PairedDiff(diff, max(-1.0, low), min(1.0, high), p_value, n, a_only, b_only)


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks (numpy's
    default); values that are None are left out; None when no value is left."""
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {q}")
    data = sorted(float(v) for v in values if v is not None)
    if not data:
        return None
    position = (len(data) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(data) - 1)
    return data[below] + (data[above] - data[below]) * (position - below)


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None; None when there are none."""
    data = [float(v) for v in values if v is not None]
    return sum(data) / len(data) if data else None
