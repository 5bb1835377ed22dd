"""Per-answer metrics, defined once (docs/metrics.md repeats these definitions for people).

- ttft_ms: request sent -> first non-empty answer text.
- prompt_tokens: tokens in the formatted prompt; prompt_eval_tokens: how many llama.cpp actually
  evaluated (fewer when a prefix was reused from the KV cache).
- prompt_tokens_per_s: prompt_eval_tokens / llama.cpp's prompt-eval time.
- completion_tokens: tokens sampled for the answer (end-of-generation token excluded), counted
  by the engine, never by streamed chunks.
- gen_tokens_per_s: llama.cpp's generation counter: evaluated tokens / eval time (the same
  figure as llama-bench's tg).
- stream_tokens_per_s: (completion_tokens - 1) / (last token time - first token time), wall
  clock in the worker: what the user sees stream, sampling and all overheads included.
- total_ms: request sent -> answer finished. load_ms: model load time (from the load request).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AnswerMetrics:
    ttft_ms: float | None
    prompt_tokens: int
    prompt_eval_tokens: int
    prompt_ms: float
    prompt_tokens_per_s: float | None
    completion_tokens: int
    gen_eval_tokens: int
    gen_ms: float
    gen_tokens_per_s: float | None
    total_ms: float
    stream_tokens_per_s: float | None = None
    load_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerMetrics:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def rate(count: int, ms: float) -> float | None:
    """count per second over ``ms`` milliseconds; None when there is nothing to divide."""
    return count / (ms / 1000.0) if count > 0 and ms > 0 else None
