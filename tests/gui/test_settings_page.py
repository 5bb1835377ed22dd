"""The Settings page: keys in an in-memory keyring (never shown), profiles, price overrides,
offline mode (status bar and socket guard) and the electricity price."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel, QLineEdit

from workbench.net.offline import OfflineBlocked, disable_guard, guard_active
from workbench.store.secrets import SERVICE
from workbench.ui.main_window import MainWindow
from workbench.ui.settings_page import SettingsPage
from workbench.ui.status_bar import OFFLINE_TEXT, ONLINE_TEXT

KEY = "sk-test-settings-0a1b2c3d"


@pytest.fixture
def keyring_backend(memory_keyring, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                "WORKBENCH_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    return memory_keyring


def _page(qtbot, tmp_path: Path) -> SettingsPage:
    page = SettingsPage(path=tmp_path / "settings.json")
    qtbot.addWidget(page)
    page.show()
    return page


def test_keys_are_set_and_deleted_but_never_shown(qtbot, tmp_path: Path,
                                                  keyring_backend) -> None:
    page = _page(qtbot, tmp_path)
    state, entry, set_button, delete = page.key_rows["openai"]
    assert state.text() == "not set"
    assert entry.echoMode() == QLineEdit.EchoMode.Password
    entry.setText(KEY)
    set_button.click()
    assert keyring_backend.store[(SERVICE, "openai")] == KEY
    assert state.text() == "set (keyring)" and entry.text() == ""
    shown = [w.text() for w in page.findChildren(QLabel)] + \
            [w.text() for w in page.findChildren(QLineEdit)]
    assert not any(KEY in text for text in shown)
    delete.click()
    assert (SERVICE, "openai") not in keyring_backend.store and state.text() == "not set"
    # a key with spaces is refused, in one line
    entry.setText("two words")
    set_button.click()
    assert "spaces" in page.message.text() and (SERVICE, "openai") not in keyring_backend.store


def test_profiles_and_prices_are_saved_and_validated(qtbot, tmp_path: Path,
                                                     keyring_backend) -> None:
    page = _page(qtbot, tmp_path)
    presets = page.profiles.rowCount()
    page.profile_name.setText("my-vllm")
    page.profile_url.setText("http://127.0.0.1:8000/v1")
    page.profile_key.setChecked(False)
    page.add_profile()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["profiles"]["my-vllm"]["base_url"] == "http://127.0.0.1:8000/v1"
    assert page.profiles.rowCount() == presets + 1
    page.profile_name.setText("bad")
    page.profile_url.setText("ftp://nowhere")
    page.add_profile()
    assert "base URL" in page.message.text()
    # remove it again
    row = next(r for r in range(page.profiles.rowCount())
               if page.profiles.item(r, 0).text() == "my-vllm")
    page.profiles.selectRow(row)
    page.remove_selected_profile()
    assert "my-vllm" not in json.loads((tmp_path / "settings.json").read_text())["profiles"]

    page.price_key.setText("openai/gpt-test")
    page.price_input.setValue(0.5)
    page.price_output.setValue(1.5)
    page.add_price()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["pricing_overrides"] == {"openai/gpt-test": {"input": 0.5, "output": 1.5}}
    assert page.prices.rowCount() == 1
    page.price_key.setText("no-slash")
    page.add_price()
    assert "PROVIDER/MODEL" in page.message.text()

    page.electricity.setValue(0.3)
    page.save_electricity()
    assert json.loads((tmp_path / "settings.json").read_text())[
        "electricity_usd_per_kwh"] == 0.3


def test_machine_price_and_lifetime_are_saved_and_seed_the_costs_page(
        qtbot, home: Path, tmp_path: Path) -> None:
    from workbench.store import db
    from workbench.store.settings import settings_path
    from workbench.ui.costs_page import CostsPage

    page = SettingsPage(path=settings_path())
    qtbot.addWidget(page)
    page.hardware.setValue(2400)
    page.save_machine()
    assert "set both" in page.message.text()
    page.lifetime.setValue(8000)
    page.save_machine()
    saved = json.loads(settings_path().read_text())
    assert (saved["hardware_usd"], saved["hardware_lifetime_hours"]) == (2400, 8000)
    assert page.message.text() == "Machine: $0.30 an hour of answering."
    costs = CostsPage(connect=lambda: db.connect(tmp_path / "c.db"))
    qtbot.addWidget(costs)
    assert (costs.hardware.value(), costs.lifetime.value()) == (2400, 8000)
    assert costs.machine_result.inputs.usd_per_hour == pytest.approx(
        0.30 + costs.power.value() / 1000 * costs.electricity.value())


def test_offline_toggle_guards_sockets_and_shows_in_the_status_bar(
        qtbot, keyring_backend, settings: QSettings) -> None:
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    assert win.status.offline_label.text() == ONLINE_TEXT
    try:
        with qtbot.waitSignal(win.settings_page.offlineChanged):
            win.settings_page.offline.setChecked(True)
        assert guard_active()
        assert win.status.offline_label.text() == OFFLINE_TEXT
        with pytest.raises(OfflineBlocked):
            socket.create_connection(("192.0.2.1", 443), timeout=1)
        win.settings_page.offline.setChecked(False)
        assert not guard_active() and win.status.offline_label.text() == ONLINE_TEXT
    finally:
        disable_guard()
        win.settings_page.set_offline(False)  # the session's settings file stays online
        win.close()
