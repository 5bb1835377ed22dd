"""Stop, and the window's responsiveness while an answer streams. What these check is
behaviour (who streams on which thread, what a batch holds, what a stop leaves); the speeds
are benchmark figures: tests/benchmarks/gui_stream_rate.py, gui_event_loop_stall.py and
bench_cancel.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer

from tests.helpers.gui import ANSWER_TIMEOUT_MS, ask, load_model, start_long_answer
from workbench.ui import engine_bridge as states
from workbench.ui.main_window import MainWindow

CONTEXT = 16384  # the answers below run until stopped, far short of this


def test_stop_ends_a_long_answer_and_the_window_takes_the_next(
        qtbot, window: MainWindow, llama_tiny: Path) -> None:
    load_model(qtbot, window, llama_tiny, context=CONTEXT)
    answer = start_long_answer(qtbot, window)
    assert window.chat.stop_button.isEnabled()
    engine = window.bridge.engine
    pid = engine.pid

    with qtbot.waitSignal(window.bridge.answerFinished, timeout=10_000) as blocker:
        qtbot.keyClick(window.chat.input, Qt.Key.Key_Escape)
    result = blocker.args[0]
    assert result.finish_reason == "cancelled"
    # a stop in the worker, not its kill after the grace period: the worker's own metrics
    # (a killed worker's answer has none), the same model process, the model still loaded
    assert 0 < result.metrics.completion_tokens < CONTEXT
    assert engine.pid == pid and engine.alive
    assert answer.finish_reason == "cancelled" and answer.note.isVisibleTo(window)
    assert answer.text == result.text  # no text reached the widget after the stop
    assert window.bridge.state == states.READY

    again = ask(qtbot, window, "Short one, please.", max_tokens=6)
    assert again.finish_reason in ("stop", "length")
    assert engine.pid == pid  # answered without a new model process
    assert len(window.chat.view.messages) >= 4
    assert window.chat.view.messages[-1].finish_reason == again.finish_reason


def test_streaming_keeps_the_gui_responsive_and_batches_updates(
        qtbot, window: MainWindow, llama_tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_model(qtbot, window, llama_tiny, context=CONTEXT)
    gui_thread = threading.get_ident()
    lock = threading.Lock()
    pushed: list[tuple[int, str]] = []  # (thread, text) of every delta with text

    buffer = window.bridge.buffer
    real_push = buffer.push

    def push(text: str, tokens: int) -> None:
        if text:
            with lock:
                pushed.append((threading.get_ident(), text))
        real_push(text, tokens)

    monkeypatch.setattr(buffer, "push", push)
    events: list[str] = []  # "beat" (the GUI thread ran a timer) and "text" (a batch), in order
    batches: list[str] = []

    def on_text(text: str) -> None:
        batches.append(text)
        events.append("text")

    window.bridge.textArrived.connect(on_text)
    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: events.append("beat"))
    live: list = []
    window.bridge.liveMetrics.connect(live.append)

    answer = start_long_answer(qtbot, window, min_updates=1)
    heartbeat.start()
    # stream until the live figures came twice
    qtbot.waitUntil(lambda: len(live) >= 2 or window.bridge.state != states.ANSWERING,
                    timeout=ANSWER_TIMEOUT_MS)
    assert window.bridge.state == states.ANSWERING, "the answer ended by itself"
    streamed = list(events)

    # The GUI thread is busy (this loop runs on it): the engine thread streams on into the
    # buffer, and what it pushed meanwhile reaches the widget in one batch, not one per delta.
    with lock:
        before = len(pushed)
    first_batch = len(batches)
    for _ in range(12_000):  # a hang guard only (a minute of naps): three deltas take ms
        with lock:
            during = [text for _, text in pushed[before:]]
        if len(during) >= 3:
            break
        time.sleep(0.005)
    else:
        pytest.fail("no text streamed while the GUI thread was busy")
    qtbot.waitUntil(lambda: len(batches) > first_batch, timeout=ANSWER_TIMEOUT_MS)
    assert "".join(during) in batches[first_batch]

    if window.bridge.state == states.ANSWERING:
        with qtbot.waitSignal(window.bridge.answerFinished, timeout=10_000):
            window.chat.stop()
    heartbeat.stop()

    # the deltas were taken on the engine's thread, never on the GUI thread
    assert pushed and all(thread != gui_thread for thread, _ in pushed)
    # the GUI thread ran its timers between the batches while the answer streamed
    text_at = [i for i, event in enumerate(streamed) if event == "text"]
    assert len(text_at) >= 2, streamed
    assert streamed[text_at[0]:text_at[-1]].count("beat") >= 2, streamed
    # one widget update per batch, fewer batches than deltas (text is batched, not per token)
    assert 0 < answer.text_updates <= window.bridge.flush_count < len(pushed)
    # live figures are throttled: fewer of them than text updates, and counting tokens
    assert len(live) < answer.text_updates
    assert live[-1].tokens > 0 and live[-1].tokens_per_s and live[-1].tokens_per_s > 0
    assert answer.finish_reason in ("stop", "length", "cancelled")
    assert "tokens" in answer.metrics.labels and "live_rate" not in answer.metrics.labels


def test_closing_the_window_while_answering_stops_the_model_process(
        qtbot, window: MainWindow, llama_tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_model(qtbot, window, llama_tiny, context=CONTEXT)
    engine = window.bridge.engine
    ended: list[object] = []  # how the engine's answer ended: its result or its error
    real_chat = engine.chat

    def chat(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            result = real_chat(*args, **kwargs)
        except Exception as err:
            ended.append(err)
            raise
        ended.append(result)
        return result

    monkeypatch.setattr(engine, "chat", chat)
    start_long_answer(qtbot, window)
    assert engine.alive
    window.close()
    assert window.bridge.state == states.CLOSED
    assert not engine.alive and engine.pid is None
    # the close stopped the answer in the worker (its own metrics, far short of the context)
    # instead of waiting for it to end or killing the worker after the grace period
    [result] = ended
    assert getattr(result, "finish_reason", result) == "cancelled"
    assert 0 < result.metrics.completion_tokens < CONTEXT  # type: ignore[attr-defined]
