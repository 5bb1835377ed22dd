"""Labels, units and definitions of the per-answer figures in a comparison: the tooltip text.

docs/metrics.md ("Comparing targets") holds the same definitions for people; keep them in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricHelp:
    key: str  # the AnswerResult field
    label: str
    unit: str
    definition: str


METRICS: tuple[MetricHelp, ...] = (
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

BY_KEY = {m.key: m for m in METRICS}


def tooltip(key: str) -> str:
    metric = BY_KEY[key]
    return f"{metric.label} ({metric.unit}): {metric.definition}"
