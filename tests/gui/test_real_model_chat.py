"""The Chat page with a real trained model (SmolLM2-135M-Instruct): a real code answer is
highlighted; a model without a chat template is said to be one, and the side panel's chat format
makes it continue text or answer in a built-in format."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from tests.helpers.gui import ANSWER_TIMEOUT_MS, load_model, type_and_send
from workbench.engine.client import ChatResult
from workbench.ui.main_window import MainWindow


def ask_greedy(qtbot, window: MainWindow, text: str, *, max_tokens: int) -> ChatResult:
    with qtbot.waitSignal(window.bridge.answerFinished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        type_and_send(qtbot, window, text, max_tokens=max_tokens, temperature=0.0)
    return blocker.args[0]


def choose_format(window: MainWindow, name: str) -> None:
    combo = window.chat.settings_panel.chat_format
    combo.setCurrentIndex(combo.findData(name))


def test_a_real_code_answer_is_highlighted(qtbot, window: MainWindow, smollm2: Path) -> None:
    info = load_model(qtbot, window, smollm2)
    assert info.chat_template and window.chat.banner.kind is None
    result = ask_greedy(qtbot, window, "Write a Python function that adds two numbers.",
                        max_tokens=160)
    assert "```python" in result.text
    answer = window.chat.view.messages[-1]
    qtbot.waitUntil(lambda: not answer.body.highlight_pending, timeout=10_000)
    blocks = answer.body.code_blocks
    assert blocks and blocks[0].language == "python"
    document = answer.body.document()
    colours = set()
    for number in range(blocks[0].first_block, blocks[0].last_block + 1):
        iterator = document.findBlockByNumber(number).begin()
        while not iterator.atEnd():
            fragment = iterator.fragment()
            assert fragment.charFormat().fontFixedPitch()
            brush = fragment.charFormat().foreground()
            if brush.style() != Qt.BrushStyle.NoBrush:
                colours.add(brush.color().name())
            iterator += 1
    assert len(colours) >= 2  # keywords, names, operators: Pygments coloured real code


def test_no_template_notice_and_the_chat_format_choice(qtbot, window: MainWindow,
                                                        smollm2_base: Path) -> None:
    choose_format(window, "auto")
    info = load_model(qtbot, window, smollm2_base)
    assert not info.chat_template
    banner = window.chat.banner
    assert banner.kind == "notice" and banner.isVisible() and banner.accessibleName() == "Notice"
    assert "no chat template" in banner.message.text().lower()
    assert "Completion (raw text)" in banner.message.text()

    choose_format(window, "completion")
    result = ask_greedy(qtbot, window, "The capital of France is", max_tokens=6)
    assert "Paris" in result.text
    assert result.metrics.prompt_tokens == 5  # the text alone, no transcript around it

    window.chat.new_chat()
    choose_format(window, "chatml")
    result = ask_greedy(qtbot, window, "Name the capital of France.", max_tokens=48)
    assert "Paris" in result.text and result.finish_reason == "stop"


def test_compare_page_in_completion_mode(qtbot, smollm2_base: Path) -> None:
    from workbench.ui.compare_page import ComparePage

    page = ComparePage()
    qtbot.addWidget(page)
    page.show()
    page.pickers[0].set_target("local", str(smollm2_base))
    page.pickers[1].set_target("local", str(smollm2_base))
    page.chat_format.setCurrentIndex(page.chat_format.findData("completion"))
    page.prompt.setPlainText("The capital of France is")
    page.max_tokens.setValue(6)
    page.temperature.setValue(0.0)  # the most likely tokens: the same answer on any machine
    with qtbot.waitSignal(page.runFinished, timeout=3 * ANSWER_TIMEOUT_MS):
        assert page.run()
    for pane in page.panes[:2]:
        assert pane.result is not None and pane.result.ok, pane.result
        assert pane.result.prompt_tokens == 5  # the text itself, not a chat transcript
        assert "Paris" in pane.result.text


def test_a_notice_is_not_dressed_as_an_error(qtbot) -> None:
    from workbench.ui.notice_banner import NoticeBanner

    banner = NoticeBanner()
    qtbot.addWidget(banner)
    banner.show_notice("This model has no chat template", "It continues text.")
    assert (banner.kind, banner.accessibleName()) == ("notice", "Notice")
    notice_style = banner.styleSheet()
    banner.show_error("The model could not be loaded", "bad file")
    assert (banner.kind, banner.accessibleName()) == ("error", "Error")
    assert banner.styleSheet() != notice_style
