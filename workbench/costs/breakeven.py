"""Break-even between a pay-per-token API and a self-hosted model server.

From the project's brief:
  api_monthly     = monthly_tokens / 1e6 x api_price_per_1m
  hosting_monthly = cost_per_hour x 720  (per server; more servers when one cannot keep up)
  capacity        = tokens_per_s x 720 x 3600 x utilization  (tokens one server makes a month)
Self-hosting wins from ``break_even_tokens = hosting_monthly / api_price x 1e6`` a month - if one
server can produce that many; if not, a server costs more per token than the API even when
full, and adding servers does not change that.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from workbench.errors import BadInput
from workbench.present.numbers import format_count, money

HOURS_PER_MONTH = 720.0
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)


def parse_amount(text: str | float | int) -> float:
    """``"50M"`` -> 5e7, ``"2.5k"`` -> 2500, ``"1e9"`` -> 1e9."""
    if isinstance(text, int | float):
        return float(text)
    match = _NUMBER.match(text.replace(",", "").replace("_", ""))
    if not match:
        raise BadInput(f"not a number: {text!r} (use e.g. 50M, 2.5k, 1e9)")
    return float(match.group(1)) * _SUFFIX[match.group(2).lower()]


def check_volume_and_speed(monthly_tokens: float, api_usd_per_1m: float, tokens_per_s: float,
                           utilization: float) -> None:
    """The inputs every cost comparison shares; BadInput names the first one out of range."""
    if monthly_tokens < 0:
        raise BadInput("monthly tokens must be >= 0")
    if api_usd_per_1m <= 0:
        raise BadInput("the API price must be > 0 USD per 1M tokens")
    if tokens_per_s <= 0:
        raise BadInput("throughput must be > 0 tokens per second")
    if not 0 < utilization <= 1:
        raise BadInput("utilization must be in (0, 1] (e.g. 0.5 for 50%)")


@dataclass(frozen=True)
class BreakEvenInputs:
    monthly_tokens: float
    api_usd_per_1m: float
    hosting_usd_per_hour: float
    tokens_per_s: float
    utilization: float = 1.0
    power_watts: float = 0.0  # optional: the server's draw, priced at electricity_usd_per_kwh
    electricity_usd_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        check_volume_and_speed(self.monthly_tokens, self.api_usd_per_1m, self.tokens_per_s,
                               self.utilization)
        if self.hosting_usd_per_hour < 0 or self.power_watts < 0 or (
                self.electricity_usd_per_kwh < 0):
            raise BadInput("hosting cost, power and electricity price must be >= 0")

    @property
    def cost_per_hour(self) -> float:
        return self.hosting_usd_per_hour + self.power_watts / 1000 * self.electricity_usd_per_kwh


@dataclass(frozen=True)
class BreakEvenResult:
    inputs: BreakEvenInputs
    api_monthly_usd: float
    server_monthly_usd: float  # one server, all month
    capacity_tokens_per_month: float  # one server
    servers_needed: int
    hosting_monthly_usd: float  # servers_needed x server_monthly_usd
    self_host_usd_per_1m_at_capacity: float
    break_even_tokens_per_month: float
    break_even_reachable: bool
    cheaper: str  # "api" | "self-host" | "same"
    monthly_savings_usd: float  # of the cheaper option
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["inputs"] = {**asdict(self.inputs), "cost_per_hour": self.inputs.cost_per_hour}
        return document


def break_even(inputs: BreakEvenInputs) -> BreakEvenResult:
    api_monthly = inputs.monthly_tokens / 1e6 * inputs.api_usd_per_1m
    server_monthly = inputs.cost_per_hour * HOURS_PER_MONTH
    capacity = inputs.tokens_per_s * HOURS_PER_MONTH * 3600 * inputs.utilization
    servers = max(1, math.ceil(inputs.monthly_tokens / capacity)) if inputs.monthly_tokens else 1
    hosting = servers * server_monthly
    at_capacity = server_monthly / capacity * 1e6
    threshold = server_monthly / inputs.api_usd_per_1m * 1e6
    reachable = threshold <= capacity
    if math.isclose(api_monthly, hosting, rel_tol=1e-9):
        cheaper = "same"
    else:
        cheaper = "api" if api_monthly < hosting else "self-host"
    savings = abs(api_monthly - hosting)
    if not reachable:
        verdict = (f"The API is cheaper at any volume: a full server costs "
                   f"{money(at_capacity)} per 1M tokens at this throughput and utilization, more "
                   f"than the API's {money(inputs.api_usd_per_1m)}.")
    elif cheaper == "self-host":
        verdict = (f"Self-hosting wins: {money(hosting)} a month against {money(api_monthly)} "
                   f"for the API at {format_count(inputs.monthly_tokens)} tokens (saves "
                   f"{money(savings)}); it wins from {format_count(threshold)} tokens a month.")
    elif cheaper == "api":
        verdict = (f"The API wins: {money(api_monthly)} a month against {money(hosting)} for "
                   f"self-hosting at {format_count(inputs.monthly_tokens)} tokens (saves "
                   f"{money(savings)}); self-hosting wins from {format_count(threshold)} tokens "
                   "a month.")
    else:
        verdict = "Both cost the same at this volume."
    return BreakEvenResult(inputs, api_monthly, server_monthly, capacity, servers, hosting,
                           at_capacity, threshold, reachable, cheaper, savings, verdict)
