"""Recommendations on fake machines: the fit labels and the order a person expects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workbench import cli
from workbench.errors import BadInput
from workbench.hardware.apple import estimate_metal_working_set
from workbench.hardware.model import (
    CpuInfo,
    GpuInfo,
    HardwareReport,
    LlamaBuild,
    NvmlStatus,
    OsInfo,
    RamInfo,
)
from workbench.planner import catalog as cat
from workbench.planner.recommend import (
    Recommendation,
    hardware_from_dict,
    machine_budget,
    recommend,
)
from workbench.planner.speed import Predictor

GiB = 1 << 30
MODELS = Path(cat.__file__).resolve().parents[2] / "models"


@pytest.fixture(autouse=True)
def _wide_terminal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh WORKBENCH_HOME (tests/conftest.py) and a terminal wide enough for the tables."""
    monkeypatch.setenv("COLUMNS", "250")


def machine(ram_gib: int, gpus: tuple[GpuInfo, ...] = ()) -> HardwareReport:
    return HardwareReport(
        os=OsInfo("Linux", "6.8", "test", "x86_64", "3.11", "python3"),
        cpu=CpuInfo("Test CPU", "x86_64", 8, 16, {"avx2": True}, "test"),
        ram=RamInfo(total_bytes=ram_gib * GiB, available_bytes=(ram_gib - 2) * GiB),
        gpus=list(gpus), nvml=NvmlStatus(available=bool(gpus)),
        llama=LlamaBuild(installed=True))


def nvidia(name: str, vram_gib: int, bandwidth: float) -> GpuInfo:
    return GpuInfo(vendor="nvidia", name=name, index=0, source="nvml",
                   vram_total_bytes=vram_gib * GiB, vram_free_bytes=vram_gib * GiB - (300 << 20),
                   memory_bandwidth_gbps=bandwidth)


def apple(ram_gib: int) -> GpuInfo:
    working_set = estimate_metal_working_set(ram_gib * GiB)
    return GpuInfo(vendor="apple", name="Apple M2", index=0, source="sysctl",
                   vram_total_bytes=working_set, vram_free_bytes=working_set,
                   memory_bandwidth_gbps=100.0, unified_memory=True,
                   estimated=["vram_total_bytes"])


NO_GPU = machine(24)
GPU_8GB = machine(32, (nvidia("GeForce RTX 4060", 8, 272.0),))
GPU_24GB = machine(64, (nvidia("GeForce RTX 4090", 24, 1008.0),))
APPLE_16GB = machine(16, (apple(16),))


def subset(*ids: str) -> cat.Catalog:
    full = cat.load_catalog(MODELS)
    return cat.Catalog(tuple(full.get(i) for i in ids), full.quant_losses, full.loss_source)


def run(report: HardwareReport, *ids: str, **kwargs: object) -> list[Recommendation]:
    predictor = Predictor(bandwidth_gbps=20.0, use_stored_runs=False)
    kwargs.setdefault("per_entry", False)
    kwargs.setdefault("include_too_large", True)
    return recommend(report, catalog=subset(*ids), predictor=predictor, **kwargs)  # type: ignore


def by_file(recs: list[Recommendation]) -> dict[tuple[str, str], Recommendation]:
    return {(r.entry.id, r.file.quant): r for r in recs}


def test_cpu_only_24gb_runs_an_8b_and_not_a_70b() -> None:
    recs = by_file(run(NO_GPU, "llama-3.1-8b-instruct", "llama-3.3-70b-instruct"))
    eight = recs[("llama-3.1-8b-instruct", "Q4_K_M")]
    assert eight.fit == "cpu_only" and eight.n_gpu_layers == 0
    assert eight.memory.weights_bytes > 4.5e9 and eight.memory.kv_cache_bytes > 0
    assert eight.speed.tg_tokens_per_s and eight.speed.device == "cpu"
    assert eight.entry.licence == "llama3.1"
    assert all(r.fit == "too_large" for (eid, _), r in recs.items()
               if eid == "llama-3.3-70b-instruct")
    listed = run(NO_GPU, "llama-3.1-8b-instruct", "llama-3.3-70b-instruct",
                 per_entry=True, include_too_large=False, min_tokens_per_s=0.0)
    assert [r.entry.id for r in listed] == ["llama-3.1-8b-instruct"]  # 70B left out


def test_8gb_gpu_holds_an_8b_q4_and_offloads_part_of_a_14b() -> None:
    recs = by_file(run(GPU_8GB, "llama-3.1-8b-instruct", "qwen2.5-14b-instruct",
                       "llama-3.3-70b-instruct"))
    assert recs[("llama-3.1-8b-instruct", "Q4_K_M")].fit == "full_gpu"
    assert recs[("llama-3.1-8b-instruct", "Q8_0")].fit == "partial"
    fourteen = recs[("qwen2.5-14b-instruct", "Q4_K_M")]
    assert fourteen.fit == "partial" and 0 < fourteen.n_gpu_layers < fourteen.n_layers
    assert fourteen.speed.device == "partial"
    assert recs[("llama-3.1-8b-instruct", "Q4_K_M")].speed.tg_tokens_per_s > \
        fourteen.speed.tg_tokens_per_s  # type: ignore[operator]
    assert all(r.fit != "full_gpu" for (eid, _), r in recs.items() if "70b" in eid)


def test_24gb_gpu_never_holds_a_70b_and_ranks_full_gpu_first() -> None:
    ids = ("qwen2.5-32b-instruct", "llama-3.3-70b-instruct", "llama-3.1-8b-instruct",
           "qwen2.5-0.5b-instruct")
    recs = run(GPU_24GB, *ids)
    seventy = [r for r in recs if r.entry.id == "llama-3.3-70b-instruct"]
    assert seventy and all(r.fit in ("partial", "too_large") for r in seventy)
    assert by_file(recs)[("qwen2.5-32b-instruct", "Q4_K_M")].fit == "full_gpu"
    best = run(GPU_24GB, *ids, per_entry=True, include_too_large=False)
    assert best[0].entry.id == "qwen2.5-32b-instruct" and best[0].fit == "full_gpu"
    assert best[0].speed.method == "bandwidth" and best[0].speed.device == "gpu"
    usable = [r for r in best if r.usable]
    order = [{"full_gpu": 0, "partial": 1, "cpu_only": 2}[r.fit] for r in usable]
    assert order == sorted(order)
    assert best[-1].entry.id == "llama-3.3-70b-instruct" and not best[-1].usable  # too slow


def test_apple_16gb_unified_memory() -> None:
    recs = by_file(run(APPLE_16GB, "llama-3.1-8b-instruct", "qwen2.5-14b-instruct"))
    eight = recs[("llama-3.1-8b-instruct", "Q4_K_M")]
    assert eight.fit == "full_gpu" and eight.speed.device == "gpu"
    assert recs[("qwen2.5-14b-instruct", "Q8_0")].fit != "full_gpu"
    assert machine_budget(APPLE_16GB).backend == "metal"


def test_quality_prefers_less_lossy_quants_of_the_same_model() -> None:
    recs = by_file(run(GPU_24GB, "qwen2.5-14b-instruct"))
    q = {quant: recs[("qwen2.5-14b-instruct", quant)].expected_quality
         for quant in ("Q8_0", "Q4_K_M", "Q3_K_M")}
    assert q["Q8_0"] > q["Q4_K_M"] > q["Q3_K_M"]  # type: ignore[operator]
    assert q["Q8_0"] == pytest.approx(63.7, abs=0.05)
    unscored = run(GPU_24GB, "qwen2.5-coder-7b-instruct")
    assert all(r.expected_quality is None for r in unscored)


def test_speed_floor_moves_slow_models_down() -> None:
    ids = ("llama-3.1-8b-instruct", "qwen2.5-0.5b-instruct")
    recs = run(NO_GPU, *ids, per_entry=True, min_tokens_per_s=5.0)
    assert recs[0].entry.id == "qwen2.5-0.5b-instruct" and recs[0].usable
    assert recs[1].entry.id == "llama-3.1-8b-instruct" and not recs[1].usable
    assert any("floor" in n for n in recs[1].notes)
    no_floor = run(NO_GPU, *ids, per_entry=True, min_tokens_per_s=0.0)
    assert no_floor[0].entry.id == "llama-3.1-8b-instruct"  # better quality once usable


def test_task_filter_and_bad_options() -> None:
    recs = run(GPU_24GB, "qwen2.5-coder-7b-instruct", "llama-3.2-1b-instruct",
               "deepseek-r1-distill-qwen-7b", task="code")
    assert {r.entry.id for r in recs} == {"qwen2.5-coder-7b-instruct",
                                          "deepseek-r1-distill-qwen-7b"}
    with pytest.raises(BadInput):
        run(GPU_24GB, "llama-3.2-1b-instruct", ctx=10)
    with pytest.raises(BadInput):
        run(GPU_24GB, "llama-3.2-1b-instruct", task="poetry")


def test_hardware_round_trips_through_json() -> None:
    again = hardware_from_dict(json.loads(json.dumps(GPU_24GB.to_dict())))
    assert again.gpus[0].vram_total_bytes == 24 * GiB and again.ram.total_bytes == 64 * GiB
    assert machine_budget(again).backend == "cuda"
    with pytest.raises(BadInput, match="incomplete"):
        hardware_from_dict({"gpus": []})


def test_cli_json_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    small = tmp_path / "catalog"
    small.mkdir()
    shutil.copy(MODELS / cat.QUANT_LOSS_FILE, small)
    llama = json.loads((MODELS / "llama.json").read_text())
    llama["entries"] = [e for e in llama["entries"] if e["id"] in (
        "llama-3.2-1b-instruct", "llama-3.1-8b-instruct", "llama-3.3-70b-instruct")]
    (small / "llama.json").write_text(json.dumps(llama))
    monkeypatch.setenv(cat.CATALOG_ENV, str(small))
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps(GPU_8GB.to_dict()))
    assert cli.main(["recommend", "--json", "--hardware", str(hw), "--limit", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert isinstance(doc, list) and len(doc) == 2
    keys = {"id", "name", "repo", "file", "quant", "size_bytes", "fit", "n_gpu_layers",
            "n_layers", "n_ctx", "memory", "speed", "quality", "expected_quality", "usable",
            "licence", "tasks", "reason"}
    assert keys <= set(doc[0])
    assert {"weights_bytes", "kv_cache_bytes", "compute_bytes", "gpu_bytes", "cpu_bytes"} <= \
        set(doc[0]["memory"])
    assert {"tg_tokens_per_s", "pp_tokens_per_s", "method", "device", "basis"} <= \
        set(doc[0]["speed"])
    assert doc[0]["id"] == "llama-3.1-8b-instruct" and doc[0]["fit"] == "full_gpu"
    assert cli.main(["recommend", "--hardware", str(hw), "--task", "chat"]) == 0
    table = capsys.readouterr().out
    assert "Llama 3.1 8B Instruct" in table and "full GPU" in table
    assert cli.main(["recommend", "--json", "--hardware", str(tmp_path / "nope.json")]) == 2
