"""The left navigation rail: one row per page (icon and text), keyboard navigable."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
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
        item.setSizeHint(QSize(0, 36))
        self.addItem(item)
        width = self.fontMetrics().horizontalAdvance(title) + 20 + 44
        self.setFixedWidth(max(self.width() if self.count() > 1 else 0, width, 132))

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
