"""A model load shows its time and can be cancelled; the next load works."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt

from tests.helpers.gui import load_model
from workbench.engine.client import LocalEngine
from workbench.ui import engine_bridge as states
from workbench.ui.main_window import MainWindow


def test_esc_cancels_a_slow_load_and_the_next_load_works(
        qtbot, settings: QSettings, llama_tiny: Path) -> None:
    engine = LocalEngine(env={**os.environ, "WORKBENCH_WORKER_FAULT": "hang-on-load"})
    win = MainWindow(engine=engine, settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    try:
        assert win.open_model(str(llama_tiny))
        assert win.bridge.state == states.LOADING
        assert win.chat.stop_button.isEnabled() and win.stop_action.isEnabled()
        qtbot.waitUntil(lambda: " s (Esc cancels)" in win.chat.model_label.text(),
                        timeout=5000)  # the seconds the load has taken so far
        with qtbot.waitSignal(win.bridge.loadCancelled, timeout=10_000):
            qtbot.keyClick(win.chat.input, Qt.Key.Key_Escape)
        assert win.bridge.state == states.NO_MODEL and win.bridge.info is None
        assert win.chat.model_label.text() == "No model loaded"
        assert not engine.alive  # the stuck process is gone
        assert win.chat.banner.kind is None  # a cancel is not an error

        engine.env = None  # the next worker loads normally
        info = load_model(qtbot, win, llama_tiny)
        assert info.model_path == str(llama_tiny)
        assert win.bridge.state == states.READY
    finally:
        win.close()
