"""Rendered chat messages: code highlighting, copy buttons, per-message actions (no engine)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontInfo, QPalette, QTextBlock, QTextFragment
from PySide6.QtWidgets import QApplication, QToolButton

from workbench.engine.metrics import AnswerMetrics
from workbench.ui import message_widget as message_module
from workbench.ui.code_highlight import DARK_STYLE, LIGHT_STYLE, highlight
from workbench.ui.fonts import CODE_FAMILY
from workbench.ui.message_widget import ASSISTANT, USER, MessageWidget

ROOT = str(Path(__file__).resolve().parents[2])
METRICS = AnswerMetrics(5.0, 3, 3, 1.0, 3000.0, 2, 1, 1.0, 1000.0, 10.0)
PYTHON_CODE = "def area(r):\n\t# a tab above  \n    return 3.14 * r * r  "
ANSWER = f"Here is **code**:\n\n```python\n{PYTHON_CODE}\n```\n\nAnd a second block:\n\n" \
         "```nosuchlanguage\nstay  plain\n```\n"


def fragments(block: QTextBlock) -> Iterator[QTextFragment]:
    iterator = block.begin()
    while not iterator.atEnd():
        yield iterator.fragment()
        iterator += 1


def code_fragments(message: MessageWidget, index: int) -> list[QTextFragment]:
    code_block = message.body.code_blocks[index]
    document = message.body.document()
    return [fragment for number in range(code_block.first_block, code_block.last_block + 1)
            for fragment in fragments(document.findBlockByNumber(number))]


def foreground(fragment: QTextFragment) -> QColor | None:
    brush = fragment.charFormat().foreground()
    return brush.color() if brush.style() != Qt.BrushStyle.NoBrush else None


def finished(qtbot, text: str) -> MessageWidget:
    message = MessageWidget(ASSISTANT)
    qtbot.addWidget(message)
    message.resize(520, 300)
    message.show()
    message.finish(text, "stop", METRICS)
    qtbot.waitUntil(lambda: not message.body.highlight_pending, timeout=10_000)
    return message


@pytest.fixture
def dark_palette() -> Iterator[QPalette]:
    app = QApplication.instance()
    light = app.palette()
    dark = QPalette(light)
    for role, colour in ((QPalette.ColorRole.Window, "#202124"),
                         (QPalette.ColorRole.Base, "#181818"),
                         (QPalette.ColorRole.Text, "#e8e8e8"),
                         (QPalette.ColorRole.WindowText, "#e8e8e8")):
        dark.setColor(role, QColor(colour))
    yield dark
    app.setPalette(light)


def test_python_tokens_are_coloured_and_monospace(qtbot) -> None:
    message = finished(qtbot, ANSWER)
    assert [(b.index, b.language) for b in message.body.code_blocks] == \
        [(0, "python"), (1, "nosuchlanguage")]
    parts = code_fragments(message, 0)
    by_text = {fragment.text(): fragment for fragment in parts}
    keyword = next(f for f in parts if f.text().startswith("def"))
    plain = next(f for f in parts if f.text().startswith("area"))  # a name: no colour
    assert foreground(keyword) is not None
    assert foreground(keyword) != foreground(plain)
    assert keyword.charFormat().fontWeight() > 400  # keywords are bold in the light style
    comment = next(f for text, f in by_text.items() if text.lstrip().startswith("#"))
    assert comment.charFormat().fontItalic()
    assert len({foreground(f).name() for f in parts if foreground(f) is not None}) >= 3
    for fragment in parts:
        assert fragment.charFormat().fontFixedPitch()
    assert QFontInfo(keyword.charFormat().font()).fixedPitch()
    # the prose around it is neither monospace nor coloured
    prose = next(fragments(message.body.document().begin()))
    assert not prose.charFormat().fontFixedPitch() and foreground(prose) is None
    assert message.body.code_style == LIGHT_STYLE


def test_unknown_language_stays_plain_but_monospace(qtbot) -> None:
    message = finished(qtbot, ANSWER)
    parts = code_fragments(message, 1)
    assert "".join(f.text() for f in parts) == "stay  plain"
    assert all(foreground(f) is None for f in parts)
    assert all(f.charFormat().fontFixedPitch() for f in parts)
    assert QFontInfo(parts[0].charFormat().font()).fixedPitch()


def test_code_is_drawn_in_the_bundled_font_whatever_the_machine_has(qtbot) -> None:
    # the family Qt actually resolves (QFontInfo), in each face: JetBrains Mono is in
    # resources/fonts/, not a font this machine needs to have
    message = finished(qtbot, ANSWER)
    parts = code_fragments(message, 0)
    keyword = next(f for f in parts if f.text().startswith("def"))
    comment = next(f for f in parts if f.text().lstrip().startswith("#"))
    plain = next(f for f in parts if f.text().startswith("area"))
    for fragment, bold, italic in ((plain, False, False), (keyword, True, False),
                                   (comment, False, True)):
        info = QFontInfo(fragment.charFormat().font())
        assert (info.family(), info.bold(), info.italic()) == (CODE_FAMILY, bold, italic)
        assert info.fixedPitch()
    prose = next(fragments(message.body.document().begin()))
    assert QFontInfo(prose.charFormat().font()).family() != CODE_FAMILY


def test_html_in_model_output_stays_literal_text(qtbot) -> None:
    text = 'Look: <img src="https://example.com/x.png"> <b>bold?</b> <script>alert(1)</script>' \
           '\n\n```html\n<a href="file:///etc/passwd">x</a>\n```'
    message = finished(qtbot, text)
    shown = message.body.toPlainText()
    assert '<img src="https://example.com/x.png">' in shown
    assert "<b>bold?</b>" in shown and "<script>alert(1)</script>" in shown
    assert '<a href="file:///etc/passwd">x</a>' in shown
    assert message.body.document().toHtml().count("<img") == 0
    assert message.body.code_blocks[0].code == '<a href="file:///etc/passwd">x</a>'


def test_copy_code_puts_exactly_the_code_on_the_clipboard(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(message_module, "COPIED_FEEDBACK_MS", 50)
    message = finished(qtbot, ANSWER)
    buttons = message.body.copy_buttons
    assert [b.text() for b in buttons] == ["Copy code · python", "Copy code · nosuchlanguage"]
    assert all(b.isVisibleTo(message) and b.accessibleName() for b in buttons)
    # Qt shows tabs as spaces; the clipboard gets the code as the model wrote it
    assert "\t" not in message.body.toPlainText()
    with qtbot.waitSignal(message.copied) as blocker:
        qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert blocker.args == ["code"]
    assert QApplication.clipboard().text() == PYTHON_CODE
    assert buttons[0].text() == "Copied"
    qtbot.waitUntil(lambda: buttons[0].text() == "Copy code · python", timeout=2000)
    buttons[1].setFocus()
    qtbot.keyClick(buttons[1], Qt.Key.Key_Space)  # reachable and usable by keyboard
    assert QApplication.clipboard().text() == "stay  plain"


def test_copy_buttons_sit_above_their_code_block(qtbot) -> None:
    message = finished(qtbot, ANSWER)
    body = message.body
    layout = body.document().documentLayout()
    for code_block, button in zip(body.code_blocks, body.copy_buttons, strict=True):
        top = layout.blockBoundingRect(body.document().findBlockByNumber(code_block.first_block))
        assert button.geometry().bottom() < top.top()  # above the code, not over it
        assert button.geometry().right() <= body.viewport().width()


def test_copy_message_gives_the_raw_markdown(qtbot) -> None:
    message = finished(qtbot, ANSWER)
    assert message.copy_button.isVisibleTo(message) and message.copy_button.isEnabled()
    assert message.copy_button.focusPolicy() & Qt.FocusPolicy.TabFocus
    with qtbot.waitSignal(message.copied) as blocker:
        qtbot.mouseClick(message.copy_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["message"]
    assert QApplication.clipboard().text() == ANSWER


def test_edit_and_regenerate_emit_with_the_widget(qtbot) -> None:
    user = MessageWidget(USER, "Write code")
    answer = MessageWidget(ASSISTANT, "Done.")
    for message in (user, answer):
        qtbot.addWidget(message)
        message.show()
        message.set_actions(can_edit=True, can_regenerate=True)
    assert user.edit_button.isVisibleTo(user) and not user.regenerate_button.isVisibleTo(user)
    assert answer.regenerate_button.isVisibleTo(answer)
    assert not answer.edit_button.isVisibleTo(answer)
    with qtbot.waitSignal(user.editRequested) as edited:
        qtbot.mouseClick(user.edit_button, Qt.MouseButton.LeftButton)
    assert edited.args == [user]
    with qtbot.waitSignal(answer.regenerateRequested) as regenerated:
        answer.regenerate_button.setFocus()
        qtbot.keyClick(answer.regenerate_button, Qt.Key.Key_Space)
    assert regenerated.args == [answer]
    assert user.copy_button.accessibleName() == "Copy this message"
    assert answer.copy_button.accessibleName() == "Copy this answer"


def test_set_actions_hides_and_disables_them(qtbot) -> None:
    user = MessageWidget(USER, "Hello")
    answer = MessageWidget(ASSISTANT)
    for message in (user, answer):
        qtbot.addWidget(message)
        message.show()
        # nothing is offered until the chat page says it can handle it
        assert not message.edit_button.isVisibleTo(message)
        assert not message.regenerate_button.isVisibleTo(message)
    assert not answer.copy_button.isEnabled()  # nothing to copy yet
    answer.append_text("partial")
    assert answer.copy_button.isEnabled()
    user.set_actions(can_edit=True, can_regenerate=False)
    answer.set_actions(can_edit=False, can_regenerate=True)
    assert user.edit_button.isVisibleTo(user) and answer.regenerate_button.isEnabled()
    user.set_actions(can_edit=False, can_regenerate=False)
    answer.set_actions(can_edit=False, can_regenerate=False)
    assert not user.edit_button.isVisibleTo(user) and not user.edit_button.isEnabled()
    assert not answer.regenerate_button.isVisibleTo(answer)
    assert not answer.regenerate_button.isEnabled()


def test_streaming_stays_plain_until_the_answer_ends(qtbot) -> None:
    message = MessageWidget(ASSISTANT)
    qtbot.addWidget(message)
    message.show()
    message.append_text("```python\nimport os\n")
    assert message.body.code_blocks == [] and message.body.copy_buttons == []
    assert message.body.toPlainText() == "```python\nimport os\n"
    message.interrupt("The model process stopped.")  # the fence was never closed
    assert [b.code for b in message.body.code_blocks] == ["import os"]
    qtbot.waitUntil(lambda: not message.body.highlight_pending, timeout=10_000)
    assert foreground(code_fragments(message, 0)[0]) is not None


def test_dark_palette_picks_the_dark_style(qtbot, dark_palette: QPalette) -> None:
    message = finished(qtbot, ANSWER)
    light_keyword = foreground(next(f for f in code_fragments(message, 0)
                                    if f.text().startswith("def")))
    QApplication.instance().setPalette(dark_palette)  # re-rendered on the palette change
    qtbot.waitUntil(lambda: message.body.code_style == DARK_STYLE
                    and not message.body.highlight_pending, timeout=5000)
    keyword = next(f for f in code_fragments(message, 0) if f.text().startswith("def"))
    expected = highlight("def f():\n    pass", "python", DARK_STYLE)[0].color
    assert foreground(keyword) == QColor(expected) != light_keyword
    shown = [b for b in message.body.viewport().findChildren(QToolButton) if b.isVisible()]
    assert len(shown) == 2  # the old buttons were replaced, not added to
    message.copy_code(0)
    assert QApplication.clipboard().text() == PYTHON_CODE


def test_long_code_answers_do_not_exhaust_none(tmp_path) -> None:
    """PySide6 6.12.0 drops a reference to None per void C++ call on Python < 3.12; a few long
    highlighted answers make thousands of such calls (pyproject excludes that version; see
    also tests/gui/test_qt_refcounts.py)."""
    script = textwrap.dedent("""
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        from workbench.ui.message_widget import ASSISTANT, MessageWidget
        app = QApplication([])
        code = "\\n".join(f"def f{i}(x):\\n    return x * {i}  # c" for i in range(200))
        message = MessageWidget(ASSISTANT)
        for _ in range(4):
            message.set_text(f"```python\\n{code}\\n```", markdown=True)
        print(len(message.body.code_blocks))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "1"


def test_long_code_is_coloured_in_slices_and_a_new_text_stops_them(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(message_module, "HIGHLIGHT_SLICE_S", 0.0)  # one step per event turn
    code = "\n".join(f"def f{i}(x):\n    return x * {i}  # c" for i in range(150))
    message = MessageWidget(ASSISTANT)
    qtbot.addWidget(message)
    message.resize(520, 300)
    message.show()
    message.finish(f"```python\n{code}\n```", "stop", METRICS)
    assert message.body.highlight_pending  # not all lexed in one go: the loop gets turns
    qtbot.waitUntil(lambda: not message.body.highlight_pending, timeout=10_000)
    last = code_fragments(message, 0)[-8:]
    assert any(foreground(f) is not None for f in last)  # the end of the code got colours

    message.finish(f"```python\n{code}\n```", "stop", METRICS)
    assert message.body.highlight_pending
    message.set_text("now plain text")  # replaces the document while lexing is under way
    qtbot.wait(50)
    assert message.body.toPlainText() == "now plain text"
    assert not message.body.highlight_pending
    assert all(foreground(f) is None for f in fragments(message.body.document().begin()))
