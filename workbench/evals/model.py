"""The data every part of an eval shares: a loaded suite, its cases, verdicts and results.

A suite (suite.py) expands into ``Case`` items, one per test x prompt; a run asks every case
of every target ``repeat`` times; each answer is graded by the case's assertions into
``Verdict`` objects and kept as one ``CaseResult`` (store.py saves it as it arrives).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.providers.base import AnswerResult


class SuiteError(BadInput):
    """A suite that cannot be run: ``str()`` is "FILE:LINE: what is wrong" (exit code 2)."""

    def __init__(self, message: str, *, source: str | None = None,
                 line: int | None = None) -> None:
        where = source or "suite"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
        self.detail = message


@dataclass(frozen=True)
class Assertion:
    """One check on an answer, as the suite wrote it (promptfoo's ``assert`` entries)."""

    type: str  # canonical name without the "not-" prefix, e.g. "contains", "llm-rubric"
    negate: bool = False  # written with the "not-" prefix
    value: Any = None  # as given: a string, a list, a number, a JSON schema (dict) ...
    threshold: float | None = None
    weight: float = 1.0
    metric: str | None = None  # a named score the summary averages
    line: int | None = None  # 1-based line in the suite file, for messages
    provider: str | None = None  # a per-assertion judge target (model-graded types)

    @property
    def written_type(self) -> str:
        return f"not-{self.type}" if self.negate else self.type


@dataclass(frozen=True)
class ChatTemplate:
    """One prompt: a list of (role, template text); a plain prompt is one user message."""

    label: str
    messages: tuple[tuple[str, str], ...]
    line: int | None = None


@dataclass(frozen=True)
class Case:
    """One test x one prompt: what a target is asked, and how its answer is judged."""

    id: str  # stable within the suite: "3" (test 3) or "3/label" when there are several prompts
    index: int  # 1-based test number
    prompt: ChatTemplate
    vars: dict[str, Any]
    assertions: tuple[Assertion, ...]
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()  # metadata "tags" (a list or a comma-separated string)
    line: int | None = None
    threshold: float | None = None  # test-level threshold on the weighted score (promptfoo)


@dataclass(frozen=True)
class SuiteTarget:
    """A target named in the suite's ``providers``: Workbench's spec and what the suite calls it."""

    spec: str  # a Workbench target spec (providers/registry.py), e.g. "openai:gpt-4o-mini"
    label: str  # the suite's id or label, shown in reports
    line: int | None = None


@dataclass(frozen=True)
class Suite:
    description: str
    cases: tuple[Case, ...]
    targets: tuple[SuiteTarget, ...] = ()
    path: Path | None = None
    sha256: str = ""  # of the suite file and the case files it names, as read
    text: str = ""  # the suite file's YAML, as read (stored with a run for --resume)
    judge: str | None = None  # defaultTest.options.provider, as a target spec (the suite's judge)

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)


@dataclass
class Verdict:
    """One assertion's outcome on one answer. ``error``: it could not be decided (a judge that
    failed, an invalid schema); such a verdict is neither a pass nor a fail."""

    type: str  # as written, e.g. "not-contains"
    passed: bool
    score: float  # 0..1
    reason: str
    weight: float = 1.0
    metric: str | None = None
    error: str | None = None
    judge: dict[str, Any] | None = None  # a model-graded verdict: the judge's usage (see judge.py)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class CaseResult:
    """One target's answer to one case (one repeat) and its grading.

    ``passed`` is None when the case errored (the target failed, or a verdict could not be
    decided): errors are counted apart from failures."""

    case_id: str
    target: str  # the target as given (-t or the suite's label)
    repeat: int  # 0-based
    answer: AnswerResult
    verdicts: list[Verdict] = field(default_factory=list)
    passed: bool | None = None
    score: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "target": self.target, "repeat": self.repeat,
                "answer": self.answer.to_dict(), "verdicts": [v.to_dict() for v in self.verdicts],
                "passed": self.passed, "score": self.score, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        return cls(case_id=data["case_id"], target=data["target"], repeat=int(data["repeat"]),
                   answer=AnswerResult.from_dict(data["answer"]),
                   verdicts=[Verdict.from_dict(v) for v in data.get("verdicts") or []],
                   passed=data.get("passed"), score=data.get("score"), error=data.get("error"))
