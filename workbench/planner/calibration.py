"""Calibrate the speed predictor on this machine: a short measurement on synthetic models.

A model's time per generated token on the CPU is close to ``fixed + seconds_per_byte x bytes of
the repeating layers`` (every weight is read once a token); its time per prompt token is close to
``fixed + seconds_per_parameter x layer parameters``. Both lines are fitted from two synthetic
models of the same architecture, width and quant type that differ only in their layer count:
one is built (random weights, quantised by llama.cpp), the other is cut from it by dropping
layers (no second quantisation), and both are measured with the worker's llama-bench-style
``bench``, interleaved, taking each model's fastest repetition (other processes only ever slow
a run down; llama.cpp's spinning threads suffer a lot from a busy neighbour). The vocabulary
stays at the real size where the budget allows, because the output matrix it implies keeps the
layers' weights out of the CPU caches as in the real model.

Results are cached per (machine, llama.cpp version, architecture, quant type, widths) in the
data directory. ``measure_bandwidth`` is the numpy copy test used for the bandwidth bound.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import paths
from workbench.errors import BadInput, RuntimeFailure
from workbench.store.state_file import read_json_state, write_json_atomic

if TYPE_CHECKING:
    from workbench.planner.weight_profile import WeightProfile

CALIBRATION_VERSION = 1
BUDGET_PARAMS = 650_000_000  # the built synthetic model stays below this (seconds to build)
MIN_CALIBRATION_VOCAB = 32768
LOW_LAYERS = 2
MAX_HIGH_LAYERS = 8
PP_TOKENS = 512
TG_TOKENS = 32
REPETITIONS = 2
ROUNDS = 2  # low, high, low, high: drift and load changes hit both models alike
EXTRA_ROUNDS = 3  # more measurements while the figures look disturbed
# Architectures the synthesiser cannot build, measured on the closest one it can.
SYNTH_FAMILY = {"qwen3": "qwen2", "qwen3moe": "qwen2moe", "gemma2": "gemma3", "olmo2": "llama",
                "mistral3": "llama"}
# When no preset of the family is affordable (MoE presets are large): a dense relative.
FALLBACK_ARCH = {"qwen2moe": "qwen2", "qwen2": "qwen2", "gemma3": "gemma3", "phi3": "phi3"}
_lock = threading.Lock()

Progress = Callable[[str], None]


# -- data ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationPoint:
    """One measured synthetic model: what a token reads and how long a token took."""

    layers: int
    layer_bytes: int
    layer_params: int
    output_bytes: int
    tg_s: float  # seconds per generated token (fastest repetition)
    pp_s: float  # seconds per prompt token (fastest repetition)
    tg_samples: tuple[float, ...] = ()
    pp_samples: tuple[float, ...] = ()


@dataclass(frozen=True)
class Calibration:
    """The fitted lines for one (machine, llama.cpp, arch, quant, widths) and how they were made."""

    key: str
    machine: dict[str, Any]
    llama_version: str
    arch: str
    quant: str
    preset: str
    widths: dict[str, int]
    points: tuple[CalibrationPoint, ...]
    tg_fixed_s: float
    tg_s_per_byte: float
    pp_fixed_s: float
    pp_s_per_param: float
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    seconds: float = 0.0

    def tg_seconds(self, layer_bytes: float, output_bytes: float) -> float:
        """Seconds per token for a model of these widths with this much to read."""
        out_cal = self.points[0].output_bytes if self.points else 0
        fixed = self.tg_fixed_s + self.tg_s_per_byte * (output_bytes - out_cal)
        return max(fixed, 0.0) + self.tg_s_per_byte * layer_bytes

    @property
    def tg_overhead_s(self) -> float:
        """The fixed cost without the output matrix (for models of other widths)."""
        out_cal = self.points[0].output_bytes if self.points else 0
        return max(self.tg_fixed_s - self.tg_s_per_byte * out_cal, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        data = dict(data)
        data["points"] = tuple(CalibrationPoint(**{**p, "tg_samples": tuple(p["tg_samples"]),
                                                   "pp_samples": tuple(p["pp_samples"])})
                               for p in data["points"])
        return cls(**data)


@dataclass(frozen=True)
class CalibrationPlan:
    """Which synthetic models to build and measure for a target model."""

    preset: str
    arch: str
    quant: str
    vocab_size: int
    layers: tuple[int, ...]  # the first is built, the others are cut from it
    exact: bool  # same architecture and widths as the target

    @property
    def built_layers(self) -> int:
        return max(self.layers)


# -- machine identity and cache ----------------------------------------------------------------
def machine_identity() -> dict[str, Any]:
    """What makes a calibration valid: CPU, cores, memory size, OS."""
    from workbench.hardware.cpu import detect_cpu, detect_ram

    cpu = detect_cpu()
    ram = detect_ram()
    return {"cpu": cpu.model, "physical_cores": cpu.physical_cores,
            "logical_cores": cpu.logical_cores, "ram_bytes": ram.total_bytes,
            "machine": platform.machine(), "system": platform.system()}


def llama_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return "unknown"


def widths_of(profile: WeightProfile) -> dict[str, int]:
    return {"n_embd": profile.n_embd, "n_ff": profile.n_ff, "n_head": profile.n_head,
            "n_head_kv": profile.n_head_kv, "head_dim": profile.head_dim,
            "n_vocab": profile.n_vocab, "n_expert": profile.n_expert,
            "n_expert_used": profile.n_expert_used}


def calibration_key(arch: str, quant: str, widths: dict[str, int],
                    machine: dict[str, Any] | None = None, version: str | None = None) -> str:
    raw = json.dumps([CALIBRATION_VERSION, machine or machine_identity(),
                      version or llama_version(), arch, quant.upper(), sorted(widths.items())],
                     sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def cache_path() -> Path:
    return paths.data_dir() / "speed-calibration.json"


def cached_calibrations() -> dict[str, Calibration]:
    try:
        raw = read_json_state(cache_path(), default={})  # a broken file is set aside
    except OSError:  # cannot be read now: nothing is known to be cached
        return {}
    out = {}
    calibrations = raw.get("calibrations") if isinstance(raw, dict) else None
    for key, value in (calibrations if isinstance(calibrations, dict) else {}).items():
        with contextlib.suppress(TypeError, KeyError):
            out[key] = Calibration.from_dict(value)
    return out


def store(calibration: Calibration) -> None:
    with _lock:
        path = cache_path()
        raw = read_json_state(path, default={})  # a transient read error keeps the others
        if not isinstance(raw, dict):
            raw = {}
        raw.setdefault("calibrations", {})[calibration.key] = calibration.to_dict()
        write_json_atomic(path, raw)


def find_cached(arch: str, quant: str, *, machine: dict[str, Any] | None = None
                ) -> list[Calibration]:
    """This machine's calibrations of ``arch``/``quant`` (any widths), newest first."""
    machine = machine or machine_identity()
    version = llama_version()
    found = [c for c in cached_calibrations().values()
             if c.arch == arch and c.quant == quant.upper() and c.machine == machine
             and c.llama_version == version]
    return sorted(found, key=lambda c: -c.created_at)


# -- planning ----------------------------------------------------------------------------------
def plan_for(profile: WeightProfile, *, budget_params: int = BUDGET_PARAMS) -> CalibrationPlan:
    """The synthetic models that calibrate ``profile``: its own widths if a preset has them and
    the build fits the budget, else the widest affordable preset of the closest architecture."""
    from workbench.synth import PRESETS

    quant = profile.quant.upper()
    family = SYNTH_FAMILY.get(profile.arch, profile.arch)
    same = [s for s in PRESETS.values() if not s.tiny and s.arch == profile.arch and
            (s.n_embd, s.n_ff, s.n_head, s.n_head_kv, s.head_dim, s.n_expert) ==
            (profile.n_embd, profile.n_ff, profile.n_head, profile.n_head_kv, profile.head_dim,
             profile.n_expert)]
    for shape in same:
        plan = _affordable(shape.name, profile.arch, quant, profile.n_vocab, budget_params, True)
        if plan is not None:
            return plan
    archs = dict.fromkeys([family, FALLBACK_ARCH.get(family, "llama"), "llama"])
    for arch in archs:
        for shape in sorted((s for s in PRESETS.values() if not s.tiny and s.arch == arch),
                            key=lambda s: -s.n_embd):
            plan = _affordable(shape.name, shape.arch, quant, shape.n_vocab, budget_params,
                               False)
            if plan is not None:
                return plan
    raise BadInput(f"no synthetic model of a {profile.arch} architecture is small enough to "
                   "calibrate within the budget")


REFERENCE_PRESET = "llama-3.2-1b"


def reference_plan(quant: str, *, budget_params: int = BUDGET_PARAMS) -> CalibrationPlan:
    """One calibration per quant type that every model can be scaled from (Llama-3.2-1B's
    widths: wide enough to be representative, cheap enough to build in seconds)."""
    from workbench.synth import PRESETS

    shape = PRESETS[REFERENCE_PRESET]
    plan = _affordable(shape.name, shape.arch, quant.upper(), shape.n_vocab, budget_params,
                       False)
    if plan is None:
        raise BadInput(f"the reference model does not fit the calibration budget for {quant}")
    return plan


def _model_params(preset: str, layers: int, vocab: int) -> int:
    from workbench.synth import count_parameters, plan_tensors

    return count_parameters(plan_tensors(None, preset, layers, vocab_size=vocab))


def _affordable(preset: str, arch: str, quant: str, vocab: int, budget: int,
                exact: bool) -> CalibrationPlan | None:
    """Largest useful layer count within the budget, shrinking the vocabulary if needed."""
    while True:
        one, two = _model_params(preset, 1, vocab), _model_params(preset, 2, vocab)
        per_layer = two - one
        base = one - per_layer
        # enough layers that they outweigh the output matrix (K-quant output is ~1.3x denser)
        wanted = min(MAX_HIGH_LAYERS, max(4, LOW_LAYERS + -(-int(1.3 * base) // per_layer)))
        for high in range(wanted, LOW_LAYERS + 1, -1):
            if base + high * per_layer <= budget:
                return CalibrationPlan(preset, arch, quant, vocab, (high, LOW_LAYERS), exact)
        if vocab <= MIN_CALIBRATION_VOCAB:
            return None
        vocab = max(MIN_CALIBRATION_VOCAB, vocab // 2)


# -- building ------------------------------------------------------------------------------------
def truncate_layers(src: Path, dst: Path, n_layers: int) -> Path:
    """Copy a GGUF keeping only its first ``n_layers`` blocks (no re-quantisation)."""
    import gguf

    reader = gguf.GGUFReader(str(src))
    arch_field = reader.fields.get(gguf.Keys.General.ARCHITECTURE)
    if arch_field is None:
        raise BadInput(f"{src} has no general.architecture")
    arch = str(arch_field.contents())
    count_key = f"{arch}.block_count"
    old = int(reader.fields[count_key].contents())
    if not 1 <= n_layers <= old:
        raise BadInput(f"cannot keep {n_layers} of {old} layers")
    writer = gguf.GGUFWriter(str(dst), arch)
    for name, fld in reader.fields.items():
        if name == gguf.Keys.General.ARCHITECTURE or name.startswith("GGUF."):
            continue
        value = fld.contents()
        vtype = fld.types[0]
        sub = fld.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        if name == count_key:
            value = n_layers
        elif (name.startswith(f"{arch}.") and isinstance(value, list) and len(value) == old
              and sub not in (gguf.GGUFValueType.STRING, gguf.GGUFValueType.ARRAY)):
            value = value[:n_layers]  # a per-layer array
        writer.add_key_value(name, value, vtype, sub_type=sub)
    kept = [t for t in reader.tensors
            if not t.name.startswith("blk.") or int(t.name.split(".")[1]) < n_layers]
    for t in kept:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in kept:
        writer.write_tensor_data(t.data)
    writer.close()
    return dst


def build_models(plan: CalibrationPlan, directory: Path,
                 progress: Progress | None = None) -> dict[int, Path]:
    """Build the plan's synthetic model once and cut the smaller ones from it."""
    from workbench.synth import synthesize

    directory.mkdir(parents=True, exist_ok=True)
    high = plan.built_layers
    stem = f"{plan.preset}-v{plan.vocab_size}-{plan.quant.lower()}"
    built = directory / f"{stem}-{high}l.gguf"
    if progress:
        progress(f"building a {high}-layer {plan.preset} {plan.quant} model")
    synthesize(built, preset=plan.preset, layers=high, quant=plan.quant,
               vocab_size=plan.vocab_size)
    out = {high: built}
    for layers in plan.layers:
        if layers != high:
            out[layers] = truncate_layers(built, directory / f"{stem}-{layers}l.gguf", layers)
    return out


# -- measuring and fitting ---------------------------------------------------------------------
def measure(models: dict[int, Path], *, pp_tokens: int = PP_TOKENS, tg_tokens: int = TG_TOKENS,
            repetitions: int = REPETITIONS, rounds: int = ROUNDS,
            progress: Progress | None = None) -> tuple[list[CalibrationPoint], dict[str, Any]]:
    """Bench every model in the worker (interleaved rounds); returns points and the settings."""
    from workbench.engine.client import LocalEngine
    from workbench.engine.defaults import resolve_load_settings
    from workbench.engine.settings import LoadSettings
    from workbench.gguf import read_header
    from workbench.planner.weight_profile import weight_profile

    tg: dict[int, list[float]] = {n: [] for n in models}
    pp: dict[int, list[float]] = {n: [] for n in models}
    settings: dict[str, Any] = {}
    ctx = max(512, pp_tokens + tg_tokens + 64)
    load_before = _load()
    with LocalEngine() as engine:
        for r in range(rounds):
            for layers in sorted(models):
                if progress:
                    progress(f"measuring {layers} layers (round {r + 1}/{rounds})")
                info = engine.load(*resolve_load_settings(
                    LoadSettings(model_path=str(models[layers]), n_ctx=ctx)))
                raw = engine.bench(pp_tokens, tg_tokens, repetitions)
                tg[layers] += [1.0 / x for x in raw.tg_samples if x > 0]
                pp[layers] += [1.0 / x for x in raw.pp_samples if x > 0]
                used = engine.settings
                settings = {"threads": info.threads,
                            "repack": info.repack,
                            "flash_attn": used.flash_attn if used else None,
                            "pp_tokens": pp_tokens, "tg_tokens": tg_tokens,
                            "repetitions": repetitions * rounds}
    settings["statistic"] = "fastest repetition"
    settings["load_average"] = [load_before, _load()]
    points = []
    for layers, path in sorted(models.items()):
        prof = weight_profile(read_header(path))
        if not tg[layers] or not pp[layers]:
            raise RuntimeFailure(f"the calibration run of {path.name} returned no samples")
        points.append(CalibrationPoint(
            layers=layers, layer_bytes=sum(prof.layer_bytes),
            layer_params=sum(prof.layer_params), output_bytes=prof.output_bytes,
            tg_s=min(tg[layers]), pp_s=min(pp[layers]),
            tg_samples=tuple(round(x, 7) for x in tg[layers]),
            pp_samples=tuple(round(x, 8) for x in pp[layers])))
    return points, settings


def settled(points: Sequence[CalibrationPoint], tolerance: float = 0.1) -> bool:
    """Two repetitions of every model agree with its fastest within ``tolerance`` and more
    layers take longer: nobody else's work is in the figures."""
    for p in points:
        for samples in (p.tg_samples, p.pp_samples):
            ordered = sorted(samples)
            if len(ordered) < 2 or ordered[1] > ordered[0] * (1 + tolerance):
                return False
    by_layers = sorted(points, key=lambda p: p.layers)
    return all(a.tg_s < b.tg_s and a.pp_s < b.pp_s for a, b in itertools.pairwise(by_layers))


def merge_points(old: Sequence[CalibrationPoint], new: Sequence[CalibrationPoint]
           ) -> list[CalibrationPoint]:
    by_layers = {p.layers: p for p in old}
    out = []
    for p in new:
        q = by_layers[p.layers]
        tg, pp = q.tg_samples + p.tg_samples, q.pp_samples + p.pp_samples
        out.append(dataclasses.replace(p, tg_s=min(tg), pp_s=min(pp), tg_samples=tg,
                                       pp_samples=pp))
    return out


def _load() -> float | None:
    """The 1-minute load average (other processes slow llama.cpp's spinning threads a lot)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``; ``RuntimeFailure`` if the slope is not positive."""
    if len(xs) < 2 or len(set(xs)) < 2:
        raise BadInput("a line needs at least two different x values")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if b <= 0:
        raise RuntimeFailure("the calibration measurements are too noisy (more layers did not "
                             "take longer); run it again on a quieter machine")
    return my - b * mx, b


def fit(points: Sequence[CalibrationPoint]) -> tuple[float, float, float, float]:
    """(tg fixed s, tg s/byte, pp fixed s, pp s/param) from the measured points."""
    tg_a, tg_b = fit_line([p.layer_bytes for p in points], [p.tg_s for p in points])
    pp_a, pp_b = fit_line([p.layer_params for p in points], [p.pp_s for p in points])
    return tg_a, tg_b, pp_a, pp_b


def calibrate_plan(plan: CalibrationPlan, *, progress: Progress | None = None,
                   directory: Path | None = None, keep_models: bool = False) -> Calibration:
    """Build, measure and fit one plan (no cache lookup); the models are deleted afterwards."""
    from workbench.gguf import read_header
    from workbench.planner.weight_profile import weight_profile

    started = time.monotonic()
    machine = machine_identity()
    root = directory or (paths.cache_dir() / "calibration")
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cal-", dir=root))
    try:
        models = build_models(plan, work, progress)
        points, settings = measure(models, progress=progress)
        for _ in range(EXTRA_ROUNDS):  # a busy neighbour spoilt it: measure more, keep the best
            if settled(points):
                break
            more, settings = measure(models, progress=progress)
            points = merge_points(points, more)
        widths = widths_of(weight_profile(read_header(models[plan.built_layers])))
    finally:
        if not keep_models:
            for f in work.glob("*"):
                f.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                work.rmdir()
    tg_a, tg_b, pp_a, pp_b = fit(points)
    key = calibration_key(plan.arch, plan.quant, widths, machine)
    return Calibration(
        key=key, machine=machine, llama_version=llama_version(), arch=plan.arch,
        quant=plan.quant, preset=plan.preset, widths=widths, points=tuple(points),
        tg_fixed_s=tg_a, tg_s_per_byte=tg_b, pp_fixed_s=pp_a, pp_s_per_param=pp_b,
        settings={**settings, "exact": plan.exact, "layers": list(plan.layers)},
        created_at=time.time(), seconds=round(time.monotonic() - started, 1))


def calibrate(plan: CalibrationPlan, *, refresh: bool = False,
              progress: Progress | None = None) -> Calibration:
    """The cached calibration for ``plan`` on this machine, measuring it when missing."""
    from workbench.planner.synthetic import preset_header
    from workbench.planner.weight_profile import weight_profile

    widths = widths_of(weight_profile(preset_header(plan.preset, layers=1, quant="Q8_0",
                                                    vocab_size=plan.vocab_size)))
    widths["n_vocab"] = plan.vocab_size
    key = calibration_key(plan.arch, plan.quant, widths)
    if not refresh:
        hit = cached_calibrations().get(key)
        if hit is not None:
            return hit
    result = calibrate_plan(plan, progress=progress)
    store(result)
    return result


# -- memory bandwidth --------------------------------------------------------------------------
def measure_bandwidth(size_bytes: int = 256 << 20, repeats: int = 5) -> float:
    """Copy bandwidth in GB/s (bytes read + bytes written per second; best of ``repeats``)."""
    import numpy as np

    src = np.ones(size_bytes // 8, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page first
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - started)
    return 2 * src.nbytes / best / 1e9


def machine_bandwidth(*, refresh: bool = False) -> float:
    """This machine's copy bandwidth, measured once and remembered in the data dir."""
    path = paths.data_dir() / "memory-bandwidth.json"
    machine = machine_identity()
    if not refresh:
        try:
            raw = read_json_state(path, default={})
            if isinstance(raw, dict) and raw.get("machine") == machine:
                return float(raw["gbps"])
        except (OSError, KeyError, TypeError, ValueError):
            pass
    gbps = measure_bandwidth()
    with contextlib.suppress(OSError):  # remembered if it can be; measured again if not
        write_json_atomic(path, {"machine": machine, "gbps": gbps, "measured_at": time.time()})
    return gbps
