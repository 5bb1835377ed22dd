"""Discover and Downloads on the loopback Hub: search, list a repository's variants with their
fit on this machine, queue a download, watch it in the Downloads page and the status bar, and
find it in the Library afterwards."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from tests.fakes.nvml import make_fake_pynvml
from tests.helpers.hub import synthetic_gguf
from workbench.hardware import detect
from workbench.hub import plan_variants
from workbench.planner.recommend import machine_budget
from workbench.ui.main_window import MainWindow

REPO = "someone/Tiny-GGUF"


def test_search_plan_download_and_library(qtbot, hub_env, tmp_path: Path,
                                          settings: QSettings) -> None:
    model = synthetic_gguf(tmp_path / "tiny-Q8_0.gguf", n_embd=64)
    hub_env.hub.add_repo(REPO, {"tiny-Q8_0.gguf": model, "README.md": b"# tiny\n"})
    budget = machine_budget(detect(probe_llama=False, nvml_module=make_fake_pynvml([]),
                                   sysfs_root=tmp_path))

    def planner(variants, ctx):
        return plan_variants(variants, ctx=ctx, budget=budget)

    win = MainWindow(settings=settings, planner=planner, library_scanner=None,
                     discover_recommender=lambda: [])
    qtbot.addWidget(win)
    win.show()
    try:
        page = win.discover
        win.show_page("discover")
        page.query.setText("tiny")
        with qtbot.waitSignal(page.searched, timeout=10_000):
            page.search_button.click()
        assert [r.repo_id for r in page.results] == [REPO]
        with qtbot.waitSignal(page.planned, timeout=30_000):
            page.repos.selectRow(0)
        assert [v.name for v in page.variants] == ["tiny-Q8_0.gguf"]
        fit = page.variant_table.item(0, 3).text()
        assert fit.startswith("CPU only"), fit  # no GPU here: said in words
        assert page.variant_table.item(0, 1).text() == "Q8_0"
        page.variant_table.selectRow(0)
        assert page.download_button.isEnabled()
        hub_env.hub.throttle(f"{REPO}/tiny-Q8_0.gguf", 400_000)  # ~1 s: seen running
        with qtbot.waitSignal(page.downloadQueued, timeout=5_000):
            page.download_button.click()
        qtbot.waitUntil(lambda: win.status.download_label.isVisible(), timeout=10_000)
        assert win.status.download_label.text().startswith("Downloading tiny-Q8_0.gguf")
        qtbot.waitUntil(lambda: any(j.state == "done" for j in win.downloads.jobs),
                        timeout=30_000)
        qtbot.waitUntil(lambda: not win.status.download_label.isVisible(), timeout=5_000)
        job = win.downloads.jobs[0]
        assert Path(job.paths[0]).read_bytes() == model.read_bytes()
        win.show_page("downloads")
        assert win.downloads_page.table.item(0, 2).text() == "done"
        # the Library lists it (the Hugging Face cache is one of its sources)
        with qtbot.waitSignal(win.library.scanned, timeout=10_000):
            win.show_page("library")
        assert any(m.path == job.paths[0] for m in win.library.models)
    finally:
        win.close()


def test_downloads_page_pauses_and_resumes(qtbot, hub_env, tmp_path: Path) -> None:
    from workbench.hub import repo_listing
    from workbench.ui.downloads import DownloadsController, DownloadsPage

    model = synthetic_gguf(tmp_path / "slow-Q8_0.gguf", n_embd=64)
    hub_env.hub.add_repo(REPO, {"slow-Q8_0.gguf": model})
    variant = repo_listing(REPO).variants[0]
    controller = DownloadsController()
    page = DownloadsPage(controller)
    qtbot.addWidget(page)
    page.show()
    try:
        hub_env.hub.throttle(f"{REPO}/slow-Q8_0.gguf", 100_000, times=1)
        controller.add(REPO, variant)
        # pause once bytes are flowing (a pause before the first byte proves nothing)
        qtbot.waitUntil(lambda: page.jobs and page.jobs[0].state == "running"
                        and page.jobs[0].bytes_done > 0, timeout=10_000)
        page.table.selectRow(0)
        assert page.pause_button.isEnabled() and not page.resume_button.isEnabled()
        page.pause_button.click()
        qtbot.waitUntil(lambda: page.jobs[0].state == "paused", timeout=10_000)
        assert 0 < page.jobs[0].bytes_done < len(model.read_bytes())
        page.table.selectRow(0)
        assert page.resume_button.isEnabled()
        page.resume_button.click()
        qtbot.waitUntil(lambda: page.jobs[0].state == "done", timeout=20_000)
        assert Path(page.jobs[0].paths[0]).read_bytes() == model.read_bytes()
        assert page.table.item(0, 2).text() == "done"
    finally:
        controller.shutdown()
