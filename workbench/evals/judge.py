"""The judge of model-graded assertions: a Workbench target asked for a verdict that always parses.

Types (promptfoo's): ``llm-rubric`` (value: the rubric; the verdict is ``{reason, pass, score}``,
and with a ``threshold`` the assertion passes when score >= threshold), ``factuality`` (value:
the reference answer; promptfoo's categories A-E: A, B, C and E pass, D fails) and
``model-graded-closedqa`` (value: the criterion; Y or N). ``not-`` reverses pass and score
(1 - score), as promptfoo does (``assertions.grade`` does that itself and hands the judge the
plain assertion, its value rendered).

The verdict is asked for as JSON following a schema (``Params.json_schema``), "reason" first, so
that a small model reasons before it decides. A local judge samples through llama.cpp's grammar
built from the schema, so its answer is always well-formed JSON; that schema also holds the
reason below the token budget and gives the score as one of a list of values, so the JSON closes
before ``max_tokens`` and validates. In the one case that can still run out of tokens (a reason
in characters that take several tokens each), the judge asks once more with the reason held to
printable ASCII, where every token is at least one character. A cloud judge gets the provider's
structured output (OpenAI's strict ``response_format``, Anthropic's forced tool call); an answer
that still does not parse or validate is an error verdict ("the judge's answer is not a verdict:
...", counted in ``usage["unparsed"]``), never a crash.

Every verdict keeps the judge's reason and the usage of its calls (``Verdict.judge``); ``usage``
sums every call, apart from the targets' own figures (thread-safe: cloud answers are graded
concurrently).
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import jsonschema

from workbench.costs.answer_cost import price_answer
from workbench.costs.pricing import PricingTable
from workbench.errors import BadInput
from workbench.evals.model import Assertion, Verdict
from workbench.providers.base import AnswerResult, Message, Params, Target
from workbench.store.settings import AppSettings

JUDGED = ("llm-rubric", "factuality", "model-graded-closedqa")
SCHEMA_TITLE = "verdict"  # the name the APIs are given (OpenAI's schema name, Anthropic's tool)
SCORES = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]  # a local judge's score values
OVERHEAD_TOKENS = 64  # at most what a verdict's JSON takes besides its reason (one char a token)
MIN_REASON_CHARS = 16
MAX_REASON_CHARS = 500  # llama.cpp parses bounds up to about 1,000 (each is a nested rule)
MIN_MAX_TOKENS = OVERHEAD_TOKENS + MIN_REASON_CHARS
ASCII_REASON = r'^[ !#-\[\]-~]{1,%d}$'  # printable ASCII without '"' and '\': no escapes
FACTUALITY_PASS = {"A": True, "B": True, "C": True, "D": False, "E": True}
FACTUALITY_MEANING = {
    "A": "the answer is a subset of the reference and fully consistent with it",
    "B": "the answer is a superset of the reference and fully consistent with it",
    "C": "the answer has the same details as the reference",
    "D": "the answer and the reference disagree",
    "E": "they differ, but not in a way that matters for the facts",
}
NOT_A_VERDICT = "the judge's answer is not a verdict"
NO_REASON = "(the judge gave no reason)"


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {"title": SCHEMA_TITLE, "type": "object", "properties": properties,
            "required": list(properties), "additionalProperties": False}


RUBRIC_SCHEMA = _schema({"reason": {"type": "string"}, "pass": {"type": "boolean"},
                         "score": {"type": "number", "minimum": 0, "maximum": 1}})
FACTUALITY_SCHEMA = _schema({"reason": {"type": "string"},
                             "category": {"type": "string", "enum": list(FACTUALITY_PASS)}})
CLOSEDQA_SCHEMA = _schema({"reason": {"type": "string"},
                           "answer": {"type": "string", "enum": ["Y", "N"]}})

RUBRIC_PROMPT = (
    "You grade an answer against a rubric. Decide whether the answer meets the rubric. Reply "
    "with JSON only: \"reason\" (one or two short sentences: why it meets the rubric or not), "
    "\"pass\" (true if it meets the rubric, else false) and \"score\" (from 0.0, not at all, to "
    "1.0, fully).\n\nExample:\nRubric: contains a greeting\nAnswer: Hello, how can I help?\n"
    "{\"reason\": \"It starts with 'Hello', a greeting.\", \"pass\": true, \"score\": 1.0}")
FACTUALITY_PROMPT = (
    "You compare an answer with a reference answer to the same question, on the facts only "
    "(ignore style, wording and length). Reply with JSON only: \"reason\" (one or two short "
    "sentences) and \"category\", one letter:\n"
    + "\n".join(f"{letter}: {meaning}" for letter, meaning in FACTUALITY_MEANING.items()))
CLOSEDQA_PROMPT = (
    "You check whether an answer meets a criterion. Reply with JSON only: \"reason\" (one or "
    "two short sentences: does the answer meet the criterion?) and \"answer\": \"Y\" if it "
    "meets the criterion, \"N\" if it does not.")


class Judge:
    """Grades model-graded assertions with ``target`` (a ``workbench.evals.assertions.Grader``).

    ``spec``: the judge as the user named it (kept in every verdict). ``pricing`` (and
    ``settings`` for a local judge's electricity price): the judge's calls are priced."""

    owned = False  # the runner's flag: True when it built the target for the judge alone

    def __init__(self, target: Target, *, spec: str, max_tokens: int = 256,
                 pricing: PricingTable | None = None,
                 settings: AppSettings | None = None) -> None:
        if max_tokens < MIN_MAX_TOKENS:
            raise BadInput(f"the judge needs max_tokens of at least {MIN_MAX_TOKENS} to write "
                           "a verdict")
        self.target = target
        self.spec = spec
        self.max_tokens = max_tokens
        self.pricing = pricing
        self.settings = settings
        self._lock = threading.Lock()
        self._usage: dict[str, Any] = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                       "total_ms": 0.0, "cost_usd": None, "unparsed": 0,
                                       "errors": 0}

    @property
    def grammar(self) -> bool:
        """True when the judge samples through a grammar (a local model)."""
        return self.target.provider == "local"

    @property
    def usage(self) -> dict[str, Any]:
        """calls, prompt_tokens, completion_tokens, total_ms, cost_usd (None: nothing priced),
        unparsed (answers that were not a verdict), errors (calls the judge target failed)."""
        with self._lock:
            return dict(self._usage)

    # -- grading ---------------------------------------------------------------------------
    def grade(self, assertion: Assertion, *, output: str, question: str,
              vars: dict[str, Any]) -> Verdict:
        """One model-graded assertion on one answer; failures become error verdicts.

        As ``workbench.evals.assertions.grade`` calls it, the value is rendered and ``negate``
        is False (it applies ``not-`` and the threshold again itself, to the same effect);
        called directly, ``not-`` and the threshold are applied here."""
        if assertion.type not in JUDGED:
            return self._error(assertion, f"the judge does not grade {assertion.type!r} "
                               f"(it grades {', '.join(JUDGED)})")
        value = assertion.value  # rendered already (assertions.grade renders every value)
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if not text.strip():
            return self._error(assertion, f"{assertion.written_type} needs a value (the "
                               f"{_VALUE_NAMES[assertion.type]})")
        system, user, schema = _prompt(assertion.type, text, output, question)
        messages: list[Message] = [{"role": "system", "content": system},
                                   {"role": "user", "content": user}]
        return self._ask(assertion, messages, schema)

    def _ask(self, assertion: Assertion, messages: list[Message],
             schema: dict[str, Any]) -> Verdict:
        sent = _bounded(schema, self.max_tokens) if self.grammar else schema
        answers = [self._call(messages, sent)]
        if self.grammar and _cut_short(answers[-1]):
            # a reason in characters of several tokens each ran out of tokens: ASCII only
            answers.append(self._call(messages, _bounded(schema, self.max_tokens, ascii=True)))
        answer = answers[-1]
        info = self._info(answers)
        if answer.error:
            with self._lock:
                self._usage["errors"] += 1
            return self._error(assertion, f"the judge {self.target.label} failed: "
                               f"{answer.error}", info)
        try:
            data = json.loads(answer.text, strict=False)  # a grammar lets raw newlines through
            jsonschema.validate(data, schema)
        except json.JSONDecodeError as err:
            return self._unparsed(assertion, f"not JSON ({err.msg} at character {err.pos}): "
                                  f"{_excerpt(answer.text)}", info)
        except jsonschema.ValidationError as err:
            return self._unparsed(assertion, f"{err.message}: {_excerpt(answer.text)}", info)
        passed, score, reason = _decide(assertion, data)
        if assertion.negate:
            passed, score = not passed, 1.0 - score
        return Verdict(assertion.written_type, passed, score, reason, assertion.weight,
                       assertion.metric, judge=info)

    def _call(self, messages: list[Message], schema: dict[str, Any]) -> AnswerResult:
        params = Params(max_tokens=self.max_tokens, temperature=0.0, json_schema=schema)
        answer = self.target.stream(messages, params)
        if self.pricing is not None:
            try:
                price_answer(answer, self.pricing, self.settings or AppSettings())
            except Exception as err:  # pricing must never lose the verdict
                answer.cost_note = f"could not price: {err}"
        with self._lock:
            usage = self._usage
            usage["calls"] += 1
            usage["prompt_tokens"] += answer.prompt_tokens or 0
            usage["completion_tokens"] += answer.completion_tokens or 0
            usage["total_ms"] += answer.total_ms or 0.0
            if answer.cost_usd is not None:
                usage["cost_usd"] = (usage["cost_usd"] or 0.0) + answer.cost_usd
        return answer

    def _info(self, answers: list[AnswerResult]) -> dict[str, Any]:
        """The judge's usage for one verdict (every call it took)."""
        def total(name: str) -> Any:
            values = [getattr(a, name) for a in answers]
            known = [v for v in values if v is not None]
            return sum(known) if known else None

        return {"target": self.spec, "prompt_tokens": total("prompt_tokens"),
                "completion_tokens": total("completion_tokens"), "total_ms": total("total_ms"),
                "cost_usd": total("cost_usd"), "calls": len(answers)}

    def _unparsed(self, assertion: Assertion, detail: str, info: dict[str, Any]) -> Verdict:
        with self._lock:
            self._usage["unparsed"] += 1
        return self._error(assertion, f"{NOT_A_VERDICT}: {detail}", info)

    @staticmethod
    def _error(assertion: Assertion, message: str,
               info: dict[str, Any] | None = None) -> Verdict:
        return Verdict(assertion.written_type, False, 0.0, message, assertion.weight,
                       assertion.metric, error=message, judge=info)


_VALUE_NAMES = {"llm-rubric": "rubric", "factuality": "reference answer",
                "model-graded-closedqa": "criterion"}


def _prompt(kind: str, value: str, output: str, question: str) -> tuple[str, str, dict[str, Any]]:
    """The system prompt, the user message and the verdict's schema for one assertion type."""
    asked = f"Question:\n{question.strip()}\n\n" if question.strip() else ""
    if kind == "llm-rubric":
        return (RUBRIC_PROMPT, f"{asked}Rubric: {value}\n\nAnswer:\n{output}", RUBRIC_SCHEMA)
    if kind == "factuality":
        return (FACTUALITY_PROMPT, f"{asked}Reference answer:\n{value}\n\nAnswer:\n{output}",
                FACTUALITY_SCHEMA)
    return (CLOSEDQA_PROMPT, f"{asked}Criterion: {value}\n\nAnswer:\n{output}", CLOSEDQA_SCHEMA)


def _decide(assertion: Assertion, data: dict[str, Any]) -> tuple[bool, float, str]:
    """(passed, score, reason) from a verdict that validated against its schema."""
    reason = str(data["reason"]).strip()
    if assertion.type == "llm-rubric":
        score = float(data["score"])
        passed = bool(data["pass"])
        if assertion.threshold is not None:
            passed = score >= assertion.threshold
        return passed, score, reason or NO_REASON
    if assertion.type == "factuality":
        category = data["category"]
        passed = FACTUALITY_PASS[category]
        label = f"({category}) {FACTUALITY_MEANING[category]}"
        return passed, 1.0 if passed else 0.0, f"{label}: {reason}" if reason else label
    passed = data["answer"] == "Y"
    return passed, 1.0 if passed else 0.0, reason or NO_REASON


def _bounded(schema: dict[str, Any], max_tokens: int, *, ascii: bool = False) -> dict[str, Any]:
    """The schema a grammar samples from: the reason held below the token budget (every other
    field takes at most OVERHEAD_TOKENS), a rubric's score as one of SCORES."""
    bounded = copy.deepcopy(schema)
    chars = min(MAX_REASON_CHARS, max_tokens - OVERHEAD_TOKENS)
    properties = bounded["properties"]
    properties["reason"] = ({"type": "string", "pattern": ASCII_REASON % chars} if ascii
                            else {"type": "string", "minLength": 1, "maxLength": chars})
    if "score" in properties:
        properties["score"] = {"type": "number", "enum": SCORES}
    return bounded


def _cut_short(answer: AnswerResult) -> bool:
    return answer.error is None and answer.finish_reason == "length"


def _excerpt(text: str, limit: int = 120) -> str:
    if not text:
        return "(an empty answer)"
    return repr(text if len(text) <= limit else text[:limit] + "…")
