"""The one way the GUI runs core work off its thread.

``Task(work)`` runs ``work(progress, cancel)`` in a daemon thread: ``progress(value)`` may be
called from any thread, as often as the core likes; ``cancel`` is the task's
``workbench.cancel.CancelToken``. Everything comes back on the GUI thread through queued
signals: ``progressed(value)``, then ``finished(result)`` or ``failed(error)``.

``task.cancel()`` sets the token and drops the task: once it has returned (on the GUI thread)
nothing the work still reports reaches a page; ``cancelled`` follows when the work has returned.
A ``TaskRunner`` keeps one task per key: starting another under the same key cancels (drops)
the one before, so a stale result from a superseded request never overwrites a newer one.

``Relay`` is the carrier underneath, for core code that runs its own threads (the download
queue, a comparison's targets): ``push(value)`` from any thread, ``delivered(value)`` on the GUI
thread; every value in order, or only the newest with ``latest_only`` (at most one delivery per
``interval_ms``).

``BackgroundCall(fn)`` is a ``Task`` for a plain call ``fn()`` that neither reports progress
nor looks at a cancel token. Tasks keep themselves alive until they have reported; a task whose
parent is deleted (the window closed) is cancelled.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from workbench.cancel import CancelToken

Progress = Callable[[Any], None]
Work = Callable[[Progress, CancelToken], Any]

_NOTHING: Any = object()  # a latest-only push: the value waits in the relay
_alive: set[Task] = set()


def _qt_alive(obj: QObject) -> bool:
    """Whether ``obj``'s C++ object still exists."""
    return shiboken6.isValid(obj)


class _Wire(QObject):
    """A parentless sender for a worker thread's signals. The thread emits on this, never on
    the task or relay itself: those belong to a page and may be deleted (window closed) while
    the thread still runs, and emitting on a QObject as it is deleted crashes. When the
    receiver goes, Qt drops the connection and its queued events; the wire stays valid."""

    pushed = Signal(object)
    ended = Signal(bool, object)


class Relay(QObject):
    """Carries values pushed from any thread to the thread the relay lives in (the GUI's)."""

    delivered = Signal(object)

    def __init__(self, parent: QObject | None = None, *, latest_only: bool = False,
                 interval_ms: int = 0) -> None:
        super().__init__(parent)
        self.latest_only = latest_only
        self.interval_ms = interval_ms
        self.closed = False
        self._lock = threading.Lock()
        self._latest: Any = _NOTHING
        self._queued = False
        self._last_at = 0.0
        self._timer: QTimer | None = None
        self._wire = _Wire()  # owned here, not by Qt: it outlives this relay's C++ object
        self._wire.pushed.connect(self._on_pushed, Qt.ConnectionType.QueuedConnection)

    def push(self, value: Any) -> None:
        """Any thread. With ``latest_only`` a value not yet delivered is replaced."""
        if self.closed:
            return
        if self.latest_only:
            with self._lock:
                self._latest = value
                if self._queued:
                    return
                self._queued = True
            value = _NOTHING
        self._wire.pushed.emit(value)

    def flush(self) -> None:
        """GUI thread: deliver a waiting latest value now."""
        if self._timer is not None:
            self._timer.stop()
        self._deliver_latest()

    def close(self) -> None:
        """GUI thread: deliver nothing more, not even what is already on its way."""
        self.closed = True
        if self._timer is not None:
            self._timer.stop()
        with self._lock:
            self._latest, self._queued = _NOTHING, False

    @Slot(object)
    def _on_pushed(self, value: Any) -> None:
        if value is not _NOTHING:
            self._deliver(value)
            return
        wait_ms = self.interval_ms - (time.monotonic() - self._last_at) * 1000
        if wait_ms > 0:
            if self._timer is None:
                self._timer = QTimer(self)
                self._timer.setSingleShot(True)
                self._timer.timeout.connect(self._deliver_latest)
            self._timer.start(max(1, int(wait_ms)))
            return
        self._deliver_latest()

    def _deliver_latest(self) -> None:
        with self._lock:
            value, self._latest, self._queued = self._latest, _NOTHING, False
        if value is not _NOTHING:
            self._deliver(value)

    def _deliver(self, value: Any) -> None:
        if self.closed:
            return
        self._last_at = time.monotonic()
        self.delivered.emit(value)


class Task(QObject):
    """One run of ``work(progress, cancel)`` in a worker thread; reports on the GUI thread."""

    progressed = Signal(object)
    finished = Signal(object)  # the work's return value
    failed = Signal(object)  # the exception it raised
    cancelled = Signal()  # a cancelled task's work has returned; what it returned was dropped

    def __init__(self, work: Work, parent: QObject | None = None, *,
                 name: str = "workbench-task", latest_progress: bool = False,
                 progress_interval_ms: int = 0) -> None:
        """``latest_progress``: deliver only the newest progress value (a byte count, a
        percentage), at most one per ``progress_interval_ms``; otherwise every value."""
        super().__init__(parent)
        self.token = CancelToken()
        self.name = name
        self.running = False
        self.done = False
        self._work = work
        self._started = False
        self._returned = threading.Event()
        self._relay = Relay(self, latest_only=latest_progress, interval_ms=progress_interval_ms)
        self._relay.delivered.connect(self.progressed)
        # (ok, result or exception), from the worker thread
        self._wire = _Wire()
        self._wire.ended.connect(self._on_ended, Qt.ConnectionType.QueuedConnection)
        token = self.token
        self.destroyed.connect(lambda *_: token.cancel())  # the page is gone: stop the work

    @property
    def is_cancelled(self) -> bool:
        return self.token.is_set()

    def start(self) -> Task:
        """Start the work (once); returns the task, so ``Task(...).start()`` reads well."""
        if self._started:
            return self
        self._started = True
        self.running = True
        _alive.add(self)
        threading.Thread(target=self._run, name=self.name, daemon=True).start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work has returned (any thread; its report may still be on its way);
        False when ``timeout`` seconds passed first. True for a task that never started."""
        return not self._started or self._returned.wait(timeout)

    def cancel(self) -> None:
        """Ask the work to stop and drop what it still reports (GUI thread)."""
        self.token.cancel()
        self._relay.close()
        if not self._started:  # never ran: nothing will end it
            self.done = True

    def _run(self) -> None:
        try:
            ok, value = True, self._work(self._relay.push, self.token)
        except BaseException as err:  # reported to the page, which shows it
            ok, value = False, err
        self._returned.set()
        self._wire.ended.emit(ok, value)  # nowhere when the task is gone (window closed)
        if not _qt_alive(self):
            _alive.discard(self)

    @Slot(bool, object)
    def _on_ended(self, ok: bool, value: Any) -> None:
        self.running = False
        self.done = True
        # let go of the task only after this slot has returned (never delete it in its event)
        QTimer.singleShot(0, functools.partial(_alive.discard, self))
        if self.token.is_set():
            self._relay.close()
            self.cancelled.emit()
            return
        self._relay.flush()  # the last progress comes before the result
        self._relay.close()
        (self.finished if ok else self.failed).emit(value)


class BackgroundCall(Task):
    """``fn()`` off the GUI thread: ``finished(result)`` or ``failed(error)``, queued."""

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None,
                 name: str = "workbench-background") -> None:
        super().__init__(lambda _progress, _cancel: fn(), parent, name=name)


class TaskRunner(QObject):
    """The tasks of one page, at most one per key: a new one supersedes the one before.

    Deleting the runner (with its page) cancels its tasks."""

    def __init__(self, parent: QObject | None = None, *, name: str = "workbench-task") -> None:
        super().__init__(parent)
        self.name = name
        self._tasks: dict[Hashable, Task] = {}
        tasks = self._tasks
        self.destroyed.connect(lambda *_: [t.cancel() for t in list(tasks.values())])

    def run(self, work: Work, *, key: Hashable = None,
            on_progress: Callable[[Any], object] | None = None,
            on_result: Callable[[Any], object] | None = None,
            on_error: Callable[[BaseException], object] | None = None,
            on_cancelled: Callable[[], object] | None = None,
            latest_progress: bool = False, progress_interval_ms: int = 0,
            name: str | None = None) -> Task:
        """Start ``work(progress, cancel)``; a task still running under ``key`` is cancelled
        first (nothing more of it reaches the page). The callbacks run on the GUI thread."""
        self.cancel(key)
        task = Task(work, None, name=name or self.name, latest_progress=latest_progress,
                    progress_interval_ms=progress_interval_ms)
        # forgotten first, so a callback may start the next task under the same key (the
        # lambdas hold the task's id, not the task: a task that holds itself would never go)
        ident = id(task)
        task.finished.connect(lambda *_: self._forget(key, ident))
        task.failed.connect(lambda *_: self._forget(key, ident))
        for signal, slot in ((task.progressed, on_progress), (task.finished, on_result),
                             (task.failed, on_error), (task.cancelled, on_cancelled)):
            if slot is not None:
                signal.connect(slot)
        self._tasks[key] = task
        return task.start()

    def current(self, key: Hashable = None) -> Task | None:
        """The live task under ``key`` (None when none runs or it was cancelled)."""
        return self._tasks.get(key)

    def busy(self, key: Hashable = None) -> bool:
        return key in self._tasks

    def idle(self) -> bool:
        """No live task under any key."""
        return not self._tasks

    def cancel(self, key: Hashable = None) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for key in list(self._tasks):
            self.cancel(key)

    def _forget(self, key: Hashable, ident: int) -> None:
        if id(self._tasks.get(key)) == ident:
            del self._tasks[key]
