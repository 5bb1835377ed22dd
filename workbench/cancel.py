"""The one cancel protocol of the core.

Long-running core calls (a download, an answer, a bench run, writing a synthetic model) take
``cancel: Cancellable | None``: anything whose ``is_set()`` turns True once someone asked the
call to stop. The call looks at it between steps (between tokens, chunks, files) and stops
there. ``CancelToken`` is the one implementation the project creates; ``threading.Event`` fits
the protocol too, so callers that already hold an event can pass it.

A token may have a parent: it then counts as cancelled when it or its parent is, so one
"stop everything" token can stand over the tokens of single jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

_POLL_S = 0.05  # how often wait() looks at a parent token


@runtime_checkable
class Cancellable(Protocol):
    """What a core call accepts as its cancel token."""

    def is_set(self) -> bool: ...


class CancelToken:
    """A thread-safe stop flag: ``cancel()`` from any thread, checked by the running call."""

    __slots__ = ("_callbacks", "_event", "_lock", "_parent")

    def __init__(self, parent: Cancellable | None = None) -> None:
        self._event = threading.Event()
        self._parent = parent
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] | None = []

    def cancel(self) -> None:
        """Ask the call to stop (idempotent). Callbacks from ``on_cancel`` run once, here."""
        self._event.set()
        with self._lock:
            callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            callback()

    def is_set(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.is_set())

    @property
    def cancelled(self) -> bool:
        return self.is_set()

    def __repr__(self) -> str:
        return f"<CancelToken {'cancelled' if self.is_set() else 'live'}>"

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until cancelled or ``timeout`` seconds passed; True when cancelled."""
        if self._parent is None:
            return self._event.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            if left <= 0:
                break
            self._event.wait(left)
        return self.is_set()

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when ``cancel()`` is called (at once when it already was).

        For a call blocked somewhere a flag cannot reach (a socket read, a child process):
        the callback closes or kills it. A parent's cancel does not run it."""
        with self._lock:
            if self._callbacks is not None:
                self._callbacks.append(callback)
                return
        callback()


def is_cancelled(cancel: Cancellable | None) -> bool:
    """``cancel.is_set()``, False for no token."""
    return cancel is not None and cancel.is_set()
