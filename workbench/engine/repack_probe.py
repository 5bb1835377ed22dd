"""Is llama.cpp's CPU weight repacking safe on this machine? Ask a throwaway worker.

Repacking (llama.cpp's "extra buffer types": AVX-512/AMX layouts of quantized weights) is worth
~30% generation speed on CPUs that support it, but on CPUs that advertise AMX without permitting
its tile registers (VMs do this) it dies with SIGILL/SIGSEGV the first time a batched prompt is
processed. So, once per (CPU, llama.cpp version, quant type), a throwaway worker loads a small
synthetic model of that quant type with repacking on and processes a batched prompt. A crash
switches repacking off for that key; the verdict and its reason are remembered in the data dir.

The probe never refuses a model: when no probe can be built or run (any failure but the crash it
looks for), repacking is off and the reason says why. That verdict is remembered for
``RETRY_AFTER_S`` only, so a passing cause (a full disk) does not keep repacking off for good,
and a lasting one does not cost every load a failed probe.
"""

from __future__ import annotations

import contextlib
import hashlib
import platform
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from workbench import paths
from workbench.engine.client import LocalEngine
from workbench.engine.errors import WorkerCrashed
from workbench.engine.settings import LoadSettings, Sampling

RETRY_AFTER_S = 3600.0
# Real layer widths, smallest first: Qwen2.5-0.5B's (896) fit 32-value blocks, Llama-3.2-1B's
# (2048) also fit 256-value blocks (K-quants, IQ4_XS).
PROBE_PRESETS = ("qwen2.5-0.5b", "llama-3.2-1b")
PROBE_PROMPT = " ".join(["The quick brown fox jumps over the lazy dog."] * 12)
# Quant types llama.cpp has repacked CPU layouts for; others never use extra buffers.
REPACKABLE = ("Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "Q2_K",
              "Q3_K", "MXFP4", "Q1_0")


@dataclass(frozen=True)
class RepackVerdict:
    safe: bool
    reason: str
    key: str
    quant: str
    probed_at: float
    retry_after: float | None = None  # when no probe could run: probe again after this time

    @property
    def stale(self) -> bool:
        return self.retry_after is not None and time.time() >= self.retry_after


def _cpu_identity() -> str:
    from workbench.hardware.cpu import detect_cpu

    cpu = detect_cpu()
    flags = sorted(name for name, present in (cpu.flags or {}).items() if present)
    return f"{cpu.model}|{platform.machine()}|{','.join(flags)}"


def probe_key(quant: str) -> str:
    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        version = "unknown"
    raw = f"{_cpu_identity()}|llama-cpp-python {version}|{quant}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _verdicts_path() -> Path:
    return paths.data_dir() / "repack-probe.json"


def _load_verdicts() -> dict[str, dict[str, object]]:
    """The stored verdicts (``workbench.store.state_file``: a file that does not parse is set
    aside; one that cannot be read now counts as none, so the probe runs again)."""
    from workbench.store.state_file import read_json_state

    try:
        data = read_json_state(_verdicts_path(), default={})
    except OSError:
        return {}
    return data if isinstance(data, dict) else {}


def _save_verdict(verdict: RepackVerdict) -> None:
    """Add ``verdict`` (atomic, unique temp name: the GUI and a CLI run never collide)."""
    from workbench.store.state_file import write_json_atomic

    verdicts = _load_verdicts()
    verdicts[verdict.key] = asdict(verdict)
    write_json_atomic(_verdicts_path(), verdicts, indent=2)


def family(quant: str) -> str:
    """Q4_K_M -> Q4_K: repacking depends on the tensor type, not on the mix's name."""
    upper = quant.upper()
    for suffix in ("_M", "_S", "_L", "_XL", "_MOE"):
        if upper.endswith(suffix) and upper[:-len(suffix)] in REPACKABLE:
            return upper[: -len(suffix)]
    return upper


def probe_preset(fam: str) -> str:
    """The smallest probe shape whose rows fit the blocks of ggml type ``fam``."""
    from workbench.gguf.ggml_types import GGML_TYPES
    from workbench.synth import resolve_shape

    block = next((t.block_size for t in GGML_TYPES.values() if t.name == fam), 256)
    return next((p for p in PROBE_PRESETS if resolve_shape(None, p).n_embd % block == 0),
                PROBE_PRESETS[-1])


def probe_model(quant: str) -> Path:
    """A small model with real layer widths, one layer, in ``quant`` (built once, cached)."""
    from workbench.synth import SYNTH_FORMAT_VERSION, synth_cache_dir, synthesize
    from workbench.synth.quant_types import QUANTS

    preset = probe_preset(QUANTS[quant].tensor_type) if quant in QUANTS else PROBE_PRESETS[-1]
    out = synth_cache_dir() / f"repack-probe-{preset}-{quant}-v{SYNTH_FORMAT_VERSION}.gguf"
    if not out.exists():  # synthesize writes a temporary file and renames it: races are safe
        synthesize(out, preset=preset, layers=1, quant=quant, vocab_size=2048, seed=0)
    return out


def repack_verdict(quant: str, *, refresh: bool = False) -> RepackVerdict:
    """The remembered verdict for this machine and quant type, probing once if there is none.

    Never raises for a probe that cannot be built or run: that verdict is "off", with the reason.
    """
    fam = family(quant)
    key = probe_key(fam)
    if fam not in REPACKABLE:
        return RepackVerdict(True, f"{quant} weights are not repacked by llama.cpp", key, fam,
                             time.time())
    known = _stored_verdict(key)
    if known is not None and not known.stale and not refresh:
        return known
    verdict = _probe(fam, key)
    with contextlib.suppress(OSError):  # not remembered (read-only or full data dir)
        _save_verdict(verdict)
    return verdict


def known_verdict(quant: str) -> RepackVerdict | None:
    """The remembered verdict for ``quant`` on this machine, without probing (None: not
    probed yet, or a failed probe that is due to run again)."""
    fam = family(quant)
    if fam not in REPACKABLE:
        return RepackVerdict(True, f"{quant} weights are not repacked by llama.cpp",
                             probe_key(fam), fam, time.time())
    known = _stored_verdict(probe_key(fam))
    return None if known is None or known.stale else known


def _stored_verdict(key: str) -> RepackVerdict | None:
    stored = _load_verdicts().get(key)
    try:
        return RepackVerdict(**stored) if isinstance(stored, dict) else None  # type: ignore[arg-type]
    except TypeError:  # written by another version: probe again
        return None


def _probe(fam: str, key: str) -> RepackVerdict:
    """Load a probe model of ``fam`` with repacking on and process a batched prompt."""
    started = time.time()
    try:
        model = probe_model(quant_for_family(fam))
        with LocalEngine(watchdog_s=60) as engine:
            engine.load(LoadSettings(str(model), n_ctx=512, repack=True, n_gpu_layers=0))
            engine.chat([{"role": "user", "content": PROBE_PROMPT}], Sampling(max_tokens=4))
        return RepackVerdict(True, "a batched prompt ran with repacking on", key, fam, started)
    except WorkerCrashed as err:
        return RepackVerdict(False, f"the probe crashed with repacking on ({err.cause})", key,
                             fam, started)
    except Exception as err:  # the probe must never refuse a model: off, and say why
        retry = started + RETRY_AFTER_S
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        return RepackVerdict(False, f"no probe could be run ({detail}); trying again after "
                             f"{time.strftime('%H:%M', time.localtime(retry))}", key, fam,
                             started, retry_after=retry)


def quant_for_family(fam: str) -> str:
    """A quant type name llama.cpp's quantiser accepts that produces tensors of ``fam``."""
    return {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M", "Q2_K": "Q2_K",
            "Q6_K": "Q6_K"}.get(fam, fam)
