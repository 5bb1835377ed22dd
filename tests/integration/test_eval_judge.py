"""The judge of model-graded assertions: the real SmolLM2 as a local judge (its verdicts always
parse, through llama.cpp's grammar), cloud judges through loopback fakes of the OpenAI and
Anthropic APIs (structured output; an answer that is not a verdict is an error verdict, never a
crash), the verdict logic (threshold, categories, negation) and the usage totals."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import anthropic_sse, openai_faults
from workbench.cancel import CancelToken
from workbench.costs.pricing import load_pricing
from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput
from workbench.evals import judge as judge_module
from workbench.evals.judge import NOT_A_VERDICT, RUBRIC_SCHEMA, Judge
from workbench.evals.model import Assertion
from workbench.providers.anthropic_target import AnthropicTarget
from workbench.providers.base import (
    AnswerResult,
    DeltaCallback,
    Message,
    Params,
    StatusCallback,
    Target,
)
from workbench.providers.local import LocalTarget
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.providers.registry import build_target
from workbench.providers.retry import RetryPolicy
from workbench.store.secrets import Secret
from workbench.store.settings import AppSettings

pytestmark = pytest.mark.usefixtures("home")

FAST = RetryPolicy(max_retries=0, initial_delay_s=0.05, max_delay_s=0.1, max_retry_after_s=1)
JUDGE_KEYS = {"target", "prompt_tokens", "completion_tokens", "total_ms", "cost_usd", "calls"}

# (assertion, the output it grades, the question that was asked): right and wrong answers,
# prose, code, JSON, another language, an empty-ish answer, a threshold, a negation
LOCAL_CASES: list[tuple[Assertion, str, str]] = [
    (Assertion("llm-rubric", value="Mentions Paris"), "The capital of France is Paris.",
     "What is the capital of France?"),
    (Assertion("llm-rubric", value="Is polite and helpful"), "Go away. Figure it out yourself.",
     "How do I reset my password?"),
    (Assertion("llm-rubric", value="Is valid Python code", threshold=0.7),
     "def add(a, b):\n    return a + b\n", "Write a Python function that adds two numbers."),
    (Assertion("llm-rubric", value="Is written in French", negate=True),
     "Bonjour, je m'appelle Claude.", "Introduce yourself."),
    (Assertion("factuality", value="Sacramento is the capital of California"),
     "The capital of California is Los Angeles.", "What is the capital of California?"),
    (Assertion("factuality", value="Water boils at 100 degrees Celsius at sea level"),
     "At sea level, water boils at 100 °C.", "At what temperature does water boil?"),
    (Assertion("factuality", value="The Moon orbits the Earth"),
     "The Moon orbits the Earth about once every 27 days, and it has no atmosphere.",
     "What does the Moon orbit?"),
    (Assertion("model-graded-closedqa", value="Answers in French"),
     "Hello, my name is Claude.", "Say hello in French."),
    (Assertion("model-graded-closedqa", value="Gives a number"),
     '{"answer": [1, 2, 3]}\n```\nrm -rf /\n```', "How many sides does a triangle have?"),
    (Assertion("model-graded-closedqa", value="Is one word"), "Yes", ""),
    (Assertion("llm-rubric", value="Is a haiku about autumn"),
     "日本語のテキストです。これは俳句ではありません。", "Write a haiku about autumn."),
    (Assertion("factuality", value="Ada Lovelace wrote the first published algorithm"),
     "", "Who wrote the first published algorithm?"),
]


@pytest.fixture(scope="module")
def smol_judge(smollm2: Path) -> Iterator[Judge]:
    target = build_target(f"local:{smollm2}",
                          load=LoadSettings(str(smollm2), n_ctx=2048, repack=False))
    assert isinstance(target, LocalTarget)
    yield Judge(target, spec=f"local:{smollm2}", max_tokens=128, pricing=load_pricing(),
                settings=AppSettings(electricity_usd_per_kwh=0.25))
    target.close()


def test_a_local_judge_always_gives_a_verdict_that_parses(smol_judge: Judge) -> None:
    """A 135M model's verdicts are not expected to be right, only well-formed: every one
    parses and validates (the grammar), keeps a reason and its call's usage."""
    verdicts = [smol_judge.grade(assertion, output=output, question=question, vars={})
                for assertion, output, question in LOCAL_CASES]
    for (assertion, _, _), verdict in zip(LOCAL_CASES, verdicts, strict=True):
        assert verdict.error is None, (assertion, verdict.error)
        assert verdict.reason.strip(), assertion
        assert verdict.type == assertion.written_type
        assert 0.0 <= verdict.score <= 1.0
        assert verdict.judge is not None and set(verdict.judge) == JUDGE_KEYS
        assert verdict.judge["target"] == smol_judge.spec
        assert verdict.judge["prompt_tokens"] > 20 and verdict.judge["completion_tokens"] > 5
        assert verdict.judge["total_ms"] > 0
        assert verdict.judge["cost_usd"] is not None and verdict.judge["cost_usd"] > 0
        if assertion.type == "llm-rubric" and assertion.threshold is not None:
            assert verdict.passed == (verdict.score >= assertion.threshold)
        if assertion.type in ("factuality", "model-graded-closedqa"):
            assert verdict.score == (1.0 if verdict.passed else 0.0)
    factuality = [v for (a, _, _), v in zip(LOCAL_CASES, verdicts, strict=True)
                  if a.type == "factuality"]
    assert all(v.reason[:3] in {"(A)", "(B)", "(C)", "(D)", "(E)"} for v in factuality)
    # the totals are the sums of the calls (the judge's own figures, apart from the targets')
    usage = smol_judge.usage
    infos = [v.judge for v in verdicts if v.judge is not None]
    assert usage["calls"] == sum(i["calls"] for i in infos) >= len(LOCAL_CASES)
    assert usage["prompt_tokens"] == sum(i["prompt_tokens"] for i in infos)
    assert usage["completion_tokens"] == sum(i["completion_tokens"] for i in infos)
    assert usage["total_ms"] == pytest.approx(sum(i["total_ms"] for i in infos))
    assert usage["cost_usd"] == pytest.approx(sum(i["cost_usd"] for i in infos))
    assert usage["unparsed"] == 0 and usage["errors"] == 0


def test_the_local_judge_asks_for_a_bounded_verdict(smol_judge: Judge) -> None:
    """What the grammar samples from: the reason held below the token budget, the score one of
    a list, so that the JSON always closes before max_tokens."""
    sent = judge_module._bounded(RUBRIC_SCHEMA, smol_judge.max_tokens)
    assert sent["properties"]["reason"]["maxLength"] <= smol_judge.max_tokens - 48
    assert set(sent["properties"]["score"]["enum"]) <= {x / 10 for x in range(11)}
    assert list(sent["properties"]) == ["reason", "pass", "score"]  # the reason comes first
    assert RUBRIC_SCHEMA["properties"]["reason"] == {"type": "string"}  # the original is kept
    with pytest.raises(BadInput, match="max_tokens"):
        Judge(smol_judge.target, spec="x", max_tokens=40)


def openai_judge(server: Any, **options: Any) -> Judge:
    target = OpenAICompatTarget(spec="openai:gpt-4o-mini", model="gpt-4o-mini",
                                base_url=server.url + "/v1", api_key=Secret("sk-test-judge-1"),
                                timeout_s=3.0, retry=FAST)
    return Judge(target, spec="openai:gpt-4o-mini", **options)


def answer(document: Any) -> Any:
    """A scripted OpenAI-compatible answer whose text is ``document`` (JSON unless a str)."""
    text = document if isinstance(document, str) else json.dumps(document)
    return openai_faults.ok((text[: len(text) // 2], text[len(text) // 2:]), prompt_tokens=120,
                            completion_tokens=30)


@pytest.fixture
def server() -> Iterator[Any]:
    with openai_faults.server() as srv:
        yield srv


def test_a_cloud_judge_gets_structured_output_and_its_verdict_is_read(server: Any) -> None:
    judge = openai_judge(server, pricing=load_pricing())
    server.script(answer({"reason": "It names Paris.", "pass": True, "score": 0.8}))
    verdict = judge.grade(Assertion("llm-rubric", value="Mentions Paris", weight=2.0,
                                    metric="accuracy"),
                          output="Paris.", question="Capital of France?", vars={})
    assert verdict.error is None
    assert (verdict.passed, verdict.score, verdict.reason) == (True, 0.8, "It names Paris.")
    assert (verdict.weight, verdict.metric, verdict.type) == (2.0, "accuracy", "llm-rubric")
    body = server.requests[-1].body
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "verdict", "schema": RUBRIC_SCHEMA, "strict": True}}
    assert body["temperature"] == 0.0
    system, user = body["messages"]
    assert system["role"] == "system" and "rubric" in system["content"]
    assert "Mentions Paris" in user["content"] and "Paris." in user["content"]
    assert "Capital of France?" in user["content"]
    # priced from the table (gpt-4o-mini), counted in the verdict and in the totals
    assert verdict.judge is not None and verdict.judge["cost_usd"] > 0
    assert (verdict.judge["prompt_tokens"], verdict.judge["completion_tokens"]) == (120, 30)
    usage = judge.usage
    assert (usage["calls"], usage["prompt_tokens"], usage["completion_tokens"]) == (1, 120, 30)
    assert usage["cost_usd"] == pytest.approx(verdict.judge["cost_usd"])
    judge.target.close()


@pytest.mark.parametrize(("assertion", "document", "passed", "score", "says"), [
    (Assertion("llm-rubric", value="r", threshold=0.9),
     {"reason": "close", "pass": True, "score": 0.8}, False, 0.8, "close"),
    (Assertion("llm-rubric", value="r", threshold=0.5),
     {"reason": "ok", "pass": False, "score": 0.6}, True, 0.6, "ok"),
    (Assertion("llm-rubric", value="r", negate=True),
     {"reason": "it is", "pass": True, "score": 0.75}, False, 0.25, "it is"),
    (Assertion("factuality", value="ref"), {"reason": "wrong city", "category": "D"}, False,
     0.0, "(D) the answer and the reference disagree: wrong city"),
    (Assertion("factuality", value="ref"), {"reason": "more detail", "category": "B"}, True,
     1.0, "(B)"),
    (Assertion("factuality", value="ref"), {"reason": "style only", "category": "E"}, True,
     1.0, "(E)"),
    (Assertion("model-graded-closedqa", value="c"), {"reason": "no", "answer": "N"}, False,
     0.0, "no"),
    (Assertion("model-graded-closedqa", value="c", negate=True),
     {"reason": "no", "answer": "N"}, True, 1.0, "no"),
], ids=["below-threshold", "threshold-over-pass", "negated", "D-fails", "B-passes",
        "E-passes", "N-fails", "not-N-passes"])
def test_verdict_logic(server: Any, assertion: Assertion, document: dict, passed: bool,
                       score: float, says: str) -> None:
    judge = openai_judge(server)
    server.script(answer(document))
    verdict = judge.grade(assertion, output="x", question="", vars={})
    assert verdict.error is None
    assert verdict.passed is passed and verdict.score == pytest.approx(score)
    assert says in verdict.reason and verdict.type == assertion.written_type
    judge.target.close()


@pytest.mark.parametrize(("text", "says"), [
    ("I think the answer passes the rubric.", "not JSON"),
    ('{"reason": "fine", "pass": "yes", "score": 1}', "is not of type 'boolean'"),
    ('{"reason": "fine", "pass": true}', "'score' is a required property"),
    ('{"reason": "fine", "pass": true, "score": 1.5}', "greater than the maximum"),
    ("", "an empty answer"),
])
def test_a_cloud_answer_that_is_not_a_verdict_is_an_error_verdict(server: Any, text: str,
                                                                  says: str) -> None:
    judge = openai_judge(server)
    server.script(answer(text))
    verdict = judge.grade(Assertion("llm-rubric", value="r"), output="x", question="q",
                          vars={})
    assert verdict.error is not None and verdict.error.startswith(NOT_A_VERDICT)
    assert says in verdict.error and verdict.passed is False
    assert verdict.judge is not None and verdict.judge["completion_tokens"] == 30
    assert judge.usage["unparsed"] == 1 and judge.usage["calls"] == 1
    judge.target.close()


def test_a_failing_judge_target_is_an_error_verdict_with_its_text(server: Any) -> None:
    judge = openai_judge(server)
    server.script(openai_faults.status(401, "Incorrect API key provided"))
    verdict = judge.grade(Assertion("factuality", value="ref"), output="x", question="q",
                          vars={})
    assert verdict.error is not None and "Incorrect API key provided" in verdict.error
    assert "(401)" in verdict.error and verdict.passed is False
    assert judge.usage["errors"] == 1 and judge.usage["unparsed"] == 0
    judge.target.close()


def test_what_the_judge_cannot_grade_costs_no_call(server: Any) -> None:
    judge = openai_judge(server)
    unknown = judge.grade(Assertion("contains", value="x"), output="x", question="", vars={})
    empty = judge.grade(Assertion("llm-rubric", value="  "), output="x", question="", vars={})
    assert unknown.error is not None and "does not grade 'contains'" in unknown.error
    assert empty.error is not None and "needs a value (the rubric)" in empty.error
    assert server.requests == [] and judge.usage["calls"] == 0
    judge.target.close()


def test_concurrent_grading_counts_every_call(server: Any) -> None:
    judge = openai_judge(server)
    server.default = answer({"reason": "ok", "pass": True, "score": 1})
    verdicts: list[Any] = []
    lock = threading.Lock()

    def grade() -> None:
        for _ in range(3):
            verdict = judge.grade(Assertion("llm-rubric", value="r"), output="x", question="",
                                  vars={})
            with lock:
                verdicts.append(verdict)

    threads = [threading.Thread(target=grade) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(verdicts) == 18 and all(v.error is None and v.passed for v in verdicts)
    usage = judge.usage
    assert (usage["calls"], usage["prompt_tokens"], usage["completion_tokens"]) == (
        18, 18 * 120, 18 * 30)
    judge.target.close()


def test_an_anthropic_judge_answers_through_a_forced_tool() -> None:
    with anthropic_sse.server() as srv:
        srv.script(anthropic_sse.tool_use())
        target = AnthropicTarget(spec="anthropic:claude-test", model="claude-test",
                                 base_url=srv.url, api_key=Secret("sk-ant-judge-1"),
                                 timeout_s=3.0, retry=FAST)
        judge = Judge(target, spec="anthropic:claude-test")
        verdict = judge.grade(Assertion("llm-rubric", value="Mentions Paris"),
                              output="Paris.", question="Capital of France?", vars={})
        target.close()
        body = srv.requests[-1].body
    assert verdict.error is None
    assert (verdict.passed, verdict.score, verdict.reason) == (True, 1.0,
                                                               "the answer names Paris")
    assert body["tool_choice"] == {"type": "tool", "name": "verdict"}
    assert body["tools"][0]["input_schema"] == RUBRIC_SCHEMA


class _Scripted(Target):
    """A stand-in local judge that answers from a script: the first answer runs out of tokens
    (as a reason in characters of several tokens each can), the next one is a verdict."""

    spec, label, provider, model = "local:scripted", "local/scripted", "local", "scripted"

    def __init__(self, answers: list[tuple[str, str]]) -> None:
        self.answers = answers
        self.params: list[Params] = []

    @property
    def destination(self) -> str:
        return "this machine"

    @property
    def leaves_machine(self) -> bool:
        return False

    def _stream(self, messages: list[Message], params: Params, delta: DeltaCallback,
                cancel: CancelToken, result: AnswerResult, status: StatusCallback) -> None:
        self.params.append(params)
        result.text, result.finish_reason = self.answers[len(self.params) - 1]
        result.prompt_tokens, result.completion_tokens, result.total_ms = 50, 10, 5.0


def test_a_local_verdict_cut_short_is_asked_again_in_ascii() -> None:
    target = _Scripted([('{"reason": "日本語の理由', "length"),
                        ('{"reason": "fine", "pass": true, "score": 0.9}', "stop")])
    judge = Judge(target, spec="local:scripted", max_tokens=128)
    verdict = judge.grade(Assertion("llm-rubric", value="r"), output="x", question="", vars={})
    assert verdict.error is None and (verdict.passed, verdict.score) == (True, 0.9)
    first, second = (p.json_schema for p in target.params)
    assert first is not None and second is not None
    assert first["properties"]["reason"]["maxLength"] == 128 - judge_module.OVERHEAD_TOKENS
    # printable ASCII only: every token is at least one character, so the JSON fits
    assert second["properties"]["reason"]["pattern"] == r'^[ !#-\[\]-~]{1,64}$'
    assert verdict.judge is not None and verdict.judge["calls"] == 2
    assert verdict.judge["completion_tokens"] == 20 and judge.usage["calls"] == 2


def test_the_judge_behind_assertions_grade(server: Any) -> None:
    """The Grader contract: assertions.grade renders the value, hands the judge the plain
    assertion and applies not- and the threshold itself; the judge's usage stays on the
    verdict."""
    from workbench.evals.assertions import grade
    from workbench.evals.model import Case, ChatTemplate

    judge = openai_judge(server)
    server.default = answer({"reason": "It names the city.", "pass": True, "score": 0.7})
    case = Case(id="1", index=1, prompt=ChatTemplate("p", (("user", "Capital of {{c}}?"),)),
                vars={"c": "France", "city": "Paris"},
                assertions=(Assertion("llm-rubric", value="Mentions {{city}}"),
                            Assertion("llm-rubric", value="Mentions {{city}}", negate=True),
                            Assertion("llm-rubric", value="Mentions {{city}}", threshold=0.9),
                            Assertion("factuality", value="{{city}} is the capital")))
    result = AnswerResult(target="t", label="t", provider="openai", model="m",
                          destination="x", text="It is Paris.")
    plain, negated, high, factuality = grade(case, result, grader=judge,
                                              question="Capital of France?")
    assert (plain.passed, plain.score, plain.error) == (True, 0.7, None)
    assert "It names the city." in plain.reason and plain.judge is not None
    assert (negated.type, negated.passed, negated.score) == (
        "not-llm-rubric", False, pytest.approx(0.3))
    assert (high.passed, high.score) == (False, 0.7)  # under the threshold
    # the factuality call got a rubric-shaped answer: not a verdict, an error (no crash)
    assert factuality.error is not None and NOT_A_VERDICT in factuality.error
    users = [r.body["messages"][1]["content"] for r in server.requests]
    assert all("Mentions Paris" in u for u in users[:3]) and "Paris is the capital" in users[3]
    assert judge.usage["calls"] == 4 and judge.usage["unparsed"] == 1
    judge.target.close()
