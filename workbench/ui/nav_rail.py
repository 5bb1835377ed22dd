"""The left navigation rail: one row per page (icon and text), keyboard navigable."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

KEY_ROLE = Qt.ItemDataRole.UserRole


class NavRail(QListWidget):
    """Rows of (icon, title); ``pageChosen(key)`` when the current row changes."""

    pageChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("navRail")
        self.setAccessibleName("Pages")
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIconSize(QSize(20, 20))
        self.setUniformItemSizes(True)
        self.setSpacing(2)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.currentRowChanged.connect(self._row_changed)

    def add_page(self, key: str, title: str, icon: QIcon, tip: str) -> None:
        item = QListWidgetItem(icon, title)
        item.setData(KEY_ROLE, key)
        item.setToolTip(tip)
        self.addItem(item)
        self._fit_to_font()

    def _fit_to_font(self) -> None:
        """Icons, row heights and the rail's width follow the text size (200% text: twice)."""
        metrics = self.fontMetrics()
        side = max(20, round(metrics.height() * 1.3))
        self.setIconSize(QSize(side, side))
        widest = 0
        for row in range(self.count()):
            item = self.item(row)
            item.setSizeHint(QSize(0, max(36, metrics.height() + 20)))
            widest = max(widest, metrics.horizontalAdvance(item.text()))
        rows = self.count() * (max(36, metrics.height() + 20) + 2 * self.spacing())
        bar = self.verticalScrollBar().sizeHint().width() if rows > self.height() else 0
        grow = max(1.0, self.font().pointSizeF() / 10)  # the style's paddings grow so
        self.setFixedWidth(max(widest + side + round(52 * grow) + bar, 132))  # nothing elides

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.oldSize().height() != event.size().height():
            self._fit_to_font()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit_to_font()

    def keys(self) -> list[str]:
        return [self.item(i).data(KEY_ROLE) for i in range(self.count())]

    def current_key(self) -> str | None:
        item = self.currentItem()
        return None if item is None else item.data(KEY_ROLE)

    def select(self, key: str) -> bool:
        keys = self.keys()
        if key not in keys:
            return False
        self.setCurrentRow(keys.index(key))
        return True

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self.pageChosen.emit(self.item(row).data(KEY_ROLE))
