"""The Settings page: API keys (in the OS keyring, shown only as set / not set), endpoint
profiles, price overrides, model folders, offline mode, the electricity price and the theme.

Everything but the keys is saved in the settings file (``workbench.store.settings``), which
refuses anything that looks like a key. Each change is saved at once; a refusal is shown on
the page in one line.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.costs.own_machine import hardware_usd_per_hour
from workbench.costs.pricing import load_pricing
from workbench.errors import WorkbenchError
from workbench.hub import add_folder, folders, remove_folder
from workbench.net.offline import network_state
from workbench.present.numbers import money
from workbench.providers.profiles import Profile, all_profiles, remove_profile, save_profile
from workbench.store import secrets
from workbench.store.settings import AppSettings, load_settings, save_settings
from workbench.ui.theme import THEMES
from workbench.ui.widgets import page_title, plain_label, row_table

BUILTIN_KEYS = ("openai", "anthropic", "gemini")


def key_state_text(source: str | None) -> str:
    """"set (keyring)", "set (environment: VAR)" or "not set" - never the key."""
    if source is None:
        return "not set"
    if source.startswith("env:"):
        return f"set (environment: {source[4:]})"
    return f"set ({source})"


def _table(columns: list[str], parent: QWidget, name: str) -> QTableWidget:
    table = row_table(columns, name, parent)
    table.setMinimumHeight(120)
    return table


class SettingsPage(QWidget):
    statusMessage = Signal(str)
    offlineChanged = Signal(bool)  # the effective offline state after a change
    settingsChanged = Signal()
    themeChosen = Signal(str)  # a key of workbench.ui.theme.THEMES
    foldersChanged = Signal()  # the Library's model folders changed

    def __init__(self, parent: QWidget | None = None, *, path: Path | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.key_rows: dict[str, tuple[QLabel, QLineEdit, QPushButton, QPushButton]] = {}
        self._profiles: dict[str, Profile] = {}

        self.message = plain_label("", self)
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Settings message")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # network and energy
        general = QGroupBox("Network and energy", self)
        general_form = QFormLayout(general)
        self.offline = QCheckBox("Offline mode: nothing leaves this machine", general)
        self.offline.setToolTip("Refuse every connection that is not to this machine (cloud "
                                "targets and downloads stop working; local models still work).")
        self.offline_note = plain_label("", general)
        self.offline_note.setWordWrap(True)
        self.electricity = QDoubleSpinBox(general)
        self.electricity.setRange(0, 10)
        self.electricity.setDecimals(3)
        self.electricity.setPrefix("$")
        self.electricity.setSuffix(" per kWh")
        self.electricity.setAccessibleName("Electricity price")
        self.electricity.setMaximumWidth(220)
        self.electricity.setToolTip("Prices local answers' measured energy.")
        self.electricity_note = QLabel("", general)
        general_form.addRow(self.offline)
        general_form.addRow(self.offline_note)
        general_form.addRow("Electricity:", self.electricity)
        general_form.addRow("", self.electricity_note)
        self.hardware = QDoubleSpinBox(general)
        self.hardware.setRange(0, 1_000_000)
        self.hardware.setDecimals(0)
        self.hardware.setPrefix("$")
        self.hardware.setGroupSeparatorShown(True)
        self.hardware.setSpecialValueText("not counted")
        self.hardware.setAccessibleName("Machine price")
        self.hardware.setMaximumWidth(220)
        self.hardware.setToolTip("Optional: what this machine cost. With a lifetime, local "
                                 "answers and the Costs page add its price spread over its "
                                 "hours of answering.")
        self.lifetime = QDoubleSpinBox(general)
        self.lifetime.setRange(0, 1_000_000)
        self.lifetime.setDecimals(0)
        self.lifetime.setSuffix(" h of answering")
        self.lifetime.setGroupSeparatorShown(True)
        self.lifetime.setSpecialValueText("not set")
        self.lifetime.setAccessibleName("Machine lifetime in hours of answering")
        self.lifetime.setMaximumWidth(220)
        self.lifetime.setToolTip("Hours this machine will spend answering over its life "
                                 "(3 years of 8 h a day is 8,760 h).")
        general_form.addRow("Machine price:", self.hardware)
        general_form.addRow("Machine lifetime:", self.lifetime)
        self.theme = QComboBox(general)
        for key, title in THEMES.items():
            self.theme.addItem(title, key)
        self.theme.setAccessibleName("Theme")
        self.theme.setToolTip("Light or dark colours; Follow the system switches with it.")
        self.theme.setMaximumWidth(220)
        self.theme.activated.connect(
            lambda _index: self.themeChosen.emit(str(self.theme.currentData())))
        general_form.addRow("Theme:", self.theme)

        # model folders (the Library scans them besides the HF cache and other apps' stores)
        folders_box = QGroupBox("Model folders", self)
        self.folder_list = QListWidget(folders_box)
        self.folder_list.setAccessibleName("Model folders")
        self.folder_list.setToolTip("Folders of .gguf files the Library lists (besides the "
                                    "Hugging Face cache, LM Studio, Ollama, GPT4All and Jan).")
        self.folder_list.setMaximumHeight(self.fontMetrics().lineSpacing() * 6)
        add_folder_button = QPushButton("Add folder…", folders_box)
        add_folder_button.setAccessibleName("Add a model folder")
        add_folder_button.clicked.connect(self.choose_folder)
        remove_folder_button = QPushButton("Remove selected", folders_box)
        remove_folder_button.setAccessibleName("Remove the selected model folder")
        remove_folder_button.setToolTip("The folder and its files stay; the Library stops "
                                        "listing them.")
        remove_folder_button.clicked.connect(self.remove_selected_folder)
        folder_buttons = QHBoxLayout()
        folder_buttons.addStretch(1)
        folder_buttons.addWidget(add_folder_button)
        folder_buttons.addWidget(remove_folder_button)
        folders_layout = QVBoxLayout(folders_box)
        folders_layout.addWidget(self.folder_list)
        folders_layout.addLayout(folder_buttons)

        # keys
        self.keys_box = QGroupBox("API keys (stored in the OS keyring, never shown)", self)
        self.keys_grid = QGridLayout(self.keys_box)

        # profiles
        profiles_box = QGroupBox("Endpoint profiles (OpenAI-compatible)", self)
        self.profiles = _table(["Name", "Base URL", "Pricing", "Key", "Kind"], profiles_box,
                               "Endpoint profiles")
        self.profiles.setMinimumHeight(200)
        self.profile_name = QLineEdit(profiles_box)
        self.profile_name.setPlaceholderText("name, e.g. my-vllm")
        self.profile_name.setAccessibleName("New profile name")
        self.profile_url = QLineEdit(profiles_box)
        self.profile_url.setPlaceholderText("base URL, e.g. http://127.0.0.1:8000/v1")
        self.profile_url.setAccessibleName("New profile base URL")
        self.profile_pricing = QLineEdit(profiles_box)
        self.profile_pricing.setPlaceholderText("pricing provider (blank: self-hosted)")
        self.profile_pricing.setAccessibleName("New profile pricing provider")
        self.profile_key = QCheckBox("needs a key", profiles_box)
        self.profile_key.setChecked(True)
        add_profile = QPushButton("Save profile", profiles_box)
        add_profile.clicked.connect(self.add_profile)
        self.remove_profile_button = QPushButton("Remove selected", profiles_box)
        self.remove_profile_button.setAccessibleName("Remove the selected profile")
        self.remove_profile_button.clicked.connect(self.remove_selected_profile)
        profile_form = QHBoxLayout()
        for widget in (self.profile_name, self.profile_url, self.profile_pricing,
                       self.profile_key, add_profile, self.remove_profile_button):
            profile_form.addWidget(widget)
        profiles_layout = QVBoxLayout(profiles_box)
        profiles_layout.addWidget(self.profiles)
        profiles_layout.addLayout(profile_form)

        # prices
        prices_box = QGroupBox("Price overrides (USD per 1M tokens)", self)
        self.prices = _table(["Provider/model", "Input", "Output"], prices_box,
                             "Price overrides")
        self.price_key = QLineEdit(prices_box)
        self.price_key.setPlaceholderText("provider/model, e.g. openai/gpt-4o-mini")
        self.price_key.setAccessibleName("Price override model")
        self.price_input = QDoubleSpinBox(prices_box)
        self.price_output = QDoubleSpinBox(prices_box)
        for spin, what in ((self.price_input, "Input"), (self.price_output, "Output")):
            spin.setRange(0, 100_000)
            spin.setDecimals(4)
            spin.setPrefix(f"{what.lower()} $")
            spin.setAccessibleName(f"{what} price per million tokens")
        add_price = QPushButton("Save price", prices_box)
        add_price.clicked.connect(self.add_price)
        remove_price = QPushButton("Remove selected", prices_box)
        remove_price.setAccessibleName("Remove the selected price override")
        remove_price.clicked.connect(self.remove_selected_price)
        price_form = QHBoxLayout()
        for widget in (self.price_key, self.price_input, self.price_output, add_price,
                       remove_price):
            price_form.addWidget(widget)
        prices_layout = QVBoxLayout(prices_box)
        prices_layout.addWidget(self.prices)
        prices_layout.addLayout(price_form)

        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 12, 16, 12)
        title = page_title("Settings", body)
        layout.addWidget(title)
        layout.addWidget(self.message)
        for box in (general, self.keys_box, profiles_box, prices_box, folders_box):
            layout.addWidget(box)
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.reload()
        self.offline.toggled.connect(self.set_offline)
        self.electricity.editingFinished.connect(self.save_electricity)
        self.hardware.editingFinished.connect(self.save_machine)
        self.lifetime.editingFinished.connect(self.save_machine)

    # -- settings file ---------------------------------------------------------------------
    def _load(self) -> AppSettings | None:
        try:
            return load_settings(self.path)
        except WorkbenchError as err:
            self._say(f"The settings file cannot be read: {err}")
            return None

    def _save(self, settings: AppSettings, done: str) -> bool:
        try:
            save_settings(settings, self.path)
        except WorkbenchError as err:
            self._say(str(err))
            return False
        self._say(done)
        self.settingsChanged.emit()
        return True

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.statusMessage.emit(text)

    def reload(self) -> None:
        """Show what the settings file and the keyring hold now."""
        settings = self._load() or AppSettings()
        self.offline.blockSignals(True)
        self.offline.setChecked(settings.offline)
        self.offline.blockSignals(False)
        self._show_offline_note()
        self.electricity.setValue(settings.electricity_price)
        self.electricity_note.setText("default price" if settings.electricity_usd_per_kwh
                                      is None else "your price")
        self.hardware.setValue(settings.hardware_usd or 0.0)
        self.lifetime.setValue(settings.hardware_lifetime_hours or 0.0)
        try:
            profiles = all_profiles(settings)
        except WorkbenchError as err:
            self._say(str(err))
            profiles = {}
        self._fill_profiles(profiles)
        self._profiles = profiles
        if self.isVisible():  # the keyring is asked only when the page is shown
            self._fill_keys(profiles)
        self._fill_prices(settings)
        self._fill_folders()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fill_keys(self._profiles)

    # -- offline and electricity -----------------------------------------------------------
    def _show_offline_note(self) -> None:
        """Why the app is offline whatever this box says (environment, unusable file)."""
        state = network_state(self.path)
        forced = [r for r in state.reasons if r != "the settings"]
        lines = [f"{', '.join(forced)}: offline regardless of this box."] if forced else []
        if state.settings_problem:
            lines.append(state.settings_problem)
        self.offline_note.setText("\n".join(lines))
        self.offline_note.setVisible(bool(lines))

    def set_offline(self, offline: bool) -> None:
        settings = self._load()
        if settings is None:
            return
        settings.offline = offline
        if self._save(settings, "Offline mode is on: nothing leaves this machine." if offline
                      else "Offline mode is off."):
            self._show_offline_note()
            self.offlineChanged.emit(network_state(self.path).offline)

    def save_electricity(self) -> None:
        settings = self._load()
        if settings is None or settings.electricity_price == self.electricity.value():
            return
        settings.electricity_usd_per_kwh = self.electricity.value()
        if self._save(settings, f"Electricity price: {money(self.electricity.value())} per kWh."):
            self.electricity_note.setText("your price")

    def save_machine(self) -> None:
        """The machine's price and lifetime (0: not set) for the hardware share of costs."""
        settings = self._load()
        price, hours = self.hardware.value() or None, self.lifetime.value() or None
        if settings is None or (settings.hardware_usd, settings.hardware_lifetime_hours) == (
                price, hours):
            return
        settings.hardware_usd, settings.hardware_lifetime_hours = price, hours
        share = hardware_usd_per_hour(price, hours)
        self._save(settings, f"Machine: {money(share)} an hour of answering." if share else
                   "Machine price not counted (set both its price and its lifetime).")

    def set_theme(self, choice: str) -> None:
        """Show ``choice`` (the theme in use) without emitting themeChosen."""
        index = self.theme.findData(choice)
        self.theme.setCurrentIndex(index if index >= 0 else 0)

    # -- model folders ---------------------------------------------------------------------
    def _fill_folders(self) -> None:
        self.folder_list.clear()
        for folder in folders():
            self.folder_list.addItem(str(folder))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of GGUF models")
        if folder:
            self.add_model_folder(folder)

    def add_model_folder(self, folder: str) -> bool:
        try:
            path = add_folder(folder)
        except WorkbenchError as err:
            self._say(str(err))
            return False
        self._fill_folders()
        self._say(f"The Library now lists the models in {path}.")
        self.foldersChanged.emit()
        return True

    def remove_selected_folder(self) -> bool:
        item = self.folder_list.currentItem()
        if item is None:
            self._say("Select a folder to remove.")
            return False
        folder = item.text()
        removed = remove_folder(folder)
        self._fill_folders()
        if removed:
            self._say(f"The Library no longer lists {folder} (its files stay).")
            self.foldersChanged.emit()
        return removed

    # -- keys ------------------------------------------------------------------------------
    def _fill_keys(self, profiles: dict[str, Profile]) -> None:
        while self.keys_grid.count():
            item = self.keys_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.key_rows = {}
        names = list(BUILTIN_KEYS)
        names += sorted({p.key for p in profiles.values() if p.requires_key} - set(names))
        for row, name in enumerate(names):
            label = QLabel(name, self.keys_box)
            state = QLabel(key_state_text(secrets.key_status(name)), self.keys_box)
            state.setAccessibleName(f"Key for {name}")
            entry = QLineEdit(self.keys_box)
            entry.setEchoMode(QLineEdit.EchoMode.Password)
            entry.setPlaceholderText("paste a new key")
            entry.setAccessibleName(f"New key for {name}")
            set_button = QPushButton("Set", self.keys_box)
            set_button.setAccessibleName(f"Store the key for {name}")
            set_button.clicked.connect(lambda _c=False, n=name: self.set_key(n))
            entry.returnPressed.connect(lambda n=name: self.set_key(n))
            delete = QPushButton("Delete", self.keys_box)
            delete.setAccessibleName(f"Delete the key for {name}")
            delete.clicked.connect(lambda _c=False, n=name: self.delete_key(n))
            for column, widget in enumerate((label, state, entry, set_button, delete)):
                self.keys_grid.addWidget(widget, row, column)
            self.key_rows[name] = (state, entry, set_button, delete)
        self.keys_grid.setColumnStretch(2, 1)

    def _key_changed(self, name: str) -> None:
        state = self.key_rows[name][0]
        state.setText(key_state_text(secrets.key_status(name)))

    def set_key(self, name: str) -> None:
        entry = self.key_rows[name][1]
        value = entry.text()
        entry.clear()  # never left in the widget
        try:
            secrets.set_api_key(name, value)
        except WorkbenchError as err:
            self._say(f"{name}: {err}")
            return
        self._key_changed(name)
        self._say(f"Stored the key for {name} in the OS keyring.")

    def delete_key(self, name: str) -> None:
        try:
            removed = secrets.delete_api_key(name)
        except WorkbenchError as err:
            self._say(f"{name}: {err}")
            return
        self._key_changed(name)
        self._say(f"Removed the key for {name}." if removed
                  else f"There was no key for {name} in the OS keyring.")

    # -- profiles --------------------------------------------------------------------------
    def _fill_profiles(self, profiles: dict[str, Profile]) -> None:
        self.profiles.setRowCount(0)
        for profile in profiles.values():
            row = self.profiles.rowCount()
            self.profiles.insertRow(row)
            values = (profile.name, profile.base_url, profile.pricing_provider,
                      "needed" if profile.requires_key else "none",
                      "preset" if profile.preset else "yours")
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column == 0:
                    item.setToolTip(profile.description or profile.name)
                self.profiles.setItem(row, column, item)

    def add_profile(self) -> None:
        settings = self._load()
        if settings is None:
            return
        try:
            profile = Profile(self.profile_name.text().strip(), self.profile_url.text().strip(),
                              self.profile_pricing.text().strip().lower() or "self-hosted",
                              requires_key=self.profile_key.isChecked())
        except WorkbenchError as err:
            self._say(str(err))
            return
        save_profile(settings, profile)
        if self._save(settings, f"Saved the profile {profile.name}: use it as "
                                f"profile:{profile.name}/MODEL."):
            self.profile_name.clear()
            self.profile_url.clear()
            self.profile_pricing.clear()
            self.reload()

    def remove_selected_profile(self) -> None:
        row = self.profiles.currentRow()
        if row < 0:
            return
        name = self.profiles.item(row, 0).text()
        settings = self._load()
        if settings is None:
            return
        if not remove_profile(settings, name):
            self._say(f"{name} is a preset: it cannot be removed.")
            return
        if self._save(settings, f"Removed the profile {name}."):
            self.reload()

    # -- prices ----------------------------------------------------------------------------
    def _fill_prices(self, settings: AppSettings) -> None:
        self.prices.setRowCount(0)
        for key, row in sorted(settings.pricing_overrides.items()):
            index = self.prices.rowCount()
            self.prices.insertRow(index)
            for column, value in enumerate((key, row.get("input"), row.get("output"))):
                self.prices.setItem(index, column, QTableWidgetItem(
                    str(value) if value is not None else ""))

    def add_price(self) -> None:
        settings = self._load()
        if settings is None:
            return
        key = self.price_key.text().strip().lower()
        overrides = dict(settings.pricing_overrides)
        overrides[key] = {"input": self.price_input.value(), "output": self.price_output.value()}
        try:
            load_pricing(overrides=overrides)  # the same check every reader of it makes
        except WorkbenchError as err:
            self._say(str(err))
            return
        settings.pricing_overrides = overrides
        if self._save(settings, f"Saved the price of {key}."):
            self.price_key.clear()
            self._fill_prices(settings)

    def remove_selected_price(self) -> None:
        row = self.prices.currentRow()
        settings = self._load()
        if row < 0 or settings is None:
            return
        key = self.prices.item(row, 0).text()
        settings.pricing_overrides.pop(key, None)
        if self._save(settings, f"Removed the price override for {key}."):
            self._fill_prices(settings)
