"""What each measured figure means: the one table of metric labels, units and definitions.

Every tooltip and every terminal table that names a per-answer figure reads it from here:

    view "chat"     the chat's figures under an answer (the message widget), measured by the
                    local worker around llama.cpp (docs/metrics.md, first table)
    view "compare"  the figures of a comparison (the Compare page and ``workbench compare``),
                    defined the same way for every target: local, cloud API, server
                    (docs/metrics.md, "Comparing targets")

The two views measure some figures differently (the chat's generation speed is llama.cpp's own
counter, a comparison's is the streamed speed every target shares), so each view has its own
rows; docs/metrics.md holds the same definitions for people: keep them in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from workbench.engine.metrics import AnswerMetrics
from workbench.present.numbers import format_ms, format_rate

CHAT, COMPARE = "chat", "compare"


@dataclass(frozen=True)
class MetricHelp:
    key: str  # the chat's item key, or the AnswerResult field a comparison shows
    label: str
    unit: str
    definition: str
    view: str = COMPARE

    @property
    def tooltip(self) -> str:
        return f"{self.label} ({self.unit}): {self.definition}"


METRIC_TABLE: tuple[MetricHelp, ...] = (
    # -- the chat ---------------------------------------------------------------------------
    MetricHelp("ttft", "TTFT", "ms",
               "Time to first token: from sending the request to the first non-empty answer "
               "text (includes prompt processing).", CHAT),
    MetricHelp("prompt_rate", "prompt", "tok/s",
               "Prompt processing speed: prompt tokens llama.cpp evaluated / its prompt "
               "evaluation time. Tokens reused from the KV cache are not evaluated again.", CHAT),
    MetricHelp("gen_rate", "gen", "tok/s",
               "Generation speed: tokens llama.cpp evaluated while answering / its evaluation "
               "time (the same figure as llama-bench's tg).", CHAT),
    MetricHelp("tokens", "tokens", "tokens",
               "Prompt tokens (the formatted conversation) → answer tokens sampled. Counted by "
               "llama.cpp, never by streamed chunks.", CHAT),
    MetricHelp("total", "total", "ms",
               "Total time: from sending the request to the end of the answer.", CHAT),
    MetricHelp("finish", "finish", "reason",
               "Why the answer ended: stop (the model finished), length (the max tokens limit "
               "or the context was reached), cancelled (stopped by you).", CHAT),
    MetricHelp("live_rate", "live speed", "tok/s",
               "Live estimate: tokens since the first text / seconds since the first text. "
               "Replaced by llama.cpp's exact figure when the answer ends.", CHAT),
    MetricHelp("live_tokens", "tokens so far", "tokens",
               "Answer tokens sampled so far (llama.cpp's count).", CHAT),
    # -- a comparison -----------------------------------------------------------------------
    MetricHelp("ttft_ms", "TTFT", "ms",
               "Time to first token: from sending the request to the first non-empty piece of "
               "answer text. For a cloud API it includes the network round trip and the "
               "provider's queueing; for a local model, prompt processing."),
    MetricHelp("prompt_tokens", "prompt", "tokens",
               "Tokens of the whole prompt (system prompt, chat template and cached tokens "
               "included), from the provider's usage report or llama.cpp's tokenizer. Blank: "
               "the endpoint reported no usage."),
    MetricHelp("completion_tokens", "output", "tokens",
               "Output tokens, hidden reasoning included (billed as output), from the "
               "provider's usage report or llama.cpp's counter - never the number of streamed "
               "chunks. Blank: unknown."),
    MetricHelp("gen_tokens_per_s", "gen speed", "tok/s",
               "Streamed generation speed: (visible output tokens - 1) / (time of the last "
               "text - time of the first text), the same definition for every target (vLLM's "
               "inverse TPOT). Remote figures include network jitter."),
    MetricHelp("e2e_tokens_per_s", "end-to-end", "tok/s",
               "Output tokens / total time: what a user waits per token, TTFT included."),
    MetricHelp("engine_tokens_per_s", "engine speed", "tok/s",
               "Local only: llama.cpp's own generation counter (the figure llama-bench's tg "
               "reports), without sampling and streaming overheads."),
    MetricHelp("total_ms", "total", "ms",
               "From sending the request to the end of the answer (retries not included: "
               "they are listed separately)."),
    MetricHelp("cost_usd", "cost", "$",
               "API: tokens x the pricing table's rates (or the charge the provider reports); "
               "local: measured energy x the electricity price (+ hardware share if set). "
               "Blank: unknown price, tokens or energy - never assumed zero."),
    MetricHelp("usd_per_1m_tokens", "cost", "$ per 1M tokens",
               "This answer's cost per million tokens processed: cost / (prompt + output "
               "tokens) x 1e6."),
    MetricHelp("energy_j", "energy", "J",
               "Local only: energy over the answer. NVML's GPU energy counter (or sampled GPU "
               "power for short answers), RAPL for the CPU package, or an estimate from CPU "
               "time x assumed watts per core, labelled as such. Whole devices, not just the "
               "model."),
)

BY_KEY = {m.key: m for m in METRIC_TABLE}
# a comparison's figures, in the order its tables show them
METRICS: tuple[MetricHelp, ...] = tuple(m for m in METRIC_TABLE if m.view == COMPARE)
# the chat's tooltips: the definition alone
DEFINITIONS = {m.key: m.definition for m in METRIC_TABLE if m.view == CHAT}


def tooltip(key: str) -> str:
    """A comparison figure's tooltip: ``label (unit): definition``."""
    return BY_KEY[key].tooltip


# -- the chat's figures under an answer ----------------------------------------------------
@dataclass(frozen=True)
class MetricItem:
    key: str
    text: str
    tooltip: str


class LiveFigures(Protocol):
    """An answer still streaming (``workbench.ui.stream_buffer.LiveFigures``)."""

    @property
    def ttft_ms(self) -> float | None: ...

    @property
    def tokens(self) -> int: ...

    @property
    def tokens_per_s(self) -> float | None: ...


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
