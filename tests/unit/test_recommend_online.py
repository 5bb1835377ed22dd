"""``recommend(online=True)``: real headers read with range requests from the loopback Hub
(tests/fakes/hub_server.py: the ``fake_hub`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.hub_server import FakeHub
from workbench.hardware.model import (
    CpuInfo,
    HardwareReport,
    LlamaBuild,
    NvmlStatus,
    OsInfo,
    RamInfo,
)
from workbench.planner import catalog as cat
from workbench.planner.recommend import recommend
from workbench.planner.speed import Predictor
from workbench.synth import synthesize

MODELS = Path(cat.__file__).resolve().parents[2] / "models"
REPO = "test-org/Qwen2-Tiny-GGUF"


def tiny_catalog(tmp_path: Path, file_name: str) -> cat.Catalog:
    arch = {"arch": "qwen2", "n_layer": 2, "n_embd": 256, "n_head": 4, "n_head_kv": 2,
            "head_dim": 64, "n_ff": 512, "n_vocab": 1024, "tied_embeddings": True,
            "sliding_window": 0, "n_expert": 0, "n_expert_used": 0, "n_ff_expert": 0}
    a = cat.Architecture(**arch)  # type: ignore[arg-type]
    size = cat.computed_file_size(a, "F16")
    entry = {"id": "qwen2-tiny", "name": "Qwen2 tiny", "repo": REPO, "base_model": "test/none",
             "released": "2025-01-01", "licence": "apache-2.0", "tasks": ["chat"],
             "architecture": arch, "context_length": 4096,
             "n_params": cat.count_parameters(a), "arch_source": "the synth preset qwen2-tiny",
             "quality": None, "notes": "test entry",
             "files": [{"quant": "F16", "name": file_name, "size_bytes": size,
                        "size_source": "computed"}]}
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "tiny.json").write_text(json.dumps({"family": "tiny", "entries": [entry]}))
    (folder / cat.QUANT_LOSS_FILE).write_text((MODELS / cat.QUANT_LOSS_FILE).read_text())
    return cat.load_catalog(folder)


def report() -> HardwareReport:
    return HardwareReport(
        os=OsInfo("Linux", "6", "t", "x86_64", "3.11", "python3"),
        cpu=CpuInfo("Test CPU", "x86_64", 4, 8, {}, None),
        ram=RamInfo(total_bytes=16 << 30, available_bytes=12 << 30), gpus=[],
        nvml=NvmlStatus(available=False), llama=LlamaBuild(installed=True))


def test_online_reads_the_real_header_by_range_requests(tmp_path: Path,
                                                        fake_hub: FakeHub) -> None:
    real = synthesize(tmp_path / "qwen2-tiny-f16.gguf", "qwen2", quant="F16").path
    fake_hub.add_repo(REPO, {"qwen2-tiny-f16.gguf": real})
    catalog = tiny_catalog(tmp_path, "qwen2-tiny-f16.gguf")
    predictor = Predictor(bandwidth_gbps=20.0, use_stored_runs=False)
    offline = recommend(report(), catalog=catalog, predictor=predictor)
    assert offline[0].header_source == "catalog" and offline[0].file.computed
    online = recommend(report(), catalog=catalog, predictor=predictor, online=True,
                       endpoint=fake_hub.endpoint)
    rec = online[0]
    assert rec.header_source == f"{fake_hub.endpoint}/{REPO}/resolve/main/qwen2-tiny-f16.gguf"
    assert rec.file.size_bytes == real.stat().st_size and not rec.file.computed
    assert rec.fit == "cpu_only"
    gets = fake_hub.content_requests(f"{REPO}/qwen2-tiny-f16.gguf")
    assert gets and all(r.range is not None for r in gets)  # ranged reads, never the whole file


def test_online_honours_hf_endpoint_and_survives_a_missing_file(
        tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub.add_repo(REPO, {"README.md": b"# no GGUF here\n"})
    catalog = tiny_catalog(tmp_path, "not-there.gguf")
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    recs = recommend(report(), catalog=catalog, online=True,
                     predictor=Predictor(bandwidth_gbps=20.0, use_stored_runs=False))
    assert recs[0].header_source == "catalog"
    assert any("online header not read" in n for n in recs[0].notes)
    assert any(r.path.endswith("/not-there.gguf") for r in fake_hub.requests)
