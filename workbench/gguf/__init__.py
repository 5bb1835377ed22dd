"""GGUF headers: a strict streaming reader (local files and HTTP range reads) and a summary.

Reads only the header (metadata and tensor infos), never the weights, and validates it like
llama.cpp does; any malformed, truncated or hostile input raises ``GGUFError``.
"""

from workbench.gguf.errors import GGUFError, GGUFRemoteError, GGUFSourceError
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
    "GGUFArray",
    "GGUFError",
    "GGUFHeader",
    "GGUFRemoteError",
    "GGUFSourceError",
    "ModelSummary",
    "TensorInfo",
    "read_header",
    "read_split_headers",
    "split_sources",
    "summarize",
]
