"""A router as an answer target (``router:NAME``), end to end over real HTTP: the cloud target is
a loopback stand-in speaking OpenAI's streaming protocol (tests/fakes/openai_faults.py) reached
through the real openai SDK, and it counts what it receives. Prompts with each kind of sensitive
data reach it 0 times even with ``default: cloud``; other prompts reach it. The local side is
another loopback server (a loopback OpenAI-compatible target counts as this machine) or the real
SmolLM2 model. Then the same router in an eval run (pass rate, share kept local) and in
``workbench compare``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import openai_faults
from workbench.cli import main
from workbench.costs.answer_cost import price_answer
from workbench.costs.pricing import load_pricing
from workbench.evals.runner import EvalRunner, RunOptions
from workbench.evals.suite import parse_suite
from workbench.evals.summary import summarize
from workbench.net import offline
from workbench.providers.base import Params
from workbench.routing import log
from workbench.routing.config import routers_dir
from workbench.routing.target import RouterTarget, kept_local_share, route_of
from workbench.routing.targets import build_any_target
from workbench.store import db, secrets
from workbench.store.settings import AppSettings

KEY = "sk-routing-test-key-0a1b2c3d4e"
SECRET_LIKE = "gh" + "p_" + "aB3dE5fG7hJ9kL2mN4pQ6rS8tU1vW3xY5zAB"
SENSITIVE = {
    "email": "Reply to jane.doe@example.org with the summary.",
    "phone": "Call me back on (415) 555-2671 after lunch.",
    "card": "Is 4111-1111-1111-1111 a test card number?",
    "iban": "Wire the money to GB82 WEST 1234 5698 7654 32 today.",
    "ssn": "My social security number is 123-45-6789, fill in the form.",
    "ip": "Why does ping 192.168.10.20 time out?",
    "secret": f"This token fails: {SECRET_LIKE}",
    "keyword": "Summarise the Project Falcon roadmap.",
    "pattern": "Who owns ticket EMP-204518?",
}
PLAIN = ["What is the capital of France?", "Explain recursion in one sentence.",
         "Write a haiku about autumn."]


@pytest.fixture
def servers(home: Path, memory_keyring, monkeypatch) -> Iterator[dict[str, Any]]:
    for names in secrets.ENV_VARS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    local = openai_faults.server(openai_faults.ok(["local", " says", " hi"], prompt_tokens=20,
                                                  completion_tokens=3))
    cloud = openai_faults.server(openai_faults.ok(["cloud", " says", " hi"], prompt_tokens=20,
                                                  completion_tokens=3))
    with local, cloud:
        monkeypatch.setenv("OPENAI_BASE_URL", cloud.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield {"local": local, "cloud": cloud, "home": home,
               "local_spec": f"openai:local-model@{local.url}/v1"}
    offline.disable_guard()


def write_router(name: str, local: str, *, default: str = "cloud") -> Path:
    path = routers_dir() / f"{name}.yaml"
    path.write_text(f"""
local: {local}
cloud: openai:gpt-4o-mini
default: {default}
sensitive:
  keywords: [Project Falcon]
  patterns: ['EMP-\\d{{6}}']
rules:
  - match: {{tags: [private]}}
    target: local
""", encoding="utf-8")
    return path


def chat_requests(server: openai_faults.FakeServer) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def ask(target: Any, text: str, **options: Any) -> Any:
    return target.stream([{"role": "user", "content": text}], Params(max_tokens=16), **options)


def test_sensitive_prompts_never_reach_the_cloud(servers) -> None:
    write_router("private", servers["local_spec"])
    target = build_any_target("router:private", settings=AppSettings())
    assert isinstance(target, RouterTarget) and target.label == "router:private"
    try:
        for kind, text in SENSITIVE.items():
            result = ask(target, text)
            assert result.ok, result.error
            assert result.text == "local says hi", kind
            assert result.target == servers["local_spec"] and result.label == "router:private"
            assert result.destination.endswith("(this machine)")
            assert route_of(result) == f"local; pii:{kind}"
        assert len(chat_requests(servers["cloud"])) == 0
        assert len(chat_requests(servers["local"])) == len(SENSITIVE)
        # and the same prompts tagged for the cloud by a rule or the client stay local too
        result = ask(target, SENSITIVE["card"], tags=["code"])
        assert route_of(result) == "local; pii:card"
        assert len(chat_requests(servers["cloud"])) == 0
        # other prompts reach the cloud target, priced from the pricing table
        for text in PLAIN:
            result = ask(target, text)
            assert result.text == "cloud says hi" and route_of(result) == "cloud; default"
            assert (result.target, result.provider, result.model) == (
                "openai:gpt-4o-mini", "openai", "gpt-4o-mini")
            price_answer(result, load_pricing(), AppSettings())
            assert result.cost_usd == pytest.approx((20 * 0.15 + 3 * 0.6) / 1e6)
        sent = chat_requests(servers["cloud"])
        assert len(sent) == len(PLAIN)
        assert [r.body["messages"][-1]["content"] for r in sent] == PLAIN
        assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in sent)
        # a tag the client gives picks a rule
        assert route_of(ask(target, PLAIN[0], tags=["private"])) == "local; rule 1: tag private"
        assert (target.routed_local, target.routed_cloud) == (len(SENSITIVE) + 2, len(PLAIN))
    finally:
        target.close()


def test_offline_mode_keeps_everything_local(servers, monkeypatch) -> None:
    write_router("private", servers["local_spec"])
    target = build_any_target("router:private")
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    try:
        assert not target.leaves_machine
        result = ask(target, PLAIN[0])
        assert route_of(result) == "local; offline (default)" and result.text == "local says hi"
        assert len(chat_requests(servers["cloud"])) == 0
    finally:
        target.close()


def test_decisions_logged_with_the_saving(servers, tmp_path) -> None:
    write_router("private", servers["local_spec"])
    pricing = load_pricing()
    with contextlib.closing(db.connect(tmp_path / "log.sqlite3")) as connection:
        def on_route(decision, result) -> None:
            price_answer(result, pricing, AppSettings())
            log.record_answer(connection, router="private", decision=decision, answer=result,
                              cloud=target.cloud_target, pricing=pricing)

        target = build_any_target("router:private", on_route=on_route)
        try:
            for text in [SENSITIVE["email"], SENSITIVE["card"], PLAIN[0]]:
                ask(target, text)
        finally:
            target.close()
        stats = log.stats(connection, router="private")
    assert stats.total == 3 and stats.local_share == pytest.approx(2 / 3)
    per_request = (20 * 0.15 + 3 * 0.6) / 1e6
    assert stats.cost_usd == pytest.approx(per_request)  # the loopback "local" is not priced
    assert stats.cloud_only_cost_usd == pytest.approx(3 * per_request)
    assert stats.saved_usd == pytest.approx(2 * per_request)


def test_a_router_with_a_missing_cloud_key_is_not_built(servers, monkeypatch) -> None:
    from workbench.errors import WorkbenchError

    write_router("private", servers["local_spec"])
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(WorkbenchError, match="OPENAI_API_KEY"):
        build_any_target("router:private")
    assert build_any_target("openai:x@http://127.0.0.1:9/v1").spec.startswith("openai:x@")


def test_a_router_in_an_eval_run(servers) -> None:
    write_router("private", servers["local_spec"])
    cases = [*SENSITIVE.values(), *PLAIN]
    tests = "\n".join(f"  - vars: {{q: {json.dumps(text)}}}\n"
                      f"    assert: [{{type: icontains, value: 'says hi'}}]" for text in cases)
    suite = parse_suite(f"prompts: ['{{{{q}}}}']\ntests:\n{tests}\n", source="s.yaml",
                        base_dir=Path("."))
    outcome = EvalRunner(suite, RunOptions(targets=("router:private",), max_tokens=16)).run()
    assert outcome.complete and not outcome.skipped
    summary = summarize(outcome.suite, outcome.results, outcome.targets)
    [row] = summary.targets
    assert row.target == "router:private" and row.pass_rate == 1.0
    answers = [r.answer for r in outcome.results]
    assert kept_local_share(answers) == pytest.approx(len(SENSITIVE) / len(cases))
    assert len(chat_requests(servers["cloud"])) == len(PLAIN)
    # the cloud answers were priced as the cloud target
    priced = [a for a in answers if a.cost_usd is not None]
    assert len(priced) == len(PLAIN) and all(a.provider == "openai" for a in priced)


def test_a_router_in_compare(servers, capsys) -> None:
    write_router("private", servers["local_spec"])
    code = main(["compare", SENSITIVE["iban"], "-t", "router:private", "-t",
                 "openai:gpt-4o-mini", "--json", "--no-save"])
    out, err = capsys.readouterr()
    assert code == 0, err
    routed, direct = json.loads(out)
    assert routed["label"] == "router:private" and routed["text"] == "local says hi"
    assert "routed: local; pii:iban" in routed["notes"]
    assert direct["text"] == "cloud says hi"  # asked for by name: not routed
    assert len(chat_requests(servers["cloud"])) == 1


@pytest.mark.slow
def test_the_real_model_answers_what_stays_local(servers, smollm2) -> None:
    write_router("real", f"local:{smollm2}")
    target = build_any_target("router:real")
    try:
        private = ask(target, SENSITIVE["email"])
        assert private.ok, private.error
        assert private.provider == "local" and private.destination == "this machine"
        assert private.text.strip() and private.completion_tokens
        assert route_of(private) == "local; pii:email"
        public = ask(target, PLAIN[0])
        assert public.text == "cloud says hi"
        assert len(chat_requests(servers["cloud"])) == 1
    finally:
        target.close()


def eval_decision_loader(bar: float = 0.8, volume: float = 100_000) -> Any:
    """What a caller above the evals layer passes as ``load_run`` (the server does the same):
    a stored run's decision, as ``workbench eval show RUN`` computes it."""
    from workbench.evals.decision import decide
    from workbench.evals.runner import stored_outcome

    def load(run_id: int) -> dict[str, Any]:
        outcome = stored_outcome(run_id)
        summary = summarize(outcome.suite, outcome.results, outcome.targets)
        return decide(summary, bar=bar, monthly_requests=volume, private=False).to_dict()

    return load


def test_the_split_of_a_stored_eval_run_by_its_id(servers) -> None:
    local_spec, cloud_spec = servers["local_spec"], "openai:gpt-4o-mini"
    # pii cases want the local answer, code cases the cloud's: each target meets the bar on
    # one tag only, so the decision splits by tag
    tests = "\n".join(
        f"  - vars: {{q: 'question {i}'}}\n    metadata: {{tags: [{tag}]}}\n"
        f"    assert: [{{type: icontains, value: '{want}'}}]"
        for i, (tag, want) in enumerate([("pii", "local")] * 3 + [("code", "cloud")] * 3))
    suite = parse_suite(f"prompts: ['{{{{q}}}}']\ntests:\n{tests}\n", source="s.yaml",
                        base_dir=Path("."))
    outcome = EvalRunner(suite, RunOptions(targets=(local_spec, cloud_spec),
                                           max_tokens=16)).run()
    assert outcome.complete
    load = eval_decision_loader()
    assert load(outcome.run_id)["hybrid"]["rules"] == [
        {"match": {"tag": "code"}, "target": cloud_spec},
        {"match": {"tag": "pii"}, "target": local_spec}]
    path = routers_dir() / "split.yaml"
    path.write_text(f"local: {local_spec}\ncloud: {cloud_spec}\ndefault: local\n"
                    f"rules:\n  - eval: {outcome.run_id}\n", encoding="utf-8")
    before = len(chat_requests(servers["cloud"]))
    target = build_any_target("router:split", load_run=load)
    try:
        coded = ask(target, "sort this list", tags=["code"])
        assert coded.text == "cloud says hi"
        assert route_of(coded) == f"cloud; tag code (eval run {outcome.run_id})"
        assert route_of(ask(target, "x", tags=["pii"])) == (
            f"local; tag pii (eval run {outcome.run_id})")
        assert route_of(ask(target, "mail a@example.com", tags=["code"])) == "local; pii:email"
        assert route_of(ask(target, "x")) == "local; default"
        assert len(chat_requests(servers["cloud"])) == before + 1
    finally:
        target.close()
    with pytest.raises(Exception, match="needs the evals layer's loader"):
        build_any_target("router:split")


def test_a_cases_tags_reach_the_router_in_an_eval_run(servers) -> None:
    """The router's rule on the tag ``private`` keeps a plain prompt local when its case is
    tagged so (metadata.tags); the same prompt untagged goes to the cloud."""
    write_router("private", servers["local_spec"])
    suite = parse_suite(f"""prompts: ['{{{{q}}}}']
tests:
  - vars: {{q: {json.dumps(PLAIN[0])}}}
    metadata: {{tags: [private]}}
  - vars: {{q: {json.dumps(PLAIN[0])}}}
""", source="s.yaml", base_dir=Path("."))
    outcome = EvalRunner(suite, RunOptions(targets=("router:private",), max_tokens=16)).run()
    assert outcome.complete
    routes = sorted(route_of(r.answer) or "" for r in outcome.results)
    assert routes == ["cloud; default", "local; rule 1: tag private"]
    assert len(chat_requests(servers["cloud"])) == 1
