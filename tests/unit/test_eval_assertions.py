"""Assertions: every type passing and failing, negation, thresholds, weights and the case's
outcome, templated values, JSON Schemas, validation of bad values (with the line), the dispatch
of model-graded types to a grader, and hostile answers (control characters, 1 MB texts)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from workbench.evals import assertions
from workbench.evals.assertions import (
    KNOWN_TYPES,
    MODEL_GRADED,
    NO_JUDGE,
    Grader,
    grade,
    levenshtein,
    outcome,
    similarity,
    validate,
)
from workbench.evals.model import Assertion, Case, ChatTemplate, SuiteError, Verdict
from workbench.providers.base import AnswerResult

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _answer(text: str = "", **fields: Any) -> AnswerResult:
    return AnswerResult(target="local:m.gguf", label="m", provider="local", model="m",
                        destination="this machine", text=text, **fields)


def _case(*items: Assertion, vars: dict[str, Any] | None = None,
          threshold: float | None = None) -> Case:
    return Case(id="1", index=1, prompt=ChatTemplate("p", (("user", "{{q}}"),)),
                vars=vars or {}, assertions=items, threshold=threshold)


def _one(assertion: Assertion, text: str, *, vars: dict[str, Any] | None = None,
         grader: Grader | None = None, **fields: Any) -> Verdict:
    verdicts = grade(_case(assertion, vars=vars), _answer(text, **fields), grader=grader)
    assert len(verdicts) == 1
    return verdicts[0]


def _not(assertion: Assertion) -> Assertion:
    return Assertion(assertion.type, negate=True, value=assertion.value,
                     threshold=assertion.threshold, weight=assertion.weight,
                     metric=assertion.metric, line=assertion.line)


def test_the_known_types() -> None:
    assert {
        "equals", "contains", "icontains", "contains-any", "icontains-any", "contains-all",
        "icontains-all", "starts-with", "regex", "is-json", "contains-json", "levenshtein",
        "similar", "word-count", "length", "cost", "latency", "finish-reason", "llm-rubric",
        "factuality", "model-graded-closedqa"} == KNOWN_TYPES
    assert {"llm-rubric", "factuality", "model-graded-closedqa"} == MODEL_GRADED
    assert MODEL_GRADED < KNOWN_TYPES


# (assertion, an answer it passes, an answer it fails)
_CASES: list[tuple[Assertion, str, str]] = [
    (Assertion("equals", value="Paris"), "Paris", "paris"),
    (Assertion("equals", value={"a": 1, "b": [True, None]}), '{"b": [true, null], "a": 1.0}',
     '{"a": 1, "b": [1, null]}'),
    (Assertion("equals", value=42), " 42\n", "forty-two"),
    (Assertion("contains", value="Paris"), "It is Paris.", "It is Lyon."),
    (Assertion("contains", value=3), "1 2 3", "1 2"),
    (Assertion("icontains", value="PARIS"), "it is paris", "it is lyon"),
    (Assertion("contains-any", value=["Lyon", "Paris"]), "Paris!", "Nice!"),
    (Assertion("contains-any", value='Lyon, "Paris, France"'), "Paris, France", "Paris"),
    (Assertion("icontains-any", value=["LYON", "PARIS"]), "paris", "nice"),
    (Assertion("contains-all", value=["a", "b"]), "a and b", "a only"),
    (Assertion("contains-all", value="red, green"), "red green", "red"),
    (Assertion("icontains-all", value=["A", "B"]), "a b", "a"),
    (Assertion("starts-with", value="Yes"), "Yes, it is.", "No. Yes."),
    (Assertion("regex", value=r"\d{3}-\d{4}"), "call 555-1234 now", "call 5551234"),
    (Assertion("is-json"), ' {"a": 1}\n', '{"a": 1} trailing'),
    (Assertion("is-json", value={"type": "object", "required": ["age"],
                                 "properties": {"age": {"type": "integer"}}}),
     '{"age": 3}', '{"age": "3"}'),
    (Assertion("contains-json"), 'Sure: {"a": [1, 2]} done', "Sure: {a: 1}"),
    (Assertion("contains-json"), "the list: [1, 2, 3].", "the list: [1, 2,"),
    (Assertion("contains-json", value="type: array\nminItems: 2"), "x [1, 2] y", "x [1] y"),
    (Assertion("levenshtein", value="The capital is Paris."), "The capitol is Paris",
     "Paris is the capital."),
    (Assertion("similar", value="the capital of France is Paris"),
     "The capital of France is Paris.", "Lyon has good food"),
    (Assertion("word-count", value=3), "one two  three", "one two three four"),
    (Assertion("word-count", value={"min": 2, "max": 3}), "one two", "one"),
    (Assertion("word-count", value={"min": 2}), "one two three", "one"),
    (Assertion("length", value={"max": 5}), "12345", "123456"),
    (Assertion("length", value=2), "\u00e9\u00e9", "abc"),
]


@pytest.mark.parametrize("assertion, good, bad", _CASES,
                         ids=[f"{a.type}-{i}" for i, (a, _, _) in enumerate(_CASES)])
def test_each_type_passes_and_fails(assertion: Assertion, good: str, bad: str) -> None:
    validate(assertion)
    passed = _one(assertion, good)
    failed = _one(assertion, bad)
    assert passed.passed and passed.error is None, passed.reason
    assert not failed.passed and failed.error is None, failed.reason
    assert passed.score > failed.score
    if assertion.type != "similar":
        assert (passed.score, failed.score) == (1.0, 0.0)
    assert passed.type == failed.type == assertion.type
    for verdict in (passed, failed):
        assert verdict.reason.startswith("expected the answer to ")


@pytest.mark.parametrize("assertion, good, bad", _CASES,
                         ids=[f"not-{a.type}-{i}" for i, (a, _, _) in enumerate(_CASES)])
def test_not_reverses_pass_and_score(assertion: Assertion, good: str, bad: str) -> None:
    negated = _not(assertion)
    plain_good, plain_bad = _one(assertion, good), _one(assertion, bad)
    on_good, on_bad = _one(negated, good), _one(negated, bad)
    assert not on_good.passed and on_bad.passed
    assert on_good.score == pytest.approx(1 - plain_good.score)
    assert on_bad.score == pytest.approx(1 - plain_bad.score)
    assert on_good.type == f"not-{assertion.type}"
    assert "NOT" in on_good.reason and f"not-{assertion.type}" in on_good.reason


def test_reasons_say_what_was_expected_and_found() -> None:
    assert _one(Assertion("contains", value="Paris"), "It is Lyon.").reason == (
        "expected the answer to contain 'Paris': not found")
    assert _one(Assertion("contains-all", value=["a", "b", "c"]), "a").reason.endswith(
        "missing '[\"b\", \"c\"]'")
    assert "Levenshtein distance 1" in _one(Assertion("levenshtein", value="abc"), "abd").reason
    assert "it has 4" in _one(Assertion("word-count", value=3), "a b c d").reason
    assert "matched '555' at character 6" in _one(Assertion("regex", value=r"\d+"),
                                                  "call 555").reason


def test_reasons_never_hold_raw_control_characters_and_stay_short() -> None:
    hostile = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202egnp.exe\r\n" * 1000
    for assertion in (Assertion("equals", value="x\x1b[31m"), Assertion("starts-with", value="?"),
                      Assertion("regex", value=r"\x1b\]52"), Assertion("is-json"),
                      Assertion("contains-any", value=["\x07", "zz"]),
                      Assertion("is-json", value={"type": "integer"})):
        verdict = _one(assertion, hostile)
        assert not _CONTROL.search(verdict.reason), verdict.reason
        assert len(verdict.reason) < 2_100
    verdict = _one(Assertion("equals", value="x"), hostile)
    assert "\\x1b" in verdict.reason and "(+" in verdict.reason  # shown escaped and cut


def test_equals_with_a_value_that_is_not_a_string_compares_json() -> None:
    assert not _one(Assertion("equals", value=True), "1").passed  # true is not 1
    assert _one(Assertion("equals", value=True), "true").passed
    assert _one(Assertion("equals", value=[1, 2]), "[1.0, 2]").passed
    verdict = _one(Assertion("equals", value={"a": 1}), "not json")
    assert not verdict.passed and "not JSON" in verdict.reason
    assert _one(_not(Assertion("equals", value={"a": 1})), "not json").passed


def test_is_json_is_strict_and_points_at_contains_json_for_a_fenced_block() -> None:
    fenced = '```json\n{"a": 1}\n```'
    verdict = _one(Assertion("is-json"), fenced)
    assert not verdict.passed and "contains-json accepts that" in verdict.reason
    assert _one(Assertion("contains-json"), fenced).passed
    assert not _one(Assertion("is-json"), "NaN").passed  # JSON has no NaN
    assert not _one(Assertion("is-json"), '{"a": Infinity}').passed
    assert not _one(Assertion("is-json"), "").passed


def test_schema_values_and_their_messages() -> None:
    schema = {"type": "object", "properties": {"user": {"type": "object", "properties": {
        "age": {"type": "integer"}}}}}
    verdict = _one(Assertion("is-json", value=schema), '{"user": {"age": "three"}}')
    assert not verdict.passed and "$.user.age" in verdict.reason
    assert "is not of type 'integer'" in verdict.reason
    as_json_text = '{"type": "array", "items": {"type": "string"}}'
    assert _one(Assertion("is-json", value=as_json_text), '["a"]').passed
    assert not _one(Assertion("is-json", value=as_json_text), "[1]").passed
    as_yaml = "type: object\nrequired: [name]"
    assert _one(Assertion("contains-json", value=as_yaml), 'x {"name": 1} y').passed
    # with a schema, any embedded JSON that matches passes (promptfoo)
    two = 'first {"other": 1} then {"name": "n"}'
    assert _one(Assertion("contains-json", value=as_yaml), two).passed
    failed = _one(Assertion("contains-json", value=as_yaml), 'a {"x": 1} b {"y": 2}')
    assert not failed.passed and "'name' is a required property" in failed.reason
    assert "2 JSON values found" in failed.reason


def test_an_invalid_schema_at_grading_time_is_an_error_not_a_fail() -> None:
    verdict = _one(Assertion("is-json", value={"type": 12}), "{}")
    assert verdict.error is not None and "invalid JSON Schema" in verdict.error
    assert outcome([verdict], _case()) == (None, None)


def test_templated_values_use_the_case_vars() -> None:
    vars = {"city": "Paris", "cities": ["Lyon", "Nice"], "n": 2}
    assert _one(Assertion("contains", value="{{ city }}"), "in Paris", vars=vars).passed
    assert not _one(Assertion("contains", value="{{city}}"), "{{city}}", vars=vars).passed
    assert _one(Assertion("contains-any", value=["{{city}}", "Rome"]), "Paris", vars=vars).passed
    # a var that holds a list, rendered into a contains-all value
    assert _one(Assertion("contains-all", value="{{cities}}"), "Nice, Lyon", vars=vars).passed
    assert not _one(Assertion("contains-all", value="{{cities}}"), "Lyon", vars=vars).passed
    assert _one(Assertion("regex", value="^{{city}} x{{ '{' }}{{n}}{{ '}' }}$"), "Paris xx",
                vars=vars).passed
    missing = _one(Assertion("contains", value="{{country}}"), "France", vars=vars)
    assert missing.error is not None and "country" in missing.error


def test_levenshtein_distance() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("flaw", "lawn") == 2
    assert levenshtein("", "abc") == levenshtein("abc", "") == 3
    assert levenshtein("same", "same") == 0
    assert levenshtein("kitten", "sitting", 1) == 2  # over the limit: limit + 1
    assert levenshtein("a" * 50 + "x" + "b" * 50, "a" * 50 + "b" * 50, 5) == 1
    assert levenshtein("abcdef", "azcdxf", 5) == 2
    assert levenshtein("ab", "ba") == 2


def test_levenshtein_threshold() -> None:
    assert not _one(Assertion("levenshtein", value="abc", threshold=0), "abd").passed
    assert _one(Assertion("levenshtein", value="abc", threshold=0), "abc").passed
    assert _one(Assertion("levenshtein", value="abc"), "abcdefgh").passed  # 5 edits: default
    assert not _one(Assertion("levenshtein", value="abc"), "abcdefghi").passed
    assert _one(Assertion("levenshtein", value="abc", threshold=6), "abcdefghi").passed


def test_similar_is_a_lexical_cosine() -> None:
    assert similarity("The cat sat", "the CAT sat!") == pytest.approx(1.0)
    assert similarity("a b", "c d") == 0.0
    assert similarity("", "") == 1.0 and similarity("", "word") == 0.0
    # unigrams a, b, c, d + bigrams "a b", "b c", "c d" vs a, b, c + "a b", "b c"
    assert similarity("a b c d", "a b c") == pytest.approx(5 / ((7 ** 0.5) * (5 ** 0.5)))
    verdict = _one(Assertion("similar", value="a b c"), "a b c d")
    assert verdict.score == pytest.approx(5 / 35 ** 0.5)
    assert "cosine similarity of word and word-pair counts: 0.85 (threshold 0.75" in (
        verdict.reason)
    assert "lexical, not semantic" in verdict.reason
    assert not _one(Assertion("similar", value="a b c", threshold=0.9), "a b c d").passed
    listed = Assertion("similar", value=["nothing alike", "a b c"])
    assert _one(listed, "a b c").passed
    assert not _one(_not(listed), "a b c").passed  # not-similar: unlike every value
    assert _one(_not(listed), "x y z").passed


def test_cost_latency_and_finish_reason() -> None:
    cost = Assertion("cost", threshold=0.01)
    assert _one(cost, "x", cost_usd=0.002).passed
    assert not _one(cost, "x", cost_usd=0.02).passed
    assert _one(_not(cost), "x", cost_usd=0.02).passed
    unknown = _one(cost, "x")
    assert unknown.error is not None and "cost unknown" in unknown.error
    assert _one(_not(cost), "x").error is not None  # an error is not reversed
    latency = Assertion("latency", threshold=500)
    assert _one(latency, "x", total_ms=499.0).passed
    assert not _one(latency, "x", total_ms=501.0).passed
    assert "latency unknown" in (_one(latency, "x").error or "")
    stop = Assertion("finish-reason", value="stop")
    assert _one(stop, "x", finish_reason="STOP").passed
    assert not _one(stop, "x", finish_reason="length").passed
    assert _one(_not(stop), "x", finish_reason="length").passed
    assert _one(stop, "x").error is not None


def test_word_count_and_length_bounds() -> None:
    between = Assertion("word-count", value={"min": 2, "max": 3})
    assert [_one(between, t).passed for t in ("a", "a b", "a b c", "a b c d")] == [
        False, True, True, False]
    assert _one(Assertion("length", value={"min": 3}), "\n\tx").passed  # characters, any kind
    assert not _one(Assertion("length", value={"min": 3}), "xy").passed
    assert _one(Assertion("word-count", value="2"), "a b").passed  # a number as text


def test_an_errored_answer_gets_no_verdicts() -> None:
    case = _case(Assertion("contains", value="x"))
    assert grade(case, _answer("x", error="HTTP 500", error_kind="server"), grader=None) == []


def test_verdicts_keep_the_order_type_weight_and_metric() -> None:
    case = _case(Assertion("contains", value="a", weight=2.0, metric="accuracy"),
                 Assertion("contains", negate=True, value="b", weight=0.5),
                 Assertion("length", value=1, metric="brevity"))
    verdicts = grade(case, _answer("a"), grader=None)
    assert [v.type for v in verdicts] == ["contains", "not-contains", "length"]
    assert [v.weight for v in verdicts] == [2.0, 0.5, 1.0]
    assert [v.metric for v in verdicts] == ["accuracy", None, "brevity"]
    assert all(isinstance(Verdict.from_dict(v.to_dict()), Verdict) for v in verdicts)


def _verdict(passed: bool, score: float, weight: float = 1.0, error: str | None = None) -> Verdict:
    return Verdict(type="contains", passed=passed, score=score, reason="r", weight=weight,
                   error=error)


def test_outcome_weighted_score_and_pass() -> None:
    assert outcome([], _case()) == (True, 1.0)
    assert outcome([_verdict(True, 1.0), _verdict(True, 1.0)], _case()) == (True, 1.0)
    passed, score = outcome([_verdict(True, 1.0, 3.0), _verdict(False, 0.0, 1.0)], _case())
    assert passed is False and score == pytest.approx(0.75)
    passed, score = outcome([_verdict(True, 0.8), _verdict(True, 0.4, 3.0)], _case())
    assert passed is True and score == pytest.approx((0.8 + 1.2) / 4)


def test_outcome_weight_zero_counts_for_pass_not_for_score() -> None:
    passed, score = outcome([_verdict(True, 1.0), _verdict(False, 0.0, weight=0.0)], _case())
    assert passed is False and score == 1.0
    passed, score = outcome([_verdict(True, 1.0, 0.0), _verdict(False, 0.0, 0.0)], _case())
    assert passed is False and score == 0.5  # every weight 0: the plain mean


def test_outcome_test_level_threshold_overrides_single_failures() -> None:
    verdicts = [_verdict(True, 1.0), _verdict(True, 1.0), _verdict(False, 0.0)]
    assert outcome(verdicts, _case(threshold=0.6)) == (True, pytest.approx(2 / 3))
    assert outcome(verdicts, _case(threshold=0.7))[0] is False
    passing = [_verdict(True, 0.5)]
    assert outcome(passing, _case(threshold=0.6)) == (False, 0.5)  # a pass under the bar fails
    exact = [_verdict(True, 0.7), _verdict(True, 0.1), _verdict(True, 0.1)]
    assert outcome(exact, _case(threshold=0.3))[0] is True  # 0.3 despite float rounding


def test_outcome_with_an_error_is_undecided() -> None:
    verdicts = [_verdict(True, 1.0), _verdict(False, 0.0, error="cost unknown")]
    assert outcome(verdicts, _case()) == (None, None)
    assert outcome(verdicts, _case(threshold=0.1)) == (None, None)


def test_grade_then_outcome_end_to_end() -> None:
    case = _case(Assertion("icontains", value="{{answer}}", weight=2),
                 Assertion("word-count", value=5),
                 Assertion("contains", negate=True, value="Sorry", weight=0),
                 vars={"answer": "paris"}, threshold=0.6)
    verdicts = grade(case, _answer("Sorry, it is Paris, the capital of France."), grader=None)
    assert [v.passed for v in verdicts] == [True, False, False]
    assert outcome(verdicts, case) == (True, pytest.approx(2 / 3))


class StubGrader:
    """A test double of the judge at the narrowest boundary: the Grader protocol."""

    def __init__(self, verdict: Verdict | None = None, fail: Exception | None = None) -> None:
        self.verdict = verdict or Verdict(type="x", passed=True, score=0.9, reason="it fits",
                                          judge={"tokens": 12})
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    def grade(self, assertion: Assertion, *, output: str, question: str,
              vars: dict[str, Any]) -> Verdict:
        self.calls.append({"assertion": assertion, "output": output, "question": question,
                           "vars": vars})
        if self.fail is not None:
            raise self.fail
        return self.verdict


@pytest.mark.parametrize("kind", sorted(MODEL_GRADED))
def test_model_graded_types_go_to_the_grader(kind: str) -> None:
    stub = StubGrader()
    grader: Grader = stub  # the stub implements the protocol
    case = _case(Assertion(kind, value="mentions {{city}}", weight=2.0, metric="quality",
                           line=9), vars={"city": "Paris"})
    verdicts = grade(case, _answer("Paris."), grader=grader, question="Capital of France?")
    assert len(stub.calls) == 1
    call = stub.calls[0]
    assert call["assertion"].value == "mentions Paris" and call["assertion"].type == kind
    assert call["assertion"].negate is False and call["assertion"].line == 9
    assert call["output"] == "Paris." and call["question"] == "Capital of France?"
    assert call["vars"] == {"city": "Paris"}
    [verdict] = verdicts
    assert verdict.passed and verdict.score == 0.9 and verdict.error is None
    assert (verdict.type, verdict.weight, verdict.metric) == (kind, 2.0, "quality")
    assert verdict.judge == {"tokens": 12} and "it fits" in verdict.reason


def test_model_graded_negation_and_threshold() -> None:
    rubric = Assertion("llm-rubric", value="polite")
    negated = _one(_not(rubric), "x", grader=StubGrader())
    assert not negated.passed and negated.score == pytest.approx(0.1)
    assert negated.type == "not-llm-rubric" and "reversed" in negated.reason
    high = Assertion("llm-rubric", value="polite", threshold=0.95)
    under = _one(high, "x", grader=StubGrader())
    assert not under.passed and "under the threshold 0.95" in under.reason
    assert _one(Assertion("llm-rubric", value="polite", threshold=0.9), "x",
                grader=StubGrader()).passed


def test_no_judge_is_an_error_never_a_silent_default() -> None:
    verdict = _one(Assertion("factuality", value="Paris is the capital"), "Paris")
    assert verdict.error == NO_JUDGE and not verdict.passed
    assert "--judge" in verdict.reason
    # deterministic assertions in the same case still grade
    case = _case(Assertion("contains", value="P"), Assertion("llm-rubric", value="r"))
    first, second = grade(case, _answer("Paris"), grader=None)
    assert first.passed and first.error is None and second.error == NO_JUDGE


def test_a_grader_that_fails_gives_an_error_verdict() -> None:
    boom = StubGrader(fail=ConnectionError("judge unreachable \x1b[2J"))
    verdict = _one(Assertion("llm-rubric", value="r"), "x", grader=boom)
    assert verdict.error is not None and "judge unreachable" in verdict.error
    assert not _CONTROL.search(verdict.error)
    errored = StubGrader(Verdict(type="x", passed=False, score=0.0, reason="",
                                 error="the judge's answer did not parse", judge={"ms": 5}))
    verdict = _one(_not(Assertion("llm-rubric", value="r")), "x", grader=errored)
    assert verdict.error == "the judge's answer did not parse" and not verdict.passed
    assert verdict.judge == {"ms": 5} and verdict.type == "not-llm-rubric"
    nan = StubGrader(Verdict(type="x", passed=True, score=float("nan"), reason="?"))
    assert _one(Assertion("llm-rubric", value="r"), "x", grader=nan).error is not None


def test_an_unvalidated_bad_value_is_an_error_verdict() -> None:
    assert _one(Assertion("regex", value="("), "x").error is not None
    assert _one(Assertion("regex", value="{{p}}"), "x", vars={"p": "[a-"}).error is not None
    assert _one(Assertion("contains-any", value={"a": 1}), "x").error is not None
    assert _one(Assertion("cost"), "x", cost_usd=0.0).error is not None
    assert _one(Assertion("no-such-type"), "x").error is not None


# --- validate -------------------------------------------------------------------------------

_GOOD = [
    Assertion("equals", value=""), Assertion("equals", value={"a": 1}),
    Assertion("contains", value=7), Assertion("contains-any", value="a, b"),
    Assertion("icontains-all", value=["a", 1]), Assertion("regex", value=r"^\w+$"),
    Assertion("is-json"), Assertion("is-json", value="type: object"),
    Assertion("contains-json", value={"type": "array"}),
    Assertion("levenshtein", value="x", threshold=0),
    Assertion("similar", value=["a", "b"], threshold=1), Assertion("word-count", value=10),
    Assertion("length", value={"min": 1, "max": 9}), Assertion("cost", threshold=0.001),
    Assertion("latency", threshold=2000), Assertion("finish-reason", value="stop"),
    Assertion("llm-rubric", value="is polite", threshold=0.5, weight=0),
    Assertion("factuality", value="{{expected}}"),
    Assertion("model-graded-closedqa", negate=True, value="answers the question"),
]


@pytest.mark.parametrize("assertion", _GOOD, ids=[a.written_type for a in _GOOD])
def test_validate_accepts_good_values(assertion: Assertion) -> None:
    validate(assertion)


_BAD: list[tuple[Assertion, str]] = [
    (Assertion("equals"), "needs a value"),
    (Assertion("contains"), "needs a text value"),
    (Assertion("icontains", value=["a"]), "must be text"),
    (Assertion("starts-with", value={"a": 1}), "must be text"),
    (Assertion("contains-any", value={"a": "b"}), "list of strings"),
    (Assertion("contains-all"), "needs a list of strings"),
    (Assertion("contains-any", value=" , "), "at least one"),
    (Assertion("icontains-any", value=[["nested"]]), "list of strings"),
    (Assertion("regex", value="(unclosed"), "does not compile: missing )"),
    (Assertion("regex", value=5), "must be a string"),
    (Assertion("regex"), "needs a regular expression"),
    (Assertion("is-json", value={"type": "no-such-type"}), "invalid JSON Schema"),
    (Assertion("contains-json", value="{type: [1, 2"), "neither JSON nor YAML"),
    (Assertion("is-json", value="- a list"), "a JSON Schema is an object"),
    (Assertion("contains", value="x", threshold="high"), "threshold must be a number"),
    (Assertion("similar", value="x", threshold=float("nan")), "threshold must be a number"),
    (Assertion("contains", value="x", weight=-1), "weight must be a number >= 0"),
    (Assertion("word-count", value="many"), "a number (the most) or {min, max}"),
    (Assertion("length", value={"least": 3}), "a number (the most) or {min, max}"),
    (Assertion("length", value={"min": 5, "max": 2}), "not a usable range"),
    (Assertion("word-count"), "needs a value"),
    (Assertion("cost"), "needs a threshold (the most USD)"),
    (Assertion("latency"), "needs a threshold (the most milliseconds)"),
    (Assertion("cost", threshold=-1), ">= 0"),
    (Assertion("similar", value="x", threshold=0), "threshold must be in (0, 1]"),
    (Assertion("similar", value="x", threshold=1.5), "threshold must be in (0, 1]"),
    (Assertion("similar"), "needs the expected text"),
    (Assertion("similar", value=[]), "a string or a list of strings"),
    (Assertion("levenshtein", value=["x"]), "must be text"),
    (Assertion("levenshtein", value="x", threshold=-2), "must be >= 0"),
    (Assertion("finish-reason"), "needs a text value"),
    (Assertion("llm-rubric"), "needs a text value"),
    (Assertion("factuality", value="  "), "needs a value"),
    (Assertion("javascript", value="output.length > 3"), "unknown assertion type"),
]


@pytest.mark.parametrize("assertion, words", _BAD,
                         ids=[f"{a.written_type}-{i}" for i, (a, _) in enumerate(_BAD)])
def test_validate_rejects_bad_values_with_the_line(assertion: Assertion, words: str) -> None:
    placed = Assertion(assertion.type, negate=assertion.negate, value=assertion.value,
                       threshold=assertion.threshold, weight=assertion.weight, line=17)
    with pytest.raises(SuiteError) as info:
        validate(placed)
    assert info.value.line == 17 and ":17: " in str(info.value)
    assert words in str(info.value)


def test_an_unknown_type_lists_the_supported_ones() -> None:
    with pytest.raises(SuiteError) as info:
        validate(Assertion("python", value="x", line=3))
    message = str(info.value)
    assert "'python'" in message
    assert all(kind in message for kind in KNOWN_TYPES) and "not-" in message


# --- hostile answers ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "{" * 1_000_000, "[" * 1_000_000, '{"a":' * 200_000, "[1," * 300_000,
    "[" * 2_000 + '"' + "x" * 1_000_000, '{"k": "' + "\\" * 999_990,
], ids=["braces", "brackets", "nested-objects", "nested-arrays", "long-string", "escapes"])
def test_contains_json_stays_fast_on_a_1mb_hostile_answer(text: str) -> None:
    start = time.perf_counter()
    verdict = _one(Assertion("contains-json", value={"type": "object"}), text)
    assert time.perf_counter() - start < 2.0
    assert not verdict.passed and verdict.error is None


def test_contains_json_scan_is_bounded_but_finds_json_late_in_a_long_answer() -> None:
    late = "x" * (assertions.JSON_SCAN_CHARS - 100) + '{"found": true}'
    assert _one(Assertion("contains-json"), late).passed
    too_late = "x" * (assertions.JSON_SCAN_CHARS + 10) + '{"found": true}'
    verdict = _one(Assertion("contains-json"), too_late)
    assert not verdict.passed and "first 200,000 characters" in verdict.reason
    big = '{"items": [' + ", ".join(['"abcdefgh"'] * 100_000) + "]}"  # 1.2 MB of real JSON
    assert _one(Assertion("contains-json"), "here: " + big).passed
    assert _one(Assertion("is-json"), big).passed


def test_every_type_stays_fast_on_a_1mb_answer() -> None:
    text = ("The quick brown fox jumps over the lazy dog. \x00\x1b[31m " * 20_000)[:1_000_000]
    checks = [
        Assertion("equals", value="x"), Assertion("equals", value={"a": 1}),
        Assertion("icontains", value="LAZY CAT"), Assertion("icontains-all", value=["a", "zz"]),
        Assertion("starts-with", value="The"), Assertion("regex", value=r"cat\b"),
        Assertion("is-json"), Assertion("contains-json"),
        Assertion("levenshtein", value="The quick brown fox"),
        Assertion("levenshtein", value=text[:-3] + "cat", threshold=5),
        Assertion("similar", value="the quick brown fox"), Assertion("word-count", value=10),
        Assertion("length", value={"min": 10}),
    ]
    start = time.perf_counter()
    verdicts = grade(_case(*checks), _answer(text), grader=None)
    assert time.perf_counter() - start < 4.0
    assert len(verdicts) == len(checks) and all(v.error is None for v in verdicts)
    assert verdicts[9].passed  # 3 edits from a 1 MB text, found without a 1 MB x 1 MB table
    for verdict in verdicts:
        assert not _CONTROL.search(verdict.reason) and len(verdict.reason) < 2_100


def test_templated_values_are_validated_when_rendered() -> None:
    vars = {"schema": {"type": "object", "required": ["id"]}, "n": 3, "p": "^a+$"}
    for assertion in (Assertion("is-json", value="{{ schema }}"),
                      Assertion("word-count", value="{{n}}"), Assertion("regex", value="{{p}}"),
                      Assertion("regex", value="({{p}}")):
        validate(assertion)  # its rendered value is not known yet
    assert _one(Assertion("is-json", value="{{ schema }}"), '{"id": 1}', vars=vars).passed
    assert not _one(Assertion("is-json", value="{{ schema }}"), '{"x": 1}', vars=vars).passed
    assert _one(Assertion("word-count", value="{{n}}"), "a b c", vars=vars).passed
    assert not _one(Assertion("word-count", value="{{n}}"), "a b c d", vars=vars).passed
    assert _one(Assertion("regex", value="{{p}}"), "aaa", vars=vars).passed
    broken = _one(Assertion("regex", value="({{p}}"), "aaa", vars=vars)
    assert broken.error is not None and "does not compile" in broken.error
    bad_schema = _one(Assertion("is-json", value="{{n}}"), "{}", vars=vars)
    assert bad_schema.error is not None and "JSON Schema" in bad_schema.error
