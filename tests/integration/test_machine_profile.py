"""The machine profile on real llama.cpp kernels, and the preview it gives a real model.

The profile's child process times ggml's own kernels (engine/worker/kernel_profile.py); here:
its figures are plausible rates, they are kept and reused, only what is missing is measured
again, a broken child is a clear error, and ``workbench estimate --profile`` on the real
SmolLM2 model is a prediction in the neighbourhood of what ``workbench bench`` measures (how
close it comes is the accuracy benchmark's: tests/benchmarks/bench_profile_accuracy.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.planner import machine_profile

THREADS = 2


@pytest.fixture(scope="module")
def profile_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One WORKBENCH_HOME for the module: the profile is measured once and reused."""
    home = tmp_path_factory.mktemp("profile-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("WORKBENCH_HOME", str(home))
    yield home
    patch.undo()


@pytest.fixture(scope="module")
def measured(profile_home: Path) -> machine_profile.KernelProfile:
    return machine_profile.measure_profile(THREADS, {"F16", "Q8_0"})


def test_the_kernels_are_timed_as_plausible_rates(measured) -> None:
    assert measured.threads == THREADS
    for key in ("F16", "Q8_0"):
        rates = measured.rates(key, False)
        assert rates is not None
        # between 1 TB/s and 100 MB/s of weights; the same bounds for a batch's MACs
        assert 1e-12 < rates.gemv_s_per_byte < 1e-8
        assert 1e-14 < rates.gemm_s_per_weight < 1e-8
        assert rates.gemv_s_per_row >= 0 and rates.gemm_s_per_input >= 0
    # a Q8_0 weight is about 1.06 bytes, an F16 one 2: a batch costs a weight, not a byte
    assert 0 < measured.node_s < 1e-3
    assert 0 < measured.elementwise_s_per_byte < 1e-8
    assert 0 < measured.attention_s_per_mac < 1e-8


def test_the_profile_is_kept_and_only_what_is_missing_is_measured(
        measured, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = machine_profile.cached_profile(THREADS, {"F16", "Q8_0"})
    assert stored == measured
    assert machine_profile.cached_profile(THREADS, {"Q4_K"}) is None  # not measured yet
    assert machine_profile.cached_profile(THREADS + 1, {"F16"}) is None  # other threads
    asked: list[set[str]] = []
    real_child = machine_profile._run_child

    def spy(threads: int, kernels, timeout: float):
        asked.append(set(kernels))
        return real_child(threads, kernels, timeout)

    monkeypatch.setattr(machine_profile, "_run_child", spy)
    assert machine_profile.measure_profile(THREADS, {"F16", "Q8_0"}) == measured
    assert asked == []  # everything was kept
    grown = machine_profile.measure_profile(THREADS, {"F16", "Q8_0", "Q4_0"})
    assert asked == [{"Q4_0"}]
    assert grown.rates("Q8_0", False) == measured.rates("Q8_0", False)  # kept, not remeasured
    assert grown.rates("Q4_0", False) is not None
    assert machine_profile.cached_profile(THREADS, {"Q4_0", "Q8_0"}) == grown


def test_a_broken_child_is_a_clear_error_and_stores_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.setattr(machine_profile, "CHILD", "workbench.no_such_module")
    with pytest.raises(machine_profile.ProfileFailed, match="kernel profile"):
        machine_profile.measure_profile(THREADS, {"F16"})
    assert not machine_profile.cache_path().exists()
    monkeypatch.setattr(machine_profile, "TIMEOUT_S", 0.01)
    with pytest.raises(machine_profile.ProfileFailed, match="longer than"):
        machine_profile.measure_profile(THREADS, {"F16"}, timeout=0.01)


def workbench(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.mark.slow
def test_estimate_profile_predicts_a_real_model_near_its_bench(smollm2: Path,
                                                               tmp_path: Path) -> None:
    before = json.loads(workbench(tmp_path, "estimate", str(smollm2), "--json").stdout)
    assert before["speed_kind"] == "upper bound"  # nothing measured on this machine yet
    # both at the default threads (one per physical core)
    proc = workbench(tmp_path, "estimate", str(smollm2), "--profile", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["speed_kind"] == "predicted"
    assert doc["speed_note"].startswith("profiled: this model's llama.cpp graph")
    assert len(list(tmp_path.rglob("machine-profile.json"))) == 1  # kept in that home
    human = workbench(tmp_path, "estimate", str(smollm2))
    assert "≈" in human.stdout and "profiled" in human.stdout  # kept: no --profile needed
    bench = workbench(tmp_path, "bench", str(smollm2), "--prompt-tokens", "512",
                      "--gen-tokens", "32", "--repetitions", "3", "--repack", "off", "--no-store",
                      "--json")
    assert bench.returncode == 0, bench.stderr
    measured = json.loads(bench.stdout)
    for predicted, real in ((doc["predicted_gen_tokens_per_s"], measured["tg_tokens_per_s"]),
                            (doc["predicted_prompt_tokens_per_s"],
                             measured["pp_tokens_per_s"])):
        assert 0.5 < predicted / real < 2.0, (predicted, real)  # a loose neighbourhood
