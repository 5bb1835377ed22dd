"""The buffer between the engine thread and the GUI thread, and the metric texts."""

from __future__ import annotations

import threading

import pytest

from tests.fakes.clock import FakeClock
from workbench.engine.metrics import AnswerMetrics
from workbench.present.metrics import DEFINITIONS, final_items, live_items
from workbench.present.numbers import format_bytes, format_ms
from workbench.ui.stream_buffer import StreamBuffer


def test_batches_and_live_figures() -> None:
    clock = FakeClock()
    buffer = StreamBuffer(clock)
    buffer.start()
    assert buffer.take() == ""
    clock.now += 0.25
    buffer.push("", 1)  # no text yet (e.g. a held-back stop-string prefix): TTFT keeps running
    assert buffer.live().ttft_ms is None
    clock.now += 0.05
    buffer.push("Hel", 2)
    buffer.push("lo", 3)
    assert buffer.take() == "Hello"
    assert buffer.take() == ""
    clock.now += 1.0
    buffer.push(" world", 23)
    live = buffer.live()
    assert live.ttft_ms == pytest.approx(300.0)
    assert live.tokens == 23
    # tokens since the first text / seconds since the first text
    assert live.tokens_per_s == pytest.approx(21 / 1.0)
    assert abs(live.elapsed_s - 1.3) < 1e-9
    buffer.start()
    assert buffer.take() == "" and buffer.live().tokens == 0


def test_push_from_another_thread_loses_nothing() -> None:
    buffer = StreamBuffer()
    buffer.start()
    taken: list[str] = []

    def produce() -> None:
        for i in range(5000):
            buffer.push("x", i + 1)

    worker = threading.Thread(target=produce)
    worker.start()
    while worker.is_alive():
        taken.append(buffer.take())
    worker.join()
    taken.append(buffer.take())
    assert "".join(taken) == "x" * 5000
    assert buffer.live().tokens == 5000


def test_metric_texts_carry_units_and_definitions() -> None:
    metrics = AnswerMetrics(ttft_ms=1234.0, prompt_tokens=40, prompt_eval_tokens=40,
                            prompt_ms=80.0, prompt_tokens_per_s=500.0, completion_tokens=60,
                            gen_eval_tokens=59, gen_ms=2400.0, gen_tokens_per_s=24.58,
                            total_ms=3600.0)
    items = {item.key: item for item in final_items(metrics, "stop")}
    assert items["ttft"].text == "TTFT 1.23 s"
    assert items["prompt_rate"].text == "prompt 500 tok/s"
    assert items["gen_rate"].text == "gen 24.6 tok/s"
    assert items["tokens"].text == "40 → 60 tokens"
    assert all(item.tooltip == DEFINITIONS[key] for key, item in items.items())
    unknown = AnswerMetrics(None, 0, 0, 0.0, None, 0, 0, 0.0, None, 0.0)
    assert {i.key: i.text for i in final_items(unknown, "cancelled")}["gen_rate"] == "gen n/a"
    assert format_ms(12.4) == "12 ms" and format_bytes(3 * 1024**2) == "3.0 MiB"
    assert format_bytes(512) == "512 B"
    buffer = StreamBuffer()
    buffer.start()
    assert [i.text for i in live_items(buffer.live())][1] == "≈ n/a"
