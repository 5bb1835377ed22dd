"""The window shows one network state: the status bar, the Start page and Settings agree, under
HF_HUB_OFFLINE and with a settings file that cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from workbench.net.offline import disable_guard, guard_active
from workbench.store.settings import settings_path
from workbench.ui.main_window import MainWindow
from workbench.ui.status_bar import OFFLINE_TEXT, ONLINE_TEXT


@pytest.fixture
def home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fresh WORKBENCH_HOME of tests/conftest.py, online, no guard left behind."""
    for name in ("WORKBENCH_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield home
    disable_guard()


def _window(qtbot, settings: QSettings) -> MainWindow:
    win = MainWindow(settings=settings, network_check=lambda: None)  # "the Hub answers"
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _start_page_says_offline(win: MainWindow, qtbot) -> bool:
    win.show_page("start")
    qtbot.waitUntil(lambda: win.welcome.network_known, timeout=10_000)
    return "offline mode is on" in win.welcome.network_label.text()


def test_start_page_and_status_bar_agree_under_hf_hub_offline(
        qtbot, home: Path, settings: QSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    win = _window(qtbot, settings)
    try:
        assert win.status.offline_label.text() == OFFLINE_TEXT
        assert "HF_HUB_OFFLINE" in win.status.offline_label.toolTip()
        assert _start_page_says_offline(win, qtbot)
        assert win.discover.offline
        note = win.settings_page.offline_note
        assert not note.isHidden() and "HF_HUB_OFFLINE" in note.text()
        # switching the Settings box off does not turn the app online behind the variable
        win.settings_page.offline.setChecked(True)
        win.settings_page.offline.setChecked(False)
        assert win.status.offline_label.text() == OFFLINE_TEXT
    finally:
        win.close()


def test_start_page_and_status_bar_agree_online(qtbot, home: Path,
                                                settings: QSettings) -> None:
    win = _window(qtbot, settings)
    try:
        assert win.status.offline_label.text() == ONLINE_TEXT
        assert not _start_page_says_offline(win, qtbot)
    finally:
        win.close()


def test_a_broken_settings_file_keeps_the_window_offline(qtbot, home: Path,
                                                         settings: QSettings) -> None:
    path = settings_path()
    text = '{"offline": true, "electricity_usd_per_kwh": "0.30", "profiles": {"x": {}}}'
    path.write_text(text, encoding="utf-8")
    win = _window(qtbot, settings)
    try:
        assert win.status.offline_label.text() == OFFLINE_TEXT
        assert "electricity_usd_per_kwh" in win.status.offline_label.toolTip()
        assert _start_page_says_offline(win, qtbot)
        note = win.settings_page.offline_note
        assert not note.isHidden() and "electricity_usd_per_kwh" in note.text()
        win.apply_offline()
        assert guard_active()
        win.settings_page.offline.setChecked(True)  # cannot be saved: the file is kept
        win.settings_page.offline.setChecked(False)
        assert guard_active()
        assert path.read_text(encoding="utf-8") == text
    finally:
        win.close()
