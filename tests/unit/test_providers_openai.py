"""The openai SDK path against a real HTTP server on loopback: streaming, usage, every fault
(401/403/404, 429 + retry-after, 5xx/529, timeout, error mid-stream, cut, network down)."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.fakes import openai_faults as fake
from tests.fakes.clock import FakeClock
from tests.helpers.retry import recorded_waits
from workbench.cancel import CancelToken
from workbench.providers import base, retry
from workbench.providers.base import Params
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.providers.retry import RetryPolicy
from workbench.store.secrets import REDACTED, Secret

KEY = "sk-openai-test-7d1e2f3a4b"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
FAST = RetryPolicy(max_retries=2, initial_delay_s=0.05, max_delay_s=0.2, max_retry_after_s=2)
FULL = "".join(fake.PIECES)


@pytest.fixture
def server():
    with fake.server() as srv:
        yield srv


def target(server, **changes) -> OpenAICompatTarget:
    options = dict(spec="openai:gpt-test", model="gpt-test", base_url=server.url + "/v1",
                   api_key=Secret(KEY), provider="openai", key_name="openai", timeout_s=3.0,
                   retry=FAST, max_tokens_field="max_completion_tokens")
    options.update(changes)
    return OpenAICompatTarget(**options)


def watched_clocks(monkeypatch) -> list[tuple[base.StreamClock, list[str]]]:
    """Each answer's StreamClock with the pieces that moved it, in order (the first one started
    its TTFT): rates are checked against the clock's own readings, not against ours."""
    clocks: list[tuple[base.StreamClock, list[str]]] = []
    real_text = base.StreamClock.text

    def text(clock: base.StreamClock, piece: str) -> None:
        if not clocks or clocks[-1][0] is not clock:
            clocks.append((clock, []))
        before = clock.t_last
        real_text(clock, piece)
        if clock.t_last != before:
            clocks[-1][1].append(piece)

    monkeypatch.setattr(base.StreamClock, "text", text)
    return clocks


def test_stream_text_usage_and_metrics(server, monkeypatch) -> None:
    server.script(fake.ok(delay=0.02, prompt_tokens=42, completion_tokens=5, cached_tokens=10))
    clocks = watched_clocks(monkeypatch)
    deltas: list[str] = []
    result = target(server).stream(HELLO, Params(max_tokens=64, temperature=0.2, seed=7),
                                   on_delta=lambda text, tokens: deltas.append(text))
    assert result.ok, result.error
    assert result.text == FULL == "".join(deltas)
    assert result.finish_reason == "stop"
    assert (result.prompt_tokens, result.completion_tokens) == (42, 5)
    assert result.cached_prompt_tokens == 10 and result.tokens_source == "usage"
    assert result.ttft_ms is not None and 0 < result.ttft_ms < result.total_ms
    # 5 pieces: (5 - 1) tokens over the time from the first piece to the last
    [(clock, moved)] = clocks
    assert moved == list(fake.PIECES)
    assert result.gen_tokens_per_s == pytest.approx(4 / (clock.t_last - clock.t_first))
    assert result.e2e_tokens_per_s is not None and result.e2e_tokens_per_s < (
        result.gen_tokens_per_s)
    assert result.destination.endswith("(this machine)") and not result.error
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 64 and body["temperature"] == 0.2
    assert body["seed"] == 7 and "top_p" not in body
    assert body["messages"] == HELLO and body["model"] == "gpt-test"


def test_ttft_waits_for_the_first_non_empty_text(server, monkeypatch) -> None:
    # the role chunk and an empty chunk come at once; the first text 150 ms later
    server.script(fake.ok(pieces=("late",), delay=0.15))
    clocks = watched_clocks(monkeypatch)
    result = target(server).stream(HELLO)
    [(clock, moved)] = clocks
    assert moved == ["late"]  # neither the role chunk nor the empty one started the clock
    assert result.ttft_ms == pytest.approx((clock.t_first - clock.t_sent) * 1000)


def test_reasoning_tokens_are_billed_but_not_counted_as_streamed(server, monkeypatch) -> None:
    server.script(fake.ok(delay=0.02, completion_tokens=105, reasoning_tokens=100))
    clocks = watched_clocks(monkeypatch)
    result = target(server).stream(HELLO)
    assert result.completion_tokens == 105 and result.reasoning_tokens == 100
    # visible tokens = 5 -> (5 - 1) over the streamed span, not 104
    [(clock, _moved)] = clocks
    assert result.gen_tokens_per_s == pytest.approx(4 / (clock.t_last - clock.t_first))


def test_no_usage_means_unknown_tokens_not_zero(server) -> None:
    server.script(fake.ok(usage=False))
    result = target(server).stream(HELLO)
    assert result.ok and result.text == FULL
    assert result.prompt_tokens is None and result.completion_tokens is None
    assert result.tokens_source is None and result.gen_tokens_per_s is None
    assert any("no usage" in note for note in result.notes)


def test_endpoint_rejecting_stream_options_is_asked_again_without(server) -> None:
    server.script(fake.reject_stream_options())
    result = target(server).stream(HELLO)
    assert result.ok and result.text == FULL
    assert "stream_options" in server.requests[0].body
    assert "stream_options" not in server.requests[1].body
    assert any("stream_options" in note for note in result.notes)


def test_provider_reported_cost_is_kept(server) -> None:
    server.script(fake.ok(cost=0.00123))
    assert target(server).stream(HELLO).provider_cost_usd == pytest.approx(0.00123)


@pytest.mark.parametrize("status, kind, words", [
    (401, "auth", "rejected the API key"),
    (403, "forbidden", "refused access"),
    (404, "not_found", "not found"),
    (400, "bad_request", "refused the request"),
])
def test_client_errors_fail_at_once_with_a_clear_message(server, status, kind, words) -> None:
    server.script(fake.status(status, f"Incorrect API key provided: {KEY}"))
    result = target(server).stream(HELLO)
    assert result.error_kind == kind and words in result.error
    assert f"({status})" in result.error and result.retries == 0
    assert len(server.requests) == 1
    assert KEY not in result.error and REDACTED in result.error  # the body echoed the key
    if status == 401:
        assert "workbench keys set openai" in result.error


def test_429_respects_retry_after_then_succeeds(server, monkeypatch) -> None:
    server.script(fake.status(429, "slow down", headers={"retry-after": "0.4"}))
    waits = recorded_waits(monkeypatch)
    statuses: list[str] = []
    result = target(server).stream(HELLO, on_status=statuses.append)
    assert result.ok and result.text == FULL
    assert waits == [(0.4, True)]  # the whole retry-after (how it is slept: below)
    assert result.retries == 1 and result.retry_wait_ms == pytest.approx(400)
    assert len(statuses) == 1 and "retry-after" in statuses[0] and "0.4 s" in statuses[0]


def test_429_with_a_long_retry_after_fails_at_once_saying_how_long(server, monkeypatch) -> None:
    server.script(fake.status(429, "quota", headers={"retry-after-ms": "90000"}))
    waits = recorded_waits(monkeypatch)
    result = target(server).stream(HELLO)
    assert waits == []  # no wait at all
    assert result.error_kind == "rate_limit" and "wait 90 s" in result.error
    assert len(server.requests) == 1


def test_retries_are_bounded(server) -> None:
    server.script(*[fake.status(429, "still busy")] * 5)
    result = target(server).stream(HELLO)
    assert result.error_kind == "rate_limit" and "after 2 retries" in result.error
    assert len(server.requests) == 3 and result.retries == 2


@pytest.mark.parametrize("status, kind", [(500, "server"), (503, "server"),
                                          (529, "overloaded")])
def test_server_errors_are_retried(server, status, kind) -> None:
    server.script(fake.status(status, "oops"))
    result = target(server).stream(HELLO)
    assert result.ok and result.retries == 1
    server.script(*[fake.status(status, "oops")] * 3)
    failed = target(server).stream(HELLO)
    assert failed.error_kind == kind and f"({status})" in failed.error


def test_error_inside_the_stream_keeps_the_partial_text(server) -> None:
    server.script(fake.midstream_error(pieces=("Hello", " there"), message="model crashed"))
    result = target(server).stream(HELLO)
    assert result.error_kind == "stream" and "model crashed" in result.error
    assert result.text == "Hello there" and result.finish_reason == "error"
    assert len(server.requests) == 1  # never retried once text has streamed


def test_connection_cut_mid_stream_keeps_the_partial_text(server) -> None:
    server.script(fake.cut(pieces=("Half", " an")))
    result = target(server).stream(HELLO)
    assert result.error_kind == "stream" and "connection broke" in result.error
    assert result.text == "Half an" and result.ttft_ms is not None
    assert result.completion_tokens is None


def test_timeout_keeps_the_partial_text(server) -> None:
    release = threading.Event()  # the server stays silent until the test is done
    server.script(fake.hold(release, pieces=("Slow",)))
    try:
        result = target(server, timeout_s=0.5).stream(HELLO)
        # the client's own timeout ended the read: the server had not closed the stream
        assert not release.is_set()
    finally:
        release.set()
    assert result.error_kind == "timeout" and "within 0.5 s" in result.error
    assert result.text == "Slow"


def test_network_down_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target_ = OpenAICompatTarget(spec="openai:x", model="x", base_url=f"http://127.0.0.1:{port}/v1",
                                 api_key=Secret(KEY), retry=FAST, timeout_s=2)
    result = target_.stream(HELLO)
    assert result.error_kind == "network" and "cannot reach 127.0.0.1" in result.error
    assert result.retries == 2 and result.text == ""


def test_cancel_mid_stream_stops_before_the_next_piece_and_keeps_the_text(server) -> None:
    server.script(fake.ok(pieces=[f"w{i} " for i in range(50)], delay=0.01))
    cancel = CancelToken()
    seen: list[str] = []

    def on_delta(text: str, _tokens) -> None:
        if text:
            seen.append(text)
        if len(seen) == 3:
            cancel.cancel()

    result = target(server).stream(HELLO, on_delta=on_delta, cancel=cancel)
    assert result.ok and result.finish_reason == "cancelled"
    assert seen == ["w0 ", "w1 ", "w2 "] and result.text == "w0 w1 w2 "
    assert result.completion_tokens is None  # usage never came: unknown, not a count of chunks


def test_cancel_while_waiting_to_retry(server, monkeypatch) -> None:
    server.script(fake.status(429, "busy", headers={"retry-after": "1.5"}))
    waits = recorded_waits(monkeypatch)
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    result = target(server).stream(HELLO, cancel=cancel)
    assert waits == [(1.5, False)]  # the cancel ended the wait (that it ends it early: below)
    assert len(server.requests) == 1  # and no retry was sent
    assert result.finish_reason == "cancelled" and result.ok


def test_wait_or_cancel_sleeps_the_whole_wait_or_ends_at_a_cancel(monkeypatch) -> None:
    clock = FakeClock(now=0.0)
    monkeypatch.setattr(retry, "time", clock)  # wait_or_cancel's time.monotonic and time.sleep
    assert retry.wait_or_cancel(0.4, CancelToken()) is True
    assert clock.now == pytest.approx(0.4) and max(clock.slept) <= 0.05  # in short naps
    clock.now, clock.slept = 0.0, []
    cancel = CancelToken()
    clock.at(0.2, cancel.cancel)
    assert retry.wait_or_cancel(1.5, cancel) is False
    assert clock.now == pytest.approx(0.2)  # woke at the first nap after the cancel
