"""The Costs page: a pay-per-token API against running the model yourself, two ways.

It starts from what Workbench knows: the API price from the pricing table (a common model
unless you pick another), this machine's speed from the latest measured answers of the loaded
(or chosen) model in Chat, Compare and Bench, and its power from Compare's energy measurements.
Two hosting scenarios side by side: "this machine" (measured energy x the electricity price,
plus the machine's price over its life when set) and "a rented GPU server" (dollars an hour,
presets with their source and date). The chart plots monthly cost against volume and marks
where the rented server's line crosses the API's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.costs.breakeven import BreakEvenInputs, BreakEvenResult, break_even, parse_amount
from workbench.costs.measured import (
    LocalMeasurement,
    estimated_watts,
    measured_models,
    model_key,
)
from workbench.costs.own_machine import OwnMachineInputs, OwnMachineResult, own_machine_cost
from workbench.costs.pricing import Price, PricingTable, load_pricing
from workbench.costs.rental import RentalPreset, load_rental_presets
from workbench.engine.settings import LoadSettings
from workbench.errors import WorkbenchError
from workbench.present.numbers import format_count, format_power, format_rate, money, plain
from workbench.store import db
from workbench.store.settings import AppSettings, load_settings
from workbench.ui.costs_chart import CostChart
from workbench.ui.widgets import page_title

TYPED = ""  # the API combo's data for a typed price
CUSTOM = ""  # the rental combo's data for a typed hourly price
DEFAULT_API_MODEL = "openai/gpt-4o-mini"  # a common, cheap model: where the page starts
DEFAULT_TOKENS_PER_S = 30.0  # only until something is measured (and labelled so)
DEFAULT_RENTAL = "8b-1gpu"
LoadedModel = Callable[[], LoadSettings | str | None]


def _spin(parent: QWidget, name: str, low: float, high: float, decimals: int, *,
          prefix: str = "", suffix: str = "", value: float = 0.0) -> QDoubleSpinBox:
    spin = QDoubleSpinBox(parent)
    spin.setRange(low, high)
    spin.setDecimals(decimals)
    spin.setPrefix(prefix)
    spin.setSuffix(suffix)
    spin.setValue(value)
    spin.setGroupSeparatorShown(True)
    spin.setAccessibleName(name)
    return spin


def _note(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setWordWrap(True)
    label.setAccessibleName(name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _form(parent: QWidget | None, rows: list[tuple[str | None, QWidget]]) -> QFormLayout:
    """A form of (label, field) rows; a None label spans the whole row."""
    form = QFormLayout(parent) if parent is not None else QFormLayout()
    for label, field in rows:
        if label is None:
            form.addRow(field)
        else:
            form.addRow(label, field)
    return form


def price_text(price: Price) -> str:
    return f"{price.key} (in ${plain(price.input)}, out ${plain(price.output)} per 1M)"


class CostsPage(QWidget):
    statusMessage = Signal(str)
    computed = Signal(object)  # BreakEvenResult of the rented server

    def __init__(self, parent: QWidget | None = None, *,
                 connect: Callable[[], Any] = db.connect,
                 pricing: PricingTable | None = None,
                 loaded_model: LoadedModel | None = None) -> None:
        super().__init__(parent)
        self._connect = connect
        self._loaded_model = loaded_model or (lambda: None)
        self.result: BreakEvenResult | None = None
        self.machine_result: OwnMachineResult | None = None
        self.measurements: list[LocalMeasurement] = []
        try:  # a bad settings file is named (Settings says more), the page still opens
            self.settings = load_settings()
        except WorkbenchError as err:
            self.settings = AppSettings()
            self.statusMessage.emit(str(err))
        try:
            self.pricing = (pricing if pricing is not None else
                            load_pricing(overrides=self.settings.pricing_overrides))
        except WorkbenchError as err:
            self.pricing = PricingTable([])
            self.statusMessage.emit(f"pricing table unavailable: {err}")
        try:
            self.presets = load_rental_presets()
        except WorkbenchError as err:
            self.presets = []
            self.statusMessage.emit(str(err))
        self._build_api()
        self._build_machine()
        self._build_rental()
        self._lay_out()
        self._connect_signals()
        self.choose_api_model(DEFAULT_API_MODEL)
        self.choose_rental(DEFAULT_RENTAL)
        self.refresh_measurements()

    # -- building ---------------------------------------------------------------------------
    def _build_api(self) -> None:
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
            self.model.addItem(price_text(price), price.key)
        self.price_source = _note(self, "Where the API price comes from")
        self.prompt_share = QSpinBox(self)
        self.prompt_share.setRange(0, 100)
        self.prompt_share.setValue(50)
        self.prompt_share.setSuffix(" % prompt tokens")
        self.prompt_share.setAccessibleName("Share of prompt tokens")
        self.prompt_share.setToolTip("Blends the model's input and output prices: the share of "
                                     "the monthly tokens that are prompt (input) tokens.")
        self.api_price = _spin(self, "API price per million tokens", 0.001, 10_000, 3,
                               prefix="$", suffix=" per 1M tokens", value=1.0)
        self.utilization = QSpinBox(self)
        self.utilization.setRange(1, 100)
        self.utilization.setValue(70)
        self.utilization.setSuffix(" %")
        self.utilization.setAccessibleName("Utilisation")
        self.utilization.setToolTip("The share of the month a machine or server can spend "
                                    "generating: it limits how many tokens one makes a month.")

    def _build_machine(self) -> None:
        self.local_model = QComboBox(self)
        self.local_model.setAccessibleName("Local model")
        self.local_model.setToolTip("The local model whose measured answers seed this machine's "
                                    "speed and power.")
        self.throughput = _spin(self, "Throughput of this machine", 0.1, 1_000_000, 1,
                                suffix=" tok/s", value=DEFAULT_TOKENS_PER_S)
        self.throughput_source = _note(self, "Where the throughput comes from")
        self.power = _spin(self, "Power draw of this machine", 0, 100_000, 1, suffix=" W")
        self.power.setToolTip("The whole machine's draw while it answers (Compare measures it).")
        self.power_source = _note(self, "Where the power draw comes from")
        self.electricity = _spin(self, "Electricity price", 0, 10, 3, prefix="$",
                                 suffix=" per kWh", value=self.settings.electricity_price)
        self.electricity_source = _note(self, "Where the electricity price comes from")
        self.electricity_source.setText(
            "from the settings" if self.settings.electricity_usd_per_kwh is not None else
            "default price: set yours in Settings")
        self.hardware = _spin(self, "Machine price", 0, 1_000_000, 0, prefix="$",
                              value=self.settings.hardware_usd or 0.0)
        self.hardware.setSpecialValueText("not counted")
        self.hardware.setToolTip("Optional: what the machine cost, spread over its hours of "
                                 "answering (settings: hardware_usd).")
        self.lifetime = _spin(self, "Machine lifetime in hours of answering", 0, 1_000_000, 0,
                              suffix=" h", value=self.settings.hardware_lifetime_hours or 0.0)
        self.lifetime.setSpecialValueText("not set")
        self.lifetime.setToolTip("Hours of answering over the machine's life (settings: "
                                 "hardware_lifetime_hours); 3 years of 8 h a day is 8,760 h.")
        self.machine_figures = _note(self, "This machine's figures")
        self.machine_verdict = _note(self, "This machine against the API")

    def _build_rental(self) -> None:
        self.preset = QComboBox(self)
        self.preset.setAccessibleName("Rented GPU server preset")
        for preset in self.presets:
            self.preset.addItem(preset.name, preset.id)
        self.preset.addItem("Custom price", CUSTOM)
        self.preset_source = _note(self, "Where the rental price comes from")
        self.hosting = _spin(self, "Hosting cost per hour", 0, 1000, 2, prefix="$",
                             suffix=" per hour", value=1.0)
        self.hosting.setToolTip("What the whole server costs an hour (all its GPUs); 720 hours "
                                "make a month.")
        self.server_throughput = _spin(self, "Throughput of the rented server", 0.1, 1_000_000,
                                       1, suffix=" tok/s", value=DEFAULT_TOKENS_PER_S)
        self.server_throughput.setToolTip("Starts at this machine's measured speed; a rented GPU "
                                          "is often faster, and serving many requests at once "
                                          "(vLLM, llama-server -np) makes several times more.")
        self.server_figures = _note(self, "Rented server figures")
        self.server_verdict = _note(self, "Rented server against the API")

    def _lay_out(self) -> None:
        shared = _form(None, [
            ("Monthly tokens:", self.monthly), ("API model:", self.model),
            ("", self.price_source), ("", self.prompt_share), ("API price:", self.api_price),
            ("Utilisation:", self.utilization)])
        machine = QGroupBox("This machine", self)
        _form(machine, [
            ("Model:", self.local_model), ("Throughput:", self.throughput),
            ("", self.throughput_source), ("Power draw:", self.power), ("", self.power_source),
            ("Electricity:", self.electricity), ("", self.electricity_source),
            ("Machine price:", self.hardware), ("Lifetime:", self.lifetime),
            (None, self.machine_figures), (None, self.machine_verdict)])
        rented = QGroupBox("A rented GPU server", self)
        _form(rented, [
            ("Preset:", self.preset), ("", self.preset_source), ("Hosting:", self.hosting),
            ("Throughput:", self.server_throughput), (None, self.server_figures),
            (None, self.server_verdict)])
        scenarios = QHBoxLayout()
        scenarios.addWidget(machine, 1)
        scenarios.addWidget(rented, 1)
        self.verdict = QLabel(self)
        self.verdict.setWordWrap(True)
        self.verdict.setAccessibleName("Verdict")
        font = self.verdict.font()
        font.setBold(True)
        self.verdict.setFont(font)
        self.chart = CostChart(self)
        self.chart.setMinimumSize(360, 320)
        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(page_title("Costs: an API against running the model yourself", self))
        left.addLayout(shared)
        left.addWidget(self.verdict)
        left.addStretch(1)
        top.addLayout(left, 2)
        top.addWidget(self.chart, 3)
        body = QWidget(self)  # scrolls rather than forcing a tall window
        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(top, 3)
        layout.addLayout(scenarios, 2)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _connect_signals(self) -> None:
        self.model.currentIndexChanged.connect(self._price_from_table)
        self.prompt_share.valueChanged.connect(self._price_from_table)
        self.local_model.currentIndexChanged.connect(self._seed_from_measurement)
        self.preset.currentIndexChanged.connect(self._price_from_preset)
        self.monthly.textChanged.connect(self.recompute)
        for spin in (self.api_price, self.hosting, self.throughput, self.server_throughput,
                     self.utilization, self.power, self.electricity, self.hardware,
                     self.lifetime):
            spin.valueChanged.connect(self.recompute)
        self.api_price.valueChanged.connect(self._typed_price)
        self.hosting.valueChanged.connect(self._typed_hosting)

    # -- what Workbench knows ---------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh_measurements()  # answers since the page was last shown count

    def refresh_measurements(self) -> None:
        """Re-read the measured local models; choose the loaded one (or keep the choice)."""
        try:
            with contextlib.closing(self._connect()) as connection:
                measurements = measured_models(connection)
        except Exception as err:  # the calculator works without the database
            measurements = []
            self.throughput_source.setText(f"typed (stored answers unavailable: {err})")
        self.measurements = measurements
        keep = self.local_model.currentData()
        loaded = self._loaded_key()
        self.local_model.blockSignals(True)
        self.local_model.clear()
        for entry in measurements:
            suffix = " (loaded)" if entry.key == loaded else ""
            self.local_model.addItem(f"{entry.key}{suffix}", entry.key)
        if not measurements:
            self.local_model.addItem("no measured answers yet", None)
        wanted = loaded if loaded and not keep else keep
        index = self.local_model.findData(wanted) if wanted else -1
        self.local_model.setCurrentIndex(max(0, index))
        self.local_model.blockSignals(False)
        self._seed_from_measurement()

    def seed_throughput(self) -> None:
        """The older name of ``refresh_measurements`` (packaging/render_screenshots.py)."""
        self.refresh_measurements()

    def _loaded_key(self) -> str | None:
        value = self._loaded_model()
        path = value.model_path if isinstance(value, LoadSettings) else value
        return model_key(path) if path else None

    def measurement(self) -> LocalMeasurement | None:
        key = self.local_model.currentData()
        return next((m for m in self.measurements if m.key == key), None)

    def _seed_from_measurement(self, *_args: object) -> None:
        entry = self.measurement()
        loaded = self._loaded_key()
        if entry is None or entry.tokens_per_s is None:
            if not self.throughput_source.text().startswith("typed (stored"):
                self.throughput_source.setText(
                    "typed: no measured answers yet (answer in Chat, Compare or Benchmarks)")
            self._estimate_power()
            self.recompute()
            return
        measured_keys = {m.key for m in self.measurements}
        note = "" if loaded is None or loaded in measured_keys else (
            f" (the loaded {loaded} has none yet)")
        self.throughput.blockSignals(True)
        self.server_throughput.blockSignals(True)
        self.throughput.setValue(entry.tokens_per_s)
        self.server_throughput.setValue(entry.tokens_per_s)
        self.throughput.blockSignals(False)
        self.server_throughput.blockSignals(False)
        self.throughput_source.setText(f"measured: {entry.speed_basis()}{note}")
        if entry.watts is not None:
            self.power.blockSignals(True)
            self.power.setValue(entry.watts)
            self.power.blockSignals(False)
            self.power_source.setText(f"measured: {entry.power_basis()}")
        else:
            self._estimate_power()
        self.recompute()

    def _estimate_power(self) -> None:
        watts, how = estimated_watts(self.settings.cpu_watts)
        self.power.blockSignals(True)
        self.power.setValue(watts)
        self.power.blockSignals(False)
        self.power_source.setText(how)

    # -- the API price ----------------------------------------------------------------------
    def choose_api_model(self, key: str) -> None:
        index = self.model.findData(key)
        self.model.setCurrentIndex(index if index >= 0 else min(1, self.model.count() - 1))
        self._price_from_table()

    _setting_price = False

    def _price_from_table(self, *_args: object) -> None:
        key = self.model.currentData()
        self.prompt_share.setEnabled(bool(key))
        if not key:
            self.price_source.setText("typed")
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
        common = " - a common model, the default; pick yours" if key == DEFAULT_API_MODEL else ""
        self.price_source.setText(f"pricing table ({price.origin}, {price.date or 'no date'})"
                                  f"{common}")
        self.recompute()

    def _typed_price(self, *_args: object) -> None:
        if not self._setting_price and self.model.currentData():
            self.model.blockSignals(True)
            self.model.setCurrentIndex(0)
            self.model.blockSignals(False)
            self.prompt_share.setEnabled(False)
            self.price_source.setText("typed")

    # -- the rented server ------------------------------------------------------------------
    def choose_rental(self, preset_id: str) -> None:
        index = self.preset.findData(preset_id)
        self.preset.setCurrentIndex(max(0, index))
        self._price_from_preset()

    def rental_preset(self) -> RentalPreset | None:
        return next((p for p in self.presets if p.id == self.preset.currentData()), None)

    _setting_hosting = False

    def _price_from_preset(self, *_args: object) -> None:
        preset = self.rental_preset()
        if preset is None:
            self.preset_source.setText("typed")
            return
        self._setting_hosting = True
        try:
            self.hosting.setValue(preset.usd_per_hour)
        finally:
            self._setting_hosting = False
        low, high = preset.usd_per_hour_range
        whole = "" if preset.gpus[1] == 1 else (f"; the whole server {money(low)}-"
                                                f"{money(high).lstrip('$')} an hour")
        if low != high:
            whole += "; the middle of the range shown"
        self.preset_source.setText(preset.describe() + whole)
        self.recompute()

    def _typed_hosting(self, *_args: object) -> None:
        if not self._setting_hosting and self.preset.currentData():
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(self.preset.findData(CUSTOM))
            self.preset.blockSignals(False)
            self.preset_source.setText("typed")

    # -- results ----------------------------------------------------------------------------
    def recompute(self, *_args: object) -> BreakEvenResult | None:
        try:
            monthly = parse_amount(self.monthly.text())
            utilization = self.utilization.value() / 100
            server = break_even(BreakEvenInputs(
                monthly_tokens=monthly, api_usd_per_1m=self.api_price.value(),
                hosting_usd_per_hour=self.hosting.value(),
                tokens_per_s=self.server_throughput.value(), utilization=utilization))
            machine = own_machine_cost(OwnMachineInputs(
                monthly_tokens=monthly, api_usd_per_1m=self.api_price.value(),
                tokens_per_s=self.throughput.value(), power_watts=self.power.value(),
                electricity_usd_per_kwh=self.electricity.value(), utilization=utilization,
                hardware_usd=self.hardware.value(), lifetime_hours=self.lifetime.value()))
        except WorkbenchError as err:
            self.verdict.setText(str(err))
            return None
        self.result, self.machine_result = server, machine
        self.verdict.setText(summary(server, machine))
        self.server_verdict.setText(server.verdict)
        self.machine_verdict.setText(machine.verdict)
        servers = server.servers_needed
        threshold = (f"{format_count(server.break_even_tokens_per_month)} tokens a month"
                     if server.break_even_reachable else "never (a full server costs more per "
                     "token than the API)")
        self.server_figures.setText(
            f"{money(server.hosting_monthly_usd)} a month ({servers} "
            f"server{'s' if servers > 1 else ''}, {money(server.self_host_usd_per_1m_at_capacity)}"
            f" per 1M tokens when full)\n"
            f"One server makes {format_count(server.capacity_tokens_per_month)} tokens a month\n"
            f"Break-even: {threshold}")
        machine_in = machine.inputs
        self.machine_figures.setText(
            f"{money(machine.monthly_usd)} a month ({money(machine.energy_monthly_usd)} energy"
            f" + {money(machine.hardware_monthly_usd)} hardware), {money(machine.usd_per_1m)}"
            f" per 1M tokens\n"
            f"{format_power(machine_in.power_watts)} at {format_rate(machine_in.tokens_per_s)}; "
            f"it makes at most {format_count(machine.capacity_tokens_per_month)} tokens a month")
        self.chart.plot(server, machine)
        self.computed.emit(server)
        return server


def summary(server: BreakEvenResult, machine: OwnMachineResult) -> str:
    """The three monthly costs at the chosen volume, cheapest first."""
    volume = format_count(server.inputs.monthly_tokens)
    options = [("the API", server.api_monthly_usd), ("a rented server",
                                                     server.hosting_monthly_usd)]
    if machine.within_capacity:
        options.append(("this machine", machine.monthly_usd))
    options.sort(key=lambda item: item[1])
    (best, cost), rest = options[0], options[1:]
    others = ", ".join(f"{name} {money(usd)}" for name, usd in rest)
    text = f"At {volume} tokens a month {best} is cheapest: {money(cost)} a month ({others})."
    if not machine.within_capacity:
        most = format_count(machine.capacity_tokens_per_month)
        text += f" This machine cannot make that many ({most} a month at most)."
    return text
