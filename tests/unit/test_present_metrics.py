"""One table of metric definitions (workbench.present.metrics): the chat's tooltips and the
comparison's labels come from it, and docs/metrics.md says the same. Qt-free."""

from __future__ import annotations

from pathlib import Path

from workbench.engine.metrics import AnswerMetrics
from workbench.present.metrics import (
    BY_KEY,
    CHAT,
    DEFINITIONS,
    METRIC_TABLE,
    METRICS,
    final_items,
    live_items,
    tooltip,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_one_table_with_unique_keys_and_both_views() -> None:
    assert len(BY_KEY) == len(METRIC_TABLE)
    assert set(DEFINITIONS) | {m.key for m in METRICS} == set(BY_KEY)
    assert all(m.definition.endswith(".") for m in METRIC_TABLE)
    assert tooltip("ttft_ms").startswith("TTFT (ms): Time to first token")
    assert [m.key for m in METRICS][:2] == ["ttft_ms", "prompt_tokens"]


def test_the_chat_items_carry_their_definitions() -> None:
    metrics = AnswerMetrics(ttft_ms=850.0, prompt_tokens=12, prompt_eval_tokens=12,
                            prompt_ms=20.0, prompt_tokens_per_s=600.0, completion_tokens=30,
                            gen_eval_tokens=29, gen_ms=900.0, gen_tokens_per_s=32.2,
                            total_ms=1800.0)
    items = final_items(metrics, "stop")
    assert [i.text for i in items] == ["TTFT 850 ms", "prompt 600 tok/s", "gen 32.2 tok/s",
                                       "12 → 30 tokens", "total 1.80 s", "stop"]
    assert all(i.tooltip == DEFINITIONS[i.key] and BY_KEY[i.key].view == CHAT for i in items)

    class Live:
        ttft_ms, tokens, tokens_per_s = 120.0, 7, 15.0

    assert [i.text for i in live_items(Live())] == ["TTFT 120 ms", "≈ 15.0 tok/s", "7 tokens"]


def test_docs_name_this_module_as_the_source() -> None:
    assert "workbench/present/metrics.py" in DOCS.read_text(encoding="utf-8")
