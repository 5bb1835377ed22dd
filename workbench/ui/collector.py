"""Python's cyclic garbage collector, run on the GUI thread only.

Left automatic, the collector runs in whichever thread happens to allocate past its threshold:
a page's background thread (a model scan, a server starting) can then free a cycle holding Qt
objects of a closed page (a timer, a wire, a widget), destroying them off their thread while the
GUI thread's event loop still refers to them, a segmentation fault. So the automatic collector
is switched off and a timer on the GUI thread runs the same generations on the same thresholds
(the way pyqtgraph's ``GarbageCollector`` does)."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """While started, cyclic garbage is collected on this object's (the GUI) thread only."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.was_enabled = gc.isenabled()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)

    def start(self) -> GuiThreadCollector:
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.timer.start()
        return self

    def stop(self) -> None:
        """Collect everything once more (here, on the GUI thread) and give the collector back
        to Python as it was."""
        self.timer.stop()
        gc.collect()
        if self.was_enabled:
            gc.enable()

    def check(self) -> int:
        """Collect the generations whose counts passed their thresholds; what was freed."""
        young, middle, old = gc.get_count()
        freed = 0
        if young > self.threshold[0]:
            freed += gc.collect(0)
            if middle > self.threshold[1]:
                freed += gc.collect(1)
                if old > self.threshold[2]:
                    freed += gc.collect(2)
        return freed
