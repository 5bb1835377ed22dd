"""One answer on its way from the model's thread to the event loop, and the client watched.

The model's thread (``models.ModelSlot``) calls ``delta`` / ``done`` / ``fail``; each hands the
event to the loop with ``call_soon_threadsafe`` (the thread never blocks on a slow client). The
request handler awaits ``next()`` and may ``drain()`` what else has arrived, so a burst of tokens
is written as one write. ``cancel`` is the request's token: set when the client goes away, it
stops the generation between two tokens (or before it starts, in the queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import Request

from workbench.cancel import CancelToken
from workbench.engine.client import ChatResult
from workbench.engine.protocol import LoadedModel

_T = TypeVar("_T")


@dataclass(frozen=True)
class Delta:
    text: str
    tokens: int


@dataclass(frozen=True)
class Finished:
    result: ChatResult
    info: LoadedModel | None  # the model as loaded for this answer


@dataclass(frozen=True)
class Failed:
    error: BaseException


Event = Delta | Finished | Failed


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


class Generation:
    """The events of one answer (thread-safe producer side, event-loop consumer side)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.cancel = CancelToken()
        self.created = time.monotonic()
        self.first_token_at: float | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    # -- the model's thread ----------------------------------------------------------------
    def _put(self, event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self.loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def delta(self, text: str, tokens: int) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        self._put(Delta(text, tokens))

    def done(self, result: ChatResult, info: LoadedModel | None) -> None:
        self._put(Finished(result, info))

    def fail(self, error: BaseException) -> None:
        self._put(Failed(error))

    # -- the event loop --------------------------------------------------------------------
    async def next(self) -> Event:
        return await self._queue.get()

    def drain(self) -> list[Event]:
        """The events that have arrived already (without waiting)."""
        events: list[Event] = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                return events


async def wait_for_disconnect(request: Request) -> None:
    """Returns when the client has gone (after the body was read, ``receive`` only reports
    that: uvicorn answers ``http.disconnect``)."""
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Awaitable[_T]) -> _T:
    """``await work``, unless the client goes first: then ``work`` is cancelled and
    ``ClientGone`` raised."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    raise ClientGone
