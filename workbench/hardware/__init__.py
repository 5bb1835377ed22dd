"""Hardware detection (Qt-free, never raises on a machine's oddities).

- ``detect()``: the whole machine as a ``HardwareReport`` (``to_dict()`` for JSON);
- ``detect_nvidia`` (NVML), ``detect_amd`` (amdsmi or sysfs), ``detect_apple`` (sysctl),
  ``detect_cpu``/``detect_ram`` (cpuinfo, psutil), ``probe_llama`` (the llama.cpp build,
  probed in a child process and cached);
- ``diagnose(report)``: findings with severities and fixes (``workbench doctor``).
"""

from workbench.hardware.amd import detect_amd
from workbench.hardware.apple import detect_apple, estimate_metal_working_set
from workbench.hardware.backends import reinstall_command
from workbench.hardware.cpu import detect_cpu, detect_ram
from workbench.hardware.detect import detect
from workbench.hardware.doctor import Finding, diagnose
from workbench.hardware.llama_probe import probe_llama
from workbench.hardware.model import (
    CpuInfo,
    GpuInfo,
    GpuProcess,
    HardwareReport,
    LlamaBuild,
    NvidiaReport,
    NvmlStatus,
    OsInfo,
    PciDisplayDevice,
    RamInfo,
)
from workbench.hardware.nvidia import detect_nvidia, theoretical_bandwidth_gbps

__all__ = [
    "CpuInfo",
    "Finding",
    "GpuInfo",
    "GpuProcess",
    "HardwareReport",
    "LlamaBuild",
    "NvidiaReport",
    "NvmlStatus",
    "OsInfo",
    "PciDisplayDevice",
    "RamInfo",
    "detect",
    "detect_amd",
    "detect_apple",
    "detect_cpu",
    "detect_nvidia",
    "detect_ram",
    "diagnose",
    "estimate_metal_working_set",
    "probe_llama",
    "reinstall_command",
    "theoretical_bandwidth_gbps",
]
