"""The navigation rail, page shortcuts, the status bar's RAM and offline state, and the
window layout restored on the next start."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from workbench.ui.main_window import MainWindow
from workbench.ui.status_bar import OFFLINE_TEXT, ONLINE_TEXT

# The Settings page reads key states when shown: never from the OS keyring here.
pytestmark = pytest.mark.usefixtures("memory_keyring")


def _window(qtbot, settings: QSettings, **kwargs) -> MainWindow:
    kwargs.setdefault("network_check", lambda: "no network in this test")
    win = MainWindow(settings=settings, hardware_detector=kwargs.pop("detector", _no_detect),
                     library_scanner=lambda: [], **kwargs)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _no_detect():
    raise AssertionError("the Hardware page was not shown, so nothing should detect")


def test_rail_lists_the_pages_and_switches_the_stack(qtbot, settings: QSettings) -> None:
    win = _window(qtbot, settings)
    keys = win.rail.keys()
    assert keys == ["start", "hardware", "discover", "downloads", "library", "chat", "compare",
                    "evals", "server", "bench", "costs", "settings"]
    assert win.pages.count() == len(keys)  # every rail row is a real page, nothing else
    assert win.current_page() == "chat" and win.pages.currentWidget() is win.chat
    # keyboard: the rail has focus, arrow keys and Home go to other pages
    win.rail.setFocus()
    win.hardware._detector = lambda: (_ for _ in ()).throw(RuntimeError("no probe here"))
    qtbot.keyClick(win.rail, Qt.Key.Key_Down)
    assert win.current_page() == "compare" and win.pages.currentWidget() is win.compare
    qtbot.keyClick(win.rail, Qt.Key.Key_Home)
    assert win.current_page() == "start" and win.pages.currentWidget() is win.welcome
    qtbot.keyClick(win.rail, Qt.Key.Key_Down)
    assert win.current_page() == "hardware" and win.pages.currentWidget() is win.hardware
    qtbot.waitUntil(lambda: not win.hardware.detecting, timeout=5000)
    assert "no probe here" in win.hardware.state_label.text()
    win.close()


def test_ctrl_number_shortcuts_go_to_pages(qtbot, settings: QSettings) -> None:
    win = _window(qtbot, settings)
    win.hardware._detector = lambda: (_ for _ in ()).throw(RuntimeError("skip"))
    assert [a.shortcut().toString() for a in win.page_actions] == [
        f"Ctrl+{n % 10}" for n in range(1, min(len(win.rail.keys()), 10) + 1)]
    win.page_actions[1].trigger()
    assert win.current_page() == "hardware"
    win.page_actions[5].trigger()
    assert win.current_page() == "chat"
    win.page_actions[7].trigger()
    assert win.current_page() == "evals"
    win.page_actions[8].trigger()
    assert win.current_page() == "server"
    win.page_actions[9].trigger()
    assert win.current_page() == "bench"
    qtbot.waitUntil(lambda: not win.hardware.detecting, timeout=5000)
    win.close()


def test_layout_and_page_are_restored(qtbot, settings: QSettings) -> None:
    win = _window(qtbot, settings)
    win.hardware._detector = lambda: (_ for _ in ()).throw(RuntimeError("skip"))
    win.resize(720, 520)  # above the window's minimum width
    win.show_page("hardware")
    qtbot.waitUntil(lambda: not win.hardware.detecting, timeout=5000)
    win.close()
    assert settings.value("window/page") == "hardware"
    again = MainWindow(settings=settings,
                       hardware_detector=lambda: (_ for _ in ()).throw(RuntimeError("skip")))
    qtbot.addWidget(again)
    assert again.current_page() == "hardware"
    assert (again.width(), again.height()) == (720, 520)
    again.show()
    qtbot.waitUntil(lambda: not again.hardware.detecting, timeout=5000)
    again.close()


def test_status_bar_shows_ram_and_offline_state(qtbot, settings: QSettings,
                                                monkeypatch) -> None:
    win = _window(qtbot, settings)
    assert win.status.offline_label.text() == ONLINE_TEXT
    win.status.refresh_memory()
    assert win.status.ram_label.text().startswith("RAM ") and " / " in win.status.ram_label.text()
    win.close()
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    offline = _window(qtbot, settings)
    assert offline.status.offline_label.text() == OFFLINE_TEXT
    offline.close()
    assert QApplication.instance() is not None
