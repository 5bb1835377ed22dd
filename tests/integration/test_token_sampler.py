"""The worker's own generation loop (workbench.engine.worker.sampler and native.OneToken) gives
exactly the tokens llama-cpp-python's ``generate`` gives with the same sampler chain and seed,
on the real SmolLM2 and on a synthetic model whose whole vocabulary goes through the chain,
and keeps llama-cpp-python's prompt cache right between answers."""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from workbench.engine.settings import LoadSettings, Sampling
from workbench.engine.worker import sampler as sampler_module
from workbench.engine.worker.host import ModelHost
from workbench.engine.worker.sampler import TokenSampler

MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]
N = 48


@pytest.fixture(scope="module")
def host(smollm2: Path) -> ModelHost:
    loaded = ModelHost()
    loaded.load(LoadSettings(model_path=str(smollm2), n_ctx=512, threads=2, flash_attn="on",
                             repack=False))
    yield loaded
    loaded.unload()


def _answer_tokens(host: ModelHost, sampling: Sampling) -> list[int]:
    pieces: list[str] = []
    host.chat(MESSAGES, sampling, lambda text, _n: pieces.append(text))
    assert host.llm is not None
    return host.llm.tokenize("".join(pieces).encode(), add_bos=False, special=True)


def _generate_tokens(host: ModelHost, sampling: Sampling) -> list[int]:
    """llama-cpp-python's own loop over the same prompt, chain and seed."""
    llm = host.llm
    assert llm is not None and host._formatter is not None and sampling.seed is not None
    text, _stops = host._prompt(MESSAGES, "auto", host._formatter)
    bos = llm._model.token_get_text(llm.token_bos())
    add_bos = llm._model.add_bos_token() and not (bos and text.startswith(bos))
    prompt = llm.tokenize(text.encode(), add_bos=add_bos, special=True)
    llm.set_seed(sampling.seed)
    llm.reset()
    tokens: list[int] = []
    for token in llm.generate(prompt, top_k=sampling.top_k, top_p=sampling.top_p,
                              min_p=sampling.min_p, temp=sampling.temperature,
                              repeat_penalty=sampling.repeat_penalty):
        tokens.append(token)
        if len(tokens) >= N:
            break
    return llm.tokenize(llm.detokenize(tokens), add_bos=False, special=True)


@pytest.mark.parametrize(("temperature", "top_k", "repeat_penalty", "seed"), [
    (0.0, 40, 1.0, 1),     # greedy: the first largest logit
    (0.7, 40, 1.0, 1),     # top-k over a threshold's candidates
    (0.7, 40, 1.0, 9),
    (1.6, 5, 1.0, 3),      # a hot, narrow top-k
    (0.8, 0, 1.0, 4),      # top-k off: the whole vocabulary through the chain
    (0.7, 40, 1.3, 5),     # penalties: the whole vocabulary through the chain
])
def test_same_tokens_as_llama_cpp_python(host: ModelHost, temperature: float, top_k: int,
                                         repeat_penalty: float, seed: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # SmolLM2's 49,152 tokens are below the threshold pass's vocabulary size: take it anyway
    monkeypatch.setattr(sampler_module, "THRESHOLD_MIN_VOCAB", 0)
    sampling = Sampling(max_tokens=N, ignore_eos=True, temperature=temperature, top_k=top_k,
                        repeat_penalty=repeat_penalty, seed=seed)
    whole = []  # tokens the chain picked from the whole vocabulary
    native = llama_cpp.llama_sampler_sample
    monkeypatch.setattr(llama_cpp, "llama_sampler_sample",
                        lambda *args: whole.append(1) or native(*args))
    ours = _answer_tokens(host, sampling)
    monkeypatch.setattr(llama_cpp, "llama_sampler_sample", native)
    fast = repeat_penalty == 1.0 and top_k > 0
    assert len(whole) == (0 if fast else N)
    assert len(ours) >= N - 2  # re-tokenised text: a few merges at most
    assert ours == _generate_tokens(host, sampling)


def test_seeds_differ_and_repeat(host: ModelHost) -> None:
    first = _answer_tokens(host, Sampling(max_tokens=N, ignore_eos=True, seed=11))
    assert _answer_tokens(host, Sampling(max_tokens=N, ignore_eos=True, seed=11)) == first
    assert _answer_tokens(host, Sampling(max_tokens=N, ignore_eos=True, seed=12)) != first


def test_prompt_cache_reused_and_answer_unchanged(host: ModelHost) -> None:
    """A second answer to a longer conversation decodes only what is new, and greedy answers
    match those of a cold context."""
    assert host.llm is not None
    greedy = Sampling(max_tokens=16, temperature=0.0)
    host.chat(MESSAGES, greedy, lambda *_: None)
    longer = [*MESSAGES, {"role": "assistant", "content": "Once upon a time."},
              {"role": "user", "content": "Go on."}]
    warm: list[str] = []
    host.chat(longer, greedy, lambda text, _n: warm.append(text))
    evaluated = llama_cpp.llama_perf_context(host.llm.ctx).n_p_eval
    host.llm.reset()
    cold: list[str] = []
    host.chat(longer, greedy, lambda text, _n: cold.append(text))
    full = llama_cpp.llama_perf_context(host.llm.ctx).n_p_eval
    assert "".join(warm) == "".join(cold)
    assert evaluated < full / 2  # the cached prefix was not decoded again


def test_threshold_candidates_hold_the_top_k(host: ModelHost,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the first threshold, the candidates given to the chain hold every token at or
    above the k-th largest logit: widening works from a threshold far too narrow."""
    llm = host.llm
    assert llm is not None
    sampler = TokenSampler(llm, Sampling(temperature=0.7, top_k=40, seed=2), None,
                           threshold_min_vocab=0)
    try:
        rng = np.random.default_rng(0)
        logits = (rng.standard_normal(llm.n_vocab()) * 4).astype(np.float32)
        seen: list[int] = []
        original = llama_cpp.llama_sampler_apply

        def spy(chain: object, array: object) -> None:
            data = array._obj  # ctypes.byref(...)._obj is the llama_token_data_array
            seen.append(int(data.size))
            ids = {int(data.data[i].id) for i in range(int(data.size))}
            top = set(np.argsort(-logits)[:40].tolist())
            assert top <= ids
            original(chain, array)

        sampler._spread = 1e-6  # far too narrow: the pass must widen until k are in
        monkeypatch.setattr(llama_cpp, "llama_sampler_apply", spy)
        token = sampler._sample_top_k(logits)
        monkeypatch.undo()
        assert token is not None and token in set(np.argsort(-logits)[:40].tolist())
        assert seen and seen[0] >= 40
        assert sampler._spread > 1e-6
        assert sampler._sample_top_k(np.full(llm.n_vocab(), np.nan, np.float32)) is None
    finally:
        sampler.close()
