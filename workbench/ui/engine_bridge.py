"""The bridge from the blocking ``LocalEngine`` to Qt signals.

The engine's calls block, so each runs as a ``Task`` of the bridge's ``TaskRunner``
(ui/background.py) in a worker thread, one at a time (the bridge's state allows no second call
while one runs); the GUI thread never waits on the model process. Streamed text goes into a
``StreamBuffer`` (a lock, no signal per token) that a 16 ms ``QTimer`` on the GUI thread flushes
as one ``textArrived`` signal per batch; a 1 s timer emits live metrics. Results and errors come
back as the task's queued signals; after ``shutdown()`` nothing more of them reaches the window.
``stop()`` cancels from the GUI thread (``LocalEngine.cancel`` is thread-safe).
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from workbench.cancel import CancelToken
from workbench.engine.client import ChatResult, LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.errors import EngineError, WorkerCrashed
from workbench.engine.protocol import LoadedModel
from workbench.engine.settings import LoadSettings, Sampling
from workbench.errors import WorkbenchError
from workbench.hub.library import record_use
from workbench.ui.background import Task, TaskRunner
from workbench.ui.stream_buffer import StreamBuffer

log = logging.getLogger(__name__)

FLUSH_INTERVAL_MS = 16  # at most ~60 widget updates a second
WORKER_NICE = 5  # the model process runs a little below the window's priority
METRICS_INTERVAL_MS = 1000

# Engine states, as shown in the status bar.
NO_MODEL = "no model"
LOADING = "loading"
READY = "ready"
ANSWERING = "answering"
STOPPING = "stopping"
CRASHED = "crashed"
CLOSED = "closed"


@dataclass
class _Engine:
    """A bridge's engine and the call running on it (plain Python: usable at exit, when the
    bridge's Qt objects may be gone)."""

    engine: LocalEngine
    task: Task | None = None


# Engines of bridges not shut down yet, so that a window dropped without being closed leaves no
# model process behind: they are stopped at shutdown() or at exit.
_running: dict[int, _Engine] = {}


def _stop(entry: _Engine, timeout_ms: int) -> None:
    task, engine = entry.task, entry.engine
    if task is not None and not task.wait(timeout_ms / 1000):
        log.warning("the engine call did not finish in time; killing the model process")
        engine.kill()
        task.wait()
    engine.close()


@atexit.register
def shutdown_all(timeout_ms: int = 5_000) -> None:
    """Stop every engine call and model process that is still running."""
    while _running:
        _key, entry = _running.popitem()
        _stop(entry, timeout_ms)


def _as_workbench_error(err: BaseException) -> WorkbenchError:
    if isinstance(err, WorkbenchError):
        return err
    log.error("unexpected error in the engine thread", exc_info=err)
    return EngineError("internal", f"{type(err).__name__}: {err}")


class EngineBridge(QObject):
    """One ``LocalEngine`` driven from the GUI thread through signals."""

    stateChanged = Signal(str)
    loadStarted = Signal(object)  # LoadSettings
    loaded = Signal(object)  # LoadedModel from LocalEngine.load
    loadFailed = Signal(object)  # WorkbenchError other than a crash (e.g. ModelRejected)
    loadCancelled = Signal()  # the user stopped a load (the model process was stopped)
    answerStarted = Signal()
    textArrived = Signal(str)  # a batch of streamed text
    liveMetrics = Signal(object)  # LiveFigures
    answerFinished = Signal(object)  # ChatResult
    answerFailed = Signal(object)  # WorkbenchError other than a crash (e.g. ContextOverflow)
    crashed = Signal(object, str)  # WorkerCrashed, "load" | "chat"
    modelLost = Signal(str)  # the model had to be unloaded (why)

    def __init__(self, engine: LocalEngine | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine if engine is not None else LocalEngine(nice=WORKER_NICE,
                                                                    on_model_used=record_use)
        self.buffer = StreamBuffer()
        self.settings: LoadSettings | None = None  # the last load requested
        self.info: LoadedModel | None = None  # the loaded model, None when there is none
        self.flush_count = 0  # text batches emitted (tests check the update rate)
        self._state = NO_MODEL
        self._cancel: CancelToken | None = None
        self._load_cancelled = False

        self._tasks = TaskRunner(self, name="workbench-engine")
        self._entry = _Engine(self.engine)
        _running[id(self._entry)] = self._entry

        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._metrics_timer = QTimer(self)
        self._metrics_timer.setInterval(METRICS_INTERVAL_MS)
        self._metrics_timer.timeout.connect(self._emit_live)

    # -- state -----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    @property
    def busy(self) -> bool:
        return self._state in (LOADING, ANSWERING, STOPPING)

    @property
    def can_answer(self) -> bool:
        return self._state == READY

    def worker_rss_bytes(self) -> int | None:
        """Resident memory of the model process (read from the OS; no request to the worker)."""
        pid = self.engine.pid
        if pid is None or not self.engine.alive:
            return None
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except (psutil.Error, OSError):
            return None

    # -- requests (GUI thread) -------------------------------------------------------------
    def load(self, settings: LoadSettings) -> bool:
        """Load a model in the background; False when the engine is busy."""
        if self.busy or self._state == CLOSED:
            return False
        self.settings = settings
        self.info = None
        self._set_state(LOADING)
        self.loadStarted.emit(settings)
        engine = self.engine
        self._entry.task = self._tasks.run(
            lambda _progress, _cancel: engine.load(*resolve_load_settings(settings)),  # probe
            on_result=self._on_loaded,
            on_error=lambda err: self._on_failed(_as_workbench_error(err), "load"))
        return True

    def send(self, messages: Sequence[dict[str, Any]], sampling: Sampling) -> bool:
        """Start an answer to ``messages``; False when no model is ready."""
        if not self.can_answer:
            return False
        self.buffer.start()
        self._cancel = CancelToken()
        self._set_state(ANSWERING)
        self._flush_timer.start()
        self._metrics_timer.start()
        self.answerStarted.emit()
        engine, buffer, cancel = self.engine, self.buffer, self._cancel
        copied = [dict(m) for m in messages]
        self._entry.task = self._tasks.run(
            lambda _progress, _cancel: engine.chat(copied, sampling, on_delta=buffer.push,
                                                   cancel=cancel),
            on_result=self._on_answered,
            on_error=lambda err: self._on_failed(_as_workbench_error(err), "chat"))
        return True

    def stop(self) -> None:
        """Stop the current answer (it ends with 'cancelled') or the current load (the model
        process is stopped; ``loadCancelled`` follows); a no-op when idle."""
        if self._state == LOADING:
            self._load_cancelled = True
            self._set_state(STOPPING)
            self.engine.kill()  # llama.cpp cannot be interrupted mid-load; its process can
            return
        if self._state != ANSWERING or self._cancel is None:
            return
        self._cancel.cancel()
        self.engine.cancel()
        self._set_state(STOPPING)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Stop the engine thread and the model process (called when the window closes)."""
        if self._state == CLOSED:
            return
        self.stop()
        self._flush_timer.stop()
        self._metrics_timer.stop()
        self._set_state(CLOSED)
        self._tasks.cancel_all()  # what the last call still reports is dropped
        if _running.pop(id(self._entry), None) is not None:
            _stop(self._entry, timeout_ms)

    # -- results (GUI thread, queued from the engine thread) -------------------------------
    def _flush(self) -> None:
        text = self.buffer.take()
        if text:
            self.flush_count += 1
            self.textArrived.emit(text)

    def _emit_live(self) -> None:
        self.liveMetrics.emit(self.buffer.live())

    def _end_stream(self) -> None:
        self._flush_timer.stop()
        self._metrics_timer.stop()
        self._flush()
        self._cancel = None

    def _load_was_cancelled(self) -> bool:
        if not self._load_cancelled:
            return False
        self._load_cancelled = False
        self.info = None
        self._set_state(NO_MODEL)
        self.loadCancelled.emit()
        return True

    @Slot(object)
    def _on_loaded(self, info: LoadedModel) -> None:
        if self._state == CLOSED or self._load_was_cancelled():
            return
        self.info = info
        self._set_state(READY)
        self.loaded.emit(info)

    @Slot(object)
    def _on_answered(self, result: ChatResult) -> None:
        if self._state == CLOSED:
            return
        self._end_stream()
        if self.engine.info is None:  # the worker did not stop in time and was killed
            self.info = None
            self._set_state(NO_MODEL)
            self.answerFinished.emit(result)
            self.modelLost.emit("the model process did not stop in time and was restarted; "
                                "load the model again")
            return
        self._set_state(READY)
        self.answerFinished.emit(result)

    @Slot(object, str)
    def _on_failed(self, err: WorkbenchError, operation: str) -> None:
        if self._state == CLOSED:
            return
        self._end_stream()
        if operation == "load" and self._load_was_cancelled():
            return
        if isinstance(err, WorkerCrashed):
            self.info = None
            self._set_state(CRASHED)
            self.crashed.emit(err, operation)
            return
        if operation == "load":
            self.info = None
            self._set_state(NO_MODEL)
            self.loadFailed.emit(err)
        else:
            self._set_state(READY if self.engine.info is not None else NO_MODEL)
            self.answerFailed.emit(err)
