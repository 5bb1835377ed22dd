"""The decision: which target to use for this task, at what monthly cost (docs/evals.md).

Given a pass-rate bar, a monthly request volume and whether the data must stay on this machine:

- a target *meets the bar* when its pass rate is at least the bar; the decision also says whether
  the lower end of its 95% interval does (when it does not, more cases would be needed to be sure);
- the monthly cost of a cloud target is its measured cost per answer (tokens x the pricing table)
  x the requests; of a local target, the own-machine model (costs/own_machine.py) seeded with the
  measured throughput (completion tokens per second of answering), the measured energy per answer
  (its power: energy / answering time) and the electricity price of the settings: the machine is
  already owned, a month costs the energy of its answers, plus the machine's price spread over
  its lifetime hours when the settings give both. One machine answers one request at a time, so
  a local target that cannot answer the volume in a month (720 h) is left out;
- break-even (costs/breakeven.py): a machine kept on for this all month (720 h at the measured
  draw, plus the hardware share per hour when set) against the cheapest cloud target that meets
  the bar (else the cheapest priced cloud target): the monthly requests from which it is cheaper;
- ``private``: targets whose answers left this machine are left out, with that reason;
- the choice is the cheapest target that meets the bar (known costs first, then the highest pass
  rate); none meeting it is said plainly, never made up;
- where no target meets the bar on every tag, a hybrid split: per tag, the cheapest target that
  meets the bar on that tag's cases, as a rule a router applies: ``{"rules": [{"match": {"tag":
  "pii"}, "target": "local:..."}], "default": "..."}``. Rules are tried in order and the first
  whose tag the request carries wins; they are ordered costliest target first (a request with
  two tags goes to the stronger target one of them needs); ``default`` (the overall choice, or
  None when nothing meets the bar) takes the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.costs.breakeven import BreakEvenInputs, break_even
from workbench.costs.measured import estimated_watts
from workbench.costs.own_machine import (
    OwnMachineInputs,
    hardware_usd_per_hour,
    own_machine_cost,
)
from workbench.evals.summary import Summary, TargetSummary, percent
from workbench.present.numbers import answer_cost, format_count, money, plain
from workbench.routing.hybrid import route  # the router applies the same rule
from workbench.store.settings import AppSettings

LOCAL, CLOUD, SELF_HOSTED = "local", "cloud", "self-hosted"
_NO_REFERENCE_PRICE = 1.0  # the own-machine model needs an API price; only its own figures are read


@dataclass
class TargetCost:
    """One target at the decision's volume."""

    target: str
    kind: str  # local | cloud | self-hosted
    pass_rate: float | None
    pass_rate_ci: tuple[float, float] | None
    meets_bar: bool
    surely_meets_bar: bool  # the interval's lower bound meets it too
    below_bar_tags: list[str] = field(default_factory=list)  # tags whose pass rate is below
    left_machine: bool = False  # some answer went to another machine
    excluded: str | None = None  # why it cannot be chosen (private, cannot keep up)
    usd_per_request: float | None = None
    monthly_usd: float | None = None
    basis: str = ""  # how the monthly figure was reached
    capacity_per_month: float | None = None  # local: requests one machine answers a month
    watts: float | None = None  # local: measured (or estimated) power while answering
    break_even_requests: float | None = None  # local: from this many a month it beats the API
    break_even_reachable: bool | None = None
    break_even_against: str | None = None

    @property
    def eligible(self) -> bool:
        return self.excluded is None

    def to_dict(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        ci = self.pass_rate_ci
        document["pass_rate_ci"] = None if ci is None else [ci[0], ci[1]]
        return document


@dataclass
class Decision:
    bar: float
    monthly_requests: float
    private: bool
    targets: list[TargetCost]
    choice: str | None  # the cheapest target that meets the bar; None: nobody does
    reference_api: str | None = None  # what local break-evens are measured against
    hybrid: dict[str, Any] | None = None  # {"rules": [...], "default": ...}
    hybrid_monthly_usd: float | None = None
    uncovered_tags: list[str] = field(default_factory=list)  # no target meets the bar on them
    assumptions: list[str] = field(default_factory=list)

    def target(self, name: str) -> TargetCost:
        for cost in self.targets:
            if cost.target == name:
                return cost
        raise KeyError(name)

    @property
    def chosen(self) -> TargetCost | None:
        return self.target(self.choice) if self.choice else None

    def to_dict(self) -> dict[str, Any]:
        chosen = self.chosen
        return {"bar": self.bar, "monthly_requests": self.monthly_requests,
                "private": self.private, "choice": self.choice,
                "choice_surely_meets_bar": chosen.surely_meets_bar if chosen else None,
                "choice_monthly_usd": chosen.monthly_usd if chosen else None,
                "reference_api": self.reference_api,
                "targets": [t.to_dict() for t in self.targets],
                "hybrid": self.hybrid, "hybrid_monthly_usd": self.hybrid_monthly_usd,
                "uncovered_tags": list(self.uncovered_tags),
                "assumptions": list(self.assumptions), "lines": self.lines()}

    def lines(self) -> list[str]:
        """The decision in plain sentences (terminal, Markdown, the GUI)."""
        return _lines(self)


def per_answer(usd: float | None) -> str:
    """``$0.012 per answer``, ``$3.52 per million answers``."""
    text = answer_cost(usd)
    return text if " per " in text or usd is None else f"{text} per answer"


def _kind(summary: TargetSummary) -> str:
    if summary.provider == "local":
        return LOCAL
    if summary.provider == "self-hosted":
        return SELF_HOSTED
    return CLOUD


def _sort_key(cost: TargetCost) -> tuple[bool, float, float]:
    """Known costs first, cheapest first, then the higher pass rate."""
    unknown = cost.usd_per_request is None
    return unknown, cost.usd_per_request or 0.0, -(cost.pass_rate or 0.0)


def _meets(rate: float | None, bar: float) -> bool:
    return rate is not None and rate >= bar - 1e-12


def _cloud_cost(cost: TargetCost, summary: TargetSummary, requests: float) -> None:
    if summary.cost_per_case is None:
        cost.basis = summary.cost_note or "not priced (no cost known for its answers)"
        return
    cost.usd_per_request = summary.cost_per_case
    cost.monthly_usd = summary.cost_per_case * requests
    share = ("" if summary.priced >= summary.trials
             else f"; priced from {summary.priced} of {summary.trials} answers")
    cost.basis = (f"measured {per_answer(summary.cost_per_case)} x "
                  f"{format_count(requests)} requests{share}")


def _local_power(summary: TargetSummary, settings: AppSettings) -> tuple[float | None, str]:
    if summary.energy_j_per_case is not None and summary.mean_total_ms:
        watts = summary.energy_j_per_case / (summary.mean_total_ms / 1000)
        label = "estimated from CPU time" if summary.energy_estimated else "measured"
        return watts, f"{plain(watts)} W {label}"
    watts, how = estimated_watts(settings.cpu_watts)
    return watts, f"{plain(watts)} W {how}"


def _local_cost(cost: TargetCost, summary: TargetSummary, requests: float,
                settings: AppSettings, reference_usd: float | None) -> None:
    tokens = summary.completion_tokens_per_case
    speed = summary.throughput_tokens_per_s
    if not tokens or not speed:
        if summary.cost_per_case is not None:
            cost.usd_per_request = summary.cost_per_case
            cost.monthly_usd = summary.cost_per_case * requests
            cost.basis = (f"measured {per_answer(summary.cost_per_case)} (energy x "
                          f"electricity) x {format_count(requests)} requests")
        else:
            cost.basis = "no measured speed or energy: not priced"
        return
    watts, power = _local_power(summary, settings)
    cost.watts = watts
    per_1m_reference = (reference_usd / tokens * 1e6 if reference_usd else _NO_REFERENCE_PRICE)
    machine = own_machine_cost(OwnMachineInputs(
        monthly_tokens=requests * tokens, api_usd_per_1m=per_1m_reference, tokens_per_s=speed,
        power_watts=watts or 0.0, electricity_usd_per_kwh=settings.electricity_price,
        hardware_usd=settings.hardware_usd or 0.0,
        lifetime_hours=settings.hardware_lifetime_hours or 0.0))
    cost.usd_per_request = machine.usd_per_1m * tokens / 1e6
    cost.monthly_usd = machine.monthly_usd
    cost.capacity_per_month = machine.capacity_tokens_per_month / tokens
    hardware = hardware_usd_per_hour(settings.hardware_usd, settings.hardware_lifetime_hours)
    cost.basis = (f"this machine, already owned: {power} x {money(settings.electricity_price)}"
                  f"/kWh" + (f" + {money(hardware)} an hour for the hardware" if hardware else "")
                  + f" over {plain(tokens)} tokens per answer at {plain(speed)} tok/s")
    if requests > cost.capacity_per_month:
        cost.excluded = (f"cannot keep up: one machine answers at most "
                         f"{format_count(cost.capacity_per_month)} requests a month at the "
                         f"measured speed, not {format_count(requests)}")
    if reference_usd:
        server = break_even(BreakEvenInputs(
            monthly_tokens=requests * tokens, api_usd_per_1m=per_1m_reference,
            hosting_usd_per_hour=hardware, tokens_per_s=speed, power_watts=watts or 0.0,
            electricity_usd_per_kwh=settings.electricity_price))
        cost.break_even_requests = server.break_even_tokens_per_month / tokens
        cost.break_even_reachable = server.break_even_reachable


def _reference(costs: Sequence[TargetCost]) -> TargetCost | None:
    cloud = sorted((c for c in costs if c.kind == CLOUD and c.usd_per_request), key=_sort_key)
    meeting = [c for c in cloud if c.meets_bar]
    return (meeting or cloud)[0] if cloud else None


def _hybrid(decision: Decision, summary: Summary, by_name: dict[str, TargetSummary]) -> None:
    eligible = [c for c in decision.targets if c.eligible]
    if not summary.tags or any(c.meets_bar and not c.below_bar_tags for c in eligible):
        return
    picks: dict[str, TargetCost] = {}
    for tag in summary.tags:
        meeting = [c for c in eligible if tag in by_name[c.target].tags
                   and _meets(by_name[c.target].tags[tag].pass_rate, decision.bar)]
        if meeting:
            picks[tag] = sorted(meeting, key=_sort_key)[0]
        else:
            decision.uncovered_tags.append(tag)
    if not picks:
        return
    order = sorted(picks.items(), key=lambda item: (-(item[1].usd_per_request or 0.0), item[0]))
    rules = [{"match": {"tag": tag}, "target": cost.target} for tag, cost in order]
    decision.hybrid = {"rules": rules, "default": decision.choice}
    decision.hybrid_monthly_usd = _hybrid_monthly(decision, summary)


def _hybrid_monthly(decision: Decision, summary: Summary) -> float | None:
    if decision.hybrid is None or not summary.case_tags:
        return None
    total = 0.0
    for tags in summary.case_tags.values():
        target = route(decision.hybrid, tags)
        usd = decision.target(target).usd_per_request if target else None
        if usd is None:
            return None
        total += usd
    return total / len(summary.case_tags) * decision.monthly_requests


def decide(summary: Summary, *, bar: float, monthly_requests: float, private: bool,
           settings: AppSettings | None = None) -> Decision:
    """The cheapest target that meets ``bar`` at ``monthly_requests`` (see the module)."""
    settings = settings or AppSettings()
    by_name = {t.target: t for t in summary.targets if t.trials}
    costs: list[TargetCost] = []
    for t in by_name.values():
        ci = t.pass_rate_ci
        cost = TargetCost(t.target, _kind(t), t.pass_rate, ci, _meets(t.pass_rate, bar),
                          ci is not None and _meets(ci[0], bar),
                          [tag for tag, s in t.tags.items() if not _meets(s.pass_rate, bar)])
        if cost.kind != LOCAL:
            _cloud_cost(cost, t, monthly_requests)
        costs.append(cost)
    reference = _reference(costs)
    for cost in costs:
        if cost.kind == LOCAL:
            _local_cost(cost, by_name[cost.target], monthly_requests, settings,
                        reference.usd_per_request if reference else None)
            cost.break_even_against = reference.target if reference else None
        cost.left_machine = by_name[cost.target].leaves_machine
        if private and cost.left_machine:
            cost.excluded = (f"its answers left this machine (to "
                             f"{by_name[cost.target].destination}): the data must stay here")
    meeting = sorted((c for c in costs if c.eligible and c.meets_bar), key=_sort_key)
    decision = Decision(bar, monthly_requests, private, costs,
                        meeting[0].target if meeting else None,
                        reference.target if reference else None)
    _hybrid(decision, summary, by_name)
    decision.assumptions = _assumptions(decision, settings)
    return decision


def _assumptions(decision: Decision, settings: AppSettings) -> list[str]:
    notes = [f"Pass rates count every (case, repeat) answer; errors are left out and counted "
             f"apart. A target meets the bar at a pass rate of {percent(decision.bar)} or more."]
    if any(c.kind == CLOUD for c in decision.targets):
        notes.append("Cloud: the measured cost per answer (its tokens x the pricing table) x the "
                     "monthly requests.")
    if any(c.kind == LOCAL for c in decision.targets):
        default = (" (the default price: set yours in the settings)"
                   if settings.electricity_usd_per_kwh is None else "")
        hardware = hardware_usd_per_hour(settings.hardware_usd, settings.hardware_lifetime_hours)
        share = (f", plus {money(settings.hardware_usd)} for the machine spread over "
                 f"{plain(settings.hardware_lifetime_hours)} hours of answering" if hardware
                 else "; its purchase price is not counted (set a price and a lifetime in the "
                 "settings to spread it over the hours of answering)")
        notes.append(f"Local: this machine is already owned; a month costs the energy of its "
                     f"answers at {money(settings.electricity_price)}/kWh{default}{share}. "
                     "It answers one request at a time (720 hours a month at most).")
        notes.append("Break-even: a machine kept on for this all month (720 h at the measured "
                     "draw) against the cheapest cloud target that meets the bar (else the "
                     "cheapest priced one).")
    return notes


def _target_line(cost: TargetCost, requests: float) -> str:
    ci = cost.pass_rate_ci
    interval = f" (95% CI {percent(ci[0])} to {percent(ci[1])})" if ci else ""
    bar = "meets the bar" if cost.meets_bar else "below the bar"
    if cost.pass_rate is None:
        bar = "no answer was graded (every one errored)"
    monthly = (f"{money(cost.monthly_usd)} a month at {format_count(requests)} requests"
               if cost.monthly_usd is not None else "monthly cost unknown")
    rate = "" if cost.pass_rate is None else f"{percent(cost.pass_rate)}{interval}, "
    line = f"{cost.target}: {rate}{bar}; {monthly} ({cost.basis})"
    if cost.below_bar_tags and cost.meets_bar:
        line += f"; below the bar on tag {', '.join(cost.below_bar_tags)}"
    if cost.excluded:
        line += f". Left out: {cost.excluded}"
    return line + "."


def _break_even_line(cost: TargetCost) -> str | None:
    if cost.kind != LOCAL or cost.break_even_against is None:
        return None
    if cost.break_even_requests is None:
        return None
    if not cost.break_even_reachable:
        return (f"{cost.target}: a machine kept on for it all month never beats "
                f"{cost.break_even_against}: it cannot answer enough requests to earn its "
                "keep at the measured speed.")
    return (f"{cost.target}: a machine kept on for it all month beats "
            f"{cost.break_even_against} from {format_count(cost.break_even_requests)} "
            f"requests a month.")


def _lines(decision: Decision) -> list[str]:
    lines: list[str] = []
    bar, requests = percent(decision.bar), decision.monthly_requests
    chosen = decision.chosen
    if chosen is not None:
        ci = chosen.pass_rate_ci
        monthly = (f"{money(chosen.monthly_usd)} a month at {format_count(requests)} requests"
                   if chosen.monthly_usd is not None else "its cost is unknown")
        lines.append(f"Cheapest target that meets the {bar} bar: {chosen.target} "
                     f"({percent(chosen.pass_rate)}; {monthly}).")
        if chosen.surely_meets_bar:
            lines.append("Even the lower end of its 95% interval meets the bar.")
        elif ci is not None:
            lines.append(f"The lower end of its 95% interval ({percent(ci[0])}) is below the bar: "
                         "more cases would tell whether it really meets it.")
        if chosen.below_bar_tags:
            lines.append(f"It is below the bar on tag {', '.join(chosen.below_bar_tags)}.")
    else:
        rated = [c for c in decision.targets if c.pass_rate is not None]
        eligible = [c for c in rated if c.eligible]
        if not rated:
            lines.append("No target has a graded answer: there is nothing to decide on.")
        elif not eligible:
            lines.append("No target can be chosen: every one is left out (below).")
        else:
            best = max(eligible, key=lambda c: c.pass_rate or 0.0)
            lines.append(f"No target meets the {bar} bar; the best is {best.target} at "
                         f"{percent(best.pass_rate)}.")
    excluded = [c.target for c in decision.targets if c.left_machine]
    if decision.private and excluded:
        lines.append(f"Private: left out because their answers left this machine: "
                     f"{', '.join(excluded)}.")
    if decision.hybrid is not None:
        parts = "; ".join(f"tag {r['match']['tag']} -> {r['target']}"
                          for r in decision.hybrid["rules"])
        default = decision.hybrid["default"]
        cost = (f", about {money(decision.hybrid_monthly_usd)} a month"
                if decision.hybrid_monthly_usd is not None else "")
        lines.append(f"No single target meets the bar on every tag; a split by tag: {parts}; "
                     f"everything else -> {default or 'no target (none meets the bar)'}{cost}.")
    if decision.uncovered_tags:
        lines.append(f"No target meets the bar on tag {', '.join(decision.uncovered_tags)}.")
    lines.extend(_target_line(c, requests) for c in decision.targets)
    lines.extend(line for c in decision.targets if (line := _break_even_line(c)))
    lines.extend(decision.assumptions)
    return lines
