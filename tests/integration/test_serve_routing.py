"""The router behind ``workbench serve``: model ``auto`` (``--cloud``) and ``router:NAME``, with
the real openai and anthropic SDKs as clients, the real SmolLM2 model as the local side (the
server's own pool) and a loopback stand-in for the cloud target that counts what it receives
(tests/fakes/openai_faults.py, reached through the real openai SDK as ``openai:gpt-4o-mini``).
Prompts with each kind of sensitive data reach it 0 times, even with ``--route-default cloud``;
other prompts reach it. Every answer says where it went; the route log adds up to the split and
the saving ``workbench serve --stats`` prints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes import openai_faults
from tests.helpers.serve import serving
from workbench.cli import main
from workbench.errors import BadInput
from workbench.net import offline
from workbench.routing.config import routers_dir
from workbench.server.runner import BackgroundServer
from workbench.store import secrets

KEY = "sk-serve-routing-test-0a1b2c3d4e"
SECRET_LIKE = "gh" + "p_" + "aB3dE5fG7hJ9kL2mN4pQ6rS8tU1vW3xY5zAB"
SENSITIVE = {
    "email": "Reply to jane.doe@example.org with the summary.",
    "phone": "Call me back on (415) 555-2671 after lunch.",
    "card": "Is 4111-1111-1111-1111 a test card number?",
    "iban": "Wire the money to GB82 WEST 1234 5698 7654 32 today.",
    "ssn": "My social security number is 123-45-6789, fill in the form.",
    "ip": "Why does ping 192.168.10.20 time out?",
    "secret": f"This token fails: {SECRET_LIKE}",
}
PLAIN = ["What is the capital of France?", "Explain recursion in one sentence."]


@pytest.fixture(scope="module")
def cloud() -> Iterator[openai_faults.FakeServer]:
    stand_in = openai_faults.server(openai_faults.ok(["cloud", " says", " hi"],
                                                     prompt_tokens=20, completion_tokens=3))
    with stand_in:
        yield stand_in


@pytest.fixture
def env(home: Path, memory_keyring, monkeypatch: pytest.MonkeyPatch,
        cloud: openai_faults.FakeServer) -> Iterator[openai_faults.FakeServer]:
    for names in secrets.ENV_VARS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", cloud.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    cloud.requests.clear()
    yield cloud
    offline.disable_guard()


def cloud_requests(cloud: openai_faults.FakeServer) -> list[Any]:
    return [r for r in cloud.requests if r.path.endswith("/chat/completions")]


@pytest.fixture
def auto_cloud(env: openai_faults.FakeServer, smollm2: Path) -> Iterator[BackgroundServer]:
    """``--cloud openai:gpt-4o-mini --route-default cloud``: only what is not sensitive leaves."""
    with serving(smollm2, cloud="openai:gpt-4o-mini", route_default="cloud") as running:
        yield running


def ask(server: BackgroundServer, text: str, **extra: Any) -> tuple[dict[str, Any], str]:
    """A non-streamed chat request to ``auto`` through the openai SDK: (body, route header)."""
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}], max_tokens=8,
        temperature=0, **extra)
    reply = raw.parse()
    body = reply.model_dump()
    assert body["usage"]["completion_tokens"] > 0 and body["usage"]["prompt_tokens"] > 0
    return body, raw.headers["x-workbench-route"]


def test_sensitive_prompts_stay_local_even_with_the_cloud_as_default(
        auto_cloud: BackgroundServer, env: openai_faults.FakeServer, smollm2: Path) -> None:
    for kind, text in SENSITIVE.items():
        body, header = ask(auto_cloud, text)
        assert header == f"local; pii:{kind}", kind
        route = body["workbench_route"]
        assert route["local"] is True and route["findings"] == [kind]
        assert route["target"] == f"local:{smollm2.resolve()}"
        assert body["model"] == smollm2.name  # the local model answered
        assert body["choices"][0]["message"]["content"] != "cloud says hi"
    assert cloud_requests(env) == []
    # the client's tags cannot send them out either
    body, header = ask(auto_cloud, SENSITIVE["card"], extra_headers={"x-workbench-tags": "x"})
    assert header == "local; pii:card" and cloud_requests(env) == []


def test_other_prompts_reach_the_cloud_target_with_usage(auto_cloud: BackgroundServer,
                                                        env: openai_faults.FakeServer) -> None:
    for text in PLAIN:
        body, header = ask(auto_cloud, text)
        assert header == "cloud; default"
        assert body["choices"][0]["message"]["content"] == "cloud says hi"
        assert body["model"] == "gpt-4o-mini"
        assert body["workbench_route"] == {"target": "openai:gpt-4o-mini", "local": False,
                                           "reason": "cloud; default", "findings": []}
        assert body["usage"]["prompt_tokens"] == 20 and body["usage"]["completion_tokens"] == 3
    sent = cloud_requests(env)
    assert [r.body["messages"][-1]["content"] for r in sent] == PLAIN
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in sent)
    assert all((r.body.get("max_tokens") or r.body.get("max_completion_tokens")) == 8
               for r in sent)


def test_a_routed_stream_says_where_it_went_and_ends_with_usage(
        auto_cloud: BackgroundServer, env: openai_faults.FakeServer) -> None:
    client = openai.OpenAI(base_url=auto_cloud.url + "/v1", api_key="none", max_retries=0)
    for text, expected in ((PLAIN[0], "cloud; default"), (SENSITIVE["email"],
                                                          "local; pii:email")):
        with client.chat.completions.with_streaming_response.create(
                model="auto", messages=[{"role": "user", "content": text}], max_tokens=8,
                stream=True, stream_options={"include_usage": True}) as raw:
            assert raw.headers["x-workbench-route"] == expected
            chunks = list(raw.parse())
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        routes = {c.model_dump()["workbench_route"]["reason"] for c in chunks}
        assert routes == {expected}
        text_out = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert (text_out == "cloud says hi") == expected.startswith("cloud")
    assert len(cloud_requests(env)) == 1


def test_the_anthropic_api_is_routed_the_same_way(auto_cloud: BackgroundServer,
                                                 env: openai_faults.FakeServer) -> None:
    client = anthropic.Anthropic(base_url=auto_cloud.url, api_key="none", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="auto", max_tokens=8, system="Be brief.",
        messages=[{"role": "user", "content": SENSITIVE["iban"]}])
    assert raw.headers["x-workbench-route"] == "local; pii:iban"
    assert raw.parse().usage.output_tokens > 0
    assert cloud_requests(env) == []
    reply = client.messages.create(model="auto", max_tokens=8,
                                   messages=[{"role": "user", "content": PLAIN[1]}])
    assert reply.content[0].text == "cloud says hi"  # type: ignore[union-attr]
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (20, 3)
    [sent] = cloud_requests(env)
    assert sent.body["messages"][-1]["content"] == PLAIN[1]


def test_auto_is_listed_and_completions_are_not_routed(auto_cloud: BackgroundServer,
                                                       smollm2: Path) -> None:
    client = openai.OpenAI(base_url=auto_cloud.url + "/v1", api_key="none", max_retries=0)
    ids = [m.id for m in client.models.list()]
    assert ids == [smollm2.name, "auto"]
    described = client.models.retrieve("auto").model_dump()["workbench"]["router"]
    assert described["cloud"] == "openai:gpt-4o-mini" and described["default"] == "cloud"
    with pytest.raises(openai.BadRequestError, match="routes chat requests"):
        client.completions.create(model="auto", prompt="Once upon", max_tokens=4)
    # tools are answered by a named model: the router does not send them anywhere
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    with pytest.raises(openai.BadRequestError, match="routes requests without tools"):
        client.chat.completions.create(model="auto", max_tokens=4, tools=[weather],
                                       messages=[{"role": "user", "content": "Weather?"}])
    with pytest.raises(anthropic.BadRequestError, match="routes requests without tools"):
        anthropic.Anthropic(base_url=auto_cloud.url, api_key="none", max_retries=0).messages.create(
            model="auto", max_tokens=4, messages=[{"role": "user", "content": "Weather?"}],
            tools=[{"name": "get_weather", "input_schema": {"type": "object"}}])


def test_offline_mode_keeps_everything_local(auto_cloud: BackgroundServer,
                                             env: openai_faults.FakeServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    body, header = ask(auto_cloud, PLAIN[0])
    assert header == "local; offline (default)" and body["workbench_route"]["local"] is True
    assert cloud_requests(env) == []


def test_a_failing_cloud_target_is_a_502_naming_it(auto_cloud: BackgroundServer,
                                                   env: openai_faults.FakeServer) -> None:
    env.script(openai_faults.status(401, "Incorrect API key provided"))  # not retried
    response = httpx.post(auto_cloud.url + "/v1/chat/completions", json={
        "model": "auto", "messages": [{"role": "user", "content": PLAIN[0]}],
        "max_tokens": 8}, timeout=60)
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_error" and "openai:gpt-4o-mini" in error["message"]
    assert "Incorrect API key" in error["message"]
    # and the server carries on
    _, header = ask(auto_cloud, SENSITIVE["phone"])
    assert header == "local; pii:phone"


def test_a_named_router_with_rules_tags_and_the_stats(env: openai_faults.FakeServer,
                                                      smollm2: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      ) -> None:
    (routers_dir() / "private.yaml").write_text(f"""
local: local:{smollm2}
cloud: openai:gpt-4o-mini
default: local
sensitive:
  keywords: [Project Falcon]
  patterns: ['EMP-\\d{{6}}']
rules:
  - match: {{tags: [hard]}}
    target: cloud
""", encoding="utf-8")
    with serving(smollm2, router="private") as server:
        _, header = ask(server, PLAIN[0])
        assert header == "local; default" and cloud_requests(env) == []
        _, header = ask(server, PLAIN[0], extra_headers={"x-workbench-tags": "hard"})
        assert header == "cloud; rule 1: tag hard"
        _, header = ask(server, PLAIN[1], extra_body={"workbench": {"tags": ["hard"]}})
        assert header == "cloud; rule 1: tag hard"
        _, header = ask(server, "Summarise the Project Falcon roadmap.",
                        extra_headers={"x-workbench-tags": "hard"})
        assert header == "local; pii:keyword" and len(cloud_requests(env)) == 2
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)
        assert {m.id for m in client.models.list()} >= {"auto", "router:private"}
    assert main(["serve", "--stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["total"], stats["local"], stats["cloud"]) == (4, 2, 2)
    assert stats["by_reason"]["cloud; rule 1: tag hard"] == 2
    # every request priced at gpt-4o-mini's rate; the local ones are the saving
    assert stats["priced"] == 4 and stats["saved_usd"] > 0
    assert stats["cloud_only_cost_usd"] > stats["cost_usd"] == pytest.approx(
        2 * (20 * 0.15 + 3 * 0.6) / 1e6)
    assert main(["serve", "--stats"]) == 0
    out = capsys.readouterr().out
    assert "50% kept local: 2 of 4 requests" in out and "saved" in out


def test_cloud_needs_a_local_model(env: openai_faults.FakeServer) -> None:
    from workbench.server.config import ServerConfig
    from workbench.server.runner import build_state

    with pytest.raises(BadInput, match="--cloud needs a --model"):
        build_state(ServerConfig(port=0, library=False, cloud="openai:gpt-4o-mini"))
