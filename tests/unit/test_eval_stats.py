"""The eval statistics against published values: Wilson's interval (Newcombe 1998, Stat Med
17:857, Table I), Newcombe's method 10 for paired proportions (Newcombe 1998, Stat Med 17:2635,
Table II), McNemar's exact test, and percentiles (numpy's linear interpolation)."""

from __future__ import annotations

import pytest

from workbench.evals.stats import mcnemar_exact, mean, paired_difference, percentile, wilson


@pytest.mark.parametrize("k, n, low, high", [
    (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0),
    # Newcombe (1998a), Table I, method 3 (score interval without continuity correction)
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_published_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson(k, n)
    assert got[0] == pytest.approx(low, abs=1e-4)
    assert got[1] == pytest.approx(high, abs=1e-4)


def test_wilson_edges() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0
    with pytest.raises(ValueError):
        wilson(3, 2)


def _table(both: int, b_only: int, a_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Two targets' outcomes on the same cases from the counts of a paired 2x2 table."""
    a = [True] * both + [False] * b_only + [True] * a_only + [False] * neither
    b = [True] * both + [True] * b_only + [False] * a_only + [False] * neither
    return a, b


# Newcombe (1998b), Table II, method 10: (e, f, g, h) -> interval for (f - g) / n
@pytest.mark.parametrize("cells, low, high", [
    ((36, 12, 2, 0), 0.0569, 0.3404),
    ((18, 12, 2, 18), 0.0562, 0.3290),
    ((53, 0, 0, 1), -0.0729, 0.0729),
    ((0, 30, 0, 0), 0.8395, 1.0),
])
def test_newcombe_method_10_matches_the_paper(cells: tuple[int, int, int, int], low: float,
                                              high: float) -> None:
    e, f, g, h = cells
    a, b = _table(e, f, g, h)
    diff = paired_difference(a, b)
    assert diff.diff == pytest.approx((f - g) / (e + f + g + h))
    assert diff.low == pytest.approx(low, abs=1e-4)
    assert diff.high == pytest.approx(high, abs=1e-4)
    assert (diff.n, diff.b_only, diff.a_only) == (e + f + g + h, f, g)


def test_the_direction_is_b_minus_a() -> None:
    a, b = _table(36, 12, 2, 0)
    forward, backward = paired_difference(a, b), paired_difference(b, a)
    assert forward.diff == pytest.approx(0.2) and backward.diff == pytest.approx(-0.2)
    assert backward.low == pytest.approx(-forward.high) and backward.high == pytest.approx(
        -forward.low)
    assert forward.significant and backward.significant
    assert forward.p_value == backward.p_value


def test_mcnemar_exact_two_sided() -> None:
    # 12 against 2 discordant: 2 * (C(14,0) + C(14,1) + C(14,2)) / 2^14 = 212 / 16384
    assert mcnemar_exact(2, 12) == pytest.approx(212 / 16384)
    assert mcnemar_exact(5, 0) == pytest.approx(0.0625)  # Altman et al. (2000), table 6.2
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0
    assert 0 < mcnemar_exact(0, 2000) < 1e-300 or mcnemar_exact(0, 2000) == 0.0


def test_no_difference_is_not_significant() -> None:
    diff = paired_difference(*_table(53, 0, 0, 1))
    assert diff.diff == 0 and not diff.significant and diff.p_value == 1.0
    empty = paired_difference([], [])
    assert (empty.n, empty.low, empty.high, empty.significant) == (0, -1.0, 1.0, False)
    with pytest.raises(ValueError):
        paired_difference([True], [True, False])


def test_percentile_linear_interpolation() -> None:
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 50) == 35
    assert percentile(values, 40) == pytest.approx(29.0)  # numpy.percentile(values, 40)
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None and percentile([None, None], 50) is None
    assert percentile([3, None, 1], 0) == 1 and percentile([3, None, 1], 100) == 3
    with pytest.raises(ValueError):
        percentile([1], 101)
    assert mean([1, None, 3]) == 2 and mean([]) is None
