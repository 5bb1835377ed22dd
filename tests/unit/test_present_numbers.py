"""Figures for people (workbench.present): no scientific notation, thousands separators, tiny
costs per 1,000 or per million answers, durations in the unit a row names, 1-2-5 chart ticks.
Qt-free."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.present.axis import round_axis
from workbench.present.numbers import (
    answer_cost,
    format_bytes,
    format_count,
    format_energy,
    format_ms,
    format_rate,
    format_size,
    in_unit,
    money,
    plain,
)


@pytest.mark.parametrize("usd, text", [
    (3.52e-06, "$3.52 per million answers"),  # was "$3.52e-06" in the Compare pane
    (6e-06, "$6.00 per million answers"),
    (0.0035, "$3.50 per 1,000 answers"),
    (0.0005, "$0.50 per 1,000 answers"),
    (0.012, "$0.012"),
    (1.5, "$1.50"),
    (0, "$0"),
    (None, "n/a"),
])
def test_answer_cost_never_reads_zero_or_scientific(usd, text) -> None:
    assert answer_cost(usd) == text


def test_answer_cost_in_a_dollar_row_drops_the_sign() -> None:
    assert answer_cost(3.52e-06, sign=False) == "3.52 per million answers"


@pytest.mark.parametrize("usd, text", [
    (2880, "$2,880"), (1_234_567.8, "$1,234,568"), (500, "$500"), (4, "$4.00"),
    (0.375, "$0.375"), (0.1, "$0.10"), (0.0035, "$0.0035"), (-5, "-$5.00"), (0, "$0")])
def test_money(usd, text) -> None:
    assert money(usd) == text


@pytest.mark.parametrize("ms, text", [
    (850, "850 ms"), (8850, "8.85 s"), (42_300, "42.3 s"), (125_000, "2 min 05 s"),
    (3_725_000, "1 h 02 min"), (None, "n/a")])
def test_durations_in_free_text_pick_their_unit(ms, text) -> None:
    assert format_ms(ms) == text


def test_a_row_that_names_its_unit_gets_that_unit() -> None:
    assert in_unit(8850.4, "ms") == "8,850"  # the CLI's "total (ms)" row read "8.85 s"
    assert in_unit(1234, "tokens") == "1,234"
    assert in_unit(37.04, "tok/s") == "37.0"
    assert in_unit(1234.5, "tok/s") == "1,234"
    assert in_unit(84.53, "J") == "84.5"
    assert in_unit(3.52e-06, "$") == "3.52 per million answers"
    assert in_unit(0.6, "$ per 1M tokens") == "0.60"
    assert in_unit(None, "ms") == "n/a"


def test_rates_sizes_counts_and_plain_numbers() -> None:
    assert format_rate(37.04) == "37.0 tok/s" and format_rate(1234.4) == "1,234 tok/s"
    assert format_bytes(512) == "512 B" and format_bytes(4.4 * 2**30) == "4.4 GiB"
    assert format_bytes(5 * 2**40) == "5.0 TiB"
    assert format_count(1e8) == "100M" and format_count(2.5e9) == "2.5B"
    assert format_count(72e6) == "72M" and format_count(800) == "800"
    assert format_energy(84.53) == "84.5 J" and format_energy(12345) == "12,345 J"
    assert plain(1e-05) == "0.00001" and plain(2.5) == "2.5" and plain(2880.4) == "2,880"


@given(st.floats(min_value=1e-12, max_value=1e12, allow_nan=False))
def test_no_figure_is_in_scientific_notation(value: float) -> None:
    for text in (money(value), answer_cost(value), plain(value), format_rate(value),
                 format_ms(value), format_count(value), format_bytes(value),
                 in_unit(value, "ms"), in_unit(value, "$")):
        assert "e+" not in text and "e-" not in text, text


@pytest.mark.parametrize("high, ticks", [
    (2376 * 1.1, [0, 500, 1000, 1500, 2000, 2500, 3000]),  # Costs ticked 0, 594, 1188, ...
    (38 * 1.25, [0, 10, 20, 30, 40, 50]),  # Compare's tok/s ticked 0, 9, 19, 28, 38
    (0.37, [0, 0.1, 0.2, 0.3, 0.4]),
    (7, [0, 2, 4, 6, 8]),
])
def test_round_axis_ticks(high, ticks) -> None:
    axis = round_axis(high)
    assert axis.ticks == ticks and axis.top >= high


@given(st.floats(min_value=1e-6, max_value=1e12, allow_nan=False))
def test_round_axis_steps_are_1_2_5(high: float) -> None:
    axis = round_axis(high)
    mantissa = axis.step / 10 ** math.floor(math.log10(axis.step))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)
    assert high <= axis.top * (1 + 1e-9) and len(axis.ticks) <= 7


@pytest.mark.parametrize("n, memory, size", [
    (0, "0 B", "0 bytes"),
    (10, "10 B", "10 bytes"),
    (1536, "1.5 KiB", "1.5 KiB"),
    (1536 << 10, "1.5 MiB", "1.5 MiB"),
    (3 << 30, "3.0 GiB", "3.00 GiB"),
    (int(4.4 * 2**30), "4.4 GiB", "4.40 GiB"),
    (5 << 40, "5.0 TiB", "5.00 TiB"),
    (1500 << 40, "1,500.0 TiB", "1,500.00 TiB"),
    (None, "n/a", "n/a"),
])
def test_the_two_byte_styles(n, memory, size) -> None:
    """Memory with one decimal (the GUI, ``workbench hw``); file and plan sizes in the terminal
    with two from GiB on (``files``, ``ls``, ``estimate``, ``inspect``, downloads)."""
    assert format_bytes(n) == memory and format_size(n) == size


def test_a_gib_column_holds_bare_gib() -> None:
    assert in_unit(24 << 30, "GiB") == "24.0" and in_unit(1536 << 20, "GiB") == "1.5"
