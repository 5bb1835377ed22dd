"""The Start page of a first start: this machine, the best pick, its download from the (loopback)
Hub and "Open in chat"; without a network the local-file way in; a non-empty library keeps the
restored page."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.fakes.nvml import make_fake_pynvml
from tests.helpers.gui import LOAD_TIMEOUT_MS
from workbench.hardware import detect
from workbench.hub import scan_library
from workbench.hub.apps import HomeEnv
from workbench.hub.probe import check_hub
from workbench.net.offline import offline_guard
from workbench.planner.catalog import Catalog, QuantFile, load_catalog
from workbench.planner.recommend import recommend
from workbench.planner.speed import Predictor
from workbench.ui import engine_bridge as states
from workbench.ui.main_window import MainWindow
from workbench.ui.welcome_page import machine_line

REPO = "workbench-synthetic/llama-tiny-GGUF"
FILE = "llama-tiny-Q8_0.gguf"


def _detector(tmp_path: Path):
    """The real detector on this machine, with no GPU (NVML faked at its boundary)."""
    def detector():
        return detect(probe_llama=False, nvml_module=make_fake_pynvml([]),
                      sysfs_root=tmp_path), []
    return detector


def _scanner(home: Path, *folders: Path):
    """The real library scan, in a temporary home (no app folders of this machine)."""
    home.mkdir(exist_ok=True)
    return lambda: scan_library(env=HomeEnv(home, {}), extra_folders=list(folders))


def _recommender(model: Path):
    """The real recommender on a one-entry catalog whose file is on the loopback Hub (the full
    catalog takes seconds to plan), with a given memory bandwidth (measuring it takes seconds
    in each fresh WORKBENCH_HOME)."""
    catalog = load_catalog()
    entry = min(catalog.entries, key=lambda e: e.n_params)
    quant_file = QuantFile("Q8_0", FILE, model.stat().st_size, "computed")
    entry = dataclasses.replace(entry, repo=REPO, files=(quant_file,))
    small = Catalog((entry,), catalog.quant_losses, catalog.loss_source)
    return lambda report: recommend(report, catalog=small, limit=1,
                                    predictor=Predictor(bandwidth_gbps=20.0))


def _window(qtbot, settings: QSettings, **kwargs) -> MainWindow:
    win = MainWindow(settings=settings, **kwargs)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_empty_library_opens_on_start_downloads_the_pick_and_opens_it(
        qtbot, hub_env, tmp_path: Path, settings: QSettings, llama_tiny: Path) -> None:
    hub_env.hub.add_repo(REPO, {FILE: llama_tiny}, license="apache-2.0")
    win = _window(qtbot, settings, hardware_detector=_detector(tmp_path),
                  library_scanner=_scanner(tmp_path / "home"),
                  recommender=_recommender(llama_tiny), welcome_if_empty=True)
    page = win.welcome
    try:
        assert win.rail.keys()[0] == "start"
        qtbot.waitUntil(lambda: win.current_page() == "start", timeout=10_000)
        qtbot.waitUntil(lambda: page.recommendation is not None and page.network_known,
                        timeout=15_000)
        rec = page.recommendation
        assert page.network_problem is None  # the loopback Hub answered a HEAD
        assert any(r.method == "HEAD" for r in hub_env.hub.requests)
        # step 1: this machine in one line
        assert "no GPU" in page.machine_label.text() and "RAM" in page.machine_label.text()
        # step 2: the pick in words
        assert page.pick_title.text() == f"{rec.entry.name}, Q8_0 " \
            f"({page.download_button.text().split('(')[1]}"
        details = page.pick_details.text()
        assert "Memory: runs on the CPU" in details
        assert "tokens/s generation (an upper bound from the memory bandwidth, not a " \
            "prediction" in details  # no calibration in a fresh home
        assert "Licence: apache-2.0." in details and "Why this one: " in details
        assert not page.library_box.isVisible()
        # step 3: the download through the shared controller, then Open in chat
        assert page.download_button.isEnabled() and page.download_button.isVisible()
        with qtbot.waitSignal(page.downloadQueued, timeout=10_000):
            page.download_button.click()
        assert not page.download_button.isEnabled()  # one download at a time
        qtbot.waitUntil(lambda: page.job is not None and page.job.state == "done",
                        timeout=30_000)
        job = page.job
        assert Path(job.paths[0]).read_bytes() == llama_tiny.read_bytes()
        assert page.progress.value() == page.progress.maximum()
        assert page.open_button.isVisible() and page.open_button.isEnabled()
        assert not page.download_button.isVisible()
        assert [j.id for j in win.downloads.jobs] == [job.id]  # the Downloads page's queue
        qtbot.waitUntil(lambda: page.models is not None and len(page.models) == 1,
                        timeout=10_000)  # scanned again: the new model is in the library
        assert page.library_box.isVisible()
        with qtbot.waitSignal(win.bridge.loaded, timeout=LOAD_TIMEOUT_MS):
            page.open_button.click()
        assert win.current_page() == "chat"
        assert win.bridge.state == states.READY
        assert win.bridge.settings.model_path == job.paths[0]
    finally:
        win.close()


def test_offline_says_so_and_offers_local_files_without_connecting(
        qtbot, hub_env, tmp_path: Path, settings: QSettings, llama_tiny: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    hub_env.hub.add_repo(REPO, {FILE: llama_tiny})
    folder = tmp_path / "my-models"
    folder.mkdir()
    shutil.copy(llama_tiny, folder / FILE)
    with offline_guard():
        win = _window(qtbot, settings, hardware_detector=_detector(tmp_path),
                      library_scanner=_scanner(tmp_path / "home"),
                      recommender=_recommender(llama_tiny), welcome_if_empty=True)
        page = win.welcome
        try:
            qtbot.waitUntil(lambda: win.current_page() == "start", timeout=10_000)
            qtbot.waitUntil(lambda: page.recommendation is not None and page.network_known,
                            timeout=15_000)
            assert page.network_problem and "offline mode is on" in page.network_problem
            assert page.network_label.text().startswith("No network: offline mode is on")
            assert page.local_box.title() == "No network: use local files"
            # the recommendation stays, its download waits
            assert page.pick_title.isVisible() and "Q8_0" in page.pick_title.text()
            assert not page.download_button.isEnabled()
            assert "cannot be downloaded now" in page.download_state.text()
            # the local-file actions
            for button in (page.open_file_button, page.add_folder_button, page.scan_button):
                assert button.isVisible() and button.isEnabled(), button.text()
            opened: list[str] = []
            monkeypatch.setattr("workbench.ui.main_window.QFileDialog.getOpenFileName",
                                lambda *args: (opened.append(args[1]) or "", ""))
            page.open_file_button.click()
            assert opened == ["Open a GGUF model"]  # the window's own file dialog
            monkeypatch.setattr("workbench.ui.welcome_page.QFileDialog.getExistingDirectory",
                                lambda *args: str(folder))
            with qtbot.waitSignal(page.libraryScanned, timeout=10_000) as blocker:
                page.add_folder_button.click()
            assert [m.path for m in blocker.args[0]] == [str(folder / FILE)]
            assert page.library_box.isVisible()
            assert page.library_label.text().startswith("You have 1 model on this machine")
            # Scan again checks the network again: still offline, still nothing sent
            with qtbot.waitSignal(page.libraryScanned, timeout=10_000):
                page.scan_button.click()
            assert page.network_known and "offline" in (page.network_problem or "")
            assert hub_env.hub.requests == []  # no connection was attempted
        finally:
            win.close()


def test_models_on_this_machine_keep_the_restored_page(
        qtbot, hub_env, tmp_path: Path, settings: QSettings, llama_tiny: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(llama_tiny, folder / FILE)
    settings.setValue("window/page", "costs")

    def no_detection():
        raise RuntimeError("no probe in this test")

    win = _window(qtbot, settings, hardware_detector=no_detection,
                  library_scanner=_scanner(tmp_path / "home", folder),
                  network_check=lambda: None, welcome_if_empty=True)
    page = win.welcome
    try:
        qtbot.waitUntil(lambda: page.models is not None, timeout=10_000)
        assert len(page.models) == 1
        assert win.current_page() == "costs"  # not forced to the Start page
        win.getting_started_action.trigger()  # Help > Getting started
        assert win.current_page() == "start"
        assert page.library_box.isVisible()
        assert page.library_label.text().startswith("You have 1 model on this machine")
        qtbot.waitUntil(lambda: not page.busy(), timeout=10_000)
        assert "no probe in this test" in page.machine_label.text()
        assert page.pick_state.text().startswith("No recommendation")
        assert not page.download_button.isEnabled()
        page.library_button.click()
        assert win.current_page() == "library"
        qtbot.waitUntil(lambda: win.library.scanned_once, timeout=10_000)
    finally:
        win.close()


def test_a_page_chosen_before_the_scan_ends_is_kept(qtbot, settings: QSettings,
                                                   tmp_path: Path) -> None:
    win = _window(qtbot, settings, library_scanner=lambda: [], welcome_if_empty=True,
                  hardware_detector=_detector(tmp_path))
    try:
        # the scan result arrives through the event loop: choose a page before it does
        win.show_page("costs")
        qtbot.waitUntil(lambda: win.welcome.models == [], timeout=5_000)
        assert win.current_page() == "costs"
    finally:
        win.close()


def test_hub_check_and_machine_line(fake_hub, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    assert check_hub() is None
    fake_hub.close()
    problem = check_hub(timeout=2.0)
    assert problem is not None and "cannot be reached" in problem
    report, _ = _detector(tmp_path)()
    line = machine_line(report)
    assert line.startswith("no GPU (models run on the CPU) · ")
    assert " RAM (" in line and "cores" in line


def test_the_slow_pick_keeps_the_page_responsive(qtbot, tmp_path: Path,
                                                 llama_tiny: Path) -> None:
    from workbench.ui.downloads import DownloadsController
    from workbench.ui.welcome_page import WelcomePage

    release = threading.Event()
    real = _recommender(llama_tiny)

    def slow(report):
        release.wait(10)  # stands for the full catalog's seconds of planning
        return real(report)

    downloads = DownloadsController()
    page = WelcomePage(downloads, detector=_detector(tmp_path), scanner=lambda: [],
                       recommender=slow, network_check=lambda: "no route to the Hub")
    qtbot.addWidget(page)
    page.show()
    try:
        qtbot.waitUntil(lambda: page.busy("recommend"), timeout=5_000)
        assert page.pick_state.text().startswith("Planning every catalog model")
        assert "no GPU" in page.machine_label.text()
        # the GUI thread runs meanwhile: the Hub check's answer arrives and is shown
        qtbot.waitUntil(lambda: page.network_known, timeout=5_000)
        assert page.network_label.text().startswith("No network: no route to the Hub")
        assert page.busy("recommend") and not page.download_button.isEnabled()
        with qtbot.waitSignal(page.recommended, timeout=5_000):
            release.set()
        assert "Q8_0" in page.pick_title.text()
        assert not page.download_button.isEnabled()  # no network: it waits
        assert "cannot be downloaded now" in page.download_state.text()
    finally:
        release.set()
        downloads.shutdown()


@pytest.mark.parametrize(("bandwidth", "floors"), [(200.0, [10.0]), (0.05, [10.0, None])])
def test_first_pick_prefers_a_comfortable_speed_then_the_usual_floor(
        monkeypatch, tmp_path: Path, llama_tiny: Path, bandwidth: float, floors: list) -> None:
    from workbench.planner import recommend as recommend_module

    catalog = load_catalog()
    entry = min(catalog.entries, key=lambda e: e.n_params)
    entry = dataclasses.replace(entry, repo=REPO, files=(
        QuantFile("Q8_0", FILE, llama_tiny.stat().st_size, "computed"),))
    small = Catalog((entry,), catalog.quant_losses, catalog.loss_source)
    asked: list = []

    def real_recommend(report, **kwargs):  # the real planner on a one-entry catalog
        asked.append(kwargs.get("min_tokens_per_s"))
        return recommend(report, catalog=small, predictor=Predictor(bandwidth_gbps=bandwidth),
                         **kwargs)

    monkeypatch.setattr(recommend_module, "recommend", real_recommend)
    picks = recommend_module.first_pick(_detector(tmp_path)()[0])
    assert asked == floors
    assert len(picks) == 1 and picks[0].speed.tg_tokens_per_s is not None
    assert (picks[0].speed.tg_tokens_per_s >= 10.0) == (floors == [10.0])
