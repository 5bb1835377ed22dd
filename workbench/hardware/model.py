"""The data a hardware detection returns: plain dataclasses with ``to_dict()`` (JSON-ready).

Every field a machine may not report is ``None`` rather than a guess; a value that is an
estimate is named in the ``estimated`` list of the object that holds it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (nested dataclasses become dicts)."""
        plain: dict[str, Any] = _plain(self)
        return plain


@dataclass
class CpuInfo(JsonMixin):
    """The CPU: model, cores and the SIMD features llama.cpp's CPU kernels care about.

    ``flags`` maps a feature (``avx2``, ``avx512f``, ``amx_int8``, ``neon``, ...) to True/False,
    or None where the platform gave no way to tell (``flags_source`` is then None too).
    """

    model: str | None
    architecture: str
    physical_cores: int | None
    logical_cores: int | None
    flags: dict[str, bool | None]
    flags_source: str | None


@dataclass
class RamInfo(JsonMixin):
    """System memory and swap, in bytes."""

    total_bytes: int | None
    available_bytes: int | None
    swap_total_bytes: int | None = None
    swap_used_bytes: int | None = None


@dataclass
class GpuProcess(JsonMixin):
    """Another process holding memory on a GPU (``used_bytes`` None: the driver won't say)."""

    pid: int
    name: str | None
    used_bytes: int | None
    kind: str  # "compute" or "graphics"


@dataclass
class GpuInfo(JsonMixin):
    """One GPU, whatever the vendor. Fields a GPU or driver does not report are None."""

    vendor: str  # "nvidia", "amd", "apple"
    name: str | None
    index: int
    source: str  # "nvml", "amdsmi", "sysfs", "sysctl"
    uuid: str | None = None
    pci_bus_id: str | None = None
    vram_total_bytes: int | None = None
    vram_free_bytes: int | None = None
    vram_used_bytes: int | None = None
    memory_bandwidth_gbps: float | None = None
    memory_bus_width_bits: int | None = None
    memory_clock_mhz: int | None = None
    unified_memory: bool = False
    compute_capability: str | None = None
    arch: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    power_limit_watts: float | None = None
    power_draw_watts: float | None = None
    pcie: dict[str, int | None] | None = None
    processes: list[GpuProcess] = field(default_factory=list)
    other_processes_vram_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    estimated: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    llama_usable: bool | None = None
    reinstall_command: str | None = None


@dataclass
class NvmlStatus(JsonMixin):
    """Whether NVML answered; ``reason`` says why not (no driver, no library, ...)."""

    available: bool
    reason: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    error_code: int | None = None


@dataclass
class NvidiaReport(JsonMixin):
    """What ``detect_nvidia`` found: NVML's status and the GPUs it listed."""

    nvml: NvmlStatus
    gpus: list[GpuInfo] = field(default_factory=list)


@dataclass
class PciDisplayDevice(JsonMixin):
    """A display/3D controller seen on the PCI bus (sysfs), whatever its driver."""

    slot: str
    vendor_id: str
    device_id: str
    vendor: str | None
    driver: str | None


@dataclass
class LlamaBuild(JsonMixin):
    """What the installed llama-cpp-python build can use (from the probe in a child process).

    ``installed`` False: the package is absent. ``probe_ok`` False: the probe could not run or
    crashed; ``error`` says why. ``devices`` are ggml backend devices (name, description, type
    cpu/gpu/igpu/accel, memory, backend). ``features`` maps a backend (CPU, CUDA...) to its
    build features from ``llama_print_system_info()``.
    """

    installed: bool
    version: str | None = None
    probe_ok: bool = False
    gpu_offload: bool | None = None
    devices: list[dict[str, Any]] = field(default_factory=list)
    features: dict[str, dict[str, str]] = field(default_factory=dict)
    system_info: str | None = None
    ggml_version: str | None = None
    ggml_commit: str | None = None
    error: str | None = None
    cached: bool = False
    notes: list[str] = field(default_factory=list)

    def gpu_backends(self) -> set[str]:
        """Backend families of the build's GPU devices ("cuda", "rocm", "metal", "vulkan"...)."""
        return {
            backend_family(d.get("backend") or d.get("name") or "")
            for d in self.devices
            if d.get("type") in ("gpu", "igpu")
        }


def backend_family(name: str) -> str:
    """A ggml backend or device name (``CUDA0``, ``ROCm``, ``MTL0``, ``Vulkan1``) -> its family."""
    lowered = name.lower()
    for prefix, family in (
        ("cuda", "cuda"),
        ("rocm", "rocm"),
        ("hip", "rocm"),
        ("musa", "musa"),
        ("mtl", "metal"),
        ("metal", "metal"),
        ("vulkan", "vulkan"),
        ("sycl", "sycl"),
        ("opencl", "opencl"),
        ("rpc", "rpc"),
        ("cpu", "cpu"),
        ("blas", "blas"),
    ):
        if lowered.startswith(prefix):
            return family
    return lowered.rstrip("0123456789") or "unknown"


@dataclass
class OsInfo(JsonMixin):
    """The operating system and the Python that runs Workbench."""

    system: str
    release: str
    version: str
    machine: str
    python_version: str
    python_executable: str
    rosetta: bool | None = None


@dataclass
class HardwareReport(JsonMixin):
    """Everything ``detect()`` found. ``gpus`` lists every vendor's GPUs, NVIDIA first."""

    os: OsInfo
    cpu: CpuInfo
    ram: RamInfo
    gpus: list[GpuInfo]
    nvml: NvmlStatus
    llama: LlamaBuild
    pci_display_devices: list[PciDisplayDevice] = field(default_factory=list)
    amd_source: str | None = None
    elapsed_seconds: float | None = None
