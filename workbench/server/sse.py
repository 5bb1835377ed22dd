"""Server-sent events (the text/event-stream format both APIs stream in)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering
DONE = b"data: [DONE]\n\n"  # OpenAI's end of stream


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def event(data: Any, name: str | None = None) -> bytes:
    """One event: ``data`` as one line of JSON (JSON text has no raw newline), named or not."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {dumps(data)}\n\n".encode()


def stream(body: AsyncIterator[bytes], headers: dict[str, str] | None = None,
           ) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={**HEADERS, **(headers or {})})
