"""The weight-repacking probe: a throwaway worker decides, the verdict is remembered."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine import repack_probe
from workbench.engine.client import LocalEngine
from workbench.engine.settings import LoadSettings


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


def test_a_crashing_probe_switches_repacking_off_and_is_remembered(
        isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_WORKER_FAULT", "abort-on-repack")
    verdict = repack_probe.repack_verdict("Q4_K_M")
    assert verdict.safe is False
    assert "SIGABRT" in verdict.reason and verdict.quant == "Q4_K"
    # remembered: without the fault, the stored verdict still answers (no new probe)
    monkeypatch.delenv("WORKBENCH_WORKER_FAULT")
    assert repack_probe.repack_verdict("Q4_K_M") == verdict
    # a refresh probes again, and this time it survives
    assert repack_probe.repack_verdict("Q4_K_M", refresh=True).safe is True


def test_every_load_uses_the_verdict(isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
                                     tiny_model_path) -> None:
    model = tiny_model_path(arch="llama", quant="Q4_K_M")
    monkeypatch.setenv("WORKBENCH_WORKER_FAULT", "abort-on-repack")
    with LocalEngine() as engine:
        info = engine.load(LoadSettings(str(model), n_ctx=512))  # repack left to Workbench
        assert info["repack"] is False
        assert any("weight repacking off for Q4_K" in note for note in info["notes"])
        assert engine.settings is not None and engine.settings.repack is False


def test_types_that_are_never_repacked_need_no_probe(isolated_home: Path) -> None:
    verdict = repack_probe.repack_verdict("F16")
    assert verdict.safe and "not repacked" in verdict.reason
    assert not (isolated_home / "data" / "repack-probe.json").exists()


def test_quant_families() -> None:
    assert repack_probe.family("Q4_K_M") == "Q4_K"
    assert repack_probe.family("q5_k_s") == "Q5_K"
    assert repack_probe.family("Q8_0") == "Q8_0"
    assert repack_probe.family("IQ4_XS") == "IQ4_XS"
