"""Comparisons in a real SQLite file: save/load, blind letters, votes, outcomes, scoreboard."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from workbench.compare import store
from workbench.errors import BadInput
from workbench.providers.base import AnswerResult, Params
from workbench.store import db


@pytest.fixture
def connection(tmp_path: Path):
    with db.connect(tmp_path / "w.sqlite3") as conn:
        yield conn


def answer(label: str, text: str = "an answer", error: str | None = None,
           **fields) -> AnswerResult:
    provider, _, model = label.partition("/")
    return AnswerResult(target=label, label=label, provider=provider, model=model,
                        destination="x", text=text, error=error, **fields)


def test_save_and_load_round_trip(connection) -> None:
    results = [answer("local/m.gguf", ttft_ms=12.5, completion_tokens=7, energy_j=3.0,
                      notes=["a note"]),
               answer("openai/gpt-4o-mini", cost_usd=0.001, prompt_tokens=None)]
    run_id = store.save_run(connection, prompt="Why?", system="Be brief.",
                            params=Params(max_tokens=64, temperature=0.5), results=results)
    run = store.load_run(connection, run_id)
    assert run.prompt == "Why?" and run.system == "Be brief." and not run.blind
    assert run.params == Params(max_tokens=64, temperature=0.5)
    assert run.answers == results and run.revealed and run.vote is None
    assert run.display_order == [0, 1]
    row = connection.execute("SELECT label, ttft_ms, cost_usd FROM compare_answers WHERE "
                             "run_id = ? ORDER BY position", (run_id,)).fetchall()
    assert [tuple(r) for r in row] == [("local/m.gguf", 12.5, None),
                                       ("openai/gpt-4o-mini", None, 0.001)]
    with pytest.raises(BadInput, match="no comparison run 999"):
        store.load_run(connection, 999)


def test_blind_runs_hide_until_the_vote(connection) -> None:
    results = [answer("a/x"), answer("b/y"), answer("c/z")]
    order = store.blind_order(3, random.Random(4))
    assert sorted(order) == [0, 1, 2]
    run_id = store.save_run(connection, prompt="p", system=None, params=Params(),
                            results=results, blind=True, order=order)
    run = store.load_run(connection, run_id)
    assert run.blind and not run.revealed
    letters = {letter: result.label for letter, result in run.displayed()}
    assert sorted(letters) == ["A", "B", "C"]
    winner_letter = next(k for k, v in letters.items() if v == "b/y")
    voted = store.record_vote(connection, run_id, winner_letter.lower())
    assert voted.revealed and voted.vote == winner_letter and voted.voted_at
    pairs = store.outcomes(connection)
    assert {(o.a, o.b, o.result) for o in pairs} == {
        ("a/x", "b/y", "loss"), ("b/y", "c/z", "win")}
    with pytest.raises(BadInput, match="no answer 'D'"):
        store.record_vote(connection, run_id, "D")


def test_ties_revotes_and_the_scoreboard(connection) -> None:
    first = store.save_run(connection, prompt="1", system=None, params=Params(),
                           results=[answer("a/x"), answer("b/y")])
    second = store.save_run(connection, prompt="2", system=None, params=Params(),
                            results=[answer("a/x"), answer("b/y")])
    store.record_vote(connection, first, "B")
    store.record_vote(connection, first, "A")  # changed my mind: replaces the vote
    store.record_vote(connection, second, "tie")
    rows = {row["name"]: row for row in store.scoreboard(connection)}
    assert (rows["a/x"]["wins"], rows["a/x"]["ties"], rows["a/x"]["losses"]) == (1, 1, 0)
    assert (rows["b/y"]["wins"], rows["b/y"]["ties"], rows["b/y"]["losses"]) == (0, 1, 1)
    assert rows["a/x"]["rating"] > 1000 > rows["b/y"]["rating"]
    assert store.scoreboard(connection)[0]["name"] == "a/x"
    assert len(store.recent_runs(connection)) == 2


def test_failed_answers_without_text_are_not_judged(connection) -> None:
    run_id = store.save_run(connection, prompt="p", system=None, params=Params(),
                            results=[answer("a/x"), answer("b/y", text="", error="boom"),
                                     answer("c/z", text="partial", error="cut")])
    store.record_vote(connection, run_id, "A")
    names = {(o.a, o.b) for o in store.outcomes(connection)}
    assert names == {("a/x", "c/z")}


def test_single_answers_cannot_be_voted_on(connection) -> None:
    run_id = store.save_run(connection, prompt="p", system=None, params=Params(),
                            results=[answer("a/x")])
    with pytest.raises(BadInput, match="single answer"):
        store.record_vote(connection, run_id, "A")


def test_keys_never_reach_the_database(connection) -> None:
    from workbench.store.secrets import Secret

    key = "sk-never-stored-5b6c7d8e9f"
    Secret(key)
    run_id = store.save_run(connection, prompt="p", system=None, params=Params(), results=[
        answer("openai/x", text="", error=f"bad key {key}", notes=[f"sent {key}"])])
    dump = "\n".join(connection.iterdump())
    assert key not in dump and "[redacted]" in dump
    assert store.load_run(connection, run_id).answers[0].error == "bad key [redacted]"
