"""GGUF headers without a file: the one builder, its type policies, and preset headers.

``build_header`` turns a tensor layout (``workbench.synth.layout``) into a ``GGUFHeader``: each
tensor gets the ggml type a *type policy* picks for it, its byte count, and an offset aligned
to GGUF's default alignment. Two policies:

* ``uniform_types(quant)``: every matrix ``quant`` (F16 where its rows do not fit the blocks),
  vectors and MoE routers F32, as converters write them; what ``preset_header`` uses.
* ``quantiser_types(shape, quant)``: the mix llama.cpp's quantiser picks for a file type
  (``llama_tensor_get_type_impl`` in ``src/llama-quant.cpp``, llama-cpp-python 0.3.36), e.g.
  Q4_K_M's Q6_K tensors; what the catalog's headers use (``catalog.synthetic_header``).

``preset_header`` plans a synth preset (workbench.synth.PRESETS) at full size, e.g. "what would
Llama-3.1-8B at Q8_0 need?", in milliseconds. For exact weights read the real file's header.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gguf.constants import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGMLQuantizationType

from workbench.errors import BadInput
from workbench.gguf import GGUFHeader, TensorInfo
from workbench.synth.layout import ArchShape, TensorSpec, hparams, layout_tensors, tensors_for
from workbench.synth.presets import resolve_shape

ALIGNMENT = GGUF_DEFAULT_ALIGNMENT  # general.alignment when a file does not set it (32)

# A type policy: the ggml type name (``"Q4_K"``) a tensor is stored in.
TypePolicy = Callable[[TensorSpec], str]

# File type -> the ggml type most tensors get (llama_ftype_get_default_type, llama-quant.cpp).
FTYPE_BASE: dict[str, str] = {
    "F16": "F16", "BF16": "BF16", "Q8_0": "Q8_0", "Q6_K": "Q6_K",
    "Q5_K_M": "Q5_K", "Q5_K_S": "Q5_K", "Q4_K_M": "Q4_K", "Q4_K_S": "Q4_K", "Q4_0": "Q4_0",
    "Q3_K_L": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_S": "Q3_K", "Q2_K": "Q2_K",
    "IQ4_XS": "IQ4_XS", "IQ4_NL": "IQ4_NL",
}
# tensor_type_fallback: a 256-block type on a row length that is not a multiple of 256.
_FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
             "IQ4_XS": "IQ4_NL"}


# -- sizes -----------------------------------------------------------------------------------
def padded(n: int) -> int:
    """``n`` bytes rounded up to the alignment (where the next tensor's data starts)."""
    return -(-n // ALIGNMENT) * ALIGNMENT


def type_nbytes(type_name: str, shape: Sequence[int]) -> int:
    """Bytes of a tensor of this shape stored as ``type_name`` (whole blocks per row)."""
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    rows = 1
    for d in shape[1:]:
        rows *= d
    return shape[0] // block * size * rows


def _block(type_name: str) -> int:
    return GGML_QUANT_SIZES[GGMLQuantizationType[type_name]][0]


# -- type policies ---------------------------------------------------------------------------
def uniform_types(quant: str) -> TypePolicy:
    """Every matrix in ``quant`` (F16 where a row is not whole blocks); vectors/routers F32."""
    try:
        qtype = GGMLQuantizationType[quant.upper()]
    except KeyError:
        raise BadInput(f"unknown tensor type {quant!r}") from None
    block = GGML_QUANT_SIZES[qtype][0]

    def policy(spec: TensorSpec) -> str:
        if spec.keeps_f32:
            return "F32"
        return qtype.name if spec.shape[0] % block == 0 else "F16"

    return policy


def quantiser_types(shape: ArchShape, quant: str) -> TypePolicy:
    """The type llama.cpp's quantiser gives each tensor of ``shape`` for file type ``quant``."""
    types = {spec.name: ty for spec, ty in quantised_tensors(shape, quant)}
    return lambda spec: types[spec.name]


def quantised_tensors(shape: ArchShape, quant: str) -> tuple[tuple[TensorSpec, str], ...]:
    """Each tensor of ``shape`` with the ggml type llama.cpp's quantiser gives it.

    Follows ``llama_tensor_get_type_impl`` for the file types in ``FTYPE_BASE`` (no importance
    matrix, no overrides), including the row-length fallbacks of ``tensor_type_fallback``.
    """
    quant = quant.upper()
    if quant not in FTYPE_BASE:
        raise BadInput(f"unknown file type {quant!r}; choose from: {', '.join(FTYPE_BASE)}")
    return _quantised(shape, quant)


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


@functools.lru_cache(maxsize=512)
def _quantised(a: ArchShape, quant: str) -> tuple[tuple[TensorSpec, str], ...]:
    """``quantised_tensors``, memoised: validation, sizes and headers ask for the same ones."""
    base = FTYPE_BASE[quant]
    gqa = a.n_head // a.n_head_kv
    n_layer = a.n_layer
    seventy_b = n_layer == 80 and a.n_embd == 8192  # LLM_TYPE_70B
    out: list[tuple[TensorSpec, str]] = []
    for t in layout_tensors(a):
        role = t.role
        if t.keeps_f32:
            out.append((t, "F32"))
            continue
        if base in ("F16", "BF16"):
            out.append((t, base))
            continue
        new = base
        i = t.layer
        if role == "output" or (a.tied_embeddings and role == "token_embd"):
            new = "Q8_0" if t.shape[0] % 256 or base == "Q8_0" else "Q6_K"
        elif role == "token_embd":
            new = base
        elif role == "attn_v":
            if quant == "Q2_K":
                new = "Q4_K" if gqa >= 4 else "Q3_K"
            elif quant == "Q3_K_M":
                new = "Q5_K" if i < 2 else "Q4_K"
            elif quant == "Q3_K_L" or (quant in ("IQ4_NL", "IQ4_XS") and gqa >= 4):
                new = "Q5_K"
            elif quant in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layer):
                new = "Q6_K"
            elif quant == "Q4_K_S" and i < 4:
                new = "Q5_K"
            if seventy_b and new in ("Q3_K", "Q4_K"):
                new = "Q5_K"
            if a.n_expert == 8:
                new = "Q8_0"
        elif role == "attn_k" and a.n_expert == 8:
            new = "Q8_0"
        elif role in ("ffn_down", "ffn_down_exps"):
            if quant == "Q2_K":
                new = "Q3_K"
            elif quant == "Q3_K_M":
                new = "Q5_K" if i < n_layer // 16 else "Q4_K"
            elif quant == "Q3_K_L":
                new = "Q5_K"
            elif quant in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layer):
                new = "Q6_K"
            elif quant in ("IQ4_NL", "IQ4_XS", "Q4_K_S") and i < n_layer // 8:
                new = "Q5_K"  # IQ4: without an importance matrix, as computed sizes assume
        elif role == "attn_output":
            if a.n_expert == 8:
                if quant in ("Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS"):
                    new = "Q5_K"
            elif quant == "Q2_K":
                new = "Q3_K"
            elif quant == "Q3_K_M":
                new = "Q4_K"
            elif quant == "Q3_K_L":
                new = "Q5_K"
        elif role == "attn_qkv":
            if quant in ("Q3_K_M", "Q3_K_L"):
                new = "Q4_K"
            elif quant == "Q4_K_M":
                new = "Q5_K"
            elif quant == "Q5_K_M":
                new = "Q6_K"
        out.append((t, _fallback(new, t.shape[0])))
    return tuple(out)


def _fallback(type_name: str, ncols: int) -> str:
    if ncols % _block(type_name) == 0:
        return type_name
    fallback = _FALLBACK.get(type_name, type_name)
    if ncols % _block(fallback):
        return "F16"
    return fallback


# -- the header builder ----------------------------------------------------------------------
def build_header(tensors: Sequence[TensorSpec], types: TypePolicy, metadata: Mapping[str, Any],
                 *, source: str, file_size: int | None = None,
                 rescale: bool = False) -> GGUFHeader:
    """A GGUF header (tensor infos and metadata, no data) for ``tensors`` typed by ``types``.

    Without ``file_size`` the header is all tensor data (``data_offset`` 0). With it, the
    bytes before the data make up the difference (a real file's tokenizer and metadata), and
    ``rescale`` scales the matrices' byte counts (by 0.75 to 1.3) so that the data fills the
    file: a catalogued size the quant-mix rules do not reproduce exactly.
    """
    typed = [(spec, types(spec)) for spec in tensors]
    raw = [type_nbytes(ty, spec.shape) for spec, ty in typed]
    scale = 1.0
    if rescale and file_size is not None:
        scale = min(1.3, max(0.75, file_size / sum(padded(n) for n in raw)))
    sizes = [n if spec.keeps_f32 else int(n * scale)
             for (spec, _), n in zip(typed, raw, strict=True)]
    data_size = sum(padded(n) for n in sizes)
    total = data_size if file_size is None else max(file_size, data_size)
    data_offset = total - data_size
    infos: list[TensorInfo] = []
    offset = data_offset
    for (spec, ty), size in zip(typed, sizes, strict=True):
        infos.append(TensorInfo(name=spec.name, shape=tuple(spec.shape),
                                ggml_type=int(GGMLQuantizationType[ty]), type_name=ty,
                                offset=offset, n_bytes=size, n_elements=spec.n_elements))
        offset += padded(size)
    return GGUFHeader(source=source, version=3, metadata=dict(metadata), tensors=tuple(infos),
                      alignment=ALIGNMENT, data_offset=data_offset, file_size=total,
                      header_size=data_offset)


def preset_header(preset: str, *, layers: int | None = None, quant: str = "Q8_0",
                  vocab_size: int | None = None, ctx: int | None = None,
                  types: TypePolicy | None = None) -> GGUFHeader:
    """A GGUF header (tensor infos and architecture metadata, no data) for a synth preset.

    Tensors are typed ``uniform_types(quant)`` unless another policy is given. Real
    quantization mixes (Q4_K_M's Q6_K tensors) differ slightly: ``quantiser_types``.
    """
    policy = types or uniform_types(quant)
    shape = resolve_shape(None, preset, layers=layers, vocab_size=vocab_size, ctx=ctx)
    metadata: dict[str, object] = {"general.architecture": shape.arch,
                                   "general.name": f"{shape.name} (planned)"}
    for key, value, _kind in hparams(shape):
        metadata[key] = value
    return build_header(tensors_for(shape), policy, metadata, source=f"preset:{shape.name}")
