"""NVIDIA detection through a fake pynvml at the NVML boundary (no GPU here)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.fakes.nvml import (
    DRIVER_NOT_LOADED,
    ERROR_CODES,
    GPU_IS_LOST,
    LIBRARY_NOT_FOUND,
    MIB,
    NO_PERMISSION,
    NOT_SUPPORTED,
    UNKNOWN,
    class_name,
    h100_sxm,
    make_fake_pynvml,
    rtx_4090,
)
from workbench.hardware import detect_nvidia, theoretical_bandwidth_gbps
from workbench.hardware.nvidia import format_cuda_version


def test_bandwidth_formula_on_known_gpus() -> None:
    assert theoretical_bandwidth_gbps(384, 10501) == pytest.approx(1008.1, abs=0.05)  # RTX 4090
    assert theoretical_bandwidth_gbps(5120, 2619) == pytest.approx(3352.3, abs=0.05)  # H100 SXM
    assert theoretical_bandwidth_gbps(4096, 877) == pytest.approx(898.0, abs=0.1)  # V100
    assert theoretical_bandwidth_gbps(None, 10501) is None
    assert theoretical_bandwidth_gbps(384, 0) is None


def test_cuda_version_text() -> None:
    assert format_cuda_version(12040) == "12.4"
    assert format_cuda_version(11080) == "11.8"
    assert format_cuda_version(13000) == "13.0"
    assert format_cuda_version(0) is None


def test_no_gpu() -> None:
    nvml = make_fake_pynvml([])
    report = detect_nvidia(nvml)
    assert report.nvml.available is True
    assert report.gpus == []
    assert "no GPU" in (report.nvml.reason or "")
    assert nvml.log == ["init", "shutdown"]


def test_one_gpu_all_fields() -> None:
    other = os.getpid() + 100_000
    nvml = make_fake_pynvml([rtx_4090(
        compute_procs=[(other, 2048 * MIB), (os.getpid(), 512 * MIB)],
        graphics_procs=[(other, 2048 * MIB), (other + 1, 300 * MIB)],
    )])
    report = detect_nvidia(nvml)
    assert report.nvml.available is True and report.nvml.reason is None
    assert report.nvml.driver_version == "550.54.15"
    assert report.nvml.cuda_driver_version == "12.4"
    [gpu] = report.gpus
    assert gpu.vendor == "nvidia" and gpu.source == "nvml" and gpu.index == 0
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.uuid == "GPU-4090aaaa-0000-0000-0000-000000000001"
    assert gpu.pci_bus_id == "00000000:01:00.0"
    assert gpu.vram_total_bytes == 24564 * MIB
    assert gpu.vram_used_bytes == 1200 * MIB
    assert gpu.vram_free_bytes == (24564 - 1200) * MIB
    assert gpu.compute_capability == "8.9"
    assert gpu.memory_bus_width_bits == 384 and gpu.memory_clock_mhz == 10501
    assert gpu.memory_bandwidth_gbps == pytest.approx(1008.1, abs=0.05)
    assert gpu.power_limit_watts == pytest.approx(450.0)
    assert gpu.power_draw_watts == pytest.approx(35.5)
    assert gpu.pcie == {"generation": 4, "width": 16, "max_generation": 4, "max_width": 16}
    assert gpu.driver_version == "550.54.15" and gpu.cuda_driver_version == "12.4"
    assert gpu.unified_memory is False
    # Our own process is left out; a process both compute and graphics is counted once.
    assert [p.pid for p in gpu.processes] == [other, other + 1]
    assert gpu.other_processes_vram_bytes == (2048 + 300) * MIB
    assert gpu.errors == {}
    assert nvml.log == ["init", "shutdown"]


def test_two_gpus_in_order() -> None:
    report = detect_nvidia(make_fake_pynvml([rtx_4090(), h100_sxm()]))
    assert [g.index for g in report.gpus] == [0, 1]
    h100 = report.gpus[1]
    assert h100.name == "NVIDIA H100 80GB HBM3"
    assert h100.compute_capability == "9.0"
    assert h100.memory_bandwidth_gbps == pytest.approx(3352.3, abs=0.05)
    assert h100.vram_total_bytes == 81559 * MIB
    assert h100.power_limit_watts == pytest.approx(700.0)


def test_not_supported_fields_become_none_and_the_gpu_stays() -> None:
    gpu = rtx_4090(fail={
        "nvmlDeviceGetMemoryBusWidth": NOT_SUPPORTED,
        "nvmlDeviceGetPowerUsage": NOT_SUPPORTED,
        "nvmlDeviceGetEnforcedPowerLimit": NOT_SUPPORTED,
        "nvmlDeviceGetPowerManagementLimit": NOT_SUPPORTED,
        "nvmlDeviceGetCurrPcieLinkGeneration": NOT_SUPPORTED,
        "nvmlDeviceGetCurrPcieLinkWidth": NOT_SUPPORTED,
        "nvmlDeviceGetMaxPcieLinkGeneration": NOT_SUPPORTED,
        "nvmlDeviceGetMaxPcieLinkWidth": NOT_SUPPORTED,
        "nvmlDeviceGetGraphicsRunningProcesses": NOT_SUPPORTED,
    })
    [info] = detect_nvidia(make_fake_pynvml([gpu])).gpus
    assert info.name == "NVIDIA GeForce RTX 4090"
    assert info.vram_total_bytes == 24564 * MIB
    assert info.memory_bus_width_bits is None
    assert info.memory_bandwidth_gbps is None
    assert info.power_draw_watts is None and info.power_limit_watts is None
    assert info.pcie is None
    assert info.other_processes_vram_bytes == 0  # compute processes still answered
    assert info.errors == {}  # NotSupported is normal, not an error


def test_power_limit_falls_back_to_management_limit() -> None:
    gpu = rtx_4090(fail={"nvmlDeviceGetEnforcedPowerLimit": NOT_SUPPORTED})
    [info] = detect_nvidia(make_fake_pynvml([gpu])).gpus
    assert info.power_limit_watts == pytest.approx(450.0)


def test_other_field_errors_are_recorded() -> None:
    gpu = rtx_4090(fail={"nvmlDeviceGetMemoryInfo": NO_PERMISSION,
                         "nvmlDeviceGetComputeRunningProcesses": NO_PERMISSION,
                         "nvmlDeviceGetGraphicsRunningProcesses": NO_PERMISSION})
    [info] = detect_nvidia(make_fake_pynvml([gpu])).gpus
    assert info.vram_total_bytes is None and info.vram_free_bytes is None
    assert "memory" in info.errors and "NoPermission" in info.errors["memory"]
    assert info.other_processes_vram_bytes is None  # unknown, not zero
    assert info.memory_bandwidth_gbps == pytest.approx(1008.1, abs=0.05)


@pytest.mark.parametrize(("code", "words"), [
    (LIBRARY_NOT_FOUND, "not found"),
    (DRIVER_NOT_LOADED, "driver is not loaded"),
    (UNKNOWN, "could not start"),
])
def test_init_failure_is_a_result_not_an_exception(code: int, words: str) -> None:
    nvml = make_fake_pynvml([rtx_4090()], init_error=code)
    report = detect_nvidia(nvml)
    assert report.nvml.available is False
    assert words in (report.nvml.reason or "")
    assert report.nvml.error_code == code
    assert report.gpus == []
    assert nvml.log == ["init"]  # nothing to shut down after a failed init


def test_error_on_one_of_two_gpus() -> None:
    nvml = make_fake_pynvml([
        rtx_4090(),
        h100_sxm(fail={"nvmlDeviceGetHandleByIndex": GPU_IS_LOST}),
    ])
    report = detect_nvidia(nvml)
    assert len(report.gpus) == 2
    good, lost = report.gpus
    assert good.name == "NVIDIA GeForce RTX 4090" and good.errors == {}
    assert lost.index == 1 and lost.name is None and lost.vram_total_bytes is None
    assert "GpuIsLost" in lost.errors["handle"]
    assert nvml.log == ["init", "shutdown"]


def test_field_error_on_second_gpu_only() -> None:
    report = detect_nvidia(make_fake_pynvml([
        rtx_4090(), h100_sxm(fail={"nvmlDeviceGetMemoryInfo": UNKNOWN})]))
    assert report.gpus[0].vram_total_bytes == 24564 * MIB
    assert report.gpus[1].vram_total_bytes is None
    assert report.gpus[1].name == "NVIDIA H100 80GB HBM3"
    assert "memory" in report.gpus[1].errors


def test_shutdown_even_when_counting_fails() -> None:
    nvml = make_fake_pynvml([rtx_4090()], count_error=UNKNOWN)
    report = detect_nvidia(nvml)
    assert report.gpus == [] and "count" in (report.nvml.reason or "")
    assert nvml.log == ["init", "shutdown"]


def test_old_pynvml_bytes_are_decoded() -> None:
    [gpu] = detect_nvidia(make_fake_pynvml([rtx_4090(bytes_strings=True)])).gpus
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.uuid.startswith("GPU-")


def test_missing_pynvml_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes ``import pynvml`` fail
    report = detect_nvidia()
    assert report.nvml.available is False
    assert "nvidia-ml-py" in (report.nvml.reason or "")


def test_fake_matches_the_real_pynvml() -> None:
    """The fake's error codes and class names are the real module's (when it is installed)."""
    real = pytest.importorskip("pynvml")
    for constant, value in ERROR_CODES.items():
        assert getattr(real, constant) == value
        assert issubclass(getattr(real, class_name(constant)), real.NVMLError)
        assert type(real.NVMLError(value)) is getattr(real, class_name(constant))
    fake = make_fake_pynvml([])
    assert type(fake.NVMLError(NOT_SUPPORTED)) is fake.NVMLError_NotSupported
    for name in dir(fake):
        if name.startswith("nvml"):
            assert callable(getattr(real, name)), name
    assert real.NVML_CLOCK_MEM == fake.NVML_CLOCK_MEM


def test_real_pynvml_without_a_driver_reports_why() -> None:
    """On this GPU-less machine the real module must fail cleanly, not raise."""
    pytest.importorskip("pynvml")
    report = detect_nvidia()
    if report.nvml.available:
        pytest.skip("this machine has a working NVIDIA driver")
    assert report.nvml.reason
