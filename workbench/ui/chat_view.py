"""The scrolling list of messages of one conversation."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from workbench.ui.message_widget import MessageWidget, warm_up_highlighting
from workbench.ui.style import chat_stylesheet
from workbench.ui.widgets import make_secondary

EMPTY_HINT = (
    "Open a GGUF model with Ctrl+O (or drop a .gguf file on the window), then type a message "
    "below. Enter sends, Shift+Enter starts a new line, Esc stops the answer."
)


class ChatView(QScrollArea):
    """Messages stacked top to bottom; follows the end while the user has not scrolled up."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Conversation")
        warm_up_highlighting()
        self._container = QWidget()
        self._container.setObjectName("chatContainer")
        self._layout = QVBoxLayout(self._container)
        self._layout.setContentsMargins(16, 16, 16, 16)
        self._layout.setSpacing(12)
        self.empty_hint = QLabel(EMPTY_HINT, self._container)
        self.empty_hint.setObjectName("emptyHint")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setContentsMargins(40, 40, 40, 40)
        self.empty_hint.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._layout.addWidget(self.empty_hint, 1)  # centred while there are no messages
        self._layout.addStretch(0)  # keeps messages at the top
        self.setWidget(self._container)
        self.messages: list[MessageWidget] = []
        self._follow = True
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_range_changed)
        bar.valueChanged.connect(self._on_scrolled)
        self._apply_style()

    def add(self, message: MessageWidget) -> MessageWidget:
        self.empty_hint.hide()
        self._layout.insertWidget(self._layout.count() - 1, message)
        self.messages.append(message)
        self._follow = True
        return message

    def remove(self, message: MessageWidget) -> None:
        if message in self.messages:
            self.messages.remove(message)
            self._layout.removeWidget(message)
            message.deleteLater()
        self.empty_hint.setVisible(not self.messages)

    def clear(self) -> None:
        for message in list(self.messages):
            self.remove(message)

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 4

    def _apply_style(self) -> None:
        self._container.setStyleSheet(chat_stylesheet(QApplication.palette()))
        make_secondary(self.empty_hint)

    def event(self, event: QEvent) -> bool:
        # the application's palette change reaches widgets through event(), not changeEvent()
        if event.type() in (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange):
            self._apply_style()
        return super().event(event)
