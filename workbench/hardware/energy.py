"""Energy of one local answer: measured where the hardware tells, estimated (and labelled) where
it does not.

- NVIDIA GPUs: NVML's energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ since the
  driver loaded, Volta and newer). It only moves every 20-100 ms, so windows shorter than
  ``min_counter_window_s`` (or a counter that did not move) use power sampling instead:
  ``nvmlDeviceGetPowerUsage`` (mW) every ``sample_interval_s``, integrated with the trapezoid
  rule - what CodeCarbon and Zeus do.
- CPUs: RAPL's package counters (``/sys/class/powercap/intel-rapl:N/energy_uj``, µJ, wrapping at
  ``max_energy_range_uj``; AMD CPUs expose the same interface), when readable (often root-only).
- Otherwise an estimate: CPU time the worker process used x an assumed power per busy core
  (``cpu_watts_per_core``, a setting). Always labelled "estimate".

Every reading covers whole devices (all processes on that GPU / CPU package), not just the
model; the note says so.

These are measurements (hardware probes); what the energy costs is priced in workbench.costs.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import psutil

RAPL_ROOT = Path("/sys/class/powercap")
DEFAULT_CPU_WATTS_PER_CORE = 8.0


@dataclass(frozen=True)
class EnergyReading:
    joules: float | None
    method: str  # nvml-counter | nvml-power-sampling | rapl | cpu-time-estimate | a + b
    estimated: bool
    note: str
    seconds: float = 0.0
    parts: tuple[EnergyReading, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"joules": self.joules, "method": self.method, "estimated": self.estimated,
                "note": self.note, "seconds": self.seconds,
                "parts": [p.to_dict() for p in self.parts]}


class EnergyMeter(Protocol):
    def start(self) -> None: ...

    def stop(self) -> EnergyReading: ...


# -- NVML -------------------------------------------------------------------------------------
class NvmlMeter:
    """Energy of NVIDIA GPUs over a window: counter deltas, or integrated power samples."""

    def __init__(self, nvml: ModuleType | None = None, indices: Sequence[int] | None = None, *,
                 sample_interval_s: float = 0.05, min_counter_window_s: float = 1.0) -> None:
        self._nvml = nvml
        self.indices = list(indices) if indices is not None else None
        self.sample_interval_s = sample_interval_s
        self.min_counter_window_s = min_counter_window_s
        self._handles: list[tuple[int, Any]] = []
        self._start_mj: dict[int, int | None] = {}
        self._samples: dict[int, list[tuple[float, float]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._initialized = False

    @property
    def nvml(self) -> ModuleType:
        if self._nvml is None:
            import pynvml

            self._nvml = pynvml
        return self._nvml

    def available(self) -> bool:
        try:
            self._init()
        except Exception:
            return False
        return bool(self._handles)

    def _init(self) -> None:
        if self._initialized:
            return
        nvml = self.nvml
        nvml.nvmlInit()
        self._initialized = True
        count = nvml.nvmlDeviceGetCount()
        indices = self.indices if self.indices is not None else range(count)
        self._handles = [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in indices]

    def _counter(self, handle: Any) -> int | None:
        try:
            return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        except Exception:  # NotSupported (pre-Volta), no permission, ...
            return None

    def _power_w(self, handle: Any) -> float | None:
        try:
            return float(self.nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0
        except Exception:
            return None

    def _sample(self) -> None:
        now = time.perf_counter()
        for index, handle in self._handles:
            watts = self._power_w(handle)
            if watts is not None:
                self._samples[index].append((now, watts))

    def _run(self) -> None:
        while not self._stop.wait(self.sample_interval_s):
            self._sample()

    def start(self) -> None:
        self._init()
        self._samples = {i: [] for i, _ in self._handles}
        self._start_mj = {i: self._counter(h) for i, h in self._handles}
        self._t0 = time.perf_counter()
        self._sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nvml-power", daemon=True)
        self._thread.start()

    def stop(self) -> EnergyReading:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._sample()
        seconds = time.perf_counter() - self._t0
        parts: list[EnergyReading] = []
        for index, handle in self._handles:
            parts.append(self._reading(index, handle, seconds))
        with contextlib.suppress(Exception):
            self.nvml.nvmlShutdown()
        self._initialized = False
        return combine(parts, seconds)

    def _reading(self, index: int, handle: Any, seconds: float) -> EnergyReading:
        start, end = self._start_mj.get(index), self._counter(handle)
        where = f"GPU {index} (whole device)"
        if (start is not None and end is not None and end > start
                and seconds >= self.min_counter_window_s):
            return EnergyReading((end - start) / 1000.0, "nvml-counter", False,
                                 f"{where}: NVML energy counter", seconds)
        samples = self._samples.get(index, [])
        joules = integrate(samples)
        if joules is not None:
            why = ("window shorter than the counter's resolution"
                   if seconds < self.min_counter_window_s else "energy counter unavailable")
            return EnergyReading(joules, "nvml-power-sampling", False,
                                 f"{where}: NVML power sampled every "
                                 f"{self.sample_interval_s * 1000:.0f} ms ({why})", seconds)
        return EnergyReading(None, "nvml", False, f"{where}: NVML gave no energy or power",
                             seconds)


def integrate(samples: Sequence[tuple[float, float]]) -> float | None:
    """Trapezoid integral of (time s, power W) samples in joules; None for < 2 samples."""
    if len(samples) < 2:
        return None
    total = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(samples):
        total += (t1 - t0) * (p0 + p1) / 2
    return total


# -- RAPL -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RaplDomain:
    name: str
    energy_file: Path
    max_range_uj: int | None


def rapl_domains(root: Path = RAPL_ROOT) -> list[RaplDomain]:
    """The readable top-level RAPL package domains (intel-rapl:N; not sub-zones N:M)."""
    domains: list[RaplDomain] = []
    if not root.is_dir():
        return domains
    for zone in sorted(root.glob("intel-rapl:*")):
        if zone.name.count(":") != 1:
            continue
        energy = zone / "energy_uj"
        try:
            int(energy.read_text().strip())
        except (OSError, ValueError):
            continue  # missing or root-only (the usual case since CVE-2020-8694)
        try:
            max_range = int((zone / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError):
            max_range = None
        try:
            name = (zone / "name").read_text().strip()
        except OSError:
            name = zone.name
        domains.append(RaplDomain(name, energy, max_range))
    return domains


class RaplMeter:
    """CPU package energy from RAPL counters (µJ), wraparound handled."""

    def __init__(self, root: Path = RAPL_ROOT) -> None:
        self.domains = rapl_domains(root)
        self._start: dict[str, int] = {}
        self._t0 = 0.0

    def available(self) -> bool:
        return bool(self.domains)

    def _read(self, domain: RaplDomain) -> int:
        return int(domain.energy_file.read_text().strip())

    def start(self) -> None:
        self._start = {d.name: self._read(d) for d in self.domains}
        self._t0 = time.perf_counter()

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._t0
        total_uj = 0
        for domain in self.domains:
            delta = self._read(domain) - self._start[domain.name]
            if delta < 0 and domain.max_range_uj:
                delta += domain.max_range_uj + 1
            total_uj += max(delta, 0)
        names = ", ".join(d.name for d in self.domains)
        return EnergyReading(total_uj / 1e6, "rapl", False,
                             f"CPU packages ({names}): RAPL counters (whole package)", seconds)


# -- estimate ---------------------------------------------------------------------------------
class CpuTimeEstimate:
    """Estimated CPU energy: CPU seconds used by a process tree x assumed watts per busy core."""

    def __init__(self, pid: int | None, watts_per_core: float = DEFAULT_CPU_WATTS_PER_CORE) -> None:
        self.pid = pid
        self.watts_per_core = watts_per_core
        self._start = 0.0
        self._t0 = 0.0

    def _cpu_seconds(self) -> float:
        if self.pid is None:
            return 0.0
        try:
            process = psutil.Process(self.pid)
            total = sum(process.cpu_times()[:2])
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += sum(child.cpu_times()[:2])
        except psutil.Error:
            return 0.0
        return total

    def start(self) -> None:
        self._start = self._cpu_seconds()
        self._t0 = time.perf_counter()

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._t0
        if self.pid is None:
            return EnergyReading(None, "cpu-time-estimate", True,
                                 "no process to measure", seconds)
        cpu_s = max(self._cpu_seconds() - self._start, 0.0)
        return EnergyReading(cpu_s * self.watts_per_core, "cpu-time-estimate", True,
                             f"estimate: {cpu_s:.2f} CPU-seconds x {self.watts_per_core:g} W "
                             "per busy core (assumed; no RAPL access)", seconds)


# -- together ---------------------------------------------------------------------------------
def combine(parts: Sequence[EnergyReading], seconds: float) -> EnergyReading:
    """One reading from several (GPU + CPU): sums known joules; estimated if any part is."""
    known = [p for p in parts if p.joules is not None]
    if not parts:
        return EnergyReading(None, "none", False, "nothing to measure", seconds)
    joules = sum(p.joules for p in known) if known else None  # type: ignore[misc]
    methods = "+".join(dict.fromkeys(p.method for p in parts))
    note = "; ".join(p.note for p in parts)
    if known and len(known) < len(parts):
        note += " (incomplete: a device gave no reading)"
    return EnergyReading(joules, methods, any(p.estimated for p in parts), note, seconds,
                         tuple(parts))


class CompositeMeter:
    """Starts and stops several meters together."""

    def __init__(self, meters: Sequence[Any]) -> None:
        self.meters = list(meters)
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        for meter in self.meters:
            meter.start()

    def stop(self) -> EnergyReading:
        readings = []
        for meter in self.meters:
            try:
                readings.append(meter.stop())
            except Exception as err:  # a device that fails mid-window: say so, keep the rest
                readings.append(EnergyReading(None, type(meter).__name__, False,
                                              f"{type(meter).__name__} failed: {err}"))
        return combine(readings, time.perf_counter() - self._t0)


def local_energy_meter(*, pid: int | None, uses_gpu: bool, cpu_watts_per_core: float | None = None,
                       nvml: ModuleType | None = None, rapl_root: Path = RAPL_ROOT) -> (
        CompositeMeter):
    """The best meter for a local answer: NVML (GPU in use) + RAPL or the CPU estimate."""
    meters: list[Any] = []
    if uses_gpu:
        gpu = NvmlMeter(nvml)
        if gpu.available():
            meters.append(gpu)
    rapl = RaplMeter(rapl_root)
    if rapl.available():
        meters.append(rapl)
    else:
        meters.append(CpuTimeEstimate(pid, cpu_watts_per_core or DEFAULT_CPU_WATTS_PER_CORE))
    return CompositeMeter(meters)
