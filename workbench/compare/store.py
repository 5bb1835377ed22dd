"""Comparisons in SQLite: runs, their answers, blind order, votes, the scoreboard.

Blind runs keep the targets' names (and everything that would give them away) hidden behind
letters A-D in a shuffled order until the user votes; ``StoredRun.revealed`` says when they may
be shown. A vote names the best answer (by its letter) or a tie; it becomes pairwise outcomes
(the winner beats each other answer; a tie ties every pair) for the win/tie/loss tally and the
Bradley-Terry ratings. Answers that failed without any text are left out of the outcomes.
"""

from __future__ import annotations

import json
import random
import sqlite3
import string
from dataclasses import dataclass
from typing import Any

from workbench.compare.ratings import LOSS, TIE, WIN, Outcome, bradley_terry, tally
from workbench.errors import BadInput
from workbench.providers.base import AnswerResult, Params
from workbench.store.secrets import redact

LETTERS = string.ascii_uppercase


@dataclass
class StoredRun:
    id: int
    created_at: str
    prompt: str
    system: str | None
    params: Params
    blind: bool
    display_order: list[int]  # display index -> answer position
    answers: list[AnswerResult]  # by position
    vote: str | None  # None: no vote; "tie"; or the winning letter
    voted_at: str | None = None

    @property
    def revealed(self) -> bool:
        return not self.blind or self.vote is not None

    def letter_of(self, position: int) -> str:
        return LETTERS[self.display_order.index(position)]

    def position_of(self, letter: str) -> int:
        index = LETTERS.find(letter.strip().upper())
        if len(letter.strip()) != 1 or not 0 <= index < len(self.display_order):
            valid = ", ".join(LETTERS[: len(self.display_order)])
            raise BadInput(f"no answer {letter!r} in run {self.id} (answers: {valid})")
        return self.display_order[index]

    def displayed(self) -> list[tuple[str, AnswerResult]]:
        """(letter, answer) in display order."""
        return [(LETTERS[i], self.answers[p]) for i, p in enumerate(self.display_order)]


def blind_order(count: int, rng: random.Random | None = None) -> list[int]:
    order = list(range(count))
    (rng or random.SystemRandom()).shuffle(order)
    return order


def _clean(result: AnswerResult) -> dict[str, Any]:
    """The result as stored: every string scrubbed of known key values."""
    document = result.to_dict()
    for key, value in document.items():
        if isinstance(value, str):
            document[key] = redact(value)
        elif isinstance(value, list):
            document[key] = [redact(v) if isinstance(v, str) else v for v in value]
    return document


def save_run(connection: sqlite3.Connection, *, prompt: str, system: str | None, params: Params,
             results: list[AnswerResult], blind: bool = False,
             order: list[int] | None = None) -> int:
    """Store a finished comparison; returns its id."""
    if order is None:
        order = blind_order(len(results)) if blind else list(range(len(results)))
    if sorted(order) != list(range(len(results))):
        raise BadInput("the display order must be a permutation of the answers")
    with connection:
        cursor = connection.execute(
            "INSERT INTO compare_runs (prompt, system, params, blind, display_order) "
            "VALUES (?, ?, ?, ?, ?)",
            (prompt, system, json.dumps(params.to_dict()), int(blind), json.dumps(order)))
        run_id = int(cursor.lastrowid or 0)
        for position, result in enumerate(results):
            doc = _clean(result)
            connection.execute(
                """INSERT INTO compare_answers (run_id, position, target, label, provider, model,
                   destination, text, finish_reason, error, error_kind, ttft_ms, total_ms,
                   prompt_tokens, completion_tokens, gen_tokens_per_s, cost_usd, energy_j,
                   result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (run_id, position, doc["target"], doc["label"], doc["provider"], doc["model"],
                 doc["destination"], doc["text"], doc["finish_reason"], doc["error"],
                 doc["error_kind"], result.ttft_ms, result.total_ms, result.prompt_tokens,
                 result.completion_tokens, result.gen_tokens_per_s, result.cost_usd,
                 result.energy_j, json.dumps(doc, ensure_ascii=False)))
    return run_id


def load_run(connection: sqlite3.Connection, run_id: int) -> StoredRun:
    row = connection.execute("SELECT * FROM compare_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise BadInput(f"no comparison run {run_id}")
    answers = [AnswerResult.from_dict(json.loads(a["result"])) for a in connection.execute(
        "SELECT result FROM compare_answers WHERE run_id = ? ORDER BY position", (run_id,))]
    vote = connection.execute("SELECT winner_position, created_at FROM compare_votes WHERE "
                              "run_id = ?", (run_id,)).fetchone()
    order = json.loads(row["display_order"])
    verdict = None
    if vote is not None:
        verdict = "tie" if vote[0] is None else LETTERS[order.index(vote[0])]
    return StoredRun(id=row["id"], created_at=row["created_at"], prompt=row["prompt"],
                     system=row["system"], params=Params.from_dict(json.loads(row["params"])),
                     blind=bool(row["blind"]), display_order=order, answers=answers,
                     vote=verdict, voted_at=vote[1] if vote is not None else None)


def recent_runs(connection: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    rows = connection.execute(
        "SELECT r.id, r.created_at, r.prompt, r.blind, COUNT(a.id) AS answers, "
        "v.id IS NOT NULL AS voted FROM compare_runs r "
        "LEFT JOIN compare_answers a ON a.run_id = r.id LEFT JOIN compare_votes v ON "
        "v.run_id = r.id GROUP BY r.id ORDER BY r.id DESC LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]


def record_vote(connection: sqlite3.Connection, run_id: int, choice: str) -> StoredRun:
    """Record the user's verdict on a run: a letter (A-D) or "tie". A new vote replaces one."""
    run = load_run(connection, run_id)
    if len(run.answers) < 2:
        raise BadInput(f"run {run_id} has a single answer: nothing to vote on")
    position = None if choice.strip().lower() == "tie" else run.position_of(choice)
    with connection:
        connection.execute("DELETE FROM compare_votes WHERE run_id = ?", (run_id,))
        connection.execute("INSERT INTO compare_votes (run_id, winner_position) VALUES (?, ?)",
                           (run_id, position))
    return load_run(connection, run_id)


def outcomes(connection: sqlite3.Connection) -> list[Outcome]:
    """Pairwise outcomes of every vote (by answer label, e.g. "openai/gpt-4o-mini")."""
    result: list[Outcome] = []
    votes = connection.execute("SELECT run_id, winner_position FROM compare_votes ORDER BY id")
    for run_id, winner in votes.fetchall():
        answers = connection.execute(
            "SELECT position, label, error, text FROM compare_answers WHERE run_id = ? "
            "ORDER BY position", (run_id,)).fetchall()
        judged = [(p, label) for p, label, error, text in answers if text or not error]
        for i, (pa, la) in enumerate(judged):
            for pb, lb in judged[i + 1:]:
                if la == lb:
                    continue
                if winner is None:
                    result.append(Outcome(la, lb, TIE))
                elif winner == pa:
                    result.append(Outcome(la, lb, WIN))
                elif winner == pb:
                    result.append(Outcome(la, lb, LOSS))
                # two answers that both lost to the winner: no outcome between them
    return result


def scoreboard(connection: sqlite3.Connection, *, prior: float = 1.0) -> list[dict[str, Any]]:
    """Per label: wins, ties, losses, games and the Bradley-Terry rating (best first)."""
    pairs = outcomes(connection)
    counts = tally(pairs)
    ratings = bradley_terry(pairs, prior=prior)
    rows = [{"name": name, "wins": t.wins, "ties": t.ties, "losses": t.losses,
             "games": t.games, "rating": round(ratings.get(name, 1000.0), 1)}
            for name, t in counts.items()]
    return sorted(rows, key=lambda r: (-r["rating"], r["name"]))
