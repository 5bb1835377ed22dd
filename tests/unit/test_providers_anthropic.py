"""The anthropic SDK path against a loopback server speaking the documented SSE event sequence:
text, usage (cache reads/writes normalised), stop reasons, 401, 529, error events, cuts."""

from __future__ import annotations

import pytest

from tests.fakes import anthropic_sse as fake
from tests.helpers.retry import recorded_waits
from workbench.cancel import CancelToken
from workbench.providers.anthropic_target import AnthropicTarget, split_system
from workbench.providers.base import Params
from workbench.providers.retry import RetryPolicy
from workbench.store.secrets import Secret

KEY = "sk-ant-test-91c2d3e4f5"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"},
         {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Again?"}]
FAST = RetryPolicy(max_retries=2, initial_delay_s=0.05, max_delay_s=0.2, max_retry_after_s=2)


@pytest.fixture
def server():
    with fake.server() as srv:
        yield srv


def target(server, **changes) -> AnthropicTarget:
    options = dict(spec="anthropic:claude-test", model="claude-test", base_url=server.url,
                   api_key=Secret(KEY), timeout_s=3.0, retry=FAST)
    options.update(changes)
    return AnthropicTarget(**options)


def test_system_prompt_goes_apart_from_the_turns() -> None:
    system, turns = split_system(HELLO)
    assert system == "Be brief."
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]


def test_event_sequence_text_and_usage(server) -> None:
    server.script(fake.ok(delay=0.02, input_tokens=30, cache_read=100, cache_write=20,
                          output_tokens=4))
    deltas: list[str] = []
    result = target(server).stream(HELLO, Params(max_tokens=50, temperature=0.3),
                                   on_delta=lambda text, _n: deltas.append(text))
    assert result.ok, result.error
    assert result.text == "".join(fake.PIECES) == "".join(deltas)
    assert result.finish_reason == "stop"
    # Anthropic's input_tokens exclude the cache: the whole prompt is 30 + 100 + 20
    assert result.prompt_tokens == 150
    assert (result.cached_prompt_tokens, result.cache_write_tokens) == (100, 20)
    assert result.completion_tokens == 4 and result.tokens_source == "usage"
    assert result.ttft_ms is not None and result.gen_tokens_per_s is not None
    request = server.requests[-1]
    assert request.path == "/v1/messages"
    sent = request.headers.get("x-api-key") or request.headers["authorization"]
    assert sent in (KEY, f"Bearer {KEY}") and "anthropic-version" in request.headers
    body = request.body
    assert body["system"] == "Be brief." and body["max_tokens"] == 50
    assert body["stream"] is True and body["temperature"] == 0.3
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_max_tokens_stop_reason_reads_as_length(server) -> None:
    server.script(fake.ok(stop_reason="max_tokens"))
    assert target(server).stream(HELLO).finish_reason == "length"


def test_bad_key(server) -> None:
    server.script(fake.status(401, "authentication_error", "invalid x-api-key"))
    result = target(server).stream(HELLO)
    assert result.error_kind == "auth" and "(401)" in result.error
    assert "workbench keys set anthropic" in result.error and len(server.requests) == 1


def test_overloaded_529_is_retried_then_reported(server) -> None:
    server.script(fake.status(529, "overloaded_error", "Overloaded"))
    assert target(server).stream(HELLO).ok
    server.script(*[fake.status(529, "overloaded_error", "Overloaded")] * 3)
    result = target(server).stream(HELLO)
    assert result.error_kind == "overloaded" and "overloaded (529)" in result.error
    assert result.retries == 2


def test_rate_limit_honours_retry_after(server, monkeypatch) -> None:
    server.script(fake.status(429, "rate_limit_error", "slow", headers={"retry-after": "0.3"}))
    waits = recorded_waits(monkeypatch)
    result = target(server).stream(HELLO)
    assert result.ok and waits == [(0.3, True)] and result.retries == 1


def test_error_event_mid_stream_keeps_the_partial_text(server) -> None:
    server.script(fake.error_event(pieces=("Part", "ial"), error_type="overloaded_error"))
    result = target(server).stream(HELLO)
    assert result.error_kind == "stream" and "overloaded_error" in result.error
    assert result.text == "Partial" and len(server.requests) == 1
    assert result.completion_tokens is None  # message_delta never came


def test_cut_connection_keeps_the_partial_text(server) -> None:
    server.script(fake.cut(pieces=("Cut",)))
    result = target(server).stream(HELLO)
    assert result.error_kind == "stream" and "connection broke" in result.error
    assert result.text == "Cut"


def test_cancel(server) -> None:
    server.script(fake.ok(pieces=[f"p{i} " for i in range(40)], delay=0.01))
    cancel = CancelToken()
    seen: list[str] = []

    def on_delta(text: str, _tokens) -> None:
        if text:
            seen.append(text)
        if len(seen) == 2:  # the cancel takes effect before the next piece
            cancel.cancel()

    result = target(server).stream(HELLO, on_delta=on_delta, cancel=cancel)
    assert result.finish_reason == "cancelled" and result.text == "p0 p1 "
    assert seen == ["p0 ", "p1 "]
    assert result.completion_tokens is None
