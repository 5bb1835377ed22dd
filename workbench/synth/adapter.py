"""Synthetic LoRA adapters for a base model, written with the ``gguf`` package.

The layout is what llama.cpp's ``convert_lora_to_gguf.py`` writes: ``general.type`` =
``adapter``, ``adapter.type`` = ``lora``, ``adapter.lora.alpha`` (float32) and one
``X.lora_a`` ([in, rank], ggml order) / ``X.lora_b`` ([rank, out]) pair per base tensor X
([in, out]). The halves are random (N(0, std), seeded), so a non-zero scale changes the
model's answers. ``mismatch`` writes a deliberately wrong adapter, for tests of the fit check:
``arch`` (another architecture), ``width`` (lora_a twice as wide as the base's rows),
``missing-tensor`` (a pair for a layer the base does not have).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import gguf
import numpy as np

from workbench.errors import BadInput
from workbench.gguf import GGUFHeader, TensorInfo, read_split_headers

DEFAULT_TARGETS = ("attn_q", "attn_v")
DEFAULT_STD = 0.1  # with rank 4 and alpha = rank, B.A is about as large as the weights
LORA_DTYPES = {"F32": np.float32, "F16": np.float16}
MISMATCHES: dict[str, str] = {
    "arch": "general.architecture names another architecture",
    "width": "lora_a is twice as wide as the base tensor's rows",
    "missing-tensor": "a pair for a layer the base model does not have",
}


def _kind(name: str) -> str | None:
    """``blk.0.attn_q.weight`` -> ``attn_q``; ``output.weight`` -> ``output``; else None."""
    parts = name.split(".")
    if parts[-1] != "weight":
        return None
    if parts[0] == "blk" and len(parts) == 4:
        return parts[2]
    return parts[0] if len(parts) == 2 else None


def lora_targets(headers: Sequence[GGUFHeader], targets: Sequence[str]) -> list[TensorInfo]:
    """The base's matrices whose kind (``attn_q``, ``ffn_up``, ``output``) is in ``targets``."""
    chosen = [t for header in headers for t in header.tensors
              if len(t.shape) == 2 and _kind(t.name) in targets]
    if not chosen:
        raise BadInput(f"the model has no matrix of kind {', '.join(targets)} to adapt")
    return chosen


def write_lora_adapter(out: str | os.PathLike[str], base: str | os.PathLike[str], *,
                       rank: int = 4, alpha: float | None = None,
                       targets: Sequence[str] = DEFAULT_TARGETS, dtype: str = "F32",
                       seed: int = 0, std: float = DEFAULT_STD,
                       mismatch: str | None = None) -> Path:
    """Write a random LoRA adapter for the model file ``base`` to ``out``; returns the path.

    ``alpha`` defaults to ``rank`` (a factor of 1 at scale 1); ``targets`` are tensor kinds
    (``attn_q``, ``attn_k``, ``attn_v``, ``attn_output``, ``ffn_up``, ``ffn_down``,
    ``ffn_gate``, ``output``); ``dtype`` is F32 or F16.
    """
    if dtype not in LORA_DTYPES:
        raise BadInput(f"LoRA tensors are written as F32 or F16, not {dtype!r}")
    if rank < 1:
        raise BadInput(f"the rank must be at least 1, not {rank}")
    if mismatch is not None and mismatch not in MISMATCHES:
        raise BadInput(f"unknown mismatch {mismatch!r}; choose from: {', '.join(MISMATCHES)}")
    headers = read_split_headers(base)
    arch = headers[0].architecture
    if arch is None:
        raise BadInput(f"{base}: the model has no general.architecture")
    if mismatch == "arch":
        arch = "qwen2" if arch != "qwen2" else "llama"
    chosen = [(t.name, t.shape[0], t.shape[1]) for t in lora_targets(headers, targets)]
    if mismatch == "width":
        chosen = [(name, n_in * 2, n_out) for name, n_in, n_out in chosen]
    elif mismatch == "missing-tensor":
        n_layer = headers[0].get("{arch}.block_count")
        name, n_in, n_out = chosen[0]
        parts = name.split(".")
        missing = (f"blk.{n_layer}.{'.'.join(parts[2:])}" if parts[0] == "blk"
                   else f"blk.{n_layer}.attn_q.weight")
        chosen.append((missing, n_in, n_out))

    path = Path(out)
    writer = gguf.GGUFWriter(path, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank if alpha is None else alpha))
    writer.add_string("general.name", f"synthetic LoRA r{rank} for {Path(base).name}")
    writer.add_bool("workbench.synthetic", True)
    rng = np.random.default_rng(seed)
    np_dtype = LORA_DTYPES[dtype]
    for name, n_in, n_out in chosen:
        # numpy's shape is ggml's reversed: lora_a is [in, rank], lora_b [rank, out] in ggml
        a = rng.normal(0.0, std, size=(rank, n_in)).astype(np_dtype)
        b = rng.normal(0.0, std, size=(n_out, rank)).astype(np_dtype)
        writer.add_tensor(f"{name}.lora_a", a)
        writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
