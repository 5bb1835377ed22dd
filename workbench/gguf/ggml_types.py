"""Sizes and names of GGUF value types and ggml tensor types (from the ``gguf`` package)."""

from __future__ import annotations

from dataclasses import dataclass

from gguf.constants import GGML_QUANT_SIZES, GGUFValueType, LlamaFileType


@dataclass(frozen=True)
class GGMLType:
    """A ggml tensor type: ``block_size`` elements take ``type_size`` bytes."""

    id: int
    name: str
    block_size: int
    type_size: int


def _ggml_types() -> dict[int, GGMLType]:
    table = {
        int(t): GGMLType(int(t), t.name, block, size)
        for t, (block, size) in GGML_QUANT_SIZES.items()
    }
    # Types llama.cpp 0.3.36's ggml knows that older ``gguf`` packages may not (ggml-common.h).
    for type_id, name, block, size in ((34, "TQ1_0", 256, 2 + 4 * 13), (35, "TQ2_0", 256, 2 + 64),
                                       (39, "MXFP4", 32, 1 + 16), (40, "NVFP4", 64, 4 + 32),
                                       (41, "Q1_0", 128, 2 + 16), (42, "Q2_0", 64, 2 + 64 // 4)):
        table.setdefault(type_id, GGMLType(type_id, name, block, size))
    # gguf gives Q8_1 4 + 4 + 32 bytes; ggml's block_q8_1 is two halves and 32 quants.
    table[9] = GGMLType(9, "Q8_1", 32, 2 + 2 + 32)
    return table


GGML_TYPES: dict[int, GGMLType] = _ggml_types()

# GGUF metadata value types of fixed size: struct format (little-endian), size in bytes.
SCALAR_FORMATS: dict[int, str] = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "B",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
SCALAR_SIZES: dict[int, int] = {
    t: {"B": 1, "b": 1, "H": 2, "h": 2, "I": 4, "i": 4, "f": 4, "Q": 8, "q": 8, "d": 8}[f]
    for t, f in SCALAR_FORMATS.items()
}
STRING = int(GGUFValueType.STRING)
ARRAY = int(GGUFValueType.ARRAY)
BOOL = int(GGUFValueType.BOOL)
UINT32 = int(GGUFValueType.UINT32)


def value_type_name(value_type: int) -> str:
    """``"uint32"``, ``"string"``, ... for a GGUF value type id."""
    try:
        return GGUFValueType(value_type).name.lower()
    except ValueError:
        return f"type{value_type}"


def _file_type_names() -> dict[int, str]:
    names = {}
    for ftype in LlamaFileType:
        if ftype == LlamaFileType.GUESSED:
            continue
        names[int(ftype)] = ftype.name.removeprefix("MOSTLY_").removeprefix("ALL_")
    # llama.h 0.3.36 file types that older ``gguf`` packages may not name
    for file_type, name in ((36, "TQ1_0"), (37, "TQ2_0"), (38, "MXFP4_MOE"), (39, "NVFP4"),
                            (40, "Q1_0"), (41, "Q2_0")):
        names.setdefault(file_type, name)
    return names


FILE_TYPE_NAMES: dict[int, str] = _file_type_names()
FILE_TYPE_GUESSED = 1024


def file_type_name(file_type: int) -> str | None:
    """``general.file_type`` as a quantization name like ``"Q4_K_M"`` (None when unknown)."""
    name = FILE_TYPE_NAMES.get(file_type & ~FILE_TYPE_GUESSED)
    if name is None:
        return None
    return f"{name} (guessed)" if file_type & FILE_TYPE_GUESSED else name
