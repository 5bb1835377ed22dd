"""Grading an answer by a case's assertions (promptfoo's ``assert`` types).

``validate`` checks a written assertion when the suite is loaded; ``grade`` turns one answer
into one ``Verdict`` per assertion; ``outcome`` folds the verdicts into the case's pass/fail and
weighted score.

Semantics follow promptfoo's handlers; where Workbench differs or promptfoo is silent:

- Values that are strings (and the strings in a list) are rendered with the case's vars first.
- ``equals``: a string value is compared exactly; any other value (a number, a list, a mapping,
  true/false/null) is compared with the answer parsed as JSON (``true`` is not ``1``).
- ``contains-any``/``-all`` take a list, or a comma-separated string (double quotes keep a comma).
- ``regex``: ``re.search`` with Python's syntax. Patterns are the suite author's own, not
  untrusted text: Python's ``re`` has no timeout, so a catastrophic pattern is the author's to fix.
- ``is-json``: the whole answer (surrounding whitespace aside) is strict JSON (no NaN), as in
  promptfoo; a fenced ```json block fails, with a hint that ``contains-json`` accepts it.
- ``contains-json``: the first JSON object or array embedded in the text (promptfoo looks for
  objects only); with a schema, any embedded JSON that matches. The scan is bounded (starts in
  the first ``JSON_SCAN_CHARS`` characters, ``JSON_SCAN_TRIES`` tries, ``JSON_SCAN_WINDOW``
  characters a try after the first) so hostile text stays fast.
- ``levenshtein``: threshold = the most edits (default 5; a threshold of 0 means 0, where
  promptfoo falls back to 5).
- ``similar``: no embeddings model here. The measure is LEXICAL, not semantic: the cosine
  similarity of lowercased word and word-pair (unigram + bigram) count vectors; threshold default
  0.75; the score is the similarity. A list of values passes when any is similar enough.
- ``word-count``/``length``: N is the most (promptfoo's character-count N means exactly N), or
  ``{min, max}``; words are whitespace-separated, length counts characters (code points).
- ``cost``/``latency``/``finish-reason``: an answer that does not know its cost, time or finish
  reason gets an error verdict (neither pass nor fail); finish reasons compare ignoring case.
- Model-graded types go to the ``Grader``; no grader is an error verdict, never a silent cloud
  default. A threshold on them also needs the grader's score to reach it.
- ``not-`` flips pass and turns the score into ``1 - score`` (promptfoo), and the reason says so;
  an error verdict is not flipped.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, Protocol

from workbench.errors import BadInput
from workbench.evals.model import Assertion, Case, SuiteError, Verdict
from workbench.evals.templating import render
from workbench.providers.base import AnswerResult

__all__ = ["JSON_SCAN_CHARS", "JSON_SCAN_TRIES", "JSON_SCAN_WINDOW",
           "KNOWN_TYPES", "MODEL_GRADED", "NO_JUDGE",
           "Grader", "grade", "levenshtein", "outcome", "similarity", "validate"]

NO_JUDGE = "no judge: give --judge TARGET (a local model keeps every prompt on this machine)"
JSON_SCAN_CHARS = 200_000  # contains-json looks for JSON starting in this many characters
JSON_SCAN_TRIES = 500  # ... and tries at most this many starting brackets,
JSON_SCAN_WINDOW = 100_000  # each (but the first) reading at most this many characters

MODEL_GRADED: frozenset[str] = frozenset({"llm-rubric", "factuality", "model-graded-closedqa"})

KNOWN_TYPES: frozenset[str] = frozenset({
    "equals", "contains", "icontains", "contains-any", "icontains-any", "contains-all",
    "icontains-all", "starts-with", "regex", "is-json", "contains-json", "levenshtein",
    "similar", "word-count", "length", "cost", "latency", "finish-reason",
}) | MODEL_GRADED

_LIST_TYPES = frozenset({"contains-any", "icontains-any", "contains-all", "icontains-all"})
_TEXT_TYPES = frozenset({"contains", "icontains", "starts-with", "levenshtein",
                         "finish-reason"}) | MODEL_GRADED
_SCHEMA_TYPES = frozenset({"is-json", "contains-json"})
_RANGE_TYPES = frozenset({"word-count", "length"})
_THRESHOLD_TYPES = frozenset({"cost", "latency"})


class Grader(Protocol):
    """What grades a model-graded assertion (judge.py's ``Judge``).

    It receives the assertion with its value already rendered and ``negate`` False, and grades
    it as a plain rubric: ``grade()`` applies ``not-`` and the threshold itself, and copies the
    type, weight and metric onto the verdict. It may raise; ``grade()`` turns that into an error
    verdict."""

    def grade(self, assertion: Assertion, *, output: str, question: str,
              vars: dict[str, Any]) -> Verdict: ...


# ---------------------------------------------------------------------------------------------
# validation


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value: Any, limit: int = 200) -> str:
    """``value`` quoted for a message: repr-like escaping, at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
    cut = len(text) > limit
    shown = repr(text[:limit])
    return shown + f" (+{len(text) - limit} chars)" if cut else shown


def _as_list(value: Any) -> list[str] | None:
    """A contains-any/all value: a list of scalars, or a comma-separated string."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:  # a var holding a list renders as JSON
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return _as_list(parsed)
    if isinstance(value, str):
        try:
            parts = next(csv.reader([value], skipinitialspace=True), [])
        except csv.Error:
            parts = value.split(",")
        return [part.strip() for part in parts if part.strip()]
    if isinstance(value, list | tuple) and all(
            isinstance(item, str) or _is_number(item) for item in value):
        return [_text(item) for item in value]
    return None


def _text(value: Any) -> str:
    """A scalar value as text, the way promptfoo (JavaScript) writes it: ``1.0`` is ``1``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _jsonschema() -> Any:
    """The jsonschema module, imported when a schema is first met (it takes a while)."""
    import jsonschema

    return jsonschema


def _schema(value: Any) -> dict[str, Any] | bool | None:
    """An is-json/contains-json value as a JSON Schema (a dict, or JSON/YAML text); None: none.

    Raises ``ValueError`` for a value that is not a valid schema."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        # JSON is YAML too; read as suites are (safe, aliases bounded, no duplicate keys)
        from workbench.evals.yaml_source import load_yaml

        try:
            value, _ = load_yaml(value, "schema")
        except SuiteError as exc:
            where = f" (line {exc.line})" if exc.line is not None else ""
            if exc.detail.startswith("YAML error: "):
                problem = exc.detail.removeprefix("YAML error: ")
                raise ValueError(f"the schema is neither JSON nor YAML: {problem}{where}") \
                    from None
            raise ValueError(f"the schema text: {exc.detail}{where}") from None
    if not isinstance(value, dict | bool):
        raise ValueError(f"a JSON Schema is an object, not {_shown(value)}")
    jsonschema = _jsonschema()
    try:
        jsonschema.validators.validator_for(value).check_schema(value)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid JSON Schema: {exc.message}") from None
    return value


def _range(value: Any) -> tuple[float | None, float | None] | None:
    """A word-count/length value: N (the most) or {min, max}; None for anything else."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if _is_number(value):
        return None, float(value)
    if isinstance(value, dict) and value and set(value) <= {"min", "max"}:
        low, high = value.get("min"), value.get("max")
        if all(v is None or _is_number(v) for v in (low, high)):
            return (None if low is None else float(low)), (None if high is None else float(high))
    return None


def validate(assertion: Assertion) -> None:
    """Raise ``SuiteError`` (with the assertion's line) for an assertion that cannot work.

    A value that is a template (``{{ }}``) is checked for what it can be before rendering; the
    pattern, schema or count it renders to is checked when grading (an error verdict)."""
    kind = assertion.type
    name = assertion.written_type

    def bad(message: str) -> SuiteError:
        return SuiteError(f"assertion {name!r}: {message}", line=assertion.line)

    if kind not in KNOWN_TYPES:
        supported = ", ".join(sorted(KNOWN_TYPES))
        raise SuiteError(f"unknown assertion type {name!r}; supported (each also with 'not-'): "
                         f"{supported}", line=assertion.line)
    value, threshold = assertion.value, assertion.threshold
    # a template is checked once rendered, when grading (a bad result is an error verdict)
    templated = isinstance(value, str) and any(mark in value for mark in _TEMPLATE_MARKS)
    if threshold is not None and not _is_number(threshold):
        raise bad(f"threshold must be a number, not {_shown(threshold)}")
    if not _is_number(assertion.weight) or assertion.weight < 0:
        raise bad(f"weight must be a number >= 0, not {_shown(assertion.weight)}")
    if kind == "equals":
        if value is None:
            raise bad("needs a value (the expected answer)")
    elif kind in _TEXT_TYPES:
        if value is None or not (isinstance(value, str) or _is_number(value)):
            raise bad("needs a text value" if value is None
                      else f"the value must be text, not {_shown(value)}")
        if kind in MODEL_GRADED and not str(value).strip():
            raise bad("needs a value (the rubric, reference answer or criteria)")
        if kind == "levenshtein" and threshold is not None and threshold < 0:
            raise bad(f"threshold (the most edits) must be >= 0, not {threshold}")
    elif kind in _LIST_TYPES:
        items = _as_list(value)
        if items is None:
            raise bad("the value must be a list of strings (or a comma-separated string), "
                      f"not {_shown(value)}" if value is not None else "needs a list of strings")
        if not items:
            raise bad("needs at least one string to look for")
    elif kind == "regex":
        if not isinstance(value, str):
            raise bad("needs a regular expression (a string)" if value is None
                      else f"the pattern must be a string, not {_shown(value)}")
        try:
            re.compile(value)
        except re.error as exc:
            if not templated:
                raise bad(f"the regular expression does not compile: {exc}") from None
    elif kind in _SCHEMA_TYPES and not templated:
        try:
            _schema(value)
        except ValueError as exc:
            raise bad(str(exc)) from None
    elif kind == "similar":
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list | tuple) or not texts or not all(
                isinstance(t, str) for t in texts):
            raise bad("needs the expected text (a string or a list of strings)" if value is None
                      else f"the value must be a string or a list of strings, not {_shown(value)}")
        if threshold is not None and not 0 < threshold <= 1:
            raise bad(f"threshold must be in (0, 1], not {threshold}")
    elif kind in _RANGE_TYPES and not templated:
        limits = _range(value)
        if limits is None:
            raise bad(f"the value must be a number (the most) or {{min, max}}, not "
                      f"{_shown(value)}" if value is not None else "needs a value: N or {min, max}")
        low, high = limits
        if any(v is not None and v < 0 for v in limits) or (
                low is not None and high is not None and low > high):
            raise bad(f"not a usable range: {_shown(value)}")
    elif kind in _THRESHOLD_TYPES:
        if threshold is None:
            unit = "USD" if kind == "cost" else "milliseconds"
            raise bad(f"needs a threshold (the most {unit})")
        if threshold < 0:
            raise bad(f"threshold must be >= 0, not {threshold}")


# ---------------------------------------------------------------------------------------------
# grading

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069]")
_MAX_REASON = 2_000
_MAX_DETAIL = 300  # a library's message (jsonschema, json) can quote the whole answer
_TEMPLATE_MARKS = ("{{", "{%", "{#")


class _Undecided(Exception):
    """The assertion cannot be decided on this answer: an error verdict, not a fail."""


class _Check(NamedTuple):
    holds: bool
    score: float  # 0..1, before negation
    predicate: str  # "contain 'Paris'": what "the answer" is expected to do
    detail: str  # what was found: "not found", "it has 12 words"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _clean(text: str, limit: int = _MAX_REASON) -> str:
    """One line with every control character escaped, at most ``limit`` characters."""
    if len(text) > limit:
        text = text[:limit] + " [...]"
    return _UNSAFE.sub(_escape, text)


def _rendered(value: Any, vars: Mapping[str, Any]) -> Any:
    """``value`` with its strings (and the strings of a list) rendered with the case's vars."""
    if isinstance(value, str):
        return render(value, vars) if any(m in value for m in _TEMPLATE_MARKS) else value
    if isinstance(value, list | tuple):
        return [_rendered(item, vars) if isinstance(item, str) else item for item in value]
    return value


def _error(assertion: Assertion, message: str) -> Verdict:
    message = _clean(message)
    return Verdict(type=assertion.written_type, passed=False, score=0.0, reason=message,
                   weight=assertion.weight, metric=assertion.metric, error=message)


def grade(case: Case, answer: AnswerResult, *, grader: Grader | None,
          question: str = "") -> list[Verdict]:
    """One verdict per assertion of ``case`` on ``answer.text``, in order; [] when the answer
    errored (the runner records the target's error). Never raises for an assertion that cannot
    be decided, or a grader that fails: that is a verdict with ``error`` set."""
    if answer.error is not None:
        return []
    output = answer.text or ""
    return [_grade_one(assertion, case, answer, output, grader, question)
            for assertion in case.assertions]


def _grade_one(assertion: Assertion, case: Case, answer: AnswerResult, output: str,
               grader: Grader | None, question: str) -> Verdict:
    try:
        value = _rendered(assertion.value, case.vars)
    except BadInput as exc:
        return _error(assertion, f"the value's template: {exc}")
    if assertion.type in MODEL_GRADED:
        return _model_graded(assertion, value, case, output, grader, question)
    checker = _CHECKS.get(assertion.type)
    if checker is None:
        return _error(assertion, f"unknown assertion type {assertion.written_type!r}")
    try:
        check = checker(assertion, value, output, answer)
    except _Undecided as exc:
        return _error(assertion, str(exc))
    except RecursionError:
        return _error(assertion, "the value or the answer nests too deeply to check")
    passed, score = check.holds, check.score
    reason = f"expected the answer to {check.predicate}: {check.detail}"
    if assertion.negate:
        passed, score = not passed, 1.0 - score
        reason = (f"expected the answer NOT to {check.predicate} ({assertion.written_type}: "
                  f"pass and score reversed): {check.detail}")
    return Verdict(type=assertion.written_type, passed=passed, score=_unit(score),
                   reason=_clean(reason), weight=assertion.weight, metric=assertion.metric)


def _unit(score: float) -> float:
    return min(1.0, max(0.0, float(score)))


def _model_graded(assertion: Assertion, value: Any, case: Case, output: str,
                  grader: Grader | None, question: str) -> Verdict:
    if grader is None:
        return _error(assertion, NO_JUDGE)
    plain = dataclasses.replace(assertion, value=value, negate=False)
    try:
        verdict = grader.grade(plain, output=output, question=question, vars=dict(case.vars))
    except Exception as exc:  # a judge is another model, over a network: anything can happen
        return _error(assertion, f"the judge failed: {type(exc).__name__}: {exc}")
    if verdict.error:
        result = _error(assertion, verdict.error)
        result.judge = verdict.judge
        return result
    score = verdict.score
    if not isinstance(score, int | float) or isinstance(score, bool) or not math.isfinite(score):
        result = _error(assertion, f"the judge gave no usable score: {score!r}")
        result.judge = verdict.judge
        return result
    score = _unit(score)
    passed = bool(verdict.passed)
    reason = f"judge: {verdict.reason}"
    if assertion.threshold is not None and score < assertion.threshold:
        if passed:
            reason += f" (score {score:.2f} is under the threshold {assertion.threshold:g})"
        passed = False
    if assertion.negate:
        passed, score = not passed, 1.0 - score
        reason = f"{assertion.written_type}: the judge's pass and score reversed; {reason}"
    return Verdict(type=assertion.written_type, passed=passed, score=score,
                   reason=_clean(reason), weight=assertion.weight, metric=assertion.metric,
                   judge=verdict.judge)


def outcome(verdicts: list[Verdict], case: Case) -> tuple[bool | None, float | None]:
    """The case's (passed, score) from its verdicts, as promptfoo folds them.

    - score: the mean of the verdict scores weighted by ``weight``. A weight of 0 takes no part
      in the score, but its assertion must still pass (promptfoo: a failed assertion fails the
      test whatever its weight). Where every weight is 0 the score is the plain mean (promptfoo
      would give 0, which reads as a failure next to a pass).
    - passed: every verdict passed; or, with a test-level ``threshold`` on the case, the score
      reaches it (then individual failures do not fail the case by themselves).
    - any verdict with an error: (None, None), an error counted apart from failures.
    - no assertions: (True, 1.0).
    """
    if any(v.error for v in verdicts):
        return None, None
    if not verdicts:
        return True, 1.0
    total = sum(v.weight for v in verdicts)
    if total > 0:
        score = sum(v.score * v.weight for v in verdicts) / total
    else:
        score = sum(v.score for v in verdicts) / len(verdicts)
    if case.threshold is not None:
        return score >= case.threshold - 1e-9, score
    return all(v.passed for v in verdicts), score


# ---------------------------------------------------------------------------------------------
# the checks: each returns what it found in the positive sense; grade() applies "not-"


def _found(holds: bool, yes: str = "it does", no: str = "it does not") -> str:
    return yes if holds else no


def _need_text(assertion: Assertion, value: Any) -> str:
    if isinstance(value, str):
        return value
    if _is_number(value):
        return _text(value)
    raise _Undecided(f"{assertion.type} needs a text value, not {_shown(value)}")


def _check_equals(assertion: Assertion, value: Any, output: str, answer: AnswerResult) -> _Check:
    if isinstance(value, str):
        holds = output == value
        return _Check(holds, float(holds), f"equal {_shown(value)}",
                      _found(holds, "it does", f"it is {_shown(output)}"))
    predicate = f"be JSON equal to {_shown(value)}"
    try:
        parsed = _strict_json(output)
    except ValueError:
        return _Check(False, 0.0, predicate, f"it is not JSON: {_shown(output)}")
    holds = _same_json(parsed, value)
    return _Check(holds, float(holds), predicate, _found(holds, "it is", f"it is {_shown(parsed)}"))


def _same_json(a: Any, b: Any) -> bool:
    """Deep equality where true is not 1 and 1 equals 1.0 (JSON has one number type)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _check_contains(assertion: Assertion, value: Any, output: str,
                    answer: AnswerResult) -> _Check:
    needle = _need_text(assertion, value)
    fold = assertion.type == "icontains"
    where = (output.lower() if fold else output).find(needle.lower() if fold else needle)
    holds = where >= 0
    predicate = f"contain {_shown(needle)}" + (" (ignoring case)" if fold else "")
    return _Check(holds, float(holds), predicate,
                  _found(holds, f"found at character {where + 1}", "not found"))


def _check_contains_list(assertion: Assertion, value: Any, output: str,
                         answer: AnswerResult) -> _Check:
    items = _as_list(value)
    if not items:
        raise _Undecided(f"{assertion.type} needs a list of strings, not {_shown(value)}")
    fold = assertion.type.startswith("i")
    text = output.lower() if fold else output
    found = [item for item in items if (item.lower() if fold else item) in text]
    listed = _shown(items)
    case_note = " (ignoring case)" if fold else ""
    if assertion.type.endswith("-any"):
        holds = bool(found)
        return _Check(holds, float(holds), f"contain at least one of {listed}{case_note}",
                      f"found {_shown(found[0])}" if found else "found none of them")
    missing = [item for item in items if item not in found]
    holds = not missing
    return _Check(holds, float(holds), f"contain all of {listed}{case_note}",
                  "found them all" if holds else f"missing {_shown(missing)}")


def _check_starts_with(assertion: Assertion, value: Any, output: str,
                       answer: AnswerResult) -> _Check:
    prefix = _need_text(assertion, value)
    holds = output.startswith(prefix)
    return _Check(holds, float(holds), f"start with {_shown(prefix)}",
                  _found(holds, "it does",
                         f"it starts with {_shown(output[:max(len(prefix), 1) + 20])}"))


def _check_regex(assertion: Assertion, value: Any, output: str, answer: AnswerResult) -> _Check:
    if not isinstance(value, str):
        raise _Undecided(f"regex needs a pattern string, not {_shown(value)}")
    try:
        pattern = re.compile(value)
    except re.error as exc:
        raise _Undecided(f"the regular expression does not compile: {exc}") from None
    match = pattern.search(output)
    holds = match is not None
    detail = (f"matched {_shown(match.group())} at character {match.start() + 1}"
              if match is not None else "no match")
    return _Check(holds, float(holds), f"match the regular expression {_shown(value)}", detail)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_FENCED = re.compile(r"\A\s*```[A-Za-z0-9_-]*[ \t]*\n.*\n[ \t]*```\s*\Z", re.DOTALL)


def _strict_json(text: str) -> Any:
    """``text`` parsed as strict JSON (no NaN/Infinity); ValueError otherwise."""
    try:
        value, end = _DECODER.raw_decode(text, _skip_space(text, 0))
    except RecursionError:
        raise ValueError("it nests too deeply") from None
    if _skip_space(text, end) != len(text):
        raise ValueError(f"extra text after the JSON at character {end + 1}")
    return value


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\n\r":
        index += 1
    return index


def _schema_or_undecided(value: Any) -> dict[str, Any] | bool | None:
    try:
        return _schema(value)
    except ValueError as exc:
        raise _Undecided(str(exc)) from None


def _schema_problem(schema: dict[str, Any] | bool, instance: Any) -> str | None:
    """Why ``instance`` does not match ``schema``; None when it does."""
    jsonschema = _jsonschema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = _clean(error.message, _MAX_DETAIL)
    return f"at ${path}: {message}"


def _check_is_json(assertion: Assertion, value: Any, output: str,
                   answer: AnswerResult) -> _Check:
    schema = _schema_or_undecided(value)
    predicate = "be JSON" + (" matching the schema" if schema is not None else "")
    try:
        parsed = _strict_json(output)
    except ValueError as exc:
        detail = f"it does not parse ({_clean(str(exc), _MAX_DETAIL)})"
        if _FENCED.match(output):
            detail += "; it is a fenced code block (contains-json accepts that)"
        return _Check(False, 0.0, predicate, detail)
    if schema is not None:
        problem = _schema_problem(schema, parsed)
        if problem is not None:
            return _Check(False, 0.0, predicate, f"it parses, but not the schema {problem}")
        return _Check(True, 1.0, predicate, "it parses and matches the schema")
    return _Check(True, 1.0, predicate, "it parses")


_JSON_START = re.compile(r"\{(?=\s*[\"}])|\[(?=\s*[\]\[{\"0-9tfn-])")


def _embedded_json(text: str) -> Iterator[tuple[int, Any]]:
    """(position, value) of each JSON object or array embedded in ``text``, in order, skipping
    what a found one spans. Bounded for hostile text: starts in the first JSON_SCAN_CHARS
    characters, at most JSON_SCAN_TRIES tries, and each try after the first reads at most
    JSON_SCAN_WINDOW characters (promptfoo's limit too)."""
    tries = 0
    resume = 0
    for match in _JSON_START.finditer(text, 0, JSON_SCAN_CHARS):
        start = match.start()
        if start < resume:
            continue
        tries += 1
        if tries > JSON_SCAN_TRIES:
            return
        try:
            if tries == 1:
                value, end = _DECODER.raw_decode(text, start)
            else:
                value, end = _DECODER.raw_decode(text[start:start + JSON_SCAN_WINDOW])
                end += start
        except (ValueError, RecursionError):
            continue
        resume = end
        yield start, value


def _check_contains_json(assertion: Assertion, value: Any, output: str,
                         answer: AnswerResult) -> _Check:
    schema = _schema_or_undecided(value)
    predicate = "contain JSON" + (" matching the schema" if schema is not None else "")
    first_problem = None
    seen = 0
    for start, found in _embedded_json(output):
        seen += 1
        if schema is None:
            return _Check(True, 1.0, predicate, f"found JSON at character {start + 1}")
        problem = _schema_problem(schema, found)
        if problem is None:
            return _Check(True, 1.0, predicate,
                          f"found JSON matching the schema at character {start + 1}")
        first_problem = first_problem or f"the JSON at character {start + 1} does not: {problem}"
    if seen:
        more = f" ({seen} JSON values found, none matches)" if seen > 1 else ""
        return _Check(False, 0.0, predicate, f"{first_problem}{more}")
    scope = f" in its first {JSON_SCAN_CHARS:,} characters" if len(output) > JSON_SCAN_CHARS else ""
    return _Check(False, 0.0, predicate, f"no JSON object or array found{scope}")


def levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """The edit distance of ``a`` and ``b`` (insertions, deletions, substitutions); with
    ``limit``, any result over it may be returned as ``limit + 1`` (computed in a band)."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    a, b = a[start:], b[start:]
    end = 0
    while end < min(len(a), len(b)) and a[-1 - end] == b[-1 - end]:
        end += 1
    if end:
        a, b = a[:-end], b[:-end]
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    if not b:
        return len(a)
    band = None if limit is None else limit
    previous = list(range(len(b) + 1))
    big = len(a) + len(b) + 1
    for i, char in enumerate(a, 1):
        low = 1 if band is None else max(1, i - band)
        high = len(b) if band is None else min(len(b), i + band)
        current = [big] * (len(b) + 1)
        current[0] = i if band is None or i <= band else big
        for j in range(low, high + 1):
            cost = 0 if char == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        if limit is not None and min(current[max(0, low - 1):high + 1]) > limit:
            return limit + 1
        previous = current
    distance = previous[len(b)]
    return distance if limit is None else min(distance, limit + 1)


def _check_levenshtein(assertion: Assertion, value: Any, output: str,
                       answer: AnswerResult) -> _Check:
    target = _need_text(assertion, value)
    limit = 5 if assertion.threshold is None else int(assertion.threshold)
    distance = levenshtein(output, target, limit)
    holds = distance <= limit
    shown = f"{distance}" if holds else f"more than {limit}"
    return _Check(holds, float(holds), f"be within {limit} edits of {_shown(target)}",
                  f"Levenshtein distance {shown}")


_WORD = re.compile(r"\w+")


def _grams(text: str) -> Counter[str]:
    words = _WORD.findall(text.lower())
    grams = Counter(words)
    grams.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return grams


def similarity(a: str, b: str) -> float:
    """Cosine similarity of the word and word-pair counts of ``a`` and ``b`` (lowercased):
    lexical overlap, not meaning. Two texts without words are 1.0 alike."""
    ga, gb = _grams(a), _grams(b)
    if not ga or not gb:
        return 1.0 if not ga and not gb else 0.0
    if len(ga) > len(gb):
        ga, gb = gb, ga
    dot = sum(count * gb[gram] for gram, count in ga.items() if gram in gb)
    norm = math.sqrt(sum(c * c for c in ga.values())) * math.sqrt(sum(c * c for c in gb.values()))
    return dot / norm


def _check_similar(assertion: Assertion, value: Any, output: str,
                   answer: AnswerResult) -> _Check:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list | tuple) or not texts or not all(
            isinstance(t, str) for t in texts):
        raise _Undecided(f"similar needs a string or a list of strings, not {_shown(value)}")
    threshold = 0.75 if assertion.threshold is None else assertion.threshold
    scores = [similarity(output, text) for text in texts]
    best = max(range(len(scores)), key=scores.__getitem__)
    holds = scores[best] >= threshold
    target = _shown(texts[0]) if len(texts) == 1 else f"one of {_shown(list(texts))}"
    closest = f" (closest: {_shown(texts[best])})" if len(texts) > 1 else ""
    return _Check(holds, scores[best], f"be similar to {target}",
                  f"cosine similarity of word and word-pair counts: {scores[best]:.2f} "
                  f"(threshold {threshold:g}; lexical, not semantic){closest}")


def _check_count(assertion: Assertion, value: Any, output: str, answer: AnswerResult) -> _Check:
    limits = _range(value)
    if limits is None:
        raise _Undecided(f"{assertion.type} needs N or {{min, max}}, not {_shown(value)}")
    low, high = limits
    words = assertion.type == "word-count"
    count = len(output.split()) if words else len(output)
    unit = "words" if words else "characters"
    holds = (low is None or count >= low) and (high is None or count <= high)
    if low is not None and high is not None:
        predicate = f"have between {low:g} and {high:g} {unit}"
    elif high is not None:
        predicate = f"have at most {high:g} {unit}"
    else:
        predicate = f"have at least {low:g} {unit}"
    return _Check(holds, float(holds), predicate, f"it has {count:,}")


def _need_threshold(assertion: Assertion) -> float:
    if assertion.threshold is None:
        raise _Undecided(f"{assertion.type} needs a threshold")
    return float(assertion.threshold)


def _check_cost(assertion: Assertion, value: Any, output: str, answer: AnswerResult) -> _Check:
    limit = _need_threshold(assertion)
    if answer.cost_usd is None:
        raise _Undecided("cost unknown" + (f" ({answer.cost_note})" if answer.cost_note else ""))
    holds = answer.cost_usd <= limit
    return _Check(holds, float(holds), f"cost at most ${limit:g}",
                  f"it cost ${answer.cost_usd:.6g}")


def _check_latency(assertion: Assertion, value: Any, output: str,
                   answer: AnswerResult) -> _Check:
    limit = _need_threshold(assertion)
    if answer.total_ms is None:
        raise _Undecided("latency unknown")
    holds = answer.total_ms <= limit
    return _Check(holds, float(holds), f"take at most {limit:g} ms",
                  f"it took {answer.total_ms:,.0f} ms")


def _check_finish_reason(assertion: Assertion, value: Any, output: str,
                         answer: AnswerResult) -> _Check:
    expected = _need_text(assertion, value)
    if not answer.finish_reason:
        raise _Undecided("finish reason unknown: the target did not report one")
    holds = answer.finish_reason.lower() == expected.lower()
    return _Check(holds, float(holds), f"finish with the reason {_shown(expected)}",
                  f"it finished with {_shown(answer.finish_reason)}")


_CHECKS = {
    "equals": _check_equals,
    "contains": _check_contains,
    "icontains": _check_contains,
    "contains-any": _check_contains_list,
    "icontains-any": _check_contains_list,
    "contains-all": _check_contains_list,
    "icontains-all": _check_contains_list,
    "starts-with": _check_starts_with,
    "regex": _check_regex,
    "is-json": _check_is_json,
    "contains-json": _check_contains_json,
    "levenshtein": _check_levenshtein,
    "similar": _check_similar,
    "word-count": _check_count,
    "length": _check_count,
    "cost": _check_cost,
    "latency": _check_latency,
    "finish-reason": _check_finish_reason,
}
assert set(_CHECKS) | MODEL_GRADED == KNOWN_TYPES
