"""Energy meters: NVML (faked at the pynvml boundary: no GPU here) with its coarse counter and
power-sampling fallback, RAPL from a sysfs-shaped tree, and the labelled CPU-time estimate on a
real busy process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.nvml import NOT_SUPPORTED, h100_sxm, make_fake_pynvml, rtx_4090
from workbench.hardware.energy import (
    CompositeMeter,
    CpuTimeEstimate,
    NvmlMeter,
    RaplMeter,
    integrate,
    local_energy_meter,
    rapl_domains,
)


def with_energy_counter(module, gpus, step_s: float = 0.1):
    """Add NVML's energy counter (mJ since 'driver load'), moving in ``step_s`` steps, at each
    GPU's constant power draw - like the real counter's 20-100 ms updates."""
    loaded = time.perf_counter() - 100.0
    module.energy_reads = []  # every value the counter gave, in order (mJ)

    def counter(handle):
        if "nvmlDeviceGetTotalEnergyConsumption" in handle.fail:
            raise module.NVMLError(handle.fail["nvmlDeviceGetTotalEnergyConsumption"])
        elapsed = time.perf_counter() - loaded
        ticks = int(elapsed / step_s) * step_s
        value = int(ticks * handle.power_usage_mw)  # W * s = J; mW * s = mJ
        module.energy_reads.append(value)
        return value

    module.nvmlDeviceGetTotalEnergyConsumption = counter
    return module


def test_integrate_is_the_trapezoid_rule() -> None:
    assert integrate([(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]) == pytest.approx(550.0)
    assert integrate([(0.0, 5.0)]) is None


def test_long_window_uses_the_energy_counter() -> None:
    gpu = h100_sxm()  # draws 71 W in the fake
    nvml = with_energy_counter(make_fake_pynvml([gpu]), [gpu])
    meter = NvmlMeter(nvml, min_counter_window_s=0.3, sample_interval_s=0.02)
    meter.start()
    time.sleep(0.45)
    reading = meter.stop()
    assert reading.method == "nvml-counter" and not reading.estimated
    # the counter read when the window opened and when it closed (71 W in 0.1 s steps)
    first, last = nvml.energy_reads
    assert reading.joules == pytest.approx((last - first) / 1000) and last > first
    assert "GPU 0" in reading.note and "whole device" in reading.note
    assert nvml.log[-1] == "shutdown"


def test_short_window_falls_back_to_power_sampling() -> None:
    gpu = rtx_4090()  # 35.5 W
    nvml = with_energy_counter(make_fake_pynvml([gpu]), [gpu], step_s=10.0)
    meter = NvmlMeter(nvml, min_counter_window_s=1.0, sample_interval_s=0.01)
    meter.start()
    time.sleep(0.15)
    reading = meter.stop()
    assert reading.method == "nvml-power-sampling"
    assert reading.joules == pytest.approx(35.5 * reading.seconds, rel=0.25)
    assert "shorter than the counter" in reading.note


def test_gpus_without_a_counter_are_sampled_and_two_gpus_add_up() -> None:
    old = rtx_4090(fail={"nvmlDeviceGetTotalEnergyConsumption": NOT_SUPPORTED})
    new = h100_sxm()
    nvml = with_energy_counter(make_fake_pynvml([old, new]), [old, new])
    meter = NvmlMeter(nvml, min_counter_window_s=0.2, sample_interval_s=0.02)
    meter.start()
    time.sleep(0.35)
    reading = meter.stop()
    methods = [part.method for part in reading.parts]
    assert methods == ["nvml-power-sampling", "nvml-counter"]
    assert "energy counter unavailable" in reading.parts[0].note
    assert reading.joules == pytest.approx(sum(p.joules for p in reading.parts))


def test_rapl_counters_with_wraparound(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    for name, energy in (("intel-rapl:0", 999_000_000), ("intel-rapl:1", 5_000_000)):
        zone = root / name
        zone.mkdir(parents=True)
        (zone / "name").write_text(f"package-{name[-1]}\n")
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text("1000000000\n")
    sub = root / "intel-rapl:0:0"  # a sub-zone (core): not counted twice
    sub.mkdir()
    (sub / "energy_uj").write_text("1\n")
    unreadable = root / "intel-rapl:2"
    unreadable.mkdir()  # no energy_uj: like a root-only file, skipped
    assert [d.name for d in rapl_domains(root)] == ["package-0", "package-1"]
    meter = RaplMeter(root)
    meter.start()
    (root / "intel-rapl:0" / "energy_uj").write_text("2000000\n")  # wrapped past 1e9
    (root / "intel-rapl:1" / "energy_uj").write_text("8000000\n")
    reading = meter.stop()
    assert reading.method == "rapl" and not reading.estimated
    assert reading.joules == pytest.approx((1_000_001 + 2_000_000 + 3_000_000) / 1e6)


def test_cpu_estimate_on_a_real_busy_process() -> None:
    busy = subprocess.Popen([sys.executable, "-c",
                             "import time\nend = time.time() + 0.6\nwhile time.time() < end: pass"])
    try:
        meter = CpuTimeEstimate(busy.pid, watts_per_core=10.0)
        meter.start()
        busy.wait(timeout=10)
    finally:
        busy.kill()
    # the process is gone: the estimate must not crash, and says what it is
    reading = meter.stop()
    assert reading.estimated and reading.method == "cpu-time-estimate"
    assert "estimate" in reading.note and "10 W" in reading.note
    meter2 = CpuTimeEstimate(None)
    meter2.start()
    assert meter2.stop().joules is None


def test_cpu_estimate_counts_cpu_seconds() -> None:
    # 0.4 s of its own CPU time (not of the clock: a busy machine gives it less per second)
    code = ("import sys, time\nprint('ready', flush=True)\nsys.stdin.readline()\n"
            "end = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
            "print('done', flush=True)\nsys.stdin.readline()")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"  # start-up is not measured
        meter = CpuTimeEstimate(child.pid, watts_per_core=10.0)
        meter.start()
        child.stdin.write("go\n")
        child.stdin.flush()  # it spins for 0.4 CPU-s, says so, then waits
        assert child.stdout.readline().strip() == "done"
        reading = meter.stop()
    finally:
        child.kill()
        child.wait()
    # 0.4 CPU-s at 10 W (less a clock tick of the OS's CPU accounting, plus a little start-up)
    assert (0.4 - 0.02) * 10 <= reading.joules <= 0.6 * 10


def test_local_meter_picks_nvml_for_gpu_layers_and_the_estimate_without_rapl(tmp_path) -> None:
    gpu = h100_sxm()
    nvml = with_energy_counter(make_fake_pynvml([gpu]), [gpu])
    meter = local_energy_meter(pid=None, uses_gpu=True, nvml=nvml, rapl_root=tmp_path)
    assert [type(m).__name__ for m in meter.meters] == ["NvmlMeter", "CpuTimeEstimate"]
    cpu_only = local_energy_meter(pid=None, uses_gpu=False, rapl_root=tmp_path)
    assert [type(m).__name__ for m in cpu_only.meters] == ["CpuTimeEstimate"]
    no_driver = make_fake_pynvml([], init_error=9)
    fallback = local_energy_meter(pid=None, uses_gpu=True, nvml=no_driver, rapl_root=tmp_path)
    assert [type(m).__name__ for m in fallback.meters] == ["CpuTimeEstimate"]


def test_composite_sums_and_labels_partial_estimates() -> None:
    gpu = h100_sxm()
    nvml = with_energy_counter(make_fake_pynvml([gpu]), [gpu])
    meter = CompositeMeter([NvmlMeter(nvml, sample_interval_s=0.01), CpuTimeEstimate(None)])
    meter.start()
    time.sleep(0.05)
    reading = meter.stop()
    assert reading.method == "nvml-power-sampling+cpu-time-estimate"
    assert reading.estimated and "incomplete" in reading.note
    assert reading.joules == pytest.approx(reading.parts[0].joules)
