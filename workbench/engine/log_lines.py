"""The model process's stderr, read as bounded lines.

llama-cpp-python prints a model's whole metadata (chat template included) as one line; a hostile
GGUF can make that megabytes. Each kept line is at most ``MAX_LINE_BYTES`` (the rest is counted,
not kept: ``... (N more bytes not kept)``), so the log buffer (a bounded number of lines), the
crash panel and crash details stay small whatever the model holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

MAX_LINE_BYTES = 4096
_SKIP_CHUNK = 1 << 16


def bounded_lines(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The lines of ``stream`` (decoded, right-stripped), each cut to ``limit`` bytes; never
    reads more than ``limit`` or 64 KiB into memory at once."""
    while True:
        raw = stream.readline(limit)
        if not raw:
            return
        if raw.endswith(b"\n") or len(raw) < limit:
            yield raw.decode("utf-8", "replace").rstrip()
            continue
        dropped = 0
        while True:  # skip the rest of this line, counting it
            rest = stream.readline(_SKIP_CHUNK)
            if not rest:
                break
            if rest.endswith(b"\n"):
                dropped += len(rest) - 1
                break
            dropped += len(rest)
        kept = raw.decode("utf-8", "ignore").rstrip()
        yield f"{kept}... ({dropped:,} more bytes not kept)"
