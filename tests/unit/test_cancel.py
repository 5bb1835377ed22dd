"""The one cancel protocol (workbench/cancel.py)."""

from __future__ import annotations

import threading

from workbench.cancel import Cancellable, CancelToken, is_cancelled


def test_a_token_starts_live_and_stays_cancelled() -> None:
    token = CancelToken()
    assert not token.is_set() and not token.cancelled
    token.cancel()
    token.cancel()  # idempotent
    assert token.is_set() and token.cancelled


def test_cancel_from_another_thread_wakes_a_waiter() -> None:
    token = CancelToken()
    assert token.wait(0.01) is False
    threading.Thread(target=token.cancel).start()
    assert token.wait(10) is True


def test_a_child_is_cancelled_with_its_parent_but_not_the_other_way() -> None:
    parent = CancelToken()
    child = CancelToken(parent)
    other = CancelToken(parent)
    other.cancel()
    assert other.is_set() and not parent.is_set() and not child.is_set()
    threading.Timer(0.05, parent.cancel).start()
    assert child.wait(10) is True
    assert child.cancelled
    assert child.wait(0) is True


def test_a_child_waits_out_its_timeout_when_nothing_cancels() -> None:
    child = CancelToken(CancelToken())
    assert child.wait(0.06) is False


def test_on_cancel_runs_once_and_at_once_when_already_cancelled() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("first"))
    token.cancel()
    token.cancel()
    assert calls == ["first"]
    token.on_cancel(lambda: calls.append("late"))
    assert calls == ["first", "late"]


def test_events_and_tokens_both_fit_the_protocol() -> None:
    event = threading.Event()
    assert isinstance(event, Cancellable) and isinstance(CancelToken(), Cancellable)
    assert not is_cancelled(None) and not is_cancelled(event)
    event.set()
    assert is_cancelled(event)
    assert is_cancelled(CancelToken(event))  # an event can be a token's parent
