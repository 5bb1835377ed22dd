"""The Costs page's chart: monthly cost against monthly tokens for the API, this machine and a
rented GPU server, round 1-2-5 ticks, and a marker with its value where the rented server's
line crosses the API's (the break-even point)."""

from __future__ import annotations

import dataclasses

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QScatterSeries, QValueAxis
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QWidget

from workbench.costs.breakeven import BreakEvenResult, break_even
from workbench.costs.own_machine import OwnMachineResult, own_machine_cost
from workbench.present.numbers import format_count, money
from workbench.ui.chart_axis import set_round_axis, use_text_numbers

CHART_POINTS = 120


def cost_curves(server: BreakEvenResult, max_tokens: float, points: int = CHART_POINTS
                ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(API line, rented-server steps) as (monthly tokens, USD a month) up to ``max_tokens``."""
    api, rented = [], []
    for i in range(points + 1):
        volume = max_tokens * i / points
        result = break_even(dataclasses.replace(server.inputs, monthly_tokens=volume))
        api.append((volume, result.api_monthly_usd))
        rented.append((volume, result.hosting_monthly_usd))
    return api, rented


def machine_line(machine: OwnMachineResult, max_tokens: float) -> list[tuple[float, float]]:
    """This machine's cost, a straight line up to what one machine makes (or ``max_tokens``)."""
    end = min(max_tokens, machine.capacity_tokens_per_month)
    cost = own_machine_cost(dataclasses.replace(machine.inputs, monthly_tokens=end))
    return [(0.0, 0.0), (end, cost.monthly_usd)]


def break_even_label(server: BreakEvenResult) -> str:
    return (f"break-even: {format_count(server.break_even_tokens_per_month)} tokens, "
            f"{money(server.server_monthly_usd)} a month")


class CostChart(QChartView):
    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setTitle("Monthly cost (USD) against monthly tokens")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        use_text_numbers(chart)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAccessibleName("Break-even chart")
        self.api = QLineSeries()
        self.api.setName("API")
        self.machine = QLineSeries()
        self.machine.setName("This machine")
        self.local = QLineSeries()
        self.local.setName("Rented GPU server")
        self.point = QScatterSeries()
        self.point.setName("Break-even (rented server)")
        self.point.setMarkerSize(11)
        self.point.setPointLabelsVisible(True)
        self.point.setPointLabelsClipping(False)
        self.x_axis = QValueAxis()
        self.x_axis.setTitleText("monthly tokens (millions)")
        self.y_axis = QValueAxis()
        self.y_axis.setTitleText("USD a month")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        for series in (self.api, self.machine, self.local, self.point):
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)

    def plot(self, server: BreakEvenResult, machine: OwnMachineResult | None = None) -> None:
        inputs = server.inputs
        wanted = max(inputs.monthly_tokens, server.break_even_tokens_per_month * 1.25
                     if server.break_even_reachable else 0.0) * 1.25 or 1e8
        top = set_round_axis(self.x_axis, wanted / 1e6).top * 1e6
        api, rented = cost_curves(server, top)
        self.api.replace([QPointF(x / 1e6, y) for x, y in api])
        self.local.replace([QPointF(x / 1e6, y) for x, y in rented])
        mine = machine_line(machine, top) if machine is not None else []
        self.machine.replace([QPointF(x / 1e6, y) for x, y in mine])
        self.point.clear()
        if server.break_even_reachable:
            self.point.append(QPointF(server.break_even_tokens_per_month / 1e6,
                                      server.server_monthly_usd))
            self.point.setPointLabelsFormat(break_even_label(server))
        highest = max(y for _x, y in api + rented + mine)
        set_round_axis(self.y_axis, highest * 1.05 or 1.0)
