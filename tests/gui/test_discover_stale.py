"""The Discover page drops a stale answer: a slow search that ends after a newer one never
replaces the newer results (the page's TaskRunner, ui/background.py)."""

from __future__ import annotations

import threading

import workbench.ui.discover_page as discover
from workbench.hub import RepoSummary
from workbench.ui.discover_page import DiscoverPage
from workbench.ui.downloads import DownloadsController


def _summary(repo_id: str) -> RepoSummary:
    fields = {name: None for name in RepoSummary.__dataclass_fields__}
    return RepoSummary(**{**fields, "repo_id": repo_id})


def test_a_slow_search_that_ends_last_is_dropped(qtbot, monkeypatch) -> None:
    release = threading.Event()

    def search_models(query: str, limit: int = 30) -> list[RepoSummary]:
        if query == "slow":
            release.wait(10)
        return [_summary(f"owner/{query}")]

    monkeypatch.setattr(discover, "search_models", search_models)
    controller = DownloadsController()
    page = DiscoverPage(controller, recommender=lambda: [])
    qtbot.addWidget(page)
    searched: list[list[str]] = []
    page.searched.connect(lambda results: searched.append([r.repo_id for r in results]))
    try:
        page.query.setText("slow")
        page.search()
        page.query.setText("fast")
        with qtbot.waitSignal(page.searched, timeout=10_000):
            page.search()
        release.set()
        qtbot.waitUntil(lambda: not page.busy, timeout=10_000)
        qtbot.wait(50)
        assert searched == [["owner/fast"]]
        assert [r.repo_id for r in page.results] == ["owner/fast"]
    finally:
        release.set()
        controller.shutdown()
