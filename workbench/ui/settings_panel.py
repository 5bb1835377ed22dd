"""The chat's side panel: system prompt, sampling and load settings (kept in QSettings)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.settings import LoadSettings, Sampling, physical_cores

MAX_CONTEXT = 131_072


class SettingsPanel(QWidget):
    """What the next answer is sampled with and what the next load uses."""

    reloadRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Chat settings")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)

        prompt_box = QGroupBox("System prompt", self)
        self.system_prompt = QPlainTextEdit(prompt_box)
        self.system_prompt.setPlaceholderText("Optional: instructions for every answer")
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setTabChangesFocus(True)
        self.system_prompt.setMaximumHeight(self.fontMetrics().lineSpacing() * 6 + 16)
        QVBoxLayout(prompt_box).addWidget(self.system_prompt)
        layout.addWidget(prompt_box)

        sampling_box = QGroupBox("Sampling", self)
        sampling_form = QFormLayout(sampling_box)
        self.temperature = QDoubleSpinBox(sampling_box)
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setDecimals(2)
        self.temperature.setValue(Sampling.temperature)
        self.temperature.setAccessibleName("Temperature")
        self.temperature.setToolTip("Randomness of sampling; 0 always picks the likeliest token.")
        sampling_form.addRow(_label("&Temperature", self.temperature), self.temperature)
        self.max_tokens = QSpinBox(sampling_box)
        self.max_tokens.setRange(1, 1_000_000)
        self.max_tokens.setValue(Sampling.max_tokens)
        self.max_tokens.setAccessibleName("Max tokens")
        self.max_tokens.setToolTip("The longest answer, in tokens (the context may end it first).")
        sampling_form.addRow(_label("&Max tokens", self.max_tokens), self.max_tokens)
        self.seed = QSpinBox(sampling_box)
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setValue(-1)
        self.seed.setSpecialValueText("Random")
        self.seed.setAccessibleName("Seed")
        self.seed.setToolTip("A fixed seed makes answers reproducible; Random varies them.")
        sampling_form.addRow(_label("&Seed", self.seed), self.seed)
        layout.addWidget(sampling_box)

        load_box = QGroupBox("Model loading", self)
        load_form = QFormLayout(load_box)
        self.context = QSpinBox(load_box)
        self.context.setRange(256, MAX_CONTEXT)
        self.context.setSingleStep(256)
        self.context.setValue(LoadSettings.n_ctx)
        self.context.setSuffix(" tokens")
        self.context.setAccessibleName("Context length")
        self.context.setToolTip("How many tokens of conversation the model can see. Longer "
                                "contexts need more memory (the KV cache).")
        load_form.addRow(_label("&Context", self.context), self.context)
        self.threads = QSpinBox(load_box)
        self.threads.setRange(0, 512)
        self.threads.setValue(0)
        self.threads.setSpecialValueText(f"Auto ({physical_cores()})")
        self.threads.setAccessibleName("Threads")
        self.threads.setToolTip("CPU threads llama.cpp uses. Auto: one per physical core.")
        load_form.addRow(_label("T&hreads", self.threads), self.threads)
        self.reload_button = QPushButton("Reload model", load_box)
        self.reload_button.setAccessibleName("Reload the model with these settings")
        self.reload_button.setToolTip("Load the current model again with these settings.")
        self.reload_button.setEnabled(False)
        self.reload_button.clicked.connect(self.reloadRequested)
        load_form.addRow(self.reload_button)
        hint = QLabel("Loading settings apply the next time a model is loaded.", load_box)
        hint.setWordWrap(True)
        load_form.addRow(hint)
        layout.addWidget(load_box)
        layout.addStretch(1)

    def sampling(self) -> Sampling:
        seed = self.seed.value()
        return Sampling(
            temperature=self.temperature.value(),
            max_tokens=self.max_tokens.value(),
            seed=None if seed < 0 else seed,
        )

    def load_settings(self, model_path: str) -> LoadSettings:
        threads = self.threads.value()
        return LoadSettings(model_path=model_path, n_ctx=self.context.value(),
                            threads=threads or None)

    def system_text(self) -> str:
        return self.system_prompt.toPlainText().strip()

    # -- persistence -----------------------------------------------------------------------
    def save(self, settings: QSettings) -> None:
        settings.beginGroup("chat")
        settings.setValue("system_prompt", self.system_prompt.toPlainText())
        settings.setValue("temperature", self.temperature.value())
        settings.setValue("max_tokens", self.max_tokens.value())
        settings.setValue("seed", self.seed.value())
        settings.setValue("context", self.context.value())
        settings.setValue("threads", self.threads.value())
        settings.endGroup()

    def restore(self, settings: QSettings) -> None:
        settings.beginGroup("chat")
        try:
            self.system_prompt.setPlainText(str(settings.value("system_prompt", "")))
            self.temperature.setValue(_number(settings.value("temperature"),
                                              self.temperature.value(), float))
            self.max_tokens.setValue(_number(settings.value("max_tokens"),
                                             self.max_tokens.value(), int))
            self.seed.setValue(_number(settings.value("seed"), self.seed.value(), int))
            self.context.setValue(_number(settings.value("context"), self.context.value(), int))
            self.threads.setValue(_number(settings.value("threads"), self.threads.value(), int))
        finally:
            settings.endGroup()


def _label(text: str, buddy: QWidget) -> QLabel:
    """A form label with a little room on the right (glyphs may overhang their advance)."""
    label = QLabel(text)
    label.setBuddy(buddy)
    label.setContentsMargins(0, 0, 3, 0)
    return label


def _number(value: Any, default: Any, kind: type) -> Any:
    """A stored value as ``kind`` (INI files give strings back); ``default`` if unusable."""
    if value is None:
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        return default
