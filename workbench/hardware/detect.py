"""``detect()``: the whole machine in one HardwareReport (CPU, RAM, GPUs, llama.cpp build)."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from types import ModuleType

from workbench.hardware import llama_probe
from workbench.hardware.amd import detect_amd
from workbench.hardware.apple import detect_apple
from workbench.hardware.backends import annotate
from workbench.hardware.cpu import SysctlReader, detect_cpu, detect_ram, run_sysctl
from workbench.hardware.model import HardwareReport, LlamaBuild, OsInfo
from workbench.hardware.nvidia import detect_nvidia
from workbench.hardware.pci import pci_display_devices


def detect_os(sysctl: SysctlReader | None = None) -> OsInfo:
    """The OS and Python; on macOS also whether Python runs translated by Rosetta."""
    info = OsInfo(
        system=platform.system(),
        release=platform.release(),
        version=platform.version(),
        machine=platform.machine(),
        python_version=platform.python_version(),
        python_executable=sys.executable,
    )
    if info.system == "Darwin":
        info.rosetta = (sysctl or run_sysctl)("sysctl.proc_translated") == "1"
    return info


def _llama_build(probe: bool, refresh: bool) -> LlamaBuild:
    if not probe:
        version = llama_probe.installed_version()
        return LlamaBuild(installed=version is not None, version=version,
                          notes=["llama.cpp probe skipped"])
    try:
        return llama_probe.probe_llama(refresh=refresh)
    except Exception as err:  # probe_llama does not raise; this guards against the unforeseen
        return LlamaBuild(installed=True, error=f"probe failed: {type(err).__name__}: {err}")


def detect(
    *,
    probe_llama: bool = True,
    refresh_probe: bool = False,
    nvml_module: ModuleType | None = None,
    sysfs_root: Path | str = "/",
    sysctl: SysctlReader | None = None,
) -> HardwareReport:
    """Detect this machine's hardware and what the installed llama.cpp build can use.

    ``probe_llama=False`` skips the llama.cpp probe (``llama.probe_ok`` stays False, no error);
    ``refresh_probe`` re-runs it instead of using the cached answer. ``nvml_module``,
    ``sysfs_root`` and ``sysctl`` replace the machine's boundaries (tests). Never raises on a
    machine's oddities: a part that fails is reported empty, with its reason where there is one.
    """
    started = time.perf_counter()
    os_info = detect_os(sysctl)
    cpu = detect_cpu(sysctl=sysctl)
    ram = detect_ram()
    nvidia = detect_nvidia(nvml_module)
    amd_gpus, amd_source = detect_amd(sysfs_root)
    apple = detect_apple(sysctl, ram_available_bytes=ram.available_bytes)
    gpus = [*nvidia.gpus, *amd_gpus, *([apple] if apple else [])]
    build = _llama_build(probe_llama, refresh_probe)
    annotate(gpus, build)
    return HardwareReport(
        os=os_info,
        cpu=cpu,
        ram=ram,
        gpus=gpus,
        nvml=nvidia.nvml,
        llama=build,
        pci_display_devices=pci_display_devices(sysfs_root),
        amd_source=amd_source,
        elapsed_seconds=round(time.perf_counter() - started, 3),
    )
