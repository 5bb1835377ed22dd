"""Speed preview: prompt and generation tok/s of a model on this machine, before downloading it.

Works from a GGUF header (a local file, a remote one read with range requests, or a catalog
entry's synthetic header). Methods, best first, each named in ``SpeedPrediction.method``:

- ``measured``: ``workbench bench`` stored a run of this very model on this machine;
- ``calibrated``: the CPU was calibrated on synthetic models of the same architecture, widths
  and quant type (``calibration.py``): time per token = fixed cost + seconds-per-byte x the
  bytes the model's layers read per token;
- ``profiled``: the model's own compute graph priced by this machine's kernel profile
  (``cost_model.py``, ``machine_profile.py``): measured once per machine in seconds, for the
  weight types the model uses; no calibration of its architecture;
- ``scaled``: a calibration of the same quant type at other widths (or a related architecture),
  scaled by the bytes (generation) and parameters (prompt) a token needs;
- ``bandwidth``: no calibration: bytes read per token / measured memory bandwidth. On a GPU
  this is the method (a fraction of the GPU's bandwidth, see ``GPU_BANDWIDTH_EFFICIENCY``).

A calibrated CPU prediction is never faster than reading the bytes at the measured copy
bandwidth (``bound`` says which limit applies). The calibration itself runs at realistic
footprints (the layers plus the real output matrix, far beyond the CPU caches), so it already
contains the memory system's behaviour. Speeds are for an empty context (llama-bench's tg/pp
tests), with Workbench's default load settings.

LoRA adapters: each token also reads the tensors of the adapters applied at a non-zero scale
(llama.cpp leaves zero-scale ones out of the graph), on the device of the tensor each one
changes (``adapter_read_bytes``); ``predict(adapter_bytes=(gpu, cpu))`` adds them to the bytes
each device reads. A stored benchmark measured the model without them, so with adapters the
prediction is computed, not ``measured``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.gguf import AdapterSummary, GGUFHeader
from workbench.hardware.model import GpuInfo
from workbench.planner import calibration as cal
from workbench.planner.weight_profile import WeightProfile as WeightProfile  # re-exported
from workbench.planner.weight_profile import weight_profile as weight_profile  # re-exported

# llama.cpp's generation on GPUs reaches about half to three quarters of the memory's
# theoretical bandwidth (llama-bench tg128 against spec bandwidth in llama.cpp's community
# benchmark threads for Apple Silicon and CUDA). An assumption, not a measurement of this GPU.
GPU_BANDWIDTH_EFFICIENCY = 0.6
# Without a calibration the CPU is assumed to stream weights at the measured copy bandwidth
# (this 2-core VM: 11 GB/s of weights against 13 GB/s copy while compute-bound).
CPU_BANDWIDTH_EFFICIENCY = 0.85
METHODS = ("measured", "calibrated", "profiled", "scaled", "bandwidth")


@dataclass(frozen=True)
class SpeedPrediction:
    """Predicted tok/s (None: not predicted) and how the figure was obtained."""

    tg_tokens_per_s: float | None
    pp_tokens_per_s: float | None
    method: str
    device: str  # cpu | gpu | partial
    bound: str | None  # compute | bandwidth (generation), None when measured
    basis: str
    gpu_layers: int = 0
    calibration_key: str | None = None
    measured_run_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """What the figures are: measured, predicted, upper bound (the CPU's memory bandwidth
        alone) or rough (an assumed share of a GPU's); present.plans.SPEED_WORDS words them."""
        if self.method == "measured":
            return "measured"
        if self.method in ("calibrated", "profiled", "scaled"):
            return "predicted"
        return "upper bound" if self.device == "cpu" else "rough"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind}



class Predictor:
    """Predicts many models on one machine, reusing calibrations and the bandwidth figure."""

    def __init__(self, *, calibrate_missing: bool = False, reference_only: bool = False,
                 bandwidth_gbps: float | None = None,
                 connection: sqlite3.Connection | None = None, use_stored_runs: bool = True,
                 progress: cal.Progress | None = None, profile_missing: bool = False,
                 threads: int | None = None) -> None:
        """``calibrate_missing``: measure a calibration when none fits (seconds to a minute);
        ``reference_only``: then only one per quant type (the reference model's), not one per
        model width (what ``recommend`` uses over a whole catalog). ``profile_missing``:
        measure the machine profile's kernels a model needs and the stored profile lacks (a
        few seconds per weight type, once per machine); without it a stored profile is used
        where it covers the model. ``threads``: as the model will run (default: one per
        physical core, as loads do)."""
        self.calibrate_missing = calibrate_missing
        self.profile_missing = profile_missing
        self.threads = threads
        self.profile_error: str | None = None  # why the last profile measurement failed
        self.reference_only = reference_only
        self._bandwidth = bandwidth_gbps
        self.connection = connection
        self.use_stored_runs = use_stored_runs
        self.progress = progress
        self._machine: dict[str, Any] | None = None
        self._calibrations: dict[str, cal.Calibration] | None = None
        self._runs: list[dict[str, Any]] | None = None

    # -- inputs -----------------------------------------------------------------------------
    @property
    def machine(self) -> dict[str, Any]:
        if self._machine is None:
            self._machine = cal.machine_identity()
        return self._machine

    def bandwidth_gbps(self) -> float:
        if self._bandwidth is None:
            self._bandwidth = cal.machine_bandwidth()
        return self._bandwidth

    def calibrations(self) -> dict[str, cal.Calibration]:
        if self._calibrations is None:
            version = cal.llama_version()
            self._calibrations = {k: c for k, c in cal.cached_calibrations().items()
                                  if c.machine == self.machine and c.llama_version == version}
        return self._calibrations

    def find_calibration(self, profile: WeightProfile) -> tuple[cal.Calibration | None, bool]:
        """(calibration, exact): same arch and widths first, then same quant elsewhere."""
        widths = cal.widths_of(profile)
        same_quant = [c for c in self.calibrations().values() if c.quant == profile.quant]
        for c in same_quant:
            if c.arch == profile.arch and c.widths == widths:
                return c, True
        for c in same_quant:  # same widths, other vocabulary: exact up to the output matrix
            if c.arch == profile.arch and {k: v for k, v in c.widths.items() if k != "n_vocab"} \
                    == {k: v for k, v in widths.items() if k != "n_vocab"}:
                return c, True
        family = cal.SYNTH_FAMILY.get(profile.arch, profile.arch)
        for archs in ((profile.arch,), (family,), None):
            pool = [c for c in same_quant if archs is None or c.arch in archs]
            if pool:  # the widest one: closest to the sizes people run
                return max(pool, key=lambda c: c.widths.get("n_embd", 0)), False
        if not self.calibrate_missing:
            return None, False
        plan = cal.reference_plan(profile.quant) if self.reference_only else \
            cal.plan_for(profile)
        result = cal.calibrate(plan, progress=self.progress)
        self.calibrations()[result.key] = result
        exact = result.arch == profile.arch and result.widths == cal.widths_of(profile)
        return result, exact

    def stored_runs(self) -> list[dict[str, Any]]:
        if self._runs is None:
            self._runs = []
            if self.use_stored_runs:
                from workbench.engine import bench_runs
                from workbench.store import db

                try:
                    conn = self.connection or db.connect()
                    self._runs = bench_runs.recent(conn, limit=500)
                except sqlite3.Error:
                    self._runs = []
        return self._runs

    def measured_run(self, profile: WeightProfile, model_path: str | None,
                     gpu_layers: int) -> dict[str, Any] | None:
        """The newest stored bench run of this model on this machine with these GPU layers."""
        for run in self.stored_runs():
            machine = run.get("machine") or {}
            if machine.get("cpu") != self.machine.get("cpu") or machine.get(
                    "logical_cores") != self.machine.get("logical_cores"):
                continue
            if int((run.get("settings") or {}).get("gpu_layers") or 0) != gpu_layers:
                continue
            if run.get("tg_tokens_per_s") is None:
                continue
            same_file = model_path is not None and bool(run.get("model_path")) and \
                os.path.realpath(str(run["model_path"])) == os.path.realpath(model_path)
            n_params = run.get("n_params") or 0
            same_model = (
                run.get("architecture") == profile.arch
                and str(run.get("quant") or "").upper() == profile.quant
                and n_params and abs(n_params - profile.n_params) <= max(1e-4 * n_params, 1024)
            )
            if same_file or same_model:
                return run
        return None

    # -- prediction -------------------------------------------------------------------------
    def predict(self, profile: WeightProfile, *, gpu: GpuInfo | None = None,
                n_gpu_layers: int = 0, model_path: str | None = None,
                adapter_bytes: tuple[int, int] = (0, 0),
                headers: GGUFHeader | Sequence[GGUFHeader] | None = None) -> SpeedPrediction:
        """Predicted speeds of ``profile`` with ``n_gpu_layers`` on ``gpu`` (0: CPU only).

        ``n_gpu_layers`` counts like llama.cpp: the output layer is offloaded first, then the
        last repeating layers; ``n_layer + 1`` (or -1) is everything. ``adapter_bytes``: the
        (GPU, CPU) bytes of LoRA adapter tensors each token reads too (``adapter_read_bytes``).
        ``headers``: the model's GGUF header(s), for the ``profiled`` method (its graph).
        """
        n_all = profile.n_layer + 1
        ngl = n_all if n_gpu_layers < 0 else min(n_gpu_layers, n_all)
        if gpu is None:
            ngl = 0
        adapter_gpu, adapter_cpu = adapter_bytes if ngl else (0, sum(adapter_bytes))
        device = "cpu" if ngl == 0 else ("gpu" if ngl == n_all else "partial")
        run = (self.measured_run(profile, model_path, ngl)
               if self.use_stored_runs and not any(adapter_bytes) else None)
        if run is not None:
            return SpeedPrediction(
                tg_tokens_per_s=run["tg_tokens_per_s"], pp_tokens_per_s=run["pp_tokens_per_s"],
                method="measured", device=device, bound=None, gpu_layers=ngl,
                basis=f"measured by workbench bench on {run['created_at']} "
                      f"(tg{run['tg_tokens']}, pp{run['pp_tokens']}, {run['repetitions']} reps)",
                measured_run_id=run["id"])
        gpu_repeating = max(0, ngl - 1)
        cpu_layers = profile.n_layer - gpu_repeating
        cpu_bytes = sum(profile.layer_bytes[:cpu_layers])
        gpu_bytes = sum(profile.layer_bytes[cpu_layers:])
        out_on_gpu = ngl >= 1
        details: dict[str, Any] = {"bytes_per_token": profile.bytes_per_token
                                   + adapter_gpu + adapter_cpu,
                                   "cpu_layers": cpu_layers, "gpu_layers": ngl}
        if adapter_gpu or adapter_cpu:
            details["adapter_bytes_per_token"] = {"gpu": adapter_gpu, "cpu": adapter_cpu}
        t_gpu = 0.0
        if ngl:
            bw = gpu.memory_bandwidth_gbps if gpu else None
            if not bw:
                return SpeedPrediction(None, None, "bandwidth", device, None,
                                       "the GPU's memory bandwidth is unknown", gpu_layers=ngl)
            gpu_read = gpu_bytes + (profile.output_bytes if out_on_gpu else 0) + adapter_gpu
            t_gpu = gpu_read / (bw * 1e9 * GPU_BANDWIDTH_EFFICIENCY)
            details["gpu_bandwidth_gbps"] = bw
        cpu_out = 0 if out_on_gpu else profile.output_bytes
        cpu_bytes += adapter_cpu  # read with the layers they change
        cpu_read = cpu_bytes + cpu_out
        t_copy = cpu_read / (self.bandwidth_gbps() * 1e9)  # the physical floor
        details["cpu_bandwidth_gbps"] = round(self.bandwidth_gbps(), 2)
        calib, exact = self.find_calibration(profile) if device != "gpu" else (None, False)
        if device == "cpu" and headers is not None and not (calib is not None and exact):
            profiled = self.profiled(headers, adapter_cpu, details)
            if profiled is not None:
                return profiled
        pp = None
        if calib is not None:
            method = "calibrated" if exact else "scaled"
            # fixed cost without the output matrix + seconds per byte x what the CPU reads
            t_cal = calib.tg_overhead_s + calib.tg_s_per_byte * cpu_read
            if exact:  # same widths and vocabulary: the measured fixed cost as is
                t_cal = max(calib.tg_seconds(cpu_bytes, cpu_out), calib.tg_s_per_byte * cpu_read)
            bound = "bandwidth" if t_copy > t_cal else "compute"
            t_cpu = max(t_cal, t_copy)
            if device == "cpu":
                t_pp = max(calib.pp_fixed_s, 0.0) + calib.pp_s_per_param * sum(
                    profile.layer_params)
                pp = 1.0 / t_pp if t_pp > 0 else None
            where = f"{calib.preset} {calib.quant}" + ("" if exact else ", scaled by bytes")
            basis = (f"CPU calibrated on synthetic {where} ({len(calib.points)} layer counts)"
                     if method == "calibrated" else f"scaled from the calibration of {where}")
            details["calibration"] = {"preset": calib.preset, "arch": calib.arch,
                                      "tg_s_per_byte": calib.tg_s_per_byte,
                                      "tg_fixed_s": calib.tg_fixed_s}
        else:
            method, bound = "bandwidth", "bandwidth"
            t_cpu = t_copy / CPU_BANDWIDTH_EFFICIENCY
            basis = (f"no calibration for {profile.quant}: bytes per token / "
                     f"{self.bandwidth_gbps():.1f} GB/s memory bandwidth")
        if ngl:
            label = f"GPU bandwidth-bound: {GPU_BANDWIDTH_EFFICIENCY:.0%} of " \
                    f"{details['gpu_bandwidth_gbps']:.0f} GB/s"
            basis = label if device == "gpu" else f"{label}; CPU layers: {basis}"
            if device == "gpu":
                method, bound = "bandwidth", "bandwidth"
        if adapter_gpu or adapter_cpu:
            mib = (adapter_gpu + adapter_cpu) / (1 << 20)
            basis += f"; LoRA adapters read {mib:.1f} MiB more per token"
        t = t_cpu + t_gpu
        return SpeedPrediction(
            tg_tokens_per_s=1.0 / t if t > 0 else None, pp_tokens_per_s=pp, method=method,
            device=device, bound=bound, basis=basis, gpu_layers=ngl,
            calibration_key=calib.key if calib else None, details=details)


    def profiled(self, headers: GGUFHeader | Sequence[GGUFHeader], adapter_cpu: int,
                 details: dict[str, Any]) -> SpeedPrediction | None:
        """The ``profiled`` prediction of a CPU-only model, or None when there is no profile
        that covers its weight types (and none is to be measured, or measuring failed)."""
        from workbench.planner import cost_model, machine_profile
        from workbench.planner.hparams import model_params
        from workbench.planner.weights import REPACK_TYPES, cpu_arch

        try:
            params = model_params(headers)
        except (ValueError, KeyError, TypeError):
            return None
        repack, repack_note = repack_expected(params)
        arch = cpu_arch()
        repack_types = REPACK_TYPES[arch] if repack else frozenset()
        needed = cost_model.needed_kernels(params, repack_types, arch)
        threads = self.threads or _default_threads()
        found = machine_profile.cached_profile(threads, needed)
        if found is None and self.profile_missing:
            try:
                found = machine_profile.measure_profile(threads, needed)
            except machine_profile.ProfileFailed as err:
                self.profile_error = str(err)
        if found is None:
            return None
        try:
            tg = cost_model.generation_cost(params, found, repack_types=repack_types,
                                            repack_arch=arch)
            pp = cost_model.prompt_cost(params, found, repack_types=repack_types,
                                        repack_arch=arch)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError,
                ZeroDivisionError):  # a layout the graph cannot follow: the older methods
            return None
        adapters = profile_adapter_s(found, adapter_cpu)
        t_tg = tg.seconds + adapters
        details["profile"] = {"threads": threads, "repack": repack,
                              "tg_ms": {k: round(v * 1e3, 3) for k, v in tg.parts.items()},
                              "pp512_ms": {k: round(v * 1e3, 2) for k, v in pp.parts.items()},
                              "unmeasured_kernels": list(tg.missing)}
        basis = (f"this model's llama.cpp graph priced by this CPU's kernel profile "
                 f"({threads} threads, repacking {'on' if repack else 'off'})")
        if repack_note:
            basis += f"; {repack_note}"
        if tg.missing:
            basis += f"; {', '.join(tg.missing)} priced as F16"
        if adapter_cpu:
            basis += f"; LoRA adapters read {adapter_cpu / (1 << 20):.1f} MiB more per token"
        weights = tg.parts.get("weights", 0.0) + tg.parts.get("output", 0.0)
        return SpeedPrediction(
            tg_tokens_per_s=1.0 / t_tg if t_tg > 0 else None,
            pp_tokens_per_s=pp.tokens_per_s or None, method="profiled", device="cpu",
            bound="bandwidth" if weights > 0.5 * tg.seconds else "compute", basis=basis,
            details=details)


def _default_threads() -> int:
    from workbench.engine.settings import physical_cores

    return physical_cores()


def profile_adapter_s(found: Any, adapter_cpu: int) -> float:
    """Seconds per token reading LoRA adapter tensors (F16 or F32 matrices) on the CPU."""
    f16 = found.rates("F16", False)
    return adapter_cpu * f16.gemv_s_per_byte if f16 is not None and adapter_cpu else 0.0


def repack_expected(params: Any) -> tuple[bool, str | None]:
    """Will a load repack this model's weights? Only where every repackable type in it was
    probed safe here already (the preview never runs the probe); else priced without."""
    from workbench.engine.repack_probe import REPACKABLE, known_verdict

    types = {t.type_name for t in params.tensors
             if not t.name.startswith("token_embd.") and t.type_name in REPACKABLE}
    unknown = []
    for name in sorted(types):
        verdict = known_verdict(name)
        if verdict is None:
            unknown.append(name)
        elif not verdict.safe:
            return False, None
    if unknown:
        return False, (f"repacking of {', '.join(unknown)} not probed on this CPU yet: priced "
                       "without it")
    return bool(types), None


def adapter_read_bytes(header: GGUFHeader | Sequence[GGUFHeader],
                       loras: Sequence[tuple[AdapterSummary, float]], *, n_gpu_layers: int,
                       backend: str) -> tuple[int, int]:
    """(GPU, CPU) bytes of LoRA adapter tensors each generated token reads: those of the
    adapters at a non-zero scale, where the memory planner places them."""
    from workbench.planner.hparams import model_params
    from workbench.planner.weights import place_adapters

    applied = [adapter for adapter, scale in loras if scale]
    if not applied:
        return 0, 0
    return place_adapters(model_params(header), applied, n_gpu_layers=n_gpu_layers,
                          backend=backend)


def predict_speed(header: GGUFHeader | Sequence[GGUFHeader], *, gpu: GpuInfo | None = None,
                  n_gpu_layers: int = 0, model_path: str | None = None,
                  calibrate_missing: bool = False,
                  adapter_bytes: tuple[int, int] = (0, 0), profile_missing: bool = False,
                  threads: int | None = None) -> SpeedPrediction:
    """One-shot prediction for a header (see ``Predictor`` for many models)."""
    return Predictor(calibrate_missing=calibrate_missing, profile_missing=profile_missing,
                     threads=threads).predict(
        weight_profile(header), gpu=gpu, n_gpu_layers=n_gpu_layers, model_path=model_path,
        adapter_bytes=adapter_bytes, headers=header)


def speed_preview(source: str, *, quant: str | None = None, gpu: GpuInfo | None = None,
                  n_gpu_layers: int = 0, calibrate_missing: bool = False,
                  token: str | None = None,
                  profile_missing: bool = False) -> tuple[WeightProfile, SpeedPrediction]:
    """Predict a local GGUF file, a GGUF URL (header read with range requests) or a catalog
    entry id (``quant`` picks its file; Q4_K_M or the first one by default)."""
    from workbench.errors import BadInput
    from workbench.gguf import read_split_headers
    from workbench.planner.catalog import load_catalog, synthetic_header

    model_path = None
    if source.startswith(("http://", "https://")) or os.path.exists(source):
        headers: Any = read_split_headers(source, token=token)
        model_path = None if source.startswith("http") else os.path.abspath(source)
    else:
        entry = load_catalog().get(source)
        chosen = entry.file(quant or "Q4_K_M") or (None if quant else entry.files[0])
        if chosen is None:
            raise BadInput(f"{source} has no {quant} file; it has "
                           f"{', '.join(f.quant for f in entry.files)}")
        headers = synthetic_header(entry, chosen)
    profile = weight_profile(headers)
    prediction = Predictor(calibrate_missing=calibrate_missing,
                           profile_missing=profile_missing).predict(
        profile, gpu=gpu, n_gpu_layers=n_gpu_layers, model_path=model_path, headers=headers)
    return profile, prediction
