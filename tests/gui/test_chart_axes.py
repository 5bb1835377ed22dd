"""Every chart ticks at round 1-2-5 steps from 0 and names its units: Compare's live speed,
Benchmarks' bars (the Costs chart: tests/gui/test_costs_page.py)."""

from __future__ import annotations

import math

from workbench.ui.bench_page import BenchChart
from workbench.ui.chart_axis import axis_ticks
from workbench.ui.compare_page import CompareChart


def _assert_round(axis, covers: float) -> None:
    ticks = axis_ticks(axis)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and ticks[-1] == axis.max() >= covers
    assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 5)
    assert len(ticks) <= 7


def test_compare_chart_grows_to_round_values(qtbot) -> None:
    chart = CompareChart()
    qtbot.addWidget(chart)
    chart.reset(["local/a.gguf", "openai/gpt-4o-mini"])
    for second, rate in ((1, 12.0), (3, 31.0), (6, 38.0), (13, 38.2)):
        chart.add_point(0, second, rate)
        chart.add_point(1, second, rate * 2.1)
    _assert_round(chart.x_axis, 13)
    _assert_round(chart.y_axis, 38.2 * 2.1)
    assert axis_ticks(chart.y_axis) != [0, 9, 19, 28, 38]  # what it showed before
    assert chart.x_axis.titleText().endswith("(s)") and chart.y_axis.titleText() == "tok/s"
    assert chart.chart().localizeNumbers()  # 2,000 rather than 2000


def test_bench_chart_values_axis_is_round(qtbot) -> None:
    chart = BenchChart()
    qtbot.addWidget(chart)
    runs = [{"id": 1, "model_path": "/m/a.gguf", "model_name": "a", "quant": "Q4_K_M",
             "pp_tokens": 512, "tg_tokens": 128, "repetitions": 3,
             "pp_tokens_per_s": 1893.4, "pp_sd": 21.0, "tg_tokens_per_s": 37.2, "tg_sd": 0.4}]
    chart.plot(runs)
    _assert_round(chart.values, 1914.4)
    assert axis_ticks(chart.values)[:3] == [0, 500, 1000]
    assert chart.values.titleText() == "Tokens per second (tok/s)"
