"""Round value axes for Qt charts: ticks at 1-2-5 steps (workbench.present.axis) and numbers
with thousands separators, like the figures in the text around them."""

from __future__ import annotations

from PySide6.QtCharts import QChart, QValueAxis
from PySide6.QtCore import QLocale

from workbench.present.axis import RoundAxis, round_axis

# The text's own number style (2,880.5), whatever the system locale: one way to write figures.
NUMBER_LOCALE = QLocale(QLocale.Language.English, QLocale.Country.UnitedStates)


def use_text_numbers(chart: QChart) -> None:
    """Axis and point labels with thousands separators (2,000 rather than 2000)."""
    chart.setLocalizeNumbers(True)
    chart.setLocale(NUMBER_LOCALE)


def set_round_axis(axis: QValueAxis, high: float, *, max_intervals: int = 6) -> RoundAxis:
    """Run ``axis`` from 0 to the round value above ``high``, a tick every 1-2-5 step."""
    spec = round_axis(high, max_intervals)
    # Fixed ticks while the range changes: dynamic ticks at the old interval over a much wider
    # new range would lay out thousands of labels first.
    axis.setTickType(QValueAxis.TickType.TicksFixed)
    axis.setRange(0.0, spec.top)
    axis.setTickAnchor(0.0)
    axis.setTickInterval(spec.step)
    axis.setTickType(QValueAxis.TickType.TicksDynamic)
    axis.setMinorTickCount(0)
    axis.setLabelFormat(f"%.{spec.decimals}f")
    return spec


def axis_ticks(axis: QValueAxis) -> list[float]:
    """The tick values ``axis`` shows (for tests and accessible descriptions)."""
    step = axis.tickInterval()
    count = round((axis.max() - axis.min()) / step) if step > 0 else 0
    return [round(axis.min() + i * step, 12) for i in range(count + 1)]
