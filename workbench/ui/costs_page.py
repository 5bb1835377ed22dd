"""The Costs page: when does self-hosting beat a pay-per-token API?

Inputs: monthly tokens, the API price (from the pricing table, blending input and output
prices by the prompt share, or typed), the hosting cost per hour, the throughput (seeded from
the newest measured local speed when there is one), utilisation, power and electricity. The
chart plots monthly cost against volume: the API line, the self-hosting steps (one more server
each time a server is full) and the break-even point.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QScatterSeries, QValueAxis
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.costs.breakeven import (
    BreakEvenInputs,
    BreakEvenResult,
    break_even,
    measured_local_throughput,
    parse_amount,
)
from workbench.costs.pricing import PricingTable, load_pricing
from workbench.errors import WorkbenchError
from workbench.store import db
from workbench.store.settings import AppSettings, load_settings
from workbench.ui.widgets import page_title

TYPED = ""  # the combo's data for a typed price
CHART_POINTS = 120
DEFAULT_TOKENS_PER_S = 30.0


def tokens_text(count: float) -> str:
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= limit:
            return f"{count / limit:,.1f}{suffix}"
    return f"{count:,.0f}"


def cost_curves(inputs: BreakEvenInputs, max_tokens: float, points: int = CHART_POINTS
                ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(API line, self-hosting steps) as (monthly tokens, USD a month) up to ``max_tokens``."""
    api, local = [], []
    for i in range(points + 1):
        volume = max_tokens * i / points
        result = break_even(dataclasses.replace(inputs, monthly_tokens=volume))
        api.append((volume, result.api_monthly_usd))
        local.append((volume, result.hosting_monthly_usd))
    return api, local


class CostChart(QChartView):
    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setTitle("Monthly cost vs monthly tokens")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAccessibleName("Break-even chart")
        self.api = QLineSeries()
        self.api.setName("API")
        self.local = QLineSeries()
        self.local.setName("Self-hosting")
        self.point = QScatterSeries()
        self.point.setName("Break-even")
        self.point.setMarkerSize(11)
        self.x_axis = QValueAxis()
        self.x_axis.setTitleText("million tokens a month")
        self.x_axis.setLabelFormat("%.0f")
        self.y_axis = QValueAxis()
        self.y_axis.setTitleText("USD a month")
        self.y_axis.setLabelFormat("%.0f")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        for series in (self.api, self.local, self.point):
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)

    def plot(self, result: BreakEvenResult) -> None:
        inputs = result.inputs
        top = max(inputs.monthly_tokens, result.break_even_tokens_per_month
                  if result.break_even_reachable else 0.0) * 1.6 or 1e8
        api, local = cost_curves(inputs, top)
        self.api.replace([QPointF(x / 1e6, y) for x, y in api])
        self.local.replace([QPointF(x / 1e6, y) for x, y in local])
        self.point.clear()
        if result.break_even_reachable:
            self.point.append(QPointF(result.break_even_tokens_per_month / 1e6,
                                      result.server_monthly_usd))
        self.x_axis.setRange(0, top / 1e6)
        highest = max(max(y for _x, y in api), max(y for _x, y in local))
        self.y_axis.setRange(0, highest * 1.1 or 1.0)


class CostsPage(QWidget):
    statusMessage = Signal(str)
    computed = Signal(object)  # BreakEvenResult

    def __init__(self, parent: QWidget | None = None, *,
                 connect: Callable[[], Any] = db.connect,
                 pricing: PricingTable | None = None) -> None:
        super().__init__(parent)
        self._connect = connect
        self.result: BreakEvenResult | None = None
        try:  # a bad settings file is named (Settings says more), the page still opens
            settings = load_settings()
        except WorkbenchError as err:
            settings = AppSettings()
            self.statusMessage.emit(str(err))
        try:
            self.pricing = pricing or load_pricing(overrides=settings.pricing_overrides)
        except WorkbenchError as err:
            self.pricing = PricingTable([])
            self.statusMessage.emit(f"pricing table unavailable: {err}")

        self.monthly = QLineEdit("50M", self)
        self.monthly.setAccessibleName("Monthly tokens")
        self.monthly.setToolTip("Tokens a month (prompt + output), e.g. 50M, 2.5B, 800k")
        self.model = QComboBox(self)
        self.model.setAccessibleName("API model")
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model.setMinimumContentsLength(24)
        self.model.addItem("Typed price", TYPED)
        for price in self.pricing.all():
            self.model.addItem(f"{price.key} (in ${price.input:g}, out ${price.output:g})",
                               price.key)
        self.prompt_share = QSpinBox(self)
        self.prompt_share.setRange(0, 100)
        self.prompt_share.setValue(50)
        self.prompt_share.setSuffix(" % prompt tokens")
        self.prompt_share.setAccessibleName("Share of prompt tokens")
        self.prompt_share.setToolTip("Blends the model's input and output prices: the share of "
                                     "the monthly tokens that are prompt (input) tokens.")
        self.api_price = QDoubleSpinBox(self)
        self.api_price.setRange(0.001, 10_000)
        self.api_price.setDecimals(3)
        self.api_price.setValue(1.0)
        self.api_price.setPrefix("$")
        self.api_price.setSuffix(" per 1M tokens")
        self.api_price.setAccessibleName("API price per million tokens")
        self.hosting = QDoubleSpinBox(self)
        self.hosting.setRange(0, 1000)
        self.hosting.setDecimals(3)
        self.hosting.setValue(1.0)
        self.hosting.setPrefix("$")
        self.hosting.setSuffix(" per hour")
        self.hosting.setAccessibleName("Hosting cost per hour")
        self.hosting.setToolTip("What one server costs an hour (rented GPU, or your machine's "
                                "share); 720 hours make a month.")
        self.throughput = QDoubleSpinBox(self)
        self.throughput.setRange(0.1, 1_000_000)
        self.throughput.setDecimals(1)
        self.throughput.setValue(DEFAULT_TOKENS_PER_S)
        self.throughput.setSuffix(" tok/s")
        self.throughput.setAccessibleName("Throughput of one server")
        self.throughput_source = QLabel("typed (no measured local run yet)", self)
        self.throughput_source.setWordWrap(True)
        self.utilization = QSpinBox(self)
        self.utilization.setRange(1, 100)
        self.utilization.setValue(50)
        self.utilization.setSuffix(" %")
        self.utilization.setAccessibleName("Utilisation")
        self.utilization.setToolTip("The share of the month a server is actually generating.")
        self.power = QDoubleSpinBox(self)
        self.power.setRange(0, 100_000)
        self.power.setDecimals(0)
        self.power.setSuffix(" W")
        self.power.setAccessibleName("Server power draw")
        self.electricity = QDoubleSpinBox(self)
        self.electricity.setRange(0, 10)
        self.electricity.setDecimals(3)
        self.electricity.setPrefix("$")
        self.electricity.setSuffix(" per kWh")
        self.electricity.setValue(settings.electricity_price)
        self.electricity.setAccessibleName("Electricity price")

        form = QFormLayout()
        form.addRow("Monthly tokens:", self.monthly)
        form.addRow("API model:", self.model)
        form.addRow("", self.prompt_share)
        form.addRow("API price:", self.api_price)
        form.addRow("Hosting:", self.hosting)
        form.addRow("Throughput:", self.throughput)
        form.addRow("", self.throughput_source)
        form.addRow("Utilisation:", self.utilization)
        form.addRow("Power draw:", self.power)
        form.addRow("Electricity:", self.electricity)
        self.verdict = QLabel(self)
        self.verdict.setWordWrap(True)
        self.verdict.setAccessibleName("Verdict")
        font = self.verdict.font()
        font.setBold(True)
        self.verdict.setFont(font)
        self.figures = QLabel(self)
        self.figures.setWordWrap(True)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures.setAccessibleName("Break-even figures")
        left = QVBoxLayout()
        title = page_title("Break-even: API vs self-hosting", self)
        left.addWidget(title)
        left.addLayout(form)
        left.addWidget(self.verdict)
        left.addWidget(self.figures)
        left.addStretch(1)
        self.chart = CostChart(self)
        self.chart.setMinimumSize(300, 300)
        body = QWidget(self)  # scrolls rather than forcing a wide window
        layout = QHBoxLayout(body)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(left, 2)
        layout.addWidget(self.chart, 3)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.model.currentIndexChanged.connect(self._price_from_table)
        self.prompt_share.valueChanged.connect(self._price_from_table)
        self.monthly.textChanged.connect(self.recompute)
        for spin in (self.api_price, self.hosting, self.throughput, self.utilization, self.power,
                     self.electricity):
            spin.valueChanged.connect(self.recompute)
        self.api_price.valueChanged.connect(self._typed_price)
        self.seed_throughput()
        self.recompute()

    def seed_throughput(self) -> None:
        """Take the newest measured local speed (bench or compare runs), when there is one."""
        try:
            with contextlib.closing(self._connect()) as connection:
                measured = measured_local_throughput(connection)
        except Exception as err:  # the calculator works without the database
            self.throughput_source.setText(f"typed (stored runs unavailable: {err})")
            return
        if measured is None:
            return
        rate, source = measured
        self.throughput.setValue(rate)
        self.throughput_source.setText(f"measured: {source}")

    def _price_from_table(self, *_args: object) -> None:
        key = self.model.currentData()
        self.prompt_share.setEnabled(bool(key))
        if not key:
            return
        provider, _, model = key.partition("/")
        price = self.pricing.lookup(provider, model)
        if price is None:
            return
        share = self.prompt_share.value() / 100
        self._setting_price = True
        try:
            self.api_price.setValue(share * price.input + (1 - share) * price.output)
        finally:
            self._setting_price = False
        self.recompute()

    _setting_price = False

    def _typed_price(self, *_args: object) -> None:
        if not self._setting_price and self.model.currentData():
            self.model.blockSignals(True)
            self.model.setCurrentIndex(0)
            self.model.blockSignals(False)
            self.prompt_share.setEnabled(False)

    def recompute(self, *_args: object) -> BreakEvenResult | None:
        try:
            inputs = BreakEvenInputs(
                monthly_tokens=parse_amount(self.monthly.text()),
                api_usd_per_1m=self.api_price.value(),
                hosting_usd_per_hour=self.hosting.value(),
                tokens_per_s=self.throughput.value(),
                utilization=self.utilization.value() / 100,
                power_watts=self.power.value(),
                electricity_usd_per_kwh=self.electricity.value())
            result = break_even(inputs)
        except WorkbenchError as err:
            self.verdict.setText(str(err))
            self.figures.clear()
            return None
        self.result = result
        self.verdict.setText(result.verdict)
        threshold = (tokens_text(result.break_even_tokens_per_month)
                     if result.break_even_reachable else "never (a full server costs more)")
        self.figures.setText(
            f"API: ${result.api_monthly_usd:,.2f} a month\n"
            f"Self-hosting: ${result.hosting_monthly_usd:,.2f} a month "
            f"({result.servers_needed} server{'s' if result.servers_needed > 1 else ''}, "
            f"${result.self_host_usd_per_1m_at_capacity:,.2f} per 1M tokens when full)\n"
            f"One server makes {tokens_text(result.capacity_tokens_per_month)} tokens a month\n"
            f"Break-even: {threshold} tokens a month")
        self.chart.plot(result)
        self.computed.emit(result)
        return result
