"""GGUF headers: a strict streaming reader (local files and HTTP range reads) and a summary.

Reads only the header (metadata and tensor infos), never the weights, and validates it like
llama.cpp does; any malformed, truncated or hostile input raises ``GGUFError``.

Its names are imported from their modules when first used (the ``gguf`` package they read
types from imports numpy: a window or a command that never reads a header does not wait for it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from workbench.gguf.adapter import (
        AdapterSummary,
        LoraPair,
        check_adapter_fits,
        is_adapter,
        looks_like_adapter,
        read_adapter,
        summarize_adapter,
    )
    from workbench.gguf.errors import AdapterMismatch, GGUFError, GGUFRemoteError, GGUFSourceError
    from workbench.gguf.model import GGUFArray, GGUFHeader, TensorInfo
    from workbench.gguf.reader import (
        DEFAULT_MAX_HEADER_BYTES,
        read_header,
        read_split_headers,
        split_sources,
    )
    from workbench.gguf.summary import ModelSummary, summarize

_HOMES = {
    "AdapterMismatch": "errors",
    "AdapterSummary": "adapter",
    "DEFAULT_MAX_HEADER_BYTES": "reader",
    "GGUFArray": "model",
    "GGUFError": "errors",
    "GGUFHeader": "model",
    "GGUFRemoteError": "errors",
    "GGUFSourceError": "errors",
    "LoraPair": "adapter",
    "ModelSummary": "summary",
    "TensorInfo": "model",
    "check_adapter_fits": "adapter",
    "is_adapter": "adapter",
    "looks_like_adapter": "adapter",
    "read_adapter": "adapter",
    "read_header": "reader",
    "read_split_headers": "reader",
    "split_sources": "reader",
    "summarize": "summary",
    "summarize_adapter": "adapter",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)

__all__ = [
    "DEFAULT_MAX_HEADER_BYTES",
    "AdapterMismatch",
    "AdapterSummary",
    "GGUFArray",
    "GGUFError",
    "GGUFHeader",
    "GGUFRemoteError",
    "GGUFSourceError",
    "LoraPair",
    "ModelSummary",
    "TensorInfo",
    "check_adapter_fits",
    "is_adapter",
    "looks_like_adapter",
    "read_adapter",
    "read_header",
    "read_split_headers",
    "split_sources",
    "summarize",
    "summarize_adapter",
]
