"""The Benchmarks page: real benchmarks of the tiny synthetic models in real worker processes,
stored in a real SQLite file, listed and charted; cancel, a crashing worker, and delete."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from PySide6.QtCore import Qt

from workbench.engine import bench_runs
from workbench.engine.bench import BenchResult
from workbench.engine.client import LocalEngine
from workbench.hub import scan_library
from workbench.store import db
from workbench.ui.bench_page import BenchPage
from workbench.ui.widgets import plain_tip

RUN_TIMEOUT_MS = 90_000  # worker starts + loads on a busy 2-core machine


def _page(qtbot, tmp_path: Path, **kwargs) -> BenchPage:
    kwargs.setdefault("library_scanner", lambda: [])
    page = BenchPage(connect=lambda: db.connect(tmp_path / "bench.db"), **kwargs)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    qtbot.waitUntil(lambda: page.scanned_once, timeout=10_000)
    return page


def _small(page: BenchPage, *, pp: int = 16, tg: int = 8, reps: int = 2) -> None:
    page.prompt_tokens.setValue(pp)
    page.gen_tokens.setValue(tg)
    page.repetitions.setValue(reps)


def _stored(tmp_path: Path) -> list[dict]:
    with db.connect(tmp_path / "bench.db") as connection:
        return bench_runs.all_runs(connection)


def _run(qtbot, page: BenchPage) -> tuple[bool, list[int]]:
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
        assert page.running and not page.run_button.isEnabled()
        assert page.cancel_button.isEnabled() and not page.prompt_tokens.isEnabled()
    return blocker.args[0], blocker.args[1]


def test_empty_state_explains_and_a_library_model_is_measured_stored_and_charted(
        qtbot, tmp_path: Path, llama_tiny: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    copy = Path(shutil.copy(llama_tiny, folder / "tiny-llama-Q8_0.gguf"))
    page = _page(qtbot, tmp_path, library_scanner=lambda: scan_library(
        sources=("folder",), extra_folders=[folder]))
    # nothing stored yet: real guidance instead of an empty chart
    assert page.views.currentWidget() is page.empty
    assert "Prompt processing" in page.empty.text() and "Run" in page.empty.text()
    # the library's model is listed, unticked; Run waits for a choice
    assert page.models.count() == 1 and page.models.item(0).toolTip() == plain_tip(str(copy))
    assert not page.run_button.isEnabled()
    page.models.item(0).setCheckState(Qt.CheckState.Checked)
    assert page.run_button.isEnabled()
    _small(page)
    cancelled, ids = _run(qtbot, page)

    assert not cancelled and len(ids) == 1 and page.failures == []
    runs = _stored(tmp_path)
    assert [r["id"] for r in runs] == ids
    run = runs[0]
    assert run["model_path"] == str(copy) and run["quant"] == "Q8_0"
    assert run["pp_tokens"] == 16 and run["tg_tokens"] == 8 and run["repetitions"] == 2
    assert run["pp_tokens_per_s"] > 0 and run["tg_tokens_per_s"] > 0
    assert run["settings"]["ctx"] == 512 and run["machine"]["cpu"]  # stored as the CLI does
    # the table row and the chart's bars
    assert page.table.rowCount() == 1
    assert page.table.item(0, 1).text() == "Q8_0"
    assert page.table.item(0, 4).text().split(" ± ")[0] != "–"
    assert page.selected_run_ids() == ids
    assert page.views.currentWidget() is page.chart
    assert page.chart.generation.count() == 1 and page.chart.prompt.count() == 1
    assert abs(page.chart.generation.at(0) - run["tg_tokens_per_s"]) < 0.1
    assert abs(page.chart.prompt.at(0) - run["pp_tokens_per_s"]) < 0.1
    assert "Q8_0" in page.chart.categories.categories()[0]
    assert "±" in page.chart.categories.categories()[0]
    assert page.chart.values.titleText().endswith("(tok/s)")
    assert page.run_button.isEnabled() and not page.cancel_button.isEnabled()
    assert page.progress_label.text().startswith("Done: 1 of 1")


def test_two_models_give_two_bars_and_progress_names_the_model(
        qtbot, tmp_path: Path, tiny_model_path) -> None:
    page = _page(qtbot, tmp_path)
    q8 = tiny_model_path("llama", "Q8_0")
    f16 = tiny_model_path("llama", "F16")
    page.add_model_file(str(q8))
    page.add_model_file(str(f16))
    page.add_model_file(str(q8))  # listed once
    assert page.models.count() == 2 and page.chosen_paths() == [str(q8), str(f16)]
    _small(page)
    texts: list[str] = []
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        assert page.start_run()
        assert page.run is not None
        page.run.progressed.connect(lambda text, _n: texts.append(text))
    cancelled, ids = blocker.args
    assert not cancelled and len(ids) == 2
    assert any(t.startswith("model 2/2 · generation rep 2/2") for t in texts)
    assert {r["quant"] for r in _stored(tmp_path)} == {"Q8_0", "F16"}
    assert page.table.rowCount() == 2
    assert page.chart.generation.count() == 2 and page.chart.prompt.count() == 2
    labels = page.chart.categories.categories()
    assert len(labels) == 2 and any("F16" in lab for lab in labels) and \
        any("Q8_0" in lab for lab in labels)
    assert all(page.chart.generation.at(i) > 0 for i in range(2))
    # selecting one run charts just that one
    page.table.clearSelection()
    page.table.selectRow(0)
    assert page.chart.generation.count() == 1


def test_cancel_mid_run_stores_nothing_and_stops_the_worker(
        qtbot, tmp_path: Path, llama_tiny: Path) -> None:
    engines: list[LocalEngine] = []

    def factory() -> LocalEngine:
        engines.append(LocalEngine())
        return engines[-1]

    page = _page(qtbot, tmp_path, engine_factory=factory)
    page.add_model_file(str(llama_tiny))
    _small(page, pp=256, tg=128, reps=100)  # seconds of work: still running when cancelled
    assert page.start_run()
    qtbot.waitUntil(lambda: "rep" in page.progress_label.text(), timeout=RUN_TIMEOUT_MS)
    pid = engines[0].pid
    assert pid is not None and engines[0].alive
    with qtbot.waitSignal(page.runFinished, timeout=5_000) as blocker:
        qtbot.keyClick(page.run_button, Qt.Key.Key_Escape)  # the page's Cancel shortcut
    assert blocker.args == [True, []]
    assert _stored(tmp_path) == []
    assert page.table.rowCount() == 0 and page.views.currentWidget() is page.empty
    assert not engines[0].alive
    assert "Cancelled" in page.progress_label.text()
    assert page.run_button.isEnabled() and not page.cancel_button.isEnabled()
    assert page.prompt_tokens.isEnabled() and not page.running


def test_a_crashing_worker_is_shown_and_the_page_stays_usable(
        qtbot, tmp_path: Path, llama_tiny: Path) -> None:
    fault = {"on": True}

    def factory() -> LocalEngine:
        env = dict(os.environ)
        if fault["on"]:
            env["WORKBENCH_WORKER_FAULT"] = "abort-on-load"
        return LocalEngine(env=env)

    page = _page(qtbot, tmp_path, engine_factory=factory)
    page.add_model_file(str(llama_tiny))
    _small(page)
    cancelled, ids = _run(qtbot, page)
    assert not cancelled and ids == []
    assert _stored(tmp_path) == []
    assert page.banner.isVisible() and page.banner.kind == "crash"
    assert "SIGABRT" in page.banner.title.text()
    assert llama_tiny.name in page.banner.message.text()
    assert "fault injected" in page.banner.details.toPlainText()
    assert page.progress_label.text().startswith("Done: 0 of 1")
    assert page.run_button.isEnabled()

    # the retry runs the crashed model again in safe mode; this time it works
    fault["on"] = False
    assert page.banner.retry_button.isVisible()
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.banner.retry_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is False and len(blocker.args[1]) == 1
    assert not page.banner.isVisible()
    (run,) = _stored(tmp_path)
    assert run["settings"]["repack"] is False and run["tg_tokens_per_s"] > 0
    assert page.table.rowCount() == 1


def _save(tmp_path: Path, quant: str, tg: float) -> int:
    result = BenchResult(model_path=f"/models/m-{quant}.gguf", pp_tokens=512, tg_tokens=128,
                         repetitions=5, pp_tokens_per_s=tg * 10, pp_sd=3.0,
                         tg_tokens_per_s=tg, tg_sd=0.5,
                         settings={"threads": 2, "flash_attn": "auto", "repack": False,
                                   "gpu_layers": 0, "ctx": 641},
                         model={"name": "m", "quant": quant, "model_size_bytes": 2**30})
    with db.connect(tmp_path / "bench.db") as connection:
        return bench_runs.save(connection, result, {"cpu": "test cpu"})


def test_stored_runs_are_listed_charted_and_deleted(qtbot, tmp_path: Path,
                                                    monkeypatch) -> None:
    q4 = _save(tmp_path, "Q4_K_M", 40.0)
    q8 = _save(tmp_path, "Q8_0", 25.0)
    page = _page(qtbot, tmp_path)
    assert page.table.rowCount() == 2
    assert [page.table.item(r, 1).text() for r in range(2)] == ["Q8_0", "Q4_K_M"]
    assert page.table.item(0, 2).text() == "1.0 GiB"
    assert page.table.item(0, 4).text() == "25.0 ± 0.5"
    assert page.table.item(0, 3).text() == "250 ± 3"
    assert "ctx 641" in page.table.item(0, 5).text()
    # nothing selected: the latest run of each model is charted, the newest on top
    assert page.chart.generation.count() == 2
    assert page.chart.categories.categories()[-1].startswith("m Q8_0 (tg ±0.5, pp ±3.0)")
    assert not page.delete_button.isEnabled()

    page.table.selectRow(0)
    assert page.selected_run_ids() == [q8] and page.delete_button.isEnabled()
    monkeypatch.setattr(page, "confirm_delete", lambda count: False)
    assert page.delete_selected() == 0 and page.table.rowCount() == 2
    monkeypatch.setattr(page, "confirm_delete", lambda count: count == 1)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert [r["id"] for r in _stored(tmp_path)] == [q4]
    assert page.table.rowCount() == 1 and page.table.item(0, 1).text() == "Q4_K_M"
    assert page.chart.generation.count() == 1 and page.chart.generation.at(0) == 40.0

    page.table.selectRow(0)
    page.activateWindow()
    page.table.setFocus()
    qtbot.waitUntil(page.table.hasFocus, timeout=2_000)
    qtbot.keyClick(page.table, Qt.Key.Key_Delete)  # the Delete shortcut
    assert _stored(tmp_path) == [] and page.table.rowCount() == 0
    assert page.views.currentWidget() is page.empty


def test_nothing_to_measure_is_explained(qtbot, tmp_path: Path, llama_tiny: Path) -> None:
    page = _page(qtbot, tmp_path)
    page.add_model_file(str(llama_tiny))
    _small(page, pp=0, tg=0)
    assert page.prompt_tokens.text() == "skip"
    assert not page.start_run() and not page.running
    assert page.banner.isVisible() and "Nothing to measure" in page.banner.title.text()
    plan = page.plan()
    assert plan.settings_for(str(llama_tiny)).n_ctx == 512
    page.context.setValue(2048)
    page.gpu_layers.setValue(-1)
    assert page.gpu_layers.text() == "all"
    settings = page.plan(safe_mode=True).settings_for(str(llama_tiny))
    assert settings.n_ctx == 2048 and settings.n_gpu_layers == 0 and settings.repack is False


def test_a_broken_database_does_not_break_the_page(qtbot, tmp_path: Path) -> None:
    def broken() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    page = BenchPage(connect=broken, library_scanner=lambda: [])
    qtbot.addWidget(page)
    assert "unavailable" in page.results_state.text()
    assert page.views.currentWidget() is page.empty
