"""The Chat page loads and answers the weight types the repacking probe used to refuse (Q4_1,
IQ4_NL), with the default settings, as a user opens them."""

from __future__ import annotations

import pytest

from tests.helpers.gui import ask, load_model
from workbench.ui.main_window import MainWindow


@pytest.mark.parametrize("quant", ["Q4_1", "IQ4_NL"])
def test_chat_loads_and_answers(quant: str, qtbot, window: MainWindow, tiny_model_path) -> None:
    info = load_model(qtbot, window, tiny_model_path("llama", quant))
    assert info.architecture == "llama"
    assert not [n for n in info.notes if "no probe could be run" in n]
    result = ask(qtbot, window, "Say hello.", max_tokens=8)
    assert result.metrics.completion_tokens > 0 and result.text
    assert window.chat.view.messages[-1].text == result.text
