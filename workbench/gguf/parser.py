"""A strict, streaming parser of GGUF headers (metadata and tensor infos, never the weights).

Every declared length or count is checked against the bytes the file can still hold (and the
header size limit) before anything is read or allocated, so hostile input ends in one
``GGUFError`` naming what was wrong and where. Layout and rules follow llama.cpp's
``ggml/src/gguf.cpp`` (gguf_init_from_reader).
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import Any

from workbench.gguf.errors import GGUFError, GGUFRemoteError
from workbench.gguf.ggml_types import (
    ARRAY,
    BOOL,
    GGML_TYPES,
    SCALAR_FORMATS,
    SCALAR_SIZES,
    STRING,
    UINT32,
    value_type_name,
)
from workbench.gguf.model import GGUFArray, GGUFHeader, TensorInfo
from workbench.gguf.sources import ByteSource

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
INITIAL_WINDOW = 2 * 1024 * 1024
MAX_DIMS = 4
MAX_TENSOR_NAME = 63  # GGML_MAX_NAME (64) includes the terminating NUL
MAX_ARRAY_DEPTH = 3  # an array of arrays of arrays at most (llama.cpp itself allows 1)
MAX_NESTED_ARRAYS = 65536  # inner arrays in the whole header: bounds Python objects per byte
INT64_MAX = 2**63 - 1

# Fewest bytes one item can take, to bound counts by the bytes left before reading anything.
_MIN_KV_BYTES = 8 + 1 + 4 + 1  # key length, a 1-byte key, value type, a 1-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # name length (empty name), n_dims = 0, type, offset
_MIN_ITEM_BYTES = {**SCALAR_SIZES, STRING: 8, ARRAY: 4 + 8}

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class _Window:
    """The first bytes of the source, grown by doubling up to the file size and the limit."""

    def __init__(self, source: ByteSource, limit: int) -> None:
        self.source = source
        self.limit = limit
        first = INITIAL_WINDOW if source.size is None else min(INITIAL_WINDOW, source.size)
        self.data = bytearray(source.read(0, min(first, limit)) if first and limit else b"")
        if source.size is None:
            raise GGUFRemoteError(f"{source.name}: the server reported no file size (no "
                                  "Content-Length or Content-Range), cannot check the tensors")
        self.size: int = source.size

    def need(self, pos: int, n: int, what: str) -> None:
        """Make ``data[pos:pos + n]`` available, or fail with where and why."""
        end = pos + n
        if end <= len(self.data):
            return
        if end > self.size:
            raise GGUFError(f"{self.source.name}: truncated or corrupt GGUF: {what} at byte {pos} "
                            f"needs {n} bytes, the file ends at byte {self.size}")
        if end > self.limit:
            raise GGUFError(f"{self.source.name}: the GGUF header goes past the limit of "
                            f"{self.limit} bytes (max_header_bytes) at byte {pos}, reading {what}")
        target = min(max(end, 2 * len(self.data), INITIAL_WINDOW), self.limit, self.size)
        self.data += self.source.read(len(self.data), target)

    def room(self, pos: int) -> int:
        """Bytes the header can still take from ``pos``: up to the file end and the limit."""
        return max(0, min(self.size, self.limit) - pos)


class _Parser:
    def __init__(self, window: _Window) -> None:
        self.w = window
        self.data = window.data  # grows in place: the same bytearray object throughout
        self.pos = 0
        self.nested_arrays = 0
        self.tensor_names: set[str] = set()
        self.offset_positions: list[int] = []
        self.name = window.source.name

    # -- primitives ------------------------------------------------------------------------------

    def fail(self, message: str, pos: int | None = None) -> GGUFError:
        at = self.pos if pos is None else pos
        return GGUFError(f"{self.name}: malformed GGUF: {message} (at byte {at})")

    def u32(self, what: str) -> int:
        self.w.need(self.pos, 4, what)
        value: int
        (value,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return value

    def u64(self, what: str) -> int:
        self.w.need(self.pos, 8, what)
        value: int
        (value,) = _U64.unpack_from(self.data, self.pos)
        self.pos += 8
        return value

    def raw_string(self, what: str, max_length: int | None = None) -> bytes:
        start = self.pos
        length = self.u64(f"length of {what}")
        if max_length is not None and length > max_length:
            raise self.fail(f"{what} is {length} bytes long, at most {max_length} allowed", start)
        self.w.need(self.pos, length, what)
        value = bytes(self.data[self.pos:self.pos + length])
        self.pos += length
        return value

    def text(self, what: str, max_length: int | None = None) -> str:
        start = self.pos
        raw = self.raw_string(what, max_length)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8", start) from None

    def check_count(self, count: int, min_item: int, what: str, start: int) -> None:
        """Fail unless ``count`` items of ``min_item`` bytes or more can fit in what is left."""
        if count * min_item > self.w.room(self.pos):
            if count * min_item > self.w.size - self.pos:
                raise self.fail(f"{what} is {count}, more than the {self.w.size - self.pos} "
                                "bytes left in the file can hold (truncated or corrupt?)", start)
            raise GGUFError(f"{self.name}: {what} is {count}: the header would exceed the limit "
                            f"of {self.w.limit} bytes (max_header_bytes) (at byte {start})")

    # -- metadata --------------------------------------------------------------------------------

    def scalar(self, value_type: int, what: str) -> Any:
        size = SCALAR_SIZES[value_type]
        self.w.need(self.pos, size, what)
        (value,) = struct.unpack_from("<" + SCALAR_FORMATS[value_type], self.data, self.pos)
        self.pos += size
        return bool(value) if value_type == BOOL else value

    def value(self, value_type: int, key: str, depth: int) -> Any:
        if value_type in SCALAR_FORMATS:
            return self.scalar(value_type, f"value of {key!r}")
        if value_type == STRING:
            raw = self.raw_string(f"string value of {key!r}")
            return raw.decode("utf-8", errors="replace")
        if value_type == ARRAY:
            return self.array(key, depth + 1)
        raise self.fail(f"key {key!r} has unknown value type {value_type}", self.pos - 4)

    def array(self, key: str, depth: int) -> GGUFArray:
        start = self.pos
        if depth > MAX_ARRAY_DEPTH:
            raise self.fail(f"arrays in {key!r} are nested more than {MAX_ARRAY_DEPTH} deep")
        element_type = self.u32(f"array element type of {key!r}")
        if element_type not in _MIN_ITEM_BYTES:
            raise self.fail(f"array {key!r} has unknown element type {element_type}", start)
        count = self.u64(f"array length of {key!r}")
        self.check_count(count, _MIN_ITEM_BYTES[element_type], f"the length of array {key!r}",
                         start + 4)
        if element_type in SCALAR_FORMATS:
            n_bytes = count * SCALAR_SIZES[element_type]
            self.w.need(self.pos, n_bytes, f"array {key!r}")
            numbers = array(SCALAR_FORMATS[element_type])
            numbers.frombytes(self.data[self.pos:self.pos + n_bytes])
            if sys.byteorder == "big":
                numbers.byteswap()
            self.pos += n_bytes
            return GGUFArray(element_type, numbers=numbers)
        if element_type == STRING:
            return self.string_array(key, count)
        self.nested_arrays += count
        if self.nested_arrays > MAX_NESTED_ARRAYS:
            raise self.fail(f"more than {MAX_NESTED_ARRAYS} nested arrays (in {key!r})", start)
        items = tuple(self.array(key, depth + 1) for _ in range(count))
        return GGUFArray(ARRAY, items=items)

    def string_array(self, key: str, count: int) -> GGUFArray:
        """Strings kept as one blob plus start offsets: cheap for 150k-token vocabularies."""
        data, need, unpack = self.data, self.w.need, _U64.unpack_from
        begin = pos = self.pos
        starts = array("Q")
        what = f"string in array {key!r}"
        for _ in range(count):
            if pos + 8 > len(data):
                need(pos, 8, what)
            (length,) = unpack(data, pos)
            pos += 8
            if pos + length > len(data):
                need(pos, length, what)
            starts.append(pos - begin)
            pos += length
        self.pos = pos
        return GGUFArray(STRING, blob=bytes(data[begin:pos]), starts=starts)

    # -- the file ------------------------------------------------------------------------------

    def header(self) -> GGUFHeader:
        self.w.need(0, 4, "the magic")
        magic = bytes(self.data[:4])
        if magic != MAGIC:
            raise GGUFError(f"{self.name}: not a GGUF file (starts with {magic!r}, expected "
                            f"b'GGUF')")
        self.pos = 4
        version = self.u32("the version")
        self.check_version(version)
        n_tensors = self.u64("the tensor count")
        n_kv = self.u64("the metadata count")
        least = n_tensors * _MIN_TENSOR_INFO_BYTES + n_kv * _MIN_KV_BYTES
        if least > self.w.room(self.pos):
            if least > self.w.size - self.pos:
                raise self.fail(f"{n_tensors} tensors and {n_kv} metadata entries cannot fit in "
                                f"the {self.w.size - self.pos} bytes left in the file (truncated "
                                "or corrupt?)", 8)
            raise GGUFError(f"{self.name}: {n_tensors} tensors and {n_kv} metadata entries "
                            f"need more than the limit of {self.w.limit} bytes "
                            "(max_header_bytes) for the header")

        metadata: dict[str, Any] = {}
        types: dict[str, int] = {}
        for index in range(n_kv):
            start = self.pos
            key = self.text(f"key #{index}")
            if not key:
                raise self.fail(f"key #{index} is empty", start)
            if key in metadata:
                raise self.fail(f"duplicate key {key!r}", start)
            value_type = self.u32(f"value type of {key!r}")
            types[key] = value_type
            metadata[key] = self.value(value_type, key, 0)

        alignment = self.alignment(metadata, types)
        tensors = [self.tensor_info(index) for index in range(n_tensors)]
        header_size = self.pos
        data_offset = _pad(header_size, alignment) if tensors else header_size
        placed = self.place_tensors(tensors, data_offset, alignment)
        return GGUFHeader(source=self.name, version=version, metadata=metadata, tensors=placed,
                          alignment=alignment, data_offset=data_offset, file_size=self.w.size,
                          header_size=header_size, metadata_types=types,
                          bytes_read=self.w.source.bytes_read)

    def check_version(self, version: int) -> None:
        if version in SUPPORTED_VERSIONS:
            return
        if version == 1:
            raise GGUFError(f"{self.name}: GGUF version 1 is no longer supported by llama.cpp; "
                            "convert the model again with a current llama.cpp")
        if version and not version & 0xFFFF and int.from_bytes(
                version.to_bytes(4, "little"), "big") in SUPPORTED_VERSIONS:
            raise GGUFError(f"{self.name}: a big-endian GGUF file; only little-endian files "
                            "are supported")
        raise GGUFError(f"{self.name}: unsupported GGUF version {version} (supported: 2, 3)")

    def alignment(self, metadata: dict[str, Any], types: dict[str, int]) -> int:
        if "general.alignment" not in metadata:
            return DEFAULT_ALIGNMENT
        value = metadata["general.alignment"]
        if types["general.alignment"] != UINT32:
            raise self.fail("general.alignment must be uint32, not "
                            f"{value_type_name(types['general.alignment'])}")
        if value <= 0 or value & (value - 1):
            raise self.fail(f"general.alignment {value} is not a power of two")
        return int(value)

    def tensor_info(self, index: int) -> TensorInfo:
        start = self.pos
        name = self.text(f"name of tensor #{index}", MAX_TENSOR_NAME)
        label = f"tensor {name!r}"
        if name in self.tensor_names:
            raise self.fail(f"duplicate tensor name {name!r}", start)
        self.tensor_names.add(name)
        n_dims = self.u32(f"dimension count of {label}")
        if n_dims > MAX_DIMS:
            raise self.fail(f"{label} has {n_dims} dimensions, at most {MAX_DIMS} allowed",
                            self.pos - 4)
        shape = tuple(self.u64(f"dimensions of {label}") for _ in range(n_dims))
        n_elements = 1
        for dim in shape:
            if dim == 0 or dim > INT64_MAX:
                raise self.fail(f"{label} has an invalid dimension {dim} in shape {shape}", start)
            n_elements *= dim
        if n_elements > INT64_MAX:
            raise self.fail(f"{label} has too many elements (shape {shape})", start)
        type_pos = self.pos
        ggml_type = self.u32(f"type of {label}")
        kind = GGML_TYPES.get(ggml_type)
        if kind is None:
            raise self.fail(f"{label} has unknown ggml type {ggml_type}", type_pos)
        row = shape[0] if shape else 1
        if row % kind.block_size:
            raise self.fail(f"{label} of type {kind.name} has rows of {row} elements, not a "
                            f"multiple of its block size {kind.block_size}", start)
        self.offset_positions.append(self.pos)
        offset = self.u64(f"data offset of {label}")
        return TensorInfo(name=name, shape=shape, ggml_type=ggml_type, type_name=kind.name,
                          offset=offset, n_bytes=n_elements // kind.block_size * kind.type_size,
                          n_elements=n_elements)

    def place_tensors(self, tensors: list[TensorInfo], data_offset: int,
                      alignment: int) -> tuple[TensorInfo, ...]:
        """Relative offsets become absolute. Like llama.cpp, the data must follow the infos'
        order, each tensor padded to the alignment: so no tensor overlaps or is misaligned."""
        placed = []
        expected = 0
        for info, at in zip(tensors, self.offset_positions, strict=True):
            if info.offset % alignment:
                raise self.fail(f"tensor {info.name!r} data offset {info.offset} is not a "
                                f"multiple of the alignment {alignment}", at)
            if info.offset != expected:
                problem = "overlaps the tensor before it" if info.offset < expected else (
                    "leaves a gap after the tensor before it")
                raise self.fail(f"tensor {info.name!r} data offset {info.offset} {problem} "
                                f"(expected {expected}: tensors are stored in order, each padded "
                                f"to {alignment} bytes)", at)
            expected = _pad(info.offset + info.n_bytes, alignment)
            start = data_offset + info.offset
            if start + info.n_bytes > self.w.size:
                raise GGUFError(
                    f"{self.name}: tensor {info.name!r} data [{start}, {start + info.n_bytes}) "
                    f"runs past the end of the file ({self.w.size} bytes): a truncated or "
                    "incomplete file?")
            placed.append(TensorInfo(info.name, info.shape, info.ggml_type, info.type_name,
                                     start, info.n_bytes, info.n_elements))
        return tuple(placed)


def _pad(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def parse_header(source: ByteSource, max_header_bytes: int) -> GGUFHeader:
    """Parse the header of an opened source; raises GGUFError on anything malformed."""
    window = _Window(source, max_header_bytes)
    return _Parser(window).header()
