"""An OpenAI-compatible chat-completions server on loopback with scripted faults.

Behaviours (use with ``server.script(...)`` or as the default):
  ok(pieces, usage=True, delay=0)   a normal stream: a role chunk, an empty chunk, the pieces,
                                    a finish chunk, then (if asked for and ``usage``) a usage
                                    chunk with empty ``choices``, then [DONE]
  status(code, message, headers)    an HTTP error with OpenAI's error body
  midstream_error(pieces, message)  some text, then an error object inside the stream
  cut(pieces)                       some text, then the connection drops mid-body
  stall(seconds, pieces)            headers and some text, then silence
  hold(release, pieces)             headers and some text, then silence until ``release`` is set
  reject_stream_options()           400 when the request carries stream_options
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from tests.fakes.http_base import Behaviour, Exchange, FakeServer

ROUTES = ("/v1/chat/completions", "/chat/completions", "/v1/models")
PIECES = ("Hello", " from", " the", " fake", " server.")


def _chunk(delta: dict[str, Any], finish: str | None = None, model: str = "fake") -> str:
    payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1,
               "model": model, "choices": [{"index": 0, "delta": delta,
                                            "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n\n"


def _pieces(exchange: Exchange, pieces: Sequence[str], delay: float) -> None:
    exchange.write(_chunk({"role": "assistant"}))
    exchange.write(_chunk({"content": ""}))
    for piece in pieces:
        if delay:
            time.sleep(delay)
        exchange.write(_chunk({"content": piece}))


def ok(pieces: Sequence[str] = PIECES, *, usage: bool = True, delay: float = 0.0,
       prompt_tokens: int = 11, completion_tokens: int | None = None, cached_tokens: int = 0,
       reasoning_tokens: int = 0, finish: str = "stop", cost: float | None = None) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        body = exchange.request.body or {}
        exchange.start_stream()
        _pieces(exchange, pieces, delay)
        exchange.write(_chunk({}, finish))
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if usage and wants_usage:
            done = completion_tokens if completion_tokens is not None else len(pieces)
            report: dict[str, Any] = {
                "prompt_tokens": prompt_tokens, "completion_tokens": done,
                "total_tokens": prompt_tokens + done,
                "prompt_tokens_details": {"cached_tokens": cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}
            if cost is not None:
                report["cost"] = cost
            payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1,
                       "model": "fake", "choices": [], "usage": report}
            exchange.write(f"data: {json.dumps(payload)}\n\n")
        exchange.write("data: [DONE]\n\n")
        exchange.end_stream()

    return behave


def status(code: int, message: str = "error", *, headers: dict[str, str] | None = None,
           error_type: str = "error") -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.send_json(code, {"error": {"message": message, "type": error_type,
                                            "code": None}}, headers)

    return behave


def midstream_error(pieces: Sequence[str] = PIECES[:2], message: str = "upstream failed") -> (
        Behaviour):
    def behave(exchange: Exchange) -> None:
        exchange.start_stream()
        _pieces(exchange, pieces, 0.0)
        error = {"error": {"message": message, "type": "server_error"}}
        exchange.write(f"data: {json.dumps(error)}\n\n")
        exchange.end_stream()

    return behave


def cut(pieces: Sequence[str] = PIECES[:2]) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.start_stream()
        _pieces(exchange, pieces, 0.0)
        exchange.cut()

    return behave


def stall(seconds: float, pieces: Sequence[str] = ()) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.start_stream()
        if pieces:
            _pieces(exchange, pieces, 0.0)
        time.sleep(seconds)
        exchange.cut()

    return behave


def hold(release: threading.Event, pieces: Sequence[str] = ()) -> Behaviour:
    """Like stall, for as long as the test wants: the client's read stays blocked until it gives
    up by itself (a cancel, a timeout) or the test sets ``release``."""
    def behave(exchange: Exchange) -> None:
        exchange.start_stream()
        if pieces:
            _pieces(exchange, pieces, 0.0)
        release.wait(120)
        exchange.cut()

    return behave


def reject_stream_options(then: Behaviour | None = None) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        body = exchange.request.body or {}
        if "stream_options" in body:
            exchange.send_json(400, {"error": {
                "message": "Unrecognized request argument supplied: stream_options",
                "type": "invalid_request_error"}})
        else:
            (then or ok())(exchange)

    return behave


def models(exchange: Exchange) -> None:
    exchange.send_json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})


def server(default: Behaviour | None = None) -> FakeServer:
    """A fake OpenAI-compatible server; its base URL is ``server.url + "/v1"``."""
    return FakeServer(default or ok(), ROUTES)
