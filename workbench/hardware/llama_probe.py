"""Run the llama.cpp build probe (``python -m workbench.engine.worker.probe``) and cache it.

The probe imports llama_cpp, which only a child process may do (llama.cpp can abort the
process). Its answer is cached in ``cache_dir()`` per llama-cpp-python version, Python
executable and installed native libraries (names, sizes, mtimes), so reinstalling the same
version with a GPU backend (``--force-reinstall``) is noticed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.hardware.model import LlamaBuild
from workbench.store.state_file import read_json_state, write_json_atomic

PROBE_MODULE = "workbench.engine.worker.probe"
DISTRIBUTION = "llama-cpp-python"
DEFAULT_TIMEOUT_S = 60.0


def installed_version() -> str | None:
    """The installed llama-cpp-python version (from package metadata; no import)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def _library_fingerprint() -> list[list[Any]]:
    """Names, sizes and mtimes of llama_cpp's native libraries (changes on a rebuild)."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
        lib_dir = Path(str(dist.locate_file("llama_cpp/lib")))
        entries = sorted(os.scandir(lib_dir), key=lambda e: e.name)
        return [[e.name, e.stat().st_size, e.stat().st_mtime_ns] for e in entries if e.is_file()]
    except Exception:
        return []


def _probe_fingerprint() -> list[int]:
    """Size and mtime of the probe's own source: a changed probe must not read old answers."""
    try:
        source = Path(__file__).resolve().parents[1] / "engine" / "worker" / "probe.py"
        stat = source.stat()
        return [stat.st_size, stat.st_mtime_ns]
    except OSError:
        return []


def cache_key(version: str, python: str) -> str:
    blob = json.dumps([version, os.path.realpath(python), _library_fingerprint(),
                       _probe_fingerprint()])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _cache_path(key: str) -> Path | None:
    try:
        return paths.cache_dir() / f"llama-probe-{key}.json"
    except OSError:  # an unwritable cache directory: probe every time
        return None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_probe(python: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
              query_memory: bool = True) -> dict[str, Any]:
    """Run the probe in a child process; on failure return ``{"ok": False, "error": ...}``."""
    command = [python or sys.executable, "-m", PROBE_MODULE]
    if not query_memory:
        command.append("--no-memory")
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"probe failed: no answer within {timeout_s:.0f} s"}
    except OSError as err:
        return {"ok": False, "error": f"probe failed: could not start {command[0]}: {err}"}
    tail = done.stderr.strip().splitlines()[-3:]
    if done.returncode < 0:
        number = -done.returncode
        return {"ok": False, "signal": number, "stderr_tail": tail,
                "error": f"probe failed: signal {number} ({signal_name(number)})"}
    if done.returncode != 0:
        return {"ok": False, "stderr_tail": tail,
                "error": f"probe failed: exit status {done.returncode}"
                         + (f": {tail[-1]}" if tail else "")}
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": "probe failed: its output was not JSON",
                "stderr_tail": tail}
    result["ok"] = True
    return result


def to_build(raw: dict[str, Any], version: str | None, *, cached: bool) -> LlamaBuild:
    build = LlamaBuild(installed=True, version=raw.get("llama_cpp_version") or version,
                       cached=cached)
    if not raw.get("ok"):
        build.error = raw.get("error") or "probe failed"
        return build
    if not raw.get("llama_cpp_importable"):
        build.error = raw.get("error") or "llama_cpp could not be imported"
        build.installed = "ModuleNotFoundError" not in build.error
        return build
    build.probe_ok = True
    build.gpu_offload = raw.get("gpu_offload")
    build.devices = list(raw.get("devices") or [])
    build.features = dict(raw.get("features") or {})
    build.system_info = raw.get("system_info")
    build.ggml_version = raw.get("ggml_version")
    build.ggml_commit = raw.get("ggml_commit")
    build.notes = list(raw.get("notes") or [])
    return build


def probe_llama(*, python: str | None = None, refresh: bool = False,
                timeout_s: float = DEFAULT_TIMEOUT_S) -> LlamaBuild:
    """What the installed llama-cpp-python build can use; cached; never raises.

    ``python`` is the interpreter whose llama_cpp is probed (default: this one).
    ``refresh`` ignores and replaces a cached answer.
    """
    if python and os.path.realpath(python) != os.path.realpath(sys.executable):
        # Another interpreter: its package metadata is not ours to read, so no cache.
        return to_build(run_probe(python, timeout_s=timeout_s), None, cached=False)
    python = sys.executable
    version = installed_version()
    if version is None:
        return LlamaBuild(installed=False,
                          error=f"{DISTRIBUTION} is not installed in this Python ({python})")
    path = _cache_path(cache_key(version, python))
    if path is not None and not refresh:
        try:
            cached = read_json_state(path)
            if cached is not None:
                return to_build(cached, version, cached=True)
        except (OSError, ValueError, TypeError, AttributeError):
            pass  # unreadable, or not a probe's answer: probe again
    raw = run_probe(python, timeout_s=timeout_s)
    # Cache answers and crashes (the key changes when the build does), not timeouts or
    # start failures, which may be passing trouble.
    if path is not None and (raw.get("ok") or raw.get("signal")):
        with contextlib.suppress(OSError):  # no cache this time: probe again next time
            write_json_atomic(path, raw)
    return to_build(raw, version, cached=False)
