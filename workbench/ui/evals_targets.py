"""The Evals page's targets: local GGUF files from the library (several quantisations of one
model side by side) or any file, the suite's own targets, typed specs (openai:MODEL,
anthropic:MODEL, profile:NAME/MODEL, ...), and the run's options (repeats, temperature, max
tokens, the judge, cloud requests at once)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.evals.model import Suite
from workbench.evals.runner import RunOptions
from workbench.hub import LocalModel, scan_library
from workbench.present.numbers import format_bytes
from workbench.providers.registry import parse_target
from workbench.ui.background import TaskRunner
from workbench.ui.widgets import plain_label, plain_tip

Scanner = Callable[[], list[LocalModel]]
PATH_ROLE = Qt.ItemDataRole.UserRole
DEFAULT_JUDGE = "Default: the suite's judge, else the first local target"


def unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class TargetsPanel(QWidget):
    """What a run asks and how: ``options()`` gives the runner's RunOptions."""

    def __init__(self, parent: QWidget | None = None, *,
                 library_scanner: Scanner | None = None) -> None:
        super().__init__(parent)
        self._scanner = library_scanner or scan_library
        self._tasks = TaskRunner(self, name="workbench-evals-scan")
        self.scanned_once = False
        self.local_models = QListWidget(self)
        self.local_models.setAccessibleName("Local models to run")
        self.local_models.setToolTip("Tick the GGUF files to run: several quantisations of one "
                                     "model side by side show what each costs in quality")
        self.local_models.itemChanged.connect(lambda *_: self._targets_changed())
        self.library_state = plain_label("", self)
        self.rescan_button = QPushButton("Rescan", self)
        self.rescan_button.clicked.connect(lambda: self.scan_models(force=True))
        self.add_file_button = QPushButton("Add file…", self)
        self.add_file_button.setAccessibleName("Add a GGUF file as a target")
        self.add_file_button.clicked.connect(self.choose_file)
        local_box = QGroupBox("Local models", self)
        local_layout = QVBoxLayout(local_box)
        local_layout.addWidget(self.local_models, 1)
        local_buttons = QHBoxLayout()
        local_buttons.addWidget(self.library_state, 1)
        local_buttons.addWidget(self.rescan_button)
        local_buttons.addWidget(self.add_file_button)
        local_layout.addLayout(local_buttons)

        self.suite_targets = QListWidget(self)
        self.suite_targets.setAccessibleName("The suite's targets")
        self.suite_targets.itemChanged.connect(lambda *_: self._targets_changed())
        self.suite_box = QGroupBox("The suite's targets (providers)", self)
        QVBoxLayout(self.suite_box).addWidget(self.suite_targets)
        self.suite_box.hide()  # shown for a suite that names targets
        self.other_targets = QPlainTextEdit(self)
        self.other_targets.setAccessibleName("Other targets")
        self.other_targets.setPlaceholderText(
            "One per line: openai:MODEL, anthropic:MODEL, gemini:MODEL, profile:NAME/MODEL, "
            "openai:MODEL@http://127.0.0.1:1234/v1, local:PATH, "
            "local:PATH+lora:ADAPTER.gguf@0.8 (a model with its LoRA adapter)")
        self.other_targets.textChanged.connect(self._targets_changed)
        other_box = QGroupBox("Other targets", self)
        QVBoxLayout(other_box).addWidget(self.other_targets)

        self.repeat = QSpinBox(self)
        self.repeat.setRange(1, 100)
        self.repeat.setAccessibleName("Repeats")
        self.repeat.setToolTip("Ask each case this many times (with a temperature above 0 "
                               "the answers vary: the summary counts every answer)")
        self.temperature = QDoubleSpinBox(self)
        self.temperature.setRange(-0.1, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setSpecialValueText("model default")
        self.temperature.setValue(-0.1)
        self.temperature.setAccessibleName("Temperature")
        self.max_tokens = QSpinBox(self)
        self.max_tokens.setRange(1, 32768)
        self.max_tokens.setValue(256)
        self.max_tokens.setAccessibleName("Maximum answer tokens")
        self.judge = QComboBox(self)
        self.judge.setEditable(True)
        self.judge.addItem(DEFAULT_JUDGE)
        self.judge.setAccessibleName("Judge")
        self.judge.setToolTip("The target that grades model-graded assertions (llm-rubric, "
                              "factuality); a local judge keeps every answer on this machine")
        self.concurrency = QSpinBox(self)
        self.concurrency.setRange(1, 32)
        self.concurrency.setValue(4)
        self.concurrency.setAccessibleName("Cloud requests at once")
        form = QFormLayout()
        form.addRow("Repeats:", self.repeat)
        form.addRow("Temperature:", self.temperature)
        form.addRow("Max tokens:", self.max_tokens)
        form.addRow("Judge:", self.judge)
        form.addRow("Cloud requests at once:", self.concurrency)
        options_box = QGroupBox("Options", self)
        options_box.setLayout(form)

        left = QVBoxLayout()
        left.addWidget(local_box, 2)
        left.addWidget(other_box, 1)
        right = QVBoxLayout()
        right.addWidget(self.suite_box, 1)
        right.addWidget(options_box)
        right.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        layout.addLayout(right, 2)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.scan_models()

    def scan_models(self, force: bool = False) -> None:
        """List the library's models (off the GUI thread); once, unless ``force``."""
        if self._tasks.busy("scan") or (self.scanned_once and not force):
            return
        self.library_state.setText("Scanning the library…")
        self.rescan_button.setEnabled(False)
        self._tasks.run(lambda _p, _c: self._scanner(), key="scan", on_result=self._scanned,
                        on_error=self._scan_failed, name="workbench-evals-scan")

    def _scanned(self, found: list[LocalModel]) -> None:
        self.scanned_once = True
        self.rescan_button.setEnabled(True)
        usable = [m for m in found if m.status == "ok" and not m.is_adapter]
        for model in usable:
            label = " · ".join(p for p in (model.name, model.quant or "",
                                           format_bytes(model.size)) if p)
            self.add_local(model.path, label=label, checked=False)
        self.library_state.setText(f"{len(usable)} library models" if usable else
                                   "No library models: use Add file…")

    def _scan_failed(self, err: BaseException) -> None:
        self.scanned_once = True
        self.rescan_button.setEnabled(True)
        self.library_state.setText("Library scan failed: use Add file…")
        self.library_state.setToolTip(plain_tip(str(err)))

    def add_local(self, path: str, *, label: str | None = None,
                  checked: bool = True) -> QListWidgetItem:
        """List the GGUF file ``path`` as a target (once); returns its item."""
        for row in range(self.local_models.count()):
            item = self.local_models.item(row)
            if item.data(PATH_ROLE) == path:
                if checked:
                    item.setCheckState(Qt.CheckState.Checked)
                return item
        item = QListWidgetItem(label or path.replace("\\", "/").rsplit("/", 1)[-1])
        item.setData(PATH_ROLE, path)
        item.setToolTip(plain_tip(path))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.local_models.addItem(item)
        return item

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model as a target", "",
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.add_local(path)

    def set_suite(self, suite: Suite | None) -> None:
        """List the suite's own targets (providers), ticked."""
        self.suite_targets.clear()
        for target in suite.targets if suite is not None else ():
            text = target.label if target.label == target.spec else (
                f"{target.label} ({target.spec})")
            item = QListWidgetItem(text)
            item.setData(PATH_ROLE, target.spec)
            item.setToolTip(plain_tip(target.spec))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.suite_targets.addItem(item)
        self.suite_box.setVisible(self.suite_targets.count() > 0)
        self._targets_changed()

    def _checked(self, widget: QListWidget) -> list[str]:
        return [widget.item(i).data(PATH_ROLE) for i in range(widget.count())
                if widget.item(i).checkState() == Qt.CheckState.Checked]

    def target_specs(self) -> tuple[str, ...]:
        """The targets as given to the runner: () for exactly the suite's own targets (their
        labels kept), else every ticked and typed target (BadInput for a bad one)."""
        typed = [line.strip() for line in self.other_targets.toPlainText().splitlines()
                 if line.strip() and not line.strip().startswith("#")]
        for line in typed:
            parse_target(line)
        local = [f"local:{path}" for path in self._checked(self.local_models)]
        suite = self._checked(self.suite_targets)
        if not local and not typed and suite and len(suite) == self.suite_targets.count():
            return ()
        return tuple(unique([*suite, *local, *typed]))

    def _targets_changed(self) -> None:
        current = self.judge.currentText()
        try:
            specs = list(self.target_specs()) or self._checked(self.suite_targets)
        except WorkbenchError:
            return
        self.judge.blockSignals(True)
        self.judge.clear()
        self.judge.addItem(DEFAULT_JUDGE)
        for spec in specs:
            self.judge.addItem(spec)
        self.judge.setCurrentText(current)
        self.judge.blockSignals(False)

    def judge_spec(self) -> str | None:
        text = self.judge.currentText().strip()
        if not text or text == DEFAULT_JUDGE:
            return None
        parse_target(text)
        return text

    def options(self) -> RunOptions:
        temperature = self.temperature.value()
        return RunOptions(targets=self.target_specs(), repeat=self.repeat.value(),
                          temperature=None if temperature < 0 else temperature,
                          max_tokens=self.max_tokens.value(), judge=self.judge_spec(),
                          concurrency=self.concurrency.value())
