"""Streamed answer text handed from the engine thread to the GUI thread in batches.

The engine thread calls ``push`` once per delta; the GUI thread's flush timer calls ``take`` at
most ~60 times a second, so the widget is repainted per batch, never per token. The buffer also
keeps the clock readings the live metrics need (time sent, first text, token count).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LiveFigures:
    """Metrics of an answer still streaming (estimates; the exact ones come at the end)."""

    ttft_ms: float | None  # request sent -> first non-empty text
    tokens: int  # answer tokens sampled so far (the engine's count, not chunks)
    tokens_per_s: float | None  # tokens since the first text / seconds since the first text
    elapsed_s: float  # since the request was sent


class StreamBuffer:
    """Thread-safe accumulator of streamed text."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._tokens = 0
        self._sent_at = self._clock()
        self._first_at: float | None = None
        self._tokens_at_first = 0

    def start(self) -> None:
        """Forget the previous answer; the request is being sent now."""
        with self._lock:
            self._pending.clear()
            self._tokens = 0
            self._sent_at = self._clock()
            self._first_at = None
            self._tokens_at_first = 0

    def push(self, text: str, tokens: int) -> None:
        """Called by the engine thread for each delta (``tokens``: answer tokens so far)."""
        now = self._clock()
        with self._lock:
            if text and self._first_at is None:
                self._first_at = now
                self._tokens_at_first = tokens
            if text:
                self._pending.append(text)
            self._tokens = max(self._tokens, tokens)

    def take(self) -> str:
        """All text pushed since the last call ("" when there is none)."""
        with self._lock:
            if not self._pending:
                return ""
            text = "".join(self._pending)
            self._pending.clear()
            return text

    def live(self) -> LiveFigures:
        now = self._clock()
        with self._lock:
            ttft = None if self._first_at is None else (self._first_at - self._sent_at) * 1000.0
            rate = None
            if self._first_at is not None:
                since_first = now - self._first_at
                counted = self._tokens - self._tokens_at_first
                if since_first > 0.2 and counted > 0:
                    rate = counted / since_first
            return LiveFigures(ttft, self._tokens, rate, now - self._sent_at)
