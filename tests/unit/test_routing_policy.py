"""The router's policy: sensitive data always local (failing closed), then the rules in order
(length, keywords, regex, tags, an eval run's split), then the default; no cloud target means
all local; router configurations in YAML; the eval decision's hybrid rule, by hand and as
``workbench.evals`` writes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import BadInput
from workbench.evals.decision import decide
from workbench.evals.model import Case, CaseResult, ChatTemplate, Suite
from workbench.evals.reports import build_document
from workbench.evals.summary import summarize
from workbench.providers.base import AnswerResult
from workbench.providers.registry import parse_target
from workbench.routing import config as router_config
from workbench.routing.hybrid import hybrid_rule
from workbench.routing.policy import Match, Rule, estimate_tokens, parse_tags, read_request
from workbench.routing.router import Router
from workbench.store.settings import AppSettings

LOCAL = "local:/models/qwen.gguf"
CLOUD = "openai:gpt-4o-mini"
SECRET_LIKE = "h" + "f_" + "aB3dE5fG7hJ9kL2mN4pQ6rS8tU1vW3xY5z"

SENSITIVE = {
    "email": "Reply to jane.doe@example.org with the summary.",
    "phone": "Call me on +44 20 7946 0958 tomorrow.",
    "card": "Charge 4111 1111 1111 1111 for the order.",
    "iban": "Wire it to DE89 3704 0044 0532 0130 00.",
    "ssn": "Her SSN is 123-45-6789.",
    "ip": "The database is at 10.20.30.40, why is it slow?",
    "secret": f"Why does {SECRET_LIKE} not work with the hub?",
}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def raw_values(text: str) -> list[str]:
    from workbench.routing.sensitive import detect

    return [text[f.start:f.end] for f in detect(text)]


@pytest.mark.parametrize("kind", sorted(SENSITIVE))
def test_sensitive_requests_stay_local_whatever_the_default_and_rules(kind) -> None:
    router = Router(LOCAL, CLOUD, default="cloud",
                    rules=[Rule(Match(min_tokens=0), "cloud")])
    text = SENSITIVE[kind]
    decision = router.route(user(text))
    assert decision.target == LOCAL and decision.local
    assert decision.reason == f"local; pii:{kind}" and decision.findings == (kind,)
    for value in raw_values(text):
        assert value not in json.dumps(decision.to_dict())
    assert router.route(user("What is the capital of France?")).target == CLOUD


def test_several_kinds_are_named_in_order() -> None:
    router = Router(LOCAL, CLOUD, default="cloud")
    decision = router.route(user("card 4111111111111111, mail a@example.com"))
    assert decision.reason == "local; pii:email,card"


def test_keywords_and_patterns_are_sensitive_too() -> None:
    router = Router(LOCAL, CLOUD, default="cloud", keywords=["Project Falcon"],
                    patterns=[r"\bEMP-\d{6}\b"])
    assert router.route(user("status of project falcon?")).reason == "local; pii:keyword"
    assert router.route(user("EMP-123456 left")).reason == "local; pii:pattern"
    assert router.route(user("status of the project?")).target == CLOUD


def test_it_fails_closed_when_a_detector_raises() -> None:
    def broken(text: str) -> list[Any]:
        raise RuntimeError(f"cannot scan {text}")

    router = Router(LOCAL, CLOUD, default="cloud", detector=broken)
    decision = router.route(user("the text mentions jane@example.org"))
    assert decision.target == LOCAL and decision.local
    assert decision.reason == "local; detector failed: RuntimeError"
    assert "jane" not in decision.reason  # the error's message is not repeated


def test_a_rule_that_raises_keeps_the_request_local() -> None:
    class Broken:
        def decide(self, request: Any) -> Any:
            raise KeyError("boom")

        def targets(self) -> list[str]:
            return []

    router = Router(LOCAL, CLOUD, default="cloud", rules=[Broken()])
    assert router.route(user("hello")).reason == "local; rule failed: KeyError"


def test_parts_that_cannot_be_read_stay_local() -> None:
    router = Router(LOCAL, CLOUD, default="cloud")
    image = [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]
    decision = router.route(image)
    assert decision.local and decision.reason == "local; not inspected: image_url"


def test_every_string_of_the_request_is_read() -> None:
    router = Router(LOCAL, CLOUD, default="cloud")
    tool_call = [{"role": "user", "content": "look it up"},
                 {"role": "assistant", "content": None, "tool_calls": [
                     {"id": "call_1", "type": "function", "function": {
                         "name": "lookup", "arguments": '{"email": "jane@example.org"}'}}]},
                 {"role": "tool", "tool_call_id": "call_1", "content": "found"}]
    assert router.route(tool_call).reason == "local; pii:email"
    anthropic = [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1",
         "content": [{"type": "text", "text": "card 4111111111111111"}]}]}]
    assert router.route(anthropic).reason == "local; pii:card"
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                          {"type": "text", "text": "there"}]}]
    request = read_request(parts, ["code"])
    assert request.text == "Hi\nthere" and request.tags == ("code",)
    assert request.tokens == estimate_tokens("Hi\nthere") == 2  # 8 characters / 4


def test_the_rules_in_order_then_the_default() -> None:
    rules = [
        Rule(Match(min_tokens=1000), "cloud", name="long"),
        Rule(Match(keywords=("prove", "derive")), "cloud"),
        Rule(Match(regex=r"```"), "local"),
        Rule(Match(tags=("code",)), "cloud"),
        Rule(Match(max_tokens=5), "local"),
        Rule(Match(min_tokens=50, tags=("chat",)), "cloud"),
    ]
    router = Router(LOCAL, CLOUD, default="local", rules=rules)

    def reason(text: str, tags: tuple[str, ...] = ()) -> str:
        return router.route(user(text), tags=tags).reason

    # "Be brief." (9 characters) + a newline is part of every request's text
    assert reason("x" * 3990) == "cloud; long: tokens >= 1000"
    assert reason("x" * 3980) == "local; default"
    assert reason("Please PROVE that it halts.") == "cloud; rule 2: keyword prove|derive"
    assert reason("improve it a little bit today") == "local; default"  # whole words
    assert reason("Fix this:\n```\nx = 1\n```") == "local; rule 3: regex"
    assert reason("write a sorting function", ("code",)) == "cloud; rule 4: tag code"
    assert reason("hi") == "local; rule 5: tokens <= 5"
    assert reason("y" * 200, ("chat",)) == "cloud; rule 6: tokens >= 50 and tag chat"
    assert reason("y" * 100, ("chat",)) == "local; default"
    # sensitive data comes before every rule
    assert reason("Please prove it: a@example.com") == "local; pii:email"


def test_default_cloud_and_no_cloud_target() -> None:
    assert Router(LOCAL, CLOUD, default="cloud").route(user("hi")).reason == "cloud; default"
    alone = Router(LOCAL, None, default="cloud", rules=[Rule(Match(tags=("code",)), "cloud")])
    assert alone.route(user("hi")).reason == "local; no cloud target (default)"
    decision = alone.route(user("hi"), tags=["code"])
    assert decision.target == LOCAL and decision.reason == "local; no cloud target (rule 1: " \
                                                           "tag code)"
    assert alone.targets() == [LOCAL]


def test_offline_keeps_cloud_requests_local() -> None:
    router = Router(LOCAL, CLOUD, default="cloud")
    decision = router.route(user("hi"), cloud_allowed=False)
    assert decision.target == LOCAL and decision.reason == "local; offline (default)"


def test_the_local_target_must_answer_on_this_machine() -> None:
    with pytest.raises(BadInput, match="does not answer on this machine"):
        Router("openai:gpt-4o", CLOUD)
    Router("openai:qwen@http://127.0.0.1:1234/v1", CLOUD)
    Router("profile:ollama/qwen2.5", CLOUD)
    with pytest.raises(BadInput, match="does not answer on this machine"):
        Router("profile:groq/llama", CLOUD)
    with pytest.raises(BadInput, match="another router"):
        Router(LOCAL, "router:other")
    with pytest.raises(BadInput, match="bad target"):
        Router(LOCAL, "nonsense")
    with pytest.raises(BadInput, match="not valid"):
        Match(regex="(unclosed")
    with pytest.raises(BadInput, match="needs a condition"):
        Match()
    with pytest.raises(BadInput, match="cannot ignore"):
        Router(LOCAL, CLOUD, ignore=["dna"])


def test_router_specs_parse_but_are_built_above_the_providers() -> None:
    from workbench.providers.registry import build_target

    assert parse_target("router:private").kind == "router"
    assert parse_target("router:private").text == "router:private"
    with pytest.raises(BadInput, match=r"router targets are built by workbench\.routing"):
        build_target("router:private")


def test_parse_tags() -> None:
    assert parse_tags("code, pii,,code ") == ("code", "pii")
    assert parse_tags(["a", " b ", ""]) == ("a", "b")
    assert parse_tags(None) == ()


def test_ignored_kinds_are_not_detected() -> None:
    router = Router(LOCAL, CLOUD, default="cloud", ignore=["ip"])
    assert router.route(user("ping 10.0.0.1")).target == CLOUD
    assert router.route(user("mail a@example.com")).local


# -- configurations ------------------------------------------------------------------------------
CONFIG = f"""
description: private things and short prompts here, long ones to the API
local: {LOCAL}
cloud: {CLOUD}
default: local
sensitive:
  keywords: [Project Falcon]
  patterns: ['ACME-\\d{{6}}']
rules:
  - name: long prompts
    match: {{min_tokens: 2000}}
    target: cloud
  - match: {{keywords: [prove, derive]}}
    target: cloud
  - match: {{tags: [code]}}
    target: cloud
"""


def test_a_named_router_from_the_data_directory(home: Path) -> None:
    (router_config.routers_dir() / "private.yaml").write_text(CONFIG, encoding="utf-8")
    assert router_config.list_routers() == ["private"]
    router = Router.from_config("private")
    assert router.name == "private" and router.local == LOCAL and router.cloud == CLOUD
    assert router.route(user("prove it")).reason == "cloud; rule 2: keyword prove|derive"
    assert router.route(user("x" * 8000)).reason == "cloud; long prompts: tokens >= 2000"
    assert router.route(user("hi"), tags=["code"]).target == CLOUD
    assert router.route(user("ACME-123456 prove it")).reason == "local; pii:pattern"
    assert router.route(user("hi")).reason == "local; default"
    assert router.describe()["sensitive"] == {
        "kinds": ["email", "phone", "card", "iban", "ssn", "ip", "secret"], "keywords": 1,
        "patterns": 1}
    with pytest.raises(BadInput, match=r"no router named 'nope'.*known: private"):
        Router.from_config("nope")


@pytest.mark.parametrize("text, words", [
    ("local: [1, 2]", "local must be"),
    (f"cloud: {CLOUD}", "local is required"),
    (f"local: {LOCAL}\nclod: {CLOUD}", "unknown key 'clod'"),
    (f"local: {LOCAL}\ndefault: sometimes", "default must be local or cloud"),
    (f"local: {LOCAL}\nrules:\n  - match: {{min_tokens: -1}}\n    target: cloud",
     "rule 1: min_tokens must be"),
    (f"local: {LOCAL}\nrules:\n  - match: {{tokens: 5}}\n    target: cloud",
     "rule 1: match: unknown key 'tokens'"),
    (f"local: {LOCAL}\nrules:\n  - match: {{regex: '('}}\n    target: cloud", "not valid"),
    (f"local: {LOCAL}\nrules:\n  - match: {{tags: [x]}}", "rule 1: target must be"),
    (f"local: {LOCAL}\nsensitive:\n  patterns: ['[']", "not a valid regular expression"),
    (f"local: {LOCAL}\nrules:\n  - eval: 12", "needs the evals layer's loader"),
    ("local: [unclosed", r"not valid YAML \(line 1\)"),
    ("- a list", "a router configuration is a mapping"),
])
def test_bad_configurations_are_refused_with_the_reason(tmp_path, text, words) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput, match=words):
        Router.from_config(path)


# -- an eval run's decision ----------------------------------------------------------------------
def make_suite(count: int, tags: dict[int, tuple[str, ...]]) -> Suite:
    prompt = ChatTemplate("p", (("user", "{{q}}"),))
    cases = tuple(Case(id=str(i), index=i, prompt=prompt, vars={"q": f"question {i}"},
                       assertions=(), description=f"case {i}", tags=tags.get(i, ()))
                  for i in range(1, count + 1))
    return Suite(description="hand-built", cases=cases, sha256="abc")


def results(target: str, pattern: str, *, local: bool) -> list[CaseResult]:
    out = []
    for i, c in enumerate(pattern, start=1):
        answer = AnswerResult(target=target, label=target, provider="local" if local else "openai",
                              model="m", destination="this machine" if local else "api.x",
                              completion_tokens=100, prompt_tokens=50,
                              total_ms=2000.0 if local else 800.0, energy_j=60.0 if local else None,
                              cost_usd=1e-5 if local else 0.01)
        out.append(CaseResult(str(i), target, 0, answer, [], c == "P", 1.0 if c == "P" else 0.0,
                              None))
    return out


def eval_document() -> dict[str, Any]:
    """Cases 1-4 tagged pii (the local model passes them), 5-8 code (the cloud passes them)."""
    suite = make_suite(10, {**{i: ("pii",) for i in range(1, 5)},
                            **{i: ("code",) for i in range(5, 9)}})
    found = results(LOCAL, "PPPPFFFFPP", local=True) + results(CLOUD, "FFFFPPPPPP", local=False)
    summary = summarize(suite, found, [LOCAL, CLOUD])
    decision = decide(summary, bar=0.9, monthly_requests=1000, private=False,
                      settings=AppSettings())
    return build_document(run_id=7, suite=suite, targets=[LOCAL, CLOUD], results=found,
                          summary=summary, decision=decision, skipped={}, judge=None,
                          judge_usage={}, complete=True)


def test_the_split_of_an_eval_run_as_evals_writes_it(tmp_path) -> None:
    document = eval_document()
    assert document["decision"]["hybrid"]["rules"] == [
        {"match": {"tag": "code"}, "target": CLOUD}, {"match": {"tag": "pii"}, "target": LOCAL}]
    router = Router.from_eval_decision(document)
    assert (router.local, router.cloud, router.default) == (LOCAL, CLOUD, "local")
    coded = router.route(user("sort a list"), tags=["code"])
    assert coded.target == CLOUD and coded.reason == "cloud; tag code (the eval decision)"
    assert router.route(user("x"), tags=["pii"]).reason == "local; tag pii (the eval decision)"
    assert router.route(user("x"), tags=["pii", "code"]).target == CLOUD  # costliest first
    assert router.route(user("x")).reason == "local; default"  # the split had no default
    # a sensitive request tagged code stays local all the same
    assert router.route(user("mail a@example.com"), tags=["code"]).reason == "local; pii:email"
    # from the exported file, and by run id through the caller's loader
    path = tmp_path / "run7.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    from_file = Router.from_eval_decision(path, default="cloud")
    assert from_file.route(user("x"), tags=["code"]).reason == "cloud; tag code (run7.json)"
    assert from_file.route(user("x")).reason == "cloud; default"
    by_id = Router.from_eval_decision(7, load_run=lambda run_id: document)
    assert by_id.route(user("x"), tags=["code"]).reason == "cloud; tag code (eval run 7)"
    with pytest.raises(BadInput, match="eval export 7"):
        Router.from_eval_decision(7)


def test_a_hand_written_rule_with_a_default() -> None:
    rule = {"rules": [{"match": {"tag": "pii"}, "target": LOCAL}], "default": CLOUD}
    router = Router.from_eval_decision(rule)
    assert router.default == CLOUD and router.cloud == CLOUD
    assert router.route(user("x")).reason == "cloud; default"
    assert router.route(user("x"), tags=["pii"]).reason == "local; tag pii (the eval decision)"


def test_eval_rules_in_a_configuration(tmp_path) -> None:
    (tmp_path / "run7.json").write_text(json.dumps(eval_document()), encoding="utf-8")
    path = tmp_path / "split.yaml"
    path.write_text(f"local: {LOCAL}\ncloud: {CLOUD}\ndefault: cloud\nrules:\n"
                    f"  - match: {{keywords: [urgent]}}\n    target: local\n"
                    f"  - eval: run7.json\n", encoding="utf-8")
    router = Router.from_config(path)
    assert router.route(user("urgent: sort it"), tags=["code"]).reason == (
        "local; rule 1: keyword urgent")
    assert router.route(user("sort it"), tags=["pii"]).reason == "local; tag pii (run7.json)"
    assert router.route(user("sort it")).reason == "cloud; default"


def test_labels_that_are_not_specs_need_aliases() -> None:
    rule = {"rules": [{"match": {"tag": "pii"}, "target": "my qwen"}], "default": CLOUD}
    with pytest.raises(BadInput, match="'my qwen' is a suite's label"):
        Router.from_eval_decision(rule)
    router = Router.from_eval_decision(rule, aliases={"my qwen": LOCAL})
    assert router.route(user("x"), tags=["pii"]).target == LOCAL


@pytest.mark.parametrize("document, words", [
    ({"decision": None}, "the run has no decision"),
    ({"decision": {"choice": CLOUD, "hybrid": None}}, "no hybrid split"),
    ({"rules": [{"match": {"tags": "x"}, "target": LOCAL}]}, "rule 1 must be"),
    ({"rules": "x"}, "no hybrid rule"),
    ({"rules": [], "default": 5}, "default must be"),
])
def test_malformed_eval_decisions(document, words) -> None:
    with pytest.raises(BadInput, match=words):
        hybrid_rule(document)


def test_a_split_without_a_local_target_needs_one() -> None:
    rule = {"rules": [{"match": {"tag": "code"}, "target": CLOUD}], "default": CLOUD}
    with pytest.raises(BadInput, match="no target on this machine"):
        Router.from_eval_decision(rule)
    router = Router.from_eval_decision(rule, local=LOCAL)
    assert router.route(user("x")).target == CLOUD
