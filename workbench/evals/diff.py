"""Which cases got better or worse between two runs (a regression view).

Results are matched by (case, target). Targets are matched by what the runs call them; two
runs of one target each are compared with each other whatever their names (a new quantisation
against the old one). With repeats, a case passes when most of its repeats pass; a case whose
every repeat errored is an error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.evals.model import CaseResult

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass(frozen=True)
class CaseChange:
    case_id: str
    target_a: str
    target_b: str
    before: str  # pass | fail | error
    after: str

    @property
    def kind(self) -> str:
        if self.before == self.after:
            return "same"
        if self.after == PASS:
            return "better"
        if self.before == PASS or (self.before == ERROR and self.after == FAIL):
            return "worse"
        return "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case_id, "target_a": self.target_a, "target_b": self.target_b,
                "before": self.before, "after": self.after, "change": self.kind}


@dataclass
class RunDiff:
    run_a: int
    run_b: int
    pairs: list[tuple[str, str]]  # (target in A, target in B)
    changes: list[CaseChange] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)  # case ids answered in A only
    only_b: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[CaseChange]:
        return [c for c in self.changes if c.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {"run_a": self.run_a, "run_b": self.run_b,
                "pairs": [{"a": a, "b": b} for a, b in self.pairs],
                "better": [c.to_dict() for c in self.of_kind("better")],
                "worse": [c.to_dict() for c in self.of_kind("worse")],
                "changed": [c.to_dict() for c in self.of_kind("changed")],
                "same": len(self.of_kind("same")),
                "only_a": self.only_a, "only_b": self.only_b}


def case_status(results: Sequence[CaseResult]) -> dict[tuple[str, str], str]:
    """(case, target) -> pass | fail | error, by majority over the repeats that did not error."""
    votes: dict[tuple[str, str], list[bool | None]] = defaultdict(list)
    for result in results:
        votes[(result.case_id, result.target)].append(result.passed)
    status: dict[tuple[str, str], str] = {}
    for key, outcomes in votes.items():
        decided = [o for o in outcomes if o is not None]
        if not decided:
            status[key] = ERROR
        else:
            status[key] = PASS if sum(decided) * 2 > len(decided) else FAIL
    return status


def diff_runs(run_a: int, targets_a: Sequence[str], results_a: Sequence[CaseResult],
              run_b: int, targets_b: Sequence[str], results_b: Sequence[CaseResult]) -> RunDiff:
    shared = [t for t in targets_a if t in targets_b]
    if shared:
        pairs = [(t, t) for t in shared]
    elif len(targets_a) == 1 and len(targets_b) == 1:
        pairs = [(targets_a[0], targets_b[0])]
    else:
        pairs = []
    before, after = case_status(results_a), case_status(results_b)
    diff = RunDiff(run_a, run_b, pairs)
    cases_a = sorted({c for c, _t in before}, key=_natural)
    cases_b = {c for c, _t in after}
    for a, b in pairs:
        for case in cases_a:
            if (case, a) in before and (case, b) in after:
                diff.changes.append(CaseChange(case, a, b, before[(case, a)], after[(case, b)]))
    diff.only_a = [c for c in cases_a if c not in cases_b]
    diff.only_b = sorted(cases_b - set(cases_a), key=_natural)
    return diff


def _natural(case_id: str) -> tuple[int, str]:
    head = case_id.split("/", 1)[0]
    return (int(head), case_id) if head.isdigit() else (1 << 30, case_id)
