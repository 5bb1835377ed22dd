"""A crashing model process never takes the window down; the crash UI offers a safe-mode retry."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from PySide6.QtCore import Qt

from tests.helpers.gui import ANSWER_TIMEOUT_MS, LOAD_TIMEOUT_MS, ask, load_model, start_long_answer
from workbench.engine.errors import WorkerCrashed
from workbench.engine.settings import SAFE_MODE_MAX_CTX
from workbench.ui import engine_bridge as states
from workbench.ui.main_window import MainWindow


def test_a_model_that_aborts_llama_cpp_shows_the_crash_and_retry(
        qtbot, window: MainWindow, tiny_model_path) -> None:
    path = tiny_model_path(fault="duplicate-vocab")
    with qtbot.waitSignal(window.bridge.crashed, timeout=LOAD_TIMEOUT_MS) as blocker:
        assert window.open_model(str(path))
    error, operation = blocker.args
    assert isinstance(error, WorkerCrashed) and operation == "load"
    assert error.signal_name == "SIGABRT"

    banner = window.chat.banner
    assert banner.isVisible() and banner.kind == "crash"
    assert "SIGABRT" in banner.title.text()
    assert "llama.cpp aborted" in banner.message.text()
    assert banner.retry_button.isVisible() and banner.retry_button.isEnabled()
    assert "crashed" in window.status.state_label.text()
    # the details hold the cause and llama.cpp's last log lines
    details = banner.details.toPlainText()
    assert "SIGABRT" in details and error.log_tail and error.log_tail[-1] in details
    assert not banner.details.isVisibleTo(window)
    qtbot.mouseClick(banner.details_toggle, Qt.MouseButton.LeftButton)
    assert banner.details.isVisibleTo(window)

    # Retry loads again, in safe mode (the same file crashes again, and says so again)
    first_settings = window.bridge.settings
    with qtbot.waitSignal(window.bridge.crashed, timeout=LOAD_TIMEOUT_MS):
        qtbot.mouseClick(banner.retry_button, Qt.MouseButton.LeftButton)
    assert window.bridge.settings == first_settings.safe()
    assert window.bridge.settings.repack is False
    assert window.bridge.settings.n_ctx <= SAFE_MODE_MAX_CTX
    assert banner.isVisible() and "SIGABRT" in banner.title.text()
    assert window.isVisible()


def test_a_killed_worker_mid_answer_keeps_the_text_and_retry_loads_again(
        qtbot, window: MainWindow, llama_tiny: Path) -> None:
    load_model(qtbot, window, llama_tiny, context=4096)
    answer = start_long_answer(qtbot, window)

    pid = window.bridge.engine.pid
    assert pid is not None
    with qtbot.waitSignal(window.bridge.crashed, timeout=ANSWER_TIMEOUT_MS) as blocker:
        os.kill(pid, signal.SIGKILL)
    error, operation = blocker.args
    assert operation == "chat" and error.signal_name == "SIGKILL"

    # the partial answer stays, marked as interrupted; the window says what happened
    assert answer.text and answer.text.startswith(error.partial_text[:20])
    assert "Interrupted" in answer.note.text()
    banner = window.chat.banner
    assert banner.kind == "crash" and "SIGKILL" in banner.title.text()
    assert window.bridge.state == states.CRASHED
    assert not window.chat.send_button.isEnabled()
    assert window.chat.history[-1] == {"role": "assistant", "content": answer.text}

    with qtbot.waitSignal(window.bridge.loaded, timeout=LOAD_TIMEOUT_MS):
        qtbot.mouseClick(banner.retry_button, Qt.MouseButton.LeftButton)
    assert window.bridge.engine.pid != pid  # a fresh model process
    assert window.bridge.settings.repack is False
    assert not banner.isVisible()
    result = ask(qtbot, window, "Are you back?", max_tokens=6)
    assert result.metrics.completion_tokens > 0
