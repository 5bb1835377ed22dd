"""What a GGUF header holds: metadata (with compact arrays) and tensor infos."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from workbench.gguf.ggml_types import ARRAY, BOOL, STRING, value_type_name

_U64 = struct.Struct("<Q")


class GGUFArray(Sequence[Any]):
    """A read-only GGUF metadata array, stored compactly.

    Numbers live in an ``array.array``; strings stay as one UTF-8 blob plus start offsets and are
    decoded on access (a 150k-token vocabulary costs its bytes plus 8 bytes a token). It compares
    equal to any sequence (list, tuple) with equal items; ``tolist()`` gives plain Python values.
    """

    __slots__ = ("_blob", "_items", "_numbers", "_starts", "element_type")

    def __init__(self, element_type: int, *, numbers: array[Any] | None = None, blob: bytes = b"",
                 starts: array[int] | None = None, items: tuple[GGUFArray, ...] = ()) -> None:
        self.element_type = element_type
        self._numbers = numbers
        self._blob = blob
        self._starts = starts
        self._items = items

    def __len__(self) -> int:
        if self._numbers is not None:
            return len(self._numbers)
        if self._starts is not None:
            return len(self._starts)
        return len(self._items)

    def _item(self, index: int) -> Any:
        if self._numbers is not None:
            value = self._numbers[index]
            return bool(value) if self.element_type == BOOL else value
        if self._starts is not None:
            start = self._starts[index]
            (length,) = _U64.unpack_from(self._blob, start - 8)
            return self._blob[start:start + length].decode("utf-8", errors="replace")
        return self._items[index]

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError("GGUFArray index out of range")
        return self._item(index % len(self))

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self._item(i)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes, bytearray)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def tolist(self) -> list[Any]:
        """Plain Python values (nested arrays become nested lists)."""
        if self.element_type == ARRAY:
            return [item.tolist() for item in self._items]
        return list(self)

    @property
    def type_name(self) -> str:
        """``"array[string]"``, ``"array[int32]"``, ..."""
        inner = value_type_name(self.element_type)
        if self.element_type == ARRAY and self._items:
            inner = self._items[0].type_name
        return f"array[{inner}]"

    def __repr__(self) -> str:
        head = ", ".join(repr(v) for v in self[:4])
        more = ", ..." if len(self) > 4 else ""
        return f"GGUFArray({self.type_name}, len={len(self)}, [{head}{more}])"


def is_string_array(value: Any) -> bool:
    return isinstance(value, GGUFArray) and value.element_type == STRING


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's description. ``shape`` is ne0 first, as in ggml; ``offset`` is absolute."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    type_name: str
    offset: int
    n_bytes: int
    n_elements: int


@dataclass(frozen=True)
class GGUFHeader:
    """A parsed GGUF header. ``metadata`` values are int, float, bool, str or GGUFArray."""

    source: str
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int
    file_size: int
    header_size: int
    metadata_types: dict[str, int] = field(default_factory=dict)
    bytes_read: int = field(default=0, compare=False)

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    def get(self, key: str, default: Any = None) -> Any:
        """A metadata value; ``{arch}`` in ``key`` is replaced by the architecture."""
        if "{arch}" in key:
            if self.architecture is None:
                return default
            key = key.replace("{arch}", self.architecture)
        return self.metadata.get(key, default)

    def tensor(self, name: str) -> TensorInfo | None:
        for info in self.tensors:
            if info.name == name:
                return info
        return None

    @property
    def tensor_data_size(self) -> int:
        """Bytes of tensor data (without alignment padding)."""
        return sum(t.n_bytes for t in self.tensors)
