"""A byte-level GGUF builder that can write anything, valid or not: value type ids (U8 ... F64),
``kv`` (one key/value), ``tensor`` (one tensor info), ``build`` (a whole header, with the counts,
version and alignment it is told). For the hostile-header, planner-bound and terminal-text tests.
"""

from __future__ import annotations

import struct

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_FORMATS = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "B",
            U64: "Q", I64: "q", F64: "d"}
F32_TYPE, Q4_0_TYPE = 0, 2


# -- a byte-level GGUF builder that can write anything, valid or not ----------------------------

def gstr(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def gvalue(value_type: int, value: object) -> bytes:
    if value_type in _FORMATS:
        return struct.pack("<" + _FORMATS[value_type], value)
    if value_type == STR:
        return gstr(value)  # type: ignore[arg-type]
    element_type, items = value  # type: ignore[misc]
    return struct.pack("<IQ", element_type, len(items)) + b"".join(
        gvalue(element_type, item) for item in items)


def kv(key: str | bytes, value_type: int, value: object) -> bytes:
    return gstr(key) + struct.pack("<I", value_type) + gvalue(value_type, value)


def tensor(name: str | bytes, shape: tuple[int, ...], ggml_type: int = F32_TYPE,
           offset: int = 0) -> bytes:
    dims = b"".join(struct.pack("<Q", d) for d in shape)
    return gstr(name) + struct.pack("<I", len(shape)) + dims + struct.pack("<IQ", ggml_type, offset)


def build(kvs: list[bytes] = (), tensors: list[bytes] = (), *, version: int = 3,  # type: ignore[assignment]
          n_tensors: int | None = None, n_kv: int | None = None, alignment: int = 32,
          data_size: int = 4096) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", version,
                                len(tensors) if n_tensors is None else n_tensors,
                                len(kvs) if n_kv is None else n_kv)
    out += b"".join(kvs) + b"".join(tensors)
    if tensors:
        out += b"\0" * (-len(out) % alignment) + b"\0" * data_size
    return out
