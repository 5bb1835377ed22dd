"""The worker's ``embed`` request through LocalEngine on the real SmolLM2 model: unit vectors
pooled by mean, token counts, an input too long for the context refused with both lengths, a
cancel honoured, a load for chat refusing to embed and the other way round, a crash while
embedding reported as one."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from workbench.cancel import CancelToken
from workbench.engine.client import LocalEngine
from workbench.engine.errors import ContextOverflow, WorkerCrashed
from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput

N_EMBD = 576


def _settings(path: Path) -> LoadSettings:
    # one thread: the suite's machines share their few cores with other test processes
    return LoadSettings(str(path), n_ctx=512, repack=False, threads=1)


def test_embed_gives_one_unit_vector_per_input_and_refuses_what_does_not_fit(
        smollm2: Path) -> None:
    with LocalEngine() as engine:
        engine.load(_settings(smollm2).embedding_load())
        assert any("embeddings pooled by mean" in line for line in engine.log)
        pid = engine.pid
        result = engine.embed(["The cat sat on the mat.", "é ✓ <|im_end|>", "a"])
        assert not result.cancelled and result.n_embd == N_EMBD
        assert len(result.data) == 3 and all(len(raw) == 4 * N_EMBD for raw in result.data)
        assert all(n > 0 for n in result.tokens)
        for vector in result.vectors():
            assert abs(math.fsum(x * x for x in vector) - 1.0) < 1e-5
        alone = engine.embed(["a"])  # alone or in a batch: the same to float32 rounding
        assert alone.tokens == result.tokens[2:]
        assert max(abs(x - y) for x, y in zip(alone.vector(0), result.vector(2),
                                              strict=True)) < 1e-5

        with pytest.raises(ContextOverflow, match=r"input 1 is 6\d\d tokens, the context "
                           r"holds 512: nothing was cut"):
            engine.embed(["short", "word " * 600])
        with pytest.raises(BadInput, match="input 0 is empty"):
            engine.embed([""])
        with pytest.raises(BadInput, match="non-empty list of inputs"):
            engine.embed([])
        with pytest.raises(BadInput, match="loaded for embeddings"):
            engine.chat([{"role": "user", "content": "hi"}])

        cancel = CancelToken()
        cancel.cancel()  # sent right after the request: it is honoured before or while it runs
        stopped = engine.embed(["The quick brown fox jumps over the lazy dog."] * 300,
                               cancel=cancel)
        assert stopped.cancelled and stopped.data == () and stopped.tokens == ()
        assert engine.embed(["again"]).n_embd == N_EMBD
        assert engine.pid == pid  # every refusal and the cancel: the same worker


def test_a_model_loaded_for_chat_does_not_embed(smollm2: Path) -> None:
    with LocalEngine() as engine:
        engine.load(_settings(smollm2))
        with pytest.raises(BadInput, match="loaded for chat"):
            engine.embed(["a"])


def test_a_crash_while_embedding_is_a_worker_crash(smollm2: Path) -> None:
    env = {**os.environ, "WORKBENCH_WORKER_FAULT": "segv-on-embed"}
    with LocalEngine(env=env) as engine:
        engine.load(_settings(smollm2).embedding_load())
        with pytest.raises(WorkerCrashed) as caught:
            engine.embed(["a"])
        assert caught.value.signal_name == "SIGSEGV"
        assert not engine.alive
