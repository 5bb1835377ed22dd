"""Apple Silicon through an injected sysctl reader."""

from __future__ import annotations

import platform

import pytest

from workbench.hardware import detect_apple, estimate_metal_working_set

GIB = 1024**3


def mac(chip: str, ram_gib: int, **more: str) -> dict[str, str]:
    values = {
        "hw.optional.arm64": "1",
        "machdep.cpu.brand_string": chip,
        "hw.memsize": str(ram_gib * GIB),
        "hw.physicalcpu": "12",
        "sysctl.proc_translated": "0",
    }
    values.update(more)
    return values


def test_m2_max_32_gib() -> None:
    gpu = detect_apple(mac("Apple M2 Max", 32).get, ram_available_bytes=20 * GIB)
    assert gpu is not None
    assert gpu.vendor == "apple" and gpu.name == "Apple M2 Max" and gpu.source == "sysctl"
    assert gpu.unified_memory is True
    assert gpu.vram_total_bytes == 32 * GIB * 2 // 3
    assert gpu.vram_free_bytes == 20 * GIB
    assert gpu.vram_used_bytes == gpu.vram_total_bytes - 20 * GIB
    assert {"vram_total_bytes", "vram_free_bytes"} <= set(gpu.estimated)
    assert "estimate" in gpu.extra["metal_working_set_source"]
    assert gpu.extra["system_memory_bytes"] == 32 * GIB
    assert gpu.memory_bandwidth_gbps == 400
    assert gpu.extra["rosetta"] is False


def test_large_machine_uses_three_quarters() -> None:
    assert estimate_metal_working_set(64 * GIB) == 48 * GIB
    assert estimate_metal_working_set(16 * GIB) == 16 * GIB * 2 // 3
    gpu = detect_apple(mac("Apple M3 Max", 128, **{"hw.physicalcpu": "16"}).get)
    assert gpu is not None
    assert gpu.vram_total_bytes == 96 * GIB
    assert gpu.memory_bandwidth_gbps == 400  # the 16-core M3 Max
    assert gpu.vram_free_bytes is None  # no available-RAM figure given


def test_binned_chip_bandwidth_follows_core_count() -> None:
    gpu = detect_apple(mac("Apple M4 Max", 36, **{"hw.physicalcpu": "14"}).get)
    assert gpu is not None and gpu.memory_bandwidth_gbps == 410
    unknown = detect_apple(mac("Apple M9 Hyper", 36).get)
    assert unknown is not None and unknown.memory_bandwidth_gbps is None


def test_raised_wired_limit_is_used() -> None:
    gpu = detect_apple(mac("Apple M1 Pro", 32, **{"iogpu.wired_limit_mb": "28672"}).get)
    assert gpu is not None
    assert gpu.vram_total_bytes == 28 * GIB
    assert gpu.extra["metal_working_set_source"] == "sysctl iogpu.wired_limit_mb"


def test_rosetta_is_reported() -> None:
    gpu = detect_apple(mac("Apple M1", 8, **{"sysctl.proc_translated": "1"}).get)
    assert gpu is not None and gpu.extra["rosetta"] is True


def test_intel_mac_is_not_apple_silicon() -> None:
    values = {"machdep.cpu.brand_string": "Intel(R) Core(TM) i9-9980HK", "hw.memsize": str(GIB)}
    assert detect_apple(values.get) is None


@pytest.mark.skipif(platform.system() == "Darwin", reason="checks the non-macOS path")
def test_without_a_reader_off_macos() -> None:
    assert detect_apple() is None
