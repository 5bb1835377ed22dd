"""One chat message: a role header with actions, the text, and (for answers) its metrics.

Answers stream in as plain text and are then rendered as Markdown (raw HTML shown as text,
links never followed, nothing loaded); fenced code blocks get Pygments colours from a style
that suits the palette, a monospace font, and a Copy button each.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator
from typing import Any, NamedTuple

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QTextBlock,
    QTextCharFormat,
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
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.metrics import AnswerMetrics
from workbench.present.metrics import MetricItem, final_items, live_items
from workbench.ui.code_highlight import (
    FencedCode,
    Span,
    fenced_blocks,
    highlight_steps,
    style_name,
    warm_up,
)
from workbench.ui.flow_layout import FlowLayout
from workbench.ui.fonts import code_families
from workbench.ui.stream_buffer import LiveFigures
from workbench.ui.style import code_background, is_dark
from workbench.ui.widgets import make_secondary

USER, ASSISTANT = "user", "assistant"
MARKDOWN_FEATURES = (QTextDocument.MarkdownFeature.MarkdownDialectGitHub
                     | QTextDocument.MarkdownFeature.MarkdownNoHTML)
COPIED_FEEDBACK_MS = 1500
FIRST_SLICE_DELAY_MS = 16
HIGHLIGHT_SLICE_S = 0.008  # the longest the GUI thread lexes code before it lets events in


class CodeBlock(NamedTuple):
    """A fenced code block as rendered: ``code`` is what its Copy button puts on the clipboard
    (the source text, tabs and trailing spaces included); blocks are document block numbers."""

    index: int
    language: str
    code: str
    first_block: int
    last_block: int


_warmed = threading.Event()


def warm_up_highlighting() -> None:
    """Load Pygments' common lexers in a background thread, once per process, so that the
    first code answer does not pay their imports on the GUI thread."""
    if not _warmed.is_set():
        _warmed.set()
        threading.Thread(target=warm_up, name="pygments-warm-up", daemon=True).start()


class MessageBody(QTextBrowser):
    """Read-only text that is as tall as its content (the chat view scrolls, not the message)."""

    codeCopied = Signal(str)  # the code a Copy button put on the clipboard

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setOpenLinks(False)  # model output is untrusted: links are shown, never followed
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; border: none; padding: 0; }")
        self.document().setUndoRedoEnabled(False)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.code_blocks: list[CodeBlock] = []
        self.copy_buttons: list[QToolButton] = []
        self.code_style = ""  # the Pygments style of the last rendering ("" before any)
        # code is lexed in slices between events (long code would stall the window otherwise)
        self._lexing: list[Generator[None, None, None]] = []  # one job per code block
        self._render_id = 0  # bumped whenever the text changes: stale slices stop

    def _fit(self) -> None:
        height = math.ceil(self.document().size().height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(max(height, self.fontMetrics().height()))
        self._place_buttons()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.height())

    def set_markdown(self, text: str) -> None:
        """Render Markdown; code blocks get a faint background, monospace, Pygments colours
        (a light or dark style after the palette) and a Copy button.

        Model output is untrusted: raw HTML is shown as text, never interpreted."""
        document = self.document()
        self._render_id += 1
        document.setMarkdown(text, MARKDOWN_FEATURES)
        palette = QApplication.palette()  # our own Base is transparent (see the style sheet)
        self.code_style = style_name(is_dark(palette))
        shade = code_background(palette)
        cursor = QTextCursor(document)
        cursor.beginEditBlock()  # one relayout for all the changes below
        block = document.begin()
        while block.isValid():
            block_format = block.blockFormat()
            if block_format.hasProperty(QTextFormat.Property.BlockCodeFence) or \
                    block_format.nonBreakableLines():
                block_format.setBackground(shade)
                cursor.setPosition(block.position())
                cursor.setBlockFormat(block_format)
            block = block.next()
        self._set_code_blocks(_match_sources(_fence_groups(document), text), cursor)
        cursor.endEditBlock()
        # colours follow in slices between events (the window never waits for a long lexing)
        # (after a frame's worth of time: the new text is painted before any colour work)
        QTimer.singleShot(FIRST_SLICE_DELAY_MS, self,
                          lambda render=self._render_id: self._lex_slice(render))

    def set_plain(self, text: str) -> None:
        self._render_id += 1
        self._set_code_blocks([], QTextCursor(self.document()))
        self.setPlainText(text)

    def loadResource(self, kind: int, name: QUrl) -> Any:
        """Nothing is loaded for model output (no local or remote images)."""
        return None

    def append_plain(self, text: str) -> None:
        self._render_id += 1
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)

    # -- code blocks -------------------------------------------------------------------------
    def copy_code(self, index: int) -> str:
        """Put code block ``index`` on the clipboard exactly as written; returns it."""
        code = self.code_blocks[index].code
        QApplication.clipboard().setText(code)
        show_copied(self.copy_buttons[index])
        self.codeCopied.emit(code)
        return code

    def _set_code_blocks(self, blocks: list[CodeBlock], cursor: QTextCursor) -> None:
        for button in self.copy_buttons:
            button.hide()
            button.deleteLater()
        self.code_blocks, self.copy_buttons, self._lexing = blocks, [], []
        if not blocks:
            return
        document = self.document()
        mono = QTextCharFormat()
        mono.setFontFamilies(code_families())  # the bundled monospace font first
        mono.setFontFixedPitch(True)
        for code_block in blocks:
            first = document.findBlockByNumber(code_block.first_block)
            last = document.findBlockByNumber(code_block.last_block)
            start, end = first.position(), last.position() + len(last.text())
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(mono)
            text = cursor.selectedText().replace("\u2029", "\n")  # paragraph separators
            self._lexing.append(self._colour_steps(
                start, highlight_steps(text, code_block.language, self.code_style)))
            button = self._copy_button(code_block)
            block_format = first.blockFormat()
            block_format.setTopMargin(button.sizeHint().height() + 2)  # room for the button
            cursor.setPosition(start)
            cursor.setBlockFormat(block_format)
            block_format = last.blockFormat()
            block_format.setBottomMargin(max(block_format.bottomMargin(),
                                             self.fontMetrics().height() / 3))
            cursor.setPosition(end)
            cursor.setBlockFormat(block_format)
            self.copy_buttons.append(button)
        self._place_buttons()

    @property
    def highlight_pending(self) -> bool:
        """Code colours are still being worked out (they arrive within a few event turns)."""
        return bool(self._lexing)

    def _lex_slice(self, render: int) -> None:
        """Work on the code colours for at most HIGHLIGHT_SLICE_S (at least one step), then
        come back after pending events if more is left."""
        if render != self._render_id:  # the text changed meanwhile: these offsets are stale
            return
        deadline = time.perf_counter() + HIGHLIGHT_SLICE_S
        while self._lexing:
            try:
                next(self._lexing[0])
            except StopIteration:
                self._lexing.pop(0)
            if time.perf_counter() >= deadline:
                break
        if self._lexing:
            QTimer.singleShot(0, self, lambda: self._lex_slice(render))

    def _colour_steps(self, start: int, lexing: Generator[None, None, list[Span]],
                      spans_per_step: int = 200) -> Generator[None, None, None]:
        """Lex (a step at a time), then apply the colours a chunk of spans at a time (each
        chunk is one edit: Qt lays out again only the lines it touched)."""
        while True:
            try:
                next(lexing)
            except StopIteration as done:
                spans: list[Span] = done.value
                break
            yield
        looks: dict[tuple[str | None, bool, bool], QTextCharFormat] = {}
        for first in range(0, len(spans), spans_per_step):
            cursor = QTextCursor(self.document())
            cursor.beginEditBlock()
            for span in spans[first:first + spans_per_step]:
                look = (span.color, span.bold, span.italic)
                if look not in looks:
                    looks[look] = _span_format(*look)
                cursor.setPosition(start + span.start)
                cursor.setPosition(start + span.start + span.length,
                                   QTextCursor.MoveMode.KeepAnchor)
                cursor.mergeCharFormat(looks[look])
            cursor.endEditBlock()
            yield

    def _copy_button(self, code_block: CodeBlock) -> QToolButton:
        language = code_block.language
        button = QToolButton(self.viewport())
        button.setAutoRaise(True)
        button.setFont(_small_font(button.font()))
        button.setText(f"Copy code · {language}" if language else "Copy code")
        button.setProperty("idleText", button.text())
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        which = f"code block {code_block.index + 1}" + (f" ({language})" if language else "")
        button.setAccessibleName(f"Copy {which}")
        button.setToolTip(f"Copy {which} to the clipboard, exactly as written")
        button.clicked.connect(lambda _checked=False, i=code_block.index: self.copy_code(i))
        button.resize(button.sizeHint())
        button.show()
        return button

    def _place_buttons(self) -> None:
        """Each Copy button sits right-aligned in the top margin of its code block."""
        if not self.copy_buttons or len(self.copy_buttons) != len(self.code_blocks):
            return  # none, or still being made
        document = self.document()
        layout = document.documentLayout()
        offset = -self.verticalScrollBar().value()
        for code_block, button in zip(self.code_blocks, self.copy_buttons, strict=True):
            block = document.findBlockByNumber(code_block.first_block)
            top = layout.blockBoundingRect(block).top()  # the text's top, below the margin
            x = max(0, self.viewport().width() - button.width() - 2)
            button.move(x, max(0, round(top) - button.height() - 1) + offset)


def show_copied(button: QToolButton) -> None:
    """Say "Copied" on ``button`` for a moment."""
    idle = button.property("idleText") or button.text()
    button.setProperty("idleText", idle)
    button.setText("Copied")
    QTimer.singleShot(COPIED_FEEDBACK_MS, button, lambda: button.setText(idle))


def _span_format(color: str | None, bold: bool, italic: bool) -> QTextCharFormat:
    char_format = QTextCharFormat()
    if color:
        char_format.setForeground(QColor(color))
    if bold:
        char_format.setFontWeight(QFont.Weight.Bold)
    if italic:
        char_format.setFontItalic(True)
    return char_format


def _fence_groups(document: QTextDocument) -> list[tuple[int, int, str, str]]:
    """Runs of fenced-code blocks: (first block, last block, language, text)."""
    groups: list[tuple[int, int, str, str]] = []
    block: QTextBlock = document.begin()
    while block.isValid():
        block_format = block.blockFormat()
        if block_format.hasProperty(QTextFormat.Property.BlockCodeFence):
            language = block_format.stringProperty(QTextFormat.Property.BlockCodeLanguage)
            if groups and groups[-1][1] == block.blockNumber() - 1 and groups[-1][2] == language:
                first, _, _, text = groups[-1]
                groups[-1] = (first, block.blockNumber(), language, text + "\n" + block.text())
            else:
                groups.append((block.blockNumber(), block.blockNumber(), language, block.text()))
        block = block.next()
    return groups


def _match_sources(groups: list[tuple[int, int, str, str]], markdown: str) -> list[CodeBlock]:
    """Pair rendered code with its source text (Qt turns tabs into spaces, drops leading blank
    lines, and joins back-to-back fences of one language); unmatched code copies as shown."""
    sources = _joined_fences(fenced_blocks(markdown), markdown)
    blocks: list[CodeBlock] = []
    next_source = 0
    for index, (first, last, language, text) in enumerate(groups):
        code = text
        for position in range(next_source, len(sources)):
            source_language, source_code = sources[position]
            if source_language == language and _squeezed(source_code) == _squeezed(text):
                code, next_source = source_code, position + 1
                break
        blocks.append(CodeBlock(index, language, code, first, last))
    return blocks


def _joined_fences(fences: list[FencedCode], markdown: str) -> list[tuple[str, str]]:
    lines = markdown.replace("\r\n", "\n").split("\n")
    joined: list[tuple[str, str, int]] = []  # language, code, last line
    for fence in fences:
        if not fence.code.strip():
            continue  # Qt renders no block for it
        if joined and joined[-1][0] == fence.language and \
                all(not line.strip() for line in lines[joined[-1][2] + 1:fence.first_line]):
            language, code, _ = joined[-1]
            joined[-1] = (language, code + "\n" + fence.code, fence.last_line)
        else:
            joined.append((fence.language, fence.code, fence.last_line))
    return [(language, code) for language, code, _ in joined]


def _squeezed(text: str) -> str:
    return "".join(text.split())


class MetricsRow(QWidget):
    """A line of small figures, each with its definition as a tooltip; a narrow message wraps
    them onto more lines rather than growing wider than the conversation."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = FlowLayout(self, spacing=14)
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
                make_secondary(label)
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
    """A user message or an assistant answer (streamed as plain text, then shown as Markdown).

    Header actions: Copy (the raw Markdown) on every message; Edit on user messages and
    Regenerate on answers, shown only once the chat page allows them (``set_actions``)."""

    editRequested = Signal(object)  # this widget (a user message)
    regenerateRequested = Signal(object)  # this widget (an answer)
    copied = Signal(str)  # after a copy: "message" or "code"

    def __init__(self, role: str, text: str = "", *, title: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.setObjectName("message")
        self.setProperty("role", role)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._text = ""
        self._markdown = False
        self.text_updates = 0  # how often streamed text reached the widget (tests check it)
        self.finish_reason: str | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        self.header = QLabel(title or ("You" if role == USER else "Assistant"), self)
        header_font = self.header.font()
        header_font.setBold(True)
        self.header.setFont(header_font)
        kind = "message" if role == USER else "answer"
        self.edit_button = self._action_button(
            "Edit", "Edit this message",
            "Put this message back in the input to change it and send it again")
        self.edit_button.clicked.connect(lambda: self.editRequested.emit(self))
        self.regenerate_button = self._action_button(
            "Regenerate", "Regenerate this answer", "Ask the model for a new answer in its place")
        self.regenerate_button.clicked.connect(lambda: self.regenerateRequested.emit(self))
        self.copy_button = self._action_button(
            "Copy", f"Copy this {kind}", f"Copy this {kind} to the clipboard (as Markdown)")
        self.copy_button.clicked.connect(self.copy_message)
        self.copy_button.setEnabled(False)
        self.set_actions(can_edit=False, can_regenerate=False)
        header_row = QHBoxLayout()
        header_row.setContentsMargins(0, 0, 0, 0)
        header_row.setSpacing(2)
        header_row.addWidget(self.header, 1)
        for button in (self.edit_button, self.regenerate_button, self.copy_button):
            header_row.addWidget(button)
        layout.addLayout(header_row)
        self.body = MessageBody(self)
        self.body.setAccessibleName("Your message" if role == USER else "Answer")
        self.body.codeCopied.connect(lambda _code: self.copied.emit("code"))
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

    def _action_button(self, text: str, name: str, tooltip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAutoRaise(True)
        button.setFont(_small_font(button.font()))
        button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        button.setAccessibleName(name)
        button.setToolTip(tooltip)
        return button

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str, *, markdown: bool = False) -> None:
        self._text = text
        self._markdown = markdown
        self.copy_button.setEnabled(bool(text))
        if markdown:
            self.body.set_markdown(text)
        else:
            self.body.set_plain(text)

    def append_text(self, text: str) -> None:
        """Streamed text (plain while streaming)."""
        self._text += text
        self.text_updates += 1
        self.body.append_plain(text)
        if text and not self.copy_button.isEnabled():
            self.copy_button.setEnabled(True)

    def set_actions(self, *, can_edit: bool, can_regenerate: bool) -> None:
        """Show (and enable) Edit on a user message / Regenerate on an answer, or hide them."""
        edit = can_edit and self.role == USER
        regenerate = can_regenerate and self.role == ASSISTANT
        self.edit_button.setVisible(edit)
        self.edit_button.setEnabled(edit)
        self.regenerate_button.setVisible(regenerate)
        self.regenerate_button.setEnabled(regenerate)

    def copy_message(self) -> str:
        """Put the whole message (its raw Markdown) on the clipboard; returns it."""
        QApplication.clipboard().setText(self._text)
        show_copied(self.copy_button)
        self.copied.emit("message")
        return self._text

    def copy_code(self, index: int) -> str:
        """Put code block ``index`` (0-based, see ``body.code_blocks``) on the clipboard."""
        return self.body.copy_code(index)

    def event(self, event: QEvent) -> bool:
        # (ApplicationPaletteChange reaches event(), not changeEvent())
        if event.type() == QEvent.Type.ApplicationPaletteChange and self._markdown:
            self.body.set_markdown(self._text)  # code colours follow light/dark
        return super().event(event)

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
        make_secondary(self.note)
        font = _small_font(self.note.font())
        font.setItalic(True)
        self.note.setFont(font)
        self.note.show()


def _small_font(font: QFont) -> QFont:
    small = QFont(font)
    if small.pointSizeF() > 0:
        small.setPointSizeF(max(small.pointSizeF() - 1, 7))
    return small
