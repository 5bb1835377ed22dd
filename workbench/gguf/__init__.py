"""GGUF headers: a strict streaming reader (local files and HTTP range reads) and a summary.

Reads only the header (metadata and tensor infos), never the weights, and validates it like
llama.cpp does; any malformed, truncated or hostile input raises ``GGUFError``.
"""

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
