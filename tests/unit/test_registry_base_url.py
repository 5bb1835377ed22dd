"""``openai:MODEL@BASE_URL``: any OpenAI-compatible server, answered for real through the openai
SDK by the scripted loopback server. No key is needed there, and the OpenAI key is sent only to
https://api.openai.com: a suite's ``apiBaseUrl`` must not be able to collect it."""

from __future__ import annotations

import pytest

from tests.fakes import openai_faults as fake
from tests.fakes.http_base import Recorded
from workbench.errors import BadInput
from workbench.providers.base import Params
from workbench.providers.errors import MissingKey
from workbench.providers.openai_compat import NO_KEY, OpenAICompatTarget
from workbench.providers.registry import TargetSpec, build_target, parse_target
from workbench.store import secrets

KEY = "sk-base-url-test-5c1d9e8f7a"
HELLO = [{"role": "user", "content": "Hello?"}]


@pytest.fixture(autouse=True)
def clean_env(memory_keyring, monkeypatch):
    for names in secrets.ENV_VARS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with fake.server() as srv:
        yield srv


@pytest.mark.parametrize("text, model, base_url", [
    ("openai:qwen2.5@http://127.0.0.1:1234/v1", "qwen2.5", "http://127.0.0.1:1234/v1"),
    ("openai:qwen2.5@http://127.0.0.1:1234/v1/", "qwen2.5", "http://127.0.0.1:1234/v1"),
    ("OpenAI: m @ https://gpu-box.lan/v1", "m", "https://gpu-box.lan/v1"),
    ("openai:org/model-7b@http://[::1]:8000/v1", "org/model-7b", "http://[::1]:8000/v1"),
])
def test_parse_and_text_round_trip(text, model, base_url) -> None:
    spec = parse_target(text)
    assert spec == TargetSpec("openai", model, base_url=base_url)
    assert spec.text == f"openai:{model}@{base_url}"
    assert parse_target(spec.text) == spec


def test_without_a_suffix_nothing_changes() -> None:
    spec = parse_target("openai:gpt-4o-mini")
    assert spec.base_url is None and spec.text == "openai:gpt-4o-mini"
    # other kinds keep '@' in the model name (profiles host models named like that)
    assert parse_target("profile:vllm/model@v2").model == "model@v2"


@pytest.mark.parametrize("text, words", [
    ("openai:m@ftp://host/v1", "must be http"),
    ("openai:m@file:///etc/passwd", "must be http"),
    ("openai:m@127.0.0.1:8080/v1", "must be http"),
    ("openai:m@http://", "must be http"),
    ("openai:m@", "must be http"),
    ("openai:@http://127.0.0.1:1/v1", "model is missing"),
    ("openai:m@http://host:port/v1", "port is not a number"),
    ("openai:m@http://user:secret@host/v1", "no credentials"),
    ("openai:m@http://host/v 1", "must be http"),
])
def test_bad_base_urls_are_refused(text, words) -> None:
    with pytest.raises(BadInput, match=words):
        parse_target(text)


def test_a_streamed_answer_without_any_key(server) -> None:
    target = build_target(f"openai:fake-model@{server.url}/v1")
    assert isinstance(target, OpenAICompatTarget)
    assert target.label == f"fake-model@127.0.0.1:{server.port}"
    assert target.spec == f"openai:fake-model@{server.url}/v1"
    assert target.provider == "self-hosted" and not target.leaves_machine
    assert target.destination == f"127.0.0.1:{server.port} (this machine)"
    result = target.stream(HELLO, Params(max_tokens=16))
    assert result.ok, result.error
    assert result.text == "".join(fake.PIECES) and result.finish_reason == "stop"
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {NO_KEY}"
    assert request.body["model"] == "fake-model" and request.body["max_tokens"] == 16


def _sent_no_key(request: Recorded) -> None:
    # the SDK always sends some bearer: here its fixed placeholder, never the user's key
    assert request.headers["authorization"] == f"Bearer {NO_KEY}"
    assert not any(KEY in value for value in request.headers.values())


def test_the_openai_key_is_not_sent_to_another_host(server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # the suffix wins
    target = build_target(f"openai:fake-model@{server.url}/v1")
    assert target.stream(HELLO, Params(max_tokens=8)).ok
    assert len(server.requests) == 1
    _sent_no_key(server.requests[-1])


def test_nor_the_keyring_key(server) -> None:
    secrets.set_api_key("openai", KEY)
    assert build_target(f"openai:fake-model@{server.url}/v1").stream(
        HELLO, Params(max_tokens=8)).ok
    _sent_no_key(server.requests[-1])


def test_a_suite_naming_another_host_gets_no_key(server, monkeypatch) -> None:
    """The attack: a shared suite whose provider points at someone else's server."""
    from workbench.evals.suite_targets import map_provider

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    target = map_provider({"id": "openai:chat:gpt-4o-mini",
                           "config": {"apiBaseUrl": f"{server.url}/v1"}},
                          line=3, source="shared.yaml")
    assert target.spec == f"openai:gpt-4o-mini@{server.url}/v1"
    assert build_target(target.spec).stream(HELLO, Params(max_tokens=8)).ok
    _sent_no_key(server.requests[-1])


@pytest.mark.parametrize("base_url", [
    "https://api.openai.com.evil.example/v1",
    "https://evil.example/v1?host=api.openai.com",
    "http://api.openai.com/v1",  # the key never travels in clear text
])
def test_look_alike_hosts_get_no_key(base_url, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    target = build_target(f"openai:gpt-4o-mini@{base_url}")
    assert isinstance(target, OpenAICompatTarget)
    assert target.client().api_key == NO_KEY  # built, nothing sent


@pytest.mark.parametrize("source", ["env", "keyring"])
def test_api_openai_com_still_gets_the_key(source, monkeypatch) -> None:
    if source == "env":
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
    else:
        secrets.set_api_key("openai", KEY)
    target = build_target("openai:gpt-4o-mini@https://API.openai.com/v1")
    assert isinstance(target, OpenAICompatTarget)
    assert target.client().api_key == KEY  # built, nothing sent
    assert target.key_name == "openai"


def test_plain_openai_still_needs_its_key() -> None:
    with pytest.raises(MissingKey, match="OPENAI_API_KEY"):
        build_target("openai:gpt-4o-mini")


def test_the_official_host_is_priced_as_openai(monkeypatch) -> None:
    target = build_target("openai:gpt-4o-mini@https://api.openai.com/v1")
    assert target.provider == "openai" and target.leaves_machine
    assert target.label == "gpt-4o-mini@api.openai.com"
    assert isinstance(target, OpenAICompatTarget)
    assert target.max_tokens_field == "max_completion_tokens"
