"""diagnose(): findings and fixes for builds, GPUs, drivers, RAM and CPU features."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.nvml import make_fake_pynvml, rtx_4090
from workbench.hardware import (
    CpuInfo,
    GpuInfo,
    GpuProcess,
    HardwareReport,
    LlamaBuild,
    NvmlStatus,
    OsInfo,
    PciDisplayDevice,
    RamInfo,
    detect,
    detect_nvidia,
    diagnose,
    reinstall_command,
)
from workbench.hardware.backends import annotate
from workbench.hardware.llama_probe import to_build

GIB = 1024**3
VERSION = "0.3.36"
CUDA_FIX = ('CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir '
            "llama-cpp-python==0.3.36")

# What ``python -m workbench.engine.worker.probe`` printed for this machine's CPU-only build.
CPU_ONLY_PROBE: dict[str, Any] = {
    "ok": True, "probe_version": 1, "llama_cpp_importable": True, "llama_cpp_version": VERSION,
    "gpu_offload": False, "supports_rpc": False, "max_devices": 16,
    "system_info": "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
                   "BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |",
    "features": {"CPU": {"SSE3": "1", "AVX": "1", "AVX2": "1", "F16C": "1", "FMA": "1",
                         "REPACK": "1"}},
    "ggml_version": "0.25.3", "ggml_commit": "0c1e570",
    "devices": [{"index": 0, "name": "CPU", "description": "AMD EPYC", "type": "cpu",
                 "backend": "CPU", "memory_total_bytes": 24 * GIB,
                 "memory_free_bytes": 24 * GIB, "device_id": None}],
    "notes": [],
}


def probe_with(*devices: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(CPU_ONLY_PROBE)
    raw["gpu_offload"] = bool(devices)
    raw["devices"] += list(devices)
    return raw


CUDA_DEVICE = {"name": "CUDA0", "description": "NVIDIA GeForce RTX 4090", "type": "gpu",
               "backend": "CUDA", "device_id": "0000:01:00.0"}
VULKAN_DEVICE = {"name": "Vulkan0", "description": "NVIDIA GeForce RTX 4090", "type": "gpu",
                 "backend": "Vulkan"}


def make_report(*, gpus: list[GpuInfo] | None = None, build: LlamaBuild | None = None,
                flags: dict[str, bool | None] | None = None, ram: RamInfo | None = None,
                nvml: NvmlStatus | None = None,
                pci: list[PciDisplayDevice] | None = None) -> HardwareReport:
    base_flags: dict[str, bool | None] = {"avx": True, "avx2": True, "avx512f": False,
                                          "amx_tile": False, "amx_int8": False}
    report = HardwareReport(
        os=OsInfo("Linux", "6.8", "#1", "x86_64", "3.11.7", "/usr/bin/python3"),
        cpu=CpuInfo("Test CPU", "x86_64", 8, 16, {**base_flags, **(flags or {})},
                    "/proc/cpuinfo"),
        ram=ram or RamInfo(total_bytes=32 * GIB, available_bytes=20 * GIB),
        gpus=gpus or [],
        nvml=nvml or NvmlStatus(available=False, reason="no driver"),
        llama=build or to_build(CPU_ONLY_PROBE, VERSION, cached=False),
        pci_display_devices=pci or [],
    )
    annotate(report.gpus, report.llama)
    return report


def by_code(report: HardwareReport) -> dict[str, Any]:
    return {f.code: f for f in diagnose(report)}


def nvidia_gpus() -> list[GpuInfo]:
    return detect_nvidia(make_fake_pynvml([rtx_4090()])).gpus


def test_cpu_only_build_with_an_nvidia_gpu_gives_the_cuda_command() -> None:
    report = make_report(gpus=nvidia_gpus())
    assert report.gpus[0].llama_usable is False
    assert report.gpus[0].reinstall_command == CUDA_FIX
    finding = by_code(report)["gpu_unused_by_build"]
    assert finding.severity == "warning"
    assert finding.fix == CUDA_FIX
    assert "RTX 4090" in finding.title


def test_detect_with_a_fake_nvml_and_a_recorded_cpu_probe(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The same through detect(): the probe answer comes from the cache, as on a second run."""
    from workbench.hardware import llama_probe

    monkeypatch.setattr(llama_probe, "probe_llama",
                        lambda **_: to_build(CPU_ONLY_PROBE, VERSION, cached=True))
    report = detect(nvml_module=make_fake_pynvml([rtx_4090()]), sysfs_root=tmp_path)
    assert report.llama.gpu_offload is False
    [gpu] = report.gpus
    assert gpu.reinstall_command == CUDA_FIX
    assert any(f.fix == CUDA_FIX for f in diagnose(report))


def test_one_finding_for_several_gpus_of_a_vendor() -> None:
    gpus = detect_nvidia(make_fake_pynvml([rtx_4090(), rtx_4090()])).gpus
    [finding] = [f for f in diagnose(make_report(gpus=gpus)) if f.code == "gpu_unused_by_build"]
    assert "(#0)" in finding.title and "(#1)" in finding.title and "are not used" in finding.title
    assert finding.fix == CUDA_FIX and "CUDA toolkit" in finding.detail


def test_cuda_build_uses_the_gpu() -> None:
    build = to_build(probe_with(CUDA_DEVICE), VERSION, cached=False)
    report = make_report(gpus=nvidia_gpus(), build=build)
    assert report.gpus[0].llama_usable is True
    assert report.gpus[0].reinstall_command is None
    codes = by_code(report)
    assert "gpu_unused_by_build" not in codes
    assert codes["llama_gpu_offload"].severity == "ok"


def test_vulkan_build_counts_for_nvidia_but_cuda_not_for_amd() -> None:
    vulkan = to_build(probe_with(VULKAN_DEVICE), VERSION, cached=False)
    assert make_report(gpus=nvidia_gpus(), build=vulkan).gpus[0].llama_usable is True
    cuda = to_build(probe_with(CUDA_DEVICE), VERSION, cached=False)
    amd = GpuInfo(vendor="amd", name="AMD Radeon RX 7900 XTX", index=0, source="sysfs",
                  arch="gfx1100")
    report = make_report(gpus=[amd], build=cuda)
    assert report.gpus[0].llama_usable is False
    assert report.gpus[0].reinstall_command == (
        'CMAKE_ARGS="-DGGML_HIP=on -DGPU_TARGETS=gfx1100" pip install --force-reinstall '
        "--no-cache-dir llama-cpp-python==0.3.36")


def test_apple_gets_metal_and_rpc_only_build_is_not_a_gpu() -> None:
    apple = GpuInfo(vendor="apple", name="Apple M2", index=0, source="sysctl",
                    unified_memory=True)
    rpc = to_build(probe_with({"name": "RPC[127.0.0.1:50052]", "type": "gpu",
                               "backend": "RPC"}), VERSION, cached=False)
    report = make_report(gpus=[apple], build=rpc)
    assert report.gpus[0].reinstall_command == (
        'CMAKE_ARGS="-DGGML_METAL=on" pip install --force-reinstall --no-cache-dir '
        "llama-cpp-python==0.3.36")


def test_metal_build_replaces_the_working_set_estimate() -> None:
    apple = GpuInfo(vendor="apple", name="Apple M2", index=0, source="sysctl",
                    unified_memory=True, vram_total_bytes=16 * GIB * 2 // 3,
                    vram_free_bytes=9 * GIB, estimated=["vram_total_bytes", "vram_free_bytes"])
    metal = to_build(probe_with({"name": "MTL0", "description": "Apple M2", "type": "gpu",
                                 "backend": "Metal", "memory_total_bytes": 11 * GIB,
                                 "memory_free_bytes": 11 * GIB}), VERSION, cached=False)
    report = make_report(gpus=[apple], build=metal)
    [gpu] = report.gpus
    assert gpu.llama_usable is True and gpu.reinstall_command is None
    assert gpu.vram_total_bytes == 11 * GIB
    assert gpu.estimated == ["vram_free_bytes"]
    assert gpu.vram_free_bytes == 9 * GIB and gpu.vram_used_bytes == 2 * GIB


def test_reinstall_commands() -> None:
    assert reinstall_command("vulkan", "0.3.36") == (
        'CMAKE_ARGS="-DGGML_VULKAN=on" pip install --force-reinstall --no-cache-dir '
        "llama-cpp-python==0.3.36")
    assert reinstall_command("hip", None).endswith(" llama-cpp-python")
    assert "GPU_TARGETS" not in reinstall_command("hip", "0.3.36")


def test_unknown_build_gives_no_verdict() -> None:
    skipped = LlamaBuild(installed=True, version=VERSION, notes=["llama.cpp probe skipped"])
    report = make_report(gpus=nvidia_gpus(), build=skipped)
    assert report.gpus[0].llama_usable is None
    assert "gpu_unused_by_build" not in by_code(report)


def test_nvml_missing_while_an_nvidia_card_is_on_the_bus() -> None:
    card = PciDisplayDevice("0000:01:00.0", "0x10de", "0x2684", "nvidia", "nouveau")
    report = make_report(pci=[card], nvml=NvmlStatus(available=False, reason="the NVML "
                         "library (libnvidia-ml) was not found: no NVIDIA driver is installed"))
    finding = by_code(report)["nvml_missing_nvidia_visible"]
    assert finding.severity == "warning"
    assert "0000:01:00.0" in finding.detail and "nouveau" in finding.detail
    assert "proprietary driver" in (finding.fix or "")
    assert "no_gpu" not in by_code(report)


def test_missing_pynvml_module_fix() -> None:
    card = PciDisplayDevice("0000:01:00.0", "0x10de", "0x2684", "nvidia", "nvidia")
    report = make_report(pci=[card], nvml=NvmlStatus(
        available=False, reason="the pynvml module (pip package nvidia-ml-py) cannot be imported"))
    assert by_code(report)["nvml_missing_nvidia_visible"].fix == "pip install nvidia-ml-py"


def test_no_nvml_finding_without_an_nvidia_card() -> None:
    intel = PciDisplayDevice("0000:00:02.0", "0x8086", "0xa780", "intel", "i915")
    assert "nvml_missing_nvidia_visible" not in by_code(make_report(pci=[intel]))


@pytest.mark.parametrize(("available", "severity"), [
    (1 * GIB, "warning"), (2 * GIB, "warning"), (8 * GIB, "ok")])
def test_low_free_ram(available: int, severity: str) -> None:
    ram = RamInfo(total_bytes=32 * GIB, available_bytes=available)
    codes = by_code(make_report(ram=ram))
    code = "low_free_ram" if severity == "warning" else "ram"
    assert codes[code].severity == severity


def test_amx_and_missing_avx2() -> None:
    codes = by_code(make_report(flags={"amx_tile": True, "amx_int8": True}))
    assert codes["amx_advertised"].severity == "info"
    assert "repack" in codes["amx_advertised"].detail
    assert "no_avx2" not in codes
    codes = by_code(make_report(flags={"avx": False, "avx2": False}))
    assert codes["no_avx2"].severity == "warning"
    assert "amx_advertised" not in codes


def test_unknown_flags_do_not_claim_no_avx2() -> None:
    report = make_report(flags={"avx": None, "avx2": None})
    assert "no_avx2" not in by_code(report)


def test_build_without_the_cpus_avx512() -> None:
    codes = by_code(make_report(flags={"avx512f": True}))
    finding = codes["build_lacks_cpu_features"]
    assert "AVX512" in finding.title
    assert "-DGGML_NATIVE=on" in (finding.fix or "")
    assert "build_lacks_cpu_features" not in by_code(make_report())


def test_other_processes_holding_vram() -> None:
    [gpu] = nvidia_gpus()
    gpu.processes = [GpuProcess(pid=4242, name="blender", used_bytes=6 * GIB, kind="graphics")]
    gpu.other_processes_vram_bytes = 6 * GIB
    finding = by_code(make_report(gpus=[gpu]))["vram_held_by_others"]
    assert finding.severity == "warning"
    assert "blender" in finding.detail and "4242" in finding.detail
    gpu.other_processes_vram_bytes = 200 * 1024**2
    assert by_code(make_report(gpus=[gpu]))["vram_held_by_others"].severity == "info"


def test_llama_cpp_missing_and_not_importable() -> None:
    missing = LlamaBuild(installed=False, error="llama-cpp-python is not installed")
    finding = by_code(make_report(build=missing))["llama_cpp_missing"]
    assert finding.severity == "error"
    assert (finding.fix or "").startswith("pip install 'llama-cpp-python")
    broken = to_build({"ok": True, "llama_cpp_importable": False,
                       "error": "import llama_cpp failed: OSError: libllama.so: cannot open"},
                      VERSION, cached=False)
    finding = by_code(make_report(build=broken))["llama_cpp_not_importable"]
    assert finding.severity == "error" and "libllama.so" in finding.detail


def test_probe_crash_is_an_error_finding() -> None:
    crashed = to_build({"ok": False, "signal": 11,
                        "error": "probe failed: signal 11 (SIGSEGV)"}, VERSION, cached=False)
    finding = by_code(make_report(build=crashed))["llama_probe_failed"]
    assert finding.severity == "error" and "SIGSEGV" in finding.detail


def test_rosetta() -> None:
    report = make_report()
    assert "rosetta" not in by_code(report)
    report.os.rosetta = True
    assert by_code(report)["rosetta"].severity == "warning"


def test_most_severe_first() -> None:
    missing = LlamaBuild(installed=False, error="not installed")
    findings = diagnose(make_report(build=missing, gpus=nvidia_gpus(),
                                    ram=RamInfo(32 * GIB, GIB)))
    ranks = {"error": 0, "warning": 1, "info": 2, "ok": 3}
    assert [ranks[f.severity] for f in findings] == sorted(ranks[f.severity] for f in findings)
    assert findings[0].severity == "error"
    assert all(set(f.to_dict()) == {"severity", "code", "title", "detail", "fix"}
               for f in findings)
