"""The Costs page: the break-even calculator, its chart, and the throughput seeded from runs."""

from __future__ import annotations

import contextlib
from pathlib import Path

from workbench.compare import store as compare_store
from workbench.costs.breakeven import BreakEvenInputs, break_even
from workbench.providers.base import AnswerResult, Params
from workbench.store import db
from workbench.ui.costs_page import CostsPage


def _page(qtbot, tmp_path: Path) -> CostsPage:
    page = CostsPage(connect=lambda: db.connect(tmp_path / "costs.db"))
    qtbot.addWidget(page)
    page.resize(1000, 650)
    page.show()
    return page


def test_inputs_drive_the_verdict_and_the_chart(qtbot, tmp_path: Path) -> None:
    page = _page(qtbot, tmp_path)
    page.monthly.setText("100M")
    page.api_price.setValue(2.0)
    page.hosting.setValue(0.5)
    page.throughput.setValue(200.0)
    page.utilization.setValue(50)
    page.power.setValue(0)
    result = page.result
    expected = break_even(BreakEvenInputs(monthly_tokens=1e8, api_usd_per_1m=2.0,
                                          hosting_usd_per_hour=0.5, tokens_per_s=200.0,
                                          utilization=0.5,
                                          electricity_usd_per_kwh=page.electricity.value()))
    assert result is not None and result.break_even_reachable
    assert result.api_monthly_usd == expected.api_monthly_usd == 200.0
    assert result.break_even_tokens_per_month == expected.break_even_tokens_per_month
    assert page.verdict.text() == expected.verdict
    # the break-even point is marked where the API line meets one server's monthly cost
    points = page.chart.point.points()
    assert len(points) == 1
    assert abs(points[0].x() - expected.break_even_tokens_per_month / 1e6) < 1e-6
    assert abs(points[0].y() - 360.0) < 1e-6  # $0.5/h x 720 h
    api = page.chart.api.points()
    assert api[0].y() == 0 and abs(api[-1].y() - api[-1].x() * 2.0) < 1e-6
    # a bad volume says why, and keeps the last chart
    page.monthly.setText("lots")
    assert "not a number" in page.verdict.text()


def test_price_from_the_table_blends_input_and_output(qtbot, tmp_path: Path) -> None:
    page = _page(qtbot, tmp_path)
    index = next(i for i in range(1, page.model.count()))
    key = page.model.itemData(index)
    provider, _, model = key.partition("/")
    price = page.pricing.lookup(provider, model)
    page.prompt_share.setValue(25)
    page.model.setCurrentIndex(index)
    assert abs(page.api_price.value() - round(0.25 * price.input + 0.75 * price.output, 3)) \
        < 1e-3
    page.api_price.setValue(page.api_price.value() + 1)  # typing a price: "Typed price"
    assert page.model.currentIndex() == 0


def test_throughput_is_seeded_from_a_measured_local_run(qtbot, tmp_path: Path) -> None:
    local = AnswerResult(target="local:m.gguf", label="local/m.gguf", provider="local",
                         model="m.gguf", destination="this machine", text="hi",
                         gen_tokens_per_s=42.5, finish_reason="stop")
    with contextlib.closing(db.connect(tmp_path / "costs.db")) as connection:
        compare_store.save_run(connection, prompt="p", system=None, params=Params(),
                               results=[local])
    page = _page(qtbot, tmp_path)
    assert page.throughput.value() == 42.5
    assert page.throughput_source.text().startswith("measured: compare run")
