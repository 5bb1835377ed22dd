"""Headers of real models' shapes without a file: plan a preset (workbench.synth.PRESETS) at full
size, e.g. "what would Llama-3.1-8B at Q8_0 need?", in milliseconds.

Matrices get one uniform type (``quant``); vectors and MoE routers stay F32, as converters
write them. Real quantization mixes (Q4_K_M's Q6_K tensors) differ slightly; for exact weights
read the real file's header.
"""

from __future__ import annotations

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from workbench.errors import BadInput
from workbench.gguf import GGUFHeader, TensorInfo
from workbench.synth.layout import hparams, tensors_for
from workbench.synth.presets import resolve_shape

ALIGNMENT = 32


def preset_header(preset: str, *, layers: int | None = None, quant: str = "Q8_0",
                  vocab_size: int | None = None, ctx: int | None = None) -> GGUFHeader:
    """A GGUF header (tensor infos and architecture metadata, no data) for a synth preset."""
    try:
        qtype = GGMLQuantizationType[quant.upper()]
    except KeyError:
        raise BadInput(f"unknown tensor type {quant!r}") from None
    shape = resolve_shape(None, preset, layers=layers, vocab_size=vocab_size, ctx=ctx)
    block, size = GGML_QUANT_SIZES[qtype]
    metadata: dict[str, object] = {"general.architecture": shape.arch,
                                   "general.name": f"{shape.name} (planned)"}
    for key, value, _kind in hparams(shape):
        metadata[key] = value
    tensors = []
    offset = 0
    for spec in tensors_for(shape):
        n = spec.n_elements
        if spec.keeps_f32:
            t, nbytes = GGMLQuantizationType.F32, n * 4
        elif spec.shape[0] % block == 0:
            t, nbytes = qtype, n // block * size
        else:
            t, nbytes = GGMLQuantizationType.F16, n * 2
        tensors.append(TensorInfo(spec.name, tuple(spec.shape), int(t), t.name, offset, nbytes,
                                  n))
        offset += -(-nbytes // ALIGNMENT) * ALIGNMENT
    return GGUFHeader(source=f"preset:{shape.name}", version=3, metadata=metadata,
                      tensors=tuple(tensors), alignment=ALIGNMENT, data_offset=0,
                      file_size=offset, header_size=0)
