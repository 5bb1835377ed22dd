"""Build synthetic models: ``synthesize`` (any shape) and ``tiny_model`` (cached test models)."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.cancel import Cancellable
from workbench.errors import BadInput, RuntimeFailure
from workbench.paths import cache_dir
from workbench.synth.chat import FAMILIES
from workbench.synth.layout import count_parameters, tensors_for
from workbench.synth.presets import ARCHITECTURES, resolve_shape
from workbench.synth.quant_types import QUANTS
from workbench.synth.quantizer import (
    DIRECT_TYPES,
    QUANT_TYPES,
    QuantizeCancelled,
    quantize_file,
)
from workbench.synth.tokenizer import FAULT_DUPLICATE_VOCAB, build_vocabulary
from workbench.synth.writer import (
    CHUNK_ELEMENTS,
    FAULT_BAD_BLOCK_COUNT,
    SYNTH_FORMAT_VERSION,
    WriteCancelled,
    tensor_nbytes,
    write_model,
)

# Deliberately broken models, for testing how crashes are handled. Both are real aborts.
FAULTS: dict[str, str] = {
    FAULT_DUPLICATE_VOCAB: "a repeated vocabulary token: llama.cpp aborts (SIGABRT) when it "
                           "loads the model (GGML_ASSERT in llama-vocab.cpp)",
    FAULT_BAD_BLOCK_COUNT: "block_count = 0: every llama.cpp loader aborts (SIGABRT), the "
                           "quantiser included (GGML_ASSERT in llama-model.cpp)",
}

CHUNK_BYTES = CHUNK_ELEMENTS * 4  # a write that did not fit in less than this: disk full

# (stage, done, total): stage "write" counts bytes, "quantize" counts tensors.
SynthProgress = Callable[[str, int, int], None]


class SynthCancelled(RuntimeFailure):
    """The caller cancelled the build; partial files were removed."""


@dataclass(frozen=True)
class SynthResult:
    path: Path
    arch: str
    preset: str
    quant: str
    n_params: int
    size_bytes: int
    layers: int
    vocab_size: int
    context_length: int
    seed: int
    fault: str | None
    seconds: float
    tensor_types: dict[str, int]  # tensors per ggml type, read back from the file's header

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def normalize_quant(quant: str) -> str:
    name = quant.strip().upper()
    if name not in QUANT_TYPES:
        raise BadInput(f"unsupported quantisation {quant!r}; choose from: "
                       f"{', '.join(QUANT_TYPES)}")
    return name


def _check_fault(fault: str | None) -> None:
    if fault is not None and fault not in FAULTS:
        raise BadInput(f"unknown fault {fault!r}; choose from: {', '.join(FAULTS)}")


def _temp_file(beside: Path) -> Path:
    """An unused name next to ``beside`` (same file system, so the final rename is atomic)."""
    return beside.with_name(f".{beside.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")


def _check_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise RuntimeFailure(f"not enough disk space in {directory}: about "
                             f"{needed / 2**30:.2f} GiB needed, {free / 2**30:.2f} GiB free")


def _write_error(err: OSError, path: Path) -> Exception:
    # numpy's tofile reports a short write without an errno: look at the disk then
    if err.errno == errno.ENOSPC or shutil.disk_usage(path.parent).free < CHUNK_BYTES:
        return RuntimeFailure(f"disk full while writing {path}")
    if isinstance(err, PermissionError):
        return BadInput(f"cannot write {path}: permission denied")
    return RuntimeFailure(f"could not write {path}: {err.strerror or err}")


def synthesize(out: Path | str, arch: str | None = None, *, preset: str | None = None,
               layers: int | None = None, quant: str = "F16", seed: int = 0,
               vocab_size: int | None = None, ctx: int | None = None,
               fault: str | None = None, threads: int | None = None,
               progress: SynthProgress | None = None,
               cancel: Cancellable | None = None) -> SynthResult:
    """Write a random-weight model in the exact tensor layout of ``arch``/``preset`` to ``out``.

    Without a preset the architecture's tiny test shape is used. F16/F32 are written directly;
    other types are written as F16, then quantised by llama.cpp in a child process. The file
    appears at ``out`` only when complete. Raises ``BadInput`` for bad options and
    ``RuntimeFailure`` when the quantiser fails or crashes, or the disk is full.
    """
    started = time.monotonic()
    quant = normalize_quant(quant)
    _check_fault(fault)
    if not 0 <= seed < 2**63:
        raise BadInput(f"seed must be between 0 and 2**63 - 1, not {seed}")
    shape = resolve_shape(arch, preset, layers=layers, vocab_size=vocab_size, ctx=ctx)
    family = FAMILIES[shape.family]
    out = Path(out).expanduser()
    if out.is_dir():
        raise BadInput(f"{out} is a directory; give a file name such as model.gguf")
    if not out.parent.is_dir():
        raise BadInput(f"directory {out.parent} does not exist")
    vocab = build_vocabulary(shape.n_vocab, family,
                             fault=fault if fault == FAULT_DUPLICATE_VOCAB else None)
    tensors = tensors_for(shape)
    n_params = count_parameters(tensors)
    direct = quant in DIRECT_TYPES
    written_type = quant if direct else "F16"
    written_bytes = sum(tensor_nbytes(t, written_type) for t in tensors)
    bits = QUANTS[quant].bits_per_weight
    final_bytes = written_bytes if direct else int(n_params * bits / 8 * 1.1)
    _check_space(out.parent, (0 if direct else written_bytes) + final_bytes + (64 << 20))

    def stage(name: str) -> Callable[[int, int], None] | None:
        return None if progress is None else lambda done, total: progress(name, done, total)

    temps = [_temp_file(out) for _ in range(1 if direct else 2)]
    try:
        write_model(temps[0], shape, tensors, vocab, family, dtype=written_type, seed=seed,
                    fault=fault, progress=stage("write"), cancel=cancel)
        if not direct:
            quantize_file(temps[0], temps[1], quant, threads=threads or os.cpu_count(),
                          progress=stage("quantize"), cancel=cancel, label=out.name)
        tensor_types = _check_tensor_types(temps[-1], quant, out.name)
        os.replace(temps[-1], out)
    except OSError as err:
        raise _write_error(err, out) from err
    except (WriteCancelled, QuantizeCancelled):
        raise SynthCancelled(f"building {out.name} was cancelled") from None
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return SynthResult(
        path=out, arch=shape.arch, preset=shape.name, quant=quant, n_params=n_params,
        size_bytes=out.stat().st_size, layers=shape.n_layer, vocab_size=shape.n_vocab,
        context_length=shape.n_ctx, seed=seed, fault=fault,
        seconds=round(time.monotonic() - started, 3), tensor_types=tensor_types,
    )


def _check_tensor_types(path: Path, quant: str, label: str) -> dict[str, int]:
    """Tensors per ggml type in the written file; ``RuntimeFailure`` if none has ``quant``'s
    type (llama.cpp's quantiser fell back to other types for every tensor)."""
    from workbench.gguf import read_header
    from workbench.gguf.ggml_types import GGML_TYPES

    types = Counter(t.type_name for t in read_header(path).tensors)
    wanted = QUANTS[quant].tensor_type
    if wanted not in types:
        block = next(t.block_size for t in GGML_TYPES.values() if t.name == wanted)
        found = ", ".join(f"{n} {name}" for name, n in types.most_common())
        raise RuntimeFailure(f"llama.cpp's quantiser wrote no {wanted} tensor into the {quant} "
                             f"model {label} ({found}): rows that are not a multiple of "
                             f"{wanted}'s {block}-value blocks fall back to other types")
    return dict(types)


def synth_cache_dir() -> Path:
    """Where ``tiny_model`` keeps its files: ``$WORKBENCH_SYNTH_CACHE`` or the cache dir."""
    env = os.environ.get("WORKBENCH_SYNTH_CACHE")
    directory = Path(env).expanduser() if env else cache_dir() / "synth"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def tiny_model(arch: str, quant: str = "Q8_0", *, fault: str | None = None) -> Path:
    """The tiny test model of ``arch`` (seed 0), built once and then served from the cache.

    The cache key is (arch, quant, fault, SYNTH_FORMAT_VERSION); concurrent builders are safe
    (each writes its own temporary file, the results are identical, the rename is atomic).
    """
    if arch not in ARCHITECTURES:
        raise BadInput(f"unknown architecture {arch!r}; choose from: {', '.join(ARCHITECTURES)}")
    quant = normalize_quant(quant)
    _check_fault(fault)
    directory = synth_cache_dir()
    suffix = f"-{fault}" if fault else ""
    path = directory / f"{arch}-tiny-{quant.lower()}{suffix}-v{SYNTH_FORMAT_VERSION}.gguf"
    if path.is_file():
        return path
    tmp = _temp_file(path)
    try:
        synthesize(tmp, arch, quant=quant, fault=fault)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
