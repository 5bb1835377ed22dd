"""``python -m workbench.engine.worker.probe``: what the installed llama.cpp build can use.

Prints ONE JSON object on stdout (anything the native libraries print goes to stderr):
llama_cpp_version, ggml version/commit, ``llama_supports_gpu_offload()``,
``llama_print_system_info()`` raw and parsed into per-backend features, and the ggml backend
devices (name, description, type, memory, backend, PCI id).

llama-cpp-python 0.3.36 binds none of the ggml backend device API, so the probe declares those
few functions itself with ctypes on the already loaded libllama (whose dependencies, libggml and
libggml-base, export them). If they are missing, ``devices`` is empty and ``notes`` says so.

This runs in a child process on purpose: loading a GPU backend can abort or crash. Querying a
device's memory makes the CUDA backend create a context (slow, briefly uses VRAM):
``--no-memory`` skips it.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import sys
from typing import Any

PROBE_VERSION = 1
DEVICE_TYPES = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel", 4: "meta"}


class _Caps(ctypes.Structure):
    _fields_ = [(name, ctypes.c_bool) for name in
                ("async_", "host_buffer", "buffer_from_host_ptr", "events", "mmap_support")]


class _DevProps(ctypes.Structure):
    """struct ggml_backend_dev_props (ggml-backend.h), with spare room for newer caps fields."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("description", ctypes.c_char_p),
        ("memory_free", ctypes.c_size_t),
        ("memory_total", ctypes.c_size_t),
        ("type", ctypes.c_int),
        ("device_id", ctypes.c_char_p),
        ("caps", _Caps),
        ("_spare", ctypes.c_byte * 64),
    ]


def parse_system_info(text: str) -> dict[str, dict[str, str]]:
    """``"CPU : AVX2 = 1 | FMA = 1 | CUDA : ARCHS = 890 | "`` -> {"CPU": {...}, "CUDA": {...}}."""
    features: dict[str, dict[str, str]] = {}
    current: str | None = None
    for token in text.split("|"):
        token = token.strip()
        # A token may start with one or more backend names: "CUDA : ARCHS = 890", "BLAS : CPU :".
        while True:
            match = re.match(r"^([A-Za-z0-9_\- ]+?)\s*:\s*(.*)$", token)
            if not match or "=" in match.group(1):
                break
            current = match.group(1).strip()
            features.setdefault(current, {})
            token = match.group(2).strip()
        if not token or current is None:
            continue
        key, _, value = token.partition("=")
        features[current][key.strip()] = value.strip()
    return features


def _text(value: bytes | None) -> str | None:
    return value.decode(errors="replace") if value is not None else None


def _bind(lib: ctypes.CDLL) -> dict[str, Any]:
    """Declare the ggml backend functions the probe calls (AttributeError if one is missing)."""
    vp, sz, cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "ggml_backend_dev_count": (sz, []),
        "ggml_backend_dev_get": (vp, [sz]),
        "ggml_backend_dev_name": (cp, [vp]),
        "ggml_backend_dev_description": (cp, [vp]),
        "ggml_backend_dev_type": (ctypes.c_int, [vp]),
        "ggml_backend_dev_memory": (None, [vp, ctypes.POINTER(sz), ctypes.POINTER(sz)]),
        "ggml_backend_dev_get_props": (None, [vp, ctypes.POINTER(_DevProps)]),
        "ggml_backend_dev_backend_reg": (vp, [vp]),
        "ggml_backend_reg_name": (cp, [vp]),
    }
    funcs = {}
    for name, (restype, argtypes) in signatures.items():
        func = getattr(lib, name)
        func.restype = restype
        func.argtypes = argtypes
        funcs[name] = func
    return funcs


def _devices(lib: ctypes.CDLL, query_memory: bool) -> list[dict[str, Any]]:
    f = _bind(lib)
    devices = []
    for index in range(int(f["ggml_backend_dev_count"]())):
        dev = f["ggml_backend_dev_get"](index)
        if not dev:
            continue
        reg = f["ggml_backend_dev_backend_reg"](dev)
        entry: dict[str, Any] = {
            "index": index,
            "name": _text(f["ggml_backend_dev_name"](dev)),
            "description": _text(f["ggml_backend_dev_description"](dev)),
            "type": DEVICE_TYPES.get(int(f["ggml_backend_dev_type"](dev)), "unknown"),
            "backend": _text(f["ggml_backend_reg_name"](reg)) if reg else None,
            "memory_free_bytes": None,
            "memory_total_bytes": None,
            "device_id": None,
        }
        if query_memory:
            props = _DevProps()
            f["ggml_backend_dev_get_props"](dev, ctypes.byref(props))
            entry["memory_free_bytes"] = int(props.memory_free)
            entry["memory_total_bytes"] = int(props.memory_total)
            entry["device_id"] = _text(props.device_id)
        devices.append(entry)
    return devices


def probe(*, query_memory: bool = True) -> dict[str, Any]:
    """Everything the probe learns, as a JSON-ready dict; errors become fields, not exceptions."""
    result: dict[str, Any] = {
        "probe_version": PROBE_VERSION,
        "python_executable": sys.executable,
        "python_version": platform.python_version(),
        "llama_cpp_importable": False,
        "notes": [],
    }
    try:
        import llama_cpp
    except Exception as err:
        result["error"] = f"import llama_cpp failed: {type(err).__name__}: {err}"
        return result
    result["llama_cpp_importable"] = True
    result["llama_cpp_version"] = getattr(llama_cpp, "__version__", None)
    # First: with dynamically loaded backends this call is what loads them.
    result["gpu_offload"] = bool(llama_cpp.llama_supports_gpu_offload())
    for key, func in (("supports_mmap", "llama_supports_mmap"),
                      ("supports_mlock", "llama_supports_mlock"),
                      ("supports_rpc", "llama_supports_rpc")):
        result[key] = bool(getattr(llama_cpp, func)()) if hasattr(llama_cpp, func) else None
    result["max_devices"] = int(llama_cpp.llama_max_devices())
    info = _text(llama_cpp.llama_print_system_info()) or ""
    result["system_info"] = info.strip()
    result["features"] = parse_system_info(info)

    lib_path = getattr(getattr(llama_cpp.llama_cpp, "_lib", None), "_name", None)
    try:
        lib = ctypes.CDLL(lib_path)  # same handle, separate function cache from llama_cpp's
    except Exception as err:
        result["devices"] = []
        result["notes"].append(f"could not open libllama ({lib_path}) for the ggml device API: "
                               f"{err}")
        return result
    for key in ("ggml_version", "ggml_commit"):
        try:
            func = getattr(lib, key)
            func.restype = ctypes.c_char_p
            func.argtypes = []
            result[key] = _text(func())
        except AttributeError:
            result[key] = None
    try:
        result["devices"] = _devices(lib, query_memory)
        result["devices_source"] = "ggml backend device API (ctypes on libllama)"
    except AttributeError as err:
        result["devices"] = []
        result["notes"].append(f"the ggml backend device API is not exported by this build "
                               f"({err}); only gpu_offload and system_info are known")
    if not query_memory:
        result["notes"].append("device memory not queried (--no-memory)")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.engine.worker.probe",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--no-memory", action="store_true",
                        help="do not query device memory (avoids creating a CUDA context)")
    args = parser.parse_args(argv)
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)  # native code printing to stdout must not corrupt the JSON
    try:
        result = probe(query_memory=not args.no_memory)
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
