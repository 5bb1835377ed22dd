"""The cost of one answer: API tokens x the pricing table, or local energy x electricity.

API: input rate x uncached prompt tokens + cached rate x cached tokens + cache-write rate x
cache writes + output rate x output tokens (hidden reasoning included: it is billed as output).
Local: measured (or labelled estimated) energy x the electricity price, plus an optional share
of the hardware's price (``hardware_usd / hardware_lifetime_hours`` per hour of answering).
Unknown prices, unknown tokens or unknown energy give ``cost_usd = None`` with a note saying
why - never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.costs.own_machine import hardware_usd_per_hour
from workbench.costs.pricing import Price, PricingTable
from workbench.present.numbers import format_energy, money, plain
from workbench.providers.base import AnswerResult
from workbench.store.settings import AppSettings

SELF_HOSTED = "self-hosted"
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class TokenCost:
    usd: float
    notes: tuple[str, ...]


def api_cost(price: Price, *, prompt_tokens: int, completion_tokens: int,
             cached_tokens: int | None = None, cache_write_tokens: int | None = None) -> (
        TokenCost):
    """USD for one request; ``prompt_tokens`` is the whole prompt, cached tokens included."""
    notes: list[str] = []
    cached = cached_tokens or 0
    written = cache_write_tokens or 0
    uncached = max(prompt_tokens - cached - written, 0)
    cached_rate = price.cached_input
    if cached and cached_rate is None:
        cached_rate = price.input
        notes.append("no cached-input rate known: cached tokens charged at the input rate")
    write_rate = price.cache_write if price.cache_write is not None else price.input
    usd = (uncached * price.input + cached * (cached_rate or 0.0) + written * write_rate
           + completion_tokens * price.output) / 1e6
    return TokenCost(usd, tuple(notes))


def price_answer(result: AnswerResult, table: PricingTable, settings: AppSettings, *,
                 pricing_provider: str | None = None) -> AnswerResult:
    """Fill ``cost_usd``, ``usd_per_1m_tokens``, ``cost_source`` and ``cost_note``."""
    provider = pricing_provider or result.provider
    if provider == "local":
        _local_cost(result, settings)
    elif provider == SELF_HOSTED:
        result.cost_note = ("self-hosted endpoint: its hardware and energy are not measured from "
                            "here (use the break-even calculator)")
    else:
        _api_cost(result, table, provider)
    if result.cost_usd is not None and result.prompt_tokens is not None and (
            result.completion_tokens is not None):
        tokens = result.prompt_tokens + result.completion_tokens
        if tokens > 0:
            result.usd_per_1m_tokens = result.cost_usd / tokens * 1e6
    return result


def _api_cost(result: AnswerResult, table: PricingTable, provider: str) -> None:
    price = table.lookup(provider, result.model)
    if result.prompt_tokens is None or result.completion_tokens is None:
        if result.provider_cost_usd is not None:
            result.cost_usd, result.cost_source = result.provider_cost_usd, "provider"
            result.cost_note = "as reported by the provider"
            return
        result.cost_note = ("token counts unknown (no usage report): not priced"
                            if result.finish_reason != "cancelled" else
                            "cancelled before the provider reported usage: not priced")
        return
    if result.provider_cost_usd is not None:
        result.cost_usd, result.cost_source = result.provider_cost_usd, "provider"
        result.cost_note = "as reported by the provider"
        return
    if price is None:
        result.cost_note = (f"unknown model: no price for {provider}/{result.model} in the "
                            "pricing table; add one with `workbench profiles set-price`")
        return
    cost = api_cost(price, prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                    cached_tokens=result.cached_prompt_tokens,
                    cache_write_tokens=result.cache_write_tokens)
    result.cost_usd = cost.usd
    result.cost_source = "user override" if price.origin == "override" else "pricing table"
    parts = [f"{price.key}: in ${plain(price.input)} / out ${plain(price.output)} per 1M"]
    if price.date:
        parts.append(f"table row of {price.date}")
    parts.extend(cost.notes)
    result.cost_note = "; ".join(parts)


def _local_cost(result: AnswerResult, settings: AppSettings) -> None:
    if result.energy_j is None:
        result.cost_note = "energy not measured: not priced"
        return
    rate = settings.electricity_price
    usd = result.energy_j / J_PER_KWH * rate
    default = settings.electricity_usd_per_kwh is None
    parts = [f"{format_energy(result.energy_j)} x ${plain(rate)}/kWh"
             + (" (default price: set yours in the settings)" if default else "")]
    if result.energy_method and "estimate" in result.energy_method:
        parts.append("energy estimated")
    per_hour = hardware_usd_per_hour(settings.hardware_usd, settings.hardware_lifetime_hours)
    if per_hour and result.total_ms:
        share = per_hour * result.total_ms / 3.6e6
        usd += share
        parts.append(f"+ {money(share)} hardware ({money(settings.hardware_usd)} over "
                     f"{plain(settings.hardware_lifetime_hours)} h)")
    result.cost_usd = usd
    result.cost_source = "energy"
    result.cost_note = "; ".join(parts)
