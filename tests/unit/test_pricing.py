"""The shipped pricing table (dated, sourced), lookups, overrides, and per-answer cost."""

from __future__ import annotations

import json
import re

import pytest

from workbench.costs.answer_cost import api_cost, price_answer
from workbench.costs.pricing import PricingTable, load_pricing, price_from_row, resources_dir
from workbench.errors import BadInput
from workbench.providers.base import AnswerResult
from workbench.store.settings import AppSettings

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def table() -> PricingTable:
    return load_pricing()


def answer(provider: str, model: str, **fields) -> AnswerResult:
    return AnswerResult(target=f"{provider}:{model}", label=f"{provider}/{model}",
                        provider=provider, model=model, destination="x", **fields)


def test_every_row_is_dated_sourced_and_sane() -> None:
    document = json.loads((resources_dir() / "pricing.json").read_text())
    assert DATE.match(document["updated"]) and document["currency"] == "USD"
    rows = document["prices"]
    providers = {row["provider"] for row in rows}
    # the proprietary APIs and at least two hosted open-model APIs
    assert {"openai", "anthropic", "google"} <= providers
    assert len(providers & {"deepseek", "mistral", "groq", "together"}) >= 2
    seen = set()
    for row in rows:
        key = (row["provider"], row["model"])
        assert key not in seen, key
        seen.add(key)
        assert row["source"].startswith("https://"), key
        assert DATE.match(row["date"]), key
        assert row["via"], key
        assert 0 < row["input"] <= row["output"] * 10 and row["output"] > 0, key
        if row["cached_input"] is not None:
            assert row["cached_input"] < row["input"], key


def test_lookup_exact_dated_and_dotted(table) -> None:
    assert table.lookup("openai", "gpt-4o-mini").output == 0.6
    assert table.lookup("openai", "gpt-4o-mini-2024-07-18").key == "openai/gpt-4o-mini"
    assert table.lookup("anthropic", "claude-sonnet-4-5-20250929").key == (
        "anthropic/claude-sonnet-4-5")
    assert table.lookup("anthropic", "claude-sonnet-4.5").key == "anthropic/claude-sonnet-4-5"
    assert table.lookup("OpenAI", "GPT-4o").key == "openai/gpt-4o"
    # a router model id names its upstream provider
    assert table.lookup("openrouter", "openai/gpt-4o-mini").key == "openai/gpt-4o-mini"


def test_unknown_models_are_unknown_not_free(table) -> None:
    assert table.lookup("openai", "gpt-99-ultra") is None
    assert table.lookup("nobody", "gpt-4o") is None
    result = price_answer(answer("openai", "gpt-99-ultra", prompt_tokens=100,
                                 completion_tokens=50), table, AppSettings())
    assert result.cost_usd is None and result.usd_per_1m_tokens is None
    assert "unknown model" in result.cost_note and "set-price" in result.cost_note


def test_overrides_win_and_are_labelled(table) -> None:
    mine = table.with_overrides({"openai/gpt-4o-mini": {"input": 1.0, "output": 2.0},
                                 "acme/brand-new": {"input": 3, "output": 4}})
    assert mine.lookup("openai", "gpt-4o-mini").origin == "override"
    assert mine.lookup("acme", "brand-new").input == 3
    result = price_answer(answer("openai", "gpt-4o-mini", prompt_tokens=1_000_000,
                                 completion_tokens=500_000), mine, AppSettings())
    assert result.cost_usd == pytest.approx(1.0 + 1.0)
    assert result.cost_source == "user override"
    with pytest.raises(BadInput, match="PROVIDER/MODEL"):
        table.with_overrides({"gpt-4o": {"input": 1, "output": 1}})
    with pytest.raises(BadInput, match="'output'"):
        price_from_row({"provider": "a", "model": "b", "input": 1})
    with pytest.raises(BadInput, match=">= 0"):
        price_from_row({"provider": "a", "model": "b", "input": -1, "output": 1})


def test_openai_cost_counts_cached_tokens_at_the_cached_rate(table) -> None:
    price = table.lookup("openai", "gpt-4o")  # 2.5 in, 1.25 cached, 10 out
    # OpenAI's prompt_tokens include the cached ones
    cost = api_cost(price, prompt_tokens=2_000_000, cached_tokens=1_000_000,
                    completion_tokens=100_000)
    assert cost.usd == pytest.approx(2.5 + 1.25 + 1.0)
    assert cost.notes == ()


def test_anthropic_cache_reads_and_writes(table) -> None:
    price = table.lookup("anthropic", "claude-sonnet-4-5")  # 3 in, 0.3 read, 3.75 write, 15
    result = price_answer(answer("anthropic", "claude-sonnet-4-5", prompt_tokens=1_500_000,
                                 cached_prompt_tokens=1_000_000, cache_write_tokens=400_000,
                                 completion_tokens=10_000), table, AppSettings())
    expected = (100_000 * 3 + 1_000_000 * 0.3 + 400_000 * price.cache_write
                + 10_000 * 15) / 1e6
    assert result.cost_usd == pytest.approx(expected)
    assert result.usd_per_1m_tokens == pytest.approx(expected / 1_510_000 * 1e6)


def test_missing_cached_rate_is_charged_at_input_and_flagged(table) -> None:
    price = table.lookup("google", "gemini-2.0-flash")
    assert price.cached_input is None
    cost = api_cost(price, prompt_tokens=1_000_000, cached_tokens=500_000, completion_tokens=0)
    assert cost.usd == pytest.approx(price.input)
    assert "input rate" in cost.notes[0]


def test_unknown_tokens_are_not_priced_but_a_provider_charge_is_used(table) -> None:
    result = price_answer(answer("openai", "gpt-4o"), table, AppSettings())
    assert result.cost_usd is None and "token counts unknown" in result.cost_note
    routed = price_answer(answer("openrouter", "x/y", provider_cost_usd=0.0042,
                                 prompt_tokens=10, completion_tokens=5), table, AppSettings())
    assert routed.cost_usd == 0.0042 and routed.cost_source == "provider"


def test_self_hosted_endpoints_are_not_priced_per_token(table) -> None:
    result = price_answer(answer("self-hosted", "qwen", prompt_tokens=9, completion_tokens=9),
                          table, AppSettings())
    assert result.cost_usd is None and "self-hosted" in result.cost_note


def test_local_cost_from_energy_with_a_labelled_default_price(table) -> None:
    local = answer("local", "m.gguf", energy_j=3.6e6, energy_method="cpu-time-estimate",
                   prompt_tokens=100, completion_tokens=900, total_ms=3.6e6)
    price_answer(local, table, AppSettings())
    assert local.cost_usd == pytest.approx(0.15)  # 1 kWh at the default 0.15 $/kWh
    assert "default price" in local.cost_note and "estimated" in local.cost_note
    assert local.usd_per_1m_tokens == pytest.approx(0.15 / 1000 * 1e6)
    mine = AppSettings(electricity_usd_per_kwh=0.30, hardware_usd=2000,
                       hardware_lifetime_hours=10_000)
    local.cost_usd = None
    price_answer(local, table, mine)
    assert local.cost_usd == pytest.approx(0.30 + 0.2)  # + one hour of a 2000 $ machine
    assert "default" not in local.cost_note and "hardware" in local.cost_note
    unmeasured = price_answer(answer("local", "m.gguf"), table, AppSettings())
    assert unmeasured.cost_usd is None and "energy not measured" in unmeasured.cost_note
