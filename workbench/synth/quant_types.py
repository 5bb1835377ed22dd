"""The weight types ``workbench synth --quant`` makes: one table, read by both processes.

Each entry names llama.cpp's file type (``LLAMA_FTYPE_*``, llama.h of llama-cpp-python 0.3.36)
and the ggml tensor type the file must then contain (``llama_ftype_get_default_type`` in
src/llama-quant.cpp; a mix such as Q4_K_M also holds other types). Pure data, read by the
synthesiser and by the quantiser child (workbench.engine.worker.quantize).

- ``direct``: written by Workbench itself (F32, F16), no quantiser.
- ``imatrix``: llama.cpp refuses to make it without an importance matrix (the IQ1/IQ2 types,
  IQ3_XXS, Q2_K_S, and IQ3_XS whose mix holds IQ3_XXS tensors); the child passes a uniform one.
- ``override``: a tensor-name pattern forced to ``tensor_type``. MXFP4's only file type
  (MXFP4_MOE) puts expert tensors alone in MXFP4 and the rest in Q8_0, so a dense model would
  get none; the override makes every block weight MXFP4 (token embeddings and output stay Q8_0).
  NVFP4 has no file type the quantiser makes: a Q8_0 file with its block weights forced to NVFP4
  and ``file_type`` (what ``general.file_type`` then says) set to LLAMA_FTYPE_MOSTLY_NVFP4.
"""

from __future__ import annotations

from typing import NamedTuple


class QuantType(NamedTuple):
    """One ``--quant`` value: what it is and how llama.cpp makes it."""

    description: str
    ftype: str  # llama_cpp attribute, e.g. "LLAMA_FTYPE_MOSTLY_Q4_K_M"
    tensor_type: str  # the ggml type the file must contain (gguf/ggml names)
    bits_per_weight: float  # approximate, of the whole file (for the disk-space check)
    direct: bool = False
    imatrix: bool = False
    override: str | None = None  # regex of tensor names forced to tensor_type
    file_type: str | None = None  # general.file_type, where it is not ftype


def _q(description: str, ftype: str, tensor_type: str, bits: float, **kw: object) -> QuantType:
    prefix = "LLAMA_FTYPE_ALL_" if ftype == "F32" else "LLAMA_FTYPE_MOSTLY_"
    return QuantType(description, prefix + ftype, tensor_type, bits, **kw)  # type: ignore[arg-type]


QUANTS: dict[str, QuantType] = {
    "F32": _q("32-bit float, written directly", "F32", "F32", 32.0, direct=True),
    "F16": _q("16-bit float, written directly", "F16", "F16", 16.0, direct=True),
    "BF16": _q("bfloat16", "BF16", "BF16", 16.0),
    "Q8_0": _q("8-bit", "Q8_0", "Q8_0", 8.5),
    "Q6_K": _q("6-bit K-quant", "Q6_K", "Q6_K", 6.6),
    "Q5_K_M": _q("5-bit K-quant, medium", "Q5_K_M", "Q5_K", 5.7),
    "Q5_K_S": _q("5-bit K-quant, small", "Q5_K_S", "Q5_K", 5.5),
    "Q5_1": _q("5-bit legacy, with offsets", "Q5_1", "Q5_1", 6.0),
    "Q5_0": _q("5-bit legacy", "Q5_0", "Q5_0", 5.5),
    "Q4_K_M": _q("4-bit K-quant, medium", "Q4_K_M", "Q4_K", 4.9),
    "Q4_K_S": _q("4-bit K-quant, small", "Q4_K_S", "Q4_K", 4.6),
    "Q4_1": _q("4-bit legacy, with offsets", "Q4_1", "Q4_1", 5.0),
    "Q4_0": _q("4-bit legacy", "Q4_0", "Q4_0", 4.6),
    "IQ4_NL": _q("4.5-bit i-quant, non-linear", "IQ4_NL", "IQ4_NL", 4.6),
    "IQ4_XS": _q("4.25-bit i-quant", "IQ4_XS", "IQ4_XS", 4.3),
    "MXFP4": _q("4-bit microscaling float (OCP MX)", "MXFP4_MOE", "MXFP4", 4.3,
                override=r"^blk\."),
    "NVFP4": _q("4-bit NVIDIA float (E4M3 scales)", "Q8_0", "NVFP4", 4.7, override=r"^blk\.",
                file_type="LLAMA_FTYPE_MOSTLY_NVFP4"),
    "Q3_K_L": _q("3-bit K-quant, large", "Q3_K_L", "Q3_K", 4.3),
    "Q3_K_M": _q("3-bit K-quant, medium", "Q3_K_M", "Q3_K", 3.9),
    "Q3_K_S": _q("3-bit K-quant, small", "Q3_K_S", "Q3_K", 3.5),
    "IQ3_M": _q("3.66-bit i-quant mix", "IQ3_M", "IQ3_S", 3.8),
    "IQ3_S": _q("3.44-bit i-quant", "IQ3_S", "IQ3_S", 3.6),
    "IQ3_XS": _q("3.3-bit i-quant mix", "IQ3_XS", "IQ3_S", 3.5, imatrix=True),
    "IQ3_XXS": _q("3.06-bit i-quant", "IQ3_XXS", "IQ3_XXS", 3.3, imatrix=True),
    "Q2_K": _q("2-bit K-quant", "Q2_K", "Q2_K", 3.0),
    "Q2_K_S": _q("2-bit K-quant, small", "Q2_K_S", "Q2_K", 2.8, imatrix=True),
    "IQ2_M": _q("2.7-bit i-quant mix", "IQ2_M", "IQ2_S", 2.9, imatrix=True),
    "IQ2_S": _q("2.5-bit i-quant mix", "IQ2_S", "IQ2_XS", 2.7, imatrix=True),
    "IQ2_XS": _q("2.31-bit i-quant", "IQ2_XS", "IQ2_XS", 2.5, imatrix=True),
    "IQ2_XXS": _q("2.06-bit i-quant", "IQ2_XXS", "IQ2_XXS", 2.3, imatrix=True),
    "TQ2_0": _q("2-bit ternary", "TQ2_0", "TQ2_0", 2.3),
    "TQ1_0": _q("1.69-bit ternary", "TQ1_0", "TQ1_0", 2.0),
    "IQ1_M": _q("1.75-bit i-quant", "IQ1_M", "IQ1_M", 2.0, imatrix=True),
    "IQ1_S": _q("1.56-bit i-quant", "IQ1_S", "IQ1_S", 1.9, imatrix=True),
    "Q2_0": _q("2-bit legacy (64-value blocks)", "Q2_0", "Q2_0", 2.5),
    "Q1_0": _q("1-bit legacy (128-value blocks)", "Q1_0", "Q1_0", 1.6),
}


def file_type_label(quant: QuantType) -> str:
    """The name of its ``general.file_type``: ``LLAMA_FTYPE_MOSTLY_Q4_K_M`` -> ``Q4_K_M``."""
    ftype = quant.file_type or quant.ftype
    return ftype.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").removeprefix("ALL_")
