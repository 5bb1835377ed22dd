"""The inference worker on real llama.cpp with tiny synthetic models: answers, metrics, cancel,
crashes, hangs. Every test runs a real worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from workbench.cancel import CancelToken
from workbench.engine.client import LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.errors import ContextOverflow, ModelRejected, WorkerCrashed, WorkerHung
from workbench.engine.settings import LoadSettings, Sampling
from workbench.errors import BadInput
from workbench.gguf import GGUFError

HELLO = [{"role": "user", "content": "Say hello."}]
ENDLESS = Sampling(max_tokens=16000, temperature=1.0, ignore_eos=True)


@pytest.fixture
def engine():
    with LocalEngine() as engine:
        yield engine


def test_answer_has_exact_metrics(engine: LocalEngine, llama_tiny: Path) -> None:
    info = engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=512)))
    assert info.architecture == "llama"
    assert info.chat_template is True
    assert info.load_ms > 0
    assert info.buffers["kv"] > 0 and info.buffers["compute"] > 0
    deltas: list[tuple[str, int]] = []
    result = engine.chat(HELLO, Sampling(max_tokens=24, seed=1),
                         on_delta=lambda t, n: deltas.append((t, n)))
    m = result.metrics
    assert result.finish_reason in ("stop", "length")
    assert result.text == "".join(t for t, _ in deltas)
    assert m.prompt_tokens > 5 and m.prompt_eval_tokens == m.prompt_tokens
    assert 0 < m.completion_tokens <= 24
    assert m.gen_eval_tokens == m.completion_tokens - 1 + (result.finish_reason == "stop")
    assert m.prompt_tokens_per_s and m.prompt_tokens_per_s > 0
    assert m.ttft_ms is not None and 0 < m.ttft_ms < m.total_ms
    # token counts in the deltas rise to the final count (never counted chunks)
    counts = [n for _, n in deltas]
    assert counts == sorted(counts) and counts[-1] <= m.completion_tokens


def test_same_seed_same_answer(engine: LocalEngine, llama_tiny: Path) -> None:
    engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=512)))
    first = engine.chat(HELLO, Sampling(max_tokens=16, seed=7, temperature=0.8))
    engine.chat([{"role": "user", "content": "Something else."}], Sampling(max_tokens=8))
    second = engine.chat(HELLO, Sampling(max_tokens=16, seed=7, temperature=0.8))
    assert first.text == second.text
    assert second.metrics.prompt_eval_tokens == second.metrics.prompt_tokens


def test_follow_up_reuses_the_cached_prefix(engine: LocalEngine, llama_tiny: Path) -> None:
    engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=1024)))
    first = engine.chat(HELLO, Sampling(max_tokens=8))
    follow_up = [*HELLO, {"role": "assistant", "content": first.text},
                 {"role": "user", "content": "And again?"}]
    second = engine.chat(follow_up, Sampling(max_tokens=8))
    # only the new turn is evaluated: the conversation so far is still in the KV cache
    assert second.metrics.prompt_eval_tokens < second.metrics.prompt_tokens / 2


def test_cancel_stops_the_answer_in_the_same_worker(engine: LocalEngine,
                                                    llama_tiny: Path) -> None:
    """A cancel reaches the worker while it generates and stops the answer there: the answer
    ends "cancelled" far short of its budget, with the worker's own metrics (a worker killed
    after CANCEL_GRACE_S leaves none), in the same model process, which answers again without
    a reload. How fast is a benchmark figure (tests/benchmarks/bench_cancel.py)."""
    engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=16384)))
    pid = engine.pid
    token = CancelToken()
    cancelled_at: list[int] = []

    def on_delta(_text: str, n: int) -> None:
        if n >= 5 and not cancelled_at:
            cancelled_at.append(n)
            token.cancel()

    result = engine.chat(HELLO, ENDLESS, on_delta=on_delta, cancel=token)
    assert result.finish_reason == "cancelled"
    assert cancelled_at[0] <= result.metrics.completion_tokens < ENDLESS.max_tokens
    assert result.metrics.total_ms > 0  # the worker's Done, not the kill's empty metrics
    assert engine.pid == pid and engine.alive and engine.info is not None
    again = engine.chat(HELLO, Sampling(max_tokens=4, seed=1))
    assert again.metrics.completion_tokens > 0


# The worker's generation loop run on its own (in a process of its own, as the worker runs it):
# the cancel flag set while token N is handed out stops the answer at N tokens.
_STOP_AT_NEXT_TOKEN = """
import json, sys
from workbench.engine.settings import LoadSettings, Sampling
from workbench.engine.worker.host import ModelHost

host = ModelHost()
host.load(LoadSettings(sys.argv[1], n_ctx=2048, repack=False))
emitted = []

def emit(text, n):
    emitted.append(n)
    if n >= 5 and not host.cancel.is_set():
        host.cancel.set()

answer = host.chat([{"role": "user", "content": "Say hello."}],
                   Sampling(max_tokens=1000, temperature=1.0, seed=1, ignore_eos=True), emit)
print(json.dumps({"finish": answer.finish_reason, "tokens": answer.metrics.completion_tokens,
                  "emitted": emitted}))
"""


def test_a_cancel_takes_effect_before_the_next_token(llama_tiny: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _STOP_AT_NEXT_TOKEN, str(llama_tiny)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cancelled_at = next(n for n in result["emitted"] if n >= 5)
    assert result["finish"] == "cancelled"
    assert result["tokens"] == cancelled_at  # not one token more
    assert result["emitted"][-1] == cancelled_at  # and no text after it


def test_cancel_from_another_thread(engine: LocalEngine, llama_tiny: Path) -> None:
    engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=16384)))
    timer = threading.Timer(0.3, engine.cancel)
    timer.start()
    result = engine.chat(HELLO, ENDLESS)
    timer.join()
    assert result.finish_reason == "cancelled"


def test_worker_killed_mid_answer(engine: LocalEngine, llama_tiny: Path) -> None:
    engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=16384)))
    pid = engine.pid
    assert pid is not None
    killed: list[int] = []

    def on_delta(_text: str, n: int) -> None:
        if n >= 8 and not killed:
            killed.append(n)
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(WorkerCrashed) as caught:
        engine.chat(HELLO, ENDLESS, on_delta=on_delta)
    err = caught.value
    assert err.signal_name == "SIGKILL"
    assert "SIGKILL" in str(err) and "answering" in str(err)
    assert err.partial_text  # what was streamed before the kill is kept
    assert not engine.alive
    # the engine recovers: load starts a fresh worker
    engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=512)))
    assert engine.pid != pid
    assert engine.chat(HELLO, Sampling(max_tokens=4)).metrics.completion_tokens > 0


def test_real_llama_cpp_abort_on_load(engine: LocalEngine, tiny_model_path) -> None:
    broken = tiny_model_path(arch="llama", quant="F16", fault="duplicate-vocab")
    with pytest.raises(WorkerCrashed) as caught:
        engine.load(*resolve_load_settings(LoadSettings(str(broken), n_ctx=512)))
    err = caught.value
    assert err.signal_name == "SIGABRT"
    assert err.during == "loading the model"
    assert err.detail and "GGML_ASSERT" in err.detail
    assert any("GGML_ASSERT" in line for line in err.log_tail)


def test_segfault_during_chat_is_typed(llama_tiny: Path) -> None:
    env = {**os.environ, "WORKBENCH_WORKER_FAULT": "segv-on-chat"}
    with LocalEngine(env=env) as engine:
        engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=512)))
        with pytest.raises(WorkerCrashed) as caught:
            engine.chat(HELLO, Sampling(max_tokens=4))
    assert caught.value.signal_name == "SIGSEGV"
    assert "segmentation fault" in str(caught.value)


def test_hung_worker_is_detected_and_killed(llama_tiny: Path) -> None:
    with LocalEngine(watchdog_s=1.5) as engine:
        engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=16384)))
        pid = engine.pid
        assert pid is not None
        frozen: list[int] = []

        def freeze(_text: str, n: int) -> None:
            if n >= 3 and not frozen:
                frozen.append(n)
                os.kill(pid, signal.SIGSTOP)

        # Should the watchdog miss the hang, the test kills the frozen worker itself (long after
        # watchdog_s): the answer then ends in a crash, not in WorkerHung, and the test fails.
        safety_net = threading.Timer(60, lambda: os.kill(pid, signal.SIGKILL))
        safety_net.start()
        try:
            with pytest.raises(WorkerHung) as caught:
                engine.chat(HELLO, ENDLESS, on_delta=freeze)
        finally:
            safety_net.cancel()
        assert "no sign of life" in str(caught.value)
        assert not engine.alive


def test_context_overflow_is_bad_input(engine: LocalEngine, llama_tiny: Path) -> None:
    engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=256)))
    long = [{"role": "user", "content": "word " * 2000}]
    with pytest.raises(ContextOverflow, match="context holds"):
        engine.chat(long, Sampling(max_tokens=4))
    # still usable
    assert engine.chat(HELLO, Sampling(max_tokens=2)).metrics.completion_tokens > 0


def test_not_a_gguf_is_rejected_before_llama_cpp_sees_it(engine: LocalEngine,
                                                          tmp_path: Path) -> None:
    bogus = tmp_path / "notes.gguf"
    bogus.write_bytes(b"this is not a model" * 100)
    with pytest.raises(GGUFError, match="not a GGUF file"):
        engine.load(*resolve_load_settings(LoadSettings(str(bogus))))
    assert isinstance(GGUFError("x"), BadInput)


def test_model_llama_cpp_refuses_is_rejected_cleanly(engine: LocalEngine,
                                                     tmp_path: Path) -> None:
    import gguf
    import numpy as np

    path = tmp_path / "alien.gguf"
    writer = gguf.GGUFWriter(str(path), "no-such-architecture")
    writer.add_tensor("token_embd.weight", np.zeros((8, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelRejected, match="could not load"):
        engine.load(*resolve_load_settings(LoadSettings(str(path))))
    assert engine.alive  # a refusal is not a crash


def test_stats_and_unload(engine: LocalEngine, llama_tiny: Path) -> None:
    engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=512)))
    stats = engine.stats()
    assert stats.loaded is True and stats.rss_bytes > 0
    assert stats.model is not None and stats.model.model_path == str(llama_tiny)
    engine.unload()
    assert engine.stats().loaded is False
