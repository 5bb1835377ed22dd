"""The Discover page: what this machine runs well (the catalog's recommendations), a Hugging
Face search for GGUF models, a repository's variants with their fit on this machine (full GPU,
partial offload, CPU only, does not fit: text, never colour alone), GPU layers, memory and
predicted speed, and for the selected file a detail panel (memory bars against free VRAM and
RAM, the plan in words, speed, licence); one click queues its download.

Every Hub call and the recommender run off the GUI thread (ui/background.py: a search, or a
repository's listing and plan, supersedes the one before, whose late result is dropped); offline
mode makes Hub calls fail with a clear message (``workbench.hub`` checks it), keeps the
recommendations (they come from the local catalog) and disables Download with its reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QPalette, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.hub import (
    RepoListing,
    RepoSummary,
    Variant,
    VariantPlan,
    plan_variants,
    repo_listing,
    search_models,
)
from workbench.hub.quant import select_variant
from workbench.net.offline import is_offline
from workbench.planner.recommend import Recommendation, recommend
from workbench.present.numbers import format_bytes
from workbench.present.plans import (
    device_parts,
    device_text,
    fit_badge,
    fit_text,
    gpu_layers_text,
    memory_text,
    plan_words,
    recommendation_row,
    speed_detail,
    speed_text,
)
from workbench.ui.background import BackgroundCall, TaskRunner
from workbench.ui.downloads import DownloadsController
from workbench.ui.icons import icon
from workbench.ui.library_page import parameters_text
from workbench.ui.memory_preview import MemoryBar
from workbench.ui.style import ERROR_HUE, blend, css
from workbench.ui.widgets import make_card, make_primary, plain_label, row_table

Planner = Callable[[Sequence[Variant], int], dict[str, VariantPlan]]
DiscoverRecommender = Callable[[], list[Recommendation]]
RECOMMEND_LIMIT = 12
REPO_COLUMNS = ("Repository", "Downloads", "Likes", "Architecture", "Parameters", "Licence",
                "Access")
VARIANT_COLUMNS = ("File", "Quant", "Size", "Fit here", "GPU layers", "Memory",
                   "Generation speed")
RECOMMEND_COLUMNS = ("Model", "Quant", "Size", "Fit here", "Generation speed", "Licence",
                     "Quality")
OFFLINE_REASON = "Offline mode is on: downloads wait until it is turned off in Settings."
SPEED_TIP = ("Generation speed (tokens per second after the prompt), worked out before any "
             "download: ≈ predicted from this CPU's kernel profile (or a calibration); ≤ an upper "
             "bound from this "
             "machine's memory bandwidth, not a prediction; ~ a rough GPU estimate; or measured "
             "by a stored benchmark of the file.")


def default_planner(variants: Sequence[Variant], ctx: int) -> dict[str, VariantPlan]:
    return plan_variants(variants, ctx=ctx)


def default_recommender() -> list[Recommendation]:
    """The catalog's best files for this machine (the real detector and planner)."""
    from workbench.hardware import detect

    return recommend(detect(), limit=RECOMMEND_LIMIT)


def profiling_recommender() -> list[Recommendation]:
    """The same, after measuring this CPU's kernel profile for the weight types the catalog
    uses where it is not stored yet (under a minute, once): speeds become predictions."""
    from workbench.errors import RuntimeFailure
    from workbench.hardware import detect
    from workbench.planner.speed import Predictor

    predictor = Predictor(profile_missing=True)
    results = recommend(detect(), limit=RECOMMEND_LIMIT, predictor=predictor)
    if predictor.profile_error:
        raise RuntimeFailure(predictor.profile_error)
    return results


def hub_offline_reason(offline: bool = False) -> str | None:
    """Why nothing can be downloaded now (offline mode), or None."""
    if offline or is_offline():
        return OFFLINE_REASON
    return None


def fit_colour(palette: QPalette, fit: str | None) -> QColor:
    """The fit's background, blended from the palette (always shown with its words)."""
    window = palette.color(QPalette.ColorRole.Window)
    highlight = palette.color(QPalette.ColorRole.Highlight)
    if fit == "full_gpu":
        return blend(window, highlight, 0.45)
    if fit == "partial":
        return blend(window, highlight, 0.22)
    if fit == "too_large":
        return blend(window, ERROR_HUE, 0.35)
    return blend(window, palette.color(QPalette.ColorRole.Mid), 0.35)


def _fill(table: QTableWidget, rows: list[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            table.setItem(r, c, item)


def _label(parent: QWidget, name: str, tip: str = "") -> QLabel:
    label = plain_label("", parent)
    label.setAccessibleName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if tip:
        label.setToolTip(tip)
    return label


class FitBadge(QLabel):
    """The fit in words on a small palette-derived background (never colour alone)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.setAccessibleName("Fit on this machine")
        self.setToolTip("Where llama.cpp would put this file on this machine: all layers on "
                        "the GPU, some of them (partial offload), the CPU only, or nowhere.")
        self.fit: str | None = None

    def set_fit(self, fit: str | None, text: str) -> None:
        self.fit = fit
        self.setText(text)
        palette = self.palette()
        back = fit_colour(palette, fit)
        border = blend(back, palette.color(QPalette.ColorRole.WindowText), 0.3)
        self.setStyleSheet(f"QLabel {{ background: {css(back)}; border: 1px solid {css(border)};"
                           " border-radius: 4px; padding: 1px 6px; }")


class VariantDetail(QWidget):
    """The selected file: fit badge, plan in words, memory bars (GPU and RAM), speed, licence."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Selected file")
        make_card(self)
        self.hint = _label(self, "Selected file hint")
        self.badge = FitBadge(self)
        self.plan_label = _label(self, "Plan in words")
        self.gpu_title = QLabel("GPU", self)
        self.gpu_bar = MemoryBar("GPU memory needed", self)
        self.gpu_text = _label(self, "GPU memory breakdown")
        self.cpu_title = QLabel("RAM", self)
        self.cpu_bar = MemoryBar("RAM needed", self)
        self.cpu_text = _label(self, "RAM breakdown")
        self.speed_label = _label(self, "Generation speed", SPEED_TIP)
        self.licence_label = _label(self, "Licence",
                                    "The repository's licence as its model card states it: "
                                    "read it before you use the model.")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.badge)
        top.addWidget(self.plan_label, 1)
        rows = QFormLayout()
        rows.setContentsMargins(0, 0, 0, 0)
        rows.addRow(self.gpu_title, self.gpu_bar)
        rows.addRow(self.gpu_text)
        rows.addRow(self.cpu_title, self.cpu_bar)
        rows.addRow(self.cpu_text)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addWidget(self.hint)
        layout.addLayout(top)
        layout.addLayout(rows)
        layout.addWidget(self.speed_label)
        layout.addWidget(self.licence_label)
        self.setToolTip("Memory llama.cpp would allocate for this file, estimated from its "
                        "header: weights, KV cache (grows with the context) and compute, on the "
                        "GPU and in RAM, against the memory that was free when it was planned.")
        self.show_plan(None, None, None)

    def show_plan(self, variant: Variant | None, plan: VariantPlan | None,
                  licence: str | None, *, planning: bool = False) -> None:
        has_plan = plan is not None and not plan.error and plan.memory is not None
        on_gpu = has_plan and plan is not None and plan.free_vram_bytes is not None
        for widget in (self.badge, self.plan_label, self.speed_label, self.licence_label):
            widget.setVisible(variant is not None)
        for widget in (self.cpu_title, self.cpu_bar, self.cpu_text):
            widget.setVisible(has_plan)
        for widget in (self.gpu_title, self.gpu_bar, self.gpu_text):
            widget.setVisible(on_gpu)
        if variant is None:
            self.hint.setText("Select a file to see its memory, GPU layers, speed and licence.")
            self.hint.setVisible(True)
            return
        self.hint.setVisible(plan is None)
        self.hint.setText("Planning this file on this machine…" if planning else
                          "Not planned: only complete model files are planned."
                          if not variant.complete else "Not planned yet.")
        self.licence_label.setText(f"Licence: {licence or 'not stated on the model card'}")
        if plan is None:
            self.badge.set_fit(None, fit_badge(None, planning=planning))
            self.plan_label.setText("")
            self.speed_label.setText("")
            return
        self.badge.set_fit(plan.fit if not plan.error else None, fit_badge(plan))
        self.plan_label.setText(plan_words(plan))
        self.speed_label.setText(speed_detail(plan))
        memory = plan.memory
        if not has_plan or memory is None:
            return
        parts = device_parts(memory, "cpu")
        text = device_text(memory, "cpu", plan.free_ram_bytes)
        self.cpu_bar.set_parts(parts, plan.free_ram_bytes, text)
        self.cpu_text.setText(text)
        if on_gpu:
            parts = device_parts(memory, "gpu")
            text = device_text(memory, "gpu", plan.free_vram_bytes)
            self.gpu_bar.set_parts(parts, plan.free_vram_bytes, text)
            self.gpu_text.setText(text)


class DiscoverPage(QWidget):
    statusMessage = Signal(str)
    searched = Signal(object)  # list[RepoSummary]
    listed = Signal(object)  # RepoListing
    planned = Signal(object)  # dict[str, VariantPlan]
    recommended = Signal(object)  # list[Recommendation] (empty when it failed)
    downloadQueued = Signal(object)  # DownloadJob

    def __init__(self, downloads: DownloadsController, parent: QWidget | None = None, *,
                 planner: Planner | None = None,
                 recommender: DiscoverRecommender | None = None,
                 profiler: DiscoverRecommender | None = None,
                 offline: bool = False) -> None:
        super().__init__(parent)
        self.downloads = downloads
        self._planner = planner or default_planner
        self._recommender = recommender or default_recommender
        self._profiler = profiler or profiling_recommender
        self.offline = offline
        self.results: list[RepoSummary] = []
        self.recommendations: list[Recommendation] = []
        self.recommend_error: str | None = None
        self.listing: RepoListing | None = None
        self.variants: list[Variant] = []
        self.plans: dict[str, VariantPlan] = {}
        self.planning = False
        self._wanted_file: str | None = None  # the file to select once the listing arrives
        # "search", and "repo" (listing, then planning, the open repository): a new request
        # drops the result of the one before under its key
        self._tasks = TaskRunner(self, name="workbench-discover")
        self._recommending: BackgroundCall | None = None
        self._recommend_started = 0.0
        self._profiling = False
        self.profile_error: str | None = None  # why the last "Predict speeds" failed

        self.query = QLineEdit(self)
        self.query.setPlaceholderText("Search Hugging Face for GGUF models, e.g. qwen2.5 7b")
        self.query.setAccessibleName("Search query")
        self.query.setToolTip("Search the Hugging Face Hub for GGUF repositories (Enter). Clear "
                              "the box to see the recommendations for this machine again.")
        self.query.setClearButtonEnabled(True)
        self.query.returnPressed.connect(self.search)
        self.query.textChanged.connect(self._query_changed)
        self.search_button = QPushButton("Search", self)
        self.search_button.setAccessibleName("Search the Hub")
        self.search_button.setToolTip("Search the Hugging Face Hub for GGUF repositories")
        self.search_button.clicked.connect(self.search)
        find = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        find.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.activated.connect(self._focus_search)
        self.state_label = plain_label("", self)
        self.state_label.setAccessibleName("Discover state")
        self.state_label.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.search_button)

        # the upper area: recommendations (empty search) or search results
        self.recommend_panel = QWidget(self)
        self.recommend_title = QLabel("Recommended for this machine", self.recommend_panel)
        bold = self.recommend_title.font()
        bold.setBold(True)
        self.recommend_title.setFont(bold)
        self.recommend_title.setAccessibleName("Recommendations heading")
        self.recommend_state = _label(self.recommend_panel, "Recommendations state")
        self.profile_button = QPushButton("Predict speeds on this CPU", self.recommend_panel)
        self.profile_button.setAccessibleName("Predict speeds on this CPU")
        self.profile_button.setToolTip(
            "Speeds marked ≤ are upper bounds (memory bandwidth), not predictions. This times "
            "llama.cpp's matrix kernels on this CPU for the weight types the catalog uses "
            "(once, under a minute; kept), and then prices every model's own compute graph "
            "with them.")
        self.profile_button.clicked.connect(lambda: self.recommend(profile=True))
        self.profile_button.setVisible(False)
        state_row = QHBoxLayout()
        state_row.addWidget(self.recommend_state, 1)
        state_row.addWidget(self.profile_button)
        self.recommend_table = row_table(RECOMMEND_COLUMNS, "Recommended for this machine",
                                      self.recommend_panel)
        self.recommend_table.setToolTip(
            "The curated catalog's best file per model for this machine: usable speed first, "
            "then fit, then expected quality. Choose one to open its repository.")
        self.recommend_table.itemSelectionChanged.connect(self._recommendation_chosen)
        self.recommend_table.itemActivated.connect(lambda _item: self._recommendation_chosen())
        panel_layout = QVBoxLayout(self.recommend_panel)
        panel_layout.setContentsMargins(0, 0, 0, 0)
        panel_layout.addWidget(self.recommend_title)
        panel_layout.addLayout(state_row)
        panel_layout.addWidget(self.recommend_table, 1)
        self.repos = row_table(REPO_COLUMNS, "Search results", self)
        self.repos.itemSelectionChanged.connect(self._repo_chosen)
        self.upper = QStackedWidget(self)
        self.upper.addWidget(self.recommend_panel)
        self.upper.addWidget(self.repos)
        self._progress = QTimer(self)
        self._progress.setInterval(1000)
        self._progress.timeout.connect(self._show_recommendations)

        self.repo_title = plain_label("", self)
        self.repo_title.setWordWrap(True)
        self.repo_title.setAccessibleName("Repository")
        self.context = QSpinBox(self)
        self.context.setRange(512, 1_048_576)
        self.context.setSingleStep(1024)
        self.context.setValue(4096)
        self.context.setPrefix("plan for context ")
        self.context.setAccessibleName("Context to plan for")
        self.context.setToolTip("The context length (tokens) the files are planned for: the KV "
                                "cache grows with it. Press Enter to plan again.")
        self.context.editingFinished.connect(self._plan)
        self.variant_table = row_table(VARIANT_COLUMNS, "Variants", self)
        self.variant_table.setToolTip("The repository's GGUF files, planned on this machine")
        self.variant_table.itemSelectionChanged.connect(self._variant_chosen)
        self.download_button = make_primary(QPushButton("Download", self))
        self.download_button.setIcon(icon("downloads"))
        self.download_button.setAccessibleName("Download the selected variant")
        self.download_button.setToolTip("Queue the selected file (see the Downloads page)")
        self.download_button.clicked.connect(self.download_selected)
        self.download_reason = _label(self, "Why Download is disabled")
        self.detail = VariantDetail(self)
        variant_bar = QHBoxLayout()
        variant_bar.addWidget(self.repo_title, 1)
        variant_bar.addWidget(self.context)
        variant_bar.addWidget(self.download_button)
        lower = QWidget(self)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(variant_bar)
        lower_layout.addWidget(self.download_reason)
        lower_layout.addWidget(self.variant_table, 1)
        lower_layout.addWidget(self.detail)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.upper)
        splitter.addWidget(lower)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(top)
        layout.addWidget(self.state_label)
        layout.addWidget(splitter, 1)
        self._show_recommendations()
        self._update_buttons()

    def _run(self, fn: Callable[[], Any], done: Callable[[Any], None], what: str,
             key: str) -> None:
        def failed(err: BaseException) -> None:
            self.state_label.setText(f"{what} failed: {err}")
            self.statusMessage.emit(f"{what} failed: {err}")
            self.search_button.setEnabled(True)
            if what == "Planning":
                self.planning = False
                self._show_detail()

        self._tasks.run(lambda _progress, _cancel: fn(), key=key, on_result=done,
                        on_error=failed, name=f"workbench-discover-{what}")

    @property
    def busy(self) -> bool:
        return not self._tasks.idle() or self._recommending is not None

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.recommendations and self.recommend_error is None:
            self.recommend()
        self._update_buttons()  # offline mode may have changed meanwhile

    def set_offline(self, offline: bool) -> None:
        """Follow the offline setting (Download is disabled with its reason while it is on)."""
        self.offline = offline
        self._update_buttons()

    def _focus_search(self) -> None:
        self.query.setFocus()
        self.query.selectAll()

    # -- recommendations -------------------------------------------------------------------
    def recommend(self, *, profile: bool = False) -> None:
        """Plan the catalog for this machine (off the GUI thread) and list the best files;
        ``profile``: measure this CPU's kernel profile first where it is missing."""
        if self._recommending is not None:
            return
        self._profiling = profile
        call = BackgroundCall(self._profiler if profile else self._recommender, self,
                              name="workbench-discover-recommend")
        call.finished.connect(self._on_recommended)
        call.failed.connect(self._on_recommend_failed)
        self._recommending = call
        self._recommend_started = time.monotonic()
        self._progress.start()
        self._show_recommendations()
        call.start()

    def _on_recommended(self, results: list[Recommendation]) -> None:
        self._recommending = None
        if self._profiling:
            self.profile_error = None
        self._progress.stop()
        self.recommendations = list(results)
        self.recommend_error = None if results else \
            "no catalog model fits this machine's free memory"
        self._show_recommendations()
        self.recommended.emit(self.recommendations)

    def _on_recommend_failed(self, err: BaseException) -> None:
        self._recommending = None
        self._progress.stop()
        reason = str(err) if isinstance(err, WorkbenchError) else f"{type(err).__name__}: {err}"
        if self._profiling:  # the list planned before stays; only its speeds stay bounds
            self.profile_error = reason
            self._show_recommendations()
            return
        self.recommendations = []
        self.recommend_error = reason
        self._show_recommendations()
        self.recommended.emit([])

    def _show_recommendations(self) -> None:
        if self._recommending is not None:
            seconds = time.monotonic() - self._recommend_started
            self.recommend_state.setText(
                "Timing this CPU's matrix kernels for the speed preview (once, under a "
                f"minute), then planning every catalog model… {seconds:.0f} s"
                if self._profiling else "Planning every catalog model on this machine (fit, "
                f"speed, quality)… {seconds:.0f} s")
        elif self.recommend_error:
            self.recommend_state.setText(f"No recommendations: {self.recommend_error}")
        elif self.recommendations:
            self.recommend_state.setText(
                "From the curated catalog, planned for this machine (usable speed first, then "
                "fit, then expected quality). Choose one to see its files."
                + (f" Speeds not predicted: {self.profile_error}" if self.profile_error
                   else ""))
        else:
            self.recommend_state.setText("The recommendations appear when the page is shown.")
        self.profile_button.setVisible(self._recommending is None and any(
            r.speed.kind == "upper bound" for r in self.recommendations))
        rows = [recommendation_row(r) for r in self.recommendations]
        if self.recommend_table.rowCount() != len(rows) or self._recommending is None:
            self.recommend_table.blockSignals(True)
            _fill(self.recommend_table, rows)
            for r, rec in enumerate(self.recommendations):
                self._paint_fit(self.recommend_table.item(r, 3), rec.fit)
            self.recommend_table.blockSignals(False)

    def _recommendation_chosen(self) -> None:
        row = self.recommend_table.currentRow()
        if 0 <= row < len(self.recommendations):
            self.open_recommendation(self.recommendations[row])

    def open_recommendation(self, rec: Recommendation) -> None:
        """Open the recommended file's repository with that file selected."""
        self.open_repo(rec.entry.repo, select=rec.repo_filename)

    # -- search ----------------------------------------------------------------------------
    def _query_changed(self, text: str) -> None:
        if not text.strip():
            self.upper.setCurrentWidget(self.recommend_panel)
            self.state_label.setText("")

    def search(self) -> None:
        query = self.query.text().strip()
        if not query:
            self.upper.setCurrentWidget(self.recommend_panel)
            return
        self.search_button.setEnabled(False)
        self.state_label.setText(f"Searching for {query!r}…")
        self._run(lambda: search_models(query, limit=30), self._on_results, "Search", "search")

    def _on_results(self, results: list[RepoSummary]) -> None:
        self.search_button.setEnabled(True)
        self.results = list(results)
        self.repos.blockSignals(True)
        _fill(self.repos, [(r.repo_id, f"{r.downloads or 0:,}", f"{r.likes or 0:,}",
                            r.architecture or "", parameters_text(r.parameters),
                            r.license or "", "gated" if r.gated else "open")
                           for r in self.results])
        self.repos.blockSignals(False)
        if self.query.text().strip():  # cleared meanwhile: the recommendations stay
            self.upper.setCurrentWidget(self.repos)
        self.state_label.setText(f"{len(self.results)} repositories" if self.results
                                 else "Nothing found.")
        self.searched.emit(self.results)

    # -- one repository --------------------------------------------------------------------
    def _repo_chosen(self) -> None:
        row = self.repos.currentRow()
        if not 0 <= row < len(self.results):
            return
        self.open_repo(self.results[row].repo_id)

    def open_repo(self, repo_id: str, *, select: str | None = None) -> None:
        """List ``repo_id``'s files (off the GUI thread) and plan them; ``select``: the file
        (any shard's path) to select once they are listed."""
        self.listing, self.variants, self.plans = None, [], {}
        self._wanted_file = select
        self.variant_table.setRowCount(0)
        self.repo_title.setText(f"{repo_id}: listing files…")
        self._show_detail()
        self._update_buttons()
        self._run(lambda: repo_listing(repo_id), self._on_listing, "Listing", "repo")

    def _on_listing(self, listing: RepoListing) -> None:
        self.listing = listing
        self.variants = [v for v in listing.variants if v.kind == "model"]
        self.repo_title.setText(f"{listing.repo_id} ({len(self.variants)} GGUF variants"
                                + (", gated" if listing.gated else "") + ")")
        wanted, self._wanted_file = self._wanted_file, None
        self._show_variants()
        if wanted:
            self._select_file(wanted)
        self.listed.emit(listing)
        self._plan()

    def _select_file(self, filename: str) -> None:
        try:
            variant = select_variant(self.variants, filename=filename)
        except WorkbenchError as err:
            self.state_label.setText(f"The recommended file is not in this repository: {err}")
            return
        if variant in self.variants:
            self.variant_table.selectRow(self.variants.index(variant))

    def _plan(self) -> None:
        if not self.variants:
            return
        variants, ctx = list(self.variants), self.context.value()
        self.planning = True
        self.state_label.setText("Reading the variants' headers to plan them on this machine…")
        self._show_detail()
        self._run(lambda: self._planner(variants, ctx), self._on_plans, "Planning", "repo")

    def _on_plans(self, plans: dict[str, VariantPlan]) -> None:
        self.plans = dict(plans)
        self.planning = False
        self.state_label.setText("Fit, GPU layers, memory and speed are planned for this "
                                 "machine.")
        self._show_variants()
        self.planned.emit(self.plans)

    def _show_variants(self) -> None:
        selected = self.selected_variant()
        rows = []
        for variant in self.variants:
            plan = self.plans.get(variant.name)
            name = variant.name + ("" if variant.complete else " (incomplete split set)")
            rows.append((name, variant.quant or "", format_bytes(variant.size),
                         fit_text(plan), gpu_layers_text(plan), memory_text(plan),
                         speed_text(plan)))
        self.variant_table.blockSignals(True)
        _fill(self.variant_table, rows)
        for r, variant in enumerate(self.variants):
            plan = self.plans.get(variant.name)
            if plan is not None and not plan.error:
                self._paint_fit(self.variant_table.item(r, 3), plan.fit)
        if selected is not None and selected in self.variants:
            self.variant_table.selectRow(self.variants.index(selected))
        self.variant_table.blockSignals(False)
        self._variant_chosen()

    def _paint_fit(self, item: QTableWidgetItem | None, fit: str | None) -> None:
        if item is not None:
            item.setBackground(QBrush(fit_colour(self.palette(), fit)))

    def _variant_chosen(self) -> None:
        self._show_detail()
        self._update_buttons()

    def _show_detail(self) -> None:
        variant = self.selected_variant()
        plan = self.plans.get(variant.name) if variant is not None else None
        licence = self.listing.license if self.listing is not None else None
        self.detail.show_plan(variant, plan, licence, planning=self.planning)

    # -- download --------------------------------------------------------------------------
    def selected_variant(self) -> Variant | None:
        rows = self.variant_table.selectionModel().selectedRows()
        row = rows[0].row() if rows else -1
        return self.variants[row] if 0 <= row < len(self.variants) else None

    def download_blocked(self) -> str | None:
        """Why the selected file cannot be downloaded now (None: it can)."""
        offline = hub_offline_reason(self.offline)
        if offline:
            return offline
        variant = self.selected_variant()
        if self.listing is None or variant is None:
            return "Select a file to download it."
        if not variant.complete:
            return "This split set is incomplete on the Hub: it cannot be downloaded."
        return None

    def _update_buttons(self) -> None:
        reason = self.download_blocked()
        self.download_button.setEnabled(reason is None)
        self.download_reason.setText(reason or "")
        self.download_reason.setVisible(bool(reason) and (
            reason == OFFLINE_REASON or self.listing is not None))

    def download_selected(self) -> None:
        variant = self.selected_variant()
        if variant is None or self.listing is None or self.download_blocked():
            return
        try:
            job = self.downloads.add(self.listing.repo_id, variant, self.listing.revision)
        except Exception as err:  # shown, never a dead window
            self.statusMessage.emit(f"the download could not be queued: {err}")
            return
        self.statusMessage.emit(f"Queued {variant.name}: see the Downloads page.")
        self.downloadQueued.emit(job)
