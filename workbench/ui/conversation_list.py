"""The conversation sidebar: search, the stored conversations, new/rename/delete/export."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.present.conversation_export import export_json, export_markdown
from workbench.store import conversations as store
from workbench.ui.widgets import confirm, make_secondary, plain_tip

ID_ROLE = Qt.ItemDataRole.UserRole
FORMATS = {"md": ("Markdown", "Markdown (*.md)"), "json": ("JSON", "JSON (*.json)")}


def relative_date(iso: str, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', '4 days ago' or the date."""
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)} days ago"
    return when.astimezone().strftime("%Y-%m-%d")


def write_export(connection: sqlite3.Connection, conversation_id: int, path: str | Path,
                 fmt: str) -> Path:
    """Write the conversation as Markdown (``md``) or JSON (``json``) to ``path``."""
    conversation = store.get(connection, conversation_id)
    text = export_json(conversation) if fmt == "json" else export_markdown(conversation)
    target = Path(path)
    target.write_text(text, encoding="utf-8")
    return target


class ConversationList(QWidget):
    """Stored conversations, newest first; choosing one emits ``chosen(id)``."""

    chosen = Signal(int)
    newRequested = Signal()
    deleted = Signal(int)
    renamed = Signal(int, str)
    statusMessage = Signal(str)

    def __init__(self, connection: sqlite3.Connection | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.connection = connection
        self.current_id: int | None = None

        self.search_box = QLineEdit(self)
        self.search_box.setPlaceholderText("Search conversations")
        self.search_box.setAccessibleName("Search conversations")
        self.search_box.setToolTip("Show only conversations whose title or messages contain "
                                   "this text (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.textChanged.connect(lambda _text: self.refresh())
        self.search_box.returnPressed.connect(self._focus_list)

        self.list = QListWidget(self)
        self.list.setAccessibleName("Conversations")
        self.list.setAccessibleDescription(
            "Stored conversations, newest first. Enter opens one, F2 renames, Delete deletes.")
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(False)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.itemClicked.connect(self._on_item_chosen)
        self.list.itemActivated.connect(self._on_item_chosen)
        self.list.currentItemChanged.connect(lambda *_args: self._update_buttons())

        self.empty_label = QLabel(self)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        make_secondary(self.empty_label)

        self.new_button = QPushButton("New", self)
        self.new_button.setAccessibleName("New conversation")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.newRequested)
        # the selected conversation's actions: a menu (the list's context menu has them too)
        self.rename_action = self._list_action("Rename…", QKeySequence(Qt.Key.Key_F2),
                                               self.rename_selected)
        self.export_actions = {
            fmt: self._list_action(f"Export as {label}…", None,
                                   lambda _checked=False, f=fmt: self.export_selected(f))
            for fmt, (label, _filter) in FORMATS.items()}
        self.delete_action = self._list_action(
            "Delete…", QKeySequence(QKeySequence.StandardKey.Delete), self.delete_selected)
        self.actions_menu = QMenu(self)
        self.actions_menu.addAction(self.rename_action)
        for action in self.export_actions.values():
            self.actions_menu.addAction(action)
        self.actions_menu.addSeparator()
        self.actions_menu.addAction(self.delete_action)
        self.actions_button = QToolButton(self)
        self.actions_button.setText("Actions")
        self.actions_button.setAccessibleName("Conversation actions")
        self.actions_button.setToolTip("Rename (F2), export or delete (Del) the selected "
                                       "conversation")
        self.actions_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.actions_button.setMenu(self.actions_menu)

        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.actions_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.search_box)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label)
        layout.addLayout(buttons)
        self.refresh()

    def _list_action(self, text: str, key: QKeySequence | None, slot: object) -> QAction:
        """An action on the selected conversation; its key works while the list has focus."""
        action = QAction(text, self.list)
        if key is not None:
            action.setShortcut(key)
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(slot)
        self.list.addAction(action)
        return action

    # -- contents --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the list from the store (filtered by the search box)."""
        summaries: list[store.Summary] = []
        if self.connection is not None:
            try:
                summaries = store.search(self.connection, self.search_box.text())
            except sqlite3.Error as err:
                self.statusMessage.emit(f"The conversations could not be read: {err}")
        self.list.blockSignals(True)
        self.list.clear()
        for summary in summaries:
            item = QListWidgetItem(self._item_text(summary))
            item.setData(ID_ROLE, summary.id)
            item.setToolTip(plain_tip(
                f"{summary.title}\n{summary.message_count} messages, last changed "
                f"{summary.updated_at.replace('T', ' ')[:16]} UTC"
                + (f"\n{summary.snippet}" if summary.snippet else "")))
            self.list.addItem(item)
            if summary.id == self.current_id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        searching = bool(self.search_box.text().strip())
        self.empty_label.setText("No conversation matches the search." if searching
                                 else "No conversations yet: what you send is kept here.")
        self.empty_label.setVisible(not summaries)
        self._update_buttons()

    @staticmethod
    def _item_text(summary: store.Summary) -> str:
        details = [relative_date(summary.updated_at)]
        if summary.model_name:
            details.append(summary.model_name)
        return f"{summary.title}\n{' · '.join(details)}"

    def ids(self) -> list[int]:
        return [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]

    def set_current(self, conversation_id: int | None) -> None:
        """Mark the conversation shown in the chat (without emitting ``chosen``)."""
        self.current_id = conversation_id
        self.refresh()
        if conversation_id is None:
            self.list.setCurrentItem(None)

    def selected_id(self) -> int | None:
        item = self.list.currentItem()
        return item.data(ID_ROLE) if item is not None else None

    def focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    def _focus_list(self) -> None:
        if self.list.count():
            self.list.setFocus()
            if self.list.currentItem() is None:
                self.list.setCurrentRow(0)

    def _update_buttons(self) -> None:
        selected = self.list.currentItem() is not None
        for action in (self.rename_action, self.delete_action, *self.export_actions.values()):
            action.setEnabled(selected)
        self.actions_button.setEnabled(selected)

    def _on_item_chosen(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(ID_ROLE)
        if conversation_id != self.current_id:
            self.chosen.emit(conversation_id)

    def _context_menu(self, point: QPoint) -> None:
        item = self.list.itemAt(point)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction("Open", lambda: self._on_item_chosen(item))
        menu.addActions(self.actions_menu.actions())
        menu.exec(self.list.viewport().mapToGlobal(point))

    # -- operations ------------------------------------------------------------------------
    def rename(self, conversation_id: int, title: str) -> bool:
        if self.connection is None:
            return False
        try:
            title = store.rename(self.connection, conversation_id, title)
        except (WorkbenchError, sqlite3.Error) as err:
            self.statusMessage.emit(f"Not renamed: {err}")
            return False
        self.refresh()
        self.renamed.emit(conversation_id, title)
        return True

    def ask_title(self, current: str) -> str | None:
        title, ok = QInputDialog.getText(self, "Rename the conversation", "Title:",
                                         QLineEdit.EchoMode.Normal, current)
        return title if ok else None

    def rename_selected(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is None or self.connection is None:
            return
        title = self.ask_title(store.get(self.connection, conversation_id).title)
        if title is not None:
            self.rename(conversation_id, title)

    def delete(self, conversation_id: int) -> bool:
        """Delete without asking (the confirmation is ``delete_selected``'s)."""
        if self.connection is None:
            return False
        try:
            store.delete(self.connection, conversation_id)
        except (WorkbenchError, sqlite3.Error) as err:
            self.statusMessage.emit(f"Not deleted: {err}")
            return False
        if conversation_id == self.current_id:
            self.current_id = None
        self.refresh()
        self.deleted.emit(conversation_id)
        return True

    def confirm_delete(self, title: str) -> bool:
        return confirm(self, "Delete the conversation?",
                       f"Delete “{title}” and all its messages? This cannot be undone.")

    def delete_selected(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is None or self.connection is None:
            return
        title = self.list.currentItem().text().split("\n", 1)[0]
        if self.confirm_delete(title):
            self.delete(conversation_id)

    def export(self, conversation_id: int, path: str | Path, fmt: str) -> Path | None:
        """Write the conversation to ``path`` as ``md`` or ``json``; None (and a status
        message) when it cannot be written."""
        if self.connection is None:
            return None
        try:
            written = write_export(self.connection, conversation_id, path, fmt)
        except (OSError, WorkbenchError, sqlite3.Error) as err:
            self.statusMessage.emit(f"Not exported: {err}")
            return None
        self.statusMessage.emit(f"Saved {written}.")
        return written

    def export_selected(self, fmt: str) -> None:
        conversation_id = self.selected_id()
        if conversation_id is None or self.connection is None:
            return
        label, file_filter = FORMATS[fmt]
        title = store.get(self.connection, conversation_id).title
        name = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip()
        path, _chosen = QFileDialog.getSaveFileName(
            self, f"Export the conversation as {label}",
            str(Path.home() / f"{name or 'conversation'}.{fmt}"), file_filter)
        if path:
            self.export(conversation_id, path, fmt)
