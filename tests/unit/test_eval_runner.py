"""The eval runner with cloud targets: a real HTTP server on loopback speaking OpenAI's streaming
protocol, reached through the real openai SDK. The only thing faked is where the server is
(a loopback target counts as "this machine"; these tests need one that counts as the cloud)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import openai_faults
from tests.fakes.http_base import Exchange
from workbench.cancel import CancelToken
from workbench.evals import store
from workbench.evals.runner import EvalRunner, RunOptions, resume
from workbench.evals.suite import parse_suite
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.providers.retry import RetryPolicy
from workbench.store import db

pytestmark = pytest.mark.usefixtures("home")


class CloudLike(OpenAICompatTarget):
    """An OpenAI-compatible target on loopback that counts as leaving the machine."""

    @property
    def leaves_machine(self) -> bool:
        return True


def echo_server(delay: float = 0.05) -> tuple[openai_faults.FakeServer, dict[str, int]]:
    """Answers every request with its last user message; counts requests in flight."""
    counts = {"now": 0, "max": 0, "total": 0}
    lock = threading.Lock()

    def behave(exchange: Exchange) -> None:
        with lock:
            counts["now"] += 1
            counts["total"] += 1
            counts["max"] = max(counts["max"], counts["now"])
        try:
            text = exchange.request.body["messages"][-1]["content"]
            if "FAIL-HTTP" in text:
                openai_faults.status(400, "bad request from the fake")(exchange)
                return
            openai_faults.ok([f"echo: {text}"], delay=delay)(exchange)
        finally:
            with lock:
                counts["now"] -= 1

    server = openai_faults.server(behave)
    server.script()
    return server, counts


def builder(server: openai_faults.FakeServer) -> Any:
    def build(spec: str) -> OpenAICompatTarget:
        return CloudLike(spec=spec, model=spec.split(":", 1)[1], base_url=server.url + "/v1",
                         retry=RetryPolicy(max_retries=0))
    return build


def suite_of(n: int, extra: str = "") -> Any:
    tests = "\n".join(f"  - vars: {{n: '{i}'}}\n    assert: [{{type: contains, value: "
                      f"'echo: item {i}'}}]" for i in range(n))
    return parse_suite(f"prompts: ['item {{{{n}}}}']\ntests:\n{tests}\n{extra}", source="s.yaml",
                       base_dir=Path("."))


def test_cloud_targets_run_concurrently_within_the_bound() -> None:
    server, counts = echo_server(delay=0.1)
    with server:
        runner = EvalRunner(suite_of(9), RunOptions(targets=("openai:a", "openai:b"),
                                                    concurrency=3), build=builder(server))
        outcome = runner.run()
    assert outcome.complete and len(outcome.results) == 18
    assert all(r.passed for r in outcome.results)
    assert counts["total"] == 18
    assert counts["max"] == 3  # bounded, and actually concurrent


def test_a_failing_request_is_an_error_not_a_failure() -> None:
    server, _counts = echo_server(delay=0)
    with server:
        suite = parse_suite(
            "prompts: ['{{q}}']\ntests:\n  - vars: {q: fine}\n    assert: [{type: contains, "
            "value: fine}]\n  - vars: {q: FAIL-HTTP}\n    assert: [{type: contains, value: x}]\n",
            source="s.yaml", base_dir=Path("."))
        outcome = EvalRunner(suite, RunOptions(targets=("openai:m",)),
                             build=builder(server)).run()
    by_case = {r.case_id: r for r in outcome.results}
    assert by_case["1"].passed is True
    assert by_case["2"].passed is None and "bad request" in (by_case["2"].error or "")
    assert outcome.complete  # an error is a result too: the run completed


def test_cancel_keeps_what_was_answered_and_resume_asks_the_rest() -> None:
    server, counts = echo_server(delay=0.05)
    cancel = CancelToken()
    seen: list[str] = []

    def on_event(event: Any) -> None:
        if event.kind == "result":
            seen.append(event.result.case_id)
            if len(seen) == 3:
                cancel.cancel()

    with server:
        suite = suite_of(12)
        runner = EvalRunner(suite, RunOptions(targets=("openai:m",), concurrency=1),
                            on_event=on_event, build=builder(server))
        first = runner.run(cancel)
        assert first.cancelled and not first.complete
        with db.connect() as connection:
            row = store.get_run(connection, first.run_id)
        assert row.status == "cancelled" and row.answered == len(first.results) >= 3
        asked_before = counts["total"]
        # the suite is not on disk here: resume reads the text stored with the run
        second = resume(first.run_id, build=builder(server)).run()
    assert second.complete and len(second.results) == 12
    assert counts["total"] - asked_before == 12 - row.answered
    assert sorted(int(r.case_id) for r in second.results) == list(range(1, 13))


def test_progress_events_count_up_with_an_eta() -> None:
    server, _counts = echo_server(delay=0.02)
    events: list[Any] = []
    with server:
        EvalRunner(suite_of(4), RunOptions(targets=("openai:m",), concurrency=1),
                   on_event=events.append, build=builder(server)).run()
    results = [e for e in events if e.kind == "result"]
    assert [e.done for e in results] == [1, 2, 3, 4]
    assert all(e.total == 4 for e in results)
    assert results[0].eta_s is not None and results[-1].eta_s is None
    assert events[-1].kind == "done"


def test_a_target_that_cannot_be_built_is_skipped_with_its_reason(
        memory_keyring: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    outcome = EvalRunner(suite_of(2), RunOptions(targets=("anthropic:claude-x",))).run()
    assert not outcome.complete
    assert "API key" in outcome.skipped["anthropic:claude-x"] or \
        "key" in outcome.skipped["anthropic:claude-x"].lower()


def test_the_same_target_twice_is_bad_input() -> None:
    from workbench.errors import BadInput

    with pytest.raises(BadInput, match="twice"):
        EvalRunner(suite_of(1), RunOptions(targets=("openai:m", "openai:m"))).run()



def test_model_graded_assertions_use_the_judge_they_name_and_count_it_apart() -> None:
    """The run's judge grades llm-rubric; an assertion that names its own judge gets that one.
    Each judge is asked for a JSON verdict (the schema travels as response_format)."""
    verdict = '{"reason": "it answers", "pass": true, "score": 0.9}'
    judged: list[dict[str, Any]] = []

    def behave(exchange: Exchange) -> None:
        body = exchange.request.body
        if body.get("response_format"):
            judged.append({"model": body["model"], "format": body["response_format"]})
            openai_faults.ok([verdict])(exchange)
        else:
            openai_faults.ok(["an answer"])(exchange)

    server = openai_faults.server(behave)
    server.script()
    suite = parse_suite(
        "prompts: ['{{q}}']\ntests:\n  - vars: {q: one}\n    assert:\n"
        "      - {type: llm-rubric, value: 'is an answer'}\n"
        "      - {type: llm-rubric, value: 'is polite', provider: 'openai:other-judge'}\n",
        source="s.yaml", base_dir=Path("."))
    with server:
        outcome = EvalRunner(suite, RunOptions(targets=("openai:m",), judge="openai:judge"),
                             build=builder(server)).run()
    (result,) = outcome.results
    assert result.passed is True
    assert all("it answers" in v.reason for v in result.verdicts)
    assert sorted(j["model"] for j in judged) == ["judge", "other-judge"]
    assert all(j["format"]["type"] == "json_schema" for j in judged)
    assert outcome.judge == "openai:judge"
    assert outcome.judge_usage["calls"] == 2
    assert set(outcome.judge_usage["by_judge"]) == {"openai:judge", "openai:other-judge"}
    assert result.answer.text == "an answer"  # the target's own answer, judged apart


def test_no_judge_is_an_error_verdict_never_a_silent_cloud_default() -> None:
    server, _counts = echo_server(delay=0)
    suite = parse_suite("prompts: ['{{q}}']\ntests:\n  - vars: {q: one}\n    assert:\n"
                        "      - {type: llm-rubric, value: 'anything'}\n", source="s.yaml",
                        base_dir=Path("."))
    with server:
        outcome = EvalRunner(suite, RunOptions(targets=("openai:m",)),
                             build=builder(server)).run()
    (result,) = outcome.results
    assert result.passed is None and "no judge" in (result.error or "")
    assert _counts["total"] == 1  # only the target was asked


def test_offline_mode_blocks_a_cloud_judge_with_its_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    server, counts = echo_server(delay=0)

    def build(spec: str) -> OpenAICompatTarget:
        kind = CloudLike if spec == "openai:judge" else OpenAICompatTarget  # the target stays
        return kind(spec=spec, model=spec.split(":", 1)[1], base_url=server.url + "/v1",
                    retry=RetryPolicy(max_retries=0))

    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    suite = parse_suite("prompts: ['{{q}}']\ntests:\n  - vars: {q: one}\n    assert:\n"
                        "      - {type: contains, value: one}\n"
                        "      - {type: llm-rubric, value: 'anything'}\n", source="s.yaml",
                        base_dir=Path("."))
    with server:
        outcome = EvalRunner(suite, RunOptions(targets=("openai:local-server",),
                                               judge="openai:judge"), build=build).run()
    (result,) = outcome.results
    assert counts["total"] == 1  # the loopback target answered; the judge was never asked
    assert result.verdicts[0].passed is True
    assert result.passed is None and "offline mode" in (result.verdicts[1].error or "")
