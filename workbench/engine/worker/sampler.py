"""Each answer token picked from the last decode's logits, as llama-cpp-python's sampler chain
picks it (the same tokens for the same seed), at a fraction of its cost on large vocabularies.

``llama_sampler_sample`` copies the whole vocabulary into a candidate array for every token
(262,144 entries on Gemma 3) before the chain looks at it. Where the chain's result depends on
fewer candidates, fewer are given to it:

- greedy (temperature 0) with no grammar and no penalties: the first largest logit, which is
  what llama.cpp's greedy sampler returns;
- top-k sampling with no grammar and no penalties, on vocabularies of 100,000 tokens or more:
  top-k is the chain's first working step, so
  any candidate set that holds every token at or above the k-th largest logit gives the chain
  the same k tokens, in the same order, and then the same top-p, min-p, temperature and random
  draw. The set is found with one vectorised threshold pass (numpy), the threshold learnt from
  the tokens before. On smaller vocabularies the chain's own copy is as cheap as the numpy
  calls (measured on SmolLM2's 49,152 tokens: 0.970x against 0.979x of the decode counter, in
  favour of the chain; Gemma 3's 262,144: 0.977x against 0.966x, docs/performance.md);
- everything else (a grammar, penalties, top-k off, logits that are not finite): the chain over
  the whole vocabulary, as before.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
import numpy as np

from workbench.engine.settings import Sampling

TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
FIRST_SPREAD = 8.0  # logits below the largest that a first threshold pass takes in
SHRINK_AT = 4  # a candidate set this many times k is narrowed for the next token
THRESHOLD_MIN_VOCAB = 100_000  # the threshold pass pays from about this vocabulary size


class TokenSampler:
    """Samples one answer's tokens; build one per answer, ``close`` it afterwards."""

    def __init__(self, llm: llama_cpp.Llama, sampling: Sampling,
                 grammar: llama_cpp.LlamaGrammar | None, *,
                 threshold_min_vocab: int | None = None) -> None:
        self._ctx = llm.ctx
        self._n_vocab = llm.n_vocab()
        # llama-cpp-python's own chain for these settings (generate() builds the same one)
        self._chain: Any = llm._init_sampler(
            top_k=sampling.top_k, top_p=sampling.top_p, min_p=sampling.min_p,
            temp=sampling.temperature, repeat_penalty=sampling.repeat_penalty,
            grammar=grammar)
        free = grammar is None and sampling.repeat_penalty == 1.0
        self._greedy = free and sampling.temperature == 0
        self._top_k = (sampling.top_k if free and sampling.temperature > 0
                       and self._n_vocab >= (THRESHOLD_MIN_VOCAB if threshold_min_vocab is None
                                             else threshold_min_vocab)
                       and 0 < sampling.top_k <= self._n_vocab // 16 else 0)
        self._spread = FIRST_SPREAD
        self._mask = np.empty(self._n_vocab, dtype=bool)
        self._data: Any = None
        self._data_p: Any = None
        self._view: np.ndarray | None = None
        self._array = llama_cpp.llama_token_data_array()

    def sample(self) -> int:
        """The next token, from the logits of the last token decoded (and accepted by the
        chain, which tracks what it needs: penalties, grammar state)."""
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx, -1),
                                       shape=(self._n_vocab,))
        token: int | None = None
        if self._greedy:
            best = int(np.argmax(logits))
            if np.isfinite(logits[best]):
                token = best
        elif self._top_k:
            token = self._sample_top_k(logits)
        if token is None:  # the whole vocabulary through the chain (it accepts the token)
            return int(llama_cpp.llama_sampler_sample(self._chain.sampler, self._ctx, -1))
        llama_cpp.llama_sampler_accept(self._chain.sampler, token)
        return token

    def _sample_top_k(self, logits: np.ndarray) -> int | None:
        """The chain over the tokens at or above a threshold that keeps at least k of them;
        None when the logits are not finite (the chain then sees them all)."""
        k = self._top_k
        top = float(logits.max())
        if not np.isfinite(top):
            return None
        spread = self._spread
        while True:
            np.greater_equal(logits, top - spread, out=self._mask)
            ids = np.flatnonzero(self._mask)
            if len(ids) >= k:
                break
            spread *= 2.0
            if not np.isfinite(spread):
                return None
        values = logits[ids]
        if len(ids) >= SHRINK_AT * k:  # the next threshold from this token's k-th largest
            kth = float(np.partition(values, len(values) - k)[len(values) - k])
            spread = max((top - kth) * 1.5, 1e-3)
        self._spread = spread
        view = self._candidates(len(ids))
        view["id"] = ids
        view["logit"] = values
        view["p"] = 0.0
        array = self._array
        array.data = self._data_p
        array.size, array.selected, array.sorted = len(ids), -1, False
        llama_cpp.llama_sampler_apply(self._chain.sampler, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            return None
        return int(array.data[array.selected].id)

    def _candidates(self, n: int) -> np.ndarray:
        """A view of the first ``n`` entries of a candidate buffer that grows as needed."""
        if self._view is None or len(self._view) < n:
            size = max(n, 1024)
            self._data = (llama_cpp.llama_token_data * size)()
            self._view = np.frombuffer(self._data, dtype=TOKEN_DATA)
            self._data_p = ctypes.cast(self._data, llama_cpp.llama_token_data_p)
        return self._view[:n]

    def close(self) -> None:
        self._chain.close()
