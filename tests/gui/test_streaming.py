"""Stop, and the window's responsiveness while an answer streams."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer

from tests.helpers.gui import ANSWER_TIMEOUT_MS, ask, load_model, start_long_answer
from workbench.ui import engine_bridge as states
from workbench.ui.main_window import MainWindow


def test_stop_ends_a_long_answer_and_the_window_takes_the_next(
        qtbot, window: MainWindow, llama_tiny: Path) -> None:
    load_model(qtbot, window, llama_tiny, context=16384)
    answer = start_long_answer(qtbot, window)
    assert window.chat.stop_button.isEnabled()

    with qtbot.waitSignal(window.bridge.answerFinished, timeout=10_000) as blocker:
        pressed = time.perf_counter()
        qtbot.keyClick(window.chat.input, Qt.Key.Key_Escape)
    stopped_after = time.perf_counter() - pressed
    result = blocker.args[0]
    assert result.finish_reason == "cancelled"
    assert stopped_after < 2.0, f"stop took {stopped_after:.2f} s"
    assert result.metrics.completion_tokens < 16384
    assert answer.finish_reason == "cancelled" and answer.note.isVisibleTo(window)
    assert answer.text == result.text
    assert window.bridge.state == states.READY

    again = ask(qtbot, window, "Short one, please.", max_tokens=6)
    assert again.finish_reason in ("stop", "length")
    assert len(window.chat.view.messages) >= 4
    assert window.chat.view.messages[-1].finish_reason == again.finish_reason


def test_streaming_keeps_the_gui_responsive_and_batches_updates(
        qtbot, window: MainWindow, llama_tiny: Path) -> None:
    load_model(qtbot, window, llama_tiny, context=16384)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(beat)
    live: list = []
    window.bridge.liveMetrics.connect(live.append)

    started = time.perf_counter()
    answer = start_long_answer(qtbot, window, min_updates=1)
    last[0] = time.perf_counter()
    heartbeat.start()
    # stream for ~2.5 s (or to the end, whichever is first), then stop
    qtbot.waitUntil(lambda: window.bridge.state != states.ANSWERING
                    or time.perf_counter() - started > 2.5, timeout=ANSWER_TIMEOUT_MS)
    if window.bridge.state == states.ANSWERING:
        with qtbot.waitSignal(window.bridge.answerFinished, timeout=10_000):
            window.chat.stop()
    heartbeat.stop()
    elapsed = time.perf_counter() - started

    flushes = answer.text_updates
    assert gaps, "the heartbeat never ran"
    assert max(gaps) < 0.2, f"the GUI thread stalled for {max(gaps) * 1000:.0f} ms"
    assert flushes > 0
    assert flushes <= elapsed * 66 + 2, f"{flushes} updates in {elapsed:.2f} s"
    # one widget update per batch, each batch holding many tokens (not one repaint per token)
    assert answer.text_updates <= window.bridge.flush_count
    tokens = int(answer.metrics.labels["tokens"].text().split("→")[1].split()[0])
    if tokens / elapsed > 120:  # tokens came faster than the flush rate: updates held several
        assert tokens > flushes, f"{tokens} tokens in {flushes} updates"
    # live metrics about once a second while streaming, the exact ones at the end
    assert 1 <= len(live) <= elapsed + 1
    assert live[-1].tokens > 0 and live[-1].tokens_per_s and live[-1].tokens_per_s > 0
    assert answer.finish_reason in ("stop", "length", "cancelled")
    assert "tokens" in answer.metrics.labels and "live_rate" not in answer.metrics.labels


def test_closing_the_window_while_answering_stops_the_model_process(
        qtbot, window: MainWindow, llama_tiny: Path) -> None:
    load_model(qtbot, window, llama_tiny, context=16384)
    start_long_answer(qtbot, window)
    engine = window.bridge.engine
    assert engine.alive
    started = time.perf_counter()
    window.close()
    assert time.perf_counter() - started < 10
    assert window.bridge.state == states.CLOSED
    assert not engine.alive and engine.pid is None
