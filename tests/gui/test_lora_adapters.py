"""LoRA adapters in the app (real widgets offscreen, the real llama.cpp worker): the Chat side
panel adds an adapter with a scale, the memory preview counts its bytes before the reload, the
reload applies it (the header names it, a greedy answer changes), a mismatched adapter is refused
where it is chosen and before any load, removing it gives the base model's answer back; the
Library lists adapters apart from models, with the models each one fits, and opens one in Chat
with its base model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.gui.test_settings_panel import make_panel, wait_result
from tests.helpers.gui import ANSWER_TIMEOUT_MS, LOAD_TIMEOUT_MS, load_model, type_and_send
from workbench.engine.protocol import LoadedModel
from workbench.gguf import read_adapter
from workbench.hub import scan_library
from workbench.present.numbers import format_bytes
from workbench.synth import write_lora_adapter
from workbench.ui import engine_bridge as states
from workbench.ui.library_page import KIND_COLUMN, STATUS_COLUMN, LibraryPage
from workbench.ui.main_window import MainWindow
from workbench.ui.settings_panel import RELOAD_PENDING_TEXT

TARGETS = ("attn_q", "attn_v", "ffn_down", "output")
PROMPT = "The capital of France is"
TOKENS = 12


@pytest.fixture(scope="module")
def loras(llama_tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gui-loras")
    return {
        "one": write_lora_adapter(out / "one.gguf", llama_tiny, rank=4, targets=TARGETS,
                                  seed=1),
        "width": write_lora_adapter(out / "width.gguf", llama_tiny, mismatch="width"),
        "arch": write_lora_adapter(out / "arch.gguf", llama_tiny, mismatch="arch"),
    }


def greedy_answer(qtbot, window: MainWindow) -> str:
    """A new chat's answer to PROMPT at temperature 0."""
    window.chat.new_chat()
    with qtbot.waitSignal(window.bridge.answerFinished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        type_and_send(qtbot, window, PROMPT, max_tokens=TOKENS, seed=7, temperature=0.0)
    text: str = blocker.args[0].text
    assert text
    return text


def reload(qtbot, window: MainWindow) -> LoadedModel:
    with qtbot.waitSignal(window.bridge.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.chat.settings_panel.reload_button.click()
    info: LoadedModel = blocker.args[0]
    return info


def test_add_preview_reload_mismatch_and_remove(qtbot, window: MainWindow, llama_tiny: Path,
                                                loras: dict[str, Path]) -> None:
    panel = window.chat.settings_panel
    load_model(qtbot, window, llama_tiny, context=256)
    base_answer = greedy_answer(qtbot, window)
    plain = wait_result(qtbot, panel, loras=())
    assert "adapters" not in panel.preview.cpu_text.text()

    one = str(loras["one"])
    assert panel.add_adapter(one, 1.0)
    assert panel.adapters() == ((one, 1.0),)
    assert [row.name_label.text() for row in panel.adapter_rows] == ["one.gguf"]
    shown = wait_result(qtbot, panel, loras=((one, 1.0),))
    assert shown.error is None and shown.plan is not None and plain.plan is not None
    adapter_bytes = shown.plan.adapter_cpu_bytes
    assert adapter_bytes >= read_adapter(one).tensor_data_size > 0
    assert f"adapters {format_bytes(adapter_bytes)}" in panel.preview.cpu_text.text()
    assert shown.plan.cpu_bytes > plain.plan.cpu_bytes  # before reloading
    assert shown.differs and panel.reload_button.text() == RELOAD_PENDING_TEXT

    info = reload(qtbot, window)
    assert info.loras == ((one, 1.0),)
    assert "LoRA one ×1" in window.chat.model_label.text()
    adapted = greedy_answer(qtbot, window)
    assert adapted != base_answer

    # a mismatched adapter is refused where it is chosen, with the reason shown
    for bad, reason in (("width", "does not fit the model"), ("arch", "it is for qwen2")):
        assert not panel.add_adapter(str(loras[bad]))
        assert panel.adapter_message.isVisibleTo(panel)
        assert reason in panel.adapter_message.text()
    assert not panel.add_adapter(str(llama_tiny))  # a model is not an adapter
    assert "not a usable LoRA adapter" in panel.adapter_message.text()
    assert panel.adapters() == ((one, 1.0),)

    # another scale: the preview and the reload follow it
    panel.adapter_rows[0].scale.setValue(-0.5)
    assert panel.load_settings(str(llama_tiny)).loras == ((one, -0.5),)
    assert panel.remove_adapter(one)
    assert panel.adapters() == () and panel.no_adapters_label.isVisibleTo(panel)
    wait_result(qtbot, panel, loras=())
    assert "adapters" not in panel.preview.cpu_text.text()
    info = reload(qtbot, window)
    assert info.loras == () and "LoRA" not in window.chat.model_label.text()
    assert greedy_answer(qtbot, window) == base_answer


def test_a_mismatched_adapter_never_reaches_the_load(qtbot, window: MainWindow,
                                                     llama_tiny: Path,
                                                     loras: dict[str, Path]) -> None:
    """With no model yet only the file is checked; opening a model it does not fit is refused
    with the reason in the banner and the panel, and nothing loads."""
    panel = window.chat.settings_panel
    width = str(loras["width"])
    assert panel.add_adapter(width)  # an adapter: fine until there is a model
    assert not window.open_model(str(llama_tiny))
    assert window.bridge.state == states.NO_MODEL and window.bridge.info is None
    assert window.bridge.settings is None
    banner = window.chat.banner
    assert banner.kind == "error" and banner.isVisibleTo(window)
    assert "does not fit" in banner.title.text() and "width.gguf" in banner.message.text()
    assert panel.adapter_message.isVisibleTo(panel)
    assert "does not fit the model" in panel.adapter_message.text()
    panel.remove_adapter(width)
    info = load_model(qtbot, window, llama_tiny, context=256)
    assert info.loras == ()


def test_adapters_are_kept_with_the_other_settings(qtbot, tmp_path: Path, llama_tiny: Path,
                                                   loras: dict[str, Path]) -> None:
    panel = make_panel(qtbot)
    panel.set_model(str(llama_tiny))
    assert panel.add_adapter(str(loras["one"]), 0.7)
    settings = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    panel.save(settings)
    again = make_panel(qtbot)
    again.restore(settings)
    assert again.adapters() == ((str(loras["one"]), 0.7),)
    settings.setValue("chat/loras", '[["/no/such/adapter.gguf", 1.0]]')
    again.restore(settings)
    assert again.adapters() == ()


def _library_folder(tmp_path: Path, llama_tiny: Path, loras: dict[str, Path]) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(llama_tiny, folder / "tiny-llama-Q8_0.gguf")
    shutil.copy(loras["one"], folder / "one-lora.gguf")
    shutil.copy(loras["width"], folder / "width-lora.gguf")
    return folder


def test_the_library_lists_adapters_with_the_models_they_fit(qtbot, tmp_path: Path,
                                                             llama_tiny: Path,
                                                             loras: dict[str, Path]) -> None:
    folder = _library_folder(tmp_path, llama_tiny, loras)
    page = LibraryPage(lambda: scan_library(sources=("folder",), extra_folders=[folder],
                                            adapters=True))
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.scanned, timeout=10_000):
        page.show()
    by_name = {Path(m.path).name: (row, m) for row, m in enumerate(page.models)}
    assert set(by_name) == {"tiny-llama-Q8_0.gguf", "one-lora.gguf", "width-lora.gguf"}
    model_row, model = by_name["tiny-llama-Q8_0.gguf"]
    assert not model.is_adapter and page.table.item(model_row, KIND_COLUMN).text() == "Model"
    row, adapter = by_name["one-lora.gguf"]
    assert adapter.is_adapter and adapter.fits == [model.path]
    assert page.table.item(row, KIND_COLUMN).text() == "LoRA adapter · llama · rank 4"
    assert page.table.item(row, STATUS_COLUMN).text() == f"fits: {model.name}"
    bad_row, bad = by_name["width-lora.gguf"]
    assert bad.is_adapter and bad.fits == []
    assert page.table.item(bad_row, STATUS_COLUMN).text() == "fits none of the models listed"
    assert page.state_label.text().startswith("1 models, 2 LoRA adapters")
    page.table.selectRow(bad_row)
    assert not page.open_button.isEnabled()  # nothing to open it with, never as a model
    page.table.selectRow(row)
    assert page.open_button.isEnabled() and "fits: " in page.path_label.text()
    # the scan that `workbench ls` and the other pages use lists models only
    plain = scan_library(sources=("folder",), extra_folders=[folder])
    assert [Path(m.path).name for m in plain] == ["tiny-llama-Q8_0.gguf"]


def test_open_an_adapter_in_chat_loads_its_base_with_it(qtbot, tmp_path: Path,
                                                        settings: QSettings, llama_tiny: Path,
                                                        loras: dict[str, Path]) -> None:
    folder = _library_folder(tmp_path, llama_tiny, loras)
    win = MainWindow(settings=settings, library_scanner=lambda: scan_library(
        sources=("folder",), extra_folders=[folder], adapters=True))
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.library.scanned, timeout=10_000):
        win.show_page("library")
    row = [Path(m.path).name for m in win.library.models].index("one-lora.gguf")
    win.library.table.selectRow(row)
    with qtbot.waitSignal(win.bridge.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        win.library.open_button.click()
    assert win.current_page() == "chat"
    info = blocker.args[0]
    adapter = str(folder / "one-lora.gguf")
    assert info.model_path == str(folder / "tiny-llama-Q8_0.gguf")
    assert info.loras == ((adapter, 1.0),)
    assert win.chat.settings_panel.adapters() == ((adapter, 1.0),)
    win.close()


def test_an_adapter_opened_as_a_model_is_not_loaded(qtbot, window: MainWindow,
                                                    llama_tiny: Path,
                                                    loras: dict[str, Path]) -> None:
    """Opened (or dropped) as a model: refused while no model is loaded, added to the side
    panel (checked against the model) once one is."""
    one = str(loras["one"])
    assert not window.open_model(one)
    assert window.bridge.settings is None and window.bridge.state == states.NO_MODEL
    assert "LoRA adapter, not a model" in window.chat.banner.title.text()
    load_model(qtbot, window, llama_tiny, context=256)
    assert not window.open_model(one)  # nothing loads: it joins the panel's adapters
    assert window.bridge.state == states.READY and window.bridge.info.loras == ()
    assert window.chat.settings_panel.adapters() == ((one, 1.0),)
    assert not window.open_model(str(loras["width"]))
    assert "does not fit" in window.chat.settings_panel.adapter_message.text()
    assert window.chat.settings_panel.adapters() == ((one, 1.0),)


def test_the_evals_page_says_what_the_adapter_buys() -> None:
    from workbench.evals.stats import PairedDiff
    from workbench.evals.summary import AdapterEffect, Comparison, Summary
    from workbench.ui.evals_results import summary_lines

    diff = PairedDiff(0.25, 0.05, 0.45, 0.03, 20, 1, 6)
    effect = AdapterEffect("local:b.gguf+lora:a.gguf", "local:b.gguf", 1, 0.25, 0.05, 0.45, 20,
                           50.0, 40.0)
    summary = Summary([], [Comparison("local:b.gguf", "local:b.gguf+lora:a.gguf", diff,
                                      adapter=effect)], [], {})
    lines = summary_lines(summary)
    assert len(lines) == 2 and lines[1] == effect.text
    assert "the adapter adds 25.0 points on this suite (95% interval +5.0..+45.0)" in lines[1]
    assert "costs 20% of generation speed" in lines[1]


def test_compare_takes_an_adapter_typed_or_from_the_chat(qtbot, llama_tiny: Path,
                                                        loras: dict[str, Path]) -> None:
    from workbench.engine.settings import LoadSettings
    from workbench.ui.compare_page import ComparePage

    loaded = LoadSettings(model_path=str(llama_tiny), loras=((str(loras["one"]), 0.5),))
    page = ComparePage(lambda: loaded)
    qtbot.addWidget(page)
    page.pickers[0].set_target("loaded")  # the Chat page's model, with its adapter
    assert page.pickers[0].spec().loras == ((str(loras["one"]), 0.5),)
    page.pickers[1].set_target("local", f"{llama_tiny}+lora:{loras['one']}@0.8")
    spec = page.pickers[1].spec()
    assert (spec.model, spec.loras) == (str(llama_tiny), ((str(loras["one"]), 0.8),))


def test_the_server_page_serves_a_model_with_its_adapter(qtbot, llama_tiny: Path,
                                                         loras: dict[str, Path]) -> None:
    import httpx

    from workbench.engine.settings import LoadSettings
    from workbench.ui.server_page import ServerPage

    page = ServerPage(library_scanner=lambda: [],
                      load=LoadSettings(model_path="", n_ctx=512, repack=False))
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.scanned_once, timeout=10_000)
    page.serve_library.setChecked(False)
    page.port.setValue(0)
    assert page.add_adapter(str(loras["one"])) is None  # no model selected: said so
    assert page.banner.isVisible() and "Select the model" in page.banner.title.text()
    plain = page.add_model_file(str(llama_tiny))
    page.models.setCurrentItem(plain)
    assert page.add_adapter(str(loras["width"])) is None  # a misfit: refused, not listed
    assert "cannot be served" in page.banner.title.text() and page.models.count() == 1
    combo = page.add_adapter(str(loras["one"]), 0.5)
    assert combo is not None and not page.banner.isVisible()
    assert page.config().models == (str(llama_tiny), f"{llama_tiny}+lora:{loras['one']}@0.5")
    with qtbot.waitSignal(page.serverStarted, timeout=30_000) as blocker:
        assert page.start_server()
    try:
        ids = [m["id"] for m in httpx.get(f"{blocker.args[0]}/models", timeout=30).json()["data"]]
        assert ids == [llama_tiny.name, f"{llama_tiny.name}+lora:{loras['one'].name}@0.5"]
    finally:
        with qtbot.waitSignal(page.serverStopped, timeout=30_000):
            page.stop_server()


def test_an_adapters_cell_names_two_models_and_its_tip_all() -> None:
    from types import SimpleNamespace

    from workbench.ui.library_page import fits_text

    names = {f"/m/{n}.gguf": n for n in ("a", "b", "c", "d")}
    adapter = SimpleNamespace(fits=tuple(names))  # what fits_text reads of a LocalModel
    assert fits_text(adapter, names, most=2) == "fits: a, b and 2 more"  # type: ignore[arg-type]
    assert fits_text(adapter, names) == "fits: a, b, c, d"  # type: ignore[arg-type]
