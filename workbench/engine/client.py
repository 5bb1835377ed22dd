"""The app's side of the inference worker: start it, talk to it, survive it.

``LocalEngine`` owns one worker process. Every call blocks the calling thread (the GUI calls it
from a background thread) and reports streamed text through a plain callback. ``cancel()`` may be
called from any thread. A dead or hung worker becomes ``WorkerCrashed`` / ``WorkerHung``; the
engine then needs ``start()`` (``load`` does it by itself) and the app stays up.
"""

from __future__ import annotations

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
from typing import IO, Any

from workbench.cancel import Cancellable, CancelToken  # noqa: F401 (CancelToken: old callers)
from workbench.engine import protocol
from workbench.engine.defaults import resolve_load_settings
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
    r"(?P<device>[\w.-]+)\s+(?P<kind>model|KV|compute|output|RS)\s+buffer size\s*=\s*"
    r"(?P<mib>[\d.]+)\s*MiB"
)

Message = dict[str, Any]


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str  # stop | length | cancelled
    metrics: AnswerMetrics


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
    ) -> None:
        """``nice`` > 0 runs the worker below this process's priority (the GUI does that, so
        the window stays responsive while llama.cpp's threads keep every core busy)."""
        self.nice = nice
        self.python = python
        self.watchdog_s = watchdog_s
        self.env = env
        self.log: collections.deque[str] = collections.deque(maxlen=log_lines)
        self.info: dict[str, Any] | None = None
        self.settings: LoadSettings | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._events: queue.Queue[Message | None] = queue.Queue()
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
        self._wait_for(lambda m: m.get("event") == "ready", None, "starting",
                       timeout=START_TIMEOUT_S)

    def close(self) -> None:
        """Stop the worker: politely, then by force."""
        process, self._process = self._process, None
        self.info = None
        if process is None:
            return
        if process.poll() is None:
            try:
                self._write_to(process, {"id": 0, "op": "shutdown"})
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
    def load(self, settings: LoadSettings) -> dict[str, Any]:
        """Load a model (starting the worker when needed); returns llama.cpp's facts about it.

        Settings left to Workbench (``repack=None``) are resolved first (engine.defaults); the
        reasons are in ``info["notes"]`` and the settings used in ``self.settings``.
        """
        if not os.path.isfile(settings.model_path):
            raise BadInput(f"no such model file: {settings.model_path}")
        settings, notes = resolve_load_settings(settings)
        if not self.alive:
            self.start()
        with self._busy:
            self.info, self.settings = None, settings
            self._load_log = []
            self._load_log_done.clear()
            rid = self._send({"op": "load", "settings": settings.to_dict()})
            reply = self._wait_for(_final_for(rid), rid, "loading the model")
            self._raise_if_error(reply)
            info = dict(reply["info"])
            self._load_log_done.wait(timeout=2.0)  # stderr is a separate pipe: let it catch up
            info["buffers"] = parse_buffer_sizes(self._load_log)
            if not info.get("chat_template"):
                from workbench.gguf.summary import NO_TEMPLATE_NOTICE

                notes = [*notes, NO_TEMPLATE_NOTICE]
            info["notes"] = notes
            self.info = info
        _record_use(settings.model_path)
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
            rid = self._send({"op": "chat", "messages": list(messages),
                              "sampling": sampling.to_dict()})
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
                    message = self._next_event("answering", "".join(parts))
                    if message is None or message.get("id") != rid:
                        continue
                    event = message.get("event")
                    if event == "delta":
                        text = str(message.get("text", ""))
                        parts.append(text)
                        if on_delta is not None:
                            on_delta(text, int(message.get("tokens", 0)))
                    elif event == "done":
                        return ChatResult(
                            text="".join(parts),
                            finish_reason=str(message.get("finish_reason")),
                            metrics=AnswerMetrics.from_dict(message["metrics"]),
                        )
                    elif event == "error":
                        self._raise_if_error(message)
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
    ) -> dict[str, Any]:
        """Run llama-bench's pp/tg tests on the loaded model; returns per-repetition tok/s."""
        if not self.alive or self.info is None:
            raise BadInput("no model is loaded")
        with self._busy:
            rid = self._send({"op": "bench", "pp_tokens": pp_tokens, "tg_tokens": tg_tokens,
                              "repetitions": repetitions})
            self._current = rid
            cancel_sent = False
            try:
                while True:
                    if cancel is not None and cancel.is_set() and not cancel_sent:
                        self._send_cancel(rid)
                        cancel_sent = True
                    message = self._next_event("benchmarking", "")
                    if message is None or message.get("id") != rid:
                        continue
                    event = message.get("event")
                    if event == "progress" and on_progress is not None:
                        on_progress(str(message.get("stage")), int(message.get("rep", 0)))
                    elif event == "bench_result":
                        return dict(message["result"])
                    elif event == "error":
                        self._raise_if_error(message)
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
            rid = self._send({"op": "unload"})
            self._raise_if_error(self._wait_for(_final_for(rid), rid, "unloading the model"))
            self.info = None

    def stats(self) -> dict[str, Any]:
        if not self.alive:
            return {"loaded": False, "worker": None}
        with self._busy:
            rid = self._send({"op": "stats"})
            reply = self._wait_for(_final_for(rid), rid, "reading statistics")
            self._raise_if_error(reply)
            return {**reply["stats"], "worker": self.pid}

    # -- internals -------------------------------------------------------------------------
    def _send(self, message: Message) -> int:
        rid = next(self._ids)
        if self._process is None:
            raise WorkerCrashed(during="sending a request", returncode=None, log_tail=[],
                                cause="the model process is not running")
        try:
            self._write_to(self._process, {"id": rid, **message})
        except (BrokenPipeError, OSError, ValueError):
            self._crashed("sending a request", "")
        return rid

    def _send_cancel(self, target: int) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            # if it died, the reading loop reports that
            with contextlib.suppress(OSError, ValueError):
                self._write_to(process, {"id": next(self._ids), "op": "cancel", "target": target})

    def _write_to(self, process: subprocess.Popen[bytes], message: Message) -> None:
        with self._write_lock:
            assert process.stdin is not None
            process.stdin.write(protocol.encode(message))
            process.stdin.flush()

    def _next_event(self, during: str, partial: str) -> Message | None:
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
        self._last_seen = time.monotonic()
        if message.get("event") == "heartbeat":
            return None
        return message

    def _wait_for(self, accept: Callable[[Message], bool], rid: int | None, during: str,
                  timeout: float | None = None) -> Message:
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            message = self._next_event(during, "")
            if message is not None and (accept(message) or (
                    rid is not None and message.get("id") == rid and
                    message.get("event") == "error")):
                return message
            if deadline and time.monotonic() > deadline:
                self.kill()
                raise WorkerHung(during=during, returncode=None, log_tail=list(self.log)[-40:],
                                 cause=f"not ready after {timeout:.0f} s")

    def _crashed(self, during: str, partial: str) -> None:
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

    def _raise_if_error(self, message: Message) -> None:
        if message.get("event") != "error":
            return
        kind, text = str(message.get("kind")), str(message.get("message"))
        if kind == "load_failed":
            detail = _last_error_line(list(self.log))
            raise ModelRejected(f"{text}{f' ({detail})' if detail else ''}")
        if kind == "context_overflow":
            raise ContextOverflow(text)
        if kind in ("bad_request", "no_model"):
            raise BadInput(text)
        raise EngineError(kind, text)

    @staticmethod
    def _read_events(stream: IO[bytes], events: queue.Queue[Message | None]) -> None:
        for line in stream:
            try:
                events.put(protocol.decode(line))
            except protocol.ProtocolError:
                continue
        events.put(None)

    def _read_log(self, stream: IO[bytes]) -> None:
        for line in bounded_lines(stream):  # each line bounded: the buffer is too
            if line.startswith(protocol.LOG_MARK):
                self._load_log_done.set()
                continue
            self.log.append(line)
            if len(self._load_log) < 5000:
                self._load_log.append(line)


def _record_use(path: str) -> None:
    """The library's "last used" column; a failure to note it never fails a load."""
    from workbench.hub.library import record_use

    with contextlib.suppress(OSError, ValueError):
        record_use(path)


def _final_for(rid: int) -> Callable[[Message], bool]:
    return lambda m: m.get("id") == rid and m.get("event") in (
        "loaded", "unloaded", "stats", "done", "error")


def _last_error_line(lines: list[str]) -> str | None:
    for line in reversed(lines[-40:]):
        lowered = line.lower()
        if "error" in lowered or "failed" in lowered:
            return line.strip()[:300]
    return None


def parse_buffer_sizes(lines: list[str]) -> dict[str, float]:
    """llama.cpp's "<device> <kind> buffer size = N MiB" lines, summed per kind, in MiB."""
    sizes: dict[str, float] = {}
    for line in lines:
        match = _BUFFER_LINE.search(line)
        if match:
            key = match.group("kind").lower()
            sizes[key] = sizes.get(key, 0.0) + float(match.group("mib"))
    return sizes


def load_with_safe_retry(
    engine: LocalEngine,
    settings: LoadSettings,
    on_retry: Callable[[WorkerCrashed, LoadSettings], None] | None = None,
) -> dict[str, Any]:
    """Load; if the worker crashes doing it, retry once in safe mode (and say so via on_retry)."""
    try:
        return engine.load(settings)
    except WorkerCrashed as err:
        safe = settings.safe()
        if on_retry is not None:
            on_retry(err, safe)
        return engine.load(safe)
