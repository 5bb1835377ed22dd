"""Text from a file, a model or a server is shown as plain text: HTML in a GGUF's general.name,
a provider's error or a Hub name is never rendered (no spoofed markup, no local images)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel

from workbench.engine.protocol import LoadedModel
from workbench.providers.base import AnswerResult
from workbench.ui.compare_pane import AnswerPane
from workbench.ui.main_window import MainWindow
from workbench.ui.notice_banner import NoticeBanner

HOSTILE = '<img src="file:///etc/passwd"><b style="color:red">Official update</b><a href="x">'


def loaded_model(name: str, model_path: str, notes: list[str]) -> LoadedModel:
    """A loaded model as the worker describes it (a GGUF's own name and path, as they are)."""
    return LoadedModel(
        model_path=model_path, architecture="llama", name=name, n_params=1000,
        model_size_bytes=1 << 20, n_vocab=32, n_ctx=2048, n_ctx_train=2048, chat_template=True,
        load_ms=1.0, threads=1, repack=False, flash_attn="auto", kv_type="f16", n_gpu_layers=0,
        gpu_offload=False, llama_cpp_version="0", notes=notes)


def assert_plain(label: QLabel) -> None:
    assert label.textFormat() == Qt.TextFormat.PlainText, label.accessibleName()
    assert HOSTILE in label.text()


@pytest.fixture
def window(qtbot, settings: QSettings):
    win = MainWindow(settings=settings, network_check=lambda: None)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def test_a_models_name_is_plain_text_in_the_chat_and_the_status_bar(window: MainWindow) -> None:
    window.bridge.loaded.emit(loaded_model(HOSTILE, "/m.gguf", []))  # as the worker says
    assert_plain(window.chat.model_label)
    assert_plain(window.status.model_label)


def test_a_providers_error_is_plain_text_in_the_compare_pane(qtbot) -> None:
    pane = AnswerPane(1)
    qtbot.addWidget(pane)
    pane.show_result(AnswerResult(target="openai:x", label=HOSTILE, provider="openai",
                                  model="x", destination="api.example", error=HOSTILE,
                                  finish_reason="error"), header=HOSTILE)
    assert_plain(pane.error)
    assert_plain(pane.header)


def test_the_notice_banner_shows_plain_text(qtbot) -> None:
    banner = NoticeBanner()
    qtbot.addWidget(banner)
    banner.show_error(HOSTILE, HOSTILE)
    assert_plain(banner.title)
    assert_plain(banner.message)
    banner.show_notice(HOSTILE, HOSTILE)
    assert_plain(banner.message)


def test_hub_and_file_text_is_plain_on_the_other_pages(window: MainWindow) -> None:
    labels = [window.status.download_label, window.downloads_page.summary,
              window.library.state_label, window.library.path_label,
              window.bench.library_state, window.bench.progress_label,
              window.bench.results_state, window.discover.state_label,
              window.discover.repo_title, window.welcome.network_label,
              window.welcome.download_state, window.welcome.library_label,
              window.settings_page.message, window.settings_page.offline_note,
              window.compare.send_text, window.chat.settings_panel.preset_message]
    for label in labels:
        label.setText(HOSTILE)
        assert_plain(label)


def shown_tooltip(text: str) -> str:
    """What Qt shows for a tooltip: rich text when it looks like HTML, as QToolTip decides."""
    from PySide6 import QtGui
    from PySide6.QtGui import QTextDocument

    if not QtGui.Qt.mightBeRichText(text):
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def test_tooltips_show_file_and_model_text_as_written(window: MainWindow) -> None:
    window.bridge.loaded.emit(loaded_model("m", HOSTILE, [f"note {HOSTILE}"]))
    shown = shown_tooltip(window.chat.model_label.toolTip())
    assert HOSTILE in shown and f"note {HOSTILE}" in shown.splitlines()


def test_plain_tip_keeps_line_breaks_and_markup_characters() -> None:
    from workbench.ui.widgets import plain_tip

    text = "a <b>b</b> & c\nsecond line"
    assert shown_tooltip(plain_tip(text)) == text
