"""Fixtures for the GUI tests: offscreen Qt, isolated settings, a real main window."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings

# The offscreen platform plugin warns about a window-manager feature it lacks; not our bug.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture(scope="session", autouse=True)
def bundled_fonts(qapp) -> list[str]:
    """The app's bundled code font, registered as ``configure_application`` does at start-up,
    so code is drawn in it whatever fonts this machine has."""
    from workbench.ui.fonts import register_bundled_fonts

    return register_bundled_fonts()


@pytest.fixture(autouse=True)
def gui_thread_gc(qapp) -> Iterator[None]:
    """Cyclic garbage collected on the GUI thread only, as the app does (ui/collector.py): a
    background thread that collects a closed page's Qt objects crashes the event loop."""
    from workbench.ui.collector import GuiThreadCollector

    collector = GuiThreadCollector().start()
    yield
    collector.stop()
    collector.deleteLater()


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path: Path) -> Iterator[None]:
    """QSettings' default locations point into the test's temporary directory (WORKBENCH_HOME
    is already a temporary directory: tests/conftest.py)."""
    config = tmp_path / "qsettings"
    config.mkdir()
    for kind in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(kind, QSettings.Scope.UserScope, str(config))
    yield


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "workbench.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings: QSettings):
    from workbench.ui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
