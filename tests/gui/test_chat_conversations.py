"""Stored conversations in the Chat page: real engine (tiny model), real SQLite, real widgets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.helpers.gui import ANSWER_TIMEOUT_MS, LOAD_TIMEOUT_MS, ask, load_model, start_long_answer
from workbench.engine.metrics import AnswerMetrics
from workbench.store import conversations as store
from workbench.store.db import database_path
from workbench.ui import engine_bridge as states
from workbench.ui.conversation_list import relative_date
from workbench.ui.main_window import MainWindow
from workbench.ui.message_widget import ASSISTANT, USER

METRICS = AnswerMetrics(ttft_ms=42.0, prompt_tokens=12, prompt_eval_tokens=12, prompt_ms=8.0,
                        prompt_tokens_per_s=1500.0, completion_tokens=20, gen_eval_tokens=20,
                        gen_ms=400.0, gen_tokens_per_s=50.0, total_ms=450.0).to_dict()


# A data directory of each test's own (tests/conftest.py): the database starts empty.
pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    """A second connection to the window's database, as another process would have."""
    from workbench.store.db import connect

    connection = connect()
    yield connection
    connection.close()


def _open_window(qtbot, settings: QSettings) -> MainWindow:
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()  # keyboard shortcuts need the active window
    qtbot.waitUntil(window.isActiveWindow)
    window.chat.set_sidebar_visible(True)
    return window


@pytest.fixture
def chat_window(qtbot, settings: QSettings) -> Iterator[MainWindow]:
    window = _open_window(qtbot, settings)
    yield window
    window.close()


def _rows(db: sqlite3.Connection, conversation_id: int) -> list[tuple]:
    return [(m.role, m.content, m.finish_reason) for m in store.get(db, conversation_id).messages]


def _seed(db: sqlite3.Connection, title: str, answer: str, **kwargs) -> int:
    conversation = store.create(db, title=title, model_name="tiny-llama", **kwargs)
    store.append_message(db, conversation, "user", title)
    store.append_message(db, conversation, "assistant", answer, metrics=METRICS,
                         finish_reason="stop")
    return conversation


def test_turns_are_stored_and_survive_a_restart(qtbot, settings: QSettings, db,
                                                llama_tiny: Path) -> None:
    first = _open_window(qtbot, settings)
    first.chat.settings_panel.system_prompt.setPlainText("Be brief.")
    load_model(qtbot, first, llama_tiny)
    assert store.list_conversations(db) == []  # nothing is stored before the first message
    one = ask(qtbot, first, "Say hello.", max_tokens=8)
    two = ask(qtbot, first, "And again?", max_tokens=6, seed=2)

    conversation_id = first.chat.conversation_id
    assert conversation_id is not None
    stored = store.get(db, conversation_id)
    assert stored.title == "Say hello." and stored.system_prompt == "Be brief."
    assert stored.model_path == str(llama_tiny.resolve()) and stored.model_name
    assert stored.settings["sampling"]["seed"] == 2
    assert [(m.position, m.role, m.content) for m in stored.messages] == [
        (0, USER, "Say hello."), (1, ASSISTANT, one.text),
        (2, USER, "And again?"), (3, ASSISTANT, two.text)]
    assert stored.messages[1].metrics == one.metrics.to_dict()
    assert stored.messages[3].finish_reason == two.finish_reason
    assert first.chat.sidebar.ids() == [conversation_id]
    first.close()

    second = _open_window(qtbot, settings)
    try:
        sidebar = second.chat.sidebar
        assert sidebar.ids() == [conversation_id]
        item = sidebar.list.item(0)
        assert item.text().startswith("Say hello.\njust now")
        assert second.chat.view.messages == []  # a restart starts with a new chat
        second.chat.settings_panel.system_prompt.setPlainText("Something else.")
        rect = sidebar.list.visualItemRect(item)
        qtbot.mouseClick(sidebar.list.viewport(), Qt.MouseButton.LeftButton,
                         pos=rect.center())
        assert second.chat.conversation_id == conversation_id
        messages = second.chat.view.messages
        assert [(m.role, m.text) for m in messages] == [
            (USER, "Say hello."), (ASSISTANT, one.text), (USER, "And again?"),
            (ASSISTANT, two.text)]
        tokens = messages[1].metrics.labels["tokens"].text()
        assert str(one.metrics.completion_tokens) in tokens
        assert second.chat.settings_panel.system_text() == "Be brief."  # restored
        assert second.chat.history[-1] == {"role": ASSISTANT, "content": two.text}
    finally:
        second.close()


def test_search_rename_delete_and_export(qtbot, chat_window: MainWindow, db,
                                        tmp_path: Path) -> None:
    percent = _seed(db, "Discount question", "It is 100% off.", system_prompt="Be exact.")
    snake = _seed(db, "Naming", "use snake_case names")
    sidebar = chat_window.chat.sidebar
    sidebar.refresh()
    assert sidebar.ids() == [snake, percent]

    qtbot.keyClicks(sidebar.search_box, "100%")
    assert sidebar.ids() == [percent]
    sidebar.search_box.clear()
    qtbot.keyClicks(sidebar.search_box, "e_c")  # "_" is a character, not a wildcard
    assert sidebar.ids() == [snake]
    sidebar.search_box.setText("no such words")
    assert sidebar.ids() == [] and sidebar.empty_label.isVisibleTo(chat_window)
    sidebar.search_box.clear()
    assert sidebar.ids() == [snake, percent]

    # rename through the real dialog (F2 on the selected conversation)
    sidebar.list.setCurrentRow(1)
    sidebar.list.setFocus()

    def type_title() -> None:
        dialog = QApplication.activeModalWidget()
        dialog.setTextValue("Prices")
        dialog.accept()

    QTimer.singleShot(0, type_title)
    qtbot.keyClick(sidebar.list, Qt.Key.Key_F2)
    assert store.get(db, percent).title == "Prices"
    assert sidebar.list.item(1).text().startswith("Prices\n")

    markdown = sidebar.export(percent, tmp_path / "prices.md", "md")
    text = markdown.read_text(encoding="utf-8")
    assert text.startswith("# Prices\n") and "- Model: tiny-llama" in text
    assert "Be exact." in text and "Discount question" in text and "It is 100% off." in text
    assert "50.0 tok/s · TTFT 42 ms" in text
    document = json.loads(sidebar.export(percent, tmp_path / "prices.json", "json").read_text())
    assert [m["content"] for m in document["messages"]] == ["Discount question",
                                                            "It is 100% off."]
    assert document["messages"][1]["metrics"] == METRICS
    assert sidebar.export(percent, tmp_path / "missing-dir" / "x.md", "md") is None

    # open it, then delete it with the Del key and the real confirmation: the chat is cleared
    assert chat_window.chat.open_conversation(percent)
    assert len(chat_window.chat.view.messages) == 2
    assert chat_window.chat.settings_panel.system_text() == "Be exact."
    chat_window.activateWindow()  # the rename dialog had it last
    qtbot.waitUntil(chat_window.isActiveWindow)
    sidebar.list.setCurrentRow(sidebar.ids().index(percent))
    sidebar.list.setFocus()
    answers: list[str] = []

    def confirm() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        answers.append(box.text())
        box.button(QMessageBox.StandardButton.Yes).click()

    QTimer.singleShot(0, confirm)
    qtbot.keyClick(sidebar.list, Qt.Key.Key_Delete)
    assert answers and "Prices" in answers[0]
    assert [s.id for s in store.list_conversations(db)] == [snake]
    assert db.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?",
                      (percent,)).fetchone()[0] == 0
    assert chat_window.chat.conversation_id is None and chat_window.chat.view.messages == []


def test_declining_the_delete_keeps_the_conversation(qtbot, chat_window: MainWindow,
                                                     db) -> None:
    kept = _seed(db, "Keep me", "ok")
    sidebar = chat_window.chat.sidebar
    sidebar.refresh()
    sidebar.list.setCurrentRow(0)

    def decline() -> None:
        box = QApplication.activeModalWidget()  # (kept in names: PySide6 crashes on the
        button = box.button(QMessageBox.StandardButton.No)  # chained temporaries here)
        button.click()

    QTimer.singleShot(0, decline)
    sidebar.delete_selected()
    assert sidebar.ids() == [kept] and store.get(db, kept).title == "Keep me"


def test_regenerate_replaces_the_last_answer(qtbot, chat_window: MainWindow, db,
                                             llama_tiny: Path) -> None:
    load_model(qtbot, chat_window, llama_tiny)
    sent: list[list[dict]] = []
    engine = chat_window.bridge.engine
    real_chat = engine.chat

    def chat(messages, *args, **kwargs):  # what the engine is asked, on the engine's thread
        sent.append(list(messages))
        return real_chat(messages, *args, **kwargs)

    engine.chat = chat  # type: ignore[method-assign]
    first = ask(qtbot, chat_window, "Tell me something.", max_tokens=6)
    old_answer = chat_window.chat.view.messages[-1]
    assert old_answer.regenerate_button.isVisibleTo(chat_window)

    with qtbot.waitSignal(chat_window.bridge.answerFinished,
                          timeout=ANSWER_TIMEOUT_MS) as blocker:
        qtbot.keyClick(chat_window.chat.input, Qt.Key.Key_R,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    second = blocker.args[0]
    assert len(sent) == 2 and sent[1] == sent[0]  # the worker got the same history
    assert second.metrics.prompt_tokens == first.metrics.prompt_tokens
    messages = chat_window.chat.view.messages
    assert [m.role for m in messages] == [USER, ASSISTANT] and old_answer not in messages
    assert messages[1].text == second.text
    assert _rows(db, chat_window.chat.conversation_id) == [
        (USER, "Tell me something.", None), (ASSISTANT, second.text, second.finish_reason)]

    # the answer's own Regenerate button does the same
    with qtbot.waitSignal(chat_window.bridge.answerFinished, timeout=ANSWER_TIMEOUT_MS):
        qtbot.mouseClick(messages[1].regenerate_button, Qt.MouseButton.LeftButton)
    assert len(sent) == 3 and sent[2] == sent[0]
    assert len(_rows(db, chat_window.chat.conversation_id)) == 2


def test_edit_and_resend_truncates(qtbot, chat_window: MainWindow, db,
                                   llama_tiny: Path) -> None:
    load_model(qtbot, chat_window, llama_tiny)
    chat = chat_window.chat
    ask(qtbot, chat_window, "first question", max_tokens=4)
    ask(qtbot, chat_window, "second question", max_tokens=4)
    conversation_id = chat.conversation_id

    # Ctrl+Up in the empty input takes the last message back for editing
    qtbot.keyClick(chat.input, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert chat.input.toPlainText() == "second question"
    assert chat.edit_bar.isVisibleTo(chat_window)
    chat.input.setPlainText("second question, edited")
    with qtbot.waitSignal(chat_window.bridge.answerFinished,
                          timeout=ANSWER_TIMEOUT_MS) as blocker:
        qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    rows = _rows(db, conversation_id)
    assert [r[1] for r in rows] == ["first question", rows[1][1], "second question, edited",
                                    blocker.args[0].text]
    assert [m.text for m in chat.view.messages] == [r[1] for r in rows]
    assert not chat.edit_bar.isVisibleTo(chat_window)

    # the first message's own Edit button; sending replaces it and everything after it
    qtbot.mouseClick(chat.view.messages[0].edit_button, Qt.MouseButton.LeftButton)
    assert chat.input.toPlainText() == "first question"
    chat.input.setPlainText("a new start")
    with qtbot.waitSignal(chat_window.bridge.answerFinished, timeout=ANSWER_TIMEOUT_MS):
        qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    assert _rows(db, conversation_id)[0][:2] == (USER, "a new start")
    assert len(_rows(db, conversation_id)) == 2 and len(chat.view.messages) == 2

    # an edit can be cancelled: nothing changes
    assert chat.edit_last_message()
    qtbot.mouseClick(chat.cancel_edit_button, Qt.MouseButton.LeftButton)
    assert chat.input.toPlainText() == "" and chat.editing is None
    assert len(_rows(db, conversation_id)) == 2


def test_switching_conversation_stops_the_answer_and_saves_it_where_it_belongs(
        qtbot, chat_window: MainWindow, db, llama_tiny: Path) -> None:
    other = _seed(db, "Another chat", "its answer")
    load_model(qtbot, chat_window, llama_tiny, context=4096)
    answer = start_long_answer(qtbot, chat_window)
    streaming_in = chat_window.chat.conversation_id
    with qtbot.waitSignal(chat_window.bridge.answerFinished,
                          timeout=ANSWER_TIMEOUT_MS) as blocker:
        assert chat_window.chat.open_conversation(other)
        assert chat_window.bridge.state == states.STOPPING
    result = blocker.args[0]
    assert result.finish_reason == "cancelled" and result.text.startswith(answer.text[:10])
    assert [m.text for m in chat_window.chat.view.messages] == ["Another chat", "its answer"]
    assert _rows(db, streaming_in)[-1] == (ASSISTANT, result.text, "cancelled")
    assert len(_rows(db, other)) == 2


def test_coming_back_before_the_stopped_answer_arrives_shows_it(
        qtbot, chat_window: MainWindow, db, llama_tiny: Path) -> None:
    other = _seed(db, "Another chat", "its answer")
    load_model(qtbot, chat_window, llama_tiny, context=4096)
    start_long_answer(qtbot, chat_window)
    streaming_in = chat_window.chat.conversation_id
    with qtbot.waitSignal(chat_window.bridge.answerFinished,
                          timeout=ANSWER_TIMEOUT_MS) as blocker:
        assert chat_window.chat.open_conversation(other)
        assert chat_window.chat.open_conversation(streaming_in)  # before the answer ends
        assert len(chat_window.chat.view.messages) == 1
    result = blocker.args[0]
    view = [(m.role, m.text) for m in chat_window.chat.view.messages]
    assert view == [(r[0], r[1]) for r in _rows(db, streaming_in)]
    assert view[-1] == (ASSISTANT, result.text)


def test_a_killed_worker_keeps_the_partial_answer_as_interrupted(
        qtbot, chat_window: MainWindow, db, llama_tiny: Path) -> None:
    load_model(qtbot, chat_window, llama_tiny, context=4096)
    answer = start_long_answer(qtbot, chat_window)
    with qtbot.waitSignal(chat_window.bridge.crashed, timeout=ANSWER_TIMEOUT_MS):
        os.kill(chat_window.bridge.engine.pid, signal.SIGKILL)
    conversation_id = chat_window.chat.conversation_id
    role, content, reason = _rows(db, conversation_id)[-1]
    assert (role, reason) == (ASSISTANT, store.INTERRUPTED)
    assert content and content == answer.text

    chat_window.chat.new_chat()
    assert chat_window.chat.open_conversation(conversation_id)
    reloaded = chat_window.chat.view.messages[-1]
    assert reloaded.text == content and "Interrupted" in reloaded.note.text()


def test_a_crash_at_the_start_of_an_answer_is_stored_as_interrupted(
        qtbot, settings: QSettings, db, llama_tiny: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_WORKER_FAULT", "segv-on-chat")
    window = _open_window(qtbot, settings)
    try:
        load_model(qtbot, window, llama_tiny)
        with qtbot.waitSignal(window.bridge.crashed, timeout=LOAD_TIMEOUT_MS) as blocker:
            window.chat.input.setPlainText("Crash, please.")
            qtbot.keyClick(window.chat.input, Qt.Key.Key_Return)
        assert blocker.args[0].signal_name == "SIGSEGV"
        assert _rows(db, window.chat.conversation_id) == [
            (USER, "Crash, please.", None), (ASSISTANT, "", store.INTERRUPTED)]
        assert window.chat.history == [{"role": USER, "content": "Crash, please."}]
    finally:
        window.close()


def test_a_message_the_model_cannot_take_is_not_stored(qtbot, chat_window: MainWindow, db,
                                                       llama_tiny: Path) -> None:
    load_model(qtbot, chat_window, llama_tiny, context=256)
    too_long = " ".join(f"word{i}" for i in range(400))
    with qtbot.waitSignal(chat_window.bridge.answerFailed, timeout=ANSWER_TIMEOUT_MS):
        chat_window.chat.input.setPlainText(too_long)
        qtbot.keyClick(chat_window.chat.input, Qt.Key.Key_Return)
    assert chat_window.chat.input.toPlainText() == too_long
    assert store.list_conversations(db) == []  # no empty conversation is left behind
    assert chat_window.chat.conversation_id is None


def test_sidebar_visibility_and_splitter_are_saved(qtbot, settings: QSettings) -> None:
    first = _open_window(qtbot, settings)
    assert first.chat.sidebar_button.isChecked()
    sidebar = first.chat.sidebar
    controls = [sidebar.search_box, sidebar.list, sidebar.new_button, sidebar.actions_button,
                first.chat.sidebar_button, first.chat.cancel_edit_button]
    assert all(c.accessibleName() and c.toolTip() for c in controls if c is not sidebar.list)
    assert sidebar.list.accessibleName() == "Conversations"
    first.chat.input.setFocus()
    qtbot.keyClick(first.chat.input, Qt.Key.Key_L,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert first.chat.sidebar.isHidden() and not first.chat.sidebar_button.isChecked()
    first.close()
    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    try:
        assert second.chat.sidebar.isHidden()
        qtbot.mouseClick(second.chat.sidebar_button, Qt.MouseButton.LeftButton)
        assert not second.chat.sidebar.isHidden()
    finally:
        second.close()


def test_relative_dates() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 5, 10, 12, 0, tzinfo=timezone.utc)
    assert relative_date("2026-05-10T11:59:30.000Z", now) == "just now"
    assert relative_date("2026-05-10T11:15:00.000Z", now) == "45 min ago"
    assert relative_date("2026-05-10T07:00:00.000Z", now) == "5 h ago"
    assert relative_date("2026-05-09T06:00:00.000Z", now) == "yesterday"
    assert relative_date("2026-05-06T12:00:00.000Z", now) == "4 days ago"
    assert relative_date("2026-03-01T12:00:00.000Z", now).startswith("2026-03-0")
    assert relative_date("not a date", now) == "not a date"


def test_the_database_is_the_data_directorys(home: Path) -> None:
    assert database_path().is_relative_to(home)
