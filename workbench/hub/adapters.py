"""LoRA adapters in the library: which listed models each adapter fits.

The fit is ``workbench.gguf.check_adapter_fits`` against the model's headers (what the load
policy checks before llama.cpp sees the file), tried only for models of the adapter's
architecture and remembered per adapter and model file version (path, size and modification
time), so a rescan reads no header twice.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence

Fingerprint = tuple[tuple[str, int, int], ...]
MAX_CACHED = 4096
_lock = threading.Lock()
_fits: dict[tuple[Fingerprint, Fingerprint], bool] = {}


def _fingerprint(files: Iterable[str]) -> Fingerprint | None:
    out = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            return None
        out.append((os.path.realpath(f), st.st_size, st.st_mtime_ns))
    return tuple(out)


def adapter_fits(adapter_path: str, model_files: Sequence[str]) -> bool:
    """Whether the LoRA adapter at ``adapter_path`` fits the model made of ``model_files`` (its
    shards); False when either cannot be read. Cached by the files' path, size and mtime."""
    key_a, key_m = _fingerprint([adapter_path]), _fingerprint(model_files)
    if key_a is not None and key_m is not None:
        with _lock:
            hit = _fits.get((key_a, key_m))
        if hit is not None:
            return hit
    from workbench.gguf import read_adapter, read_header
    from workbench.gguf.adapter import adapter_mismatches

    try:
        fits = not adapter_mismatches(read_adapter(adapter_path),
                                      [read_header(f) for f in model_files])
    except Exception:  # unreadable either side: it does not fit (the scan says why elsewhere)
        fits = False
    if key_a is not None and key_m is not None:
        with _lock:
            if len(_fits) > MAX_CACHED:
                _fits.clear()
            _fits[(key_a, key_m)] = fits
    return fits
