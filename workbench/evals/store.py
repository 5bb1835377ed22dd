"""Eval runs in SQLite: the run (its suite, as read, and its options) and every answer.

An answer is written, in its own transaction, as soon as it is graded: a run that was
cancelled or killed (kill -9 included) keeps everything it had answered, and ``--resume`` asks
only the (case, target, repeat) triples that are missing. The suite's text and SHA-256 are kept
with the run, so that a resumed run refuses a suite that changed in the meantime.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.evals.model import CaseResult

RUNNING, COMPLETE, CANCELLED, INCOMPLETE = "running", "complete", "cancelled", "incomplete"


@dataclass(frozen=True)
class StoredOptions:
    """What a run was asked with (the runner's RunOptions, without importing the runner)."""

    targets: tuple[str, ...]
    repeat: int
    temperature: float | None
    max_tokens: int
    judge: str | None
    concurrency: int

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "targets": list(self.targets)})

    @classmethod
    def from_json(cls, text: str) -> StoredOptions:
        data = json.loads(text)
        return cls(targets=tuple(data["targets"]), repeat=int(data["repeat"]),
                   temperature=data.get("temperature"), max_tokens=int(data["max_tokens"]),
                   judge=data.get("judge"), concurrency=int(data.get("concurrency", 4)))


@dataclass(frozen=True)
class RunRow:
    """One run, as listed (``workbench eval list``)."""

    id: int
    created_at: str
    finished_at: str | None
    description: str
    suite_path: str | None
    suite_sha256: str
    targets: tuple[str, ...]  # as given (labels): what results are keyed by
    specs: tuple[str, ...]  # the specs they were built from, in the same order
    total: int  # cases x targets x repeats
    answered: int  # results stored
    passed: int
    failed: int
    errors: int
    status: str  # running (or stopped without a word: kill -9), complete, cancelled, incomplete
    judge: str | None
    judge_usage: dict[str, Any]
    skipped: dict[str, str]
    options: StoredOptions
    suite_text: str

    @property
    def missing(self) -> int:
        return max(0, self.total - self.answered)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, "finished_at": self.finished_at,
                "description": self.description, "suite": self.suite_path,
                "suite_sha256": self.suite_sha256, "targets": list(self.targets),
                "total": self.total, "answered": self.answered, "passed": self.passed,
                "failed": self.failed, "errors": self.errors, "status": self.status,
                "judge": self.judge, "skipped": dict(self.skipped)}


def create_run(connection: sqlite3.Connection, *, description: str, suite_path: Path | None,
               suite_sha256: str, suite_text: str, options: StoredOptions,
               targets: Sequence[tuple[str, str]], total: int, judge: str | None) -> int:
    """A new run; ``targets`` are (label, spec) pairs. Returns its id."""
    with connection:
        cursor = connection.execute(
            "INSERT INTO eval_runs (description, suite_path, suite_sha256, suite_text, options,"
            " targets, total, status, judge) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (description, str(suite_path) if suite_path else None, suite_sha256, suite_text,
             options.to_json(), json.dumps([list(pair) for pair in targets]), total, RUNNING,
             judge))
    run_id = cursor.lastrowid
    assert run_id is not None
    return run_id


def save_result(connection: sqlite3.Connection, run_id: int, result: CaseResult) -> None:
    """Store one graded answer (replacing an earlier try of the same triple)."""
    passed = None if result.passed is None else int(result.passed)
    with connection:
        connection.execute(
            "INSERT OR REPLACE INTO eval_results (run_id, case_id, target, repeat, passed, score,"
            " error, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, result.case_id, result.target, result.repeat, passed, result.score,
             result.error, json.dumps(result.to_dict())))


def mark_running(connection: sqlite3.Connection, run_id: int) -> None:
    with connection:
        connection.execute("UPDATE eval_runs SET status = ?, finished_at = NULL WHERE id = ?",
                           (RUNNING, run_id))


def finish_run(connection: sqlite3.Connection, run_id: int, *, status: str,
               judge_usage: dict[str, Any], skipped: dict[str, str]) -> None:
    with connection:
        connection.execute(
            "UPDATE eval_runs SET status = ?, judge_usage = ?, skipped = ?, finished_at ="
            " strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
            (status, json.dumps(judge_usage), json.dumps(skipped), run_id))


_COUNTS = ("SELECT COUNT(*), SUM(passed = 1), SUM(passed = 0), SUM(passed IS NULL)"
           " FROM eval_results WHERE run_id = ?")


def _row(connection: sqlite3.Connection, row: sqlite3.Row) -> RunRow:
    answered, passed, failed, errors = connection.execute(_COUNTS, (row["id"],)).fetchone()
    pairs = json.loads(row["targets"])
    return RunRow(
        id=row["id"], created_at=row["created_at"], finished_at=row["finished_at"],
        description=row["description"], suite_path=row["suite_path"],
        suite_sha256=row["suite_sha256"], targets=tuple(p[0] for p in pairs),
        specs=tuple(p[1] for p in pairs), total=row["total"], answered=answered or 0,
        passed=passed or 0, failed=failed or 0, errors=errors or 0, status=row["status"],
        judge=row["judge"], judge_usage=json.loads(row["judge_usage"] or "{}"),
        skipped=json.loads(row["skipped"] or "{}"),
        options=StoredOptions.from_json(row["options"]), suite_text=row["suite_text"])


def list_runs(connection: sqlite3.Connection, limit: int = 200) -> list[RunRow]:
    """The newest runs first."""
    rows = connection.execute("SELECT * FROM eval_runs ORDER BY id DESC LIMIT ?",
                              (limit,)).fetchall()
    return [_row(connection, row) for row in rows]


def get_run(connection: sqlite3.Connection, run_id: int) -> RunRow:
    row = connection.execute("SELECT * FROM eval_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise BadInput(f"no eval run {run_id} (see `workbench eval list`)")
    return _row(connection, row)


def load_results(connection: sqlite3.Connection, run_id: int) -> list[CaseResult]:
    rows = connection.execute("SELECT result FROM eval_results WHERE run_id = ? ORDER BY id",
                              (run_id,)).fetchall()
    return [CaseResult.from_dict(json.loads(row["result"])) for row in rows]


def answered_keys(connection: sqlite3.Connection, run_id: int) -> set[tuple[str, str, int]]:
    """(case_id, target, repeat) of every stored answer."""
    rows = connection.execute(
        "SELECT case_id, target, repeat FROM eval_results WHERE run_id = ?", (run_id,))
    return {(r["case_id"], r["target"], r["repeat"]) for r in rows}


def delete_run(connection: sqlite3.Connection, run_id: int) -> None:
    get_run(connection, run_id)
    with connection:
        connection.execute("DELETE FROM eval_runs WHERE id = ?", (run_id,))


@dataclass(frozen=True)
class StoredRun:
    """A run and every answer it stored."""

    row: RunRow
    results: list[CaseResult]


def load_run(connection: sqlite3.Connection, run_id: int) -> StoredRun:
    return StoredRun(get_run(connection, run_id), load_results(connection, run_id))
