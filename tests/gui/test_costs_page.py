"""The Costs page: it opens on what Workbench knows (the pricing table, the measured speed and
power of the loaded model), shows both hosting scenarios, reproduces the sources' break-even
example, and draws round ticks with the break-even marker."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest

from tests.helpers.measured_answers import (
    MODEL,
    add_bench_run,
    add_chat_answers,
    add_compare_answer,
)
from workbench.costs.breakeven import BreakEvenInputs, break_even
from workbench.store import db
from workbench.ui.chart_axis import axis_ticks
from workbench.ui.costs_page import DEFAULT_API_MODEL, CostsPage


def _page(qtbot, tmp_path: Path, loaded: str | None = None) -> CostsPage:
    page = CostsPage(connect=lambda: db.connect(tmp_path / "costs.db"),
                     loaded_model=lambda: loaded)
    qtbot.addWidget(page)
    page.resize(1100, 900)
    page.show()
    return page


def _sources_example(page: CostsPage) -> None:
    page.monthly.setText("100M")
    page.model.setCurrentIndex(0)  # a typed price
    page.api_price.setValue(5.0)
    page.choose_rental("breakeven-example")
    page.server_throughput.setValue(100.0)
    page.utilization.setValue(70)


def test_the_sources_break_even_example(qtbot, tmp_path: Path) -> None:
    """100M tokens a month at $5 per 1M against $4 an hour at 100 tok/s and 70%: the API
    costs $500 a month, hosting $2,880, and the API wins."""
    page = _page(qtbot, tmp_path)
    _sources_example(page)
    assert page.hosting.value() == 4.0 and "break-even example" in page.preset_source.text()
    result = page.result
    assert result.api_monthly_usd == pytest.approx(500)
    assert result.hosting_monthly_usd == pytest.approx(2880)
    assert result.cheaper == "api" and result.servers_needed == 1
    assert "$2,880 a month" in page.server_figures.text()
    assert "The API is cheaper at any volume" in page.server_verdict.text()
    assert page.verdict.text().startswith(
        "At 100M tokens a month the API is cheapest: $500 a month (")
    assert "a rented server $2,880" in page.verdict.text()


def test_opens_on_priced_and_measured_defaults(qtbot, tmp_path: Path) -> None:
    with contextlib.closing(db.connect(tmp_path / "costs.db")) as connection:
        add_chat_answers(connection, [36.0, 37.0, 38.0])
        add_compare_answer(connection, 37.0, joules=84.5, total_ms=2300)
        add_bench_run(connection, 41.0)
        add_chat_answers(connection, [90.0], model_path="/m/other.gguf")  # newer, not loaded
    page = _page(qtbot, tmp_path, loaded=MODEL)
    # the API price: the pricing table's common default, and it says so
    assert page.model.currentData() == DEFAULT_API_MODEL
    price = page.pricing.lookup(*DEFAULT_API_MODEL.split("/"))
    assert page.api_price.value() == pytest.approx(0.5 * price.input + 0.5 * price.output,
                                                   abs=1e-3)
    assert "pricing table" in page.price_source.text() and "default" in page.price_source.text()
    # this machine: the loaded model's latest answers, and how many
    assert page.local_model.currentData() == "qwen-7b-q4_k_m.gguf"
    assert page.throughput.value() == 37.0  # median of 36, 37, 38, 37, 41
    assert page.throughput_source.text() == (
        "measured: median of the latest 5 answers (Chat 3, Compare 1, Bench 1)")
    assert page.power.value() == pytest.approx(84.5 / 2.3, abs=0.05)
    assert page.power_source.text().startswith("measured: 84.5 J over 2.30 s in 1 Compare")
    assert page.electricity.value() == pytest.approx(0.15)
    assert "default price" in page.electricity_source.text()
    # the rented server: a preset with its source and date
    assert "8B model on one GPU: $0.50-1.00 an hour" in page.preset_source.text()
    assert page.hosting.value() == 0.75
    # both scenarios are computed; this machine costs energy, not $1 an hour
    machine = page.machine_result
    assert machine.inputs.usd_per_hour == pytest.approx(page.power.value() / 1000 * 0.15)
    assert page.result.inputs.hosting_usd_per_hour == 0.75
    # choosing the other model re-seeds from its answers
    page.local_model.setCurrentIndex(page.local_model.findData("other.gguf"))
    assert page.throughput.value() == 90.0
    assert page.throughput_source.text() == "measured: one measured answer (Chat 1)"
    assert page.power_source.text().startswith("estimated:")


def test_without_measurements_it_says_what_is_typed_or_estimated(qtbot, tmp_path: Path) -> None:
    page = _page(qtbot, tmp_path)
    assert page.local_model.currentText() == "no measured answers yet"
    assert page.throughput_source.text().startswith("typed: no measured answers yet")
    assert page.power.value() > 0 and page.power_source.text().startswith("estimated:")


def test_chart_has_round_ticks_and_marks_the_break_even(qtbot, tmp_path: Path) -> None:
    page = _page(qtbot, tmp_path)
    page.monthly.setText("100M")
    page.model.setCurrentIndex(0)
    page.api_price.setValue(2.0)
    page.hosting.setValue(0.5)
    page.server_throughput.setValue(200.0)
    page.utilization.setValue(50)
    assert page.preset.currentText() == "Custom price"  # a typed hourly price
    expected = break_even(BreakEvenInputs(monthly_tokens=1e8, api_usd_per_1m=2.0,
                                          hosting_usd_per_hour=0.5, tokens_per_s=200.0,
                                          utilization=0.5))
    result = page.result
    assert result.break_even_tokens_per_month == expected.break_even_tokens_per_month
    points = page.chart.point.points()
    assert len(points) == 1
    assert points[0].x() == pytest.approx(expected.break_even_tokens_per_month / 1e6)
    assert points[0].y() == pytest.approx(360.0)  # $0.5/h x 720 h
    assert page.chart.point.pointLabelsFormat() == "break-even: 180M tokens, $360 a month"
    for axis in (page.chart.x_axis, page.chart.y_axis):
        ticks = axis_ticks(axis)
        step = ticks[1] - ticks[0]
        assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 5)
        assert ticks[0] == 0 and axis.max() == ticks[-1] and all(t == int(t) for t in ticks)
    assert page.chart.x_axis.titleText() == "monthly tokens (millions)"
    assert page.chart.y_axis.titleText() == "USD a month"
    page.monthly.setText("lots")  # a bad volume says why
    assert "not a number" in page.verdict.text()


def test_typing_a_price_leaves_the_table(qtbot, tmp_path: Path) -> None:
    page = _page(qtbot, tmp_path)
    page.prompt_share.setValue(25)
    page.api_price.setValue(page.api_price.value() + 1)
    assert page.model.currentIndex() == 0 and page.price_source.text() == "typed"


def test_opens_without_a_database_or_a_pricing_table(qtbot) -> None:
    from workbench.costs.pricing import PricingTable

    def broken() -> None:
        raise OSError("disk gone")

    page = CostsPage(connect=broken, pricing=PricingTable([]))
    qtbot.addWidget(page)
    assert page.model.currentData() == "" and page.price_source.text() == "typed"
    assert "stored answers unavailable: disk gone" in page.throughput_source.text()
    assert page.result is not None and page.machine_result is not None
