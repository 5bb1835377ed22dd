"""Errors of the GGUF reader: malformed files, missing sources, failed transfers."""

from __future__ import annotations

from workbench.errors import BadInput, RuntimeFailure


class GGUFError(BadInput):
    """The bytes are not a valid GGUF header (malformed, truncated or hostile input)."""


class GGUFSourceError(BadInput):
    """The file or URL cannot be used: missing, not a file, unreadable, 401/403/404."""


class GGUFRemoteError(RuntimeFailure):
    """A remote read failed: connection, timeout, server error, a server that misbehaves."""


class AdapterMismatch(BadInput):
    """A LoRA adapter that does not fit its base model (architecture, tensors, widths)."""
