"""Steps the GUI tests share: load a model through the window, send a prompt, wait."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from workbench.engine.client import ChatResult
from workbench.engine.protocol import LoadedModel
from workbench.ui import engine_bridge as states
from workbench.ui.main_window import MainWindow
from workbench.ui.message_widget import MessageWidget

LOAD_TIMEOUT_MS = 90_000  # a worker start + load on a busy 2-core CI machine
ANSWER_TIMEOUT_MS = 60_000
LONG = 100_000  # max tokens: the context (not this limit) would end the answer


def load_model(qtbot, window: MainWindow, path: Path, *, context: int = 1024) -> LoadedModel:
    """Open ``path`` the way a user does and wait until it is loaded."""
    window.chat.settings_panel.context.setValue(context)
    with qtbot.waitSignal(window.bridge.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        assert window.open_model(str(path))
        assert window.bridge.state == states.LOADING  # the call returned at once
    assert window.bridge.state == states.READY
    return blocker.args[0]


def type_and_send(qtbot, window: MainWindow, text: str, *, max_tokens: int,
                  seed: int = 1, temperature: float = 0.7) -> None:
    panel = window.chat.settings_panel
    panel.max_tokens.setValue(max_tokens)
    panel.seed.setValue(seed)
    panel.temperature.setValue(temperature)
    window.chat.input.setPlainText(text)
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Return)


def start_long_answer(qtbot, window: MainWindow, *, min_updates: int = 2) -> MessageWidget:
    """Start an answer that is still streaming after ``min_updates`` widget updates.

    A random-weight model samples its end-of-generation token now and then, so an answer
    ends by itself after a few hundred tokens for some seeds. Greedy sampling (seed 1) runs on
    for thousands here; other seeds are the fallback for machines whose float results differ.
    """
    for seed in range(1, 9):
        type_and_send(qtbot, window, "Tell me a long story.", max_tokens=LONG, seed=seed,
                      temperature=0.0 if seed == 1 else 1.0)
        answer = window.chat.pending
        assert answer is not None and window.bridge.state == states.ANSWERING
        qtbot.waitUntil(lambda a=answer: a.text_updates >= min_updates
                        or window.bridge.state != states.ANSWERING, timeout=ANSWER_TIMEOUT_MS)
        if window.bridge.state == states.ANSWERING:
            return answer
    raise AssertionError("every answer ended by itself; no long answer to test with")


def ask(qtbot, window: MainWindow, text: str, *, max_tokens: int = 24,
        seed: int = 1) -> ChatResult:
    """Send ``text`` with Enter and wait for the whole answer."""
    with qtbot.waitSignal(window.bridge.answerFinished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        type_and_send(qtbot, window, text, max_tokens=max_tokens, seed=seed)
    return blocker.args[0]
