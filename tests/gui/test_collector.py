"""Cyclic garbage is collected on the GUI thread only while the app runs (a background thread
that collected a closed page's Qt objects crashed the event loop: CI, stop 22)."""

from __future__ import annotations

import gc
import threading
from typing import Any

from PySide6.QtCore import QTimer

from workbench.ui.collector import GuiThreadCollector


class _Cycle:
    def __init__(self) -> None:
        self.me = self
        self.timer: Any = None


def _collections(run) -> list[str]:
    """The threads that the collector ran on while ``run()`` ran."""
    seen: list[str] = []

    def record(phase: str, _info: dict) -> None:
        if phase == "start":
            seen.append(threading.current_thread().name)

    gc.callbacks.append(record)
    try:
        run()
    finally:
        gc.callbacks.remove(record)
    return seen


def _churn() -> None:
    for _ in range(50_000):
        _Cycle()


def test_a_background_thread_never_collects_and_the_gui_thread_does(qtbot) -> None:
    collector = GuiThreadCollector(interval_ms=10)
    was = gc.isenabled()
    gc.enable()
    try:
        # without it a thread that allocates collects there
        thread = threading.Thread(target=_churn, name="churn-before")
        assert "churn-before" in _collections(lambda: (thread.start(), thread.join()))
        collector.start()
        assert not gc.isenabled()
        thread = threading.Thread(target=_churn, name="churn-during")
        assert _collections(lambda: (thread.start(), thread.join())) == []
        # the garbage the thread left is collected by the GUI thread's timer
        on_gui: list[str] = []
        qtbot.waitUntil(lambda: on_gui.extend(_collections(lambda: qtbot.wait(30))) or
                        bool(on_gui), timeout=5_000)
        assert set(on_gui) == {threading.main_thread().name}
        collector.stop()
        assert gc.isenabled()  # given back as it was
    finally:
        collector.stop()
        gc.enable() if was else gc.disable()


def test_a_qt_object_in_a_cycle_is_freed_on_the_gui_thread(qtbot) -> None:
    collector = GuiThreadCollector(interval_ms=10).start()
    try:
        freed_on: list[str] = []

        def make() -> None:
            holder = _Cycle()
            holder.timer = QTimer()  # a Python-owned Qt object, inside a cycle
            holder.timer.destroyed.connect(
                lambda *_: freed_on.append(threading.current_thread().name))

        make()
        worker = threading.Thread(target=_churn, name="churn")
        worker.start()
        worker.join()
        assert freed_on == []  # the thread's allocations did not free it
        qtbot.waitUntil(lambda: bool(freed_on), timeout=5_000)
        assert freed_on == [threading.main_thread().name]
    finally:
        collector.stop()
