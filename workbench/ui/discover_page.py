"""The Discover page: search Hugging Face for GGUF models, list a repository's variants with
their fit on this machine (full GPU, partial offload, CPU only, does not fit: text, never colour
alone), memory and predicted speed, and queue a download.

Every Hub call runs off the GUI thread (``BackgroundCall``); offline mode makes them fail with
a clear message (``workbench.hub`` checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.hub import (
    RepoListing,
    RepoSummary,
    Variant,
    VariantPlan,
    plan_variants,
    repo_listing,
    search_models,
)
from workbench.ui.background import BackgroundCall
from workbench.ui.downloads import DownloadsController
from workbench.ui.library_page import parameters_text
from workbench.ui.metric_text import format_bytes

Planner = Callable[[Sequence[Variant], int], dict[str, VariantPlan]]
FIT_TEXT = {"full_gpu": "Fits on the GPU", "partial": "Partial offload", "cpu_only": "CPU only",
            "too_large": "Does not fit"}
REPO_COLUMNS = ("Repository", "Downloads", "Likes", "Architecture", "Parameters", "Licence",
                "Access")
VARIANT_COLUMNS = ("File", "Quant", "Size", "Fit here", "Memory", "Speed (predicted)")


def default_planner(variants: Sequence[Variant], ctx: int) -> dict[str, VariantPlan]:
    return plan_variants(variants, ctx=ctx)


def fit_text(plan: VariantPlan | None) -> str:
    if plan is None:
        return ""
    if plan.error:
        return f"unknown: {plan.error}"
    text = FIT_TEXT.get(plan.fit or "", plan.fit or "unknown")
    if plan.fit == "partial" and plan.n_gpu_layers is not None and plan.n_layers:
        text += f" ({plan.n_gpu_layers} of {plan.n_layers} layers)"
    if plan.n_ctx:
        text += f", context {plan.n_ctx}"
    return text


def memory_text(plan: VariantPlan | None) -> str:
    if plan is None or not plan.memory:
        return ""
    total = plan.memory.get("total_bytes") or sum(
        v for k, v in plan.memory.items() if isinstance(v, int) and k.endswith("_bytes"))
    return format_bytes(total)


def speed_text(plan: VariantPlan | None) -> str:
    if plan is None:
        return ""
    if plan.speed and plan.speed.get("tg_tokens_per_s"):
        return f"≈ {plan.speed['tg_tokens_per_s']:.1f} tok/s"
    return plan.speed_note or ""


def _table(columns: Sequence[str], name: str, parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(list(columns))
    table.setAccessibleName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            table.setItem(r, c, item)


class DiscoverPage(QWidget):
    statusMessage = Signal(str)
    searched = Signal(object)  # list[RepoSummary]
    listed = Signal(object)  # RepoListing
    planned = Signal(object)  # dict[str, VariantPlan]
    downloadQueued = Signal(object)  # DownloadJob

    def __init__(self, downloads: DownloadsController, parent: QWidget | None = None, *,
                 planner: Planner | None = None) -> None:
        super().__init__(parent)
        self.downloads = downloads
        self._planner = planner or default_planner
        self.results: list[RepoSummary] = []
        self.listing: RepoListing | None = None
        self.variants: list[Variant] = []
        self.plans: dict[str, VariantPlan] = {}
        self._calls: set[BackgroundCall] = set()

        self.query = QLineEdit(self)
        self.query.setPlaceholderText("Search Hugging Face for GGUF models, e.g. qwen2.5 7b")
        self.query.setAccessibleName("Search query")
        self.query.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search", self)
        self.search_button.clicked.connect(self.search)
        self.state_label = QLabel("", self)
        self.state_label.setAccessibleName("Discover state")
        self.state_label.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.search_button)

        self.repos = _table(REPO_COLUMNS, "Search results", self)
        self.repos.itemSelectionChanged.connect(self._repo_chosen)
        self.repo_title = QLabel("", self)
        self.repo_title.setWordWrap(True)
        self.context = QSpinBox(self)
        self.context.setRange(512, 1_048_576)
        self.context.setSingleStep(1024)
        self.context.setValue(4096)
        self.context.setPrefix("plan for context ")
        self.context.setAccessibleName("Context to plan for")
        self.context.editingFinished.connect(self._plan)
        self.variant_table = _table(VARIANT_COLUMNS, "Variants", self)
        self.variant_table.itemSelectionChanged.connect(self._update_buttons)
        self.download_button = QPushButton("Download", self)
        self.download_button.setAccessibleName("Download the selected variant")
        self.download_button.clicked.connect(self.download_selected)
        variant_bar = QHBoxLayout()
        variant_bar.addWidget(self.repo_title, 1)
        variant_bar.addWidget(self.context)
        variant_bar.addWidget(self.download_button)
        lower = QWidget(self)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(variant_bar)
        lower_layout.addWidget(self.variant_table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.repos)
        splitter.addWidget(lower)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(top)
        layout.addWidget(self.state_label)
        layout.addWidget(splitter, 1)
        self._update_buttons()

    def _run(self, fn: Callable[[], Any], done: Callable[[Any], None], what: str) -> None:
        call = BackgroundCall(fn, self, name=f"workbench-discover-{what}")
        self._calls.add(call)

        def finished(result: Any) -> None:
            self._calls.discard(call)
            done(result)

        def failed(err: BaseException) -> None:
            self._calls.discard(call)
            self.state_label.setText(f"{what} failed: {err}")
            self.statusMessage.emit(f"{what} failed: {err}")
            self.search_button.setEnabled(True)

        call.finished.connect(finished)
        call.failed.connect(failed)
        call.start()

    @property
    def busy(self) -> bool:
        return bool(self._calls)

    # -- search ----------------------------------------------------------------------------
    def search(self) -> None:
        query = self.query.text().strip()
        if not query:
            return
        self.search_button.setEnabled(False)
        self.state_label.setText(f"Searching for {query!r}…")
        self._run(lambda: search_models(query, limit=30), self._on_results, "Search")

    def _on_results(self, results: list[RepoSummary]) -> None:
        self.search_button.setEnabled(True)
        self.results = list(results)
        _fill(self.repos, [(r.repo_id, f"{r.downloads or 0:,}", f"{r.likes or 0:,}",
                            r.architecture or "", parameters_text(r.parameters),
                            r.license or "", "gated" if r.gated else "open")
                           for r in self.results])
        self.state_label.setText(f"{len(self.results)} repositories" if self.results
                                 else "Nothing found.")
        self.searched.emit(self.results)

    # -- one repository --------------------------------------------------------------------
    def _repo_chosen(self) -> None:
        row = self.repos.currentRow()
        if not 0 <= row < len(self.results):
            return
        self.open_repo(self.results[row].repo_id)

    def open_repo(self, repo_id: str) -> None:
        self.listing, self.variants, self.plans = None, [], {}
        self.variant_table.setRowCount(0)
        self.repo_title.setText(f"{repo_id}: listing files…")
        self._run(lambda: repo_listing(repo_id), self._on_listing, "Listing")

    def _on_listing(self, listing: RepoListing) -> None:
        self.listing = listing
        self.variants = [v for v in listing.variants if v.kind == "model"]
        self.repo_title.setText(f"{listing.repo_id} ({len(self.variants)} GGUF variants"
                                + (", gated" if listing.gated else "") + ")")
        self._show_variants()
        self.listed.emit(listing)
        self._plan()

    def _plan(self) -> None:
        if not self.variants:
            return
        variants, ctx = list(self.variants), self.context.value()
        self.state_label.setText("Reading the variants' headers to plan them on this machine…")
        self._run(lambda: self._planner(variants, ctx), self._on_plans, "Planning")

    def _on_plans(self, plans: dict[str, VariantPlan]) -> None:
        self.plans = dict(plans)
        self.state_label.setText("Fit, memory and speed are planned for this machine.")
        self._show_variants()
        self.planned.emit(self.plans)

    def _show_variants(self) -> None:
        rows = []
        for variant in self.variants:
            plan = self.plans.get(variant.name)
            name = variant.name + ("" if variant.complete else " (incomplete split set)")
            rows.append((name, variant.quant or "", format_bytes(variant.size),
                         fit_text(plan), memory_text(plan), speed_text(plan)))
        _fill(self.variant_table, rows)
        self._update_buttons()

    # -- download --------------------------------------------------------------------------
    def selected_variant(self) -> Variant | None:
        row = self.variant_table.currentRow()
        return self.variants[row] if 0 <= row < len(self.variants) else None

    def _update_buttons(self) -> None:
        variant = self.selected_variant()
        self.download_button.setEnabled(variant is not None and variant.complete)

    def download_selected(self) -> None:
        variant = self.selected_variant()
        if variant is None or self.listing is None or not variant.complete:
            return
        try:
            job = self.downloads.add(self.listing.repo_id, variant, self.listing.revision)
        except Exception as err:  # shown, never a dead window
            self.statusMessage.emit(f"the download could not be queued: {err}")
            return
        self.statusMessage.emit(f"Queued {variant.name}: see the Downloads page.")
        self.downloadQueued.emit(job)
