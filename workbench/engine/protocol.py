"""The line protocol between the app and the inference worker process.

One JSON object per line, UTF-8. The app writes requests to the worker's stdin; the worker writes
events to its stdout. llama.cpp's own log goes to the worker's stderr, which the app keeps as a
ring buffer of recent lines (shown when the worker crashes). docs/worker-protocol.md has the full
reference; this module is the single source of the names.

Requests (app -> worker), each with an integer ``id`` chosen by the app:
  {"id": 1, "op": "load", "settings": {LoadSettings fields}}
  {"id": 2, "op": "chat", "messages": [{"role": "user", "content": "..."}], "sampling": {...}}
  {"id": 3, "op": "cancel", "target": 2}          stop request 2 (between tokens, or mid-prompt)
  {"id": 7, "op": "bench", "pp_tokens": 512, "tg_tokens": 128, "repetitions": 5}
  {"id": 4, "op": "unload"}
  {"id": 5, "op": "stats"}
  {"id": 6, "op": "shutdown"}

Events (worker -> app):
  {"event": "ready", "pid": 123, "protocol": 1, "llama_cpp_version": "0.3.36"}   once, at start
  {"event": "heartbeat", "t": 12.5}                  every HEARTBEAT_S, from a separate thread
  {"event": "loaded", "id": 1, "info": {...}}         model facts, load_ms, buffer sizes
  {"event": "delta", "id": 2, "text": "...", "tokens": 7}   answer text (one or more tokens);
                                                      tokens: answer tokens sampled so far
  {"event": "done", "id": 2, "finish_reason": "stop" | "length" | "cancelled", "metrics": {...}}
  {"event": "progress", "id": 7, "stage": "warmup" | "pp" | "tg", "rep": 1}
  {"event": "bench_result", "id": 7, "result": {"pp_samples": [tok/s...], "tg_samples": [...]}}
  {"event": "unloaded", "id": 4}
  {"event": "stats", "id": 5, "stats": {...}}
  {"event": "error", "id": 2, "kind": ERROR_KINDS member, "message": "..."}
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = 1
LOG_MARK = "workbench-worker: end of load log for request "  # + id, on stderr
HEARTBEAT_S = 0.5

OPS = ("load", "chat", "bench", "cancel", "unload", "stats", "shutdown")
EVENTS = ("ready", "heartbeat", "loaded", "delta", "done", "progress", "bench_result",
          "unloaded", "stats", "error")
FINISH_REASONS = ("stop", "length", "cancelled")
ERROR_KINDS = (
    "bad_request",  # malformed or unknown request
    "no_model",  # chat before load
    "load_failed",  # llama.cpp refused the model (the message says why)
    "context_overflow",  # the prompt does not fit the context
    "internal",  # anything else that the worker survived
)


class ProtocolError(ValueError):
    """A line that is not a valid protocol message."""


def encode(message: dict[str, Any]) -> bytes:
    """One message as one line of UTF-8 JSON (newline included)."""
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode(line: bytes | str) -> dict[str, Any]:
    """Parse one line; raises ProtocolError for anything that is not a JSON object."""
    try:
        message = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ProtocolError(f"not JSON: {err}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message
