"""The application entry point and its last line of defence against unexpected errors."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.helpers.gui import LOAD_TIMEOUT_MS
from workbench.engine.protocol import LoadedModel
from workbench.ui import app as app_module
from workbench.ui.main_window import MainWindow


def test_run_app_opens_the_model_and_returns_when_closed(qtbot, llama_tiny: Path) -> None:
    seen: dict[str, object] = {}

    def drive() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)
                   and w.isVisible()]
        if not windows:
            QTimer.singleShot(50, drive)
            return
        window = windows[0]
        seen["title"] = window.windowTitle()
        seen["hook"] = sys.excepthook

        def loaded(info: LoadedModel) -> None:
            seen["info"] = info
            window.close()

        window.bridge.loaded.connect(loaded)
        window.bridge.crashed.connect(lambda *_: window.close())
        window.bridge.loadFailed.connect(lambda *_: window.close())
        QTimer.singleShot(LOAD_TIMEOUT_MS, window.close)  # never hang the test run

    hook_before = sys.excepthook
    QTimer.singleShot(0, drive)
    try:
        code = app_module.run_app(str(llama_tiny))
    finally:
        for handler in list(logging.getLogger("workbench").handlers):
            if isinstance(handler, logging.FileHandler):
                logging.getLogger("workbench").removeHandler(handler)
                handler.close()
    assert code == 0
    assert seen["title"] == "Workbench"
    assert seen["hook"] is not hook_before  # our hook was installed while running
    assert sys.excepthook is hook_before  # and removed afterwards
    assert isinstance(seen.get("info"), LoadedModel) and seen["info"].architecture == "llama"
    assert QApplication.organizationName() == app_module.ORGANIZATION
    # QSettings' default location is the test's (isolated by conftest)
    assert QSettings().contains("window/geometry")


def test_excepthook_logs_and_shows_a_dialog_instead_of_dying(qtbot, caplog) -> None:
    shown: list[str] = []

    def close_dialog() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, close_dialog)
            return
        assert isinstance(box, QMessageBox)
        shown.append(box.text())
        shown.append(box.detailedText())
        box.done(0)

    hook = app_module.make_excepthook(lambda: None, "/tmp/workbench.log")
    try:
        raise ValueError("something odd")
    except ValueError as err:
        error = err
    QTimer.singleShot(0, close_dialog)
    with caplog.at_level(logging.ERROR, logger="workbench.ui"):
        hook(ValueError, error, error.__traceback__)
    assert shown and "ValueError: something odd" in shown[0]
    assert "Traceback" in shown[1]
    assert any("unexpected error" in r.getMessage() and r.exc_info for r in caplog.records)
