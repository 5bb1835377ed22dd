"""NVIDIA GPUs through NVML (the ``pynvml`` module of the nvidia-ml-py package).

Free VRAM is read through NVML only: CUDA's cudaMemGetInfo would create a CUDA context, which
itself takes hundreds of MiB on the GPU being measured.

Any field a GPU does not support (NVMLError_NotSupported) is None and the GPU is still listed;
other per-field errors are None too and recorded in ``GpuInfo.errors``. When NVML itself is
missing or the driver is not loaded, the result says so (``nvml.available`` False and a
``reason``): ``detect_nvidia`` never raises.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from workbench.hardware.model import GpuInfo, GpuProcess, NvidiaReport, NvmlStatus

T = TypeVar("T")

# NVML error codes (nvml.h); pynvml exposes them as NVML_ERROR_* with the same values.
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_CLOCK_MEM = 2

_INIT_REASONS = {
    NVML_ERROR_LIBRARY_NOT_FOUND: "the NVML library (libnvidia-ml) was not found: no NVIDIA "
    "driver is installed",
    NVML_ERROR_DRIVER_NOT_LOADED: "the NVIDIA kernel driver is not loaded",
    NVML_ERROR_NO_PERMISSION: "no permission to talk to the NVIDIA driver",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "the NVIDIA driver and its NVML library have different "
    "versions (a driver update without a reboot?)",
    NVML_ERROR_FUNCTION_NOT_FOUND: "the NVIDIA driver is too old for this NVML binding",
}


def theoretical_bandwidth_gbps(
    bus_width_bits: int | None, memory_clock_mhz: int | None
) -> float | None:
    """Peak memory bandwidth in GB/s (10^9 bytes per second).

    bandwidth = bus_width_bits / 8 * memory_clock_hz * 2 (double data rate), where the clock is
    NVML's maximum memory clock (nvmlDeviceGetMaxClockInfo(NVML_CLOCK_MEM)). With the clocks NVML
    reports this matches the vendors' figures: RTX 4090 384 bit * 10501 MHz -> 1008 GB/s,
    H100 SXM 5120 bit * 2619 MHz -> 3352 GB/s, V100 4096 bit * 877 MHz -> 898 GB/s.
    """
    if not bus_width_bits or not memory_clock_mhz:
        return None
    return round(bus_width_bits / 8 * memory_clock_mhz * 1e6 * 2 / 1e9, 1)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _error_code(err: BaseException) -> int | None:
    value = getattr(err, "value", None)
    return value if isinstance(value, int) else None


def _describe(err: BaseException) -> str:
    try:
        text = str(err)
    except Exception:  # pynvml's __str__ may itself call into NVML
        text = ""
    code = _error_code(err)
    name = type(err).__name__
    if code is not None:
        return f"{name} ({code}){': ' + text if text else ''}"
    return f"{name}: {text}" if text else name


def format_cuda_version(value: int | None) -> str | None:
    """NVML's CUDA driver version integer (12040) as text ("12.4")."""
    if not value or value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


class _Reader:
    """Calls NVML functions, turning NVMLError into None (NotSupported silently)."""

    def __init__(self, nvml: ModuleType, errors: dict[str, str]):
        self.nvml = nvml
        self.errors = errors
        self.error_class: type[BaseException] = getattr(nvml, "NVMLError", Exception)

    def call(self, field: str, func_name: str, *args: Any) -> Any:
        func: Callable[..., Any] | None = getattr(self.nvml, func_name, None)
        if func is None:
            self.errors[field] = f"{func_name} is not in this pynvml"
            return None
        try:
            return func(*args)
        except self.error_class as err:
            if _error_code(err) != NVML_ERROR_NOT_SUPPORTED:
                self.errors[field] = _describe(err)
            return None
        except Exception as err:  # e.g. NVMLLibraryMismatchError, ctypes errors
            self.errors[field] = _describe(err)
            return None


def _process_name(pid: int) -> str | None:
    try:
        import psutil

        return psutil.Process(pid).name()
    except Exception:
        return None


def _processes(reader: _Reader, handle: Any) -> tuple[list[GpuProcess], int | None]:
    """Other processes' VRAM use: compute and graphics processes, this process excluded."""
    own_pid = os.getpid()
    found: dict[int, GpuProcess] = {}
    answered = False
    for kind, func in (
        ("compute", "nvmlDeviceGetComputeRunningProcesses"),
        ("graphics", "nvmlDeviceGetGraphicsRunningProcesses"),
    ):
        procs = reader.call(f"{kind}_processes", func, handle)
        if procs is None:
            continue
        answered = True
        for proc in procs:
            pid = int(getattr(proc, "pid", -1))
            if pid == own_pid or pid < 0:
                continue
            used = getattr(proc, "usedGpuMemory", None)
            used = int(used) if isinstance(used, int) and used >= 0 else None
            if pid in found:  # a process can be both compute and graphics: count it once
                prev = found[pid]
                if used is not None and (prev.used_bytes is None or used > prev.used_bytes):
                    prev.used_bytes = used
                continue
            found[pid] = GpuProcess(pid=pid, name=_process_name(pid), used_bytes=used, kind=kind)
    if not answered:
        return [], None
    listed = sorted(found.values(), key=lambda p: -(p.used_bytes or 0))
    return listed, sum(p.used_bytes or 0 for p in listed)


def _gpu(nvml: ModuleType, index: int, status: NvmlStatus) -> GpuInfo:
    gpu = GpuInfo(
        vendor="nvidia",
        name=None,
        index=index,
        source="nvml",
        driver_version=status.driver_version,
        cuda_driver_version=status.cuda_driver_version,
    )
    reader = _Reader(nvml, gpu.errors)
    handle = reader.call("handle", "nvmlDeviceGetHandleByIndex", index)
    if handle is None:
        gpu.errors.setdefault("handle", "NVML gave no handle for this GPU")
        return gpu
    name = reader.call("name", "nvmlDeviceGetName", handle)
    gpu.name = _text(name) if name is not None else None
    uuid = reader.call("uuid", "nvmlDeviceGetUUID", handle)
    gpu.uuid = _text(uuid) if uuid is not None else None
    pci = reader.call("pci_bus_id", "nvmlDeviceGetPciInfo", handle)
    if pci is not None and getattr(pci, "busId", None) is not None:
        gpu.pci_bus_id = _text(pci.busId)

    memory = reader.call("memory", "nvmlDeviceGetMemoryInfo", handle)
    if memory is not None:
        gpu.vram_total_bytes = int(memory.total)
        gpu.vram_free_bytes = int(memory.free)
        gpu.vram_used_bytes = int(memory.used)

    capability = reader.call("compute_capability", "nvmlDeviceGetCudaComputeCapability", handle)
    if capability is not None:
        gpu.compute_capability = f"{capability[0]}.{capability[1]}"

    gpu.memory_bus_width_bits = reader.call("memory_bus_width", "nvmlDeviceGetMemoryBusWidth",
                                            handle)
    gpu.memory_clock_mhz = reader.call("memory_clock", "nvmlDeviceGetMaxClockInfo", handle,
                                       getattr(nvml, "NVML_CLOCK_MEM", NVML_CLOCK_MEM))
    gpu.memory_bandwidth_gbps = theoretical_bandwidth_gbps(gpu.memory_bus_width_bits,
                                                           gpu.memory_clock_mhz)

    limit_mw = reader.call("power_limit", "nvmlDeviceGetEnforcedPowerLimit", handle)
    if limit_mw is None:  # older GPUs: fall back to the management limit
        gpu.errors.pop("power_limit", None)
        limit_mw = reader.call("power_limit", "nvmlDeviceGetPowerManagementLimit", handle)
    gpu.power_limit_watts = limit_mw / 1000 if limit_mw else None
    usage_mw = reader.call("power_draw", "nvmlDeviceGetPowerUsage", handle)
    gpu.power_draw_watts = usage_mw / 1000 if usage_mw is not None else None

    pcie = {
        "generation": reader.call("pcie", "nvmlDeviceGetCurrPcieLinkGeneration", handle),
        "width": reader.call("pcie", "nvmlDeviceGetCurrPcieLinkWidth", handle),
        "max_generation": reader.call("pcie", "nvmlDeviceGetMaxPcieLinkGeneration", handle),
        "max_width": reader.call("pcie", "nvmlDeviceGetMaxPcieLinkWidth", handle),
    }
    gpu.pcie = pcie if any(v is not None for v in pcie.values()) else None

    gpu.processes, gpu.other_processes_vram_bytes = _processes(reader, handle)
    return gpu


def _status(nvml: ModuleType) -> NvmlStatus:
    status = NvmlStatus(available=True)
    errors: dict[str, str] = {}
    reader = _Reader(nvml, errors)
    driver = reader.call("driver_version", "nvmlSystemGetDriverVersion")
    status.driver_version = _text(driver) if driver is not None else None
    cuda = reader.call("cuda_driver_version", "nvmlSystemGetCudaDriverVersion_v2")
    if cuda is None:
        errors.pop("cuda_driver_version", None)
        cuda = reader.call("cuda_driver_version", "nvmlSystemGetCudaDriverVersion")
    status.cuda_driver_version = format_cuda_version(cuda)
    return status


def detect_nvidia(nvml_module: ModuleType | None = None) -> NvidiaReport:
    """List NVIDIA GPUs through NVML; never raises.

    ``nvml_module`` replaces ``import pynvml`` (tests pass a fake module with the same API).
    """
    if nvml_module is None:
        try:
            import pynvml
        except Exception as err:
            return NvidiaReport(NvmlStatus(
                available=False,
                reason=f"the pynvml module (pip package nvidia-ml-py) cannot be imported: {err}",
            ))
        nvml_module = pynvml
    nvml = nvml_module
    error_class: type[BaseException] = getattr(nvml, "NVMLError", Exception)
    try:
        nvml.nvmlInit()
    except error_class as err:
        code = _error_code(err)
        reason = _INIT_REASONS.get(code or -1, f"NVML could not start: {_describe(err)}")
        return NvidiaReport(NvmlStatus(available=False, reason=reason, error_code=code))
    except Exception as err:
        return NvidiaReport(NvmlStatus(available=False,
                                       reason=f"NVML could not start: {_describe(err)}"))
    try:
        status = _status(nvml)
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except Exception as err:
            status.reason = f"NVML could not count the GPUs: {_describe(err)}"
            status.error_code = _error_code(err)
            return NvidiaReport(status)
        gpus = []
        for index in range(count):
            try:
                gpus.append(_gpu(nvml, index, status))
            except Exception as err:  # a GPU that breaks in an unforeseen way is still listed
                gpus.append(GpuInfo(vendor="nvidia", name=None, index=index, source="nvml",
                                    errors={"gpu": _describe(err)}))
        if count == 0:
            status.reason = "NVML works but lists no GPU"
        return NvidiaReport(status, gpus)
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
