"""Run one blocking core call off the GUI thread and get its result back as a queued signal.

``BackgroundCall(fn)`` runs ``fn()`` in a daemon thread; ``finished(result)`` or
``failed(error)`` is emitted from that thread and, because the ``BackgroundCall`` lives in the
GUI thread, delivered there through Qt's queued connection. The object keeps itself alive
until it has reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

_alive: set[BackgroundCall] = set()


class BackgroundCall(QObject):
    finished = Signal(object)
    failed = Signal(object)  # the exception

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None,
                 name: str = "workbench-background") -> None:
        super().__init__(parent)
        self._fn = fn
        self._name = name
        self.running = False

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        _alive.add(self)
        threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        try:
            result = self._fn()
        except Exception as err:  # reported to the page, which shows it
            self._report(self.failed, err)
        else:
            self._report(self.finished, result)

    def _report(self, signal: Any, value: object) -> None:
        self.running = False
        try:
            signal.emit(value)
        except RuntimeError:  # the receiver's C++ object is gone (window closed)
            pass
        finally:
            _alive.discard(self)
