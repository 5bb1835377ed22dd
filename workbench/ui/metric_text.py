"""How metrics read in the window: the definition shown as a tooltip; units and rounding are
``workbench.present.numbers`` (re-exported here for the pages that import them from here).

The definitions follow ``workbench.engine.metrics`` (the single source of what each figure means).
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.engine.metrics import AnswerMetrics
from workbench.present.numbers import format_bytes, format_ms, format_rate
from workbench.ui.stream_buffer import LiveFigures

__all__ = ["DEFINITIONS", "MetricItem", "final_items", "format_bytes", "format_ms",
           "format_rate", "live_items"]

DEFINITIONS = {
    "ttft": "Time to first token: from sending the request to the first non-empty answer text "
            "(includes prompt processing).",
    "prompt_rate": "Prompt processing speed: prompt tokens llama.cpp evaluated / its prompt "
                   "evaluation time. Tokens reused from the KV cache are not evaluated again.",
    "gen_rate": "Generation speed: tokens llama.cpp evaluated while answering / its evaluation "
                "time (the same figure as llama-bench's tg).",
    "tokens": "Prompt tokens (the formatted conversation) → answer tokens sampled. Counted by "
              "llama.cpp, never by streamed chunks.",
    "total": "Total time: from sending the request to the end of the answer.",
    "finish": "Why the answer ended: stop (the model finished), length (the max tokens limit or "
              "the context was reached), cancelled (stopped by you).",
    "live_rate": "Live estimate: tokens since the first text / seconds since the first text. "
                 "Replaced by llama.cpp's exact figure when the answer ends.",
    "live_tokens": "Answer tokens sampled so far (llama.cpp's count).",
}


@dataclass(frozen=True)
class MetricItem:
    key: str
    text: str
    tooltip: str


def final_items(metrics: AnswerMetrics, finish_reason: str) -> list[MetricItem]:
    """The exact figures of a finished answer, in display order."""
    return [
        MetricItem("ttft", f"TTFT {format_ms(metrics.ttft_ms)}", DEFINITIONS["ttft"]),
        MetricItem("prompt_rate", f"prompt {format_rate(metrics.prompt_tokens_per_s)}",
                   DEFINITIONS["prompt_rate"]),
        MetricItem("gen_rate", f"gen {format_rate(metrics.gen_tokens_per_s)}",
                   DEFINITIONS["gen_rate"]),
        MetricItem("tokens", f"{metrics.prompt_tokens} → {metrics.completion_tokens} tokens",
                   DEFINITIONS["tokens"]),
        MetricItem("total", f"total {format_ms(metrics.total_ms)}", DEFINITIONS["total"]),
        MetricItem("finish", finish_reason, DEFINITIONS["finish"]),
    ]


def live_items(figures: LiveFigures) -> list[MetricItem]:
    """The estimates shown while an answer streams."""
    return [
        MetricItem("ttft", f"TTFT {format_ms(figures.ttft_ms)}", DEFINITIONS["ttft"]),
        MetricItem("live_rate", f"≈ {format_rate(figures.tokens_per_s)}",
                   DEFINITIONS["live_rate"]),
        MetricItem("live_tokens", f"{figures.tokens} tokens", DEFINITIONS["live_tokens"]),
    ]
