"""A loopback server speaking Anthropic's Messages API streaming events (the documented order):

  message_start -> content_block_start -> ping -> content_block_delta (text_delta)... ->
  content_block_stop -> message_delta (stop_reason, cumulative usage.output_tokens) ->
  message_stop

Behaviours: ok(...), status(code, error_type, message), error_event(pieces, error_type) (an
``event: error`` after some text), cut(pieces), tool_use(pieces) (a forced tool call: one
``tool_use`` block named as the request's ``tool_choice``, its input streamed as
``input_json_delta`` pieces, stop reason ``tool_use``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from tests.fakes.http_base import Behaviour, Exchange, FakeServer

ROUTES = ("/v1/messages",)
PIECES = ("Bonjour", " from", " Claude's", " fake.")


def _event(exchange: Exchange, name: str, data: dict[str, Any]) -> None:
    exchange.write(f"event: {name}\ndata: {json.dumps(data)}\n\n")


def _start(exchange: Exchange, input_tokens: int, cache_read: int, cache_write: int,
           block: dict[str, Any] | None = None) -> None:
    model = (exchange.request.body or {}).get("model", "claude-fake")
    _event(exchange, "message_start", {"type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                  "cache_read_input_tokens": cache_read,
                  "cache_creation_input_tokens": cache_write}}})
    _event(exchange, "content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": block or {"type": "text",
                                                                        "text": ""}})
    _event(exchange, "ping", {"type": "ping"})


def _deltas(exchange: Exchange, pieces: Sequence[str], delay: float) -> None:
    for piece in pieces:
        if delay:
            time.sleep(delay)
        _event(exchange, "content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": piece}})


def ok(pieces: Sequence[str] = PIECES, *, input_tokens: int = 20, cache_read: int = 0,
       cache_write: int = 0, output_tokens: int | None = None, stop_reason: str = "end_turn",
       delay: float = 0.0) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.start_stream()
        _start(exchange, input_tokens, cache_read, cache_write)
        _deltas(exchange, pieces, delay)
        _event(exchange, "content_block_stop", {"type": "content_block_stop", "index": 0})
        done = output_tokens if output_tokens is not None else len(pieces)
        _event(exchange, "message_delta", {"type": "message_delta", "delta": {
            "stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": done}})
        _event(exchange, "message_stop", {"type": "message_stop"})
        exchange.end_stream()

    return behave


TOOL_PIECES = ('{"reason": "the answer', ' names Paris"', ', "pass": tr', 'ue, "score": 1}')


def tool_use(pieces: Sequence[str] = TOOL_PIECES, *, input_tokens: int = 40,
             output_tokens: int | None = None) -> Behaviour:
    """The answer to a request that forces a tool: its input JSON streamed in pieces."""
    def behave(exchange: Exchange) -> None:
        body = exchange.request.body or {}
        name = (body.get("tool_choice") or {}).get("name", "tool")
        exchange.start_stream()
        _start(exchange, input_tokens, 0, 0, {"type": "tool_use", "id": "toolu_fake",
                                              "name": name, "input": {}})
        for piece in pieces:
            _event(exchange, "content_block_delta", {"type": "content_block_delta", "index": 0,
                                                     "delta": {"type": "input_json_delta",
                                                               "partial_json": piece}})
        _event(exchange, "content_block_stop", {"type": "content_block_stop", "index": 0})
        done = output_tokens if output_tokens is not None else len(pieces)
        _event(exchange, "message_delta", {"type": "message_delta", "delta": {
            "stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": done}})
        _event(exchange, "message_stop", {"type": "message_stop"})
        exchange.end_stream()

    return behave


def status(code: int, error_type: str, message: str = "error", *,
           headers: dict[str, str] | None = None) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.send_json(code, {"type": "error", "error": {"type": error_type,
                                                             "message": message}}, headers)

    return behave


def error_event(pieces: Sequence[str] = PIECES[:2], error_type: str = "overloaded_error",
                message: str = "Overloaded") -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.start_stream()
        _start(exchange, 20, 0, 0)
        _deltas(exchange, pieces, 0.0)
        _event(exchange, "error", {"type": "error", "error": {"type": error_type,
                                                               "message": message}})
        exchange.end_stream()

    return behave


def cut(pieces: Sequence[str] = PIECES[:2]) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.start_stream()
        _start(exchange, 20, 0, 0)
        _deltas(exchange, pieces, 0.0)
        exchange.cut()

    return behave


def server(default: Behaviour | None = None) -> FakeServer:
    """A fake Anthropic API; point the SDK's base_url at ``server.url``."""
    return FakeServer(default or ok(), ROUTES)
