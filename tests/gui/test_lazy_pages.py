"""The window builds Start and Chat with itself and every other page on its first visit, so the
first window waits for neither the other pages nor what only they import (numpy, the gguf
package, the planner, uvicorn, yaml)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from workbench.ui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("memory_keyring")

ROOT = Path(__file__).resolve().parents[2]
EAGER = {"start", "chat"}

PROBE = """
import sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from workbench.ui.main_window import MainWindow
window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat),
                    library_scanner=lambda: [])
window.show()
app.processEvents()
heavy = ("numpy", "gguf", "workbench.planner.memory", "uvicorn", "yaml", "workbench.evals",
         "workbench.ui.compare_page")
print(sorted(name for name in heavy if name in sys.modules))
print(sorted(window.page_widgets))
window.show_page("compare")
print("workbench.ui.compare_page" in sys.modules, sorted(window.page_widgets))
window.close()
"""


def test_the_first_window_imports_and_builds_only_what_it_shows(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", WORKBENCH_HOME=str(tmp_path / "home"),
               WORKBENCH_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "settings.ini")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "[]", lines[0]  # none of them imported for the first window
    assert lines[1] == str(sorted(EAGER))
    assert lines[2].startswith("True") and "'compare'" in lines[2]  # built when shown


def test_a_page_is_built_once_in_its_place(qtbot, settings: QSettings) -> None:
    win = MainWindow(settings=settings, library_scanner=lambda: [])
    qtbot.addWidget(win)
    keys = win.rail.keys()
    assert set(win.page_widgets) == EAGER
    assert win.built("costs") is None
    costs = win.costs  # the attribute builds it
    assert win.built("costs") is costs and win.page("costs") is costs
    assert win.pages.indexOf(costs) == keys.index("costs")  # where its rail row says
    assert win.pages.count() == len(keys)
    win.show_page("settings")
    assert win.pages.currentWidget() is win.settings_page
    assert win.pages.indexOf(win.settings_page) == keys.index("settings")
    assert win.settings_page.objectName() == "page-settings"
    # its signals reach the window: the theme chosen there is applied and kept
    win.settings_page.themeChosen.emit("dark")
    assert settings.value("ui/theme") == "dark"
    win.set_theme("system")
    win.close()


def test_a_page_built_later_starts_in_the_windows_state(qtbot, settings: QSettings,
                                                        monkeypatch) -> None:
    win = MainWindow(settings=settings, library_scanner=lambda: [])
    qtbot.addWidget(win)
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    try:
        win.apply_offline()
        win._folders_changed()
        assert set(win.page_widgets) == EAGER  # nothing was built to be told
        assert win.status.offline and win.discover.offline  # built now, offline from the start
    finally:
        monkeypatch.delenv("WORKBENCH_OFFLINE")
        win.apply_offline()
    assert not win.discover.offline
    win.close()
