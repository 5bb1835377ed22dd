"""One chat message: a role header, the text, and (for answers) its metrics."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import (
    QFont,
    QPalette,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextOption,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.metrics import AnswerMetrics
from workbench.ui.metric_text import MetricItem, final_items, live_items
from workbench.ui.stream_buffer import LiveFigures
from workbench.ui.style import blend, secondary_text

USER, ASSISTANT = "user", "assistant"
MARKDOWN_FEATURES = (QTextDocument.MarkdownFeature.MarkdownDialectGitHub
                     | QTextDocument.MarkdownFeature.MarkdownNoHTML)


class MessageBody(QTextBrowser):
    """Read-only text that is as tall as its content (the chat view scrolls, not the message)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setOpenLinks(False)  # model output is untrusted: links are shown, never followed
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)

    def _fit(self) -> None:
        height = math.ceil(self.document().size().height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(max(height, self.fontMetrics().height()))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.height())

    def set_markdown(self, text: str) -> None:
        """Render Markdown; code blocks get a faint background from the palette.

        Model output is untrusted: raw HTML is shown as text, never interpreted."""
        self.document().setMarkdown(text, MARKDOWN_FEATURES)
        palette = QApplication.palette()  # our own Base is transparent (see the style sheet)
        shade = blend(palette.color(QPalette.ColorRole.Base),
                      palette.color(QPalette.ColorRole.Text), 0.06)
        block = self.document().begin()
        while block.isValid():
            block_format = block.blockFormat()
            if block_format.hasProperty(QTextFormat.Property.BlockCodeFence) or \
                    block_format.nonBreakableLines():
                block_format.setBackground(shade)
                QTextCursor(block).setBlockFormat(block_format)
            block = block.next()

    def loadResource(self, kind: int, name: QUrl) -> Any:
        """Nothing is loaded for model output (no local or remote images)."""
        return None

    def append_plain(self, text: str) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)


class MetricsRow(QWidget):
    """A line of small figures, each with its definition as a tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(14)
        self._layout.addStretch(1)
        self.labels: dict[str, QLabel] = {}

    def set_items(self, items: list[MetricItem]) -> None:
        if [i.key for i in items] != list(self.labels):
            for label in self.labels.values():
                self._layout.removeWidget(label)
                label.deleteLater()
            self.labels = {}
            for index, item in enumerate(items):
                label = QLabel(self)
                label.setObjectName(f"metric_{item.key}")
                label.setFont(_small_font(label.font()))
                palette = label.palette()
                palette.setColor(QPalette.ColorRole.WindowText, secondary_text(palette))
                label.setPalette(palette)
                self._layout.insertWidget(index, label)
                self.labels[item.key] = label
        for item in items:
            label = self.labels[item.key]
            label.setText(item.text)
            label.setToolTip(item.tooltip)
            label.setAccessibleName(item.text)
            label.setAccessibleDescription(item.tooltip)

    def text(self) -> str:
        return "  ".join(label.text() for label in self.labels.values())


class MessageWidget(QFrame):
    """A user message or an assistant answer (streamed as plain text, then shown as Markdown)."""

    def __init__(self, role: str, text: str = "", *, title: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.setObjectName("message")
        self.setProperty("role", role)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._text = ""
        self.text_updates = 0  # how often streamed text reached the widget (tests check it)
        self.finish_reason: str | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        self.header = QLabel(title or ("You" if role == USER else "Assistant"), self)
        header_font = self.header.font()
        header_font.setBold(True)
        self.header.setFont(header_font)
        layout.addWidget(self.header)
        self.body = MessageBody(self)
        self.body.setAccessibleName("Your message" if role == USER else "Answer")
        layout.addWidget(self.body)
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.setObjectName("messageNote")
        self.note.hide()
        layout.addWidget(self.note)
        self.metrics = MetricsRow(self)
        self.metrics.setVisible(role == ASSISTANT)
        layout.addWidget(self.metrics)
        if text:
            self.set_text(text, markdown=role == ASSISTANT)

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str, *, markdown: bool = False) -> None:
        self._text = text
        if markdown:
            self.body.set_markdown(text)
        else:
            self.body.setPlainText(text)

    def append_text(self, text: str) -> None:
        """Streamed text (plain while streaming)."""
        self._text += text
        self.text_updates += 1
        self.body.append_plain(text)

    def show_live(self, figures: LiveFigures) -> None:
        self.metrics.set_items(live_items(figures))

    def finish(self, text: str, finish_reason: str, metrics: AnswerMetrics) -> None:
        """The answer is complete: render it as Markdown and show the exact metrics."""
        self.finish_reason = finish_reason
        self.set_text(text, markdown=True)
        self.metrics.set_items(final_items(metrics, finish_reason))
        if finish_reason == "cancelled":
            self.set_note("Stopped before the end.")
        elif finish_reason == "length":
            self.set_note("Cut off: the max tokens limit or the end of the context was reached.")

    def interrupt(self, note: str, partial_text: str | None = None) -> None:
        """The answer ended without a result (crash, error): keep what arrived, say why."""
        if partial_text is not None and len(partial_text) >= len(self._text):
            self._text = partial_text
        self.set_text(self._text, markdown=True)
        self.metrics.set_items([])
        self.metrics.hide()
        self.set_note(note)

    def set_note(self, note: str) -> None:
        self.note.setText(note)
        palette = self.note.palette()
        palette.setColor(QPalette.ColorRole.WindowText, secondary_text(palette))
        self.note.setPalette(palette)
        font = _small_font(self.note.font())
        font.setItalic(True)
        self.note.setFont(font)
        self.note.show()


def _small_font(font: QFont) -> QFont:
    small = QFont(font)
    if small.pointSizeF() > 0:
        small.setPointSizeF(max(small.pointSizeF() - 1, 7))
    return small
