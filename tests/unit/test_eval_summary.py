"""Per-target summaries and the decision, on hand-built results: errors counted apart, repeats,
tags, named metrics, percentiles, costs, paired comparisons; the cheapest target that meets the
bar, private runs, the hybrid split by tag, nobody meeting the bar."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from workbench.evals.decision import decide, route
from workbench.evals.model import Case, CaseResult, ChatTemplate, Suite, Verdict
from workbench.evals.stats import wilson
from workbench.evals.summary import MAX_ALL_PAIRS, stays_on_machine, summarize
from workbench.providers.base import AnswerResult
from workbench.store.settings import AppSettings

CLOUD_HOST = "api.example.com"


def make_suite(count: int, tags: dict[int, tuple[str, ...]] | None = None) -> Suite:
    """``count`` cases with ids "1".."count"; ``tags`` by 1-based case number."""
    prompt = ChatTemplate("p", (("user", "{{q}}"),))
    cases = tuple(Case(id=str(i), index=i, prompt=prompt, vars={"q": f"question {i}"},
                       assertions=(), description=f"case {i}", tags=(tags or {}).get(i, ()))
                  for i in range(1, count + 1))
    return Suite(description="hand-built", cases=cases, sha256="abc")


def make_answer(target: str, *, local: bool = True, error: str | None = None,
                **figures: Any) -> AnswerResult:
    return AnswerResult(target=target, label=target, provider="local" if local else "openai",
                        model="model.gguf" if local else "gpt-x",
                        destination="this machine" if local else CLOUD_HOST, error=error,
                        error_kind="server" if error else None, **figures)


def make_result(case_id: str | int, target: str, passed: bool | None, *, repeat: int = 0,
                score: float | None = None, verdicts: Sequence[Verdict] = (),
                text: str = "an answer", local: bool = True, error: str | None = None,
                **figures: Any) -> CaseResult:
    answer = make_answer(target, local=local, error=error, text=text, **figures)
    if score is None and passed is not None:
        score = 1.0 if passed else 0.0
    if passed is None and error is None:
        error = "a verdict could not be decided"
    return CaseResult(str(case_id), target, repeat, answer, list(verdicts), passed, score,
                      error)


def outcomes(target: str, pattern: str, *, local: bool = True, repeat: int = 0,
             **figures: Any) -> list[CaseResult]:
    """One result per character: P pass, F fail, E error (cases 1, 2, ...)."""
    mapping = {"P": True, "F": False, "E": None}
    return [make_result(i, target, mapping[c], local=local, repeat=repeat,
                        error="server error" if c == "E" else None, **figures)
            for i, c in enumerate(pattern, start=1)]


# -- summaries -----------------------------------------------------------------------------------
def test_errors_are_counted_apart_from_failures() -> None:
    results = outcomes("local:a", "PPPFEE")
    summary = summarize(make_suite(6), results, ["local:a"])
    target = summary.target("local:a")
    assert (target.passed, target.failed, target.errors) == (3, 1, 2)
    assert target.pass_rate == pytest.approx(0.75)
    assert target.pass_rate_ci == pytest.approx(wilson(3, 4))
    assert target.trials == 6 and target.cases == 6 and target.missing == 0
    assert target.error_kinds == {"server": 2}
    assert target.mean_score == pytest.approx(0.75)


def test_repeats_are_trials_and_their_agreement_is_measured() -> None:
    results = [make_result(1, "t", True, repeat=r) for r in range(3)]
    results += [make_result(2, "t", r != 1, repeat=r) for r in range(3)]
    summary = summarize(make_suite(2), results, ["t"])
    target = summary.target("t")
    assert summary.repeats == 3 and target.repeats == 3
    assert (target.trials, target.cases, target.passed, target.failed) == (6, 2, 5, 1)
    assert target.pass_rate == pytest.approx(5 / 6)
    assert target.repeat_agreement == pytest.approx(0.5)  # case 1 agrees, case 2 does not
    single = summarize(make_suite(2), outcomes("t", "PF"), ["t"]).target("t")
    assert single.repeat_agreement is None


def test_missing_trials_of_an_incomplete_run() -> None:
    summary = summarize(make_suite(5), outcomes("t", "PP"), ["t", "never-ran"])
    assert summary.target("t").missing == 3
    never = summary.target("never-ran")
    assert never.trials == 0 and never.pass_rate is None and never.pass_rate_ci is None
    assert never.missing == 5


def test_tags_and_named_metrics() -> None:
    suite = make_suite(4, {1: ("pii",), 2: ("pii", "code"), 3: ("code",)})

    def verdicts(accuracy: float, tone: float | None) -> list[Verdict]:
        found = [Verdict("contains", accuracy > 0.5, accuracy, "r", metric="accuracy")]
        if tone is not None:
            found.append(Verdict("llm-rubric", True, tone, "r", metric="tone"))
        found.append(Verdict("llm-rubric", False, 0.0, "judge down", metric="tone",
                             error="judge down"))  # undecided: not averaged
        return found

    results = [make_result(1, "t", True, score=1.0, verdicts=verdicts(1.0, 0.8)),
               make_result(2, "t", False, score=0.25, verdicts=verdicts(0.0, None)),
               make_result(3, "t", True, score=0.9, verdicts=verdicts(1.0, 0.4)),
               make_result(4, "t", None, error="server error")]
    summary = summarize(suite, results, ["t"])
    target = summary.target("t")
    assert summary.tags == ["pii", "code"]
    assert target.metrics == {"accuracy": pytest.approx(2 / 3), "tone": pytest.approx(0.6)}
    pii, code = target.tags["pii"], target.tags["code"]
    assert (pii.cases, pii.passed, pii.failed, pii.pass_rate) == (2, 1, 1, 0.5)
    assert pii.mean_score == pytest.approx((1.0 + 0.25) / 2)
    assert (code.passed, code.failed) == (1, 1) and code.pass_rate_ci == wilson(1, 2)
    assert target.mean_score == pytest.approx((1.0 + 0.25 + 0.9) / 3)


def test_speed_percentiles_leave_errors_out() -> None:
    results = [make_result(i, "t", True, total_ms=100.0 * i, ttft_ms=10.0 * i,
                           gen_tokens_per_s=float(i), completion_tokens=10)
               for i in range(1, 6)]
    results.append(make_result(6, "t", None, error="timeout", total_ms=99_999.0,
                               ttft_ms=99_999.0, gen_tokens_per_s=1000.0))
    target = summarize(make_suite(6), results, ["t"]).target("t")
    assert target.total_ms_p50 == pytest.approx(300) and target.total_ms_p95 == pytest.approx(480)
    assert target.ttft_ms_p50 == pytest.approx(30) and target.ttft_ms_p95 == pytest.approx(48)
    assert target.gen_tokens_per_s_median == pytest.approx(3)
    assert target.mean_total_ms == pytest.approx(300)
    assert target.throughput_tokens_per_s == pytest.approx(50 / 1.5)  # 50 tokens in 1.5 s


def test_tokens_cost_and_energy() -> None:
    results = [make_result(1, "c", True, local=False, prompt_tokens=100, completion_tokens=50,
                           cost_usd=0.002),
               make_result(2, "c", False, local=False, prompt_tokens=300, completion_tokens=150,
                           cost_usd=0.004),
               make_result(3, "c", True, local=False, cost_note="token counts unknown")]
    target = summarize(make_suite(3), results, ["c"]).target("c")
    assert (target.prompt_tokens, target.completion_tokens) == (400, 200)
    assert target.prompt_tokens_per_case == pytest.approx(200)
    assert target.completion_tokens_per_case == pytest.approx(100)
    assert target.cost_usd == pytest.approx(0.006) and target.priced == 2
    assert target.cost_per_case == pytest.approx(0.003)
    assert target.cost_per_1000 == pytest.approx(3.0)
    assert target.cost_note == "token counts unknown"
    assert target.leaves_machine and target.destination == CLOUD_HOST
    local = summarize(make_suite(2), outcomes("l", "PP", energy_j=30.0), ["l"]).target("l")
    assert local.energy_j_per_case == pytest.approx(30.0) and not local.leaves_machine
    assert local.cost_usd is None and local.cost_per_case is None
    json.dumps(summarize(make_suite(3), results, ["c"]).to_dict())  # JSON-ready


def test_every_pair_is_compared_with_its_sentence() -> None:
    # q8 passes 9 of 10, q4 passes 6 of 10, the cloud 10 of 10
    results = outcomes("local:q8", "PPPPPPPPPF") + outcomes("local:q4", "PPPPPPFFFF")
    results += outcomes("openai:x", "PPPPPPPPPP", local=False)
    summary = summarize(make_suite(10), results, ["local:q8", "local:q4", "openai:x"])
    pairs = [(c.a, c.b) for c in summary.comparisons]
    assert pairs == [("local:q8", "local:q4"), ("local:q8", "openai:x"),
                     ("local:q4", "openai:x")]
    first = summary.comparisons[0]
    assert first.diff.diff == pytest.approx(-0.3) and first.diff.n == 10
    assert (first.diff.a_only, first.diff.b_only) == (3, 0)
    assert first.text.startswith("local:q4 passes 30.0 points fewer than local:q8 on 10 shared "
                                 "cases (95% CI ")
    assert first.text.endswith("not distinguishable from noise")  # 3 discordant pairs: p 0.25
    assert "points more than local:q4" in summary.comparisons[2].text
    document = summary.to_dict()
    assert document["comparisons"][0]["text"] == first.text
    assert document["comparisons"][0]["significant"] is False


def test_a_real_difference_is_called_one() -> None:
    results = outcomes("a", "F" * 20 + "P" * 20) + outcomes("b", "P" * 40)
    comparison = summarize(make_suite(40), results, ["a", "b"]).comparisons[0]
    assert comparison.diff.significant and comparison.diff.p_value < 1e-5
    assert "b passes 50.0 points more than a on 40 shared cases" in comparison.text
    assert "a real difference (McNemar p = " in comparison.text


def test_comparisons_use_shared_decided_cases_and_majorities() -> None:
    # a errors on case 3; with 3 repeats case 1 passes for b by 2 of 3
    results = outcomes("a", "PFE", repeat=0) + outcomes("a", "PFE", repeat=1)
    results += [make_result(1, "b", r != 2, repeat=r) for r in range(3)]
    results += [make_result(2, "b", r == 0, repeat=r) for r in range(3)]
    results += [make_result(3, "b", True, repeat=r) for r in range(3)]
    comparison = summarize(make_suite(3), results, ["a", "b"]).comparisons[0]
    assert comparison.diff.n == 2  # case 3 errored for a
    assert comparison.diff.diff == 0 and "passes as often as a on 2 shared cases" in (
        comparison.text)


def test_many_targets_are_compared_with_the_best() -> None:
    names = [f"t{i}" for i in range(MAX_ALL_PAIRS + 2)]
    results = []
    for i, name in enumerate(names):
        results += outcomes(name, "P" * i + "F" * (10 - i))
    summary = summarize(make_suite(10), results, names)
    best = names[-1]
    assert len(summary.comparisons) == len(names) - 1
    assert all(c.a == best for c in summary.comparisons)


def test_loopback_servers_stay_on_the_machine() -> None:
    assert stays_on_machine("this machine")
    assert stays_on_machine("127.0.0.1:8080 (this machine)")
    assert not stays_on_machine("api.openai.com") and not stays_on_machine(None)


# -- the decision --------------------------------------------------------------------------------
SETTINGS = AppSettings(electricity_usd_per_kwh=0.30)


def local_results(name: str, pattern: str, **figures: Any) -> list[CaseResult]:
    """A local model: 100 output tokens in 2 s per answer, 60 J (30 W)."""
    defaults = {"completion_tokens": 100, "prompt_tokens": 50, "total_ms": 2000.0,
                "energy_j": 60.0, "cost_usd": 60.0 / 3.6e6 * 0.30}
    return outcomes(name, pattern, **{**defaults, **figures})


def cloud_results(name: str, pattern: str, cost: float = 0.01) -> list[CaseResult]:
    return outcomes(name, pattern, local=False, completion_tokens=100, prompt_tokens=50,
                    total_ms=800.0, cost_usd=cost)


def test_the_cheapest_target_meeting_the_bar_is_chosen() -> None:
    results = local_results("local:q4", "PPPPPPPPFF")  # 80%
    results += cloud_results("openai:big", "PPPPPPPPPP", cost=0.02)  # 100%
    results += cloud_results("openai:small", "PPPPPPPPPF", cost=0.005)  # 90%
    summary = summarize(make_suite(10), results, ["local:q4", "openai:big", "openai:small"])
    decision = decide(summary, bar=0.85, monthly_requests=100_000, private=False,
                      settings=SETTINGS)
    assert decision.choice == "openai:small"
    small = decision.target("openai:small")
    assert small.monthly_usd == pytest.approx(500.0) and small.meets_bar
    assert not small.surely_meets_bar  # 9/10: the interval's lower end is far below 85%
    assert not decision.target("local:q4").meets_bar
    lines = decision.lines()
    assert lines[0] == ("Cheapest target that meets the 85.0% bar: openai:small (90.0%; $500 a "
                        "month at 100k requests).")
    assert any("lower end of its 95% interval" in line and "below the bar" in line
               for line in lines)
    # the bar lowered to 80%: the local model costs energy only and wins
    cheaper = decide(summary, bar=0.8, monthly_requests=100_000, private=False,
                     settings=SETTINGS)
    assert cheaper.choice == "local:q4"
    local = cheaper.target("local:q4")
    # 30 W for 2 s an answer = 60 J = 1/60,000 kWh x $0.30 = $0.000005 per answer
    assert local.usd_per_request == pytest.approx(60 / 3.6e6 * 0.30)
    assert local.monthly_usd == pytest.approx(100_000 * 60 / 3.6e6 * 0.30)
    assert local.watts == pytest.approx(30.0)
    assert local.capacity_per_month == pytest.approx(720 * 3600 / 2)
    json.dumps(cheaper.to_dict())


def test_break_even_of_a_local_target() -> None:
    results = local_results("local:q8", "PPPPPPPPPP") + cloud_results("openai:x", "PPPPPPPPPP")
    summary = summarize(make_suite(10), results, ["local:q8", "openai:x"])
    decision = decide(summary, bar=0.8, monthly_requests=10_000, private=False,
                      settings=SETTINGS)
    local = decision.target("local:q8")
    assert decision.reference_api == "openai:x" and local.break_even_against == "openai:x"
    # kept on all month: 30 W x 720 h = 21.6 kWh x $0.30 = $6.48; at $0.01 a request: 648
    assert local.break_even_requests == pytest.approx(648.0)
    assert local.break_even_reachable
    assert any("beats openai:x from 648 requests a month" in line for line in decision.lines())


def test_private_leaves_out_targets_whose_answers_left_the_machine() -> None:
    results = local_results("local:q4", "PPPPPPPFFF")  # 70%
    results += cloud_results("openai:x", "PPPPPPPPPP", cost=0.0001)
    summary = summarize(make_suite(10), results, ["local:q4", "openai:x"])
    open_run = decide(summary, bar=0.6, monthly_requests=1000, private=False, settings=SETTINGS)
    assert open_run.target("openai:x").excluded is None
    private = decide(summary, bar=0.6, monthly_requests=1000, private=True, settings=SETTINGS)
    cloud = private.target("openai:x")
    assert cloud.excluded and CLOUD_HOST in cloud.excluded and cloud.left_machine
    assert private.choice == "local:q4"
    assert any(line.startswith("Private: left out") and "openai:x" in line
               for line in private.lines())
    nobody = decide(summary, bar=0.9, monthly_requests=1000, private=True, settings=SETTINGS)
    assert nobody.choice is None
    assert nobody.lines()[0] == "No target meets the 90.0% bar; the best is local:q4 at 70.0%."


def test_nobody_meets_the_bar_and_none_is_invented() -> None:
    results = local_results("local:a", "PPFFF") + cloud_results("openai:b", "PPPFF")
    summary = summarize(make_suite(5), results, ["local:a", "openai:b"])
    decision = decide(summary, bar=0.9, monthly_requests=1000, private=False, settings=SETTINGS)
    assert decision.choice is None and decision.hybrid is None
    assert decision.to_dict()["choice"] is None
    assert decision.lines()[0] == "No target meets the 90.0% bar; the best is openai:b at 60.0%."
    empty = decide(summarize(make_suite(5), [], ["local:a"]), bar=0.5, monthly_requests=10,
                   private=False)
    assert empty.choice is None and empty.targets == []
    assert empty.lines()[0].startswith("No target has a graded answer")


def test_a_hybrid_split_by_tag() -> None:
    # cases 1-4 "pii", 5-8 "code", 9-10 untagged; local passes pii and fails code, the cloud
    # the other way round
    suite = make_suite(10, {**{i: ("pii",) for i in range(1, 5)},
                            **{i: ("code",) for i in range(5, 9)}})
    results = local_results("local:q4", "PPPPFFFFPP")
    results += cloud_results("openai:x", "FFFFPPPPPP")
    summary = summarize(suite, results, ["local:q4", "openai:x"])
    decision = decide(summary, bar=0.9, monthly_requests=1000, private=False, settings=SETTINGS)
    assert decision.choice is None  # 60% each overall
    assert decision.hybrid is not None
    rules = decision.hybrid["rules"]
    # costliest target first: a request tagged both goes to the cloud
    assert rules == [{"match": {"tag": "code"}, "target": "openai:x"},
                     {"match": {"tag": "pii"}, "target": "local:q4"}]
    assert decision.hybrid["default"] is None
    assert route(decision.hybrid, ["pii"]) == "local:q4"
    assert route(decision.hybrid, ["pii", "code"]) == "openai:x"
    assert route(decision.hybrid, []) is None
    assert decision.hybrid_monthly_usd is None  # untagged cases have no target
    json.loads(json.dumps(decision.to_dict()))
    assert any(line.startswith("No single target meets the bar on every tag; a split by tag: "
                               "tag code -> openai:x; tag pii -> local:q4")
               for line in decision.lines())


def test_a_hybrid_with_a_default_and_its_monthly_cost() -> None:
    suite = make_suite(10, {i: ("pii",) for i in range(1, 5)})
    results = local_results("local:q4", "PPPPFFFFFF")  # pii 100%, overall 40%
    results += cloud_results("openai:x", "FFFPPPPPPP", cost=0.01)  # pii 25%, overall 70%
    summary = summarize(suite, results, ["local:q4", "openai:x"])
    decision = decide(summary, bar=0.7, monthly_requests=1000, private=False, settings=SETTINGS)
    assert decision.choice == "openai:x"
    assert decision.target("openai:x").below_bar_tags == ["pii"]
    assert decision.hybrid == {"rules": [{"match": {"tag": "pii"}, "target": "local:q4"}],
                               "default": "openai:x"}
    local = decision.target("local:q4").usd_per_request
    assert local is not None
    # 4 of 10 cases go local, 6 to the cloud
    assert decision.hybrid_monthly_usd == pytest.approx(1000 * (0.4 * local + 0.6 * 0.01))


def test_no_hybrid_when_one_target_meets_every_tag() -> None:
    suite = make_suite(4, {1: ("pii",), 2: ("code",)})
    results = local_results("local:q4", "PPPP") + cloud_results("openai:x", "PFPP")
    decision = decide(summarize(suite, results, ["local:q4", "openai:x"]), bar=0.7,
                      monthly_requests=10, private=False, settings=SETTINGS)
    assert decision.choice == "local:q4" and decision.hybrid is None


def test_a_slow_local_model_that_cannot_keep_up_is_left_out() -> None:
    # 30 s an answer: one machine answers 86,400 requests in 720 h
    results = local_results("local:big", "PPPP", total_ms=30_000.0, energy_j=900.0)
    results += cloud_results("openai:x", "PPPP")
    summary = summarize(make_suite(4), results, ["local:big", "openai:x"])
    decision = decide(summary, bar=0.5, monthly_requests=200_000, private=False,
                      settings=SETTINGS)
    big = decision.target("local:big")
    assert big.excluded and big.excluded.startswith("cannot keep up")
    assert big.capacity_per_month == pytest.approx(86_400)
    assert decision.choice == "openai:x"
    fits = decide(summary, bar=0.5, monthly_requests=50_000, private=False, settings=SETTINGS)
    assert fits.choice == "local:big"


def test_an_unpriced_target_ranks_after_priced_ones() -> None:
    results = outcomes("openai:unknown", "PPPP", local=False, cost_note="no price")
    results += cloud_results("openai:x", "PPPF", cost=1.0)
    summary = summarize(make_suite(4), results, ["openai:unknown", "openai:x"])
    decision = decide(summary, bar=0.7, monthly_requests=10, private=False)
    assert decision.choice == "openai:x"
    unknown = decision.target("openai:unknown")
    assert unknown.monthly_usd is None and unknown.basis == "no price"


def test_local_figures_that_were_not_measured() -> None:
    results = outcomes("local:est", "PP", completion_tokens=100, total_ms=1000.0)  # no energy
    results += outcomes("local:errors", "EE") + outcomes("local:bare", "PP")
    summary = summarize(make_suite(2), results, ["local:est", "local:errors", "local:bare"])
    decision = decide(summary, bar=0.5, monthly_requests=1000, private=True)
    estimated = decision.target("local:est")
    assert estimated.watts and estimated.watts > 0 and "estimated" in estimated.basis
    assert estimated.monthly_usd is not None and estimated.monthly_usd > 0
    errors = decision.target("local:errors")
    assert errors.pass_rate is None and not errors.meets_bar
    assert any(line.startswith("local:errors: no answer was graded") for line in decision.lines())
    bare = decision.target("local:bare")
    assert bare.monthly_usd is None and bare.basis == "no measured speed or energy: not priced"
    assert decision.choice == "local:est"  # a known cost ranks before an unknown one
