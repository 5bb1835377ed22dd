"""A tiny threaded HTTP server on 127.0.0.1 for the provider fakes: real sockets, real HTTP/1.1
chunked streaming, and a queue of scripted behaviours (one per request)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[["Exchange"], None]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Exchange:
    """One request being answered: the parsed request and helpers to write the response."""

    handler: BaseHTTPRequestHandler
    request: Recorded
    closed: bool = field(default=False)

    def send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(document).encode()
        self.handler.send_response(status)
        self.handler.send_header("Content-Type", "application/json")
        self.handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.handler.send_header(name, value)
        self.handler.end_headers()
        self.handler.wfile.write(data)
        self.handler.wfile.flush()

    def start_stream(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.handler.send_response(status)
        self.handler.send_header("Content-Type", "text/event-stream")
        self.handler.send_header("Cache-Control", "no-cache")
        self.handler.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.handler.send_header(name, value)
        self.handler.end_headers()
        self.handler.wfile.flush()

    def write(self, text: str) -> None:
        data = text.encode()
        self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.handler.wfile.flush()

    def end_stream(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def cut(self) -> None:
        """Drop the connection in the middle of the chunked body (no final chunk)."""
        self.handler.wfile.flush()
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        self.closed = True


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-response (cancel, timeout tests) is expected


class FakeServer:
    """``with FakeServer(default) as server:`` -> ``server.url``; ``server.script(b1, b2)``
    queues behaviours for the next requests (then ``default`` again)."""

    def __init__(self, default: Behaviour, routes: tuple[str, ...]) -> None:
        self.default = default
        self.routes = routes
        self.requests: list[Recorded] = []
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def _next(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # small SSE writes must not wait for Nagle's algorithm
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._handle(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                self._handle(body)

            def _handle(self, body: Any) -> None:
                record = Recorded(self.command, self.path,
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(record)
                if not any(self.path.rstrip("/").endswith(r) for r in server.routes):
                    Exchange(self, record).send_json(404, {"error": {
                        "message": f"no route {self.path}", "type": "not_found_error"}})
                    return
                exchange = Exchange(self, record)
                server._next()(exchange)
                if exchange.closed:
                    self.close_connection = True

        return Handler

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def sleep(seconds: float) -> None:
    time.sleep(seconds)
