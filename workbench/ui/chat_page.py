"""The Chat page: one conversation with the loaded model, streamed, with per-answer metrics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.client import ChatResult
from workbench.engine.errors import WorkerCrashed
from workbench.errors import WorkbenchError
from workbench.ui import engine_bridge as states
from workbench.ui.chat_view import ChatView
from workbench.ui.engine_bridge import EngineBridge
from workbench.ui.message_widget import ASSISTANT, USER, MessageWidget
from workbench.ui.metric_text import format_bytes, format_ms
from workbench.ui.notice_banner import NoticeBanner
from workbench.ui.prompt_edit import PromptEdit
from workbench.ui.settings_panel import SettingsPanel
from workbench.ui.stream_buffer import LiveFigures

GGUF_MAGIC = b"GGUF"


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


def model_summary(info: dict[str, Any]) -> str:
    name = info.get("name") or Path(str(info.get("model_path", "model"))).stem
    parts = [str(name)]
    if info.get("architecture"):
        parts.append(str(info["architecture"]))
    if info.get("model_size_bytes"):
        parts.append(format_bytes(info["model_size_bytes"]))
    if info.get("n_ctx"):
        parts.append(f"context {info['n_ctx']}")
    return " · ".join(parts)


class ChatPage(QWidget):
    """Conversation, input, and the settings side panel, driven through an ``EngineBridge``."""

    openRequested = Signal()
    statusMessage = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.history: list[dict[str, str]] = []
        self.pending: MessageWidget | None = None  # the answer being streamed
        self._pending_user: MessageWidget | None = None
        self._crash_partial = False

        # header: the model and the conversation actions
        self.model_label = QLabel("No model loaded", self)
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
        header = QHBoxLayout()
        header.addWidget(self.model_label, 1)
        header.addWidget(self.open_button)
        header.addWidget(self.new_chat_button)

        self.banner = NoticeBanner(self)
        self.banner.retryRequested.connect(self.retry_safe_mode)
        self.view = ChatView(self)

        # input row
        self.input = PromptEdit(self)
        self.input.submitted.connect(self.send_prompt)
        self.send_button = QPushButton("Send", self)
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send the message (Enter or Ctrl+Enter)")
        self.send_button.setDefault(False)
        self.send_button.clicked.connect(self.send_prompt)
        self.stop_button = QPushButton("Stop", self)
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

        conversation = QWidget(self)
        column = QVBoxLayout(conversation)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(8)
        column.addLayout(header)
        column.addWidget(self.banner)
        column.addWidget(self.view, 1)
        column.addLayout(input_row)

        self.settings_panel = SettingsPanel(self)
        self.settings_panel.reloadRequested.connect(self.reload_model)
        side = QScrollArea(self)
        side.setWidget(self.settings_panel)
        side.setWidgetResizable(True)
        side.setFrameShape(QScrollArea.Shape.NoFrame)
        side.setMinimumWidth(self.settings_panel.minimumSizeHint().width()
                             + side.verticalScrollBar().sizeHint().width())
        side.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("chatSplitter")
        self.splitter.addWidget(conversation)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([780, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 6)
        layout.addWidget(self.splitter)

        bridge.stateChanged.connect(self._update_controls)
        bridge.loadStarted.connect(self._on_load_started)
        bridge.loaded.connect(self._on_loaded)
        bridge.loadFailed.connect(self._on_load_failed)
        bridge.textArrived.connect(self._on_text)
        bridge.liveMetrics.connect(self._on_live)
        bridge.answerFinished.connect(self._on_finished)
        bridge.answerFailed.connect(self._on_answer_failed)
        bridge.crashed.connect(self._on_crashed)
        bridge.modelLost.connect(self._on_model_lost)
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
        try:
            settings = self.settings_panel.load_settings(os.path.abspath(path))
        except WorkbenchError as err:
            self.banner.show_error("The loading settings are not valid", str(err))
            return False
        return self.bridge.load(settings)

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
        """Send ``text`` (or the input box's text) as the next user message."""
        if not isinstance(text, str):
            text = self.input.toPlainText()
        text = text.strip()
        if not text:
            return False
        if not self.bridge.can_answer:
            self.statusMessage.emit({
                states.LOADING: "Wait for the model to finish loading.",
                states.ANSWERING: "Wait for the current answer to finish (Esc stops it).",
                states.STOPPING: "Stopping the current answer…",
            }.get(self.bridge.state, "Open a model first (Ctrl+O)."))
            return False
        try:
            sampling = self.settings_panel.sampling()
        except WorkbenchError as err:
            self.banner.show_error("The sampling settings are not valid", str(err))
            return False
        self.history.append({"role": USER, "content": text})
        messages = list(self.history)
        system = self.settings_panel.system_text()
        if system:
            messages.insert(0, {"role": "system", "content": system})
        self._pending_user = self.view.add(MessageWidget(USER, text))
        self.pending = self.view.add(MessageWidget(ASSISTANT, title=self._assistant_title()))
        self.input.clear()
        if self.banner.kind == "error":
            self.banner.dismiss()
        self.bridge.send(messages, sampling)
        return True

    def stop(self) -> None:
        self.bridge.stop()

    def new_chat(self) -> None:
        """Forget the conversation (an answer still streaming is stopped and dropped)."""
        self.bridge.stop()
        self.pending = None
        self._pending_user = None
        self.history.clear()
        self.view.clear()
        self.input.setFocus()

    def save_state(self, settings: QSettings) -> None:
        self.settings_panel.save(settings)
        settings.setValue("chat/splitter", self.splitter.saveState())

    def restore_state(self, settings: QSettings) -> None:
        self.settings_panel.restore(settings)
        state = settings.value("chat/splitter")
        if state is not None:
            self.splitter.restoreState(state)

    # -- engine events ---------------------------------------------------------------------
    def _assistant_title(self) -> str:
        info = self.bridge.info or {}
        name = info.get("name") or Path(str(info.get("model_path", ""))).stem
        return f"Assistant · {name}" if name else "Assistant"

    def _update_controls(self, *_args: object) -> None:
        state = self.bridge.state
        busy = self.bridge.busy
        self.send_button.setEnabled(state == states.READY)
        self.stop_button.setEnabled(state == states.ANSWERING)
        self.open_button.setEnabled(not busy and state != states.CLOSED)
        self.settings_panel.reload_button.setEnabled(
            not busy and self.bridge.settings is not None and state != states.CLOSED)
        self.banner.retry_button.setEnabled(not busy)

    def _on_load_started(self, settings: Any) -> None:
        name = Path(settings.model_path).name
        mode = " (safe mode)" if settings == settings.safe() else ""
        self.model_label.setText(f"Loading {name}{mode}…")
        self.model_label.setToolTip(settings.model_path)

    def _on_loaded(self, info: dict[str, Any]) -> None:
        self.model_label.setText(model_summary(info))
        notes = "".join(f"\n{note}" for note in info.get("notes") or [])
        self.model_label.setToolTip(
            f"{info.get('model_path')}\nloaded in {format_ms(info.get('load_ms'))}, "
            f"{info.get('threads')} threads, weight repacking "
            f"{'on' if info.get('repack') else 'off'}{notes}")
        if self.banner.kind is not None:
            self.banner.dismiss()
        self.statusMessage.emit(f"Model loaded in {format_ms(info.get('load_ms'))}.")
        self.input.setFocus()

    def _on_load_failed(self, err: WorkbenchError) -> None:
        self.model_label.setText("No model loaded")
        self.banner.show_error("The model could not be loaded", f"{str(err)[:1].upper()}"
                               f"{str(err)[1:]}", details=self._log_tail())

    def _on_text(self, text: str) -> None:
        if self.pending is not None:
            self.pending.append_text(text)

    def _on_live(self, figures: LiveFigures) -> None:
        if self.pending is not None:
            self.pending.show_live(figures)

    def _on_finished(self, result: ChatResult) -> None:
        pending, self.pending, self._pending_user = self.pending, None, None
        if pending is None:  # the conversation was cleared meanwhile
            return
        pending.finish(result.text, result.finish_reason, result.metrics)
        self.history.append({"role": ASSISTANT, "content": result.text})

    def _on_answer_failed(self, err: WorkbenchError) -> None:
        pending, user = self.pending, self._pending_user
        self.pending, self._pending_user = None, None
        if pending is None:
            return
        # Nothing was answered: take the message back so it can be edited and sent again.
        self.view.remove(pending)
        if user is not None:
            self.view.remove(user)
            if self.history and self.history[-1]["role"] == USER:
                self.input.setPlainText(self.history.pop()["content"])
        self.banner.show_error("The model could not answer",
                               f"{str(err)[:1].upper()}{str(err)[1:]}")

    def _on_crashed(self, err: WorkerCrashed, operation: str) -> None:
        pending, self.pending, self._pending_user = self.pending, None, None
        kept = False
        if operation == "chat" and pending is not None:
            pending.interrupt("Interrupted: the model process crashed.", err.partial_text)
            kept = bool(pending.text)
            if kept:
                self.history.append({"role": ASSISTANT, "content": pending.text})
        if operation == "load":
            self.model_label.setText("No model loaded")
        else:
            self.model_label.setText("No model loaded (the model process crashed)")
        self.banner.show_crash(err, can_retry=self.bridge.settings is not None, kept_text=kept)
        self.statusMessage.emit("The model process crashed; the window is fine.")
        self._update_controls()

    def _on_model_lost(self, why: str) -> None:
        self.model_label.setText("No model loaded")
        self.banner.show_error("The model was unloaded", f"{why[:1].upper()}{why[1:]}.")

    def _log_tail(self, lines: int = 30) -> str | None:
        for _attempt in range(3):  # the engine's log reader thread may append meanwhile
            try:
                tail = list(self.bridge.engine.log)[-lines:]
            except RuntimeError:
                continue
            return "\n".join(tail) if tail else None
        return None
