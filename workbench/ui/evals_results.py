"""The Evals page's results: the case x target matrix (PASS / FAIL / ERROR in words with a colour
beside them; with repeats the passes of the answers so far, "2/3"), what one cell holds (every
answer and every verdict with its reason, as plain text: model output is never markup), the
per-target summary table with its intervals, and a run's diff against another."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.evals.diff import RunDiff
from workbench.evals.model import Case, CaseResult
from workbench.evals.reports import short_target, shortened
from workbench.evals.runner import render_messages
from workbench.evals.summary import Summary, TargetSummary, percent
from workbench.present.numbers import NA, answer_cost, format_energy, format_ms, format_rate, money
from workbench.ui.style import ERROR_HUE, blend
from workbench.ui.widgets import plain_tip, row_table

PASS_HUE = QColor(40, 150, 70)
WARN_HUE = QColor(210, 150, 20)  # an error: neither a pass nor a fail
PASS, FAIL, ERROR, MIXED, PENDING, SKIPPED = "pass", "fail", "error", "mixed", "pending", "skipped"
HUES = {PASS: PASS_HUE, FAIL: ERROR_HUE, ERROR: WARN_HUE, MIXED: WARN_HUE}
CASE_ROLE = Qt.ItemDataRole.UserRole
SUMMARY_COLUMNS = ("Target", "Pass rate (95% CI)", "Passed", "Failed", "Errors", "Missing",
                   "Cost / 1,000 cases", "TTFT p50", "Latency p50 / p95", "Generation",
                   "Energy / case", "Where")


def verdict_word(passed: bool | None) -> str:
    return "ERROR" if passed is None else ("PASS" if passed else "FAIL")


def cell_state(results: Sequence[CaseResult], repeats: int) -> tuple[str, str, str]:
    """(text, kind, tooltip) of one case x target cell."""
    if not results:
        return "", PENDING, "not answered yet"
    passed = sum(1 for r in results if r.passed is True)
    errors = sum(1 for r in results if r.passed is None)
    n = len(results)
    if repeats <= 1 and n == 1:
        word = verdict_word(results[0].passed)
        return word, word.lower(), f"{word}: click for the answer and the reasons"
    text = f"{passed}/{n}"
    if errors:
        text += f" ({errors} error{'s' if errors > 1 else ''})"
    if n < repeats:
        text += " …"
    kind = (PASS if passed == n else ERROR if errors == n else
            FAIL if passed == 0 and not errors else MIXED)
    tip = (f"{passed} of {n} answers passed, {n - passed - errors} failed, {errors} errors"
           + (f" ({repeats - n} repeats to go)" if n < repeats else ""))
    return text, kind, tip


TARGET_COLUMN_MAX = 200  # pixels: a few targets side by side stay in view


def target_title(target: str) -> str:
    """A target as the page shows it: a local model by its file name (the full spec in the
    tooltip)."""
    return short_target(target)


def readable(lines: Sequence[str], targets: Sequence[str]) -> str:
    """Sentences about targets with each local model named by its file, not its whole path."""
    return "\n".join(shortened(list(lines), {"targets": [{"target": t} for t in targets]}))


def _figures(result: CaseResult) -> str:
    answer = result.answer
    parts = [f"TTFT {format_ms(answer.ttft_ms)}" if answer.ttft_ms is not None else "",
             f"total {format_ms(answer.total_ms)}" if answer.total_ms is not None else "",
             f"{answer.completion_tokens} tokens" if answer.completion_tokens is not None
             else "",
             format_rate(answer.gen_tokens_per_s) if answer.gen_tokens_per_s is not None else "",
             answer_cost(answer.cost_usd) if answer.cost_usd is not None else "",
             f"finish: {answer.finish_reason}" if answer.finish_reason else ""]
    return " · ".join(p for p in parts if p)


def detail_text(case: Case | None, target: str, results: Sequence[CaseResult],
                repeats: int = 1) -> str:
    """Everything one cell holds, as plain text: each answer, its figures and every verdict
    with its reason."""
    lines = []
    if case is not None:
        lines.append(f"Case {case.id}" + (f": {case.description}" if case.description else ""))
        try:
            messages = render_messages(case)
        except WorkbenchError as err:
            lines.append(f"The prompt cannot be filled in: {err}")
        else:
            lines.append("Prompt:")
            lines += [f"  [{m['role']}] {m['content']}" for m in messages]
    lines.append(f"Target: {target}")
    if not results:
        lines += ["", "Not answered yet."]
    for result in sorted(results, key=lambda r: r.repeat):
        score = f", score {result.score:.2f}" if result.score is not None else ""
        head = (f"Repeat {result.repeat + 1} of {repeats}: " if repeats > 1 else "")
        lines += ["", f"{head}{verdict_word(result.passed)}{score}"]
        figures = _figures(result)
        if figures:
            lines.append(figures)
        if result.error:
            lines.append(f"Error: {result.error}")
        lines += ["Answer:", result.answer.text or "(empty)"]
        if result.verdicts:
            lines.append("Verdicts:")
        for verdict in result.verdicts:
            word = "ERROR" if verdict.error else verdict_word(verdict.passed)
            metric = f" [{verdict.metric}]" if verdict.metric else ""
            lines.append(f"  {word} {verdict.type}{metric} (score {verdict.score:.2f}): "
                         f"{verdict.reason}")
            if verdict.error and verdict.error != verdict.reason:
                lines.append(f"    error: {verdict.error}")
    return "\n".join(lines)


class ResultsMatrix(QTableWidget):
    """Cases down, targets across; ``cellChosen(case_id, target)`` when a cell is picked."""

    cellChosen = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 0, parent)
        self.setAccessibleName("Results: cases x targets")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)  # the Case column names each row
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.horizontalHeader().setDefaultSectionSize(130)
        self.cases: list[Case] = []
        self.targets: list[str] = []
        self.repeats = 1
        self.skipped: dict[str, str] = {}
        self._results: dict[tuple[str, str], dict[int, CaseResult]] = {}
        self._rows: dict[str, int] = {}
        self.currentCellChanged.connect(self._current_changed)
        self.cellClicked.connect(lambda row, column: self._chosen(row, column))

    def set_run(self, cases: Sequence[Case], targets: Sequence[str], repeats: int) -> None:
        """An empty matrix for these cases and targets."""
        self.cases, self.targets, self.repeats = list(cases), list(targets), max(1, repeats)
        self.skipped = {}
        self._results = {}
        self._rows = {case.id: row for row, case in enumerate(self.cases)}
        self.clear()
        self.setRowCount(len(self.cases))
        self.setColumnCount(len(self.targets) + 1)
        self.setHorizontalHeaderLabels(["Case", *(target_title(t) for t in self.targets)])
        for column, target in enumerate(self.targets, start=1):
            self.horizontalHeaderItem(column).setToolTip(plain_tip(target))
        self.setColumnWidth(0, 240)
        header = self.horizontalHeader()
        header.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "local:Smol...Q8_0.gguf"
        for column in range(1, len(self.targets) + 1):  # the whole name is in the tooltip
            self.resizeColumnToContents(column)
            self.setColumnWidth(column, min(self.columnWidth(column), TARGET_COLUMN_MAX))
        for row, case in enumerate(self.cases):
            text = f"{case.id} {case.description}".strip()
            item = QTableWidgetItem(text)
            item.setToolTip(plain_tip(text))
            item.setData(CASE_ROLE, case.id)
            self.setItem(row, 0, item)
            for column in range(1, len(self.targets) + 1):
                self.setItem(row, column, QTableWidgetItem(""))

    def add(self, result: CaseResult) -> None:
        """One answer in its cell (a repeat again replaces the earlier one)."""
        if result.target not in self.targets or result.case_id not in self._rows:
            return
        self._results.setdefault((result.case_id, result.target), {})[result.repeat] = result
        self._paint(result.case_id, result.target)

    def mark_skipped(self, target: str, reason: str) -> None:
        """A target the run could not ask: its cells say so, the reason in their tooltip."""
        if target not in self.targets:
            return
        self.skipped[target] = reason
        column = self.targets.index(target) + 1
        header = self.horizontalHeaderItem(column)
        header.setText(f"{target_title(target)} (skipped)")
        header.setToolTip(plain_tip(f"{target}\n\nskipped: {reason}"))
        for case in self.cases:
            if not self.results(case.id, target):
                item = self.item(self._rows[case.id], column)
                item.setText("SKIPPED")
                item.setToolTip(plain_tip(reason))

    def results(self, case_id: str, target: str) -> list[CaseResult]:
        found = self._results.get((case_id, target), {})
        return [found[k] for k in sorted(found)]

    def all_results(self) -> list[CaseResult]:
        return [r for found in self._results.values() for r in found.values()]

    def text_at(self, case_id: str, target: str) -> str:
        return self.item(self._rows[case_id], self.targets.index(target) + 1).text()

    def case(self, case_id: str) -> Case | None:
        row = self._rows.get(case_id)
        return None if row is None else self.cases[row]

    def _paint(self, case_id: str, target: str) -> None:
        text, kind, tip = cell_state(self.results(case_id, target), self.repeats)
        item = self.item(self._rows[case_id], self.targets.index(target) + 1)
        item.setText(text)
        item.setToolTip(plain_tip(tip))
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        hue = HUES.get(kind)
        if hue is not None:
            base = self.palette().color(QPalette.ColorRole.Base)
            item.setBackground(QBrush(blend(base, hue, 0.30)))

    def _current_changed(self, row: int, column: int, *_previous: int) -> None:
        self._chosen(row, column)

    def _chosen(self, row: int, column: int) -> None:
        if 0 <= row < len(self.cases) and 1 <= column <= len(self.targets):
            self.cellChosen.emit(self.cases[row].id, self.targets[column - 1])


def _ci(target: TargetSummary) -> str:
    rate = percent(target.pass_rate)
    if target.pass_rate_ci is None:
        return rate
    low, high = target.pass_rate_ci
    return f"{rate} ({low:.0%}–{high:.0%})"


def summary_row(target: TargetSummary) -> tuple[str, ...]:
    """One target's figures, in SUMMARY_COLUMNS' order."""
    latency = NA if target.total_ms_p50 is None else (
        f"{format_ms(target.total_ms_p50)} / {format_ms(target.total_ms_p95)}")
    energy = NA if target.energy_j_per_case is None else (
        format_energy(target.energy_j_per_case) + (" (est.)" if target.energy_estimated else ""))
    return (target_title(target.target), _ci(target), str(target.passed), str(target.failed),
            str(target.errors), str(target.missing),
            NA if target.cost_per_1000 is None else money(target.cost_per_1000),
            NA if target.ttft_ms_p50 is None else format_ms(target.ttft_ms_p50), latency,
            NA if target.gen_tokens_per_s_median is None else format_rate(
                target.gen_tokens_per_s_median),
            energy, target.destination or NA)


def summary_table(parent: QWidget) -> QTableWidget:
    return row_table(SUMMARY_COLUMNS, "Summary per target", parent)


def show_summary(table: QTableWidget, summary: Summary | None) -> None:
    table.setRowCount(0)
    for target in summary.targets if summary is not None else []:
        row = table.rowCount()
        table.insertRow(row)
        for column, text in enumerate(summary_row(target)):
            item = QTableWidgetItem(text)
            if column == 0:
                item.setToolTip(plain_tip(target.target))
            elif column == 1:
                item.setToolTip("Passed / (passed + failed), errors left out; the interval is "
                                "Wilson's 95% interval")
            elif column == 6 and target.cost_note:
                item.setToolTip(plain_tip(target.cost_note))
            table.setItem(row, column, item)


def summary_lines(summary: Summary | None) -> list[str]:
    """The comparisons between targets, one sentence each, each followed by what its LoRA
    adapter buys where the two are one model with and without adapters."""
    if summary is None:
        return []
    lines = []
    for comparison in summary.comparisons:
        lines.append(comparison.text)
        if comparison.adapter is not None:
            lines.append(comparison.adapter.text)
    return lines


def diff_text(diff: RunDiff) -> str:
    """Which cases got better or worse from run A to run B, as plain text."""
    pairs = ", ".join(a if a == b else f"{a} -> {b}" for a, b in diff.pairs)
    lines = [f"Run {diff.run_a} -> run {diff.run_b}: {pairs or 'no target in common'}"]
    for kind in ("worse", "better", "changed"):
        changes = diff.of_kind(kind)
        lines.append(f"{kind.capitalize()}: {len(changes)}")
        for change in changes:
            lines.append(f"  case {change.case_id} ({change.target_b}): {change.before} -> "
                         f"{change.after}")
    lines.append(f"Unchanged: {len(diff.of_kind('same'))}")
    if diff.only_a or diff.only_b:
        lines.append(f"Cases only in run {diff.run_a}: {', '.join(diff.only_a) or 'none'}; "
                     f"only in run {diff.run_b}: {', '.join(diff.only_b) or 'none'}")
    return "\n".join(lines)
