"""The Evals page with real widgets offscreen: starter suites, editing and saving a suite, a bad
suite's FILE:LINE, runs on the real SmolLM2 and on a loopback OpenAI-compatible server (the
matrix, a cell's answer and verdicts as plain text, cancel, resume, diff, export), the privacy
bar, and a page closed while its run is going."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.fakes import openai_faults
from workbench.evals import store
from workbench.evals.suite import load_suite
from workbench.store import db
from workbench.store.secrets import set_api_key
from workbench.ui.evals_page import EvalsPage

RUN_TIMEOUT_MS = 60_000
FRANCE = "Name the capital of France."

pytestmark = pytest.mark.usefixtures("home", "memory_keyring")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def page(qtbot):
    widget = EvalsPage(library_scanner=lambda: [])
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    yield widget
    widget.shutdown()


@pytest.fixture
def fake():
    with openai_faults.server(openai_faults.ok(["Paris", "."])) as srv:
        yield srv


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def cases_suite(count: int, *, expect: str = "Paris") -> str:
    tests = "\n".join(f"  - description: case {n}\n    vars: {{q: \"question {n}\"}}\n"
                      f"    assert: [{{type: contains, value: \"{expect}\"}}]"
                      for n in range(1, count + 1))
    return f"description: fake cases\nprompts: [\"{{{{q}}}}\"]\ntests:\n{tests}\n"


def fake_target(page: EvalsPage, srv) -> str:
    spec = f"openai:fake@{srv.url}/v1"
    page.targets.other_targets.setPlainText(spec)
    page.targets.concurrency.setValue(1)
    return spec


def run_to_end(qtbot, page: EvalsPage) -> int:
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        assert page.run()
    return int(blocker.args[0])


def chats(srv) -> int:
    return sum(1 for r in srv.requests if r.path.endswith("/chat/completions"))


def cell_item(page: EvalsPage, case_id: str, target: str):
    row = [c.id for c in page.matrix.cases].index(case_id)
    return page.matrix.item(row, page.matrix.targets.index(target) + 1)


# -- suites --------------------------------------------------------------------------------------
def test_a_starter_suite_opens_with_its_cases_in_the_table(page: EvalsPage) -> None:
    editor = page.editor
    editor.starters_menu.aboutToShow.emit()  # the menu lists the shipped starters
    actions = {a.data(): a for a in editor.starters_menu.actions()}
    assert {"classification", "extraction", "summarisation", "qa", "code"} <= set(actions)
    assert actions["qa"].text() == "Question answering"
    actions["qa"].trigger()
    assert editor.starter is not None and editor.starter.name == "qa"
    assert not editor.error.isVisible()
    suite = editor.loaded
    assert suite is not None and editor.table.rowCount() == len(suite.cases) >= 10
    headers = [editor.table.horizontalHeaderItem(c).text()
               for c in range(editor.table.columnCount())]
    assert headers[0] == "Description" and headers[-1] == "Assertions"
    assert {"passage", "question"} <= set(headers)
    first = suite.cases[0]
    assert editor.table.item(0, 0).text() == first.description
    column = headers.index("question")
    assert editor.table.item(0, column).text() == first.vars["question"]
    lines = editor.table.item(0, len(headers) - 1).text().splitlines()
    assert [line.split(":")[0].split(",")[0] for line in lines] == [
        a.written_type for a in first.assertions]
    assert page.state.text() == f"Suite: {suite.description} ({len(suite.cases)} cases)"


def test_a_starter_with_a_case_file_saves_as_a_copy(page: EvalsPage, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    editor = page.editor
    editor.starters_menu.aboutToShow.emit()
    (action,) = [a for a in editor.starters_menu.actions() if a.data() == "classification"]
    action.trigger()
    starter_file = editor.path
    assert starter_file is not None and editor.loaded is not None
    original = starter_file.read_bytes()
    # its cases come from a CSV file: shown, read-only
    assert not editor.cases_editable and editor.table_note.isVisibleTo(page)
    assert editor.table.rowCount() == len(editor.loaded.cases) >= 10
    assert not editor.table.item(0, 0).flags() & Qt.ItemFlag.ItemIsEditable
    target = tmp_path / "mine" / "sentiment.yaml"
    target.parent.mkdir()
    monkeypatch.setattr("workbench.ui.evals_suite_editor.QFileDialog.getSaveFileName",
                        lambda *_a, **_k: (str(target), ""))
    assert editor.save()  # a starter is never written over: saving asks where
    assert editor.path == target and editor.starter is None
    assert (target.parent / "classification_cases.csv").is_file()  # its cases came along
    assert len(load_suite(target).cases) == len(editor.loaded.cases)
    assert starter_file.read_bytes() == original


def test_edit_a_case_and_save_it_as_yaml(page: EvalsPage, tmp_path: Path) -> None:
    path = write(tmp_path, f"""description: capitals
prompts: ["{{{{question}}}}"]
tests:
  - description: france
    vars: {{question: "{FRANCE}"}}
    metadata: {{tags: [geo]}}
    assert:
      - type: icontains
        value: paris
        weight: 2
  - description: to remove
    vars: {{question: "Name the capital of Spain."}}
""")
    editor = page.editor
    assert editor.open_file(path) and editor.table.rowCount() == 2
    question = 1 + editor.var_names.index("question")
    asserts = editor.table.columnCount() - 1
    assert editor.table.item(0, asserts).text() == "icontains: paris, weight: 2"
    editor.table.item(0, question).setText("Name the capital of Italy.")
    editor.table.item(0, asserts).setText("icontains: rome, weight: 2\nnot-icontains: paris\n"
                                          "contains: Rome, Italy")
    assert editor.table.item(0, asserts).text().splitlines()[2] == 'contains: "Rome, Italy"'
    editor.table.selectRow(1)
    editor.remove_selected()
    row = editor.add_case()
    editor.table.item(row, 0).setText("germany")
    editor.table.item(row, question).setText("Name the capital of Germany.")
    editor.table.item(row, asserts).setText("icontains: berlin")
    assert editor.modified and "(edited)" in editor.name_label.text()
    assert editor.save()
    assert not editor.modified
    suite = load_suite(path)
    assert [c.description for c in suite.cases] == ["france", "germany"]
    france, germany = suite.cases
    assert france.vars == {"question": "Name the capital of Italy."}
    assert france.tags == ("geo",)  # what the table does not show is kept
    assert [(a.written_type, a.value, a.weight) for a in france.assertions] == [
        ("icontains", "rome", 2), ("not-icontains", "paris", 1), ("contains", "Rome, Italy", 1)]
    assert germany.vars == {"question": "Name the capital of Germany."}
    # a change that breaks the suite is not saved: the file stays as it was
    before = path.read_text(encoding="utf-8")
    editor.table.item(0, asserts).setText("containz: rome")
    assert not editor.save()
    assert editor.error.text().startswith(f"Not saved: {path}:")
    assert "containz" in editor.error.text()
    assert path.read_text(encoding="utf-8") == before


def test_a_new_suite_saves_where_asked(page: EvalsPage, tmp_path: Path) -> None:
    page.editor.new()
    assert page.editor.table.rowCount() == 1 and page.editor.modified
    page.editor.prompt.setPlainText("Answer briefly: {{question}} ({{style}})")
    assert "style" in page.editor.var_names  # a variable the prompt uses gets a column
    style = 1 + page.editor.var_names.index("style")
    page.editor.table.item(0, style).setText("one word")
    target = tmp_path / "new.yaml"
    assert page.editor.save(target)
    (case,) = load_suite(target).cases
    assert case.vars == {"question": "What is 2 + 2?", "style": "one word"}


def test_a_bad_suite_shows_its_file_and_line(page: EvalsPage, tmp_path: Path) -> None:
    path = write(tmp_path, """description: broken
prompts: ["{{q}}"]
tests:
  - vars: {q: hi}
    assert:
      - type: containz
        value: x
""")
    page.editor.open_file(path)
    text = page.editor.error.text()
    assert page.editor.error.isVisible()
    head, _, rest = text.partition("\n")
    assert head.startswith(f"{path}:6: ") and "containz" in head, text
    assert rest.strip() == "6 |       - type: containz"  # the line it names, as written
    assert page.editor.error.textFormat() == Qt.TextFormat.PlainText
    assert not page.run()  # nothing runs
    assert page.tabs.currentWidget() is page.editor


# -- runs ----------------------------------------------------------------------------------------
def test_a_run_on_the_real_model_fills_the_matrix(qtbot, page: EvalsPage, tmp_path: Path,
                                                  smollm2: Path) -> None:
    path = write(tmp_path, f"""description: known outcomes on SmolLM2
prompts: ["{{{{question}}}}"]
tests:
  - description: holds
    vars: {{question: "{FRANCE}"}}
    assert: [{{type: icontains, value: paris}}]
  - description: fails
    vars: {{question: "{FRANCE}"}}
    assert: [{{type: contains, value: Berlin}}]
""")
    page.editor.open_file(path)
    page.targets.add_local(str(smollm2))
    page.targets.temperature.setValue(0)
    page.targets.max_tokens.setValue(16)
    run_id = run_to_end(qtbot, page)
    target = f"local:{smollm2}"
    assert page.matrix.targets == [target]
    assert page.matrix.text_at("1", target) == "PASS"
    assert page.matrix.text_at("2", target) == "FAIL"
    assert page.progress.value() == page.progress.maximum() == 2
    assert f"Run {run_id} complete" in page.state.text()
    page.matrix.setCurrentCell(1, 1)  # the failing cell: its answer and the reason
    detail = page.detail.toPlainText()
    answer = page.matrix.results("2", target)[0].answer.text
    assert "paris" in answer.lower() and answer in detail
    assert "FAIL contains" in detail and "Berlin" in detail
    assert f"[user] {FRANCE}" in detail  # what it was asked
    summary = page.summary_table
    assert summary.rowCount() == 1 and summary.item(0, 0).text() == f"local:{smollm2.name}"
    assert summary.item(0, 1).text().startswith("50.0% (")  # the rate and its interval
    assert page.decision_text.toPlainText().strip()
    report = page.export(tmp_path / "run.json")
    assert report is not None
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["run"]["id"] == run_id
    assert [(t["passed"], t["failed"]) for t in document["targets"]] == [(1, 1)]
    assert page.runs_table.rowCount() == 1 and page.runs_table.item(0, 0).text() == str(run_id)


def test_a_hostile_answer_shows_as_literal_text(qtbot, page: EvalsPage, tmp_path: Path) -> None:
    hostile = "<b>x</b><img src='file:///etc/passwd'>"
    with openai_faults.server(openai_faults.ok([hostile])) as srv:
        page.editor.open_file(write(tmp_path, cases_suite(1, expect="<b>x</b>")))
        spec = fake_target(page, srv)
        run_to_end(qtbot, page)
    assert page.matrix.text_at("1", spec) == "PASS"
    page.show_cell("1", spec)
    assert hostile in page.detail.toPlainText()  # a plain-text widget: never rendered
    assert "<" not in cell_item(page, "1", spec).text()
    html = page.export(tmp_path / "run.html")
    assert html is not None and "<b>x</b>" not in html.read_text(encoding="utf-8")


def test_cancel_then_resume_then_diff(qtbot, page: EvalsPage, tmp_path: Path) -> None:
    cases = 5
    with openai_faults.server(openai_faults.ok(["Paris", "."], delay=0.15)) as srv:
        page.editor.open_file(write(tmp_path, cases_suite(cases)))
        spec = fake_target(page, srv)
        with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
            assert page.run()
            assert page.running and page.cancel_button.isEnabled()
            qtbot.waitUntil(lambda: bool(page.matrix.all_results()), timeout=RUN_TIMEOUT_MS)
            page.cancel_run()
        run_id = int(blocker.args[0])
        assert page.outcome is not None and page.outcome.cancelled
        answered = len(page.matrix.all_results())
        assert 1 <= answered < cases
        assert f"Run {run_id} cancelled: {answered} of {cases} answered" in page.state.text()
        assert not page.running and page.run_button.isEnabled()
        # resume: only the missing cases are asked
        asked = chats(srv)
        page.select_runs(run_id)
        assert page.resume_button.isEnabled()
        with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
            page.resume_selected()
        assert int(blocker.args[0]) == run_id
        assert page.outcome is not None and page.outcome.complete
        assert [page.matrix.text_at(str(n), spec) for n in range(1, cases + 1)] == [
            "PASS"] * cases
        assert chats(srv) - asked == cases - answered
        # a second run that answers worse: the diff names the cases
        srv.default = openai_faults.ok(["Rome", "."])
        second = run_to_end(qtbot, page)
    assert [page.matrix.text_at(str(n), spec) for n in range(1, cases + 1)] == ["FAIL"] * cases
    page.select_runs(run_id, second)
    assert page.diff_button.isEnabled()
    text = page.diff_selected()
    assert text.startswith(f"Run {run_id} -> run {second}")
    assert f"Worse: {cases}" in text and "case 1 (" in text and "pass -> fail" in text
    assert page.diff_view.toPlainText() == text


def test_prompts_that_would_leave_the_machine_wait_for_send(qtbot, page: EvalsPage,
                                                            tmp_path: Path) -> None:
    set_api_key("openai", "sk-test-evals-00")
    page.editor.open_file(write(tmp_path, cases_suite(2)))
    page.targets.other_targets.setPlainText("openai:gpt-test")
    assert page.run()
    assert page.send_bar.isVisible() and not page.running
    assert "sends 2 prompts off this machine" in page.send_text.text()
    assert "openai:gpt-test → api.openai.com" in page.send_text.text()
    page.cancel_send.click()
    assert not page.send_bar.isVisible() and not page.running
    with contextlib.closing(db.connect()) as connection:
        assert store.list_runs(connection) == []  # nothing was started


def test_the_page_survives_being_closed_while_a_run_is_going(qtbot, tmp_path: Path) -> None:
    widget = EvalsPage(library_scanner=lambda: [])
    widget.show()
    with openai_faults.server(openai_faults.ok(["Paris", "."], delay=0.2)) as srv:
        widget.editor.open_file(write(tmp_path, cases_suite(6)))
        fake_target(widget, srv)
        assert widget.run()
        qtbot.waitUntil(lambda: bool(widget.matrix.all_results()), timeout=RUN_TIMEOUT_MS)
        task = widget._tasks.current("run")
        assert task is not None
        widget.close()
        widget.deleteLater()
        qtbot.wait(50)  # the page is deleted; its run is cancelled with it
        assert task.wait(15)
        qtbot.wait(100)  # whatever the run still reported goes nowhere
    with contextlib.closing(db.connect()) as connection:
        (row,) = store.list_runs(connection)
    assert row.status == store.CANCELLED and 1 <= row.answered < row.total
