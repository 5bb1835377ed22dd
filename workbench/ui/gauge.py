"""A memory gauge: a bar with "used / total" as text (never the bar alone)."""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QWidget

from workbench.present.numbers import format_bytes

STEPS = 1000


def gauge_text(used: int | None, total: int | None) -> str:
    if total is None or total <= 0:
        return "unknown"
    if used is None:
        return f"? / {format_bytes(total)}"
    return f"{format_bytes(used)} used / {format_bytes(total)} ({100.0 * used / total:.0f}%)"


class MemoryGauge(QProgressBar):
    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0, STEPS)
        self.setTextVisible(True)
        self.setAccessibleName(name)
        self.setMinimumWidth(260)
        self.set_usage(None, None)

    def set_usage(self, used: int | None, total: int | None) -> None:
        text = gauge_text(used, total)
        fraction = 0.0 if not total or used is None else max(0.0, min(1.0, used / total))
        self.setValue(round(fraction * STEPS))
        self.setFormat(text)
        self.setAccessibleDescription(text)
        self.setToolTip(text)
