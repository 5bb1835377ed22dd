"""`workbench eval` end to end with the real SmolLM2-135M-Instruct: assertions known to hold pass
and assertions known to fail fail, repeat statistics, offline mode, a malformed suite, kill -9
in the middle of a run and --resume, and a real OpenAI-compatible server (llama-cpp-python's
own, serving the same model on loopback) as a second target."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.evals import store
from workbench.evals.runner import EvalRunner, RunOptions
from workbench.evals.suite import load_suite
from workbench.store import db

pytestmark = pytest.mark.usefixtures("home")

# Greedy SmolLM2 answers this with "The capital of France is Paris." on AVX2 and AVX-512 alike.
FRANCE = "Name the capital of France."

KNOWN = f"""
description: known outcomes on SmolLM2
prompts:
  - "{{{{question}}}}"
tests:
  - description: holds
    vars: {{question: "{FRANCE}"}}
    assert:
      - type: icontains
        value: paris
      - type: not-icontains
        value: berlin
      - type: regex
        value: "(?i)\\\\bparis\\\\b"
  - description: fails
    vars: {{question: "{FRANCE}"}}
    assert:
      - type: contains
        value: Berlin
  - description: mixed, weighted
    vars: {{question: "{FRANCE}"}}
    metadata: {{tags: [geo]}}
    assert:
      - type: icontains
        value: paris
        metric: facts
      - type: equals
        value: Berlin
        weight: 3
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    code = main(["eval", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def results_of(document: dict, description: str) -> list[dict]:
    case = next(c for c in document["cases"] if c["description"] == description)
    return case["results"]


def test_known_passes_and_failures(tmp_path: Path, smollm2: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    suite = write(tmp_path, KNOWN)
    code, doc, err = run_json(capsys, str(suite), "-t", f"local:{smollm2}",
                              "--temperature", "0", "--max-tokens", "24")
    assert code == 0, err
    (holds,) = results_of(doc, "holds")
    assert holds["pass"] is True and holds["error"] is None
    assert [a["pass"] for a in holds["assertions"]] == [True, True, True]
    assert "paris" in holds["text"].lower()
    (fails,) = results_of(doc, "fails")
    assert fails["pass"] is False
    assert "Berlin" in fails["assertions"][0]["reason"]
    (mixed,) = results_of(doc, "mixed, weighted")
    assert mixed["pass"] is False
    assert mixed["score"] == pytest.approx(0.25)  # (1 x 1 + 0 x 3) / 4
    (target,) = doc["targets"]
    assert (target["passed"], target["failed"], target["errors"]) == (1, 2, 0)
    assert doc["run"]["complete"] is True
    # stored as it arrived: the run and its three answers are in SQLite
    with db.connect() as connection:
        row = store.get_run(connection, doc["run"]["id"])
        stored = store.load_results(connection, row.id)
    assert (row.answered, row.passed, row.failed, row.status) == (3, 1, 2, "complete")
    # the model was loaded once for the run, by its first answer, not once per case
    assert [r.answer.load_ms is not None for r in stored] == [True, False, False]


def test_repeat_statistics_on_a_known_outcome(tmp_path: Path, smollm2: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    suite = write(tmp_path, f"""
prompts: ["{{{{q}}}}"]
tests:
  - vars: {{q: "{FRANCE}"}}
    assert: [{{type: icontains, value: paris}}]
""")
    code, doc, err = run_json(capsys, str(suite), "-t", f"local:{smollm2}", "--repeat", "3",
                              "--temperature", "0", "--max-tokens", "16",
                              "--fail-under", "100%")
    assert code == 0, err
    (target,) = doc["targets"]
    assert (target["passed"], target["failed"]) == (3, 0)
    assert target["pass_rate"] == 1.0
    low, high = target["pass_rate_ci"]
    assert low == pytest.approx(0.4385, abs=1e-3) and high == 1.0  # Wilson, 3 of 3
    assert sorted(r["repeat"] for r in doc["cases"][0]["results"]) == [0, 1, 2]


def test_fail_under_not_met_exits_1(tmp_path: Path, smollm2: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    suite = write(tmp_path, f"""
prompts: ["{{{{q}}}}"]
tests:
  - vars: {{q: "{FRANCE}"}}
    assert: [{{type: contains, value: Berlin}}]
""")
    code, doc, err = run_json(capsys, str(suite), "-t", f"local:{smollm2}",
                              "--temperature", "0", "--max-tokens", "16", "--fail-under", "0.5")
    assert code == 1
    assert "below --fail-under" in err
    assert doc["targets"][0]["pass_rate"] == 0.0


def test_malformed_suite_exits_2_with_the_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    suite = write(tmp_path, "prompts: ['{{q}}']\ntests:\n  - vars: {q: x}\n    assert:\n"
                            "      - type: no-such-check\n        value: 1\n")
    code = main(["eval", str(suite), "-t", "local:/nowhere.gguf"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{suite}:5" in err and "no-such-check" in err


def test_offline_mode_skips_cloud_targets_and_runs_the_rest(
        tmp_path: Path, smollm2: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, memory_keyring: object) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    suite = write(tmp_path, f"""
prompts: ["{{{{q}}}}"]
tests:
  - vars: {{q: "{FRANCE}"}}
    assert: [{{type: icontains, value: paris}}]
""")
    code, doc, err = run_json(capsys, str(suite), "--offline", "-t", f"local:{smollm2}",
                              "-t", "openai:gpt-4o-mini", "--temperature", "0",
                              "--max-tokens", "16")
    assert code == 1  # the run did not complete: one target could not run
    skipped = {t["target"]: t for t in doc["targets"] if t.get("skipped")}
    assert "offline mode" in skipped["openai:gpt-4o-mini"]["reason"]
    ran = [t for t in doc["targets"] if not t.get("skipped")]
    assert [t["target"] for t in ran] == [f"local:{smollm2}"] and ran[0]["passed"] == 1
    assert "resume with" in err


def test_kill_9_then_resume_asks_only_what_is_missing(tmp_path: Path, smollm2: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> (
        None):
    cities = ["France", "Italy", "Spain", "Germany", "Japan", "Egypt", "Canada", "Peru"]
    tests = "\n".join(f"  - vars: {{country: {c}}}\n    assert: [{{type: icontains, value: "
                      f"capital}}]" for c in cities)
    suite = write(tmp_path, "prompts: ['Name the capital of {{country}}.']\ntests:\n" + tests)
    env = {**os.environ, "WORKBENCH_HOME": os.environ["WORKBENCH_HOME"]}
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "eval", str(suite), "-t", f"local:{smollm2}",
         "--temperature", "0", "--max-tokens", "48"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    database = db.database_path()
    answered = 0
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            if database.exists():
                with sqlite3.connect(database, timeout=10) as raw:
                    try:
                        answered = raw.execute("SELECT COUNT(*) FROM eval_results").fetchone()[0]
                    except sqlite3.OperationalError:  # the schema is being created
                        answered = 0
                if answered >= 2:
                    break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    with db.connect() as connection:
        (row,) = store.list_runs(connection)
        kept = {(r.case_id, r.repeat): r.answer.text for r in store.load_results(connection,
                                                                                 row.id)}
    assert 2 <= len(kept) < len(cities)
    assert row.status == "running"  # killed: nobody said a word

    asked: list[str] = []
    from workbench.evals.runner import resume

    runner = resume(row.id, on_event=lambda e: asked.append(e.result.case_id)
                    if e.kind == "result" and e.result else None)
    outcome = runner.run()
    assert outcome.complete and outcome.run_id == row.id
    assert len(asked) == len(cities) - len(kept)
    assert not {case for case, _repeat in kept} & set(asked)  # nothing asked twice
    with db.connect() as connection:
        after = store.get_run(connection, row.id)
        again = {(r.case_id, r.repeat): r.answer.text
                 for r in store.load_results(connection, row.id)}
    assert after.status == "complete" and after.answered == len(cities)
    assert all(again[key] == text for key, text in kept.items())  # kept answers untouched
    code = main(["eval", "show", str(row.id), "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0 and len(shown["cases"]) == len(cities)


def test_a_changed_suite_is_not_resumed(tmp_path: Path, smollm2: Path) -> None:
    path = write(tmp_path, f"""
prompts: ["{{{{q}}}}"]
tests:
  - vars: {{q: "{FRANCE}"}}
    assert: [{{type: icontains, value: paris}}]
""")
    runner = EvalRunner(load_suite(path), RunOptions(targets=(f"local:{smollm2}",),
                                                     max_tokens=8))
    outcome = runner.run()
    path.write_text(path.read_text() + "  - vars: {q: other}\n    assert: []\n")
    from workbench.errors import BadInput
    from workbench.evals.runner import resume

    with pytest.raises(BadInput, match="suite changed"):
        resume(outcome.run_id).run()


def test_list_show_diff_and_rm(tmp_path: Path, smollm2: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    first = write(tmp_path, KNOWN)
    run_json(capsys, str(first), "-t", f"local:{smollm2}", "--temperature", "0",
             "--max-tokens", "24")
    code, _doc, _err = run_json(capsys, str(first), "-t", f"local:{smollm2}", "--temperature",
                                "0", "--max-tokens", "2")  # cut short: "Paris" is not reached
    assert code == 0
    runs = [r["id"] for r in json.loads(_cli(capsys, "list", "--json"))]
    assert len(runs) == 2
    diff = json.loads(_cli(capsys, "diff", str(runs[1]), str(runs[0]), "--json"))
    worse = {c["case"] for c in diff["worse"]}
    assert "1" in worse  # "holds" held with 24 tokens, not with 2
    html = tmp_path / "report.html"
    assert main(["eval", "export", str(runs[0]), "-o", str(html)]) == 0
    assert "<html" in html.read_text(encoding="utf-8").lower()
    assert main(["eval", "rm", str(runs[0])]) == 0
    assert [r["id"] for r in json.loads(_cli(capsys, "list", "--json"))] == [runs[1]]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(["eval", *argv]) == 0
    return capsys.readouterr().out


def test_two_quantisations_and_a_real_openai_compatible_server(
        tmp_path: Path, smollm2: Path, smollm2_q8_0: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Three targets: two quantisations of one model (local, one after the other) and the model
    behind a real OpenAI-compatible server (llama_cpp.server) reached through the openai SDK:
    every target graded, a paired difference for every pair, and a decision."""
    from tests.helpers.llama_server import llama_server

    suite = write(tmp_path, KNOWN)
    with llama_server(smollm2, alias="smollm2", n_ctx=1024) as base:
        served = f"openai:smollm2@{base}"
        targets = [f"local:{smollm2}", f"local:{smollm2_q8_0}", served]
        code, doc, err = run_json(capsys, str(suite), *[a for t in targets for a in ("-t", t)],
                                  "--temperature", "0", "--max-tokens", "24")
    assert code == 0, err
    by_target = {t["target"]: t for t in doc["targets"]}
    assert list(by_target) == targets
    assert all(t["errors"] == 0 and t["passed"] + t["failed"] == 3 for t in by_target.values())
    for target in targets:  # "Name the capital of France." holds on each
        holds = next(r for r in results_of(doc, "holds") if r["target"] == target)
        assert holds["pass"] is True and "paris" in holds["text"].lower()
    pairs = {(c["a"], c["b"]) for c in doc["comparisons"]}
    assert len(pairs) == 3 and all(c["n"] == 3 for c in doc["comparisons"])
    assert doc["decision"]["lines"]


def test_a_local_judge_grades_every_case_and_every_verdict_parses(
        tmp_path: Path, smollm2: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No --judge: the local target judges (nothing leaves the machine). Its verdicts go through
    a JSON-schema grammar, so every one parses; a 135M model's verdicts need not be right."""
    suite = write(tmp_path, f"""
prompts: ["{{{{q}}}}"]
defaultTest:
  assert:
    - type: llm-rubric
      value: names a city
tests:
  - vars: {{q: "{FRANCE}"}}
    assert: [{{type: factuality, value: "Paris is the capital of France."}}]
  - vars: {{q: "Name the capital of Italy."}}
    assert: [{{type: model-graded-closedqa, value: "names a city"}}]
  - vars: {{q: "Say hello."}}
""")
    code, doc, err = run_json(capsys, str(suite), "-t", f"local:{smollm2}", "--temperature", "0",
                              "--max-tokens", "24")
    assert code == 0, err
    verdicts = [a for case in doc["cases"] for r in case["results"] for a in r["assertions"]]
    assert len(verdicts) == 5
    assert all(r["error"] is None for case in doc["cases"] for r in case["results"])
    assert all(v["reason"].strip() for v in verdicts)
    assert doc["run"]["judge"] == f"local:{smollm2}"
    usage = doc["run"]["judge_usage"]
    assert usage["calls"] == 5 and usage["completion_tokens"] > 0
    target = doc["targets"][0]
    assert target["errors"] == 0 and target["passed"] + target["failed"] == 3


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path, smollm2: Path) -> None:
    cities = ["France", "Italy", "Spain", "Germany", "Japan", "Egypt", "Canada", "Peru"]
    tests = "\n".join(f"  - vars: {{country: {c}}}\n    assert: [{{type: icontains, value: "
                      f"capital}}]" for c in cities)
    suite = write(tmp_path, "prompts: ['Name the capital of {{country}}.']\ntests:\n" + tests)
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "eval", str(suite), "-t", f"local:{smollm2}",
         "--temperature", "0", "--max-tokens", "64"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stderr:  # progress lines: one per answer
        lines.append(line)
        if "[2/" in line:
            process.send_signal(signal.SIGINT)
            break
    _out, rest = process.communicate(timeout=60)
    err = "".join(lines) + rest
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "resume with: workbench eval --resume 1" in err
    with db.connect() as connection:
        row = store.get_run(connection, 1)
    assert 2 <= row.answered < len(cities)


def test_a_local_model_that_cannot_fit_is_skipped_with_the_plan(
        tmp_path: Path, smollm2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked with the planner before loading: with (pretend) 64 MiB free, the 94 MiB model is
    skipped with the plan's figures; nothing is loaded. Only the free-memory reading is faked."""
    import collections

    import psutil

    memory = collections.namedtuple("memory", "total available")
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory(24 << 30, 64 << 20))
    path = write(tmp_path, f"""
prompts: ["{{{{q}}}}"]
tests:
  - vars: {{q: "{FRANCE}"}}
    assert: [{{type: icontains, value: paris}}]
""")
    outcome = EvalRunner(load_suite(path), RunOptions(targets=(f"local:{smollm2}",))).run()
    reason = outcome.skipped[f"local:{smollm2}"]
    assert "of RAM" in reason and "64.0 MiB" in reason, reason
    assert outcome.results == [] and not outcome.complete
