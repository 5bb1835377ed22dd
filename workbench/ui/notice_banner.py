"""An inline banner for errors: a crashed model process (with a safe-mode retry) or a model
that could not be loaded. Inline rather than a modal dialog, so the conversation stays visible
and usable."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.errors import WorkerCrashed
from workbench.engine.settings import SAFE_MODE_MAX_CTX
from workbench.ui.fonts import code_font
from workbench.ui.icons import icon
from workbench.ui.style import ERROR_HUE, NOTICE_HUE, banner_stylesheet
from workbench.ui.widgets import plain_label

SAFE_MODE_TEXT = (
    f"Safe mode loads without CPU weight repacking, on the CPU only, with a context of at most "
    f"{SAFE_MODE_MAX_CTX} tokens."
)


def crash_details(err: WorkerCrashed) -> str:
    """The text of the details area: what was going on, the exit, llama.cpp's last lines."""
    lines = [
        f"While: {err.during}",
        f"Exit: {err.cause}" + (f" (return code {err.returncode})"
                                if err.returncode is not None else ""),
    ]
    if err.detail:
        lines.append(f"Reason: {err.detail}")
    lines.append("")
    if err.log_tail:
        lines.append("Last lines of the model process's log:")
        lines.extend(err.log_tail)
    else:
        lines.append("The model process wrote no log lines.")
    return "\n".join(lines)


class NoticeBanner(QFrame):
    retryRequested = Signal()
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setAccessibleName("Error")
        self.kind: str | None = None  # "crash" | "error" | "notice" while shown

        self.icon = QLabel(self)
        self._set_icon("error")
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.title = plain_label("", self)
        self.title.setObjectName("noticeTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.message = plain_label("", self)
        self.message.setObjectName("noticeMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.details_toggle = QToolButton(self)
        self.details_toggle.setText("Details")
        self.details_toggle.setCheckable(True)
        self.details_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.details_toggle.setAccessibleName("Show details")
        self.details_toggle.toggled.connect(self._toggle_details)
        self.details = QPlainTextEdit(self)
        self.details.setObjectName("noticeDetails")
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Error details")
        self.details.setFont(code_font())
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setMaximumHeight(180)
        self.details.hide()

        self.retry_button = QPushButton("Retry in safe mode", self)
        self.retry_button.setAccessibleName("Retry in safe mode")
        self.retry_button.setToolTip(SAFE_MODE_TEXT)
        self.retry_button.clicked.connect(self.retryRequested)
        self.dismiss_button = QPushButton("Dismiss", self)
        self.dismiss_button.setAccessibleName("Dismiss the error")
        self.dismiss_button.clicked.connect(self.dismiss)

        text_column = QVBoxLayout()
        text_column.setSpacing(4)
        text_column.addWidget(self.title)
        text_column.addWidget(self.message)
        buttons = QHBoxLayout()
        buttons.addWidget(self.details_toggle)
        buttons.addStretch(1)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.dismiss_button)
        text_column.addLayout(buttons)
        text_column.addWidget(self.details)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(12)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text_column, 1)
        self._apply_style()
        self.hide()

    def show_crash(self, err: WorkerCrashed, *, can_retry: bool = True,
                   kept_text: bool = False) -> None:
        """The model process died: cause, details, and the safe-mode retry."""
        self._set_kind("crash")
        signal = err.signal_name or (f"exit code {err.returncode}"
                                     if err.returncode is not None else "no response")
        self.title.setText(f"The model process crashed ({signal})")
        message = f"{str(err)[:1].upper()}{str(err)[1:]}."
        if kept_text:
            message += " The text that arrived before the crash is kept."
        message += f" The window is fine. {SAFE_MODE_TEXT}"
        self.message.setText(message)
        self.details.setPlainText(crash_details(err))
        self.details.moveCursor(QTextCursor.MoveOperation.End)  # the last lines matter most
        self.details.moveCursor(QTextCursor.MoveOperation.StartOfLine)
        self.details_toggle.show()
        self.retry_button.setVisible(can_retry)
        self.show()

    def show_error(self, title: str, message: str, details: str | None = None) -> None:
        """A failure the model process survived (e.g. the file is not a usable GGUF model)."""
        self._set_kind("error")
        self.title.setText(title)
        self.message.setText(message)
        self.details.setPlainText(details or "")
        self.details_toggle.setVisible(bool(details))
        self.retry_button.hide()
        self.show()

    def show_notice(self, title: str, message: str) -> None:
        """Something the user should know that is not a failure (e.g. a model without a chat
        template)."""
        self.show_error(title, message)
        self._set_kind("notice")

    def dismiss(self) -> None:
        self.kind = None
        self.details_toggle.setChecked(False)
        self.hide()
        self.dismissed.emit()

    def _set_kind(self, kind: str) -> None:
        """Icon, accessible name and colour follow the kind: a notice is not an error."""
        self.kind = kind
        notice = kind == "notice"
        self._set_icon("notice" if notice else "error")
        self.setAccessibleName("Notice" if notice else "Error")
        self._apply_style()

    def _set_icon(self, which: str) -> None:
        """The kind's icon in its hue, sized to the title's line (it grows with the text)."""
        size = max(24, round(self.fontMetrics().height() * 1.6))
        hue = NOTICE_HUE if which == "notice" else ERROR_HUE
        self.icon.setPixmap(icon(which, hue).pixmap(size, size))

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        if shown:
            self.details.ensureCursorVisible()
        self.details_toggle.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _apply_style(self) -> None:
        hue = NOTICE_HUE if self.kind == "notice" else ERROR_HUE
        self.setStyleSheet(banner_stylesheet(QApplication.palette(), hue))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self._apply_style()
