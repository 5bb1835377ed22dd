"""The Library page: every GGUF model on this machine (the Hugging Face cache, added folders,
LM Studio, Ollama, GPT4All, Jan), with Open in Chat, Show in folder and Delete.

LoRA adapters found there are listed as adapters (Kind: "LoRA adapter · llama · rank 8"), with
the listed models each one fits; Open in Chat on an adapter opens a model it fits with the
adapter in the Chat page's side panel. An adapter is never offered to load as a model.

The scan reads GGUF headers, so it runs off the GUI thread (``BackgroundCall``); the page scans
when it is first shown and on Rescan.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.hub import LocalModel, delete_model, reveal, scan_library
from workbench.present.numbers import format_bytes, format_count
from workbench.ui.background import BackgroundCall
from workbench.ui.icons import icon
from workbench.ui.widgets import (
    confirm,
    make_primary,
    page_title,
    plain_label,
    plain_tip,
    row_table,
)

Scanner = Callable[[], list[LocalModel]]
COLUMNS = ("Name", "Kind", "Quant", "Size", "Architecture", "Parameters", "Context", "Source",
           "Status", "Last used")
KIND_COLUMN, STATUS_COLUMN = COLUMNS.index("Kind"), COLUMNS.index("Status")


def parameters_text(count: int | None) -> str:
    return format_count(count) if count else ""


def kind_text(model: LocalModel) -> str:
    """"Model", or "LoRA adapter · llama · rank 8"."""
    if not model.is_adapter:
        return "Model"
    parts = ["LoRA adapter"]
    if model.architecture:
        parts.append(model.architecture)
    if model.adapter_rank:
        parts.append(f"rank {model.adapter_rank}")
    return " · ".join(parts)


def fits_text(model: LocalModel, names: dict[str, str], most: int | None = None) -> str:
    """An adapter's "fits: SmolLM2-135M-Instruct-Q4_1, …" (``names``: model path -> name);
    with ``most``, that many names and "and N more" (a table cell that stays narrow)."""
    if not model.fits:
        return "fits none of the models listed"
    fitting = [names.get(path, Path(path).name) for path in model.fits]
    if most is not None and len(fitting) > most:
        return f"fits: {', '.join(fitting[:most])} and {len(fitting) - most} more"
    return "fits: " + ", ".join(fitting)


def row_values(model: LocalModel, names: dict[str, str] | None = None) -> list[str]:
    status = model.status if not model.problem else f"{model.status}: {model.problem}"
    if model.is_adapter and model.status == "ok":
        status = fits_text(model, names or {}, most=2)
    return [model.name, kind_text(model), model.quant or "", format_bytes(model.size),
            model.architecture or "", parameters_text(model.parameters),
            str(model.context_length) if model.context_length else "", model.source, status,
            (model.last_used or "")[:16].replace("T", " ")]


class LibraryPage(QWidget):
    statusMessage = Signal(str)
    openRequested = Signal(str)  # a model path, to open on the Chat page
    # (model path, adapter path): open the model on the Chat page with the LoRA adapter
    openAdapterRequested = Signal(str, str)
    scanned = Signal(object)  # list[LocalModel]

    def __init__(self, scanner: Scanner | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scanner = scanner or partial(scan_library, adapters=True)
        self.models: list[LocalModel] = []
        self.scanned_once = False
        self._call: BackgroundCall | None = None

        title = page_title("Models on this machine", self)
        self.state_label = plain_label("", self)
        self.state_label.setAccessibleName("Library state")
        self.rescan_button = QPushButton("Rescan", self)
        self.rescan_button.setAccessibleName("Scan for models again")
        self.rescan_button.clicked.connect(lambda: self.refresh(force=True))
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.state_label)
        header.addWidget(self.rescan_button)

        self.table = row_table(COLUMNS, "Local models", self)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda *_: self.open_selected())

        self.open_button = make_primary(QPushButton("Open in Chat", self))
        self.open_button.setIcon(icon("chat"))
        self.open_button.setAccessibleName("Open the selected model in Chat")
        self.open_button.clicked.connect(self.open_selected)
        self.reveal_button = QPushButton("Show in folder", self)
        self.reveal_button.setAccessibleName("Show the selected model in its folder")
        self.reveal_button.clicked.connect(self.reveal_selected)
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.setAccessibleName("Delete the selected model's files")
        self.delete_button.clicked.connect(self.delete_selected)
        self.path_label = plain_label("", self)
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setAccessibleName("Selected model's file")
        buttons = QHBoxLayout()
        buttons.addWidget(self.path_label, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.reveal_button)
        buttons.addWidget(self.delete_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(header)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    # -- scanning --------------------------------------------------------------------------
    @property
    def scanning(self) -> bool:
        return self._call is not None

    def refresh(self, force: bool = False) -> None:
        if self._call is not None or (self.scanned_once and not force):
            return
        self.state_label.setText("Scanning…")
        self.rescan_button.setEnabled(False)
        self._call = BackgroundCall(self._scanner, self, name="workbench-library")
        self._call.finished.connect(self._on_scanned)
        self._call.failed.connect(self._on_failed)
        self._call.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def _on_scanned(self, models: list[LocalModel]) -> None:
        self._call = None
        self.scanned_once = True
        self.rescan_button.setEnabled(True)
        self.models = list(models)
        total = sum(m.size for m in self.models)
        n_adapters = sum(m.is_adapter for m in self.models)
        counted = f"{len(self.models) - n_adapters} models"
        if n_adapters:
            counted += f", {n_adapters} LoRA adapter{'s' if n_adapters > 1 else ''}"
        self.state_label.setText(f"{counted}, {format_bytes(total)}")
        self.table.setRowCount(0)
        names = self.model_names()
        for model in self.models:
            row = self.table.rowCount()
            self.table.insertRow(row)
            for column, value in enumerate(row_values(model, names)):
                item = QTableWidgetItem(value)
                tip = model.path if column == 0 else value
                if column == STATUS_COLUMN and model.is_adapter and model.status == "ok":
                    tip = fits_text(model, names)  # every model it fits
                item.setToolTip(plain_tip(tip))
                self.table.setItem(row, column, item)
        self._update_buttons()
        self.scanned.emit(self.models)

    def _on_failed(self, err: BaseException) -> None:
        self._call = None
        self.scanned_once = True
        self.rescan_button.setEnabled(True)
        self.state_label.setText(f"Scan failed: {err}")
        self.statusMessage.emit(f"The library scan failed: {err}")

    # -- actions ---------------------------------------------------------------------------
    def selected(self) -> LocalModel | None:
        row = self.table.currentRow()
        return self.models[row] if 0 <= row < len(self.models) else None

    def model_names(self) -> dict[str, str]:
        """Path -> name of the models listed (not the adapters)."""
        return {m.path: m.name for m in self.models if not m.is_adapter}

    def base_for(self, adapter: LocalModel) -> LocalModel | None:
        """The listed model an adapter opens with: of those it fits, the one used last."""
        fitting = [m for m in self.models if m.path in adapter.fits and not m.is_adapter]
        if not fitting:
            return None
        return max(fitting, key=lambda m: m.last_used or "")

    def _update_buttons(self) -> None:
        model = self.selected()
        usable = model is not None and model.status == "ok"
        if model is not None and model.is_adapter:
            base = self.base_for(model) if usable else None
            self.open_button.setEnabled(base is not None)
            self.open_button.setToolTip(
                f"Open {base.name} in Chat with this LoRA adapter" if base is not None else
                "None of the models listed fits this adapter: there is nothing to open it with.")
            fits = fits_text(model, self.model_names()) if usable else model.status
            self.path_label.setText(f"{model.path}\nLoRA adapter, {fits}")
        else:
            self.open_button.setEnabled(usable)
            self.open_button.setToolTip("Open the selected model in Chat")
            self.path_label.setText(model.path if model else "")
        self.reveal_button.setEnabled(model is not None)
        self.delete_button.setEnabled(model is not None and model.deletable)
        self.delete_button.setToolTip(model.delete_note or "" if model else "")

    def open_selected(self) -> None:
        model = self.selected()
        if model is None or model.status != "ok":
            return
        if model.is_adapter:
            base = self.base_for(model)
            if base is not None:
                self.openAdapterRequested.emit(base.path, model.path)
            return
        self.openRequested.emit(model.path)

    def reveal_selected(self) -> None:
        model = self.selected()
        if model is None:
            return
        try:
            reveal(model.path)
        except WorkbenchError as err:
            self.statusMessage.emit(str(err))

    def confirm_delete(self, model: LocalModel) -> bool:
        return confirm(self, "Delete the model?",
                       f"Delete {model.name} ({format_bytes(model.size)})? Its files are removed "
                       "from disk:\n" + "\n".join(model.files))

    def delete_selected(self) -> None:
        model = self.selected()
        if model is None or not model.deletable or not self.confirm_delete(model):
            return
        try:
            deleted = delete_model(model)
        except WorkbenchError as err:
            self.statusMessage.emit(str(err))
            return
        self.statusMessage.emit(f"Deleted {len(deleted)} file(s) of {model.name}.")
        self.refresh(force=True)
