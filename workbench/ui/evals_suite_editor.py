"""The Evals page's suite editor: open a suite file or a starter suite, or start a new one; its
cases in a table (a description, one column per variable, the assertions), edited in place and
saved as YAML.

The suite is kept as the plain dict its YAML reads to (prompts, providers, tests, defaultTest,
...; read as the suite loader reads YAML: ``no`` stays a string): the table edits each test's
``description``, ``vars`` and ``assert`` and leaves every other key as it was (comments in the
file are not kept). Before a save or a run the dict is written with
``dump_suite`` and checked with ``parse_suite``; an error shows as "FILE:LINE: what", followed
by the line it names.

Cells are plain text:

- a variable: its value as written; a list or a mapping as JSON. An edited cell that starts
  with ``[`` or ``{`` and is valid JSON is that JSON, anything else a string; an empty cell
  leaves the variable unset for that case.
- the assertions: one per line, ``TYPE: VALUE`` (``not-`` prefixes as in the suite), then
  options: ``icontains: paris, weight: 2, metric: facts`` (threshold, weight, metric,
  provider). A value is the text as it is, or JSON (a list, a number, a quoted string), or
  single-quoted; a line of only ``TYPE`` (``is-json``) has no value. After an edit the cell
  shows how it was read (text that would read as something else is quoted).

Cases that come from a file the suite names (``tests: file://cases.csv``) are shown read-only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import BadInput, WorkbenchError
from workbench.evals.model import Suite, SuiteError
from workbench.evals.starters import Starter, starter_suites
from workbench.evals.suite import dump_suite, load_suite, parse_suite
from workbench.evals.templating import variables
from workbench.evals.yaml_source import load_yaml
from workbench.ui.style import banner_stylesheet
from workbench.ui.widgets import confirm, plain_label, plain_tip

SUITE_FILTER = "Eval suites (*.yaml *.yml);;All files (*)"
# assertion keys besides type and value that a "TYPE: VALUE, KEY: X" line may set
OPTIONS = ("threshold", "weight", "metric", "provider")
_OPTION = re.compile(r",\s*(" + "|".join(OPTIONS) + r")\s*:\s*")
FLOW_CHARS = frozenset(",[]{}#&*!|>'\"%@`") | {": "}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING: Any = object()
FILE_PREFIX = "file://"
EDIT_TRIGGERS = (QAbstractItemView.EditTrigger.DoubleClicked
                 | QAbstractItemView.EditTrigger.EditKeyPressed
                 | QAbstractItemView.EditTrigger.AnyKeyPressed)


def new_suite() -> dict[str, Any]:
    """What "New suite" starts from: one prompt, one case, one assertion."""
    return {"description": "New suite", "prompts": ["{{question}}"],
            "tests": [{"description": "arithmetic", "vars": {"question": "What is 2 + 2?"},
                       "assert": [{"type": "contains", "value": "4"}]}]}


# -- cell text <-> suite values (Qt-free) --------------------------------------------------------
def var_text(value: Any) -> str:
    """A variable's cell: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def var_value(text: str, original: Any = _MISSING) -> Any:
    """The value of an edited variable cell (``original``, the value before: kept when the text
    did not change)."""
    if original is not _MISSING and var_text(original) == text:
        return original
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return text


def _has_break(value: str) -> bool:
    return any(c in value for c in "\n\r\t")


def _flow(value: Any) -> str:
    """A value on one line: a plain word as it is (quoted where YAML would read it as
    something else: ``'no'``, ``'4'``), anything else as JSON."""
    if (isinstance(value, str) and value and value == value.strip() and not _has_break(value)
            and not any(c in value for c in FLOW_CHARS)):
        text = dump_suite({"v": value}).strip()
        if text.startswith("v: ") and "\n" not in text:
            return text[3:]
    return json.dumps(value, ensure_ascii=False)


def _scalar(text: str) -> Any:
    """What ``_flow`` wrote: JSON, a single-quoted string, or the text itself."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text[:1] in ('"', "[", "{", "-", ".") or text[:1].isdigit() or text in (
            "true", "false", "null"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def assertion_line(entry: Any) -> str:
    """One assertion of the suite as a cell line: ``TYPE: VALUE[, KEY: X ...]``."""
    if not isinstance(entry, dict):
        return _flow(entry)
    head = str(entry.get("type", ""))
    if entry.get("value") is not None:
        head = f"{head}: {_flow(entry['value'])}"
    rest = [f"{key}: {_flow(value)}" for key, value in entry.items()
            if key not in ("type", "value")]
    return ", ".join([head, *rest])


def parse_assertion_line(line: str) -> dict[str, Any]:
    """An assertion from a cell line (see the module docstring)."""
    line = line.strip()
    cuts = list(_OPTION.finditer(line))
    head = line[:cuts[0].start()] if cuts else line
    kind, sep, value = head.partition(":")
    entry: dict[str, Any] = {"type": kind.strip()}
    if sep and value.strip():
        entry["value"] = _scalar(value)
    for n, cut in enumerate(cuts):
        end = cuts[n + 1].start() if n + 1 < len(cuts) else len(line)
        entry[cut.group(1)] = _scalar(line[cut.end():end])
    return entry


def assertion_entries(text: str, originals: list[Any]) -> list[Any]:
    """The ``assert`` list of an edited cell: a line unchanged keeps its entry as it was."""
    known = {assertion_line(entry): entry for entry in originals}
    return [known[line.strip()] if line.strip() in known else parse_assertion_line(line)
            for line in text.splitlines() if line.strip()]


def read_yaml(text: str, source: str) -> Any:
    """The suite file as plain data, read as the suite loader reads it (YAML 1.2 scalars:
    ``no`` stays a string; aliases bounded); SuiteError with the line for bad YAML."""
    return load_yaml(text, source)[0]


def editable(data: Any) -> bool:
    """Whether the table can edit the cases: inline tests, each a mapping of plain parts."""
    tests = data.get("tests", []) if isinstance(data, dict) else None
    if not isinstance(tests, list):
        return False
    for test in tests:
        if not isinstance(test, dict):
            return False
        if not isinstance(test.get("vars", {}), dict) or not isinstance(test.get("assert", []),
                                                                         list):
            return False
    return True


def single_prompt(data: dict[str, Any]) -> str | None:
    """The suite's one plain prompt, or None when it has several, chat lists or files."""
    prompts = data.get("prompts")
    if isinstance(prompts, list) and len(prompts) == 1:
        prompts = prompts[0]
    if isinstance(prompts, str) and not prompts.startswith("file://"):
        return prompts
    return None


def error_text(err: BaseException, text: str | None = None, source: str | None = None) -> str:
    """``str(err)``, and for a suite error in ``text`` (the YAML ``source`` names) the line."""
    message = str(err)
    line = getattr(err, "line", None)
    if text is not None and isinstance(err, SuiteError) and line and (
            source is None or err.source == source):
        lines = text.splitlines()
        if 0 < line <= len(lines):
            message += f"\n{line:>5} | {lines[line - 1]}"
    return message


# -- the widgets ---------------------------------------------------------------------------------
class _MultiLineDelegate(QStyledItemDelegate):
    """Variable and assertion cells edit in a plain-text box (several lines; Enter adds one,
    leaving the cell saves it)."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,
                     index: QModelIndex) -> QWidget:
        editor = QPlainTextEdit(parent)
        editor.setTabChangesFocus(True)
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        assert isinstance(editor, QPlainTextEdit)
        editor.setPlainText(str(index.data(Qt.ItemDataRole.EditRole) or ""))

    def setModelData(self, editor: QWidget, model: Any, index: QModelIndex) -> None:
        assert isinstance(editor, QPlainTextEdit)
        model.setData(index, editor.toPlainText(), Qt.ItemDataRole.EditRole)

    def updateEditorGeometry(self, editor: QWidget, option: QStyleOptionViewItem,
                             index: QModelIndex) -> None:
        rect = option.rect
        rect.setHeight(max(rect.height(), 90))
        editor.setGeometry(rect)


class SuiteEditor(QWidget):
    """Open, create, edit and save a suite; ``suite()`` gives it checked, ready to run."""

    statusMessage = Signal(str)
    suiteChanged = Signal()  # another suite was opened or created (not on each edit)
    edited = Signal()

    def __init__(self, parent: QWidget | None = None, *,
                 starters: Callable[[], list[Starter]] = starter_suites) -> None:
        super().__init__(parent)
        self._starters = starters
        self.data: dict[str, Any] | None = None
        self.path: Path | None = None  # the file it was read from or saved to
        self.base_dir: Path | None = None  # where the case files it names are
        self.starter: Starter | None = None  # a starter suite: saving asks where
        self.modified = False
        self.file_text: str | None = None  # the file as read or saved
        self.loaded: Suite | None = None  # the last suite that checked out
        self.var_names: list[str] = []
        self._filling = False

        self.open_button = QPushButton("Open…", self)
        self.open_button.setToolTip("Open a suite file (YAML, promptfoo's format)")
        self.open_button.clicked.connect(self.choose_file)
        self.starters_button = QToolButton(self)
        self.starters_button.setText("Starter suites")
        self.starters_button.setAccessibleName("Starter suites")
        self.starters_button.setToolTip("Ready-made suites for common tasks, runnable at once")
        self.starters_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.starters_menu = QMenu(self.starters_button)
        self.starters_menu.aboutToShow.connect(self._fill_starters)
        self.starters_button.setMenu(self.starters_menu)
        self.new_button = QPushButton("New", self)
        self.new_button.setToolTip("Start a new suite")
        self.new_button.clicked.connect(self.new)
        self.save_button = QPushButton("Save", self)
        self.save_button.clicked.connect(lambda: self.save())
        self.save_as_button = QPushButton("Save as…", self)
        self.save_as_button.clicked.connect(self.save_as)
        self.name_label = plain_label("No suite", self)
        self.name_label.setAccessibleName("Suite file")
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        for widget in (self.open_button, self.starters_button, self.new_button,
                       self.save_button, self.save_as_button):
            buttons.addWidget(widget)
        buttons.addWidget(self.name_label, 1)

        self.error = plain_label("", self)
        self.error.setObjectName("noticeBanner")
        self.error.setAccessibleName("Suite error")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet(banner_stylesheet(self.palette()).replace("QFrame", "QLabel")
                                 + "QLabel#noticeBanner { padding: 6px; }")
        code = self.error.font()
        code.setStyleHint(code.StyleHint.Monospace)
        code.setFamily("monospace")
        self.error.setFont(code)
        self.error.hide()

        self.description = QLineEdit(self)
        self.description.setPlaceholderText("What this suite checks")
        self.description.setAccessibleName("Suite description")
        self.description.textEdited.connect(self._description_edited)
        self.prompt = QPlainTextEdit(self)
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setPlaceholderText("The prompt, with {{variable}} for each case's values")
        self.prompt.setMaximumHeight(80)
        self.prompt.textChanged.connect(self._prompt_edited)
        self.prompt_note = plain_label("", self)
        self.prompt_note.setWordWrap(True)

        self.table = QTableWidget(0, 2, self)
        self.table.setAccessibleName("Cases")
        self.table.setWordWrap(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(EDIT_TRIGGERS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setItemDelegate(_MultiLineDelegate(self.table))
        self.table.itemChanged.connect(self._item_changed)
        self.table_note = plain_label("", self)
        self.table_note.setWordWrap(True)
        self.add_case_button = QPushButton("Add case", self)
        self.add_case_button.clicked.connect(self.add_case)
        self.remove_case_button = QPushButton("Remove case", self)
        self.remove_case_button.clicked.connect(self.remove_selected)
        self.add_var_button = QPushButton("Add variable…", self)
        self.add_var_button.setToolTip("A new column: a {{name}} the prompt can use")
        self.add_var_button.clicked.connect(self._ask_variable)
        case_buttons = QHBoxLayout()
        case_buttons.addWidget(self.add_case_button)
        case_buttons.addWidget(self.remove_case_button)
        case_buttons.addWidget(self.add_var_button)
        case_buttons.addStretch(1)
        hint = QLabel("Assertions: one per line, TYPE: VALUE, e.g. icontains: paris, weight: 2",
                      self)
        case_buttons.addWidget(hint)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.error)
        layout.addWidget(self.description)
        layout.addWidget(self.prompt)
        layout.addWidget(self.prompt_note)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.table_note)
        layout.addLayout(case_buttons)
        self._set_data(None)
        self._show_name()

    # -- opening -----------------------------------------------------------------------------
    @property
    def has_suite(self) -> bool:
        return self.data is not None or self.loaded is not None

    @property
    def cases_editable(self) -> bool:
        return self.data is not None and editable(self.data)

    def may_discard(self) -> bool:
        """Whether unsaved edits may go (asks)."""
        return not self.modified or confirm(self, "Unsaved suite",
                                            "Discard the changes to this suite?")

    def choose_file(self) -> None:
        if not self.may_discard():
            return
        start = str(self.path.parent) if self.path else os.path.expanduser("~")
        path, _ = QFileDialog.getOpenFileName(self, "Open an eval suite", start, SUITE_FILTER)
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path, *, starter: Starter | None = None) -> bool:
        """Read ``path``: its cases fill the table; a problem shows as FILE:LINE."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            self.show_error(f"{path}: cannot read it: {err}")
            return False
        try:
            data = read_yaml(text, str(path))
        except WorkbenchError:
            data = None  # load_suite names the line
        self.path, self.base_dir, self.starter = path, path.parent, starter
        self.file_text = text
        self._set_data(data if isinstance(data, dict) else None)
        try:
            self.loaded = load_suite(path)
        except WorkbenchError as err:
            self.loaded = None
            self.show_error(error_text(err, text, str(path)))
        else:
            self.show_error("")
            if not self.cases_editable:
                self._fill_read_only(self.loaded)
        self._show_name()
        self.suiteChanged.emit()
        return True

    def open_starter(self, starter: Starter) -> bool:
        """A starter suite (saving it asks for a new file: the installed one stays as it is)."""
        if not self.may_discard():
            return False
        return self.open_file(Path(starter.path), starter=starter)

    def new(self) -> None:
        if not self.may_discard():
            return
        self.path, self.base_dir, self.starter, self.file_text = None, None, None, None
        self._set_data(new_suite())
        self.loaded = None
        self.modified = True
        self.show_error("")
        self._show_name()
        self.suiteChanged.emit()

    def _fill_starters(self) -> None:
        self.starters_menu.clear()
        try:
            starters = self._starters()
        except WorkbenchError as err:
            self.statusMessage.emit(f"starter suites unavailable: {err}")
            starters = []
        for starter in starters:
            action = self.starters_menu.addAction(starter.title)
            action.setToolTip(starter.description)
            action.setData(starter.name)
            action.triggered.connect(lambda _c=False, s=starter: self.open_starter(s))
        if not starters:
            self.starters_menu.addAction("No starter suites found").setEnabled(False)

    # -- the table ---------------------------------------------------------------------------
    def _set_data(self, data: dict[str, Any] | None) -> None:
        self.data = data
        self.modified = False
        self._filling = True
        try:
            self.description.setText(str((data or {}).get("description") or ""))
            prompt = single_prompt(data) if data is not None else None
            self.prompt.setPlainText(prompt if prompt is not None else
                                     _prompts_text(data.get("prompts")) if data else "")
            self.prompt.setReadOnly(prompt is None)
            self.prompt_note.setText("" if prompt is not None or data is None else
                                     "This suite has several prompts or chat prompts: edit "
                                     "them in the file; the table edits the cases.")
            self.prompt_note.setVisible(bool(self.prompt_note.text()))
            self.var_names = self._variables(data) if data is not None else []
            self.table.setRowCount(0)
            self._set_columns()
            if data is not None and editable(data):
                for test in data.get("tests", []):
                    self._append_row(test)
        finally:
            self._filling = False
        can_edit = self.cases_editable
        self.table.setEditTriggers(EDIT_TRIGGERS if can_edit else
                                   QAbstractItemView.EditTrigger.NoEditTriggers)
        for widget in (self.add_case_button, self.remove_case_button, self.add_var_button):
            widget.setEnabled(can_edit)
        for widget in (self.description, self.save_as_button):
            widget.setEnabled(data is not None)
        self.save_button.setEnabled(data is not None)
        self.table_note.setText("" if data is None or can_edit else
                                "The cases come from a file this suite names: edit that file "
                                "(the table shows them read-only).")
        self.table_note.setVisible(bool(self.table_note.text()))
        self.table.resizeRowsToContents()

    def _variables(self, data: dict[str, Any]) -> list[str]:
        names: list[str] = []
        tests = data.get("tests")
        for test in tests if isinstance(tests, list) else []:
            if isinstance(test, dict) and isinstance(test.get("vars"), dict):
                names.extend(str(k) for k in test["vars"] if str(k) not in names)
        prompt = single_prompt(data)
        if prompt is not None:
            defaults = (data.get("defaultTest") or {}) if isinstance(
                data.get("defaultTest"), dict) else {}
            given = defaults.get("vars") if isinstance(defaults.get("vars"), dict) else {}
            try:
                used = sorted(variables(prompt))
            except WorkbenchError:
                used = []
            names.extend(n for n in used if n not in names and n not in given)
        return names

    def _set_columns(self) -> None:
        headers = ["Description", *self.var_names, "Assertions"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        for column, name in enumerate(headers):
            item = self.table.horizontalHeaderItem(column)
            if 0 < column < len(headers) - 1:
                item.setToolTip(plain_tip(f"The variable {{{{{name}}}}} of each case"))
            self.table.setColumnWidth(column, 220 if column else 160)

    def _append_row(self, test: dict[str, Any]) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(str(test.get("description") or "")))
        values = test.get("vars") or {}
        for column, name in enumerate(self.var_names, start=1):
            text = var_text(values[name]) if name in values else ""
            self.table.setItem(row, column, QTableWidgetItem(text))
        lines = "\n".join(assertion_line(a) for a in test.get("assert") or [])
        self.table.setItem(row, len(self.var_names) + 1, QTableWidgetItem(lines))

    def _fill_read_only(self, suite: Suite) -> None:
        """The cases of a suite whose tests come from a file, as read."""
        self._filling = True
        try:
            self.var_names = []
            for case in suite.cases:
                self.var_names.extend(k for k in case.vars if k not in self.var_names)
            self.table.setRowCount(0)
            self._set_columns()
            for case in suite.cases:
                test = {"description": case.description, "vars": case.vars,
                        "assert": [{"type": a.written_type, "value": a.value}
                                   for a in case.assertions]}
                self._append_row(test)
                for column in range(self.table.columnCount()):
                    item = self.table.item(self.table.rowCount() - 1, column)
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        finally:
            self._filling = False
        self.table.resizeRowsToContents()

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or not self.cases_editable or self.data is None:
            return
        test = self.data["tests"][item.row()]
        column, text = item.column(), item.text()
        if column == 0:
            if text.strip():
                test["description"] = text
            else:
                test.pop("description", None)
        elif column <= len(self.var_names):
            name = self.var_names[column - 1]
            values = test.setdefault("vars", {})
            before = values.get(name, _MISSING)
            if text == "" and before != "":
                values.pop(name, None)
            else:
                values[name] = var_value(text, before)
            if not values:
                test.pop("vars", None)
        else:
            entries = assertion_entries(text, list(test.get("assert") or []))
            if entries:
                test["assert"] = entries
            else:
                test.pop("assert", None)
            shown = "\n".join(assertion_line(a) for a in entries)
            if shown != text:
                self._filling = True
                item.setText(shown)  # how the lines were read
                self._filling = False
        self._touched()
        self.table.resizeRowToContents(item.row())

    def _touched(self) -> None:
        self.modified = True
        self._show_name()
        self.edited.emit()

    def _description_edited(self, text: str) -> None:
        if self.data is not None:
            self.data["description"] = text
            self._touched()

    def _prompt_edited(self) -> None:
        if self._filling or self.data is None or self.prompt.isReadOnly():
            return
        text = self.prompt.toPlainText()
        self.data["prompts"] = text if isinstance(self.data.get("prompts"), str) else [text]
        try:
            used = sorted(variables(text))
        except WorkbenchError:
            used = []
        for name in used:
            if name not in self.var_names and NAME.match(name):
                self.add_variable(name)
        self._touched()

    def add_case(self) -> int:
        """A new empty case at the end; returns its row."""
        if not self.cases_editable or self.data is None:
            return -1
        test: dict[str, Any] = {"description": f"case {len(self.data['tests']) + 1}"}
        self.data.setdefault("tests", []).append(test)
        self._filling = True
        self._append_row(test)
        self._filling = False
        row = self.table.rowCount() - 1
        self.table.setCurrentCell(row, 1 if self.var_names else 0)
        self._touched()
        return row

    def remove_selected(self) -> None:
        if not self.cases_editable or self.data is None:
            return
        rows = sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True)
        for row in rows:
            del self.data["tests"][row]
            self.table.removeRow(row)
        if rows:
            self._touched()

    def _ask_variable(self) -> None:
        name, ok = QInputDialog.getText(self, "Add a variable",
                                        "Name (letters, digits, _; the prompt uses {{name}}):")
        if ok and name.strip():
            try:
                self.add_variable(name.strip())
            except BadInput as err:
                self.statusMessage.emit(str(err))

    def add_variable(self, name: str) -> None:
        """A new variable column (unset in every case until a cell is filled)."""
        if not NAME.match(name):
            raise BadInput(f"{name!r} is not a variable name: use letters, digits and _")
        if name in self.var_names or not self.cases_editable:
            return
        column = len(self.var_names) + 1
        self.var_names.append(name)
        self._filling = True
        self.table.insertColumn(column)
        self.table.setHorizontalHeaderItem(column, QTableWidgetItem(name))
        for row in range(self.table.rowCount()):
            self.table.setItem(row, column, QTableWidgetItem(""))
        self.table.setColumnWidth(column, 220)
        self._filling = False

    # -- checking and saving -----------------------------------------------------------------
    def text(self) -> str:
        """The suite as YAML, as it would be saved."""
        if self.data is None:
            raise BadInput("no suite: open one, pick a starter suite or start a new one")
        return dump_suite(self.data)

    def source(self) -> str:
        return str(self.path) if self.path else "new suite"

    def suite(self) -> Suite:
        """The suite as edited, checked (SuiteError with FILE:LINE): the file itself while it
        is unchanged (so that a run of it can be resumed), else the edited text."""
        if self.path is not None and not self.modified:
            try:
                self.loaded = load_suite(self.path)
            except WorkbenchError as err:
                self.show_error(error_text(err, self.file_text, str(self.path)))
                raise
        else:
            text = self.text()
            try:
                self.loaded = parse_suite(text, source=self.source(), base_dir=self.base_dir)
            except WorkbenchError as err:
                self.show_error(error_text(err, text, self.source()))
                raise
        self.show_error("")
        return self.loaded

    def save_as(self) -> bool:
        return self.save(ask=True)

    def save(self, path: Path | None = None, *, ask: bool = False) -> bool:
        """Write the suite as YAML (to ``path``, its file, or a file the user picks) once it
        checks out; a problem shows as FILE:LINE and nothing is written."""
        if self.data is None:
            return False
        if path is None and (ask or self.path is None or self.starter is not None):
            start = str(self.path.parent / self.path.name) if self.path else str(
                Path(os.path.expanduser("~")) / "suite.yaml")
            chosen, _ = QFileDialog.getSaveFileName(self, "Save the suite", start, SUITE_FILTER)
            if not chosen:
                return False
            path = Path(chosen)
        path = Path(path or self.path or "suite.yaml")
        text = self.text()
        try:
            parse_suite(text, source=str(path), base_dir=self.base_dir or path.parent)
        except WorkbenchError as err:
            self.show_error("Not saved: " + error_text(err, text, str(path)))
            return False
        try:
            if self.base_dir is not None:
                copy_case_files(self.data, self.base_dir, path.parent)
            _write_atomic(path, text)
        except OSError as err:
            self.show_error(f"Not saved: {path}: {err}")
            return False
        self.path, self.base_dir, self.starter, self.file_text = path, path.parent, None, text
        self.modified = False
        self.show_error("")
        self._show_name()
        self.statusMessage.emit(f"Saved {path}")
        return True

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def _show_name(self) -> None:
        if self.data is None and self.path is None:
            name = "No suite: open one, pick a starter suite or start a new one"
        elif self.starter is not None:
            name = f"Starter suite: {self.starter.title}"
        else:
            name = str(self.path) if self.path else "New suite (not saved)"
        self.name_label.setText(name + (" (edited)" if self.modified else ""))
        self.name_label.setToolTip(plain_tip(str(self.path or "")))


def _prompts_text(prompts: Any) -> str:
    if prompts is None:
        return ""
    return dump_suite({"prompts": prompts}).strip()


def _file_names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value[len(FILE_PREFIX):]] if value.startswith(FILE_PREFIX) else []
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in (*_file_names(k), *_file_names(v))]
    if isinstance(value, list):
        return [n for item in value for n in _file_names(item)]
    return []


def copy_case_files(data: dict[str, Any], source: Path, dest: Path) -> list[Path]:
    """Copy the files the suite names (``file://NAME``, plain names in ``source``) into
    ``dest`` when it is another folder without them: a suite saved elsewhere keeps its cases."""
    copied: list[Path] = []
    if source.resolve() == dest.resolve():
        return copied
    for name in dict.fromkeys(_file_names(data)):
        if Path(name).name != name or name in ("", ".", ".."):
            continue
        origin, target = source / name, dest / name
        if origin.is_file() and not target.exists():
            shutil.copyfile(origin, target)
            copied.append(target)
    return copied


def _write_atomic(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
