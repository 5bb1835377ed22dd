"""The real llama.cpp build probe on this machine (a CPU-only llama-cpp-python), in a child."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.nvml import make_fake_pynvml, rtx_4090
from workbench.hardware import detect, diagnose, llama_probe, probe_llama

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                 reason="llama-cpp-python is not installed"),
              pytest.mark.usefixtures("home")]  # a fresh WORKBENCH_HOME (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def test_probe_prints_one_json_object() -> None:
    done = subprocess.run([sys.executable, "-m", "workbench.engine.worker.probe"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    [line] = done.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["llama_cpp_importable"] is True
    assert result["llama_cpp_version"] == "0.3.36"
    assert result["gpu_offload"] is False
    assert result["ggml_version"]
    assert "CPU" in result["features"] and result["features"]["CPU"]
    cpu = [d for d in result["devices"] if d["type"] == "cpu"]
    assert len(cpu) == 1 and cpu[0]["name"] == "CPU" and cpu[0]["backend"] == "CPU"
    assert cpu[0]["memory_total_bytes"] > 0
    assert not [d for d in result["devices"] if d["type"] in ("gpu", "igpu")]


def test_probe_without_memory_queries() -> None:
    done = subprocess.run([sys.executable, "-m", "workbench.engine.worker.probe", "--no-memory"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout)
    assert result["devices"] and result["devices"][0]["memory_total_bytes"] is None
    assert any("--no-memory" in note for note in result["notes"])


def test_probe_is_cached_and_refreshable(home: Path) -> None:
    first = probe_llama()
    assert first.probe_ok and first.cached is False
    assert first.gpu_offload is False and first.version == "0.3.36"
    assert list((home / "cache").glob("llama-probe-*.json"))
    second = probe_llama()
    assert second.cached is True and second.to_dict() | {"cached": False} == first.to_dict()
    assert probe_llama(refresh=True).cached is False


def test_a_rebuilt_library_invalidates_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    assert probe_llama().probe_ok
    assert probe_llama().cached is True
    real = llama_probe._library_fingerprint
    monkeypatch.setattr(llama_probe, "_library_fingerprint",
                        lambda: [*real(), ["libggml-cuda.so", 1, 1]])
    assert probe_llama().cached is False


def test_detect_starts_no_probe_process_once_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """What made a cached detect() fast: the probe's answer is read back from the cache, no
    Python process is started to import llama.cpp again (its speed: `workbench hw` itself)."""
    detect()  # fills the cache
    probes: list[object] = []
    started: list[list[str]] = []
    real_probe, real_run, real_popen = llama_probe.run_probe, subprocess.run, subprocess.Popen

    def run_probe(*args, **kwargs):  # type: ignore[no-untyped-def]
        probes.append(args)
        return real_probe(*args, **kwargs)

    def run(command, *args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(list(command))
        return real_run(command, *args, **kwargs)

    def popen(command, *args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(list(command))
        return real_popen(command, *args, **kwargs)

    monkeypatch.setattr(llama_probe, "run_probe", run_probe)
    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", popen)
    report = detect()
    assert report.llama.cached is True and report.llama.probe_ok
    assert probes == []
    assert not [c for c in started if c and c[0] == sys.executable], started


def test_cpu_only_build_and_a_fake_nvidia_gpu_get_the_cuda_command() -> None:
    report = detect(nvml_module=make_fake_pynvml([rtx_4090()]))
    [gpu] = report.gpus
    expected = ('CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir '
                "llama-cpp-python==0.3.36")
    assert gpu.llama_usable is False and gpu.reinstall_command == expected
    [finding] = [f for f in diagnose(report) if f.code == "gpu_unused_by_build"]
    assert finding.severity == "warning" and finding.fix == expected


def test_doctor_cli_with_a_fake_nvidia_gpu(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from workbench import cli

    monkeypatch.setitem(sys.modules, "pynvml", make_fake_pynvml([rtx_4090()]))
    assert cli.main(["doctor", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    fixes = [f["fix"] for f in doc["findings"] if f["code"] == "gpu_unused_by_build"]
    assert fixes == ['CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir '
                     "llama-cpp-python==0.3.36"]
    assert doc["counts"]["warning"] >= 1
