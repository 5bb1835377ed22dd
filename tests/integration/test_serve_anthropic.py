"""The official anthropic SDK, unchanged, against ``/v1/messages`` on the real SmolLM2 model:
messages.create, messages.stream with Anthropic's exact event sequence, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.helpers.serve import serving
from workbench.server.runner import BackgroundServer

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
# this SDK has no temperature argument any more; the API field is still taken
GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def server(smollm2: Path) -> Iterator[BackgroundServer]:
    with serving(smollm2, api_key="test-key-123") as running:
        yield running


@pytest.fixture(scope="module")
def model(smollm2: Path) -> str:
    return smollm2.name


@pytest.fixture
def client(server: BackgroundServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="test-key-123", max_retries=0)


def test_messages_create(client: anthropic.Anthropic, model: str) -> None:
    message = client.messages.create(model=model, max_tokens=12, messages=HELLO,
                                     system="You are terse.", extra_body=GREEDY)
    assert message.role == "assistant" and message.type == "message"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 5
    assert 0 < message.usage.output_tokens <= 12


def test_messages_stream_and_its_event_sequence(client: anthropic.Anthropic,
                                                model: str) -> None:
    with client.messages.stream(model=model, max_tokens=8, messages=HELLO,
                                extra_body=GREEDY) as stream:
        events = [event.type for event in stream if event.type != "text"]
        final = stream.get_final_message()
    deltas = events.count("content_block_delta")
    assert deltas >= 1
    assert events == ["message_start", "content_block_start", *["content_block_delta"] * deltas,
                      "content_block_stop", "message_delta", "message_stop"]
    assert final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == 8 or final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 5  # from message_delta: known once the answer ends
    plain = client.messages.create(model=model, max_tokens=8, messages=HELLO, extra_body=GREEDY)
    assert plain.content[0].text == final.content[0].text  # type: ignore[union-attr]


def test_stop_sequences(client: anthropic.Anthropic, model: str) -> None:
    ask = [{"role": "user", "content": "Count from 1 to 20, with commas: 1, 2, 3, ..."}]
    message = client.messages.create(model=model, max_tokens=30, messages=ask, extra_body=GREEDY,
                                     stop_sequences=[","])
    assert "," not in message.content[0].text  # type: ignore[union-attr]


def test_errors_have_anthropics_shape(server: BackgroundServer, client: anthropic.Anthropic,
                                      model: str) -> None:
    headers = {"x-api-key": "test-key-123"}
    missing = httpx.post(server.url + "/v1/messages", headers=headers,
                         json={"model": model, "messages": HELLO})  # the SDK requires it too
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "max_tokens is required"
    with pytest.raises(anthropic.BadRequestError) as bad_role:
        client.messages.create(model=model, max_tokens=4,
                               messages=[{"role": "system", "content": "x"}])  # type: ignore[list-item]
    assert "top-level system field" in str(bad_role.value)
    reply = httpx.post(server.url + "/v1/messages", headers=headers, content=b"{not json")
    assert reply.status_code == 400
    body = reply.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "JSON" in body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=4, messages=HELLO)


def test_the_key_is_required(server: BackgroundServer, model: str) -> None:
    wrong = anthropic.Anthropic(base_url=server.url, api_key="wrong-key-456", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(model=model, max_tokens=4, messages=HELLO)
    for headers in ({}, {"authorization": "Bearer wrong-key-456"}, {"x-api-key": ""}):
        reply = httpx.get(server.url + "/v1/models", headers=headers)
        assert reply.status_code == 401, headers
        assert reply.json()["error"]["code"] == "invalid_api_key"
    ok = httpx.get(server.url + "/v1/models", headers={"authorization": "Bearer test-key-123"})
    assert ok.status_code == 200 and ok.json()["data"][0]["id"] == model
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}  # no details without it


def test_a_stream_in_raw_sse_is_exactly_anthropics(server: BackgroundServer, model: str) -> None:
    body = {"model": model, "max_tokens": 3, "stream": True, "messages": HELLO}
    with httpx.stream("POST", server.url + "/v1/messages", json=body,
                      headers={"x-api-key": "test-key-123"}) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in reply.iter_lines() if line]
    names = [line[7:] for line in lines if line.startswith("event: ")]
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert [d["type"] for d in data] == names
    start = data[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert data[-2]["usage"]["output_tokens"] <= 3
    assert data[-2]["delta"]["stop_reason"] in ("end_turn", "max_tokens")


def test_output_config_format_constrains_the_answer(client: anthropic.Anthropic,
                                                    model: str) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 12}},
              "required": ["colour"], "additionalProperties": False}
    message = client.messages.create(
        model=model, max_tokens=30, extra_body=GREEDY,
        messages=[{"role": "user", "content": "Name a colour, as JSON."}],
        output_config={"format": {"type": "json_schema", "schema": schema}})
    document = json.loads(message.content[0].text)  # type: ignore[union-attr]
    assert set(document) == {"colour"} and isinstance(document["colour"], str)
