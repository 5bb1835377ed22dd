"""LoRA adapters in GGUF: what one holds (``AdapterSummary``) and whether it fits a base model.

The rules are llama.cpp's ``llama_adapter_lora_init_impl`` (src/llama-adapter.cpp, vendored in
llama-cpp-python 0.3.36), checked here first so llama.cpp never sees a file it would refuse or
abort on: ``general.type`` is the string ``"adapter"``, ``adapter.type`` the string ``"lora"``,
``general.architecture`` a string equal to the base's, ``adapter.lora.alpha`` (when present) a
float32 (llama.cpp's typed getters abort on another type), every tensor is ``X.lora_a`` or
``X.lora_b`` (``*_norm.weight`` vectors are skipped), both halves of each pair present, and X a
tensor of the base with ``lora_a = [in, rank]`` and ``lora_b = [rank, out]`` (ggml order) for
``X = [in, out]``; the token embeddings are the one transposed case (``lora_a = [rank, n_vocab]``,
``lora_b = [rank, n_embd]``). llama.cpp scales each pair's product by ``scale * alpha / rank``
(by ``scale`` alone when alpha is 0 or absent).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from workbench.gguf.errors import AdapterMismatch, GGUFError
from workbench.gguf.ggml_types import ARRAY, STRING, UINT32
from workbench.gguf.model import GGUFArray, GGUFHeader, TensorInfo
from workbench.gguf.reader import read_header

LORA_A, LORA_B = ".lora_a", ".lora_b"
SKIPPED_SUFFIX = "_norm.weight"  # llama.cpp ignores these vectors in an adapter
TOKEN_EMBD = "token_embd.weight"  # the one pair stored transposed (see llm_build_inp_embd)
FLOAT32 = 6  # GGUF value type id of float32
# ggml types a LoRA pair may have: what convert_lora_to_gguf.py writes (its --outtype), which
# every backend multiplies with F32 activations
LORA_TENSOR_TYPES = frozenset({"F32", "F16", "BF16", "Q8_0"})
MAX_PROBLEMS_SHOWN = 2


@dataclass(frozen=True)
class LoraPair:
    """One base tensor an adapter changes: its name, the rank and the two halves."""

    base: str
    rank: int
    a: TensorInfo
    b: TensorInfo

    @property
    def a_shape(self) -> tuple[int, ...]:
        return self.a.shape

    @property
    def b_shape(self) -> tuple[int, ...]:
        return self.b.shape

    @property
    def n_bytes(self) -> int:
        """lora_a + lora_b tensor data."""
        return self.a.n_bytes + self.b.n_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "rank": self.rank, "a_shape": list(self.a_shape),
                "b_shape": list(self.b_shape), "type": self.a.type_name,
                "n_bytes": self.n_bytes}


@dataclass(frozen=True)
class AdapterSummary:
    """A LoRA adapter's facts from its header. ``rank`` is the pairs' rank (the largest, where
    they differ: ``ranks`` lists them all); ``alpha`` is None when the file has none (llama.cpp
    then scales by the scale alone); ``targets`` names the kinds of tensors it touches
    (``attn_q``, ``ffn_down``, ...); ``tensor_data_size`` counts the bytes llama.cpp loads."""

    source: str
    architecture: str
    name: str | None
    alpha: float | None
    rank: int
    ranks: tuple[int, ...]
    pairs: tuple[LoraPair, ...]
    targets: tuple[str, ...]
    skipped_tensors: tuple[str, ...]
    tensor_types: dict[str, int]
    tensor_count: int
    tensor_data_size: int
    file_size: int
    header_size: int
    gguf_version: int
    alora_invocation_tokens: int

    @property
    def kind(self) -> str:
        return "lora-adapter"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a plain dict (tuples as lists), with ``"kind": "lora-adapter"``."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["pairs"] = [pair.to_dict() for pair in self.pairs]
        return {"kind": self.kind} | {k: list(v) if isinstance(v, tuple) else v
                                      for k, v in data.items()}

    def scale_factor(self, scale: float, pair: LoraPair) -> float:
        """The factor llama.cpp multiplies ``pair``'s product by at ``scale``."""
        return scale * self.alpha / pair.rank if self.alpha else scale


# general.type = "adapter" as GGUF writes it (the key's length and bytes, the string type 8,
# the value's length and bytes), in the first bytes of a LoRA adapter: an adapter carries no
# tokenizer, so its metadata is short
ADAPTER_KEY = (len(b"general.type").to_bytes(8, "little") + b"general.type"
               + STRING.to_bytes(4, "little") + len(b"adapter").to_bytes(8, "little")
               + b"adapter")
ADAPTER_SNIFF_BYTES = 1 << 16


def looks_like_adapter(path: str) -> bool:
    """The file says it is an adapter (``general.type`` = ``adapter``) in its first 64 KiB:
    cheap whatever the file's size (a model's vocabulary makes its header megabytes long), for
    telling an adapter opened as a model before anything parses it; ``read_adapter`` decides."""
    try:
        with open(path, "rb") as handle:
            return ADAPTER_KEY in handle.read(ADAPTER_SNIFF_BYTES)
    except OSError:
        return False


def is_adapter(header: GGUFHeader) -> bool:
    """True when the file says it is an adapter (``general.type`` = ``"adapter"``)."""
    return header.metadata.get("general.type") == "adapter"


def _string_key(header: GGUFHeader, key: str, fail: Any) -> str | None:
    if key not in header.metadata:
        return None
    if header.metadata_types.get(key) != STRING:
        raise fail(f"{key} must be a string")
    value: str = header.metadata[key]
    return value


def summarize_adapter(header: GGUFHeader) -> AdapterSummary:
    """The summary of a LoRA adapter's header; ``GGUFError`` for anything llama.cpp would
    refuse or abort on in the file itself (a model, another adapter type, a wrong key type, an
    unexpected or unpaired tensor, a pair of the wrong rank)."""
    where = header.source

    def fail(message: str) -> GGUFError:
        return GGUFError(f"{where}: not a usable LoRA adapter: {message}")

    general_type = _string_key(header, "general.type", fail)
    if general_type != "adapter":
        said = "no general.type" if general_type is None else f"general.type is {general_type!r}"
        raise fail(f"{said} (an adapter says 'adapter'; is this a model?)")
    adapter_type = _string_key(header, "adapter.type", fail)
    if adapter_type != "lora":
        said = "no adapter.type" if adapter_type is None else f"adapter.type is {adapter_type!r}"
        raise fail(f"{said}, llama.cpp loads only 'lora' adapters")
    arch = _string_key(header, "general.architecture", fail)
    if not arch:
        raise fail("no general.architecture")
    alpha: float | None = None
    if "adapter.lora.alpha" in header.metadata:
        if header.metadata_types.get("adapter.lora.alpha") != FLOAT32:
            raise fail("adapter.lora.alpha must be a float32")
        alpha = float(header.metadata["adapter.lora.alpha"])
        if not math.isfinite(alpha):
            raise fail(f"adapter.lora.alpha is {alpha}")
    invocation = header.metadata.get("adapter.alora.invocation_tokens")
    if invocation is not None and (header.metadata_types.get("adapter.alora.invocation_tokens")
                                   != ARRAY or not isinstance(invocation, GGUFArray)
                                   or invocation.element_type != UINT32):
        raise fail("adapter.alora.invocation_tokens must be an array of uint32")
    name = _string_key(header, "general.name", fail)

    halves: dict[str, dict[str, TensorInfo]] = {}
    skipped = []
    for tensor in header.tensors:
        for suffix in (LORA_A, LORA_B):
            if tensor.name.endswith(suffix):
                base = tensor.name[:-len(suffix)]
                if LORA_A in base or LORA_B in base:  # llama.cpp's replace_all would mangle it
                    raise fail(f"tensor {tensor.name!r} names {LORA_A}/{LORA_B} twice")
                halves.setdefault(base, {})[suffix] = tensor
                break
        else:
            if not tensor.name.endswith(SKIPPED_SUFFIX):
                raise fail(f"tensor {tensor.name!r} is neither a .lora_a nor a .lora_b tensor")
            skipped.append(tensor.name)
    pairs = []
    for base in sorted(halves):  # llama.cpp's order: a std::map by base name
        found = halves[base]
        if len(found) != 2:
            missing = LORA_B if LORA_A in found else LORA_A
            raise fail(f"tensor {base + missing!r} is missing (a LoRA pair needs both halves)")
        pairs.append(_pair(base, found[LORA_A], found[LORA_B], fail))
    if not pairs:
        raise fail("it holds no LoRA tensors")
    ranks = tuple(sorted({pair.rank for pair in pairs}))
    return AdapterSummary(
        source=header.source, architecture=arch, name=name, alpha=alpha, rank=ranks[-1],
        ranks=ranks, pairs=tuple(pairs), targets=_targets(pairs),
        skipped_tensors=tuple(skipped),
        tensor_types=dict(sorted(Counter(t.type_name for t in header.tensors).items())),
        tensor_count=len(header.tensors),
        tensor_data_size=sum(pair.n_bytes for pair in pairs),
        file_size=header.file_size, header_size=header.header_size,
        gguf_version=header.version,
        alora_invocation_tokens=len(invocation) if isinstance(invocation, GGUFArray) else 0,
    )


def _pair(base: str, a: TensorInfo, b: TensorInfo, fail: Any) -> LoraPair:
    for half in (a, b):
        if half.type_name not in LORA_TENSOR_TYPES:
            raise fail(f"tensor {half.name!r} is {half.type_name}; LoRA tensors must be one of "
                       f"{', '.join(sorted(LORA_TENSOR_TYPES))}")
        if not 2 <= len(half.shape) <= 3:
            raise fail(f"tensor {half.name!r} has shape {list(half.shape)}: a LoRA tensor is a "
                       "matrix (or one matrix per expert)")
    if len(a.shape) != len(b.shape) or a.shape[2:] != b.shape[2:]:
        raise fail(f"the pair for {base!r} has shapes {list(a.shape)} and {list(b.shape)}")
    if base == TOKEN_EMBD:
        rank = a.shape[0]
        if b.shape[0] != rank:
            raise fail(f"the pair for {base!r} has ranks {rank} and {b.shape[0]}")
    else:
        rank = a.shape[1]
        if b.shape[0] != rank:
            raise fail(f"{a.name!r} is {list(a.shape)} and {b.name!r} is {list(b.shape)}: "
                       f"lora_b's first dimension must be lora_a's rank {rank} (lora_a not "
                       "transposed? adapters from the old finetune example are not supported)")
    return LoraPair(base=base, rank=rank, a=a, b=b)


def _targets(pairs: Sequence[LoraPair]) -> tuple[str, ...]:
    """Tensor kinds: ``blk.3.attn_q.weight`` -> ``attn_q``, ``output.weight`` -> ``output``."""
    kinds: dict[str, None] = {}
    for pair in pairs:
        parts = pair.base.split(".")
        if parts[0] == "blk" and len(parts) >= 3:
            parts = parts[2:]
        if parts[-1] in ("weight", "bias"):
            parts = parts[:-1]
        kinds[".".join(parts)] = None
    return tuple(sorted(kinds))


def read_adapter(path: str | os.PathLike[str]) -> AdapterSummary:
    """Read and check a LoRA adapter file's header (never its weights)."""
    return summarize_adapter(read_header(path))


def adapter_mismatches(adapter: AdapterSummary,
                       base: GGUFHeader | Sequence[GGUFHeader]) -> list[str]:
    """Why ``adapter`` does not fit the base model (every shard's header): empty if it fits."""
    shards = (base,) if isinstance(base, GGUFHeader) else tuple(base)
    if not shards:
        raise ValueError("adapter_mismatches() needs the base model's header")
    base_arch = shards[0].architecture
    if adapter.architecture != base_arch:
        model = base_arch or "of no known architecture"
        return [f"it is for {adapter.architecture}, the model is {model}"]
    tensors = {t.name: t for shard in shards for t in shard.tensors}
    problems = []
    for pair in adapter.pairs:
        target = tensors.get(pair.base)
        if target is None:
            problems.append(f"the model has no tensor {pair.base!r}")
            continue
        shape = target.shape
        if len(shape) < 2:
            problems.append(f"{pair.base!r} is a vector {list(shape)}, not a matrix")
            continue
        if pair.base == TOKEN_EMBD:
            fits = (pair.b_shape[1], pair.a_shape[1]) == shape[:2]
            want = [[pair.rank, shape[1]], [pair.rank, shape[0]]]
        else:
            fits = (pair.a_shape[0], pair.b_shape[1]) == shape[:2]
            want = [[shape[0], pair.rank], [pair.rank, shape[1]]]
        if len(shape) > 2:  # one pair per expert
            want = [dims + list(shape[2:]) for dims in want]
        fits = fits and pair.a_shape[2:] == shape[2:]
        if not fits:
            problems.append(f"{pair.base!r} is {list(shape)} in the model, the adapter's pair "
                            f"is {list(pair.a_shape)} and {list(pair.b_shape)} (expected {want[0]} "
                            f"and {want[1]}: "
                            "made for a model of other widths?)")
    return problems


def check_adapter_fits(adapter: AdapterSummary, base: GGUFHeader | Sequence[GGUFHeader]) -> None:
    """Raise ``AdapterMismatch`` naming what does not fit when ``adapter`` cannot be applied to
    the base model (another architecture, a missing tensor, other widths), as llama.cpp would
    refuse it."""
    problems = adapter_mismatches(adapter, base)
    if not problems:
        return
    shards = (base,) if isinstance(base, GGUFHeader) else tuple(base)
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    tail = f"; and {more} more" if more > 0 else ""
    raise AdapterMismatch(f"LoRA adapter {adapter.source} does not fit the model "
                          f"{shards[0].source}: {shown}{tail}")
