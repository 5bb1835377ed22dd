"""A fake ``pynvml`` module: NVML's boundary, for machines without an NVIDIA GPU.

Same function names, constants and error classes as nvidia-ml-py's pynvml (NVMLError whose
``NVMLError(code)`` returns the matching subclass, NVMLError_NotSupported and friends, the real
NVML_ERROR_* codes). GPUs are described by ``FakeGpu``; any NVML function can be made to raise
a given error code for one GPU (``FakeGpu.fail``).
"""

from __future__ import annotations

import string
import types
from dataclasses import dataclass, field
from typing import Any, ClassVar

MIB = 1024**2

# The real codes (nvml.h / pynvml).
ERROR_CODES = {
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_INVALID_ARGUMENT": 2,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_ALREADY_INITIALIZED": 5,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_INSUFFICIENT_SIZE": 7,
    "NVML_ERROR_INSUFFICIENT_POWER": 8,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_TIMEOUT": 10,
    "NVML_ERROR_IRQ_ISSUE": 11,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_CORRUPTED_INFOROM": 14,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_RESET_REQUIRED": 16,
    "NVML_ERROR_OPERATING_SYSTEM": 17,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": 18,
    "NVML_ERROR_IN_USE": 19,
    "NVML_ERROR_MEMORY": 20,
    "NVML_ERROR_NO_DATA": 21,
    "NVML_ERROR_UNKNOWN": 999,
}
NOT_SUPPORTED = ERROR_CODES["NVML_ERROR_NOT_SUPPORTED"]
NO_PERMISSION = ERROR_CODES["NVML_ERROR_NO_PERMISSION"]
DRIVER_NOT_LOADED = ERROR_CODES["NVML_ERROR_DRIVER_NOT_LOADED"]
LIBRARY_NOT_FOUND = ERROR_CODES["NVML_ERROR_LIBRARY_NOT_FOUND"]
GPU_IS_LOST = ERROR_CODES["NVML_ERROR_GPU_IS_LOST"]
UNKNOWN = ERROR_CODES["NVML_ERROR_UNKNOWN"]


def class_name(constant: str) -> str:
    """NVML_ERROR_NOT_SUPPORTED -> NVMLError_NotSupported (pynvml's naming)."""
    words = string.capwords(constant.replace("NVML_ERROR_", ""), "_").replace("_", "")
    return "NVMLError_" + words


@dataclass
class FakeGpu:
    name: str
    total_bytes: int
    used_bytes: int
    bus_width_bits: int
    mem_clock_mhz: int
    compute_capability: tuple[int, int]
    power_limit_mw: int
    power_usage_mw: int
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    bus_id: str = "00000000:01:00.0"
    pcie: tuple[int, int, int, int] = (4, 16, 4, 16)  # current gen, width, max gen, max width
    compute_procs: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes)
    graphics_procs: list[tuple[int, int | None]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # NVML function name -> error code
    bytes_strings: bool = False  # old pynvml returned bytes


def rtx_4090(**changes: Any) -> FakeGpu:
    """RTX 4090 as NVML reports it: 384-bit bus, 10501 MHz max memory clock, 450 W."""
    values: dict[str, Any] = dict(
        name="NVIDIA GeForce RTX 4090", total_bytes=24564 * MIB, used_bytes=1200 * MIB,
        bus_width_bits=384, mem_clock_mhz=10501, compute_capability=(8, 9),
        power_limit_mw=450_000, power_usage_mw=35_500,
        uuid="GPU-4090aaaa-0000-0000-0000-000000000001", bus_id="00000000:01:00.0")
    values.update(changes)
    return FakeGpu(**values)


def h100_sxm(**changes: Any) -> FakeGpu:
    """H100 SXM as NVML reports it: 5120-bit HBM3, 2619 MHz max memory clock, 700 W."""
    values: dict[str, Any] = dict(
        name="NVIDIA H100 80GB HBM3", total_bytes=81559 * MIB, used_bytes=560 * MIB,
        bus_width_bits=5120, mem_clock_mhz=2619, compute_capability=(9, 0),
        power_limit_mw=700_000, power_usage_mw=71_000, pcie=(5, 16, 5, 16),
        uuid="GPU-h100bbbb-0000-0000-0000-000000000002", bus_id="00000000:41:00.0")
    values.update(changes)
    return FakeGpu(**values)


def make_fake_pynvml(
    gpus: list[FakeGpu],
    *,
    init_error: int | None = None,
    count_error: int | None = None,
    driver_version: str = "550.54.15",
    cuda_version: int = 12040,
) -> types.ModuleType:
    """A module object standing in for ``pynvml``; ``module.log`` records init/shutdown."""
    mod = types.ModuleType("pynvml")
    mod.log = []  # type: ignore[attr-defined]
    for constant, value in ERROR_CODES.items():
        setattr(mod, constant, value)
    mod.NVML_SUCCESS = 0  # type: ignore[attr-defined]
    mod.NVML_CLOCK_MEM = 2  # type: ignore[attr-defined]

    class NVMLError(Exception):
        _valClassMapping: ClassVar[dict[int, type]] = {}

        def __new__(cls, value: int) -> NVMLError:
            if cls is NVMLError:
                cls = NVMLError._valClassMapping.get(value, cls)
            obj = Exception.__new__(cls)
            obj.value = value  # type: ignore[attr-defined]
            return obj

        def __init__(self, value: int) -> None:
            super().__init__(value)

        def __str__(self) -> str:
            return f"NVML error {self.value}"  # type: ignore[attr-defined]

    mod.NVMLError = NVMLError  # type: ignore[attr-defined]
    for constant, value in ERROR_CODES.items():
        subclass = type(class_name(constant), (NVMLError,), {})
        NVMLError._valClassMapping[value] = subclass
        setattr(mod, class_name(constant), subclass)

    state = {"initialized": False}

    def check_init() -> None:
        if not state["initialized"]:
            raise NVMLError(ERROR_CODES["NVML_ERROR_UNINITIALIZED"])

    def text(gpu: FakeGpu, value: str) -> str | bytes:
        return value.encode() if gpu.bytes_strings else value

    def nvmlInit() -> None:
        mod.log.append("init")  # type: ignore[attr-defined]
        if init_error is not None:
            raise NVMLError(init_error)
        state["initialized"] = True

    def nvmlShutdown() -> None:
        mod.log.append("shutdown")  # type: ignore[attr-defined]
        check_init()
        state["initialized"] = False

    def nvmlSystemGetDriverVersion() -> str:
        check_init()
        return driver_version

    def nvmlSystemGetCudaDriverVersion_v2() -> int:
        check_init()
        return cuda_version

    def nvmlSystemGetCudaDriverVersion() -> int:
        check_init()
        return cuda_version

    def nvmlDeviceGetCount() -> int:
        check_init()
        if count_error is not None:
            raise NVMLError(count_error)
        return len(gpus)

    def nvmlDeviceGetHandleByIndex(index: int) -> FakeGpu:
        check_init()
        if not 0 <= index < len(gpus):
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        gpu = gpus[index]
        if "nvmlDeviceGetHandleByIndex" in gpu.fail:
            raise NVMLError(gpu.fail["nvmlDeviceGetHandleByIndex"])
        return gpu

    def device_function(name: str, getter: Any) -> None:
        def function(handle: FakeGpu, *args: Any) -> Any:
            check_init()
            if not isinstance(handle, FakeGpu):
                raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
            if name in handle.fail:
                raise NVMLError(handle.fail[name])
            return getter(handle, *args)

        function.__name__ = name
        setattr(mod, name, function)

    def procs(entries: list[tuple[int, int | None]]) -> list[types.SimpleNamespace]:
        return [types.SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in entries]

    def max_clock(gpu: FakeGpu, clock_type: int) -> int:
        if clock_type != mod.NVML_CLOCK_MEM:  # type: ignore[attr-defined]
            return 2520
        return gpu.mem_clock_mhz

    device_function("nvmlDeviceGetName", lambda g: text(g, g.name))
    device_function("nvmlDeviceGetUUID", lambda g: text(g, g.uuid))
    device_function("nvmlDeviceGetPciInfo",
                    lambda g: types.SimpleNamespace(busId=text(g, g.bus_id)))
    device_function("nvmlDeviceGetMemoryInfo", lambda g: types.SimpleNamespace(
        total=g.total_bytes, free=g.total_bytes - g.used_bytes, used=g.used_bytes))
    device_function("nvmlDeviceGetCudaComputeCapability", lambda g: g.compute_capability)
    device_function("nvmlDeviceGetMemoryBusWidth", lambda g: g.bus_width_bits)
    device_function("nvmlDeviceGetMaxClockInfo", max_clock)
    device_function("nvmlDeviceGetEnforcedPowerLimit", lambda g: g.power_limit_mw)
    device_function("nvmlDeviceGetPowerManagementLimit", lambda g: g.power_limit_mw)
    device_function("nvmlDeviceGetPowerUsage", lambda g: g.power_usage_mw)
    device_function("nvmlDeviceGetCurrPcieLinkGeneration", lambda g: g.pcie[0])
    device_function("nvmlDeviceGetCurrPcieLinkWidth", lambda g: g.pcie[1])
    device_function("nvmlDeviceGetMaxPcieLinkGeneration", lambda g: g.pcie[2])
    device_function("nvmlDeviceGetMaxPcieLinkWidth", lambda g: g.pcie[3])
    device_function("nvmlDeviceGetComputeRunningProcesses", lambda g: procs(g.compute_procs))
    device_function("nvmlDeviceGetGraphicsRunningProcesses", lambda g: procs(g.graphics_procs))

    for func in (nvmlInit, nvmlShutdown, nvmlSystemGetDriverVersion,
                 nvmlSystemGetCudaDriverVersion, nvmlSystemGetCudaDriverVersion_v2,
                 nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex):
        setattr(mod, func.__name__, func)
    return mod
