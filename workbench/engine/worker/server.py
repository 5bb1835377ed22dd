"""The worker's I/O loop: requests from stdin, events to a private copy of stdout.

Three threads: the main one runs requests one at a time (load, chat, ...); a reader turns stdin
lines into requests and handles ``cancel`` at once (it sets the host's flag, which llama.cpp's
abort callback and the token loop both check); a heartbeat thread proves the process is alive
even while llama.cpp is busy in C (ctypes releases the GIL), so the app can tell a hang from work.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
from typing import IO, NoReturn

import llama_cpp

from workbench.engine import protocol
from workbench.engine.worker.host import HostError, ModelHost
from workbench.errors import BadInput


class EventWriter:
    """Writes protocol events; safe to call from several threads."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, event: protocol.Event) -> None:
        data = event.encode()
        with self._lock:
            self._stream.write(data)
            self._stream.flush()


class Worker:
    def __init__(self, events: EventWriter) -> None:
        self.events = events
        self.host = ModelHost()
        self.requests: queue.Queue[protocol.Request | None] = queue.Queue()
        self._lock = threading.Lock()
        self._current: int | None = None
        self._cancelled_early: set[int] = set()

    # -- threads ---------------------------------------------------------------------------
    def read_requests(self, stream: IO[bytes]) -> None:
        for line in stream:
            if not line.strip():
                continue
            try:
                request = protocol.parse_request(line)
            except protocol.ProtocolError as err:
                self.events.send(protocol.Error(id=err.request_id, kind="bad_request",
                                                message=str(err)))
                continue
            if isinstance(request, protocol.CancelRequest):
                self._cancel(request.target)
            else:
                self.requests.put(request)
        self.host.cancel.set()  # the app is gone: stop what we are doing and exit
        self.requests.put(None)

    def heartbeat(self, started: float) -> None:
        while True:
            time.sleep(protocol.HEARTBEAT_S)
            self.events.send(protocol.Heartbeat(t=round(time.monotonic() - started, 3)))

    def _cancel(self, target: int) -> None:
        with self._lock:
            if target == self._current:
                self.host.cancel.set()
            else:
                self._cancelled_early.add(target)

    def _start(self, rid: int) -> None:
        """Request ``rid`` (a chat or an embed) runs now: a cancel that came first applies."""
        with self._lock:
            self._current = rid
            self.host.cancel.clear()
            if rid in self._cancelled_early:
                self._cancelled_early.discard(rid)
                self.host.cancel.set()

    # -- requests --------------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            request = self.requests.get()
            if request is None or isinstance(request, protocol.ShutdownRequest):
                return
            rid = request.id
            try:
                self.handle(request)
            except HostError as err:
                self.events.send(protocol.Error(id=rid, kind=err.kind, message=str(err)))
            except BadInput as err:
                self.events.send(protocol.Error(id=rid, kind="bad_request", message=str(err)))
            except Exception as err:  # the worker survives what it can; the app shows the text
                traceback.print_exc()
                self.events.send(protocol.Error(id=rid, kind="internal",
                                                message=f"{type(err).__name__}: {err}"))
            finally:
                with self._lock:
                    self._current = None

    def handle(self, request: protocol.Request) -> None:
        rid = request.id
        if isinstance(request, protocol.LoadRequest):
            info = self.host.load(request.settings)
            # a marker in the log tells the app it has all of llama.cpp's load lines
            print(f"{protocol.LOG_MARK}{rid}", file=sys.stderr, flush=True)
            self.events.send(protocol.Loaded(id=rid, info=info))
        elif isinstance(request, protocol.ChatRequest):
            self._start(rid)
            answer = self.host.chat(
                request.messages, request.sampling,
                lambda text, n: self.events.send(protocol.Delta(id=rid, text=text, tokens=n)),
            )
            self.events.send(protocol.Done(id=rid, finish_reason=answer.finish_reason,
                                           metrics=answer.metrics))
        elif isinstance(request, protocol.EmbedRequest):
            self._start(rid)
            embedded = self.host.embed(request.inputs)
            self.events.send(protocol.EmbedResult(
                id=rid, vectors=[protocol.encode_vector(v) for v in embedded.vectors],
                tokens=embedded.tokens, cancelled=embedded.cancelled))
        elif isinstance(request, protocol.BenchRequest):
            with self._lock:
                self._current = rid
                self.host.cancel.clear()
            result = self.host.bench(
                request.pp_tokens,
                request.tg_tokens,
                max(1, request.repetitions),
                lambda stage, rep: self.events.send(
                    protocol.Progress(id=rid, stage=stage, rep=rep)),
            )
            self.events.send(protocol.BenchResult(id=rid, result=result))
        elif isinstance(request, protocol.UnloadRequest):
            self.host.unload()
            self.events.send(protocol.Unloaded(id=rid))
        elif isinstance(request, protocol.StatsRequest):
            self.events.send(protocol.Stats(id=rid, stats=self.host.stats()))
        else:
            raise HostError("bad_request", f"unknown op {request.OP!r} (known: {protocol.OPS})")


def main() -> NoReturn:
    # The protocol gets a private copy of stdout; fd 1 itself is pointed at stderr so that
    # anything else printing (llama.cpp's C code, a library) cannot corrupt the event stream.
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    events = EventWriter(os.fdopen(protocol_fd, "wb", buffering=0))
    worker = Worker(events)
    started = time.monotonic()
    threading.Thread(target=worker.heartbeat, args=(started,), daemon=True).start()
    threading.Thread(target=worker.read_requests, args=(sys.stdin.buffer,), daemon=True).start()
    events.send(protocol.Ready(pid=os.getpid(), protocol=protocol.PROTOCOL_VERSION,
                               llama_cpp_version=llama_cpp.__version__))
    worker.serve()
    worker.host.unload()
    # The stdin reader (a daemon thread) may still be blocked in a read after ``shutdown``: an
    # interpreter shutting down then aborts ("could not acquire lock for <stdin> at interpreter
    # shutdown"), and the exit status would read SIGABRT. Nothing is left to clean up: leave.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
