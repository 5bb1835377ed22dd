"""What a run says per target, and between targets.

Counting (docs/evals.md, "Statistics"):
- every (case, repeat) answer is one trial: it passed, failed, or errored (``passed`` None: the
  target failed, or a verdict could not be decided). ``pass_rate = passed / (passed + failed)``:
  errors are left out of the rate and counted apart, since an error says nothing about the
  quality of an answer; ``pass_rate_ci`` is Wilson's 95% interval on the same counts;
- speed figures (TTFT, latency, generation tok/s) come from the answers the target completed
  without an error; tokens, cost and energy from every answer that reports them;
- ``repeat_agreement``: of the cases with at least two decided repeats, the share whose repeats
  all agree (all pass or all fail);
- comparisons are paired on cases: a case counts for a target by the majority of its decided
  repeats (as in ``eval diff``: more than half passed), and only cases both targets decided are
  compared. Every pair of targets is compared up to ``MAX_ALL_PAIRS`` targets; beyond that each
  target is compared with the best one (the highest pass rate);
- a LoRA adapter's effect: two compared targets that are the same local model file, one with
  LoRA adapters and one without (``local:M.gguf`` and ``local:M.gguf+lora:A.gguf@0.8``), are
  the base and the adapter: the comparison's paired difference, seen from the adapter, is
  the points it adds (or loses), and the two targets' median generation tok/s the share of
  generation speed it costs (``AdapterEffect``).
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import BadInput
from workbench.evals.diff import ERROR, PASS, case_status
from workbench.evals.model import CaseResult, Suite
from workbench.evals.stats import PairedDiff, mean, paired_difference, percentile, wilson
from workbench.present.numbers import NA
from workbench.providers.base import AnswerResult
from workbench.providers.registry import TargetSpec, parse_target

MAX_ALL_PAIRS = 6  # up to 6 targets (15 pairs) every pair; more: each against the best
THIS_MACHINE = "this machine"


def stays_on_machine(destination: str | None) -> bool:
    """True for an answer that never left this machine: a local model, or a server on
    loopback (its destination reads "127.0.0.1:8080 (this machine)")."""
    text = (destination or "").strip()
    return text == THIS_MACHINE or text.endswith(f"({THIS_MACHINE})")


@dataclass(frozen=True)
class Tally:
    """Passes, failures and errors of a set of trials."""

    passed: int = 0
    failed: int = 0
    errors: int = 0

    @property
    def decided(self) -> int:
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.decided if self.decided else None

    @property
    def pass_rate_ci(self) -> tuple[float, float] | None:
        return wilson(self.passed, self.decided) if self.decided else None

    @classmethod
    def of(cls, results: Iterable[CaseResult]) -> Tally:
        outcomes = [r.passed for r in results]
        return cls(sum(1 for o in outcomes if o is True), sum(1 for o in outcomes if o is False),
                   sum(1 for o in outcomes if o is None))


@dataclass(frozen=True)
class TagSummary:
    tag: str
    cases: int
    passed: int
    failed: int
    errors: int
    pass_rate: float | None
    pass_rate_ci: tuple[float, float] | None
    mean_score: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "pass_rate_ci": _pair(self.pass_rate_ci)}


@dataclass
class TargetSummary:
    """One target's figures over a run (see the module docstring for how each is counted)."""

    target: str  # as given (-t, or the suite's label)
    label: str = ""
    spec: str = ""  # the target spec its answers came from (local:PATH[+lora:...], ...)
    model: str = ""
    provider: str = ""
    destination: str = ""
    leaves_machine: bool = False  # some answer went to another machine
    cases: int = 0  # distinct cases answered (any repeat, errors included)
    trials: int = 0  # (case, repeat) answers
    missing: int = 0  # trials the run did not get to (suite cases x repeats - trials)
    passed: int = 0
    failed: int = 0
    errors: int = 0
    pass_rate: float | None = None
    pass_rate_ci: tuple[float, float] | None = None
    mean_score: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)  # named metric -> mean score
    tags: dict[str, TagSummary] = field(default_factory=dict)
    ttft_ms_p50: float | None = None
    ttft_ms_p95: float | None = None
    total_ms_p50: float | None = None
    total_ms_p95: float | None = None
    mean_total_ms: float | None = None
    gen_tokens_per_s_median: float | None = None
    throughput_tokens_per_s: float | None = None  # completion tokens / answering time
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_per_case: float | None = None
    completion_tokens_per_case: float | None = None
    cost_usd: float | None = None  # all priced answers
    cost_per_case: float | None = None  # the mean over the priced answers
    cost_per_1000: float | None = None
    priced: int = 0  # answers with a known cost
    cost_note: str | None = None  # why some answer was not priced
    energy_j_per_case: float | None = None
    energy_estimated: bool = False
    repeats: int = 1
    repeat_agreement: float | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def tally(self) -> Tally:
        return Tally(self.passed, self.failed, self.errors)

    @property
    def is_local(self) -> bool:
        return self.provider == "local"

    def to_dict(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["pass_rate_ci"] = _pair(self.pass_rate_ci)
        document["tags"] = {name: tag.to_dict() for name, tag in self.tags.items()}
        return document


@dataclass(frozen=True)
class AdapterEffect:
    """What LoRA adapters do on a suite: target ``adapter`` (a local model with adapters)
    against ``base`` (the same file without them). ``points``, ``low``, ``high``: the paired
    difference of pass rates (adapter - base) and its 95% interval, as fractions; ``speed_cost``:
    ``1 - adapter tok/s / base tok/s`` (negative: the adapter measured faster; None: a speed
    is missing)."""

    adapter: str
    base: str
    adapters: int  # how many adapters the adapter target loads
    points: float
    low: float
    high: float
    n: int
    base_tokens_per_s: float | None
    adapter_tokens_per_s: float | None

    @property
    def speed_cost(self) -> float | None:
        base, adapted = self.base_tokens_per_s, self.adapter_tokens_per_s
        if not base or adapted is None:
            return None
        return 1.0 - adapted / base

    @property
    def text(self) -> str:
        return adapter_sentence(self)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "speed_cost": self.speed_cost, "text": self.text}


def adapter_sentence(effect: AdapterEffect) -> str:
    """``B+lora:A: the adapter adds 5.0 points on this suite (95% interval -3.1..+12.0) over B,
    costs 12% of generation speed (41.2 against 46.8 tok/s)``."""
    noun, verb = ("the adapters", "add") if effect.adapters > 1 else ("the adapter", "adds")
    if effect.n == 0:
        return (f"{effect.adapter}: {noun} cannot be judged on this suite: it shares no case "
                f"both answered without an error with {effect.base}")
    if effect.points < 0:
        verb = "lose" if effect.adapters > 1 else "loses"
    interval = f"95% interval {effect.low * 100:+.1f}..{effect.high * 100:+.1f}"
    quality = (f"{noun} {verb} {points(effect.points)} points on this suite ({interval}) "
               f"over {effect.base}")
    cost = effect.speed_cost
    if cost is None:
        speed = "generation speed not measured for both"
    else:
        rates = (f"{effect.adapter_tokens_per_s:.1f} against {effect.base_tokens_per_s:.1f} "
                 "tok/s")
        speed = (f"costs {cost:.0%} of generation speed ({rates})" if cost >= 0
                 else f"costs no generation speed ({-cost:.0%} faster as measured: {rates})")
    return f"{effect.adapter}: {quality}, {speed}"


def _local_spec(target: TargetSummary) -> TargetSpec | None:
    try:
        spec = parse_target(target.spec or target.target)
    except BadInput:
        return None
    return spec if spec.kind == "local" else None


def adapter_effect(a: TargetSummary, b: TargetSummary, diff: PairedDiff) -> AdapterEffect | None:
    """The adapters' effect when ``a`` and ``b`` are one local model file, exactly one of them
    with LoRA adapters (``diff``: b - a); None otherwise."""
    spec_a, spec_b = _local_spec(a), _local_spec(b)
    if spec_a is None or spec_b is None or bool(spec_a.loras) == bool(spec_b.loras):
        return None
    if (os.path.realpath(os.path.expanduser(spec_a.model))
            != os.path.realpath(os.path.expanduser(spec_b.model))):
        return None
    if spec_b.loras:  # b is the adapter: the difference is already seen from it
        adapted, base, sign, spec = b, a, 1.0, spec_b
    else:
        adapted, base, sign, spec = a, b, -1.0, spec_a
    low, high = (diff.low, diff.high) if sign > 0 else (-diff.high, -diff.low)
    return AdapterEffect(adapted.target, base.target, len(spec.loras), sign * diff.diff + 0.0,
                         low, high, diff.n, base.gen_tokens_per_s_median,
                         adapted.gen_tokens_per_s_median)


@dataclass(frozen=True)
class Comparison:
    """Target ``b`` against target ``a`` on the cases both decided (``diff`` = b - a);
    ``adapter``: what LoRA adapters do, when the two are one model with and without them."""

    a: str
    b: str
    diff: PairedDiff
    adapter: AdapterEffect | None = None

    @property
    def text(self) -> str:
        return comparison_sentence(self.a, self.b, self.diff)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, **self.diff.to_dict(), "text": self.text,
                "adapter": self.adapter.to_dict() if self.adapter is not None else None}


@dataclass
class Summary:
    targets: list[TargetSummary]
    comparisons: list[Comparison]
    tags: list[str]  # every tag of the suite's cases, in the order they first appear
    case_tags: dict[str, tuple[str, ...]]  # case id -> its tags (the suite's cases)
    repeats: int = 1

    def target(self, name: str) -> TargetSummary:
        for summary in self.targets:
            if summary.target == name:
                return summary
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"targets": [t.to_dict() for t in self.targets],
                "comparisons": [c.to_dict() for c in self.comparisons],
                "tags": list(self.tags), "repeats": self.repeats}


def _pair(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else [pair[0], pair[1]]


def percent(rate: float | None) -> str:
    """A pass rate as people read it: ``85.0%`` (``n/a`` for None)."""
    return NA if rate is None else f"{rate:.1%}"


def points(rate: float) -> str:
    """A difference of rates in percentage points, one decimal: ``3.0``."""
    return f"{abs(rate) * 100:.1f}"


def comparison_sentence(a: str, b: str, diff: PairedDiff) -> str:
    """``B passes 3.0 points fewer than A on 40 shared cases (95% CI -8.1 to +2.0): not
    distinguishable from noise``."""
    cases = "case" if diff.n == 1 else "cases"
    if diff.n == 0:
        return f"{b} and {a} share no case both answered without an error"
    if abs(diff.diff) < 1e-12:
        how = "as often as"
    else:
        how = f"{points(diff.diff)} points {'more' if diff.diff > 0 else 'fewer'} than"
    interval = f"95% CI {diff.low * 100:+.1f} to {diff.high * 100:+.1f}"
    verdict = (f"a real difference (McNemar p = {diff.p_value:.2g})" if diff.significant
               else "not distinguishable from noise")
    return f"{b} passes {how} {a} on {diff.n} shared {cases} ({interval}): {verdict}"


def _sum_known(values: Iterable[int | None]) -> tuple[int | None, int]:
    known = [v for v in values if v is not None]
    return (sum(known) if known else None), len(known)


def _speeds(target: TargetSummary, answers: Sequence[AnswerResult]) -> None:
    ok = [a for a in answers if a.ok]
    target.ttft_ms_p50 = percentile((a.ttft_ms for a in ok), 50)
    target.ttft_ms_p95 = percentile((a.ttft_ms for a in ok), 95)
    target.total_ms_p50 = percentile((a.total_ms for a in ok), 50)
    target.total_ms_p95 = percentile((a.total_ms for a in ok), 95)
    target.mean_total_ms = mean(a.total_ms for a in ok)
    target.gen_tokens_per_s_median = percentile((a.gen_tokens_per_s for a in ok), 50)
    timed = [a for a in ok if a.completion_tokens is not None and a.total_ms]
    seconds = sum((a.total_ms or 0.0) for a in timed) / 1000
    if timed and seconds > 0:
        target.throughput_tokens_per_s = sum(a.completion_tokens or 0 for a in timed) / seconds


def _usage(target: TargetSummary, answers: Sequence[AnswerResult]) -> None:
    target.prompt_tokens, n_prompt = _sum_known(a.prompt_tokens for a in answers)
    target.completion_tokens, n_completion = _sum_known(a.completion_tokens for a in answers)
    if target.prompt_tokens is not None:
        target.prompt_tokens_per_case = target.prompt_tokens / n_prompt
    if target.completion_tokens is not None:
        target.completion_tokens_per_case = target.completion_tokens / n_completion
    costs = [a.cost_usd for a in answers if a.cost_usd is not None]
    target.priced = len(costs)
    if costs:
        target.cost_usd = sum(costs)
        target.cost_per_case = target.cost_usd / len(costs)
        target.cost_per_1000 = target.cost_per_case * 1000
    target.cost_note = next((a.cost_note for a in answers
                             if a.cost_usd is None and a.cost_note), None)
    target.energy_j_per_case = mean(a.energy_j for a in answers)
    target.energy_estimated = any("estimate" in (a.energy_method or "") for a in answers
                                  if a.energy_j is not None)


def _scores(target: TargetSummary, results: Sequence[CaseResult],
            case_tags: dict[str, tuple[str, ...]], tags: Sequence[str]) -> None:
    decided = [r for r in results if r.passed is not None]
    target.mean_score = mean(r.score for r in decided)
    by_metric: dict[str, list[float]] = defaultdict(list)
    for result in results:
        for verdict in result.verdicts:
            if verdict.metric and verdict.error is None:
                by_metric[verdict.metric].append(verdict.score)
    target.metrics = {name: mean(scores) for name, scores in sorted(by_metric.items())}
    for tag in tags:
        tagged = [r for r in results if tag in case_tags.get(r.case_id, ())]
        if not tagged:
            continue
        tally = Tally.of(tagged)
        target.tags[tag] = TagSummary(
            tag, len({r.case_id for r in tagged}), tally.passed, tally.failed, tally.errors,
            tally.pass_rate, tally.pass_rate_ci,
            mean(r.score for r in tagged if r.passed is not None))


def _agreement(results: Sequence[CaseResult]) -> float | None:
    by_case: dict[str, list[bool]] = defaultdict(list)
    for result in results:
        if result.passed is not None:
            by_case[result.case_id].append(result.passed)
    repeated = [outcomes for outcomes in by_case.values() if len(outcomes) >= 2]
    if not repeated:
        return None
    return sum(1 for outcomes in repeated if len(set(outcomes)) == 1) / len(repeated)


def summarize_target(name: str, results: Sequence[CaseResult], *, expected: int,
                     case_tags: dict[str, tuple[str, ...]], tags: Sequence[str],
                     repeats: int = 1) -> TargetSummary:
    """The figures of target ``name`` from its results (``expected``: the trials a complete
    run has: cases x repeats)."""
    target = TargetSummary(name, label=name, repeats=repeats)
    answers = [r.answer for r in results]
    if answers:
        first = answers[0]
        target.label, target.model = first.label or name, first.model
        target.spec = first.target
        target.provider, target.destination = first.provider, first.destination
        target.leaves_machine = any(not stays_on_machine(a.destination) for a in answers)
    tally = Tally.of(results)
    target.passed, target.failed, target.errors = tally.passed, tally.failed, tally.errors
    target.pass_rate, target.pass_rate_ci = tally.pass_rate, tally.pass_rate_ci
    target.cases = len({r.case_id for r in results})
    target.trials = len(results)
    target.missing = max(0, expected - len({(r.case_id, r.repeat) for r in results}))
    kinds: dict[str, int] = defaultdict(int)
    for result in results:
        if result.passed is None:
            kinds[result.answer.error_kind or ("grading" if result.answer.ok else "error")] += 1
    target.error_kinds = dict(kinds)
    _speeds(target, answers)
    _usage(target, answers)
    _scores(target, results, case_tags, tags)
    target.repeat_agreement = _agreement(results)
    return target


def _pairs(targets: Sequence[TargetSummary]) -> list[tuple[str, str]]:
    rated = [t for t in targets if t.pass_rate is not None]
    if len(rated) <= MAX_ALL_PAIRS:
        return [(a.target, b.target) for i, a in enumerate(rated) for b in rated[i + 1:]]
    best = max(rated, key=lambda t: t.pass_rate or 0.0)  # max keeps the first of a tie
    return [(best.target, t.target) for t in rated if t is not best]


def compare(a: str, b: str, status: dict[tuple[str, str], str],
            case_order: Sequence[str]) -> Comparison:
    """b against a on the cases both decided (``status``: diff.case_status of the results)."""
    shared = [c for c in case_order
              if status.get((c, a), ERROR) != ERROR and status.get((c, b), ERROR) != ERROR]
    diff = paired_difference([status[(c, a)] == PASS for c in shared],
                             [status[(c, b)] == PASS for c in shared])
    return Comparison(a, b, diff)


def summarize(suite: Suite, results: Sequence[CaseResult], targets: Sequence[str]) -> Summary:
    """Per-target figures and the paired comparisons of a run's results."""
    case_tags = {case.id: tuple(case.tags) for case in suite.cases}
    tags: list[str] = []
    for case in suite.cases:
        tags.extend(tag for tag in case.tags if tag not in tags)
    repeats = max((r.repeat + 1 for r in results), default=1)
    by_target: dict[str, list[CaseResult]] = defaultdict(list)
    for result in results:
        by_target[result.target].append(result)
    names = list(targets) + [t for t in by_target if t not in targets]
    summaries = [summarize_target(name, by_target.get(name, []),
                                  expected=len(suite.cases) * repeats, case_tags=case_tags,
                                  tags=tags, repeats=repeats) for name in names]
    case_order = [case.id for case in suite.cases]
    case_order += sorted({r.case_id for r in results} - set(case_order))
    status = case_status(results)
    by_name = {t.target: t for t in summaries}
    comparisons = []
    for a, b in _pairs(summaries):
        comparison = compare(a, b, status, case_order)
        effect = adapter_effect(by_name[a], by_name[b], comparison.diff)
        comparisons.append(dataclasses.replace(comparison, adapter=effect))
    return Summary(summaries, comparisons, tags, case_tags, repeats)
