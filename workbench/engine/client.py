"""The app's side of the inference worker: start it, talk to it, survive it.

``LocalEngine`` owns one worker process. Every call blocks the calling thread (the GUI calls it
from a background thread) and reports streamed text through a plain callback. ``cancel()`` may be
called from any thread. A dead or hung worker becomes ``WorkerCrashed`` / ``WorkerHung``; the
engine then needs ``start()`` (``load`` does it by itself) and the app stays up.
"""

from __future__ import annotations

import array
import collections
import contextlib
import itertools
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, NoReturn, TypeVar

from workbench.cancel import Cancellable
from workbench.engine import protocol
from workbench.engine.errors import (
    ContextOverflow,
    EngineError,
    ModelRejected,
    WorkerCrashed,
    WorkerHung,
)
from workbench.engine.log_lines import bounded_lines
from workbench.engine.metrics import AnswerMetrics
from workbench.engine.settings import LoadSettings, Sampling
from workbench.engine.worker.priority import NICE_ENV
from workbench.errors import BadInput
from workbench.store.secrets import environment_without_secrets

START_TIMEOUT_S = 120.0  # importing llama_cpp on a cold disk can take a while
DEFAULT_WATCHDOG_S = 30.0  # no heartbeat for this long: the worker is hung
CANCEL_GRACE_S = 5.0  # a cancelled request that has not finished by then gets the worker killed
_BUFFER_LINE = re.compile(
    r"(?P<device>[\w.-]+)\s+(?P<kind>model|KV|compute|output|RS|LoRA)\s+buffer size\s*=\s*"
    r"(?P<mib>[\d.]+)\s*MiB"
)

# What the event reader hands over: a typed event, a line that was not one (the worker broke
# the protocol, or died mid-line), or None when the worker's stdout closed.
_Incoming = protocol.Event | protocol.ProtocolError | None
_E = TypeVar("_E", bound=protocol.Event)


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str  # stop | length | cancelled
    metrics: AnswerMetrics


@dataclass(frozen=True)
class Embeddings:
    """``LocalEngine.embed``'s answer: one unit-length vector per input, in order, each as
    little-endian float32 bytes (``data``; ``vector(i)`` reads one as floats), and each
    input's token count. A cancelled request has neither."""

    data: tuple[bytes, ...]
    tokens: tuple[int, ...]
    cancelled: bool = False

    @property
    def n_embd(self) -> int:
        """The vectors' size (0 when there are none)."""
        return len(self.data[0]) // 4 if self.data else 0

    def vector(self, index: int) -> list[float]:
        values = array.array("f", self.data[index])
        if sys.byteorder == "big":
            values.byteswap()
        return values.tolist()

    def vectors(self) -> list[list[float]]:
        return [self.vector(i) for i in range(len(self.data))]


class LocalEngine:
    """One llama.cpp worker process and the model loaded in it."""

    def __init__(
        self,
        *,
        python: str = sys.executable,
        watchdog_s: float = DEFAULT_WATCHDOG_S,
        log_lines: int = 400,
        env: dict[str, str] | None = None,
        nice: int = 0,
        on_model_used: Callable[[str], None] | None = None,
    ) -> None:
        """``nice`` > 0 runs the worker below this process's priority (the GUI does that, so
        the window stays responsive while llama.cpp's threads keep every core busy).
        ``on_model_used(path)`` is called after each successful load (the callers above wire
        the library's "last used", ``workbench.hub.library.record_use``); its OSError or
        ValueError never fails a load."""
        self.nice = nice
        self.on_model_used = on_model_used
        self.python = python
        self.watchdog_s = watchdog_s
        self.env = env
        self.log: collections.deque[str] = collections.deque(maxlen=log_lines)
        self.info: protocol.LoadedModel | None = None
        self.settings: LoadSettings | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._events: queue.Queue[_Incoming] = queue.Queue()
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._busy = threading.Lock()
        self._current: int | None = None
        self._last_seen = time.monotonic()
        self._log_reader: threading.Thread | None = None
        self._load_log: list[str] = []  # llama.cpp's lines since the last load request
        self._load_log_done = threading.Event()

    # -- process ---------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start a fresh worker (killing any previous one) and wait for it to be ready."""
        self.close()
        # the model process needs no API key or token: none is passed to it
        env = environment_without_secrets(os.environ if self.env is None else self.env)
        env["PYTHONUNBUFFERED"] = "1"
        # ggml's crash backtrace attaches gdb: slow, and it buries the failed assertion
        env.setdefault("GGML_NO_BACKTRACE", "1")
        if self.nice > 0:
            env[NICE_ENV] = str(self.nice)
        self._events = queue.Queue()
        self.log.clear()
        self._process = subprocess.Popen(
            [self.python, "-m", "workbench.engine.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self._process.stdout and self._process.stderr
        threading.Thread(target=self._read_events, args=(self._process.stdout, self._events),
                         daemon=True).start()
        self._log_reader = threading.Thread(target=self._read_log,
                                            args=(self._process.stderr,), daemon=True)
        self._log_reader.start()
        self._last_seen = time.monotonic()
        self._wait_for(protocol.Ready, None, "starting", timeout=START_TIMEOUT_S)

    def close(self) -> None:
        """Stop the worker: politely, then by force."""
        process, self._process = self._process, None
        self.info = None
        if process is None:
            return
        if process.poll() is None:
            try:
                self._write_to(process, protocol.ShutdownRequest(id=0))
                process.stdin.close()  # type: ignore[union-attr]
                process.wait(timeout=3)
            except BaseException as err:  # a busy worker, or a second Ctrl-C while waiting
                process.kill()
                process.wait()
                if not isinstance(err, OSError | subprocess.TimeoutExpired | ValueError):
                    raise
        for stream in (process.stdin, process.stdout, process.stderr):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass

    def kill(self) -> None:
        """Kill the worker at once (used by the watchdog and the hard cancel)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is KeyboardInterrupt:  # Ctrl-C: stop the model process at once
            self.kill()
        self.close()

    # -- requests --------------------------------------------------------------------------
    def load(self, settings: LoadSettings, notes: Sequence[str] = ()) -> protocol.LoadedModel:
        """Load a model (starting the worker when needed); returns llama.cpp's facts about it.

        ``settings`` are resolved: nothing left to Workbench (``repack`` is not None). The
        policy that resolves them (the repacking probe, the header check) sits above the
        client: ``workbench.engine.defaults.resolve_load_settings``, whose ``notes`` (why a
        setting was chosen) are passed on here and come back in ``info.notes``; the
        settings used are in ``self.settings``.
        """
        if settings.repack is None:
            raise ValueError("LocalEngine.load takes resolved settings (repack=None): resolve "
                             "them first with workbench.engine.defaults.resolve_load_settings")
        if not os.path.isfile(settings.model_path):
            raise BadInput(f"no such model file: {settings.model_path}")
        notes = list(notes)
        if not self.alive:
            self.start()
        with self._busy:
            self.info, self.settings = None, settings
            self._load_log = []
            self._load_log_done.clear()
            rid = self._send(protocol.LoadRequest, settings=settings)
            loaded = self._wait_for(protocol.Loaded, rid, "loading the model")
            self._load_log_done.wait(timeout=2.0)  # stderr is a separate pipe: let it catch up
            buffers = parse_buffer_sizes(self._load_log)
            if not loaded.info.chat_template:
                from workbench.gguf.summary import NO_TEMPLATE_NOTICE

                notes = [*notes, NO_TEMPLATE_NOTICE]
            info = protocol.LoadedModel.of(loaded.info, buffers, notes)
            self.info = info
        if self.on_model_used is not None:
            with contextlib.suppress(OSError, ValueError):  # "last used" never fails a load
                self.on_model_used(settings.model_path)
        return info

    def chat(
        self,
        messages: Sequence[dict[str, Any]],
        sampling: Sampling | None = None,
        *,
        on_delta: Callable[[str, int], None] | None = None,
        cancel: Cancellable | None = None,
    ) -> ChatResult:
        """Answer ``messages``; streamed text goes to ``on_delta(text, tokens_so_far)``."""
        if not self.alive or self.info is None:
            raise BadInput("no model is loaded")
        sampling = sampling or Sampling()
        with self._busy:
            rid = self._send(protocol.ChatRequest, messages=list(messages), sampling=sampling)
            self._current = rid
            parts: list[str] = []
            cancel_sent_at: float | None = None
            try:
                while True:
                    if cancel is not None and cancel.is_set() and cancel_sent_at is None:
                        self._send_cancel(rid)
                        cancel_sent_at = time.monotonic()
                    if cancel_sent_at and time.monotonic() - cancel_sent_at > CANCEL_GRACE_S:
                        return self._hard_cancel(parts)
                    event = self._next_event("answering", "".join(parts))
                    if event is None or event.request_id != rid:
                        continue
                    if isinstance(event, protocol.Delta):
                        parts.append(event.text)
                        if on_delta is not None:
                            on_delta(event.text, event.tokens)
                    elif isinstance(event, protocol.Done):
                        return ChatResult(text="".join(parts), finish_reason=event.finish_reason,
                                          metrics=event.metrics)
                    elif isinstance(event, protocol.Error):
                        self._raise_error(event)
            finally:
                self._current = None

    def embed(self, texts: Sequence[str], *, cancel: Cancellable | None = None) -> Embeddings:
        """One pooled, unit-length vector per text, from a model loaded with
        ``LoadSettings(embedding=True)``; ContextOverflow for a text longer than the context
        (nothing is cut). A cancel that the worker does not honour in time kills it."""
        if not self.alive or self.info is None:
            raise BadInput("no model is loaded")
        with self._busy:
            rid = self._send(protocol.EmbedRequest, inputs=list(texts))
            self._current = rid
            cancel_sent_at: float | None = None
            try:
                while True:
                    if cancel is not None and cancel.is_set() and cancel_sent_at is None:
                        self._send_cancel(rid)
                        cancel_sent_at = time.monotonic()
                    if cancel_sent_at and time.monotonic() - cancel_sent_at > CANCEL_GRACE_S:
                        self.kill()
                        self.info = None
                        return Embeddings((), (), cancelled=True)
                    event = self._next_event("embedding", "")
                    if event is None or event.request_id != rid:
                        continue
                    if isinstance(event, protocol.EmbedResult):
                        if not event.cancelled and len(event.vectors) != len(texts):
                            self._broke_protocol(protocol.ProtocolError(
                                f"embed_result event: {len(event.vectors)} vectors for "
                                f"{len(texts)} inputs"), "embedding", "")
                        return Embeddings(tuple(event.data()), tuple(event.tokens),
                                          cancelled=event.cancelled)
                    if isinstance(event, protocol.Error):
                        self._raise_error(event)
            finally:
                self._current = None

    def bench(
        self,
        pp_tokens: int = 512,
        tg_tokens: int = 128,
        repetitions: int = 5,
        *,
        on_progress: Callable[[str, int], None] | None = None,
        cancel: Cancellable | None = None,
    ) -> protocol.BenchSamples:
        """Run llama-bench's pp/tg tests on the loaded model; returns per-repetition tok/s."""
        if not self.alive or self.info is None:
            raise BadInput("no model is loaded")
        with self._busy:
            rid = self._send(protocol.BenchRequest, pp_tokens=pp_tokens, tg_tokens=tg_tokens,
                             repetitions=repetitions)
            self._current = rid
            cancel_sent = False
            try:
                while True:
                    if cancel is not None and cancel.is_set() and not cancel_sent:
                        self._send_cancel(rid)
                        cancel_sent = True
                    event = self._next_event("benchmarking", "")
                    if event is None or event.request_id != rid:
                        continue
                    if isinstance(event, protocol.Progress) and on_progress is not None:
                        on_progress(event.stage, event.rep)
                    elif isinstance(event, protocol.BenchResult):
                        return event.result
                    elif isinstance(event, protocol.Error):
                        self._raise_error(event)
            finally:
                self._current = None

    def cancel(self) -> None:
        """Stop the answer being generated (thread-safe; a no-op when idle)."""
        rid = self._current
        if rid is not None:
            self._send_cancel(rid)

    def unload(self) -> None:
        if not self.alive:
            self.info = None
            return
        with self._busy:
            rid = self._send(protocol.UnloadRequest)
            self._wait_for(protocol.Unloaded, rid, "unloading the model")
            self.info = None

    def stats(self) -> protocol.WorkerStats:
        """The worker's own figures (memory, cached tokens); all empty when none runs."""
        if not self.alive:
            return protocol.WorkerStats(loaded=False, model=None, rss_bytes=0, n_tokens_cached=0)
        with self._busy:
            rid = self._send(protocol.StatsRequest)
            return self._wait_for(protocol.Stats, rid, "reading statistics").stats

    # -- internals -------------------------------------------------------------------------
    def _send(self, kind: type[protocol.Request], **fields: Any) -> int:
        """Send a ``kind`` request with a fresh id (returned) and ``fields``."""
        rid = next(self._ids)
        try:
            message = kind(id=rid, **fields)
        except protocol.ProtocolError as err:  # e.g. a chat without messages
            raise BadInput(str(err)) from None
        if self._process is None:
            raise WorkerCrashed(during="sending a request", returncode=None, log_tail=[],
                                cause="the model process is not running")
        try:
            data = message.encode()
        except UnicodeEncodeError as err:  # e.g. a lone surrogate: the text is not text
            raise BadInput(f"the request holds text that cannot be encoded as UTF-8 "
                           f"({err.reason} at position {err.start})") from None
        try:
            self._write_bytes(self._process, data)
        except (BrokenPipeError, OSError, ValueError):
            self._crashed("sending a request", "")
        return rid

    def _send_cancel(self, target: int) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            # if it died, the reading loop reports that
            with contextlib.suppress(OSError, ValueError):
                self._write_to(process, protocol.CancelRequest(id=next(self._ids), target=target))

    def _write_to(self, process: subprocess.Popen[bytes], message: protocol.Request) -> None:
        self._write_bytes(process, message.encode())

    def _write_bytes(self, process: subprocess.Popen[bytes], data: bytes) -> None:
        with self._write_lock:
            assert process.stdin is not None
            process.stdin.write(data)
            process.stdin.flush()

    def _next_event(self, during: str, partial: str) -> protocol.Event | None:
        """The next non-heartbeat event, None after a short poll; raises if the worker died."""
        try:
            message = self._events.get(timeout=0.05)
        except queue.Empty:
            if time.monotonic() - self._last_seen > self.watchdog_s:
                self.kill()
                raise WorkerHung(during=during, returncode=None, log_tail=list(self.log)[-40:],
                                 partial_text=partial,
                                 cause=f"no sign of life for {self.watchdog_s:.0f} s") from None
            return None
        if message is None:  # stdout closed: the process is gone
            self._crashed(during, partial)
        if isinstance(message, protocol.ProtocolError):
            self._broke_protocol(message, during, partial)
        self._last_seen = time.monotonic()
        if isinstance(message, protocol.Heartbeat):
            return None
        return message

    def _wait_for(self, kind: type[_E], rid: int | None, during: str,
                  timeout: float | None = None) -> _E:
        """The ``kind`` event answering request ``rid``; its ``error`` event raises."""
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            event = self._next_event(during, "")
            if event is not None and (rid is None or event.request_id == rid):
                if isinstance(event, kind):
                    return event
                if rid is not None and isinstance(event, protocol.Error):
                    self._raise_error(event)
            if deadline and time.monotonic() > deadline:
                self.kill()
                raise WorkerHung(during=during, returncode=None, log_tail=list(self.log)[-40:],
                                 cause=f"not ready after {timeout:.0f} s")

    def _broke_protocol(self, err: protocol.ProtocolError, during: str,
                        partial: str) -> NoReturn:
        """The worker wrote a line that is no valid event: a worker that died mid-line (its
        exit then tells why), or one that is broken; either way it cannot be trusted."""
        self.log.append(f"workbench: not a protocol event from the model process: {err}")
        process = self._process
        try:
            if process is not None:
                process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            self.info = None
            raise WorkerCrashed(during=during, returncode=None, log_tail=list(self.log)[-40:],
                                partial_text=partial,
                                cause=f"it broke the worker protocol ({err})") from None
        self._crashed(during, partial)

    def _crashed(self, during: str, partial: str) -> NoReturn:
        process = self._process
        returncode = None
        if process is not None:
            try:
                returncode = process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                returncode = process.wait()
        if self._log_reader is not None:  # stderr ends with the process: take its last lines
            self._log_reader.join(timeout=2)
        self.info = None
        raise WorkerCrashed(during=during, returncode=returncode,
                            log_tail=list(self.log)[-40:], partial_text=partial)

    def _hard_cancel(self, parts: list[str]) -> ChatResult:
        """The worker did not stop in time: kill it. The model must be loaded again."""
        self.kill()
        self.info = None
        metrics = AnswerMetrics(None, 0, 0, 0.0, None, 0, 0, 0.0, None, 0.0)
        return ChatResult(text="".join(parts), finish_reason="cancelled", metrics=metrics)

    def _raise_error(self, event: protocol.Error) -> NoReturn:
        kind, text = event.kind, event.message
        if kind == "load_failed":
            detail = _last_error_line(list(self.log))
            raise ModelRejected(f"{text}{f' ({detail})' if detail else ''}")
        if kind == "context_overflow":
            raise ContextOverflow(text)
        if kind in ("bad_request", "no_model"):
            raise BadInput(text)
        raise EngineError(kind, text)

    @staticmethod
    def _read_events(stream: IO[bytes], events: queue.Queue[_Incoming]) -> None:
        for line in stream:
            if not line.strip():
                continue
            try:
                events.put(protocol.parse_event(line))
            except protocol.ProtocolError as err:
                events.put(err)
        events.put(None)

    def _read_log(self, stream: IO[bytes]) -> None:
        for line in bounded_lines(stream):  # each line bounded: the buffer is too
            if line.startswith(protocol.LOG_MARK):
                self._load_log_done.set()
                continue
            self.log.append(line)
            if len(self._load_log) < 5000:
                self._load_log.append(line)


def _last_error_line(lines: list[str]) -> str | None:
    for line in reversed(lines[-40:]):
        lowered = line.lower()
        if "error" in lowered or "failed" in lowered:
            return line.strip()[:300]
    return None


def parse_buffer_sizes(lines: list[str]) -> dict[str, float]:
    """llama.cpp's "<device> <kind> buffer size = N MiB" lines, summed per kind, in MiB.

    A context reserves its compute buffers again when its graph changes (LoRA adapters set
    after it was made): each "reserving" reports the buffers' new sizes, so only the last
    one's compute lines count."""
    sizes: dict[str, float] = {}
    for line in lines:
        if "sched_reserve: reserving" in line:
            sizes.pop("compute", None)
            continue
        match = _BUFFER_LINE.search(line)
        if match:
            key = match.group("kind").lower()
            sizes[key] = sizes.get(key, 0.0) + float(match.group("mib"))
    return sizes

