"""The main window with a real worker process and a tiny synthetic model: open, chat, metrics."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QPlainTextEdit,
)

from tests.helpers.gui import ask, load_model
from workbench.present.metrics import DEFINITIONS
from workbench.ui import engine_bridge as states
from workbench.ui import main_window as main_window_module
from workbench.ui.main_window import MainWindow
from workbench.ui.message_widget import ASSISTANT, USER


def _number(text: str) -> float:
    match = re.search(r"[\d.]+", text)
    assert match, f"no number in {text!r}"
    return float(match.group())


def test_open_send_stream_and_metrics(qtbot, window: MainWindow, llama_tiny: Path) -> None:
    info = load_model(qtbot, window, llama_tiny)
    assert info.architecture == "llama"
    assert "llama" in window.chat.model_label.text()
    assert window.status.model_label.text() != "No model"
    assert "ready" in window.status.state_label.text()
    assert window.chat.send_button.isEnabled() and not window.chat.stop_button.isEnabled()

    batches: list[str] = []
    window.bridge.textArrived.connect(batches.append)
    result = ask(qtbot, window, "Say hello.", max_tokens=24)

    assert result.finish_reason in ("stop", "length")
    assert result.text and "".join(batches) == result.text  # every delta reached the widget
    user, answer = window.chat.view.messages
    assert (user.role, answer.role) == (USER, ASSISTANT)
    assert user.text == "Say hello." and answer.text == result.text
    assert window.chat.history == [{"role": "user", "content": "Say hello."},
                                   {"role": "assistant", "content": result.text}]
    assert window.chat.input.toPlainText() == ""  # the input was taken

    labels = answer.metrics.labels
    assert _number(labels["ttft"].text()) > 0
    assert _number(labels["prompt_rate"].text()) > 0
    assert _number(labels["gen_rate"].text()) > 0
    prompt_tokens, answer_tokens = map(int, re.findall(r"\d+", labels["tokens"].text()))
    assert prompt_tokens == result.metrics.prompt_tokens > 0
    assert answer_tokens == result.metrics.completion_tokens > 0
    for key in ("ttft", "prompt_rate", "gen_rate", "tokens"):
        assert labels[key].toolTip() == DEFINITIONS[key]

    # a second turn carries the whole conversation
    second = ask(qtbot, window, "And again?", max_tokens=8, seed=2)
    assert second.metrics.prompt_tokens > result.metrics.prompt_tokens
    assert len(window.chat.view.messages) == 4


def test_shift_enter_is_a_newline_and_new_chat_clears(qtbot, window: MainWindow,
                                                      llama_tiny: Path) -> None:
    load_model(qtbot, window, llama_tiny)
    window.chat.input.setPlainText("first line")
    window.chat.input.moveCursor(window.chat.input.textCursor().MoveOperation.End)
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert window.chat.input.toPlainText() == "first line\n"
    assert window.chat.view.messages == []  # nothing was sent

    ask(qtbot, window, "Hello", max_tokens=4)
    assert window.chat.view.messages and window.chat.history
    qtbot.keyClick(window.chat.input, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.view.messages == [] and window.chat.history == []
    assert window.chat.view.empty_hint.isVisibleTo(window)


def test_drop_a_gguf_file_opens_it(qtbot, window: MainWindow, llama_tiny: Path,
                                   tmp_path: Path) -> None:
    def drag(path: Path) -> tuple[QDragEnterEvent, QMimeData]:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(window, event)
        return event, mime

    other = tmp_path / "notes.txt"
    other.write_text("not a model")
    rejected, _ = drag(other)
    assert not rejected.isAccepted()

    accepted, mime = drag(llama_tiny)
    assert accepted.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.bridge.loaded, timeout=90_000):
        QApplication.sendEvent(window, drop)
    assert drop.isAccepted()
    assert window.bridge.settings is not None
    assert Path(window.bridge.settings.model_path) == llama_tiny.resolve()


def test_ctrl_o_opens_the_file_dialog_filtered_to_gguf(qtbot, window: MainWindow,
                                                       llama_tiny: Path, monkeypatch) -> None:
    # A native file dialog cannot be driven offscreen: replace only the dialog call.
    asked: list[str] = []

    def fake_dialog(_parent, _caption, _start, file_filter):
        asked.append(file_filter)
        return str(llama_tiny), file_filter.split(";;")[0]

    monkeypatch.setattr(main_window_module.QFileDialog, "getOpenFileName", fake_dialog)
    with qtbot.waitSignal(window.bridge.loaded, timeout=90_000):
        qtbot.keyClick(window.chat.input, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert asked and "*.gguf" in asked[0].split(";;")[0]
    assert window.settings.value("paths/last_model_dir") == str(llama_tiny.resolve().parent)


def test_not_a_gguf_file_shows_an_error(qtbot, window: MainWindow, tmp_path: Path) -> None:
    text_file = tmp_path / "readme.gguf"
    text_file.write_text("this is plain text, not a model")
    assert window.open_model(str(text_file)) is False
    banner = window.chat.banner
    assert banner.isVisible() and banner.kind == "error"
    assert "not a GGUF model file" in banner.message.text()
    assert not banner.retry_button.isVisible()
    assert window.bridge.state == states.NO_MODEL

    missing = tmp_path / "gone.gguf"
    assert window.open_model(str(missing)) is False
    assert "no file" in banner.message.text()
    assert window.isVisible()


def test_a_malformed_gguf_is_rejected_by_llama_cpp(qtbot, window: MainWindow, tmp_path: Path,
                                                   llama_tiny: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(llama_tiny.read_bytes()[:4096])  # a header cut short
    with qtbot.waitSignal(window.bridge.loadFailed, timeout=90_000) as blocker:
        assert window.open_model(str(broken))
    error = blocker.args[0]
    banner = window.chat.banner
    assert banner.isVisible() and banner.kind == "error"
    assert banner.title.text() == "The model could not be loaded"
    assert str(error)[1:40] in banner.message.text()
    assert window.bridge.state == states.NO_MODEL
    assert window.chat.open_button.isEnabled()
    # the window is still usable: a good model loads, the error goes away
    load_model(qtbot, window, llama_tiny)
    assert not banner.isVisible()


def test_geometry_and_panel_settings_are_restored(qtbot, settings) -> None:
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.resize(720, 520)  # within the offscreen screen (800x600), above the minimum
    first.chat.settings_panel.temperature.setValue(0.3)
    first.chat.settings_panel.context.setValue(2048)
    first.chat.settings_panel.system_prompt.setPlainText("Be brief.")
    first.close()

    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (720, 520)
    panel = second.chat.settings_panel
    assert panel.temperature.value() == 0.3
    assert panel.context.value() == 2048
    assert panel.system_text() == "Be brief."
    second.close()


def test_controls_have_accessible_names(window: MainWindow) -> None:
    controls = [*window.findChildren(QAbstractButton), *window.findChildren(QAbstractSpinBox),
                *window.findChildren(QPlainTextEdit)]
    assert len(controls) >= 10
    unnamed = [type(c).__name__ + ":" + (c.objectName() or c.property("text") or "")
               for c in controls if not c.accessibleName()
               and c.parent() is not None and c.isVisibleTo(window)
               and type(c).__name__ not in ("QScrollBar",)]
    assert unnamed == []


def test_a_prompt_too_long_for_the_context_is_given_back(qtbot, window: MainWindow,
                                                         llama_tiny: Path) -> None:
    load_model(qtbot, window, llama_tiny, context=256)
    too_long = " ".join(f"word{i}" for i in range(400))
    with qtbot.waitSignal(window.bridge.answerFailed, timeout=60_000) as blocker:
        window.chat.input.setPlainText(too_long)
        qtbot.keyClick(window.chat.input, Qt.Key.Key_Return)
    assert "context" in str(blocker.args[0])
    banner = window.chat.banner
    assert banner.isVisible() and banner.kind == "error"
    assert window.chat.view.messages == [] and window.chat.history == []
    assert window.chat.input.toPlainText() == too_long  # given back to edit
    assert window.bridge.state == states.READY
    assert ask(qtbot, window, "Short.", max_tokens=4).metrics.completion_tokens > 0
    assert not banner.isVisible()


def test_answers_render_markdown_but_never_raw_html(qtbot) -> None:
    from workbench.engine.metrics import AnswerMetrics
    from workbench.ui.message_widget import MessageWidget

    message = MessageWidget(ASSISTANT)
    qtbot.addWidget(message)
    message.append_text("**bold** <b>raw</b>")
    assert message.body.toPlainText() == "**bold** <b>raw</b>"  # plain while streaming
    metrics = AnswerMetrics(5.0, 3, 3, 1.0, 3000.0, 2, 1, 1.0, 1000.0, 10.0)
    message.finish("**bold** <b>raw</b>\n\n```\ncode\n```", "stop", metrics)
    document = message.body.document()
    assert document.toPlainText() == "bold <b>raw</b>\ncode"
    first, code = document.begin(), document.begin().next()
    fragment = first.begin().fragment()
    assert fragment.text() == "bold" and fragment.charFormat().fontWeight() > 400
    assert code.text() == "code"
    assert code.blockFormat().background().color() != first.blockFormat().background().color()
