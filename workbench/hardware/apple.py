"""Apple Silicon: the GPU shares the system's unified memory.

llama.cpp's Metal backend sizes the GPU by ``MTLDevice.recommendedMaxWorkingSetSize``. Without
Metal bindings in Python we estimate it the way it is observed to behave: about 2/3 of RAM on
machines with 36 GiB or less, about 3/4 above (16 GiB -> ~10.7 GiB, 64 GiB -> 48 GiB). When the
user raised the GPU wired-memory limit (``sysctl iogpu.wired_limit_mb``, macOS 14+), that limit
is used instead. Either way the value is listed in ``GpuInfo.estimated``.

Every input comes from a ``sysctl(name) -> str | None`` reader, so tests feed a dict.
"""

from __future__ import annotations

import platform

from workbench.hardware.cpu import SysctlReader, run_sysctl
from workbench.hardware.model import GpuInfo

GIB = 1024**3

# Peak unified-memory bandwidth in GB/s from Apple's published specifications. Where one chip
# name covers two memory configurations, the key carries the CPU core count that tells them apart.
APPLE_BANDWIDTH_GBPS: dict[str, float] = {
    "Apple M1": 68.25,
    "Apple M1 Pro": 200,
    "Apple M1 Max": 400,
    "Apple M1 Ultra": 800,
    "Apple M2": 100,
    "Apple M2 Pro": 200,
    "Apple M2 Max": 400,
    "Apple M2 Ultra": 800,
    "Apple M3": 100,
    "Apple M3 Pro": 150,
    "Apple M3 Max/14": 300,
    "Apple M3 Max/16": 400,
    "Apple M3 Ultra": 819,
    "Apple M4": 120,
    "Apple M4 Pro": 273,
    "Apple M4 Max/14": 410,
    "Apple M4 Max/16": 546,
}


def estimate_metal_working_set(ram_bytes: int) -> int:
    """Estimated ``recommendedMaxWorkingSetSize``: 2/3 of RAM up to 36 GiB, 3/4 above."""
    return ram_bytes * 2 // 3 if ram_bytes <= 36 * GIB else ram_bytes * 3 // 4


def apple_bandwidth_gbps(chip: str | None, cpu_cores: int | None) -> float | None:
    if not chip:
        return None
    chip = chip.strip()
    if chip in APPLE_BANDWIDTH_GBPS:
        return APPLE_BANDWIDTH_GBPS[chip]
    if cpu_cores is not None:
        return APPLE_BANDWIDTH_GBPS.get(f"{chip}/{cpu_cores}")
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def detect_apple(
    sysctl: SysctlReader | None = None,
    *,
    ram_available_bytes: int | None = None,
) -> GpuInfo | None:
    """The Apple Silicon GPU, or None on any other machine; never raises.

    Without ``sysctl`` this only looks on macOS (real ``sysctl -n``). ``ram_available_bytes``
    (psutil's available memory) bounds the free-memory estimate.
    """
    if sysctl is None:
        if platform.system() != "Darwin":
            return None
        sysctl = run_sysctl
    try:
        if sysctl("hw.optional.arm64") != "1":
            return None
        chip = sysctl("machdep.cpu.brand_string")
        ram = _int(sysctl("hw.memsize"))
        wired_limit_mb = _int(sysctl("iogpu.wired_limit_mb"))
        cpu_cores = _int(sysctl("hw.physicalcpu"))
        rosetta = sysctl("sysctl.proc_translated") == "1"
    except Exception:
        return None
    gpu = GpuInfo(vendor="apple", name=chip, index=0, source="sysctl", unified_memory=True)
    gpu.extra["system_memory_bytes"] = ram
    gpu.extra["rosetta"] = rosetta
    if ram:
        if wired_limit_mb and wired_limit_mb > 0:
            gpu.vram_total_bytes = min(wired_limit_mb * 1024 * 1024, ram)
            gpu.extra["metal_working_set_source"] = "sysctl iogpu.wired_limit_mb"
        else:
            gpu.vram_total_bytes = estimate_metal_working_set(ram)
            gpu.extra["metal_working_set_source"] = (
                "estimate: 2/3 of RAM up to 36 GiB, 3/4 above"
            )
        gpu.estimated.append("vram_total_bytes")
        if ram_available_bytes is not None:
            gpu.vram_free_bytes = min(gpu.vram_total_bytes, ram_available_bytes)
            gpu.vram_used_bytes = gpu.vram_total_bytes - gpu.vram_free_bytes
            gpu.estimated += ["vram_free_bytes", "vram_used_bytes"]
    gpu.memory_bandwidth_gbps = apple_bandwidth_gbps(chip, cpu_cores)
    if gpu.memory_bandwidth_gbps is not None:
        gpu.extra["memory_bandwidth_source"] = "Apple's published specification for this chip"
    return gpu
