"""The Chat page: conversations with the loaded model, streamed, with per-answer metrics.

The conversation itself is a Qt-free ``workbench.chat.session.ChatSession``: its messages, the
answer being written and the store kept in step (every message is stored as it happens; a
conversation is created with its first message). The page renders it (one message widget per
session message, in order) and forwards what the user does: the sidebar lists the stored
conversations; Regenerate drops the last answer and asks again; editing a message puts it back
in the input, and sending it replaces that message and everything after it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.chat.session import ChatMessage, ChatSession, ConversationContext
from workbench.engine.client import ChatResult
from workbench.engine.errors import WorkerCrashed
from workbench.engine.protocol import LoadedModel
from workbench.engine.settings import CHAT_FORMATS, Sampling
from workbench.errors import WorkbenchError
from workbench.present.numbers import format_bytes, format_ms
from workbench.store import db
from workbench.ui import engine_bridge as states
from workbench.ui.chat_view import ChatView
from workbench.ui.conversation_list import ConversationList
from workbench.ui.engine_bridge import EngineBridge
from workbench.ui.icons import icon
from workbench.ui.message_widget import ASSISTANT, USER, MessageWidget
from workbench.ui.notice_banner import NoticeBanner
from workbench.ui.prompt_edit import PromptEdit
from workbench.ui.settings_panel import SettingsPanel
from workbench.ui.stream_buffer import LiveFigures
from workbench.ui.widgets import make_primary, plain_label, plain_tip

GGUF_MAGIC = b"GGUF"
CRASH_NOTE = "Interrupted: the model process crashed."
SPLITTER_KEY = "chat/splitter_v2"  # v1 had no conversation sidebar
SIDEBAR_KEY = "chat/conversations_visible"
PANEL_KEY = "chat/settings_panel_visible"
# Until the user shows or hides a panel, the page's width decides: the conversation list only
# where the conversation keeps most of the width beside both panels (at 1100 x 700 the window
# shows the conversation and the settings panel); the settings panel below this width too.
BOTH_PANELS_PX = 1300
SETTINGS_PANEL_PX = 760


def gguf_problem(path: str) -> str | None:
    """Why ``path`` cannot be a GGUF model (checked before bothering the model process)."""
    if not os.path.exists(path):
        return f"There is no file at {path}."
    if not os.path.isfile(path):
        return f"{path} is not a file."
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as err:
        return f"{path} cannot be read: {err.strerror or err}."
    if magic != GGUF_MAGIC:
        return (f"{Path(path).name} is not a GGUF model file (it does not start with the GGUF "
                "signature). Choose a .gguf file.")
    return None


def model_summary(info: LoadedModel) -> str:
    parts = [info.name or Path(info.model_path).stem]
    if info.architecture:
        parts.append(info.architecture)
    if info.model_size_bytes:
        parts.append(format_bytes(info.model_size_bytes))
    if info.n_ctx:
        parts.append(f"context {info.n_ctx}")
    if info.loras:
        parts.append(adapters_summary(info.loras))
    return " · ".join(parts)


def adapters_summary(loras: tuple[tuple[str, float], ...]) -> str:
    """``LoRA one ×1, two ×0.5``: the applied adapters, by file name and scale."""
    return "LoRA " + ", ".join(f"{Path(path).stem} ×{scale:g}" for path, scale in loras)


class ChatPage(QWidget):
    """Conversation, input, and the settings side panel, driven through an ``EngineBridge``."""

    openRequested = Signal()
    statusMessage = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.pending: MessageWidget | None = None  # the answer being streamed
        self.editing: MessageWidget | None = None  # the user message being edited
        self._shown: list[ChatMessage] = []  # the session's messages that view.messages show

        # header: the model and the conversation actions
        self.model_label = plain_label("No model loaded", self)
        self.model_label.setObjectName("modelLabel")
        self.model_label.setAccessibleName("Loaded model")
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.model_label.font()
        font.setBold(True)
        self.model_label.setFont(font)
        self.open_button = QPushButton("Open model…", self)
        self.open_button.setAccessibleName("Open a model")
        self.open_button.setToolTip("Open a GGUF model file (Ctrl+O)")
        self.open_button.clicked.connect(self.openRequested)
        self.new_chat_button = QPushButton("New chat", self)
        self.new_chat_button.setAccessibleName("New chat")
        self.new_chat_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_chat_button.clicked.connect(self.new_chat)
        self.sidebar_button = QToolButton(self)
        self.sidebar_button.setText("Conversations")
        self.sidebar_button.setIcon(icon("conversations"))
        self.sidebar_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.sidebar_button.setCheckable(True)
        self.sidebar_button.setAccessibleName("Show the conversations")
        self.sidebar_button.setToolTip("Show or hide the stored conversations (Ctrl+Shift+L)")
        self.sidebar_button.clicked.connect(lambda shown: self.set_sidebar_visible(shown,
                                                                                   chosen=True))
        self.panel_button = QToolButton(self)
        self.panel_button.setText("Settings")
        self.panel_button.setIcon(icon("side-panel"))
        self.panel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.panel_button.setCheckable(True)
        self.panel_button.setChecked(True)
        self.panel_button.setAccessibleName("Show the model and sampling settings")
        self.panel_button.setToolTip("Show or hide the model and sampling settings "
                                     "(Ctrl+Shift+P)")
        self.panel_button.clicked.connect(lambda shown: self.set_panel_visible(shown,
                                                                               chosen=True))
        self._auto_panels = True  # until the user shows or hides a panel, the width decides
        header = QHBoxLayout()
        header.addWidget(self.sidebar_button)
        header.addWidget(self.model_label, 1)
        header.addWidget(self.open_button)
        header.addWidget(self.new_chat_button)
        header.addWidget(self.panel_button)

        self.banner = NoticeBanner(self)
        self.banner.retryRequested.connect(self.retry_safe_mode)
        self.db = self._open_database()
        self.session = ChatSession(self.db, on_problem=self._on_store_problem,
                                   on_saved=self._on_saved, on_current=self._on_current)
        self.view = ChatView(self)

        # input row
        self.input = PromptEdit(self)
        self.input.submitted.connect(self.send_prompt)
        self.send_button = make_primary(QPushButton("Send", self))
        self.send_button.setIcon(icon("send"))
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send the message (Enter or Ctrl+Enter)")
        self.send_button.setDefault(False)
        self.send_button.clicked.connect(self.send_prompt)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setIcon(icon("stop"))
        self.stop_button.setAccessibleName("Stop the answer")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.clicked.connect(self.stop)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        input_row.addLayout(buttons)
        self.input.installEventFilter(self)

        # shown while a message is being edited
        self.edit_bar = QFrame(self)
        self.edit_bar.setObjectName("editBar")
        self.edit_label = QLabel("Editing a message: sending it replaces that message and "
                                 "every message after it.", self.edit_bar)
        self.edit_label.setWordWrap(True)
        self.cancel_edit_button = QPushButton("Cancel edit", self.edit_bar)
        self.cancel_edit_button.setAccessibleName("Cancel the edit")
        self.cancel_edit_button.setToolTip("Keep the conversation as it is")
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        edit_row = QHBoxLayout(self.edit_bar)
        edit_row.setContentsMargins(0, 0, 0, 0)
        edit_row.addWidget(self.edit_label, 1)
        edit_row.addWidget(self.cancel_edit_button)
        self.edit_bar.hide()

        self.conversation = conversation = QWidget(self)
        column = QVBoxLayout(conversation)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(8)
        column.addLayout(header)
        column.addWidget(self.banner)
        column.addWidget(self.view, 1)
        column.addWidget(self.edit_bar)
        column.addLayout(input_row)

        self.sidebar = ConversationList(self.db, self)
        self.sidebar.setObjectName("conversationList")
        self.sidebar.chosen.connect(self.open_conversation)
        self.sidebar.newRequested.connect(self.new_chat)
        self.sidebar.deleted.connect(self._on_conversation_deleted)
        self.sidebar.statusMessage.connect(self.statusMessage)

        self.settings_panel = SettingsPanel(self)
        self.settings_panel.reloadRequested.connect(self.reload_model)
        self.side = side = QScrollArea(self)
        side.setWidget(self.settings_panel)
        side.setWidgetResizable(True)
        side.setFrameShape(QScrollArea.Shape.NoFrame)
        side.setMinimumWidth(self.settings_panel.minimumSizeHint().width()
                             + side.verticalScrollBar().sizeHint().width())
        side.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("chatSplitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(conversation)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setCollapsible(0, True)  # the sidebar folds away; drag it back out
        self.splitter.setSizes([220, 640, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 6)
        layout.addWidget(self.splitter)
        self.set_sidebar_visible(False)

        bridge.stateChanged.connect(self._update_controls)
        self._loading_text = ""
        self._load_started = 0.0
        self._load_clock = QTimer(self)  # the seconds a load has taken, while it runs
        self._load_clock.setInterval(1000)
        self._load_clock.timeout.connect(self._show_load_time)
        bridge.loadStarted.connect(self._on_load_started)
        bridge.loadCancelled.connect(self._on_load_cancelled)
        bridge.loaded.connect(self._on_loaded)
        bridge.loadFailed.connect(self._on_load_failed)
        bridge.textArrived.connect(self._on_text)
        bridge.liveMetrics.connect(self._on_live)
        bridge.answerFinished.connect(self._on_finished)
        bridge.answerFailed.connect(self._on_answer_failed)
        bridge.crashed.connect(self._on_crashed)
        bridge.modelLost.connect(self._on_model_lost)
        self._build_actions()
        self._update_controls()

    # -- actions ---------------------------------------------------------------------------
    def open_model(self, path: str) -> bool:
        """Load the GGUF model at ``path`` in the background; False if it cannot even start."""
        if self.bridge.busy:
            self.statusMessage.emit("Wait for the current answer or load to finish.")
            return False
        problem = gguf_problem(path)
        if problem:
            self.banner.show_error("This file cannot be opened", problem)
            return False
        from workbench.gguf.adapter import looks_like_adapter  # numpy: not before it is used

        if looks_like_adapter(path):
            return self._adapter_opened(path)
        try:
            settings = self.settings_panel.load_settings(os.path.abspath(path))
        except WorkbenchError as err:
            self.banner.show_error("The loading settings are not valid", str(err))
            return False
        problem = self.settings_panel.adapter_problem(settings.model_path)
        if problem is not None:  # a mismatched adapter never reaches llama.cpp
            self.set_panel_visible(True)
            self.banner.show_error("A LoRA adapter does not fit this model",
                                   f"{problem} Remove it in the side panel's LoRA adapters, "
                                   "or open a model it fits.")
            return False
        return self.bridge.load(settings)

    def _adapter_opened(self, path: str) -> bool:
        """A LoRA adapter opened as a model: added to the side panel for the model there is
        (reload to apply); refused with a word on what to do when there is none."""
        name = Path(path).name
        if self.settings_panel.preview.model_path is None:
            self.banner.show_error(
                "This file is a LoRA adapter, not a model",
                f"{name} changes a model; it cannot be loaded on its own. Open the model it "
                "was made for, then add it in the side panel's LoRA adapters.")
            return False
        self.set_panel_visible(True)
        if self.settings_panel.add_adapter(path):
            self.statusMessage.emit(f"Added the LoRA adapter {name}; reload to apply it.")
        return False

    def open_with_adapter(self, model_path: str, adapter_path: str, scale: float = 1.0) -> bool:
        """Add the LoRA adapter to the side panel (checked against the model) and load the
        model with it; False when the adapter does not fit or the load cannot start."""
        if self.bridge.busy:
            self.statusMessage.emit("Wait for the current answer or load to finish.")
            return False
        self.set_panel_visible(True)
        if not self.settings_panel.add_adapter(adapter_path, scale, model_path=model_path):
            return False
        return self.open_model(model_path)

    def reload_model(self) -> bool:
        if self.bridge.settings is None:
            return False
        return self.open_model(self.bridge.settings.model_path)

    def retry_safe_mode(self) -> bool:
        """Load the last model again in safe mode (after a crash)."""
        if self.bridge.settings is None or self.bridge.busy:
            return False
        self.banner.dismiss()
        return self.bridge.load(self.bridge.settings.safe())

    def send_prompt(self, text: str | None = None) -> bool:
        """Send ``text`` (or the input box's text) as the next user message; while a message
        is being edited, it replaces that message and everything after it."""
        if not isinstance(text, str):
            text = self.input.toPlainText()
        text = text.strip()
        if not text:
            return False
        sampling = self._ready_sampling()
        if sampling is None:
            return False
        context = self._context(sampling)
        if self.editing is not None:
            index = self.view.messages.index(self.editing) if \
                self.editing in self.view.messages else len(self.view.messages)
            self._set_editing(None)
            self.session.edit_and_resend(index, text, context)
        else:
            self.session.send(text, context)
        self.input.clear()
        self._ask(sampling)
        return True

    def regenerate(self, answer: MessageWidget | None = None) -> bool:
        """Drop ``answer`` (default: the last one) and everything after it, then ask again
        with the same history (Ctrl+Shift+R)."""
        messages = self.view.messages
        index: int | None = None
        if answer is not None:
            if answer not in messages or answer.role != ASSISTANT:
                return False
            index = messages.index(answer)
        if self.session.regenerate_index(index) is None:
            self.statusMessage.emit("There is no answer to regenerate.")
            return False
        sampling = self._ready_sampling()
        if sampling is None:
            return False
        self._set_editing(None)
        self.session.regenerate(index, self._context(sampling))
        self._ask(sampling)
        return True

    def edit_message(self, message: MessageWidget | None = None) -> bool:
        """Put a user message (default: the last one) back in the input for editing."""
        if message is None:
            users = [m for m in self.view.messages if m.role == USER]
            message = users[-1] if users else None
        if message is None or message not in self.view.messages or message.role != USER:
            self.statusMessage.emit("There is no message of yours to edit.")
            return False
        if self.bridge.state in (states.ANSWERING, states.STOPPING):
            self.statusMessage.emit("Wait for the current answer to finish (Esc stops it).")
            return False
        self._set_editing(message)
        self.input.setPlainText(message.text)
        self.input.moveCursor(self.input.textCursor().MoveOperation.End)
        self.input.setFocus()
        return True

    def edit_last_message(self) -> bool:
        return self.edit_message(None)

    def cancel_edit(self) -> None:
        if self.editing is not None:
            self._set_editing(None)
            self.input.clear()

    def stop(self) -> None:
        self.bridge.stop()

    def new_chat(self) -> None:
        """Start a new conversation (stored with its first message). An answer still
        streaming is stopped; what it wrote is saved to its own conversation."""
        self.session.new()
        self._leave_conversation()
        self.sidebar.set_current(None)
        self._update_message_actions()
        self.input.setFocus()

    def open_conversation(self, conversation_id: int) -> bool:
        """Show a stored conversation and restore its system prompt."""
        if self.db is None:
            return False
        try:
            conversation = self.session.open(conversation_id)
        except (WorkbenchError, sqlite3.Error) as err:
            self.statusMessage.emit(f"The conversation cannot be opened: {err}")
            self.sidebar.refresh()
            return False
        self._leave_conversation()
        title = f"Assistant · {conversation.model_name}" if conversation.model_name else None
        self._sync_view(title)
        self.settings_panel.system_prompt.setPlainText(conversation.system_prompt or "")
        self.sidebar.set_current(conversation.id)
        self._update_message_actions()
        return True

    @property
    def conversation_id(self) -> int | None:
        """The stored conversation shown (None: a new chat, stored with its first message)."""
        return self.session.conversation_id

    @property
    def history(self) -> list[dict[str, str]]:
        """The conversation as the model gets it (the answer being streamed and empty
        interrupted answers left out)."""
        return self.session.history()

    def set_sidebar_visible(self, visible: bool, *, chosen: bool = False) -> None:
        """Show or hide the conversation list (Ctrl+Shift+L); ``chosen``: the user's choice,
        kept from then on (the page's width no longer decides)."""
        if chosen:
            self._auto_panels = False
        self.sidebar.setVisible(visible)
        sizes = self.splitter.sizes()
        if visible and sizes[0] == 0:  # it was folded away by dragging: unfold it
            width = self.sidebar.sizeHint().width()
            self.splitter.setSizes([width, max(sizes[1] - width, 0), sizes[2]])
        if self.sidebar_button.isChecked() != visible:
            self.sidebar_button.setChecked(visible)
        if visible:
            self.sidebar.refresh()

    def set_panel_visible(self, visible: bool, *, chosen: bool = False) -> None:
        """Show or hide the settings side panel (Ctrl+Shift+P); ``chosen`` as for the list."""
        if chosen:
            self._auto_panels = False
        self.side.setVisible(visible)
        if self.panel_button.isChecked() != visible:
            self.panel_button.setChecked(visible)

    def fit_panels(self, width: int) -> None:
        """The panels a page ``width`` px wide shows, while the user has not chosen."""
        if not self._auto_panels:
            return
        self.set_sidebar_visible(width >= BOTH_PANELS_PX)
        self.set_panel_visible(width >= SETTINGS_PANEL_PX)

    def minimumSizeHint(self) -> QSize:
        """While the width decides the panels, the page can be as narrow as its conversation:
        a narrower window folds the panels away (``fit_panels``) instead of refusing to shrink."""
        hint = super().minimumSizeHint()
        if not self._auto_panels:
            return hint
        margins = self.layout().contentsMargins()
        narrow = self.conversation.minimumSizeHint().width() + margins.left() + margins.right()
        return QSize(min(hint.width(), narrow), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_panels(event.size().width())

    def save_state(self, settings: QSettings) -> None:
        self.settings_panel.save(settings)
        settings.setValue(SPLITTER_KEY, self.splitter.saveState())
        if not self._auto_panels:
            settings.setValue(SIDEBAR_KEY, not self.sidebar.isHidden())
            settings.setValue(PANEL_KEY, not self.side.isHidden())

    def restore_state(self, settings: QSettings) -> None:
        self.settings_panel.restore(settings)
        state = settings.value(SPLITTER_KEY)
        if state is not None:
            self.splitter.restoreState(state)
        visible = settings.value(SIDEBAR_KEY)
        if visible is not None:
            self.set_sidebar_visible(str(visible).lower() in ("true", "1"), chosen=True)
        visible = settings.value(PANEL_KEY)
        if visible is not None:
            self.set_panel_visible(str(visible).lower() in ("true", "1"), chosen=True)

    # -- conversation plumbing -------------------------------------------------------------
    def _open_database(self) -> sqlite3.Connection | None:
        try:
            connection = db.connect()
        except (sqlite3.Error, OSError) as err:
            self.banner.show_error("Conversations cannot be saved",
                                   f"The conversation database cannot be opened: {err}")
            return None
        self.destroyed.connect(connection.close)
        return connection

    def _build_actions(self) -> None:
        def action(text: str, key: str, slot: Any, tip: str) -> QAction:
            made = QAction(text, self)
            made.setShortcut(QKeySequence(key))
            made.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            made.setToolTip(tip)
            made.setStatusTip(tip)
            made.triggered.connect(slot)
            self.addAction(made)
            return made

        self.regenerate_action = action("&Regenerate the last answer", "Ctrl+Shift+R",
                                        lambda: self.regenerate(), "Ask again for the last "
                                        "answer (the same conversation up to it)")
        self.edit_action = action("&Edit the last message", "Ctrl+Shift+E",
                                  self.edit_last_message, "Put your last message back in the "
                                  "input; sending it replaces it and what follows (Ctrl+Up)")
        self.search_action = action("Search conversations", "Ctrl+F", self.search_conversations,
                                    "Search the stored conversations")
        self.sidebar_action = action("Show the conversations", "Ctrl+Shift+L",
                                     lambda: self.set_sidebar_visible(self.sidebar.isHidden(),
                                                                      chosen=True),
                                     "Show or hide the list of stored conversations")
        self.panel_action = action("Show the settings", "Ctrl+Shift+P",
                                   lambda: self.set_panel_visible(self.side.isHidden(),
                                                                  chosen=True),
                                   "Show or hide the model and sampling settings")

    def search_conversations(self) -> None:
        self.set_sidebar_visible(True, chosen=True)
        self.sidebar.focus_search()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Ctrl+Up in an empty input edits the last message (as in many chat apps)
        if watched is self.input and event.type() == QEvent.Type.KeyPress \
                and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Up \
                and event.modifiers() == Qt.KeyboardModifier.ControlModifier \
                and not self.input.toPlainText().strip():
            self.edit_last_message()
            return True
        return super().eventFilter(watched, event)

    def _ready_sampling(self) -> Sampling | None:
        if not self.bridge.can_answer:
            self.statusMessage.emit({
                states.LOADING: "Wait for the model to finish loading.",
                states.ANSWERING: "Wait for the current answer to finish (Esc stops it).",
                states.STOPPING: "Stopping the current answer…",
            }.get(self.bridge.state, "Open a model first (Ctrl+O)."))
            return None
        try:
            return self.settings_panel.sampling()
        except WorkbenchError as err:
            self.banner.show_error("The sampling settings are not valid", str(err))
            return None

    def _ask(self, sampling: Sampling) -> None:
        """Ask the model to answer the conversation as it stands (the session has started
        the answer: its widget is added here)."""
        messages = self.session.request(self.settings_panel.system_text())
        self._sync_view()
        self.pending = self._widget_of(self.session.pending)
        if self.banner.kind == "error":
            self.banner.dismiss()
        self.bridge.send(messages, sampling)
        self._update_message_actions()

    def _add_message(self, message: MessageWidget) -> MessageWidget:
        message.editRequested.connect(self.edit_message)
        message.regenerateRequested.connect(self.regenerate)
        self.view.add(message)
        return message

    def _message_widget(self, message: ChatMessage, title: str | None) -> MessageWidget:
        """The widget that shows one of the session's messages."""
        if message is self.session.pending:  # the answer being written: it streams in
            return MessageWidget(ASSISTANT, title=self._assistant_title())
        if message.role != ASSISTANT:
            return MessageWidget(message.role, message.content)
        widget = MessageWidget(ASSISTANT, title=title)
        if message.interrupted:
            widget.interrupt(CRASH_NOTE, message.content)
        elif message.metrics is not None and message.finish_reason:
            widget.finish(message.content, message.finish_reason, message.metrics)
        else:
            widget.set_text(message.content, markdown=True)
        return widget

    def _sync_view(self, title: str | None = None) -> None:
        """Show the session's messages: the widgets of messages it dropped go, its new
        messages get one (``title`` names the model of shown answers)."""
        alive = {id(message) for message in self.session.messages}
        for message, widget in list(zip(self._shown, self.view.messages, strict=False)):
            if id(message) not in alive:
                self.view.remove(widget)
        self._shown = [message for message in self._shown if id(message) in alive]
        for message in self.session.messages[len(self._shown):]:
            self._add_message(self._message_widget(message, title))
            self._shown.append(message)

    def _widget_of(self, message: ChatMessage | None) -> MessageWidget | None:
        for shown, widget in zip(self._shown, self.view.messages, strict=False):
            if shown is message:
                return widget
        return None

    def _update_message_actions(self) -> None:
        """Edit on user messages while no answer streams; Regenerate on the last answer while
        the model is ready."""
        can_edit = self.bridge.state not in (states.ANSWERING, states.STOPPING)
        can_answer = self.bridge.can_answer
        messages = self.view.messages
        for message in messages:
            message.set_actions(
                can_edit=can_edit and message.role == USER,
                can_regenerate=can_answer and message.role == ASSISTANT
                and message is messages[-1] and message is not self.pending)
        self.regenerate_action.setEnabled(can_answer and bool(messages))
        self.edit_action.setEnabled(can_edit and any(m.role == USER for m in messages))

    def _set_editing(self, message: MessageWidget | None) -> None:
        self.editing = message
        self.edit_bar.setVisible(message is not None)

    def _leave_conversation(self) -> None:
        """Clear the view (the session has left its conversation); a streaming answer is
        stopped (and saved where it belongs)."""
        self.bridge.stop()
        self.pending = None
        self._set_editing(None)
        self.view.clear()
        self._shown = []

    def _context(self, sampling: Sampling) -> ConversationContext:
        """The model, system prompt and settings the conversation goes on with."""
        info = self.bridge.info
        model_path = (info.model_path if info else None) or (
            self.bridge.settings.model_path if self.bridge.settings is not None else None)
        model_name = (info.name if info else None) or (
            Path(str(model_path)).stem if model_path else None)
        settings: dict[str, Any] = {"sampling": sampling.to_dict()}
        if self.bridge.settings is not None:
            settings["load"] = self.bridge.settings.to_dict()
        return ConversationContext(model_path=model_path, model_name=model_name,
                                   system_prompt=self.settings_panel.system_text(),
                                   settings=settings)

    def _on_store_problem(self, text: str) -> None:
        self.statusMessage.emit(text)

    def _on_saved(self) -> None:
        self.sidebar.refresh()

    def _on_current(self, conversation_id: int | None) -> None:
        self.sidebar.set_current(conversation_id)

    def _on_conversation_deleted(self, conversation_id: int) -> None:
        self.session.forget(conversation_id)
        if conversation_id == self.conversation_id:
            self.new_chat()

    # -- engine events ---------------------------------------------------------------------
    def _assistant_title(self) -> str:
        info = self.bridge.info
        name = (info.name or Path(info.model_path).stem) if info else ""
        return f"Assistant · {name}" if name else "Assistant"

    def _update_controls(self, *_args: object) -> None:
        state = self.bridge.state
        busy = self.bridge.busy
        self.send_button.setEnabled(state == states.READY)
        self.stop_button.setEnabled(state in (states.ANSWERING, states.LOADING))
        self.stop_button.setToolTip("Cancel the load (Esc)" if state == states.LOADING
                                    else "Stop the answer (Esc)")
        if state != states.LOADING:
            self._load_clock.stop()
        self.open_button.setEnabled(not busy and state != states.CLOSED)
        self.settings_panel.reload_button.setEnabled(
            not busy and self.bridge.settings is not None and state != states.CLOSED)
        self.banner.retry_button.setEnabled(not busy)
        self._update_message_actions()

    def _show_load_time(self) -> None:
        seconds = int(time.monotonic() - self._load_started)
        self.model_label.setText(f"{self._loading_text} {seconds} s (Esc cancels)")

    def _on_load_cancelled(self) -> None:
        self._load_clock.stop()
        self.model_label.setText("No model loaded")
        self.settings_panel.set_model(None)
        self.statusMessage.emit("Loading cancelled.")

    def _on_load_started(self, settings: Any) -> None:
        name = Path(settings.model_path).name
        mode = " (safe mode)" if settings == settings.safe() else ""
        self._loading_text = f"Loading {name}{mode}…"
        self._load_started = time.monotonic()
        self._load_clock.start()
        self.model_label.setText(self._loading_text)
        self.model_label.setToolTip(plain_tip(settings.model_path))

    def _on_loaded(self, info: LoadedModel) -> None:
        self.model_label.setText(model_summary(info))
        settings = self.bridge.settings
        if settings is not None:
            self.settings_panel.set_model(settings.model_path, settings)
        notes = "".join(f"\n{note}" for note in info.notes)
        notes += "".join(f"\nLoRA adapter {path} at scale {scale:g}" for path, scale in info.loras)
        self.model_label.setToolTip(plain_tip(
            f"{info.model_path}\nloaded in {format_ms(info.load_ms)}, "
            f"{info.threads} threads, weight repacking "
            f"{'on' if info.repack else 'off'}{notes}"))
        if self.banner.kind is not None:
            self.banner.dismiss()
        if not info.chat_template and self.settings_panel.chat_format_name() == "auto":
            from workbench.gguf.summary import NO_TEMPLATE_NOTICE

            self.banner.show_notice(
                "This model has no chat template",
                f"{NO_TEMPLATE_NOTICE[:1].upper()}{NO_TEMPLATE_NOTICE[1:]}. With the side "
                f"panel's Chat format at “{CHAT_FORMATS['auto'].label}” it is sent a plain "
                f"User:/Assistant: transcript; choose “{CHAT_FORMATS['completion'].label}” to "
                "have your text continued as written, or a chat format (ChatML, Llama 3, …) "
                "if it is an instruct model whose template is missing.")
        self.statusMessage.emit(f"Model loaded in {format_ms(info.load_ms)}.")
        self.input.setFocus()

    def _on_load_failed(self, err: WorkbenchError) -> None:
        self.model_label.setText("No model loaded")
        self.settings_panel.set_model(None)
        self.banner.show_error("The model could not be loaded", f"{str(err)[:1].upper()}"
                               f"{str(err)[1:]}", details=self._log_tail())

    def _on_text(self, text: str) -> None:
        self.session.partial(text)
        if self.pending is not None:
            self.pending.append_text(text)

    def _on_live(self, figures: LiveFigures) -> None:
        if self.pending is not None:
            self.pending.show_live(figures)

    def _take_pending(self) -> MessageWidget | None:
        pending, self.pending = self.pending, None
        return pending

    def _on_finished(self, result: ChatResult) -> None:
        pending = self._take_pending()
        # saved even when the view shows another conversation by now (it was stopped)
        end = self.session.finish(result.text, result.finish_reason, result.metrics)
        if pending is not None:
            pending.finish(result.text, result.finish_reason, result.metrics)
        elif end.late is not None:
            self._sync_view(self._assistant_title())
        self._update_message_actions()

    def _on_answer_failed(self, err: WorkbenchError) -> None:
        pending = self._take_pending()
        failure = self.session.fail()
        if pending is None or failure is None:
            return
        # Nothing was answered: the message is taken back so it can be edited and sent again.
        self._sync_view()
        if failure.user_text is not None:
            self.input.setPlainText(failure.user_text)
        self.banner.show_error("The model could not answer",
                               f"{str(err)[:1].upper()}{str(err)[1:]}")
        self._update_message_actions()

    def _on_crashed(self, err: WorkerCrashed, operation: str) -> None:
        pending = self._take_pending()
        kept = False
        if operation == "chat":
            end = self.session.crash(err.partial_text)
            if pending is not None:
                pending.interrupt(CRASH_NOTE, err.partial_text)
                kept = bool(pending.text)
            elif end.late is not None:
                self._sync_view(self._assistant_title())
        else:
            self.session.abandon()
        self.settings_panel.set_model(None)
        if operation == "load":
            self.model_label.setText("No model loaded")
        else:
            self.model_label.setText("No model loaded (the model process crashed)")
        self.banner.show_crash(err, can_retry=self.bridge.settings is not None, kept_text=kept)
        self.statusMessage.emit("The model process crashed; the window is fine.")
        self._update_controls()

    def _on_model_lost(self, why: str) -> None:
        self.model_label.setText("No model loaded")
        self.settings_panel.set_model(None)
        self.banner.show_error("The model was unloaded", f"{why[:1].upper()}{why[1:]}.")

    def _log_tail(self, lines: int = 30) -> str | None:
        for _attempt in range(3):  # the engine's log reader thread may append meanwhile
            try:
                tail = list(self.bridge.engine.log)[-lines:]
            except RuntimeError:
                continue
            return "\n".join(tail) if tail else None
        return None
