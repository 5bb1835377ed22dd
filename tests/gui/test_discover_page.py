"""The Discover page on the loopback Hub with a real tiny model: the GPU-layers column and the
selected file's memory bars follow the real plan, the recommendations (injected and real) list
and open their repository with the quant selected, and offline mode keeps the recommendations
but disables Download with its reason."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from tests.fakes.nvml import MIB, make_fake_pynvml, rtx_4090
from workbench.errors import RuntimeFailure
from workbench.hardware import detect
from workbench.hub import plan_variants, repo_listing
from workbench.net.offline import offline_guard
from workbench.planner.catalog import Catalog, QuantFile, load_catalog
from workbench.planner.memory import MemoryPlan
from workbench.planner.offload import DEFAULT_MARGIN
from workbench.planner.recommend import machine_budget, recommend
from workbench.planner.speed import Predictor
from workbench.present.numbers import format_bytes
from workbench.ui.discover_page import OFFLINE_REASON, DiscoverPage
from workbench.ui.downloads import DownloadsController

REPO = "workbench-synthetic/llama-tiny-GGUF"
Q8 = "llama-tiny-Q8_0.gguf"
Q4 = "llama-tiny-Q4_K_M.gguf"
PREDICTOR = Predictor(bandwidth_gbps=20.0)  # measuring it takes seconds per fresh home


def _report(tmp_path: Path, gpus: list) -> object:
    """The real detector, with NVML faked at its boundary (``gpus``: FakeGpu list)."""
    return detect(probe_llama=False, nvml_module=make_fake_pynvml(gpus), sysfs_root=tmp_path)


def _planner(budget):
    return lambda variants, ctx: plan_variants(variants, ctx=ctx, budget=budget,
                                               predictor=PREDICTOR)


def _recommendations(report, model: Path, predictor: Predictor = PREDICTOR) -> list:
    """The real recommender on a one-entry catalog whose file is on the loopback Hub."""
    catalog = load_catalog()
    entry = min(catalog.entries, key=lambda e: e.n_params)
    entry = dataclasses.replace(entry, repo=REPO,
                                files=(QuantFile("Q8_0", Q8, model.stat().st_size, "computed"),))
    small = Catalog((entry,), catalog.quant_losses, catalog.loss_source)
    return recommend(report, catalog=small, predictor=predictor)


@pytest.fixture
def page_factory(qtbot):
    controllers: list[DownloadsController] = []

    def make(**kwargs) -> DiscoverPage:
        controller = DownloadsController()
        controllers.append(controller)
        page = DiscoverPage(controller, **kwargs)
        qtbot.addWidget(page)
        page.resize(900, 700)
        return page

    yield make
    for controller in controllers:
        controller.shutdown()


def _open_and_plan(qtbot, page: DiscoverPage, **kwargs) -> None:
    with qtbot.waitSignal(page.planned, timeout=20_000):
        page.open_repo(REPO, **kwargs)


def _parts(memory: MemoryPlan, keys: list[tuple[str, str]]) -> list[tuple[str, int]]:
    return [(name, getattr(memory, key)) for name, key in keys if getattr(memory, key) > 0]


def test_gpu_layers_and_detail_bars_follow_the_plan(qtbot, hub_env, tmp_path: Path,
                                                   llama_tiny: Path, page_factory) -> None:
    hub_env.hub.add_repo(REPO, {Q8: llama_tiny}, license="mit")
    gpu = rtx_4090(total_bytes=8192 * MIB, used_bytes=1024 * MIB)
    budget = machine_budget(_report(tmp_path, [gpu]))
    assert budget.backend == "cuda"
    page = page_factory(planner=_planner(budget), recommender=lambda: [])
    page.show()
    _open_and_plan(qtbot, page)
    plan = page.plans[Q8]
    assert plan.fit == "full_gpu" and plan.n_gpu_layers == plan.n_layers > 0
    assert page.variant_table.item(0, 4).text() == f"all {plan.n_layers}/{plan.n_layers}"
    assert page.variant_table.item(0, 3).text().startswith("Fits on the GPU")
    detail = page.detail
    assert detail.hint.isVisible() and not detail.gpu_bar.isVisible()  # nothing selected
    page.variant_table.selectRow(0)
    memory = plan.memory
    assert memory is not None
    gpu_parts = _parts(memory, [("weights", "weights_gpu_bytes"), ("KV cache", "kv_gpu_bytes"),
                                ("compute", "compute_gpu_bytes"),
                                ("GPU runtime (est.)", "overhead_bytes")])
    cpu_parts = _parts(memory, [("weights", "weights_cpu_bytes"), ("KV cache", "kv_cpu_bytes"),
                                ("compute", "compute_cpu_bytes"), ("output", "output_bytes")])
    assert detail.gpu_bar.isVisible() and detail.cpu_bar.isVisible()
    assert detail.gpu_bar.parts == gpu_parts and detail.cpu_bar.parts == cpu_parts
    assert detail.gpu_bar.used == memory.gpu_bytes and detail.cpu_bar.used == memory.cpu_bytes
    assert memory.weights_gpu_bytes > 0 and memory.kv_gpu_bytes > 0
    assert detail.gpu_bar.capacity == 7168 * MIB  # the fake GPU's free memory
    assert detail.cpu_bar.capacity == budget.free_ram_bytes
    assert detail.gpu_text.text().endswith(f"of {format_bytes(7168 * MIB)} free")
    assert detail.badge.text() == "Fits on the GPU" and detail.badge.fit == "full_gpu"
    assert detail.plan_label.text().startswith(f"All {plan.n_layers} layers on the GPU")
    assert detail.licence_label.text() == "Licence: mit"
    assert plan.speed and "tok/s" in detail.speed_label.text()
    assert page.download_button.isEnabled() and not page.download_reason.isVisible()


def test_partial_offload_and_cpu_only_columns(qtbot, hub_env, tmp_path: Path,
                                              llama_tiny: Path, page_factory) -> None:
    hub_env.hub.add_repo(REPO, {Q8: llama_tiny})
    big = machine_budget(_report(tmp_path, [rtx_4090(total_bytes=8192 * MIB,
                                                      used_bytes=1024 * MIB)]))
    full = plan_variants(repo_listing(REPO).variants, budget=big, predictor=PREDICTOR)[Q8]
    assert full.memory is not None
    # free VRAM (less the planner's margin) for the runtime, compute, KV cache and about half
    # of the weights
    need = DEFAULT_MARGIN + full.memory.gpu_bytes - full.memory.weights_gpu_bytes // 2
    tight = dataclasses.replace(big, free_vram_bytes=(need,))
    page = page_factory(planner=_planner(tight), recommender=lambda: [])
    page.show()
    _open_and_plan(qtbot, page)
    plan = page.plans[Q8]
    assert plan.fit == "partial" and 0 < (plan.n_gpu_layers or 0) < (plan.n_layers or 0)
    assert page.variant_table.item(0, 4).text() == f"{plan.n_gpu_layers}/{plan.n_layers}"
    page.variant_table.selectRow(0)
    assert page.detail.badge.text() == "Partial offload"
    assert page.detail.gpu_bar.capacity == need
    assert page.detail.gpu_bar.used == plan.memory.gpu_bytes <= need - DEFAULT_MARGIN
    assert page.detail.cpu_bar.parts[0] == ("weights", plan.memory.weights_cpu_bytes)
    assert page.detail.cpu_bar.used == plan.memory.cpu_bytes
    # a machine without a GPU: every layer on the CPU, no GPU bar
    cpu = machine_budget(_report(tmp_path, []))
    page._planner = _planner(cpu)
    with qtbot.waitSignal(page.planned, timeout=20_000):
        page.context.setValue(2048)
        page.context.editingFinished.emit()
    plan = page.plans[Q8]
    assert plan.fit == "cpu_only" and plan.n_ctx == 2048
    assert page.variant_table.item(0, 4).text() == "CPU only"
    assert page.selected_variant() is not None  # the selection survives the new plan
    assert not page.detail.gpu_bar.isVisible() and page.detail.cpu_bar.isVisible()
    assert page.detail.cpu_bar.used == plan.memory.cpu_bytes == plan.memory.total_bytes
    assert page.detail.badge.text() == "CPU only"


def test_recommendations_list_open_their_repo_and_come_back(
        qtbot, hub_env, tmp_path: Path, llama_tiny: Path, page_factory) -> None:
    hub_env.hub.add_repo(REPO, {Q4: llama_tiny, Q8: llama_tiny})
    real = _recommendations(_report(tmp_path, []), llama_tiny)[0]
    other = dataclasses.replace(
        real, entry=dataclasses.replace(real.entry, name="Other model", licence="mit",
                                        repo="someone/other-GGUF"),
        fit="partial", n_gpu_layers=5, n_layers=9, quality=None, expected_quality=None)
    release = threading.Event()

    def recommender():
        release.wait(10)
        return [real, other]

    page = page_factory(planner=_planner(machine_budget(_report(tmp_path, []))),
                        recommender=recommender)
    page.show()  # the first show starts the recommender
    qtbot.waitUntil(lambda: page.busy, timeout=2_000)
    assert page.upper.currentWidget() is page.recommend_panel
    assert page.recommend_state.text().startswith("Planning every catalog model")
    with qtbot.waitSignal(page.recommended, timeout=5_000):
        release.set()
    table = page.recommend_table
    assert table.rowCount() == 2
    row = [table.item(0, c).text() for c in range(table.columnCount())]
    tg = real.speed.tg_tokens_per_s
    assert row[:4] == [real.entry.name, "Q8_0", format_bytes(llama_tiny.stat().st_size),
                       "CPU only"]
    # no calibration in a fresh home: the bandwidth's upper bound, said to be one
    assert row[4] == f"≤ {tg:.1f} tok/s (upper bound)" and row[5] == real.entry.licence
    assert real.quality is not None and real.expected_quality is not None
    assert row[6] == (f"{real.quality.metric} {real.expected_quality:g} expected at Q8_0 "
                      f"({real.quality.score:g} unquantized)")
    assert [table.item(1, c).text() for c in (0, 3, 5, 6)] == [
        "Other model", "Partial offload (5 of 9 layers)", "mit", "no published score"]
    # choosing the first opens its repository with its quant selected (not the first row)
    with qtbot.waitSignal(page.listed, timeout=10_000):
        table.selectRow(0)
    assert [v.name for v in page.variants] == [Q4, Q8]
    selected = page.selected_variant()
    assert selected is not None and selected.name == Q8 and selected.quant == "Q8_0"
    qtbot.waitUntil(lambda: Q8 in page.plans, timeout=20_000)
    assert page.selected_variant() == selected
    assert page.detail.badge.text() == "CPU only" and page.download_button.isEnabled()
    # a search replaces the list; clearing the search brings the recommendations back
    page.query.setText("tiny")
    with qtbot.waitSignal(page.searched, timeout=10_000):
        page.search_button.click()
    assert page.upper.currentWidget() is page.repos
    assert page.repos.item(0, 0).text() == REPO
    page.query.clear()
    assert page.upper.currentWidget() is page.recommend_panel
    assert page.recommend_table.rowCount() == 2


def test_real_recommender_on_a_one_entry_catalog(qtbot, hub_env, tmp_path: Path,
                                                 llama_tiny: Path, page_factory) -> None:
    hub_env.hub.add_repo(REPO, {Q8: llama_tiny})
    report = _report(tmp_path, [])
    page = page_factory(planner=_planner(machine_budget(report)),
                        recommender=lambda: _recommendations(report, llama_tiny))
    with qtbot.waitSignal(page.recommended, timeout=15_000) as blocker:
        page.show()
    recs = blocker.args[0]
    assert len(recs) == 1 and recs[0].file.name == Q8
    table = page.recommend_table
    assert table.rowCount() == 1
    assert table.item(0, 1).text() == "Q8_0"
    assert table.item(0, 3).text() == "CPU only"  # no GPU here: said in words
    assert table.item(0, 5).text() == recs[0].entry.licence
    assert "tok/s" in table.item(0, 4).text()
    assert page.recommend_state.text().startswith("From the curated catalog")


def test_offline_keeps_recommendations_and_disables_download(
        qtbot, hub_env, tmp_path: Path, llama_tiny: Path, page_factory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub_env.hub.add_repo(REPO, {Q8: llama_tiny})
    report = _report(tmp_path, [])
    page = page_factory(planner=_planner(machine_budget(report)),
                        recommender=lambda: _recommendations(report, llama_tiny))
    with qtbot.waitSignal(page.recommended, timeout=15_000):
        page.show()
    _open_and_plan(qtbot, page)
    page.variant_table.selectRow(0)
    assert page.download_button.isEnabled()
    page.set_offline(True)  # the Settings page's switch
    assert not page.download_button.isEnabled()
    assert page.download_reason.isVisible() and page.download_reason.text() == OFFLINE_REASON
    page.set_offline(False)
    assert page.download_button.isEnabled() and not page.download_reason.isVisible()

    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    hub_env.hub.requests.clear()
    with offline_guard():
        offline = page_factory(recommender=lambda: _recommendations(report, llama_tiny))
        with qtbot.waitSignal(offline.recommended, timeout=15_000):
            offline.show()
        assert offline.recommend_table.rowCount() == 1  # from the local catalog
        assert not offline.download_button.isEnabled()
        assert offline.download_reason.isVisible()
        assert offline.download_reason.text().startswith("Offline mode is on")
        offline.recommend_table.selectRow(0)  # its repository cannot be listed now
        qtbot.waitUntil(lambda: not offline.busy, timeout=5_000)
        assert "offline" in offline.state_label.text().lower()
        assert not offline.download_button.isEnabled()
    assert hub_env.hub.requests == []  # no connection was attempted


def test_predict_speeds_times_this_cpu_and_turns_bounds_into_predictions(
        qtbot, hub_env, tmp_path: Path, llama_tiny: Path, page_factory) -> None:
    report = _report(tmp_path, [])
    profiling = Predictor(bandwidth_gbps=20.0, profile_missing=True)  # the real kernel profile
    page = page_factory(recommender=lambda: _recommendations(report, llama_tiny),
                        profiler=lambda: _recommendations(report, llama_tiny, profiling))
    with qtbot.waitSignal(page.recommended, timeout=15_000):
        page.show()
    assert page.recommend_table.item(0, 4).text().startswith("≤ ")  # an upper bound
    assert page.profile_button.isVisible()
    page.profile_button.click()
    assert page.busy and not page.profile_button.isVisible()
    assert page.recommend_state.text().startswith("Timing this CPU's matrix kernels")
    with qtbot.waitSignal(page.recommended, timeout=120_000) as blocker:
        pass
    rec = blocker.args[0][0]
    assert (rec.speed.method, rec.speed.kind) == ("profiled", "predicted")
    assert page.recommend_table.item(0, 4).text() == \
        f"≈ {rec.speed.tg_tokens_per_s:.1f} tok/s"
    assert not page.profile_button.isVisible()  # nothing left to predict
    # the profile is kept: the plain recommender now predicts too
    assert _recommendations(report, llama_tiny, Predictor(bandwidth_gbps=20.0))[
        0].speed.method == "profiled"


def test_a_failed_profile_keeps_the_list_and_says_why(qtbot, hub_env, tmp_path: Path,
                                                      llama_tiny: Path, page_factory) -> None:
    report = _report(tmp_path, [])

    def broken() -> list:
        raise RuntimeFailure("the kernel profile was killed by SIGSEGV")

    page = page_factory(recommender=lambda: _recommendations(report, llama_tiny),
                        profiler=broken)
    with qtbot.waitSignal(page.recommended, timeout=15_000):
        page.show()
    page.profile_button.click()
    qtbot.waitUntil(lambda: not page.busy, timeout=5_000)
    assert page.recommend_table.rowCount() == 1 and page.recommendations
    assert page.recommend_state.text().endswith(
        "Speeds not predicted: the kernel profile was killed by SIGSEGV")
    assert page.profile_button.isVisible()  # it can be tried again
