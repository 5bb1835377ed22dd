"""Concurrent comparisons: panes stream at the same time, a failure stays in its pane, one pane
can be stopped alone, costs are filled in."""

from __future__ import annotations

import threading
import time

import pytest

from tests.fakes import anthropic_sse, openai_faults
from workbench.compare.runner import CompareEvent, CompareSession, build_messages
from workbench.costs.pricing import load_pricing
from workbench.errors import BadInput
from workbench.providers.anthropic_target import AnthropicTarget
from workbench.providers.base import Params
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.providers.retry import RetryPolicy
from workbench.store.secrets import Secret

NO_RETRY = RetryPolicy(max_retries=0)


@pytest.fixture
def servers():
    with openai_faults.server() as openai_srv, anthropic_sse.server() as anthropic_srv:
        yield openai_srv, anthropic_srv


def openai_target(server, model="gpt-4o-mini") -> OpenAICompatTarget:
    return OpenAICompatTarget(spec=f"openai:{model}", model=model, base_url=server.url + "/v1",
                              api_key=Secret("sk-runner-test-000001"), retry=NO_RETRY)


def anthropic_target(server) -> AnthropicTarget:
    return AnthropicTarget(spec="anthropic:claude-haiku-4-5", model="claude-haiku-4-5",
                           base_url=server.url, api_key=Secret("sk-ant-runner-0000001"),
                           retry=NO_RETRY)


def test_panes_stream_concurrently_and_failures_stay_in_their_pane(servers) -> None:
    openai_srv, anthropic_srv = servers
    slow = [f"t{i} " for i in range(8)]  # 8 pieces x 60 ms ~ 0.5 s per answer
    openai_srv.script(openai_faults.ok(slow, delay=0.06))
    anthropic_srv.script(anthropic_sse.ok(slow, delay=0.06))
    events: list[tuple[int, CompareEvent]] = []  # (arrival order, event)
    lock = threading.Lock()

    def on_event(event: CompareEvent) -> None:
        with lock:
            events.append((len(events), event))

    with openai_faults.server(openai_faults.status(401, "bad key")) as failing_srv:
        targets = [openai_target(openai_srv), anthropic_target(anthropic_srv),
                   openai_target(failing_srv, "gpt-4.1-nano")]
        for target in targets:
            target.client()  # the SDKs' one-time set-up first: both answers start together
        session = CompareSession(targets, build_messages("Hi", "Be brief."),
                                 Params(max_tokens=20), on_event=on_event,
                                 pricing=load_pricing())
        ok_a, ok_b, failed = session.run()
    assert ok_a.ok and ok_b.ok and ok_a.text == ok_b.text == "".join(slow)
    assert failed.error_kind == "auth" and failed.text == ""
    # two ~0.5 s answers side by side: their deltas interleave (each pane's first delta came
    # before the other's last)
    deltas = {i: [t for t, e in events if e.index == i and e.kind == "delta"] for i in (0, 1)}
    assert deltas[1][0] < deltas[0][-1] and deltas[0][0] < deltas[1][-1]
    # costs from the pricing table (gpt-4o-mini and claude-haiku-4-5 are in it)
    assert ok_a.cost_usd is not None and ok_b.cost_usd is not None
    assert ok_a.cost_source == "pricing table"
    kinds: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for _, event in events:
        kinds[event.index].append(event.kind)
    assert kinds[0][-1] == "done" and kinds[0].count("delta") == len(slow)
    assert kinds[2] == ["done"]


def test_one_pane_can_be_stopped_alone(servers) -> None:
    openai_srv, anthropic_srv = servers
    openai_srv.script(openai_faults.ok([f"x{i} " for i in range(30)], delay=0.05))
    anthropic_srv.script(anthropic_sse.ok(delay=0.05))
    first_text = threading.Event()  # cancel once the first pane has text, however slow the start

    def on_event(event: CompareEvent) -> None:
        if event.index == 0 and event.kind == "delta":
            first_text.set()

    session = CompareSession([openai_target(openai_srv), anthropic_target(anthropic_srv)],
                             build_messages("Hi"), on_event=on_event)
    session.start()
    assert first_text.wait(timeout=30)
    time.sleep(0.1)
    session.cancel(0)
    first, second = session.wait(timeout=5)
    assert first.finish_reason == "cancelled" and 0 < len(first.text.split()) < 30
    assert second.ok and second.finish_reason == "stop"


def test_limits() -> None:
    with pytest.raises(BadInput, match="at least one"):
        CompareSession([], build_messages("x"))
    with pytest.raises(BadInput, match="at most 4"):
        CompareSession([object()] * 5, build_messages("x"))  # type: ignore[list-item]
    with pytest.raises(BadInput, match="empty"):
        build_messages("  ")
