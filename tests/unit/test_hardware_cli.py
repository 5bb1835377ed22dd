"""``workbench hw``: the JSON document's keys and numbers with a fake NVML in sys.modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.fakes.nvml import LIBRARY_NOT_FOUND, h100_sxm, make_fake_pynvml, rtx_4090
from workbench import cli


@pytest.fixture(autouse=True)
def _wide_terminal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh WORKBENCH_HOME (tests/conftest.py) and a terminal wide enough for the tables."""
    monkeypatch.setenv("COLUMNS", "200")


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert cli.main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_hw_json_keys_and_numbers(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", make_fake_pynvml([rtx_4090(), h100_sxm()]))
    doc = run_json(capsys, "hw", "--json", "--no-probe")
    assert {"cpu", "ram", "gpus", "llama", "nvml", "os"} <= set(doc)
    assert {"model", "physical_cores", "logical_cores", "flags"} <= set(doc["cpu"])
    assert {"total_bytes", "available_bytes"} <= set(doc["ram"])
    assert doc["nvml"]["available"] is True and doc["nvml"]["reason"] is None
    assert {"version", "gpu_offload", "devices"} <= set(doc["llama"])
    assert doc["llama"]["gpu_offload"] is None  # not probed
    gpu_keys = {"vendor", "name", "index", "vram_total_bytes", "vram_free_bytes",
                "vram_used_bytes", "memory_bandwidth_gbps", "unified_memory",
                "compute_capability", "driver_version"}
    rtx, h100 = doc["gpus"]
    assert gpu_keys <= set(rtx)
    assert (rtx["vendor"], rtx["index"], rtx["name"]) == ("nvidia", 0, "NVIDIA GeForce RTX 4090")
    assert rtx["memory_bandwidth_gbps"] == pytest.approx(1008.1, abs=0.05)
    assert rtx["vram_total_bytes"] == 24564 * 1024**2
    assert rtx["compute_capability"] == "8.9" and rtx["unified_memory"] is False
    assert rtx["driver_version"] == "550.54.15"
    assert h100["memory_bandwidth_gbps"] == pytest.approx(3352.3, abs=0.05)


def test_hw_json_without_nvml(monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml",
                        make_fake_pynvml([rtx_4090()], init_error=LIBRARY_NOT_FOUND))
    doc = run_json(capsys, "hw", "--json", "--no-probe")
    assert doc["nvml"]["available"] is False
    assert "not found" in doc["nvml"]["reason"]
    assert [g for g in doc["gpus"] if g["vendor"] == "nvidia"] == []


def test_hw_human_output(monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", make_fake_pynvml([
        rtx_4090(), rtx_4090(name="Odd [bold]name[/bold] GPU")]))
    assert cli.main(["hw", "--no-probe"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA GeForce RTX 4090" in out
    assert "Odd [bold]name[/bold] GPU" in out  # names are not rich markup
    assert "1,008.1 GB/s" in out  # thousands separators (workbench.present.numbers)
    assert "llama.cpp probe skipped" in out
