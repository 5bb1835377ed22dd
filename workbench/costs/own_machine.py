"""What answering costs on this machine: measured energy x the electricity price, plus an
optional share of the machine's price - the same rule as one answer's cost in Compare.

Per hour of answering: ``watts / 1000 x usd_per_kwh + hardware_usd / lifetime_hours``. Divided by
the tokens one hour makes (``tokens_per_s x 3600``) that is a price per token, so the monthly
cost grows with the volume like an API's: this machine is cheaper than an API at every volume it
can produce, or at none. ``capacity`` (``tokens_per_s x 720 h x 3600 x utilization``) is the most
it makes in a month.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.costs.breakeven import HOURS_PER_MONTH, check_volume_and_speed
from workbench.errors import BadInput
from workbench.present.numbers import format_count, money


def hardware_usd_per_hour(hardware_usd: float | None, lifetime_hours: float | None) -> float:
    """The machine's price spread over its hours of answering (0 when either is not set)."""
    if not hardware_usd or not lifetime_hours:
        return 0.0
    return hardware_usd / lifetime_hours


@dataclass(frozen=True)
class OwnMachineInputs:
    monthly_tokens: float
    api_usd_per_1m: float
    tokens_per_s: float
    power_watts: float  # the draw while answering (measured)
    electricity_usd_per_kwh: float
    utilization: float = 1.0  # the share of the month it may spend answering
    hardware_usd: float = 0.0
    lifetime_hours: float = 0.0

    def __post_init__(self) -> None:
        check_volume_and_speed(self.monthly_tokens, self.api_usd_per_1m, self.tokens_per_s,
                               self.utilization)
        if min(self.power_watts, self.electricity_usd_per_kwh, self.hardware_usd,
               self.lifetime_hours) < 0:
            raise BadInput("power, electricity price, machine price and lifetime must be >= 0")

    @property
    def usd_per_hour(self) -> float:
        """What one hour of answering costs: energy plus the hardware share."""
        return (self.power_watts / 1000 * self.electricity_usd_per_kwh
                + hardware_usd_per_hour(self.hardware_usd, self.lifetime_hours))


@dataclass(frozen=True)
class OwnMachineResult:
    inputs: OwnMachineInputs
    api_monthly_usd: float
    usd_per_1m: float  # this machine's cost per 1M tokens
    energy_monthly_usd: float
    hardware_monthly_usd: float
    monthly_usd: float
    capacity_tokens_per_month: float
    within_capacity: bool
    cheaper: str  # "api" | "this machine" | "same"
    verdict: str


def own_machine_cost(inputs: OwnMachineInputs) -> OwnMachineResult:
    hours = inputs.monthly_tokens / (inputs.tokens_per_s * 3600)  # hours of answering
    energy = hours * inputs.power_watts / 1000 * inputs.electricity_usd_per_kwh
    hardware = hours * hardware_usd_per_hour(inputs.hardware_usd, inputs.lifetime_hours)
    per_1m = inputs.usd_per_hour / (inputs.tokens_per_s * 3600) * 1e6
    capacity = inputs.tokens_per_s * HOURS_PER_MONTH * 3600 * inputs.utilization
    api = inputs.monthly_tokens / 1e6 * inputs.api_usd_per_1m
    within = inputs.monthly_tokens <= capacity
    if abs(per_1m - inputs.api_usd_per_1m) < 1e-12:
        cheaper = "same"
    else:
        cheaper = "this machine" if per_1m < inputs.api_usd_per_1m else "api"
    most = (f"one machine makes at most {format_count(capacity)} tokens a month at this speed "
            "and utilisation")
    if cheaper == "this machine" and within:
        verdict = (f"This machine costs {money(per_1m)} per 1M tokens, less than the API's "
                   f"{money(inputs.api_usd_per_1m)}: it saves {money(api - energy - hardware)} "
                   f"a month at {format_count(inputs.monthly_tokens)} tokens.")
    elif cheaper == "this machine":
        verdict = (f"This machine costs {money(per_1m)} per 1M tokens, less than the API's "
                   f"{money(inputs.api_usd_per_1m)}, but {most}, not "
                   f"{format_count(inputs.monthly_tokens)}.")
    elif cheaper == "api":
        verdict = (f"The API is cheaper at any volume: this machine costs {money(per_1m)} per 1M "
                   f"tokens, more than the API's {money(inputs.api_usd_per_1m)}.")
    else:
        verdict = "Both cost the same per token."
    return OwnMachineResult(inputs, api, per_1m, energy, hardware, energy + hardware, capacity,
                            within, cheaper, verdict)
