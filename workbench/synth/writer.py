"""Streaming GGUF writer for synthetic models: one chunk of one tensor in memory at a time.

The header (metadata and tensor infos) is written with ``gguf.GGUFWriter``; the tensor data is
then appended chunk by chunk, so an 8B model at F16 (16 GB) needs a few tens of MB of RAM.

Weights are drawn from N(0, 0.02): a table of 65536 quantiles of that normal distribution,
indexed by random 16-bit numbers from a per-tensor PCG64 stream seeded by (seed, tensor index).
That is an exact sample of the normal distribution discretised to 65536 levels, about 3x faster
than ``standard_normal`` + conversion, and deterministic. Norm weights are 1, so activations and
logits stay finite.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import NormalDist
from typing import Any

import gguf
import numpy as np

from workbench.cancel import Cancellable, is_cancelled
from workbench.synth.chat import ChatFamily
from workbench.synth.layout import TensorSpec, hparams, rope_values
from workbench.synth.presets import ModelShape
from workbench.synth.tokenizer import Vocabulary

WEIGHT_STD = 0.02
CHUNK_ELEMENTS = 1 << 22  # 4 Mi values per write: 8 MiB at F16
FILE_TYPES = {"F32": 0, "F16": 1}  # general.file_type (llama_ftype) of what we write directly
FAULT_BAD_BLOCK_COUNT = "bad-block-count"  # writes block_count = 0 (llama.cpp asserts > 0)
SYNTH_FORMAT_VERSION = 1  # bump when the bytes a given (arch, preset, seed) produce change

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class WriteCancelled(Exception):
    """Raised inside the writer when its cancel token is set."""


@functools.lru_cache(maxsize=2)
def _normal_table(dtype: str) -> np.ndarray:
    dist = NormalDist(0.0, WEIGHT_STD)
    table = np.array([dist.inv_cdf((i + 0.5) / 65536) for i in range(65536)], dtype=np.float32)
    return table.astype(np.float16 if dtype == "F16" else np.float32)


def tensor_dtype(spec: TensorSpec, dtype: str) -> np.dtype:
    return np.dtype(np.float32 if spec.keeps_f32 or dtype == "F32" else np.float16)


def tensor_nbytes(spec: TensorSpec, dtype: str) -> int:
    return spec.n_elements * tensor_dtype(spec, dtype).itemsize


def _metadata(writer: gguf.GGUFWriter, shape: ModelShape, vocab: Vocabulary,
              family: ChatFamily, dtype: str, seed: int, fault: str | None) -> None:
    writer.add_string("general.name", f"synthetic {shape.name}")
    writer.add_string("general.description",
                      f"Random weights in the exact shape of {shape.source}, written by "
                      "Workbench (workbench synth). Not a trained model.")
    writer.add_uint32("general.file_type", FILE_TYPES[dtype])
    writer.add_bool("workbench.synthetic", True)
    writer.add_string("workbench.synth.preset", shape.name)
    writer.add_uint64("workbench.synth.seed", seed)
    writer.add_uint32("workbench.synth.format_version", SYNTH_FORMAT_VERSION)
    if fault:
        writer.add_string("workbench.synth.fault", fault)
    adders: dict[str, Callable[[str, Any], None]] = {"u32": writer.add_uint32,
                                                     "f32": writer.add_float32}
    for key, value, kind in hparams(shape):
        if fault == FAULT_BAD_BLOCK_COUNT and key == f"{shape.arch}.block_count":
            value = 0
        adders[kind](key, value)
    writer.add_string("tokenizer.ggml.model", "gpt2")
    writer.add_string("tokenizer.ggml.pre", vocab.pre_tokenizer)
    writer.add_array("tokenizer.ggml.tokens", list(vocab.tokens))
    writer.add_array("tokenizer.ggml.token_type", list(vocab.token_types))
    writer.add_array("tokenizer.ggml.merges", list(vocab.merges))
    for key, text in (("bos", family.bos), ("eos", family.eos), ("eot", family.eot),
                      ("eom", family.eom), ("padding", family.pad), ("unknown", family.unk)):
        if text is not None:
            writer.add_uint32(f"tokenizer.ggml.{key}_token_id", vocab.special_ids[text])
    writer.add_bool("tokenizer.ggml.add_bos_token", family.add_bos)
    writer.add_bool("tokenizer.ggml.add_eos_token", False)
    writer.add_string("tokenizer.chat_template", family.template)


def _tensor_chunks(spec: TensorSpec, index: int, shape: ModelShape, dtype: str,
                   seed: int) -> Iterator[np.ndarray]:
    """Yield the tensor's data in chunks of at most CHUNK_ELEMENTS values."""
    out_dtype = tensor_dtype(spec, dtype)
    n = spec.n_elements
    base = spec.name.rsplit(".", 1)[0]
    if spec.name.startswith(("rope_freqs.", "rope_factors_")):
        yield np.array(rope_values(shape, spec.name), dtype=out_dtype)
        return
    if base.endswith("norm"):
        yield np.ones(n, dtype=out_dtype)
        return
    table = _normal_table("F16" if out_dtype == np.float16 else "F32")
    bits = np.random.PCG64(np.random.SeedSequence([seed, index]))
    for start in range(0, n, CHUNK_ELEMENTS):
        count = min(CHUNK_ELEMENTS, n - start)
        raw = bits.random_raw((count + 3) // 4).view(np.uint16)[:count]
        yield table[raw]


def write_model(path: Path, shape: ModelShape, tensors: list[TensorSpec], vocab: Vocabulary,
                family: ChatFamily, *, dtype: str = "F16", seed: int = 0,
                fault: str | None = None, progress: Progress | None = None,
                cancel: Cancellable | None = None) -> int:
    """Write a complete GGUF file at ``path``; returns its size in bytes. ``cancel`` is looked
    at between chunks (``WriteCancelled``)."""
    writer = gguf.GGUFWriter(path, shape.arch)
    _metadata(writer, shape, vocab, family, dtype, seed, fault)
    for spec in tensors:
        np_dtype = tensor_dtype(spec, dtype)
        writer.add_tensor_info(spec.name, tuple(reversed(spec.shape)), np_dtype,
                               tensor_nbytes(spec, dtype))
    alignment = writer.data_alignment
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()

    total = sum(tensor_nbytes(spec, dtype) for spec in tensors)
    done = 0
    with open(path, "r+b") as f:
        f.seek(0, 2)
        f.write(b"\0" * (-f.tell() % alignment))
        for index, spec in enumerate(tensors):
            for chunk in _tensor_chunks(spec, index, shape, dtype, seed):
                if is_cancelled(cancel):
                    raise WriteCancelled
                chunk.tofile(f)
                done += chunk.nbytes
                if progress is not None:
                    progress(done, total)
            f.write(b"\0" * (-f.tell() % alignment))
        return f.tell()
