"""A clock that moves only when told: for code that reads the time (``time.monotonic``-like
calls or an injected clock function) and sleeps, tested without waiting."""

from __future__ import annotations

from collections.abc import Callable


class FakeClock:
    """``clock()`` and ``clock.monotonic()`` read it; ``clock.now += s`` or ``clock.sleep(s)``
    moves it (sleeps are recorded in ``slept``); ``clock.at(t, action)`` runs ``action`` once
    a sleep reaches ``t``. Stands in for the ``time`` module where code calls
    ``time.monotonic()`` and ``time.sleep()``."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.slept: list[float] = []
        self._due: list[tuple[float, Callable[[], object]]] = []

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], object]) -> None:
        self._due.append((when, action))

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        for entry in [e for e in self._due if e[0] <= self.now]:
            self._due.remove(entry)
            entry[1]()
