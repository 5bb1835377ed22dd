"""Small widget builders the pages share: a page title, a plain-text label and tooltip, a
read-only row-selecting table, a Yes/No question whose default is No, a chat-format choice."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QWidget,
)

from workbench.engine.settings import CHAT_FORMATS

Shown = TypeVar("Shown", bound=QWidget)


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label that shows its text as it is, never as rich text: for anything that comes from
    a file, a model or a server (a GGUF's name, an error, a Hub name), where HTML would be
    rendered (spoofed text, local images)."""
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_tip(text: str) -> str:
    """A tooltip that shows ``text`` as it is: Qt renders a tooltip that looks like HTML as rich
    text, so text from a file, a model or a server is escaped (line breaks kept)."""
    return f"<p style='white-space:pre-wrap'>{html.escape(str(text))}</p>"


def page_title(text: str, parent: QWidget) -> QLabel:
    """A page's heading: the default font, 1.45 times larger, bold."""
    title = QLabel(text, parent)
    font = title.font()
    font.setPointSizeF(font.pointSizeF() * 1.45)
    font.setBold(True)
    title.setFont(font)
    return title


def row_table(columns: Sequence[str], name: str, parent: QWidget, *,
              multi: bool = False) -> QTableWidget:
    """A read-only table whose rows are selected whole (one at a time unless ``multi``);
    columns fit their contents and the last one takes the rest."""
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(list(columns))
    table.setAccessibleName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if multi
                           else QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def confirm(parent: QWidget, title: str, text: str) -> bool:
    """Ask ``text`` with Yes and No (No is the default: Enter does not destroy anything)."""
    answer = QMessageBox.question(parent, title, text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def chat_format_combo(parent: QWidget, name: str, tip: str, *, prefix: str = "") -> QComboBox:
    """A choice of CHAT_FORMATS (data: the format's key, each item's tooltip its description)."""
    combo = QComboBox(parent)
    for key, chat_format in CHAT_FORMATS.items():
        combo.addItem(f"{prefix}{chat_format.label}", key)
        combo.setItemData(combo.count() - 1, chat_format.description,
                          Qt.ItemDataRole.ToolTipRole)
    combo.setAccessibleName(name)
    combo.setToolTip(tip)
    return combo


def make_primary(button: QPushButton) -> QPushButton:
    """Mark ``button`` as its page's main action (the app's style fills it with the accent)."""
    button.setProperty("primary", True)
    return button


def make_card(widget: QWidget) -> QWidget:
    """Draw ``widget`` as a card (the app's style: a raised, rounded panel), like a summary."""
    widget.setProperty("card", True)
    widget.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
    return widget


def make_secondary(label: Shown) -> Shown:
    """Show ``label``'s text as less important (hints, metrics) in the app style's secondary
    colour, which follows the theme (a colour set in its palette would not)."""
    label.setProperty("secondary", True)
    return label
