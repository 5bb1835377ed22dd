"""What llama.cpp accepts in a model's header, so the planner refuses what llama.cpp refuses
before it expands anything per layer or per expert.

From the bundled llama.cpp: ``LLAMA_MAX_LAYERS`` and ``LLAMA_MAX_EXPERTS`` (src/llama-hparams.h)
and the asserts in ``llama_model_base::load_hparams`` (0 < block_count <= 512, nextn layers <=
block_count, expert_count <= 1024, experts used <= expert_count); every other count is a
``uint32_t`` there (embedding length, heads, feed-forward length, trained context, sliding
window) and a token id is an ``int32_t`` (the vocabulary).
"""

from __future__ import annotations

from workbench.errors import BadInput

LLAMA_MAX_LAYERS = 512
LLAMA_MAX_EXPERTS = 1024
UINT32_MAX = 2**32 - 1
MAX_VOCAB = 2**31 - 1  # llama_token is int32_t


def bounded(source: str, key: str, value: int, *, high: int, low: int = 0) -> int:
    """``value`` if ``low <= value <= high``, else ``BadInput`` naming the key and the limit."""
    if low <= value <= high:
        return value
    raise BadInput(f"{source}: {key} = {value:,}, but llama.cpp loads only {low:,} to {high:,}: "
                   "the header is refused")


def bounded_all(source: str, key: str, values: list[int], *, high: int) -> list[int]:
    """Every per-layer value checked with ``bounded``."""
    for value in values:
        bounded(source, key, value, high=high)
    return values
