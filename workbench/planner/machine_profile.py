"""The speed preview's machine profile: this CPU's ggml kernel timings, measured once, kept.

``python -m workbench.engine.worker.kernel_profile`` times llama.cpp's own kernels in a child
process (a native crash costs only the measurement): per weight type, matrix-vector and
matrix-matrix products (plain, and repacked where llama.cpp would repack), flash attention,
the fixed cost of a graph node and element-wise ops. The figures are kept in the data dir
(``machine-profile.json``) per machine, llama-cpp-python version and thread count; a weight
type a model needs and the profile lacks is measured then (a few seconds per type), the rest
is reused. ``cost_model.py`` prices a model's graph with them.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.planner.calibration import llama_version, machine_identity
from workbench.planner.cost_model import REPACKED_SUFFIX, KernelProfile, KernelRates
from workbench.store.state_file import read_json_state, write_json_atomic

PROFILE_VERSION = 2  # engine/worker/kernel_profile.py's output format
CHILD = "workbench.engine.worker.kernel_profile"
TIMEOUT_S = 600.0
_lock = threading.Lock()


class ProfileFailed(Exception):
    """The kernel profile could not be measured (the child crashed, timed out or said
    nothing usable); the preview falls back to the bound it had before."""


def cache_path() -> Path:
    return paths.data_dir() / "machine-profile.json"


def identity(threads: int) -> dict[str, Any]:
    """What a profile is valid for: this machine, this llama.cpp, this thread count."""
    return {"version": PROFILE_VERSION, "machine": machine_identity(),
            "llama_version": llama_version(), "threads": threads}


def _stored(threads: int) -> dict[str, Any] | None:
    try:
        raw = read_json_state(cache_path(), default={})  # a broken file is set aside
    except OSError:
        return None
    profiles = raw.get("profiles") if isinstance(raw, dict) else None
    if not isinstance(profiles, list):
        return None
    wanted = identity(threads)
    for entry in profiles:
        if isinstance(entry, dict) and entry.get("identity") == wanted:
            return entry
    return None


def _to_profile(entry: dict[str, Any]) -> KernelProfile | None:
    try:
        kernels = {key: KernelRates(**{k: float(v) for k, v in rates.items()})
                   for key, rates in entry["kernels"].items()}
        return KernelProfile(threads=int(entry["identity"]["threads"]), kernels=kernels,
                             node_s=float(entry["node_s"]),
                             elementwise_s_per_byte=float(entry["elementwise_s_per_byte"]),
                             attention_s_per_mac=float(entry["attention_s_per_mac"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def cached_profile(threads: int, needed: Iterable[str] = ()) -> KernelProfile | None:
    """The stored profile for ``threads``, if it has every kernel in ``needed`` (or knows that
    this CPU cannot have it: a type without a repacked layout here)."""
    entry = _stored(threads)
    if entry is None:
        return None
    known = set(entry.get("kernels", {})) | set(entry.get("skipped", {}))
    if not set(needed) <= known:
        return None
    return _to_profile(entry)


def _run_child(threads: int, kernels: Iterable[str], timeout: float) -> dict[str, Any]:
    from workbench.synth.quantizer import child_env, describe_exit

    cmd = [sys.executable, "-m", CHILD, "--threads", str(threads)]
    for key in sorted(kernels):
        if key.endswith(REPACKED_SUFFIX):
            cmd += ["--repack", key[: -len(REPACKED_SUFFIX)]]
        else:
            cmd += ["--type", key]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=child_env(), check=False)
    except subprocess.TimeoutExpired as err:
        raise ProfileFailed(f"the kernel profile took longer than {timeout:.0f} s") from err
    except OSError as err:
        raise ProfileFailed(f"the kernel profile could not start: {err}") from err
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [""])[-1][:300]
        raise ProfileFailed(f"the kernel profile {describe_exit(done.returncode)}"
                            + (f": {last}" if last else ""))
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as err:
        raise ProfileFailed("the kernel profile printed no result") from err
    if not isinstance(result, dict) or result.get("version") != PROFILE_VERSION:
        raise ProfileFailed("the kernel profile's result is of another version")
    return result


def measure_profile(threads: int, needed: Iterable[str], *,
                    timeout: float = TIMEOUT_S) -> KernelProfile:
    """The profile for ``threads`` with every kernel in ``needed``: the stored one, plus the
    kernels it lacks, measured now and stored. Raises ``ProfileFailed``."""
    entry = _stored(threads)
    known = set(entry.get("kernels", {})) | set(entry.get("skipped", {})) if entry else set()
    missing = set(needed) - known
    if entry is not None and not missing:
        found = _to_profile(entry)
        if found is not None:
            return found
    result = _run_child(threads, missing or set(needed), timeout)
    merged: dict[str, Any] = {
        "identity": identity(threads),
        "kernels": {**(entry or {}).get("kernels", {}), **result.get("kernels", {})},
        "skipped": {**(entry or {}).get("skipped", {}), **result.get("skipped", {})},
        "measured_at": time.time(),
    }
    for key in ("node_s", "elementwise_s_per_byte", "attention_s_per_mac"):
        merged[key] = (entry or {}).get(key, result.get(key))
    found = _to_profile(merged)
    if found is None:
        raise ProfileFailed("the kernel profile's result is incomplete")
    with contextlib.suppress(OSError), _lock:  # remembered if it can be; measured again if not
        _store(merged)
    return found


def _store(entry: dict[str, Any]) -> None:
    path = cache_path()
    try:
        raw = read_json_state(path, default={})
    except OSError:
        raw = {}
    profiles = raw.get("profiles") if isinstance(raw, dict) else None
    kept = [p for p in (profiles if isinstance(profiles, list) else [])
            if isinstance(p, dict) and p.get("identity") != entry["identity"]]
    write_json_atomic(path, {"profiles": [*kept, entry]})
