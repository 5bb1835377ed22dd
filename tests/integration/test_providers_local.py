"""The local target on real llama.cpp (worker process, tiny synthetic model): exact counts,
the common metrics, measured (here: estimated and labelled) energy, cost, turn-taking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from workbench.cancel import CancelToken
from workbench.costs.answer_cost import price_answer
from workbench.costs.pricing import load_pricing
from workbench.engine.settings import LoadSettings
from workbench.providers.base import Params
from workbench.providers.local import LocalTarget
from workbench.store.settings import AppSettings

HELLO = [{"role": "system", "content": "You are terse."},
         {"role": "user", "content": "Say hello."}]


@pytest.fixture
def target(llama_tiny: Path):
    local = LocalTarget(llama_tiny, load=LoadSettings(str(llama_tiny), n_ctx=512, repack=False))
    yield local
    local.close()


def test_local_answer_has_llama_cpp_counts_energy_and_cost(target: LocalTarget) -> None:
    deltas: list[tuple[str, int | None]] = []
    result = target.stream(HELLO, Params(max_tokens=24, seed=1),
                           on_delta=lambda text, n: deltas.append((text, n)))
    assert result.ok, result.error
    assert result.destination == "this machine" and result.provider == "local"
    assert result.text == "".join(t for t, _ in deltas)
    assert result.tokens_source == "llama.cpp"
    assert result.prompt_tokens > 5 and 0 < result.completion_tokens <= 24
    assert all(n is not None for _, n in deltas)  # the worker knows the token count
    assert result.ttft_ms is not None and 0 < result.ttft_ms < result.total_ms
    assert result.engine_tokens_per_s and result.engine_tokens_per_s > 0
    assert result.load_ms and result.load_ms > 0
    # no RAPL, no GPU here: the labelled estimate from the worker's CPU time
    assert result.energy_method == "cpu-time-estimate"
    assert result.energy_j is not None and result.energy_j > 0
    assert "estimate" in result.energy_note
    price_answer(result, load_pricing(), AppSettings(electricity_usd_per_kwh=0.25))
    assert result.cost_usd == pytest.approx(result.energy_j / 3.6e6 * 0.25)
    assert result.usd_per_1m_tokens and result.cost_source == "energy"
    # the second answer reuses the loaded model
    again = target.stream(HELLO, Params(max_tokens=4, seed=1))
    assert again.ok and again.load_ms is None


def test_local_answers_take_turns(llama_tiny: Path) -> None:
    turn = threading.Lock()  # stands for another local answer in progress
    turn.acquire()
    waiting = LocalTarget(llama_tiny, load=LoadSettings(str(llama_tiny), n_ctx=512,
                                                        repack=False), lock=turn)
    statuses: list[str] = []
    asked = threading.Event()
    results = []

    def on_status(line: str) -> None:
        statuses.append(line)
        asked.set()

    worker = threading.Thread(target=lambda: results.append(
        waiting.stream(HELLO, Params(max_tokens=8), on_status=on_status)))
    try:
        worker.start()
        assert asked.wait(10)
        time.sleep(0.2)
        assert not results and waiting.load_info is None  # still waiting: nothing loaded
        turn.release()
        worker.join(60)
    finally:
        waiting.close()
    assert "take turns" in statuses[0]
    assert results and results[0].ok and results[0].completion_tokens > 0


def test_cancel_before_the_turn_comes(target: LocalTarget) -> None:
    lock = threading.Lock()
    lock.acquire()
    waiting = LocalTarget(target.model_path, load=target.load_settings, lock=lock)
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    result = waiting.stream(HELLO, cancel=cancel)
    lock.release()
    assert result.finish_reason == "cancelled" and result.text == ""
