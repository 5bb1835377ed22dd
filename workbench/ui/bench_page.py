"""The Benchmarks page: run ``workbench bench`` from the GUI and chart the stored results.

Choose models (the library scan, plus any GGUF file), the test sizes and load settings, then Run:
each model is measured in its own worker process (``LocalEngine``) on a background thread by the
CLI's own runner (``workbench.engine.bench_runner``), which stores each finished model
(``workbench.engine.bench_runs``), so the speed preview learns from it. Cancel kills the worker
at once and stores nothing of the model in progress. Below: every stored run, with delete, and a
horizontal bar chart of prompt and generation speed of the selected (else the latest) runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSet,
    QChart,
    QChartView,
    QHorizontalBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt, Signal
from PySide6.QtGui import QCursor, QKeySequence, QPainter, QPalette, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from workbench.cancel import CancelToken
from workbench.engine import bench_runs
from workbench.engine.bench import BenchResult, bench_context
from workbench.engine.bench_runner import BenchProgress, BenchReport, BenchRunner, steps_per_model
from workbench.engine.client import LocalEngine
from workbench.engine.errors import WorkerCrashed
from workbench.engine.settings import LoadSettings
from workbench.hub import LocalModel, scan_library
from workbench.hub.library import record_use
from workbench.present.numbers import format_bytes, number
from workbench.store import db
from workbench.ui.background import BackgroundCall, Task
from workbench.ui.chart_axis import set_round_axis, use_text_numbers
from workbench.ui.icons import icon
from workbench.ui.notice_banner import NoticeBanner
from workbench.ui.widgets import (
    confirm,
    make_primary,
    page_title,
    plain_label,
    plain_tip,
    row_table,
)

EngineFactory = Callable[[], LocalEngine]
Scanner = Callable[[], list[LocalModel]]
Connect = Callable[[], sqlite3.Connection]


def _recording_engine() -> LocalEngine:
    """A worker whose loads count as the library's "last used"."""
    return LocalEngine(on_model_used=record_use)


COLUMNS = ("Model", "Quant", "Size", "Prompt (tok/s)", "Generation (tok/s)", "Settings", "Date")
RUN_ID_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole
MAX_CHARTED = 12  # bars stay readable
LATEST_CHARTED = 8  # with nothing selected: the newest run of up to this many models
FLASH_ATTN = ("auto", "on", "off")

PP_TIP = ("Prompt processing: tokens per second while the model reads a prompt of this many "
          "tokens in batches. It decides the wait before the first word of an answer.")
TG_TIP = ("Generation: tokens per second while the model writes this many tokens one at a time "
          "from an empty context. It decides how fast an answer appears.")
EMPTY_TEXT = (
    "<h3>No benchmarks yet</h3>"
    "<p>A benchmark measures how fast this machine runs a model, the way llama.cpp's "
    "llama-bench does:</p>"
    "<ul><li><b>Prompt processing (pp)</b>: tokens per second while the model reads a prompt "
    "(512 random tokens by default). It decides the wait before the first word.</li>"
    "<li><b>Generation (tg)</b>: tokens per second while it writes tokens one by one (128 by "
    "default). It decides how fast an answer appears.</li></ul>"
    "<p>After a warm-up each test is repeated (5 times by default); the table shows the mean "
    "± the standard deviation. Quantizations of one model (Q4_K_M, Q5_K_M, Q8_0, ...) make a "
    "telling comparison.</p>"
    "<p><b>To run one:</b> tick one or more models on the left (or use <i>Add file…</i> for "
    "any GGUF file), keep or change the settings and press <i>Run</i> (Ctrl+Enter). Each "
    "model runs in its own process; <i>Cancel</i> (Esc) stops it. Results are stored on this "
    "machine, and Workbench's speed estimates for a model use them instead of a guess. The "
    "same measurement runs from a terminal: <code>workbench bench MODEL.gguf</code>.</p>"
)



@dataclasses.dataclass(frozen=True)
class BenchPlan:
    """One Run: the models and the settings they are all measured with."""

    paths: tuple[str, ...]
    pp_tokens: int = 512
    tg_tokens: int = 128
    repetitions: int = 5
    gpu_layers: int = 0
    ctx: int = 0  # 0: what the test needs
    flash_attn: str = "auto"
    threads: int | None = None
    safe_mode: bool = False

    def settings_for(self, path: str) -> LoadSettings:
        settings = LoadSettings(
            model_path=path, n_ctx=self.ctx or bench_context(self.pp_tokens, self.tg_tokens),
            n_gpu_layers=self.gpu_layers, flash_attn=self.flash_attn,  # type: ignore[arg-type]
            threads=self.threads)
        return settings.safe() if self.safe_mode else settings

    @property
    def steps_per_model(self) -> int:
        return steps_per_model(self.pp_tokens, self.tg_tokens, self.repetitions)


def stage_text(stage: str, rep: int, repetitions: int) -> str:
    return {"load": "loading", "warmup": "warm-up", "pp": f"prompt rep {rep}/{repetitions}",
            "tg": f"generation rep {rep}/{repetitions}"}.get(stage, stage)


class BenchRun(QObject):
    """The core's ``BenchRunner`` as one UI ``Task`` (``workbench.ui.background``): what it
    reports arrives as these signals on the GUI thread.

    ``cancel()`` sets the task's token, which kills the current worker at once; the model in
    progress is not stored and nothing more of the run is reported but ``ended(True)``.
    """

    progressed = Signal(str, int)  # text, steps done of len(paths) * steps_per_model
    stored = Signal(int)  # a bench_runs id
    failed = Signal(str, object)  # model path, the exception
    ended = Signal(bool)  # cancelled

    def __init__(self, plan: BenchPlan, engine_factory: EngineFactory, connect: Connect,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.plan = plan
        self._engine_factory = engine_factory
        self._connect = connect
        self.task = Task(self._work, self, name="workbench-bench")
        self.token = self.task.token
        self.task.progressed.connect(self._report)
        self.task.finished.connect(lambda _report: self.ended.emit(False))
        self.task.failed.connect(self._crashed)
        self.task.cancelled.connect(lambda: self.ended.emit(True))

    def start(self) -> None:
        self.task.start()

    def cancel(self) -> None:
        self.task.cancel()

    def _work(self, progress: Callable[[Any], None], cancel: CancelToken) -> BenchReport:
        """The worker thread: the core's runner; its callbacks go out as progress values."""
        plan = self.plan

        def progressed(step: BenchProgress) -> None:
            name = step.path.replace("\\", "/").rsplit("/", 1)[-1]
            text = (f"model {step.index + 1}/{step.models} · "
                    f"{stage_text(step.stage, step.rep, step.repetitions)}" +
                    (f" {name}" if step.stage == "load" else ""))
            progress((self.progressed, text, step.steps_done))

        def stored(_result: BenchResult, run_id: int | None) -> None:
            if run_id is not None:
                progress((self.stored, run_id))

        runner = BenchRunner(
            [plan.settings_for(path) for path in plan.paths], pp_tokens=plan.pp_tokens,
            tg_tokens=plan.tg_tokens, repetitions=plan.repetitions,
            engine_factory=self._engine_factory, connect=self._connect,
            on_progress=progressed, on_result=stored,
            on_failed=lambda path, err: progress((self.failed, path, err)), token=cancel)
        cancel.on_cancel(runner.cancel)  # kills the current worker: the cancel lands at once
        return runner.run()

    def _report(self, value: tuple[Any, ...]) -> None:
        signal, *args = value
        signal.emit(*args)

    def _crashed(self, err: BaseException) -> None:
        """The runner itself failed (its per-model failures come as ``failed``)."""
        self.failed.emit(self.plan.paths[0] if self.plan.paths else "", err)
        self.ended.emit(False)


# -- results -------------------------------------------------------------------------------------

def rate_text(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return "–"
    digits = 0 if mean >= 100 else 1 if mean >= 10 else 2
    return f"{number(mean, digits)} ± {number(sd or 0, digits)}"


def settings_summary(run: dict[str, Any]) -> str:
    s = run.get("settings") or {}
    layers = s.get("gpu_layers")
    parts = [f"pp{run['pp_tokens']}/tg{run['tg_tokens']} × {run['repetitions']}",
             f"ctx {s.get('ctx', '?')}", f"{s.get('threads', '?')} threads",
             f"GPU layers {'all' if layers == -1 else layers}",
             f"FA {s.get('flash_attn', '?')}",
             f"repack {'on' if s.get('repack') else 'off'}"]
    return " · ".join(parts)


def date_text(created_at: str | None) -> str:
    if not created_at:
        return ""
    try:
        stamp = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return created_at[:16]
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M")


def model_name(run: dict[str, Any]) -> str:
    return run.get("model_name") or run["model_path"].replace("\\", "/").rsplit("/", 1)[-1]


def model_label(run: dict[str, Any]) -> str:
    return f"{model_name(run)} {run.get('quant') or ''}".strip()


def row_values(run: dict[str, Any]) -> list[str]:
    return [model_name(run), run.get("quant") or "", format_bytes(run.get("size_bytes")),
            rate_text(run.get("pp_tokens_per_s"), run.get("pp_sd")),
            rate_text(run.get("tg_tokens_per_s"), run.get("tg_sd")),
            settings_summary(run), date_text(run.get("created_at"))]


def chart_labels(runs: list[dict[str, Any]]) -> list[str]:
    """One category per run: model and quant (with the run id when two would read the same),
    then the standard deviations, since the bars show the means."""
    bases = [model_label(run) for run in runs]
    labels = []
    for run, base in zip(runs, bases, strict=True):
        if bases.count(base) > 1:
            base += f" #{run['id']}"
        sds = [f"{kind} ±{run[key]:.1f}" for kind, key, mean in
               (("tg", "tg_sd", "tg_tokens_per_s"), ("pp", "pp_sd", "pp_tokens_per_s"))
               if run.get(mean) is not None and run.get(key) is not None]
        labels.append(f"{base} ({', '.join(sds)})" if sds else base)
    return labels


class BenchChart(QChartView):
    """Generation and prompt tok/s per run, as horizontal bars (the mean; the sd in the label)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setTitle("Speed on this machine (mean of the repetitions)")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAccessibleName("Benchmark chart")
        self.setToolTip("Bars: mean tok/s; the label holds the standard deviation (±). Hover a "
                        "bar for its figures.")
        self.runs: list[dict[str, Any]] = []
        self.series = QHorizontalBarSeries()
        self.series.setLabelsVisible(True)
        self.series.setLabelsFormat("@value")
        self.series.setLabelsPrecision(12)  # the values are rounded to 0.1: no 1.9e+04
        self.series.setLabelsPosition(QHorizontalBarSeries.LabelsPosition.LabelsOutsideEnd)
        self.generation = QBarSet("Generation (tok/s)")
        self.prompt = QBarSet("Prompt processing (tok/s)")
        self.series.append(self.generation)
        self.series.append(self.prompt)
        self.series.hovered.connect(self._hovered)
        chart.addSeries(self.series)
        self.categories = QBarCategoryAxis()
        self.categories.setTitleText("Model, quant (± sd, tok/s)")
        self.values = QValueAxis()
        self.values.setTitleText("Tokens per second (tok/s)")
        use_text_numbers(chart)
        chart.addAxis(self.categories, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(self.values, Qt.AlignmentFlag.AlignBottom)
        self.series.attachAxis(self.categories)
        self.series.attachAxis(self.values)
        self._apply_theme()

    def plot(self, runs: list[dict[str, Any]]) -> None:
        """Bars for ``runs``, the first one on top."""
        self.runs = list(reversed(runs))  # a horizontal bar series draws its first at the bottom
        self.generation.remove(0, self.generation.count())
        self.prompt.remove(0, self.prompt.count())
        for run in self.runs:
            self.generation.append(round(run.get("tg_tokens_per_s") or 0.0, 1))
            self.prompt.append(round(run.get("pp_tokens_per_s") or 0.0, 1))
        self.categories.clear()
        self.categories.append(chart_labels(self.runs) if self.runs else [])
        top = max([(r.get("pp_tokens_per_s") or 0) + (r.get("pp_sd") or 0) for r in self.runs] +
                  [(r.get("tg_tokens_per_s") or 0) + (r.get("tg_sd") or 0) for r in self.runs] +
                  [1.0])
        set_round_axis(self.values, top * 1.15)  # room for the value labels

    def _hovered(self, status: bool, index: int, barset: QBarSet) -> None:
        if not status or not 0 <= index < len(self.runs):
            QToolTip.hideText()
            return
        run = self.runs[index]
        gen = barset is self.generation
        mean, sd = ((run.get("tg_tokens_per_s"), run.get("tg_sd")) if gen else
                    (run.get("pp_tokens_per_s"), run.get("pp_sd")))
        test = f"tg{run['tg_tokens']}" if gen else f"pp{run['pp_tokens']}"
        QToolTip.showText(QCursor.pos(), f"{model_label(run)} · {test}: "
                          f"{rate_text(mean, sd)} tok/s over {run['repetitions']} repetitions",
                          self)

    def _apply_theme(self) -> None:
        palette = QApplication.palette()
        dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
        self.chart().setTheme(QChart.ChartTheme.ChartThemeDark if dark
                              else QChart.ChartTheme.ChartThemeLight)
        self.chart().setBackgroundBrush(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        self.chart().setTitleBrush(text)
        self.chart().legend().setLabelColor(text)
        for axis in (self.categories, self.values):
            axis.setLabelsColor(text)
            axis.setTitleBrush(text)
        self.series.setLabelsVisible(True)
        for barset in (self.generation, self.prompt):
            barset.setLabelColor(text)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self._apply_theme()


# -- the page ------------------------------------------------------------------------------------

def _spin(parent: QWidget, low: int, high: int, value: int, name: str, tip: str, *,
          suffix: str = "", special: str = "", step: int = 1) -> QSpinBox:
    spin = QSpinBox(parent)
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSingleStep(step)
    spin.setSuffix(suffix)
    if special:
        spin.setSpecialValueText(special)  # shown at the minimum
    spin.setAccessibleName(name)
    spin.setToolTip(tip)
    return spin


class BenchPage(QWidget):
    statusMessage = Signal(str)
    runFinished = Signal(bool, list)  # cancelled, the new run ids
    resultsChanged = Signal()

    def __init__(self, parent: QWidget | None = None, *,
                 engine_factory: EngineFactory | None = None,
                 library_scanner: Scanner | None = None,
                 connect: Connect = db.connect) -> None:
        super().__init__(parent)
        self._engine_factory = engine_factory or _recording_engine
        self._scanner = library_scanner or scan_library
        self._connect = connect
        self._scan: BackgroundCall | None = None
        self.scanned_once = False
        self.run: BenchRun | None = None
        self.new_run_ids: list[int] = []
        self.failures: list[tuple[str, BaseException]] = []
        self.runs: list[dict[str, Any]] = []

        title = page_title("Benchmarks", self)
        self.banner = NoticeBanner(self)
        self.banner.retryRequested.connect(self.retry_safe_mode)

        # models
        self.models = QListWidget(self)
        self.models.setAccessibleName("Models to benchmark")
        self.models.setToolTip("Tick the models to measure; each runs in its own process.")
        self.models.itemChanged.connect(lambda *_: self._update_controls())
        self.library_state = plain_label("", self)
        self.library_state.setAccessibleName("Library scan state")
        self.rescan_button = QPushButton("Rescan", self)
        self.rescan_button.setAccessibleName("Scan the library for models again")
        self.rescan_button.setToolTip("Look for GGUF models on this machine again")
        self.rescan_button.clicked.connect(lambda: self.scan_models(force=True))
        self.add_button = QPushButton("Add file…", self)
        self.add_button.setAccessibleName("Add a GGUF file to benchmark")
        self.add_button.setToolTip("Benchmark any GGUF file, in the library or not (Ctrl+O)")
        self.add_button.clicked.connect(self.choose_file)
        model_buttons = QHBoxLayout()
        model_buttons.addStretch(1)
        model_buttons.addWidget(self.rescan_button)
        model_buttons.addWidget(self.add_button)
        model_box = QGroupBox("Models", self)
        model_layout = QVBoxLayout(model_box)
        model_layout.addWidget(self.models, 1)
        model_layout.addWidget(self.library_state)
        model_layout.addLayout(model_buttons)

        # settings
        self.prompt_tokens = _spin(self, 0, 65536, 512, "Prompt tokens",
                                   f"{PP_TIP} 0 skips this test.", suffix=" tokens",
                                   special="skip", step=128)
        self.gen_tokens = _spin(self, 0, 16384, 128, "Generated tokens",
                                f"{TG_TIP} 0 skips this test.", suffix=" tokens",
                                special="skip", step=32)
        self.repetitions = _spin(self, 1, 100, 5, "Repetitions",
                                 "How often each test runs after the warm-up; the result is the "
                                 "mean ± the standard deviation.")
        self.gpu_layers = _spin(self, -1, 999, 0, "GPU layers",
                                "Layers offloaded to the GPU: 0 runs on the CPU, 'all' offloads "
                                "every layer.", special="all")
        self.context = _spin(self, 0, 1 << 20, 0, "Context length",
                             "The context the model is loaded with. Auto: just what the test "
                             "needs (prompt + generated tokens, at least 512).",
                             suffix=" tokens", special="auto (what the test needs)", step=512)
        self.flash_attn = QComboBox(self)
        for value in FLASH_ATTN:
            self.flash_attn.addItem(value, value)
        self.flash_attn.setAccessibleName("Flash attention")
        self.flash_attn.setToolTip("Flash attention: auto lets llama.cpp decide per device.")
        self.threads = _spin(self, 0, 1024, 0, "CPU threads",
                             "CPU threads llama.cpp uses. Auto: one per physical core.",
                             special="auto (physical cores)")
        settings_box = QGroupBox("Settings", self)
        form = QFormLayout(settings_box)
        form.addRow("Prompt:", self.prompt_tokens)
        form.addRow("Generation:", self.gen_tokens)
        form.addRow("Repetitions:", self.repetitions)
        form.addRow("GPU layers:", self.gpu_layers)
        form.addRow("Context:", self.context)
        form.addRow("Flash attention:", self.flash_attn)
        form.addRow("Threads:", self.threads)
        self._setting_widgets: list[QWidget] = [
            self.prompt_tokens, self.gen_tokens, self.repetitions, self.gpu_layers,
            self.context, self.flash_attn, self.threads, self.models, self.rescan_button,
            self.add_button]

        # run
        self.run_button = make_primary(QPushButton("Run", self))
        self.run_button.setIcon(icon("run"))
        self.run_button.setAccessibleName("Run the benchmark")
        self.run_button.setToolTip("Measure the ticked models (Ctrl+Enter)")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(lambda: self.start_run())
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel the benchmark")
        self.cancel_button.setToolTip("Stop at once; the model in progress is not stored (Esc)")
        self.cancel_button.clicked.connect(self.cancel_run)
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Benchmark progress")
        self.progress.setTextVisible(False)
        self.progress_label = plain_label("", self)
        self.progress_label.setAccessibleName("Benchmark progress text")
        self.progress_label.setWordWrap(True)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(model_box, 1)
        left_layout.addWidget(settings_box)
        left_layout.addLayout(run_row)
        left_layout.addWidget(self.progress_label)

        # results
        self.table = row_table(COLUMNS, "Stored benchmark runs", self, multi=True)
        self.table.horizontalHeaderItem(3).setToolTip(PP_TIP + " Mean ± standard deviation.")
        self.table.horizontalHeaderItem(4).setToolTip(TG_TIP + " Mean ± standard deviation.")
        self.table.setToolTip("Select runs to chart them (Delete removes them)")
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.setAccessibleName("Delete the selected benchmark runs")
        self.delete_button.setToolTip("Remove the selected runs from this machine's store "
                                      "(Delete)")
        self.delete_button.clicked.connect(self.delete_selected)
        self.results_state = plain_label("", self)
        self.results_state.setAccessibleName("Stored runs")
        results_bar = QHBoxLayout()
        results_bar.addWidget(self.results_state, 1)
        results_bar.addWidget(self.delete_button)
        self.chart = BenchChart(self)
        self.chart.setMinimumHeight(self.fontMetrics().height() * 10)
        self.empty = QLabel(EMPTY_TEXT, self)
        self.empty.setWordWrap(True)
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.empty.setAccessibleName("What a benchmark measures")
        self.empty.setMargin(self.fontMetrics().height())
        self.views = QStackedWidget(self)
        self.views.addWidget(self.empty)
        self.views.addWidget(self.chart)
        results = QWidget(self)
        results_layout = QVBoxLayout(results)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.addWidget(self.table, 2)
        results_layout.addLayout(results_bar)
        results_layout.addWidget(self.views, 3)

        left_scroll = QScrollArea(self)  # small windows scroll the controls, not clip them
        left_scroll.setWidget(left)
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setMinimumWidth(left.minimumSizeHint().width()
                                    + left_scroll.verticalScrollBar().sizeHint().width())
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left_scroll)
        splitter.addWidget(results)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(title)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys, slot in ((QKeySequence("Ctrl+Return"), self.start_run),
                           (QKeySequence("Ctrl+Enter"), self.start_run),
                           (QKeySequence(Qt.Key.Key_Escape), self.cancel_run),
                           (QKeySequence.StandardKey.Open, self.choose_file)):
            shortcut = QShortcut(keys, self)
            shortcut.setContext(context)
            shortcut.activated.connect(lambda s=slot: s())
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.table)
        delete.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        delete.activated.connect(self.delete_selected)

        self.refresh_results()
        self._update_controls()

    # -- models ------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.scan_models()

    def scan_models(self, force: bool = False) -> None:
        """List the library's models (off the GUI thread); once, unless ``force``."""
        if self._scan is not None or (self.scanned_once and not force):
            return
        self.library_state.setText("Scanning the library…")
        self.library_state.setToolTip("")
        self.rescan_button.setEnabled(False)
        self._scan = BackgroundCall(self._scanner, self, name="workbench-bench-scan")
        self._scan.finished.connect(self._scanned)
        self._scan.failed.connect(self._scan_failed)
        self._scan.start()

    @property
    def scanning(self) -> bool:
        return self._scan is not None

    def _scanned(self, found: list[LocalModel]) -> None:
        self._scan = None
        self.scanned_once = True
        usable = [m for m in found if m.status == "ok" and not m.is_adapter]
        for model in usable:
            label = " · ".join(part for part in (model.name, model.quant or "",
                                                 format_bytes(model.size)) if part)
            self.add_model_file(model.path, label=label, checked=False)
        self.library_state.setText(f"{len(usable)} library models" if usable else
                                   "No library models: use Add file…")
        self.library_state.setToolTip(
            "Models Workbench found on this machine (Library page)" if usable else
            "No GGUF models were found on this machine yet: download one on Discover, or "
            "add any GGUF file with Add file…")
        self._update_controls()

    def _scan_failed(self, err: BaseException) -> None:
        self._scan = None
        self.scanned_once = True
        self.library_state.setText("Library scan failed: use Add file…")
        self.library_state.setToolTip(plain_tip(f"The library scan failed: {err}"))
        self.statusMessage.emit(f"The library scan failed: {err}")
        self._update_controls()

    def add_model_file(self, path: str, *, label: str | None = None,
                       checked: bool = True) -> QListWidgetItem:
        """List ``path`` (once) as a model to benchmark; returns its item."""
        for row in range(self.models.count()):
            item = self.models.item(row)
            if item.data(PATH_ROLE) == path:
                if checked:
                    item.setCheckState(Qt.CheckState.Checked)
                return item
        item = QListWidgetItem(label or path.replace("\\", "/").rsplit("/", 1)[-1])
        item.setData(PATH_ROLE, path)
        item.setToolTip(plain_tip(path))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.models.addItem(item)
        self._update_controls()
        return item

    def choose_file(self) -> None:
        if self.running:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model to benchmark", "",
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.add_model_file(path)

    def chosen_paths(self) -> list[str]:
        return [self.models.item(row).data(PATH_ROLE) for row in range(self.models.count())
                if self.models.item(row).checkState() == Qt.CheckState.Checked]

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run is not None

    def plan(self, paths: list[str] | None = None, *, safe_mode: bool = False) -> BenchPlan:
        return BenchPlan(
            paths=tuple(self.chosen_paths() if paths is None else paths),
            pp_tokens=self.prompt_tokens.value(), tg_tokens=self.gen_tokens.value(),
            repetitions=self.repetitions.value(), gpu_layers=self.gpu_layers.value(),
            ctx=self.context.value(), flash_attn=str(self.flash_attn.currentData()),
            threads=self.threads.value() or None, safe_mode=safe_mode)

    def start_run(self, paths: list[str] | None = None, *, safe_mode: bool = False) -> bool:
        """Measure ``paths`` (default: the ticked models); False when there is nothing to run."""
        if self.running:
            return False
        plan = self.plan(paths, safe_mode=safe_mode)
        if not plan.paths:
            self.banner.show_error("Nothing to benchmark",
                                   "Tick at least one model, or add a GGUF file with Add file….")
            return False
        if plan.pp_tokens + plan.tg_tokens == 0:
            self.banner.show_error("Nothing to measure",
                                   "Set prompt tokens and/or generated tokens above 0.")
            return False
        self.banner.dismiss()
        self.new_run_ids, self.failures = [], []
        self.run = BenchRun(plan, self._engine_factory, self._connect, self)
        self.run.progressed.connect(self._progressed)
        self.run.stored.connect(self._stored)
        self.run.failed.connect(self._failed)
        self.run.ended.connect(self._ended)
        self.progress.setRange(0, len(plan.paths) * plan.steps_per_model)
        self.progress.setValue(0)
        self.progress_label.setText(f"model 1/{len(plan.paths)} · starting")
        self._update_controls()
        self.run.start()
        self.statusMessage.emit(f"Benchmarking {len(plan.paths)} model(s)…"
                                + (" (safe mode)" if safe_mode else ""))
        return True

    def cancel_run(self) -> None:
        if self.run is not None and not self.run.token.is_set():
            self.progress_label.setText("Cancelling…")
            self.run.cancel()

    def retry_safe_mode(self) -> None:
        """The banner's retry: the models whose worker crashed, again, in safe mode."""
        crashed = [path for path, err in self.failures if isinstance(err, WorkerCrashed)]
        if crashed:
            self.start_run(crashed, safe_mode=True)

    def shutdown(self) -> None:
        """Stop a running benchmark (the window is closing)."""
        self.cancel_run()

    def _progressed(self, text: str, done: int) -> None:
        if self.run is not None and not self.run.token.is_set():
            self.progress_label.setText(text)
            self.progress.setValue(done)

    def _stored(self, run_id: int) -> None:
        self.new_run_ids.append(run_id)
        self.refresh_results(select=self.new_run_ids)

    def _failed(self, path: str, err: BaseException) -> None:
        self.failures.append((path, err))
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        safe = self.run is not None and self.run.plan.safe_mode
        if isinstance(err, WorkerCrashed):
            self.banner.show_crash(err, can_retry=not safe)
            self.banner.message.setText(f"{name}: {self.banner.message.text()}")
        else:
            self.banner.show_error(f"Could not benchmark {name}", str(err))
        self.statusMessage.emit(f"Benchmark of {name} failed: {err}")

    def _ended(self, cancelled: bool) -> None:
        run, self.run = self.run, None
        total = len(run.plan.paths) if run is not None else 0
        if run is not None:
            run.deleteLater()  # its thread has ended: this was its last signal
        stored = len(self.new_run_ids)
        if cancelled:
            text = "Cancelled; the model in progress was not stored."
            if stored:
                text += f" {stored} finished model(s) were stored."
        else:
            text = f"Done: {stored} of {total} model(s) measured and stored."
        self.progress_label.setText(text)
        self.progress.setValue(self.progress.maximum() if not cancelled else 0)
        self.statusMessage.emit(f"Benchmark: {text}")
        self._update_controls()
        self.runFinished.emit(cancelled, list(self.new_run_ids))

    def _update_controls(self) -> None:
        running = self.running
        for widget in self._setting_widgets:
            widget.setEnabled(not running)
        self.rescan_button.setEnabled(not running and self._scan is None)
        self.run_button.setEnabled(not running and bool(self.chosen_paths()))
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        self.delete_button.setEnabled(bool(self.selected_run_ids()))

    # -- results -----------------------------------------------------------------------------
    def refresh_results(self, select: list[int] | None = None) -> None:
        """Reload the stored runs; select the runs ``select`` names (they are charted)."""
        try:
            with contextlib.closing(self._connect()) as connection:
                self.runs = bench_runs.all_runs(connection)
        except (sqlite3.Error, OSError) as err:
            self.runs = []
            self.results_state.setText(f"Stored runs unavailable: {err}")
        else:
            self.results_state.setText(f"{len(self.runs)} stored run(s)")
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(0)
        for run in self.runs:
            row = self.table.rowCount()
            self.table.insertRow(row)
            for column, value in enumerate(row_values(run)):
                item = QTableWidgetItem(value)
                item.setToolTip(plain_tip(run["model_path"] if column == 0 else value))
                if column == 0:
                    item.setData(RUN_ID_ROLE, run["id"])
                if 2 <= column <= 4:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight |
                                          Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        wanted = set(select or [])
        selection = self.table.selectionModel()
        flags = (QItemSelectionModel.SelectionFlag.Select |
                 QItemSelectionModel.SelectionFlag.Rows)
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(RUN_ID_ROLE) in wanted:
                selection.select(self.table.model().index(row, 0), flags)
        self.table.blockSignals(False)
        self._selection_changed()
        self.resultsChanged.emit()

    def selected_run_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.table.item(row, 0).data(RUN_ID_ROLE) for row in rows]

    def charted_runs(self) -> list[dict[str, Any]]:
        """The selected runs; with none selected, the newest run of each of the latest models."""
        chosen = set(self.selected_run_ids())
        if chosen:
            return [run for run in self.runs if run["id"] in chosen][:MAX_CHARTED]
        latest: dict[str, dict[str, Any]] = {}
        for run in self.runs:  # newest first
            if run["model_path"] not in latest and len(latest) < LATEST_CHARTED:
                latest[run["model_path"]] = run
        return list(latest.values())

    def _selection_changed(self) -> None:
        charted = self.charted_runs()
        self.chart.plot(charted)
        self.views.setCurrentWidget(self.chart if charted else self.empty)
        self.delete_button.setEnabled(bool(self.selected_run_ids()))

    def confirm_delete(self, count: int) -> bool:
        return confirm(self, "Delete benchmark runs?", f"Delete {count} stored benchmark "
                       "run(s)? The speed preview no longer uses them.")

    def delete_selected(self) -> int:
        """Delete the selected runs (after asking); returns how many were removed."""
        ids = self.selected_run_ids()
        if not ids or not self.confirm_delete(len(ids)):
            return 0
        try:
            with contextlib.closing(self._connect()) as connection:
                removed = bench_runs.delete(connection, ids)
        except (sqlite3.Error, OSError) as err:
            self.statusMessage.emit(f"Could not delete the runs: {err}")
            return 0
        self.statusMessage.emit(f"Deleted {removed} benchmark run(s).")
        self.refresh_results()
        return removed
