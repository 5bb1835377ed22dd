"""The chat's side panel: system prompt (with presets), sampling and load settings (LoRA
adapters and their scales among them), and the memory those load settings need before
reloading (kept in QSettings).

An adapter is checked when it is added (its header: is it a LoRA adapter at all, and does it fit
the panel's model: ``workbench.gguf.check_adapter_fits``) and again before every load
(``adapter_problem``), so a mismatched adapter never reaches llama.cpp."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QPalette, QValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.settings import (
    KV_TYPES,
    MAX_LORAS,
    LoadSettings,
    Sampling,
    physical_cores,
)
from workbench.errors import WorkbenchError
from workbench.store import prompt_presets
from workbench.store.prompt_presets import PromptPreset
from workbench.ui.icons import icon
from workbench.ui.memory_preview import Detect, MemoryPreview, PreviewResult
from workbench.ui.style import ERROR_HUE, blend, css
from workbench.ui.widgets import chat_format_combo, plain_label, plain_tip

if TYPE_CHECKING:  # read when a model is chosen: the gguf package imports numpy
    from workbench.gguf import GGUFHeader

MAX_CONTEXT = 131_072
MAX_GPU_LAYERS = 1024  # the range before a model (and its layer count) is known
CUSTOM = "(custom)"
FLASH_CHOICES = (("Auto", "auto"), ("On", "on"), ("Off", "off"))
KV_TIPS = {"f16": "16-bit floats: full precision (the default).",
           "q8_0": "8-bit: about half of f16's memory, with little loss.",
           "q4_0": "4-bit: about a quarter of f16's memory, with more loss."}
RELOAD_TEXT = "Reload model"
RELOAD_PENDING_TEXT = "Reload to apply"
SCALE_RANGE = (-4.0, 4.0)
SCALE_STEP = 0.1
ADAPTER_FILTER = "LoRA adapters (*.gguf);;All files (*)"


def adapter_problem(path: str, base: tuple[GGUFHeader, ...] | None) -> str | None:
    """Why the file at ``path`` cannot be loaded as a LoRA adapter of the model whose headers
    are ``base`` (None: no model to check against, only the file is checked); None if it can."""
    from workbench.gguf import read_adapter
    from workbench.gguf.adapter import adapter_mismatches

    name = os.path.basename(path)
    if not os.path.isfile(path):
        return f"There is no adapter file at {path}."
    try:
        summary = read_adapter(path)
    except WorkbenchError as err:
        text = str(err).split(": not a usable LoRA adapter: ", 1)[-1]
        return f"“{name}” is not a usable LoRA adapter: {text}."
    except Exception as err:  # a reader bug must not become a traceback in the panel
        return f"“{name}” cannot be read: {type(err).__name__}: {err}."
    if base is None:
        return None
    problems = adapter_mismatches(summary, base)
    if not problems:
        return None
    model = os.path.basename(base[0].source)
    more = len(problems) - 1  # the first says what is wrong; the rest are alike, as a rule
    shown = problems[0] + (f"; and {more} more tensor{'s' if more > 1 else ''} like it"
                           if more > 0 else "")
    return f"“{name}” does not fit the model {model}: {shown}."


class AdapterRow(QWidget):
    """One LoRA adapter in the panel: its file name, its scale and a remove button."""

    changed = Signal()
    removeRequested = Signal(str)  # the adapter's path

    def __init__(self, path: str, scale: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        name = Path(path).name
        self.setAccessibleName(f"LoRA adapter {name}")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.name_label = plain_label(name, self)
        self.name_label.setToolTip(plain_tip(path))
        self.name_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.name_label.setMinimumWidth(self.fontMetrics().averageCharWidth() * 6)
        self.scale = QDoubleSpinBox(self)
        self.scale.setRange(*SCALE_RANGE)
        self.scale.setSingleStep(SCALE_STEP)
        self.scale.setDecimals(2)
        self.scale.setValue(scale)
        self.scale.setAccessibleName(f"Scale of adapter {name}")
        self.scale.setToolTip("How strongly the adapter changes the model: 1 as trained, 0 "
                              "leaves the model as it is, a negative scale pushes the other way.")
        self.scale.valueChanged.connect(self.changed)
        self.remove_button = QToolButton(self)
        self.remove_button.setText("Remove")
        self.remove_button.setIcon(icon("remove"))
        self.remove_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.remove_button.setAccessibleName(f"Remove adapter {name}")
        self.remove_button.setToolTip(f"Remove {name} (reload to apply)")
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.path))
        row.addWidget(self.name_label, 1)
        row.addWidget(self.scale)
        row.addWidget(self.remove_button)


class GpuLayersSpinBox(QSpinBox):
    """A layer count with two named values: -1 is "All", 0 is "CPU only"."""

    NAMES: ClassVar[dict[int, str]] = {-1: "All", 0: "CPU only"}

    def textFromValue(self, value: int) -> str:
        return self.NAMES.get(value, str(value))

    def valueFromText(self, text: str) -> int:
        cleaned = text.strip().casefold()
        for value, name in self.NAMES.items():
            if cleaned == name.casefold():
                return value
        try:
            return int(cleaned)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        cleaned = text.strip().casefold()
        if not cleaned:
            return QValidator.State.Intermediate
        for name in self.NAMES.values():
            if name.casefold() == cleaned:
                return QValidator.State.Acceptable
            if name.casefold().startswith(cleaned):
                return QValidator.State.Intermediate
        if cleaned.lstrip("-").isdigit():
            value = int(cleaned)
            if self.minimum() <= value <= self.maximum():
                return QValidator.State.Acceptable
            return QValidator.State.Intermediate if value >= 0 else QValidator.State.Invalid
        return QValidator.State.Invalid


class SettingsPanel(QWidget):
    """What the next answer is sampled with and what the next load uses."""

    reloadRequested = Signal()

    def __init__(self, parent: QWidget | None = None, *, detect: Detect | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Chat settings")
        self._loaded: LoadSettings | None = None
        self._presets: list[PromptPreset] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(self._build_prompt_box())
        layout.addWidget(self._build_sampling_box())
        layout.addWidget(self._build_load_box(detect))
        layout.addStretch(1)
        self.reload_presets()
        for signal in (self.context.valueChanged, self.threads.valueChanged,
                       self.gpu_layers.valueChanged, self.flash_attn.currentIndexChanged,
                       self.kv_type.currentIndexChanged):
            signal.connect(self._load_settings_changed)

    # -- construction ----------------------------------------------------------------------
    def _build_prompt_box(self) -> QGroupBox:
        box = QGroupBox("System prompt", self)
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.preset_combo = QComboBox(box)
        self.preset_combo.setAccessibleName("System prompt preset")
        self.preset_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset_combo.setMinimumContentsLength(6)
        self.preset_combo.setToolTip("Fill the system prompt with a preset. Built-in presets "
                                     "come with Workbench; save your own with “Save as "
                                     "preset…”. Editing the prompt shows “(custom)”.")
        self.preset_combo.activated.connect(self._preset_chosen)
        row.addWidget(_label("Pr&eset", self.preset_combo))
        row.addWidget(self.preset_combo, 1)
        self.save_preset_action = QAction("&Save as preset…", self)
        self.save_preset_action.setToolTip("Keep this system prompt as a preset of your own "
                                           "(stored in Workbench's data folder).")
        self.save_preset_action.triggered.connect(self._ask_preset_name)
        self.delete_preset_action = QAction("&Delete preset", self)
        self.delete_preset_action.setToolTip("Delete the chosen preset of your own (built-in "
                                             "presets cannot be deleted). The prompt stays in "
                                             "the box.")
        self.delete_preset_action.triggered.connect(self.delete_current_preset)
        menu = QMenu(box)
        menu.setToolTipsVisible(True)
        menu.addAction(self.save_preset_action)
        menu.addAction(self.delete_preset_action)
        self.preset_menu_button = QToolButton(box)
        self.preset_menu_button.setText("Manage")
        self.preset_menu_button.setAccessibleName("Manage presets")
        self.preset_menu_button.setToolTip("Save the system prompt as a preset of your own, or "
                                           "delete one of yours.")
        self.preset_menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.preset_menu_button.setMenu(menu)
        row.addWidget(self.preset_menu_button)
        column.addLayout(row)
        self.system_prompt = QPlainTextEdit(box)
        self.system_prompt.setPlaceholderText("Optional: instructions for every answer")
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setTabChangesFocus(True)
        self.system_prompt.setMaximumHeight(self.fontMetrics().lineSpacing() * 6 + 16)
        self.system_prompt.textChanged.connect(self._sync_preset_combo)
        column.addWidget(self.system_prompt)
        self.preset_message = plain_label("", box)
        self.preset_message.setWordWrap(True)
        self.preset_message.setAccessibleName("Preset message")
        self.preset_message.setVisible(False)
        column.addWidget(self.preset_message)
        format_row = QHBoxLayout()
        self.chat_format = chat_format_combo(
            box, "Chat format",
            "How the conversation is put to the model. Model's template: the one in its GGUF "
            "file. Completion: no chat, the text is continued as written (base models). Or a "
            "built-in format, for a model whose template is missing or broken.")
        format_row.addWidget(_label("Chat &format", self.chat_format))
        format_row.addWidget(self.chat_format, 1)
        column.addLayout(format_row)
        return box

    def _build_sampling_box(self) -> QGroupBox:
        box = QGroupBox("Sampling", self)
        form = QFormLayout(box)
        self.temperature = _double(box, 0.0, 2.0, 0.05, Sampling.temperature, "Temperature",
                                   "Randomness of sampling; 0 always picks the likeliest token.")
        form.addRow(_label("&Temperature", self.temperature), self.temperature)
        self.top_p = _double(box, 0.01, 1.0, 0.05, Sampling.top_p, "Top-p",
                             "Nucleus sampling: keep the likeliest tokens whose probabilities "
                             "add up to this share, drop the rest. 1.00 keeps every token.")
        form.addRow(_label("Top-&p", self.top_p), self.top_p)
        self.top_k = QSpinBox(box)
        self.top_k.setRange(0, 1000)
        self.top_k.setValue(Sampling.top_k)
        self.top_k.setSpecialValueText("Off")
        self.top_k.setAccessibleName("Top-k")
        self.top_k.setToolTip("Keep only the k likeliest tokens before sampling. Smaller is "
                              "more focused; Off (0) keeps every token.")
        form.addRow(_label("Top-&k", self.top_k), self.top_k)
        self.min_p = _double(box, 0.0, 1.0, 0.01, Sampling.min_p, "Min-p",
                             "Drop tokens less likely than this share of the likeliest "
                             "token's probability (0.05: under 5% of it). Off (0) keeps all.")
        self.min_p.setSpecialValueText("Off")
        form.addRow(_label("Mi&n-p", self.min_p), self.min_p)
        self.repeat_penalty = _double(box, 1.0, 2.0, 0.05, Sampling.repeat_penalty,
                                      "Repeat penalty",
                                      "Make tokens that already appeared recently less likely "
                                      "(1.1 is mild). Off (1.00) leaves them alone; high "
                                      "values can garble answers.")
        self.repeat_penalty.setSpecialValueText("Off")
        form.addRow(_label("&Repeat penalty", self.repeat_penalty), self.repeat_penalty)
        self.max_tokens = QSpinBox(box)
        self.max_tokens.setRange(1, 1_000_000)
        self.max_tokens.setValue(Sampling.max_tokens)
        self.max_tokens.setAccessibleName("Max tokens")
        self.max_tokens.setToolTip("The longest answer, in tokens (the context may end it first).")
        form.addRow(_label("&Max tokens", self.max_tokens), self.max_tokens)
        self.seed = QSpinBox(box)
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setValue(-1)
        self.seed.setSpecialValueText("Random")
        self.seed.setAccessibleName("Seed")
        self.seed.setToolTip("A fixed seed makes answers reproducible; Random varies them.")
        form.addRow(_label("&Seed", self.seed), self.seed)
        self.reset_sampling_button = QPushButton("Reset to &defaults", box)
        self.reset_sampling_button.setAccessibleName("Reset sampling to defaults")
        self.reset_sampling_button.setToolTip("Set every sampling parameter back to Workbench's "
                                              "default.")
        self.reset_sampling_button.clicked.connect(self.reset_sampling)
        form.addRow(self.reset_sampling_button)
        return box

    def _build_load_box(self, detect: Detect | None) -> QGroupBox:
        box = QGroupBox("Model loading", self)
        form = QFormLayout(box)
        self.context = QSpinBox(box)
        self.context.setRange(256, MAX_CONTEXT)
        self.context.setSingleStep(256)
        self.context.setValue(LoadSettings.n_ctx)
        self.context.setSuffix(" tokens")
        self.context.setAccessibleName("Context length")
        self.context.setToolTip("How many tokens of conversation the model can see. Longer "
                                "contexts need more memory (the KV cache).")
        form.addRow(_label("&Context", self.context), self.context)
        self.gpu_layers = GpuLayersSpinBox(box)
        self.gpu_layers.setRange(-1, MAX_GPU_LAYERS)
        self.gpu_layers.setValue(LoadSettings.n_gpu_layers)
        self.gpu_layers.setAccessibleName("GPU layers")
        self.gpu_layers.setToolTip("How many layers run on the GPU: CPU only (0), a count, or "
                                   "All. The output layer goes first. More layers: faster, but "
                                   "more GPU memory.")
        form.addRow(_label("GPU la&yers", self.gpu_layers), self.gpu_layers)
        self.flash_attn = QComboBox(box)
        for text, value in FLASH_CHOICES:
            self.flash_attn.addItem(text, value)
        self.flash_attn.setAccessibleName("Flash attention")
        self.flash_attn.setToolTip("Flash attention computes attention without the large score "
                                   "matrix: a compute buffer that does not grow with the "
                                   "context. Auto: llama.cpp uses it where supported. A "
                                   "quantized KV cache needs it.")
        form.addRow(_label("Flash &attention", self.flash_attn), self.flash_attn)
        self.kv_type = QComboBox(box)
        for value in KV_TYPES:
            self.kv_type.addItem(value, value)
            self.kv_type.setItemData(self.kv_type.count() - 1, KV_TIPS.get(value, value),
                                     Qt.ItemDataRole.ToolTipRole)
        self.kv_type.setAccessibleName("KV cache type")
        self.kv_type.setToolTip("How the KV cache (the model's memory of the conversation) is "
                                "stored: q8_0 needs about half of f16's memory with little "
                                "loss, q4_0 about a quarter with more loss.")
        form.addRow(_label("K&V cache", self.kv_type), self.kv_type)
        self.threads = QSpinBox(box)
        self.threads.setRange(0, 512)
        self.threads.setValue(0)
        self.threads.setSpecialValueText(f"Auto ({physical_cores()})")
        self.threads.setAccessibleName("Threads")
        self.threads.setToolTip("CPU threads llama.cpp uses. Auto: one per physical core.")
        form.addRow(_label("T&hreads", self.threads), self.threads)
        form.addRow(self._build_adapters(box))
        self.preview = MemoryPreview(box, detect=detect)
        self.preview.updated.connect(self._preview_updated)
        form.addRow(self.preview)
        self.reload_button = QPushButton(RELOAD_TEXT, box)
        self.reload_button.setAccessibleName("Reload the model with these settings")
        self.reload_button.setToolTip("Load the current model again with these settings.")
        self.reload_button.setEnabled(False)
        self.reload_button.setProperty("pending", False)
        self.reload_button.clicked.connect(self.reloadRequested)
        form.addRow(self.reload_button)
        hint = QLabel("Loading settings apply the next time a model is loaded.", box)
        hint.setWordWrap(True)
        form.addRow(hint)
        return box

    def _build_adapters(self, parent: QWidget) -> QWidget:
        section = QWidget(parent)
        section.setAccessibleName("LoRA adapters")
        column = QVBoxLayout(section)
        column.setContentsMargins(0, 4, 0, 0)
        column.setSpacing(4)
        title = QLabel("LoRA adapters", section)
        column.addWidget(title)
        self.adapter_rows: list[AdapterRow] = []
        self.adapter_list = QVBoxLayout()
        self.adapter_list.setContentsMargins(0, 0, 0, 0)
        self.adapter_list.setSpacing(2)
        column.addLayout(self.adapter_list)
        self.no_adapters_label = plain_label("None: the model as it is.", section)
        self.no_adapters_label.setAccessibleName("No LoRA adapters")
        column.addWidget(self.no_adapters_label)
        self.add_adapter_button = QPushButton("A&dd adapter…", section)
        self.add_adapter_button.setIcon(icon("adapter"))
        self.add_adapter_button.setAccessibleName("Add a LoRA adapter")
        self.add_adapter_button.setToolTip("Add a LoRA adapter (a .gguf file made for this "
                                           "model) with a scale; reload to apply. Its memory "
                                           "shows below before reloading.")
        self.add_adapter_button.clicked.connect(self.choose_adapter)
        column.addWidget(self.add_adapter_button)
        self.adapter_message = plain_label("", section)
        self.adapter_message.setObjectName("adapterMessage")
        self.adapter_message.setWordWrap(True)
        self.adapter_message.setAccessibleName("Adapter message")
        self.adapter_message.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        self.adapter_message.setVisible(False)
        column.addWidget(self.adapter_message)
        title.setBuddy(self.add_adapter_button)
        self._base_headers: tuple[tuple[str, int, int], tuple[GGUFHeader, ...]] | None = None
        return section

    # -- LoRA adapters ---------------------------------------------------------------------
    def adapters(self) -> tuple[tuple[str, float], ...]:
        """The adapters in the panel, (path, scale) each, in order."""
        return tuple((row.path, round(row.scale.value(), 4)) for row in self.adapter_rows)

    def add_adapter(self, path: str, scale: float = 1.0, *,
                    model_path: str | None = None) -> bool:
        """Add the LoRA adapter at ``path`` at ``scale``, checked against ``model_path`` (default:
        the panel's model; with none, only the file is checked). False, with the reason shown
        under the list, when it is not an adapter or does not fit; an adapter already listed
        gets the new scale."""
        path = os.path.abspath(path)
        target = model_path or self.preview.model_path
        problem = self._problem(path, target)
        if problem is not None:
            self.show_adapter_message(problem, error=True)
            return False
        low, high = SCALE_RANGE
        scale = min(max(float(scale), low), high)
        for row in self.adapter_rows:
            if row.path == path:
                row.scale.setValue(scale)
                self.show_adapter_message(f"“{Path(path).name}” is already listed: its scale is "
                                          f"now {scale:g}.")
                return True
        if len(self.adapter_rows) >= MAX_LORAS:
            self.show_adapter_message(f"At most {MAX_LORAS} adapters at once.", error=True)
            return False
        self._add_row(path, scale)
        self.show_adapter_message("")
        self._load_settings_changed()
        return True

    def _add_row(self, path: str, scale: float) -> None:
        row = AdapterRow(path, scale, self.add_adapter_button.parentWidget())
        row.changed.connect(self._load_settings_changed)
        row.removeRequested.connect(self.remove_adapter)
        self.adapter_list.addWidget(row)
        self.adapter_rows.append(row)
        self.no_adapters_label.setVisible(False)
        self._fix_tab_order()

    def remove_adapter(self, path: str) -> bool:
        """Take the adapter at ``path`` out of the list (the next load goes without it)."""
        path = os.path.abspath(path)
        for row in self.adapter_rows:
            if row.path == path:
                self.adapter_rows.remove(row)
                self.adapter_list.removeWidget(row)
                row.hide()
                row.deleteLater()
                self.no_adapters_label.setVisible(not self.adapter_rows)
                self.show_adapter_message("")
                self._fix_tab_order()
                self._load_settings_changed()
                return True
        return False

    def clear_adapters(self) -> None:
        for path, _scale in self.adapters():
            self.remove_adapter(path)

    def set_adapter_scale(self, path: str, scale: float) -> bool:
        for row in self.adapter_rows:
            if row.path == os.path.abspath(path):
                row.scale.setValue(scale)
                return True
        return False

    def adapter_problem(self, model_path: str) -> str | None:
        """Why the listed adapters cannot be loaded with the model at ``model_path`` (each is
        checked against its header), shown under the list; None when they all fit."""
        for path, _scale in self.adapters():
            problem = self._problem(path, model_path)
            if problem is not None:
                self.show_adapter_message(problem + " Remove it or change the model.",
                                          error=True)
                return problem
        return None

    def choose_adapter(self) -> None:
        start = str(Path(self.preview.model_path).parent) if self.preview.model_path \
            else os.path.expanduser("~")
        path, _filter = QFileDialog.getOpenFileName(self, "Add a LoRA adapter", start,
                                                    ADAPTER_FILTER)
        if path:
            self.add_adapter(path)

    def show_adapter_message(self, text: str, *, error: bool = False) -> None:
        self.adapter_message.setText(text)
        self.adapter_message.setVisible(bool(text))
        self.adapter_message.setProperty("error", error)
        if error:
            window = self.palette().color(QPalette.ColorRole.Window)
            self.adapter_message.setStyleSheet(
                f"QLabel#adapterMessage {{ background: {css(blend(window, ERROR_HUE, 0.14))}; "
                f"border: 1px solid {css(blend(window, ERROR_HUE, 0.45))}; "
                "border-radius: 6px; padding: 4px; }")
        else:
            self.adapter_message.setStyleSheet("")

    def _problem(self, path: str, model_path: str | None) -> str | None:
        base = None
        if model_path:
            base = self._headers(model_path)
            if isinstance(base, str):
                return base
        return adapter_problem(path, base)

    def _headers(self, model_path: str) -> tuple[GGUFHeader, ...] | str:
        """The model's headers (the last model's kept while its file is unchanged)."""
        from workbench.gguf import read_split_headers

        try:
            stat = os.stat(model_path)
        except OSError as err:
            return f"The model {Path(model_path).name} cannot be read: {err.strerror or err}."
        key = (os.path.realpath(model_path), stat.st_mtime_ns, stat.st_size)
        if self._base_headers is not None and self._base_headers[0] == key:
            return self._base_headers[1]
        try:
            headers = read_split_headers(model_path)
        except WorkbenchError as err:
            return f"The model's header cannot be read: {err}"
        self._base_headers = (key, headers)
        return headers

    def _fix_tab_order(self) -> None:
        """Tab goes through the adapters' rows in order, then to the Add button."""
        previous: QWidget = self.threads
        for row in self.adapter_rows:
            for widget in (row.scale, row.remove_button):
                QWidget.setTabOrder(previous, widget)
                previous = widget
        QWidget.setTabOrder(previous, self.add_adapter_button)

    # -- values ----------------------------------------------------------------------------
    def sampling(self) -> Sampling:
        seed = self.seed.value()
        return Sampling(
            temperature=self.temperature.value(),
            top_k=self.top_k.value(),
            top_p=self.top_p.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            max_tokens=self.max_tokens.value(),
            seed=None if seed < 0 else seed,
            chat_format=self.chat_format_name(),
        )

    def load_settings(self, model_path: str) -> LoadSettings:
        threads = self.threads.value()
        return LoadSettings(model_path=model_path, n_ctx=self.context.value(),
                            n_gpu_layers=self.gpu_layers.value(),
                            flash_attn=self.flash_attn.currentData(),
                            kv_type=self.kv_type.currentData(),
                            threads=threads or None, loras=self.adapters())

    def chat_format_name(self) -> str:
        """The chosen CHAT_FORMATS key."""
        return str(self.chat_format.currentData())

    def system_text(self) -> str:
        return self.system_prompt.toPlainText().strip()

    def reset_sampling(self) -> None:
        """Every sampling parameter back to its default (``Sampling``'s)."""
        defaults = Sampling()
        self.temperature.setValue(defaults.temperature)
        self.top_p.setValue(defaults.top_p)
        self.top_k.setValue(defaults.top_k)
        self.min_p.setValue(defaults.min_p)
        self.repeat_penalty.setValue(defaults.repeat_penalty)
        self.max_tokens.setValue(defaults.max_tokens)
        self.seed.setValue(-1 if defaults.seed is None else defaults.seed)

    # -- the model and the memory preview --------------------------------------------------
    def set_model(self, model_path: str | None, loaded: LoadSettings | None = None) -> None:
        """The chat page's model (None when none is loaded) and the settings it is loaded
        with; the memory preview plans for it and compares with ``loaded``."""
        self._loaded = loaded
        if model_path != self.preview.model_path:  # the new model's layer count comes later
            self.gpu_layers.setMaximum(MAX_GPU_LAYERS)
        self.preview.set_settings(self.load_settings(model_path or ""))
        self.preview.set_model(model_path, loaded)
        self._update_reload_emphasis()

    def settings_differ(self) -> bool:
        """The panel's load settings differ from those of the loaded model."""
        if self._loaded is None:
            return False
        mine = self.load_settings(self._loaded.model_path)
        fields = ("n_ctx", "n_gpu_layers", "flash_attn", "kv_type", "threads", "loras")
        return any(getattr(mine, f) != getattr(self._loaded, f) for f in fields)

    def _load_settings_changed(self, *_args: object) -> None:
        self.preview.set_settings(self.load_settings(self.preview.model_path or ""))
        self._update_reload_emphasis()

    def _update_reload_emphasis(self) -> None:
        pending = self.settings_differ()
        if bool(self.reload_button.property("pending")) == pending:
            return
        self.reload_button.setProperty("pending", pending)
        self.reload_button.setText(RELOAD_PENDING_TEXT if pending else RELOAD_TEXT)
        font = self.reload_button.font()
        font.setBold(pending)
        self.reload_button.setFont(font)
        self.reload_button.setDefault(pending)
        self.reload_button.setToolTip(
            "The loading settings differ from the loaded model's: reload it to apply them."
            if pending else "Load the current model again with these settings.")

    def _preview_updated(self, result: PreviewResult) -> None:
        plan = result.plan
        if plan is not None and plan.n_layers and self.gpu_layers.maximum() != plan.n_layers:
            self.gpu_layers.setMaximum(plan.n_layers)
            self.gpu_layers.setToolTip(
                f"How many of this model's {plan.n_layers} layers run on the GPU: CPU only "
                "(0), a count, or All. The output layer goes first. More layers: faster, but "
                "more GPU memory.")

    # -- presets ---------------------------------------------------------------------------
    def reload_presets(self) -> None:
        """Read the built-in and the user's presets again and refill the combo."""
        problems = []
        try:
            builtin = prompt_presets.builtin_presets()
        except WorkbenchError as err:
            builtin, problems = [], [str(err)]
        try:
            mine = prompt_presets.user_presets()
        except WorkbenchError as err:
            mine, problems = [], [*problems, str(err)]
        self._presets = [*builtin, *mine]
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        for index, preset in enumerate(self._presets):
            label = preset.name if preset.builtin else f"{preset.name} (mine)"
            self.preset_combo.addItem(label, index)
            tip = preset.text or "No system prompt."
            self.preset_combo.setItemData(self.preset_combo.count() - 1, tip,
                                          Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.addItem(CUSTOM, None)
        self.preset_combo.blockSignals(False)
        self._show_preset_message("; ".join(problems))
        self._sync_preset_combo()

    def current_preset(self) -> PromptPreset | None:
        """The chosen preset, None when the prompt is custom."""
        index = self.preset_combo.currentData()
        return self._presets[index] if isinstance(index, int) else None

    def choose_preset(self, name: str) -> bool:
        """Fill the system prompt with the preset ``name``; False if there is none."""
        for preset in self._presets:
            if preset.name == name:
                self.system_prompt.setPlainText(preset.text)
                self._select_preset(preset)
                return True
        return False

    def save_preset_as(self, name: str) -> bool:
        """Save the system prompt as the user preset ``name``; False (and a message) if not."""
        try:
            preset = prompt_presets.save_preset(name, self.system_prompt.toPlainText())
        except WorkbenchError as err:
            self._show_preset_message(str(err))
            return False
        self.reload_presets()
        self._select_preset(preset)
        self._show_preset_message(f"Saved preset “{preset.name}”.")
        return True

    def delete_current_preset(self) -> bool:
        preset = self.current_preset()
        if preset is None or preset.builtin:
            return False
        try:
            deleted = prompt_presets.delete_preset(preset.name)
        except WorkbenchError as err:
            self._show_preset_message(str(err))
            return False
        self.reload_presets()
        if deleted:
            self._show_preset_message(f"Deleted preset “{preset.name}”.")
        return deleted

    def _ask_preset_name(self) -> None:
        current = self.current_preset()
        suggestion = current.name if current is not None and not current.builtin else ""
        name, ok = QInputDialog.getText(self, "Save as preset", "Preset name:", text=suggestion)
        if ok:
            self.save_preset_as(name)

    def _preset_chosen(self, combo_index: int) -> None:
        index = self.preset_combo.itemData(combo_index)
        if isinstance(index, int):
            self.system_prompt.setPlainText(self._presets[index].text)
            self._select_preset(self._presets[index])
        else:
            self._sync_preset_combo()

    def _select_preset(self, preset: PromptPreset | None) -> None:
        target = self.preset_combo.count() - 1  # (custom)
        if preset is not None:
            for i, candidate in enumerate(self._presets):
                if candidate == preset:
                    target = self.preset_combo.findData(i)
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentIndex(target)
        self.preset_combo.blockSignals(False)
        current = self.current_preset()
        self.delete_preset_action.setEnabled(current is not None and not current.builtin)

    def _sync_preset_combo(self) -> None:
        """Show the preset whose text the box holds (the chosen one first), else (custom)."""
        text = self.system_prompt.toPlainText()
        current = self.current_preset()
        if current is not None and current.text.strip() == text.strip():
            self._select_preset(current)
            return
        match = next((p for p in self._presets if p.text.strip() == text.strip()), None)
        self._select_preset(match)

    def _show_preset_message(self, text: str) -> None:
        self.preset_message.setText(text)
        self.preset_message.setVisible(bool(text))

    # -- persistence -----------------------------------------------------------------------
    def save(self, settings: QSettings) -> None:
        settings.beginGroup("chat")
        settings.setValue("system_prompt", self.system_prompt.toPlainText())
        settings.setValue("temperature", self.temperature.value())
        settings.setValue("top_p", self.top_p.value())
        settings.setValue("top_k", self.top_k.value())
        settings.setValue("min_p", self.min_p.value())
        settings.setValue("repeat_penalty", self.repeat_penalty.value())
        settings.setValue("max_tokens", self.max_tokens.value())
        settings.setValue("seed", self.seed.value())
        settings.setValue("context", self.context.value())
        settings.setValue("gpu_layers", self.gpu_layers.value())
        settings.setValue("flash_attn", self.flash_attn.currentData())
        settings.setValue("kv_type", self.kv_type.currentData())
        settings.setValue("threads", self.threads.value())
        settings.setValue("chat_format", self.chat_format_name())
        settings.setValue("loras", json.dumps([list(entry) for entry in self.adapters()]))
        settings.endGroup()

    def restore(self, settings: QSettings) -> None:
        settings.beginGroup("chat")
        try:
            self.system_prompt.setPlainText(str(settings.value("system_prompt", "")))
            for spin, key, kind in (
                (self.temperature, "temperature", float), (self.top_p, "top_p", float),
                (self.top_k, "top_k", int), (self.min_p, "min_p", float),
                (self.repeat_penalty, "repeat_penalty", float),
                (self.max_tokens, "max_tokens", int), (self.seed, "seed", int),
                (self.context, "context", int), (self.gpu_layers, "gpu_layers", int),
                (self.threads, "threads", int),
            ):
                spin.setValue(_number(settings.value(key), spin.value(), kind))
            for combo, key in ((self.flash_attn, "flash_attn"), (self.kv_type, "kv_type"),
                               (self.chat_format, "chat_format")):
                index = combo.findData(str(settings.value(key, combo.currentData())))
                if index >= 0:
                    combo.setCurrentIndex(index)
            self._restore_adapters(settings.value("loras"))
        finally:
            settings.endGroup()


    def _restore_adapters(self, stored: Any) -> None:
        """The stored adapters that are still there (each checked again before a load)."""
        try:
            entries = json.loads(str(stored)) if stored else []
        except ValueError:
            return
        self.clear_adapters()
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) \
                    and isinstance(entry[1], int | float) and os.path.isfile(entry[0]) \
                    and len(self.adapter_rows) < MAX_LORAS:
                self._add_row(entry[0], float(entry[1]))
        self._load_settings_changed()


def _double(parent: QWidget, low: float, high: float, step: float, value: float, name: str,
            tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox(parent)
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setValue(value)
    spin.setAccessibleName(name)
    spin.setToolTip(tip)
    return spin


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

