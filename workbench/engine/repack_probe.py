"""Is llama.cpp's CPU weight repacking safe on this machine? Ask a throwaway worker.

Repacking (llama.cpp's "extra buffer types": AVX-512/AMX layouts of quantized weights) is worth
~30% generation speed on CPUs that support it, but on CPUs that advertise AMX without permitting
its tile registers (VMs do this) it dies with SIGILL/SIGSEGV the first time a batched prompt is
processed. So, once per (CPU, llama.cpp version, quant type), a throwaway worker loads a small
synthetic model of that quant type with repacking on and processes a batched prompt. A crash
switches repacking off for that key; the verdict and its reason are remembered in the data dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from workbench import paths
from workbench.engine.client import LocalEngine
from workbench.engine.errors import WorkerCrashed
from workbench.engine.settings import LoadSettings, Sampling

PROBE_PROMPT = " ".join(["The quick brown fox jumps over the lazy dog."] * 12)
# Quant types llama.cpp has repacked CPU layouts for; others never use extra buffers.
REPACKABLE = ("Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "Q2_K",
              "Q3_K", "MXFP4")


@dataclass(frozen=True)
class RepackVerdict:
    safe: bool
    reason: str
    key: str
    quant: str
    probed_at: float


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
    try:
        data = json.loads(_verdicts_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_verdict(verdict: RepackVerdict) -> None:
    verdicts = _load_verdicts()
    verdicts[verdict.key] = asdict(verdict)
    tmp = _verdicts_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(verdicts, indent=2))
    os.replace(tmp, _verdicts_path())


def family(quant: str) -> str:
    """Q4_K_M -> Q4_K: repacking depends on the tensor type, not on the mix's name."""
    upper = quant.upper()
    for suffix in ("_M", "_S", "_L", "_XL"):
        if upper.endswith(suffix) and upper[:-len(suffix)] in REPACKABLE:
            return upper[: -len(suffix)]
    return upper


def probe_model(quant: str) -> Path:
    """A small model with real layer widths (Qwen2.5-0.5B's), one layer, in ``quant``."""
    from workbench.synth import synth_cache_dir, synthesize

    out = synth_cache_dir() / f"repack-probe-{quant}.gguf"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(".partial.gguf")
        synthesize(partial, "qwen2", preset="qwen2.5-0.5b", layers=1, quant=quant,
                   vocab_size=2048, seed=0)
        os.replace(partial, out)
    return out


def repack_verdict(quant: str, *, refresh: bool = False) -> RepackVerdict:
    """The remembered verdict for this machine and quant type, probing once if there is none."""
    fam = family(quant)
    key = probe_key(fam)
    if fam not in REPACKABLE:
        return RepackVerdict(True, f"{quant} weights are not repacked by llama.cpp", key, fam,
                             time.time())
    known = _load_verdicts().get(key)
    if known and not refresh:
        return RepackVerdict(**known)  # type: ignore[arg-type]
    model = probe_model(quant_for_family(fam))
    started = time.time()
    try:
        with LocalEngine(watchdog_s=60) as engine:
            engine.load(LoadSettings(str(model), n_ctx=512, repack=True, n_gpu_layers=0))
            engine.chat([{"role": "user", "content": PROBE_PROMPT}], Sampling(max_tokens=4))
        verdict = RepackVerdict(True, "a batched prompt ran with repacking on", key, fam,
                                started)
    except WorkerCrashed as err:
        verdict = RepackVerdict(False, f"the probe crashed with repacking on ({err.cause})",
                                key, fam, started)
    _save_verdict(verdict)
    return verdict


def quant_for_family(fam: str) -> str:
    """A quant type name llama.cpp's quantiser accepts that produces tensors of ``fam``."""
    return {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M", "Q2_K": "Q2_K",
            "Q6_K": "Q6_K"}.get(fam, fam)
