"""The Evals page: a suite (evals_suite_editor.py), the targets to ask (evals_targets.py:
several local quantisations side by side, cloud models), a run with progress, ETA and Cancel,
the case x target matrix with every answer and verdict a click away (evals_results.py), the
per-target summary with its intervals, the decision, earlier runs (open, resume, diff) and the
reports.

A run is one ``Task`` of the page's ``TaskRunner`` (ui/background.py): ``EvalRunner.run``
blocks in the task's thread, and its events, which arrive on the runner's own threads, are the
task's progress, delivered in order on the GUI thread. Cancel stops the run after the answers
in flight (what was answered stays stored and the run can be resumed); once the page is gone
(the window closed) the task is cancelled and nothing more of it reaches a widget. Before
anything is sent off this machine, an inline bar says which providers get the prompts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.cancel import CancelToken
from workbench.costs.breakeven import parse_amount
from workbench.errors import BadInput, WorkbenchError
from workbench.evals import reports, store
from workbench.evals.decision import Decision, decide
from workbench.evals.diff import diff_runs
from workbench.evals.model import CaseResult, Suite
from workbench.evals.runner import (
    EvalEvent,
    EvalRunner,
    RunOutcome,
    resume,
    run_document,
    stored_outcome,
    suite_needs_judge,
)
from workbench.evals.starters import Starter, starter_suites
from workbench.evals.summary import Summary, summarize
from workbench.present.numbers import format_ms
from workbench.providers.registry import parse_target
from workbench.routing.targets import build_any_target
from workbench.store import db
from workbench.store.settings import AppSettings, load_settings
from workbench.ui.background import Progress, TaskRunner
from workbench.ui.evals_results import (
    ResultsMatrix,
    detail_text,
    diff_text,
    readable,
    show_summary,
    summary_lines,
    summary_table,
)
from workbench.ui.evals_suite_editor import SuiteEditor
from workbench.ui.evals_targets import Scanner, TargetsPanel, unique
from workbench.ui.icons import icon
from workbench.ui.style import NOTICE_HUE, banner_stylesheet
from workbench.ui.widgets import make_primary, page_title, plain_label, plain_tip, row_table

RUN_ROLE = Qt.ItemDataRole.UserRole
RUN_KEY = "run"
REPORTS = {".html": reports.write_html, ".json": reports.write_json,
           ".md": reports.write_markdown, ".xml": reports.write_junit}
REPORT_FILTER = ("HTML report (*.html);;JSON document (*.json);;Markdown (*.md);;"
                 "JUnit XML (*.xml)")
RUN_COLUMNS = ("Run", "Started", "Status", "Answered", "Passed", "Failed", "Errors", "Suite",
               "Targets")


def outgoing(specs: list[str], settings: AppSettings) -> list[str]:
    """"spec → host" for each target that would send prompts off this machine (a target that
    cannot be built sends nothing: the run skips it with its reason)."""
    found = []
    for spec in unique(specs):
        try:
            if parse_target(spec).kind == "local":
                continue
            target = build_any_target(spec, settings=settings, load_run=run_document)
        except WorkbenchError:
            continue
        try:
            if target.leaves_machine:
                found.append(f"{spec} → {target.destination}")
        finally:
            target.close()
    return found


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


class EvalsPage(QWidget):
    statusMessage = Signal(str)
    runFinished = Signal(int)  # the run's id

    def __init__(self, parent: QWidget | None = None, *,
                 library_scanner: Scanner | None = None,
                 starters: Callable[[], list[Starter]] = starter_suites) -> None:
        super().__init__(parent)
        self._tasks = TaskRunner(self, name="workbench-evals")
        self._stop: CancelToken | None = None
        self._runner: EvalRunner | None = None  # the run going on
        self._pending: tuple[EvalRunner, list[str], Suite, int, list[CaseResult]] | None = None
        self.outcome: RunOutcome | None = None
        self.summary: Summary | None = None
        self.decision: Decision | None = None
        self.runs: dict[int, store.RunRow] = {}

        # -- the run bar (always visible) --------------------------------------------------
        self.run_button = make_primary(QPushButton("Run", self))
        self.run_button.setIcon(icon("run"))
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Ask every case of the suite of every target")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop after the answers in progress (the run can be "
                                      "resumed later)")
        self.cancel_button.clicked.connect(self.cancel_run)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Run progress")
        self.progress.setFormat("no run yet")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.eta = plain_label("", self)
        self.eta.setAccessibleName("Time left")
        self.state = plain_label("Open a suite or a starter suite, pick targets, then Run.", self)
        self.state.setAccessibleName("Run state")
        self.state.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(page_title("Evals", self))
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.eta)
        bar.addWidget(self.run_button)
        bar.addWidget(self.cancel_button)

        self.send_bar = QFrame(self)
        self.send_bar.setObjectName("noticeBanner")
        self.send_bar.setStyleSheet(banner_stylesheet(self.palette(), NOTICE_HUE))
        self.send_text = plain_label("", self.send_bar)
        self.send_text.setWordWrap(True)
        self.send_button = QPushButton("Send", self.send_bar)
        self.send_button.setAccessibleName("Send the prompts to these providers")
        self.send_button.clicked.connect(self._confirmed)
        self.cancel_send = QPushButton("Cancel", self.send_bar)
        self.cancel_send.clicked.connect(self._cancel_pending)
        send_layout = QHBoxLayout(self.send_bar)
        send_layout.addWidget(self.send_text, 1)
        send_layout.addWidget(self.send_button)
        send_layout.addWidget(self.cancel_send)
        self.send_bar.hide()

        self.tabs = QTabWidget(self)
        self.editor = SuiteEditor(self, starters=starters)
        self.editor.statusMessage.connect(self.statusMessage)
        self.editor.suiteChanged.connect(self._suite_changed)
        self.tabs.addTab(self.editor, "Suite")
        self.targets = TargetsPanel(self, library_scanner=library_scanner)
        self.tabs.addTab(self.targets, "Targets")
        self.results_tab = self._results_tab()
        self.tabs.addTab(self.results_tab, "Results")
        self.runs_tab = self._runs_tab()
        self.tabs.addTab(self.runs_tab, "Earlier runs")

        # the page scrolls rather than forcing a wide window
        body = QWidget(self)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(bar)
        layout.addWidget(self.state)
        layout.addWidget(self.send_bar)
        layout.addWidget(self.tabs, 1)
        scroll.setWidget(body)
        self.refresh_runs()

    # -- building the tabs -------------------------------------------------------------------
    def _results_tab(self) -> QWidget:
        tab = QWidget(self)
        self.matrix = ResultsMatrix(tab)
        self.matrix.cellChosen.connect(self.show_cell)
        self.detail = QPlainTextEdit(tab)
        self.detail.setReadOnly(True)
        self.detail.setAccessibleName("Answer and verdicts")
        self.detail.setPlaceholderText("Click a cell for its answer and every verdict's reason")
        top = QSplitter(Qt.Orientation.Horizontal, tab)
        top.addWidget(self.matrix)
        top.addWidget(self.detail)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)

        self.summary_table = summary_table(tab)
        self.comparisons = QPlainTextEdit(tab)
        self.comparisons.setReadOnly(True)
        self.comparisons.setAccessibleName("Comparisons between targets")
        self.comparisons.setMaximumHeight(70)
        self.bar = QSpinBox(tab)
        self.bar.setRange(1, 100)
        self.bar.setValue(80)
        self.bar.setSuffix(" %")
        self.bar.setAccessibleName("Pass-rate bar")
        self.bar.setToolTip("The pass rate a target must reach to be chosen")
        self.volume = QLineEdit("100k", tab)
        self.volume.setAccessibleName("Monthly requests")
        self.volume.setToolTip("Requests a month (e.g. 100k, 2.5M): what each target costs at "
                               "that volume")
        self.volume.setMaximumWidth(100)
        self.private = QCheckBox("Data must stay on this machine", tab)
        self.private.setToolTip("Targets whose answers left this machine cannot be chosen")
        for signal in (self.bar.valueChanged, self.private.toggled,
                       self.volume.editingFinished):
            signal.connect(lambda *_: self.update_decision())
        self.decision_text = QPlainTextEdit(tab)
        self.decision_text.setReadOnly(True)
        self.decision_text.setAccessibleName("Decision")
        self.export_button = QPushButton("Export…", tab)
        self.export_button.setToolTip("Write the run as an HTML, JSON, Markdown or JUnit report")
        self.export_button.clicked.connect(lambda: self.export())
        self.export_button.setEnabled(False)
        inputs = QHBoxLayout()
        inputs.addWidget(QLabel("Bar:", tab))
        inputs.addWidget(self.bar)
        inputs.addWidget(QLabel("Monthly requests:", tab))
        inputs.addWidget(self.volume)
        inputs.addWidget(self.private)
        inputs.addStretch(1)
        inputs.addWidget(self.export_button)
        bottom = QWidget(tab)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.summary_table, 2)
        bottom_layout.addWidget(self.comparisons)
        bottom_layout.addLayout(inputs)
        bottom_layout.addWidget(self.decision_text, 2)
        splitter = QSplitter(Qt.Orientation.Vertical, tab)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        return tab

    def _runs_tab(self) -> QWidget:
        tab = QWidget(self)
        self.runs_table = row_table(RUN_COLUMNS, "Earlier runs", tab, multi=True)
        self.runs_table.itemSelectionChanged.connect(self._update_controls)
        self.runs_table.cellDoubleClicked.connect(lambda *_: self.open_selected())
        self.open_button = QPushButton("Open", tab)
        self.open_button.clicked.connect(self.open_selected)
        self.resume_button = QPushButton("Resume", tab)
        self.resume_button.setToolTip("Ask only what the run is missing")
        self.resume_button.clicked.connect(self.resume_selected)
        self.diff_button = QPushButton("Diff", tab)
        self.diff_button.setToolTip("Select two runs: which cases got better or worse")
        self.diff_button.clicked.connect(self.diff_selected)
        refresh = QPushButton("Refresh", tab)
        refresh.clicked.connect(self.refresh_runs)
        self.diff_view = QPlainTextEdit(tab)
        self.diff_view.setReadOnly(True)
        self.diff_view.setAccessibleName("Diff of two runs")
        buttons = QHBoxLayout()
        for button in (self.open_button, self.resume_button, self.diff_button, refresh):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(tab)
        layout.addWidget(self.runs_table, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.diff_view, 1)
        return tab

    def _suite_changed(self) -> None:
        suite = self.editor.loaded
        self.targets.set_suite(suite)
        title = (suite.description if suite is not None else "") or self.editor.source()
        self.state.setText(f"Suite: {title} ({len(suite.cases)} cases)" if suite is not None
                           else f"Suite: {title}")

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._tasks.busy(RUN_KEY)

    def run(self) -> bool:
        """Check the suite and the targets and start (after the privacy bar when prompts leave
        this machine); False when nothing starts."""
        if self.running or self._pending is not None:
            return False
        try:
            suite = self.editor.suite()
        except WorkbenchError as err:
            self.tabs.setCurrentWidget(self.editor)
            self._say(f"The suite has a problem: {err}")
            return False
        try:
            options = self.targets.options()
            labels = list(options.targets) or [t.label for t in suite.targets]
            if not labels:
                raise BadInput("no targets: tick a local model or type one on the Targets tab")
            settings = load_settings()
            runner = EvalRunner(suite, options, settings=settings)
        except WorkbenchError as err:
            self._say(str(err))
            return False
        return self._ask(runner, labels, suite, options.repeat, [], settings)

    def _ask(self, runner: EvalRunner, labels: list[str], suite: Suite, repeats: int,
             earlier: list[CaseResult], settings: AppSettings) -> bool:
        specs = list(runner.options.targets) or [t.spec for t in suite.targets]
        if suite_needs_judge(suite):
            specs.append(runner.options.judge or suite.judge or "")
        leaving = outgoing([s for s in specs if s], settings)
        self._pending = (runner, labels, suite, repeats, earlier)
        if leaving:
            self.send_text.setText(f"This run sends {len(suite.cases) * repeats} prompts off "
                                   "this machine to: " + "; ".join(leaving) + ". Send them?")
            self.send_bar.show()
            self.send_button.setFocus()
            return True
        self._confirmed()
        return True

    def _cancel_pending(self) -> None:
        self._pending = None
        self.send_bar.hide()

    def _confirmed(self) -> None:
        if self._pending is None:
            return
        runner, labels, suite, repeats, earlier = self._pending
        self._pending = None
        self.send_bar.hide()
        self.outcome, self.summary, self.decision = None, None, None
        self.matrix.set_run(suite.cases, labels, repeats)
        for result in earlier:
            self.matrix.add(result)
        self.detail.clear()
        show_summary(self.summary_table, None)
        self.comparisons.clear()
        self.decision_text.clear()
        self.progress.setFormat("%v of %m answered")
        self.progress.setRange(0, max(1, len(suite.cases) * len(labels) * repeats))
        self.progress.setValue(len(earlier))
        self.eta.setText("")
        self.state.setText(f"Running {len(suite.cases)} cases on {len(labels)} targets…")
        stop = self._stop = CancelToken()
        self._runner = runner

        def work(progress: Progress, cancel: CancelToken) -> RunOutcome:
            token = CancelToken(parent=cancel)  # cancelled with the page, or by Cancel
            stop.on_cancel(token.cancel)  # (cancel() also wakes a call blocked on a socket)
            cancel.on_cancel(token.cancel)
            runner.on_event = progress
            return runner.run(token)

        self._tasks.run(work, key=RUN_KEY, on_progress=self._on_event,
                        on_result=self._finished, on_error=self._failed,
                        name="workbench-evals-run")
        self._update_controls()
        self.tabs.setCurrentWidget(self.results_tab)

    def _on_event(self, event: EvalEvent) -> None:
        """The runner's events, on the GUI thread, in order."""
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))
        self.eta.setText(f"about {format_ms(event.eta_s * 1000)} left"
                         if event.eta_s is not None else "")
        if event.kind == "result" and event.result is not None:
            self.matrix.add(event.result)
            if self.matrix.currentRow() >= 0:
                self.show_cell_at(self.matrix.currentRow(), self.matrix.currentColumn())
        elif event.kind == "skipped" and event.target:
            self.matrix.mark_skipped(event.target, event.message)
            self.state.setText(f"Skipped {event.target}: {event.message}")
        elif event.kind == "status" and event.message:
            self.state.setText(event.message)

    def _finished(self, outcome: RunOutcome) -> None:
        self._stop = None
        self.eta.setText("")
        answered = len({(r.case_id, r.target, r.repeat) for r in outcome.results})
        total = len(outcome.suite.cases) * len(outcome.targets) * self.matrix.repeats
        if outcome.complete:
            state = f"Run {outcome.run_id} complete: {answered} answers."
        elif outcome.cancelled:
            state = (f"Run {outcome.run_id} cancelled: {answered} of {total} answered; resume "
                     "it on Earlier runs.")
        else:
            state = f"Run {outcome.run_id} did not complete: {answered} of {total} answered."
        if outcome.skipped:
            state += " Skipped: " + "; ".join(f"{t}: {why}" for t, why in
                                              outcome.skipped.items())
        self.state.setText(state)
        self.show_outcome(outcome)
        self._update_controls()
        self.refresh_runs()
        self.runFinished.emit(outcome.run_id)

    def _failed(self, err: BaseException) -> None:
        self._stop = None
        self.eta.setText("")
        self._say(f"The run failed: {err}")
        self._update_controls()
        self.refresh_runs()

    def cancel_run(self) -> None:
        """Stop after the answers in progress; what was answered stays stored."""
        if self._stop is not None and self.running:
            self._stop.cancel()
            self.cancel_button.setEnabled(False)
            self.state.setText("Stopping after the answers in progress…")

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop a run and let its models go (the window is closing)."""
        self._cancel_pending()
        task = self._tasks.current(RUN_KEY)
        if self._stop is not None:
            self._stop.cancel()
        self._tasks.cancel_all()
        if task is not None:
            task.wait(timeout_s)

    def _update_controls(self) -> None:
        running = self.running
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(self.outcome is not None and not running)
        rows = self._selected_runs()
        self.open_button.setEnabled(len(rows) == 1 and not running)
        self.resume_button.setEnabled(len(rows) == 1 and not running
                                      and rows[0].status != store.COMPLETE)
        self.diff_button.setEnabled(len(rows) == 2)

    def _say(self, text: str) -> None:
        self.state.setText(text)
        self.statusMessage.emit(text)

    # -- results -----------------------------------------------------------------------------
    def show_outcome(self, outcome: RunOutcome) -> None:
        """A run's matrix (already filled while it ran), summary and decision."""
        self.outcome = outcome
        for result in outcome.results:
            self.matrix.add(result)
        for target, reason in outcome.skipped.items():
            self.matrix.mark_skipped(target, reason)
        self.summary = summarize(outcome.suite, outcome.results, outcome.targets)
        show_summary(self.summary_table, self.summary)
        self.comparisons.setPlainText(readable(summary_lines(self.summary), outcome.targets))
        self.update_decision()
        self._update_controls()

    def update_decision(self) -> None:
        if self.summary is None:
            return
        try:
            volume = parse_amount(self.volume.text())
            self.decision = decide(self.summary, bar=self.bar.value() / 100,
                                   monthly_requests=volume, private=self.private.isChecked(),
                                   settings=load_settings())
        except WorkbenchError as err:
            self.decision = None
            self.decision_text.setPlainText(f"No decision: {err}")
            return
        self.decision_text.setPlainText(readable(self.decision.lines(),
                                                 [t.target for t in self.summary.targets]))

    def show_cell(self, case_id: str, target: str) -> None:
        self.detail.setPlainText(detail_text(self.matrix.case(case_id), target,
                                             self.matrix.results(case_id, target),
                                             self.matrix.repeats))

    def show_cell_at(self, row: int, column: int) -> None:
        if 0 <= row < len(self.matrix.cases) and 1 <= column <= len(self.matrix.targets):
            self.show_cell(self.matrix.cases[row].id, self.matrix.targets[column - 1])

    def document(self) -> dict[str, Any]:
        """The shown run as the reports' document (docs/evals.md)."""
        outcome = self.outcome
        if outcome is None or self.summary is None:
            raise BadInput("no run to export: run a suite or open an earlier run")
        return reports.build_document(
            run_id=outcome.run_id, suite=outcome.suite, targets=outcome.targets,
            results=outcome.results, summary=self.summary, decision=self.decision,
            skipped=outcome.skipped, judge=outcome.judge, judge_usage=outcome.judge_usage,
            complete=outcome.complete)

    def export(self, path: Path | None = None) -> Path | None:
        """Write the shown run as a report, its format by the file's suffix (asks where)."""
        if path is None:
            name, chosen = QFileDialog.getSaveFileName(self, "Export the run", "eval.html",
                                                       REPORT_FILTER)
            if not name:
                return None
            path = Path(name)
            if path.suffix.lower() not in REPORTS:
                path = path.with_suffix(chosen.rsplit("*", 1)[-1].rstrip(")") or ".html")
        writer = REPORTS.get(path.suffix.lower())
        try:
            if writer is None:
                raise BadInput(f"cannot tell the format of {path.name}: use .html, .json, .md "
                               "or .xml (JUnit)")
            writer(self.document(), path)
        except (WorkbenchError, OSError) as err:
            self._say(f"Not exported: {err}")
            return None
        self.statusMessage.emit(f"Wrote {path}")
        return path

    # -- earlier runs ------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        try:
            with contextlib.closing(db.connect()) as connection:
                rows = store.list_runs(connection)
        except Exception as err:  # a broken database must not break the page
            self.statusMessage.emit(f"earlier runs unavailable: {err}")
            return
        self.runs = {row.id: row for row in rows}
        self.runs_table.setRowCount(0)
        for row in rows:
            status = row.status
            if status == store.RUNNING and not (self.running and self._runner is not None
                                                and self._runner.run_id == row.id):
                status = "running or stopped"  # another process's, or one killed (resumable)
            cells = (str(row.id), row.created_at[:16].replace("T", " "), status,
                     f"{row.answered}/{row.total}", str(row.passed), str(row.failed),
                     str(row.errors), _short(row.description or row.suite_path or ""),
                     ", ".join(row.targets))
            index = self.runs_table.rowCount()
            self.runs_table.insertRow(index)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(RUN_ROLE, row.id)
                if column == 7:
                    item.setToolTip(plain_tip(row.description or row.suite_path or ""))
                elif column == 8:
                    item.setToolTip(plain_tip(text))
                self.runs_table.setItem(index, column, item)
        self._update_controls()

    def _selected_runs(self) -> list[store.RunRow]:
        ids = sorted({int(self.runs_table.item(i.row(), 0).data(RUN_ROLE))
                      for i in self.runs_table.selectedIndexes()})
        return [self.runs[i] for i in ids if i in self.runs]

    def select_runs(self, *run_ids: int) -> None:
        self.runs_table.clearSelection()
        chosen = QItemSelection()
        for index in range(self.runs_table.rowCount()):
            if int(self.runs_table.item(index, 0).data(RUN_ROLE)) in run_ids:
                chosen.select(self.runs_table.model().index(index, 0),
                              self.runs_table.model().index(index, len(RUN_COLUMNS) - 1))
        self.runs_table.selectionModel().select(
            chosen, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def open_run(self, run_id: int) -> bool:
        """Show a stored run: its matrix, summary and decision."""
        if self.running:
            return False
        try:
            outcome = stored_outcome(run_id)
        except WorkbenchError as err:
            self._say(str(err))
            return False
        row = self.runs.get(run_id)
        self.matrix.set_run(outcome.suite.cases, outcome.targets,
                            row.options.repeat if row else 1)
        self.detail.clear()
        self.show_outcome(outcome)
        self.state.setText(f"Run {run_id}" + (f" ({row.status})" if row else ""))
        self.tabs.setCurrentWidget(self.results_tab)
        return True

    def resume_run(self, run_id: int) -> bool:
        """Continue a cancelled or stopped run: only what it is missing is asked."""
        if self.running or self._pending is not None:
            return False
        try:
            settings = load_settings()
            runner = resume(run_id, settings=settings)
            earlier = stored_outcome(run_id)
        except WorkbenchError as err:
            self._say(str(err))
            return False
        return self._ask(runner, earlier.targets, runner.suite, runner.options.repeat,
                         earlier.results, settings)

    def open_selected(self) -> None:
        rows = self._selected_runs()
        if len(rows) == 1:
            self.open_run(rows[0].id)

    def resume_selected(self) -> None:
        rows = self._selected_runs()
        if len(rows) == 1:
            self.resume_run(rows[0].id)

    def diff_selected(self) -> str:
        """The two selected runs, older first: which cases got better or worse."""
        rows = self._selected_runs()
        if len(rows) != 2:
            return ""
        try:
            a, b = stored_outcome(rows[0].id), stored_outcome(rows[1].id)
        except WorkbenchError as err:
            self._say(str(err))
            return ""
        diff = diff_runs(a.run_id, a.targets, a.results, b.run_id, b.targets, b.results)
        text = diff_text(diff)
        self.diff_view.setPlainText(text)
        return text
