"""The Compare page's parts: a target picker (kind + model/path) and an answer pane (streamed
text, per-answer figures with their definitions as tooltips, the pane's own error)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput
from workbench.present.metrics import tooltip
from workbench.present.numbers import answer_cost, format_energy, format_ms, format_rate, number
from workbench.providers.base import AnswerResult
from workbench.providers.registry import TargetSpec, parse_target
from workbench.routing.target import route_of
from workbench.ui.style import banner_stylesheet
from workbench.ui.widgets import plain_label, plain_tip

LOADED = "loaded"
# What the Chat page has loaded: its LoadSettings (context, GPU layers, ...), or only its path
# (the older form), or None when nothing is loaded.
LoadedModel = Callable[[], LoadSettings | str | None]
# (kind key, combo text, line edit placeholder)
KINDS = (
    (LOADED, "Loaded model (local)", "the model loaded on the Chat page"),
    ("local", "GGUF file (local)", "path to a .gguf file [+lora:ADAPTER.gguf@SCALE]"),
    ("openai", "OpenAI", "model, e.g. gpt-4o-mini"),
    ("anthropic", "Anthropic", "model, e.g. claude-3-5-haiku-latest"),
    ("gemini", "Google Gemini", "model, e.g. gemini-2.0-flash"),
    ("profile", "Endpoint profile", "NAME/MODEL, e.g. groq/llama-3.3-70b-versatile"),
    ("router", "Router", "NAME of routers/NAME.yaml: local or cloud per prompt"),
)
FIGURES = (  # (AnswerResult field, how to print the value)
    ("ttft_ms", lambda v: f"TTFT {format_ms(v)}"),
    ("completion_tokens", lambda v: f"{number(v)} tokens"),
    ("gen_tokens_per_s", format_rate),
    ("cost_usd", answer_cost),
    ("energy_j", format_energy),
)
BLIND_HIDDEN = ("cost_usd", "energy_j")  # shown after a blind run's vote
FIGURE_LABELS = {"ttft_ms": "TTFT", "completion_tokens": "tokens", "gen_tokens_per_s": "tok/s",
                 "cost_usd": "cost", "energy_j": "energy"}


class TargetPicker(QWidget):
    """Which target answers: a kind combo plus a model name, path or NAME/MODEL."""

    def __init__(self, number: int, loaded: LoadedModel,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loaded = loaded
        self.kind = QComboBox(self)
        for key, text, _hint in KINDS:
            self.kind.addItem(text, key)
        self.kind.setAccessibleName(f"Target {number} kind")
        self.model = QLineEdit(self)
        self.model.setAccessibleName(f"Target {number} model")
        self.model.setMinimumWidth(120)
        self.browse = QPushButton("Browse…", self)
        self.browse.setAccessibleName(f"Choose the GGUF file of target {number}")
        self.browse.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(self.model, 1)
        layout.addWidget(self.browse)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def set_target(self, kind: str, model: str = "") -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        self.model.setText(model)

    def spec(self) -> TargetSpec:
        """The target as a spec; BadInput when it is incomplete."""
        kind = self.kind.currentData()
        if kind == LOADED:
            path = self._loaded_model()[0]
            if not path:
                raise BadInput("no model is loaded: load one on the Chat page or pick a file")
            settings = self._loaded_model()[1]  # with the Chat page's LoRA adapters, if any
            return TargetSpec("local", path, loras=settings.loras if settings else ())
        return parse_target(f"{kind}:{self.model.text().strip()}")

    def load_settings(self) -> LoadSettings | None:
        """For the loaded-model target: the settings the Chat page loaded it with (None for
        other targets, or when only the path is known: then the defaults apply)."""
        if self.kind.currentData() != LOADED:
            return None
        return self._loaded_model()[1]

    def _loaded_model(self) -> tuple[str | None, LoadSettings | None]:
        value = self._loaded()
        if isinstance(value, LoadSettings):
            return value.model_path, value
        return (value or None), None

    def _kind_changed(self, *_args: object) -> None:
        kind = self.kind.currentData()
        hint = next(h for k, _t, h in KINDS if k == kind)
        self.model.setPlaceholderText(hint)
        self.model.setEnabled(kind != LOADED)
        self.browse.setVisible(kind == "local")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", self.model.text(),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.model.setText(path)


class AnswerPane(QFrame):
    """One answer: header, streamed text, figures, the pane's error."""

    def __init__(self, number: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.number = number
        self.result: AnswerResult | None = None
        self.header = plain_label(f"Pane {number}", self)
        font = self.header.font()
        font.setBold(True)
        self.header.setFont(font)
        self.header.setAccessibleName(f"Pane {number} target")
        self.status = plain_label("", self)
        self.status.setAccessibleName(f"Pane {number} status")
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setAccessibleName(f"Pane {number} answer")
        self.error = plain_label("", self)
        self.error.setObjectName("noticeBanner")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setAccessibleName(f"Pane {number} error")
        self.error.setStyleSheet(banner_stylesheet(self.palette()).replace("QFrame", "QLabel")
                                 + "QLabel#noticeBanner { padding: 6px; }")
        self.error.hide()
        self.figures: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        for column, (key, _fmt) in enumerate(FIGURES):
            label = QLabel(f"{FIGURE_LABELS[key]} —", self)
            label.setToolTip(tooltip(key))
            label.setAccessibleName(f"Pane {number} {FIGURE_LABELS[key]}")
            self.figures[key] = label
            grid.addWidget(label, column // 3, column % 3)
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.error)
        layout.addLayout(grid)

    def clear(self, header: str) -> None:
        self.result = None
        self.header.setText(header)
        self.status.setText("")
        self.text.clear()
        self.error.hide()
        for key, label in self.figures.items():
            label.setText(f"{FIGURE_LABELS[key]} —")

    def append(self, text: str) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)

    def show_live(self, ttft_ms: float | None, tokens: int, rate: float | None) -> None:
        if ttft_ms is not None:
            self.figures["ttft_ms"].setText(f"TTFT {format_ms(ttft_ms)}")
        if tokens:
            self.figures["completion_tokens"].setText(f"{number(tokens)} tokens")
        if rate is not None:
            self.figures["gen_tokens_per_s"].setText(f"≈ {format_rate(rate)}")

    def show_status(self, text: str, *, hidden: bool = False) -> None:
        """A status line; ``hidden`` (a blind run before the vote): a neutral one, since
        retry messages name the provider and the model."""
        self.status.setText(NEUTRAL_STATUS if hidden and text else text)

    def show_result(self, result: AnswerResult, header: str | None = None, *,
                    hidden: bool = False) -> None:
        """Text, finish and figures of ``result``. ``hidden`` (a blind run before the vote):
        an error shows only its kind, since its text can name the host or the model."""
        self.result = result
        if header is not None:
            self.header.setText(header)
        if self.text.toPlainText() != result.text:
            self.text.setPlainText(result.text)
        route = route_of(result)  # a router's answer: where it went and why
        self.status.setText(" · ".join(part for part in (
            result.finish_reason or "", f"routed: {route}" if route and not hidden else "")
            if part))
        for key, fmt in FIGURES:
            value = getattr(result, key)
            if hidden and key in BLIND_HIDDEN:  # $0 or a measured energy names a local target
                self.figures[key].setText(f"{FIGURE_LABELS[key]}: after the vote")
                continue
            self.figures[key].setText(fmt(value) if value is not None
                                      else f"{FIGURE_LABELS[key]} —")
        note = result.cost_note or result.energy_note
        if note and not hidden:
            self.figures["cost_usd"].setToolTip(plain_tip(f"{tooltip('cost_usd')}\n\n{note}"))
        if result.error:
            if hidden:
                self.error.setText(neutral_error(result))
            elif header is None:
                self.error.setText(f"{result.label}: {result.error}")
            else:
                self.error.setText(result.error)
            self.error.show()
        else:
            self.error.hide()


NEUTRAL_STATUS = "working… (details after the vote)"


def neutral_error(result: AnswerResult) -> str:
    """What a blind run shows of a failure before the vote: its kind, nothing that names the
    target."""
    kind = (result.error_kind or "error").replace("_", " ")
    return f"this target failed: {kind} (the full error shows after the vote)"
