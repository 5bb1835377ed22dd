"""A file server on 127.0.0.1 with the behaviours remote GGUF reads meet (Range or not,
redirects, signed URLs, auth, slow, trickling, short, cut and lying servers): ``FileServer``."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    sent: int = 0
    done: threading.Event = dataclasses.field(default_factory=threading.Event)


class FileServer:
    """Serves ``files`` under several behaviours, chosen by the first path segment:

    /range/F (HEAD and Range), /norange/F (200 with the whole body), /redirect/F (302 to
    /range/F), /signed/F (302 with X-Linked-Size to /getonly/F, which refuses HEAD with 403),
    /elsewhere/F (302 to another server), /private/F (401 without the token, 403 with
    a wrong one), /nohead/F (405 to HEAD), /nosize/F (no HEAD, 200 without Content-Length),
    /slow/F (answers after 3 s), /trickle/F (1 KiB every 10 ms), /short/F (206 with fewer
    bytes than asked), /cut/F (206 whose connection drops mid-body), /liar/F (206 from the
    wrong offset).
    Records each request with the body bytes it managed to send.
    """

    TOKEN = "secret-token"

    def __init__(self, files: dict[str, bytes], other: FileServer | None = None) -> None:
        self.files = files
        self.other = other
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                server.handle(self, head=True)

            def do_GET(self) -> None:
                server.handle(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, mode: str, name: str) -> str:
        return f"{self.base}/{mode}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def ranges(self) -> list[str | None]:
        return [r.headers.get("Range") for r in self.requests if r.method == "GET"]

    @property
    def sent(self) -> int:
        """Body bytes sent for the requests recorded since the last ``requests.clear()``."""
        for request in self.requests:  # the client may be done before the handler counted
            assert request.done.wait(10)
        return sum(r.sent for r in self.requests)

    def handle(self, req: BaseHTTPRequestHandler, head: bool) -> None:
        record = Request("HEAD" if head else "GET", req.path, dict(req.headers))
        with self.lock:
            self.requests.append(record)
        req.record = record  # type: ignore[attr-defined]
        try:
            self.respond(req, head)
        finally:
            record.done.set()

    def respond(self, req: BaseHTTPRequestHandler, head: bool) -> None:
        _, mode, name = req.path.split("/", 2)
        data = self.files.get(name)
        if data is None:
            return self.status(req, 404)
        if mode == "redirect":
            return self.status(req, 302, {"Location": f"/range/{name}"})
        if mode == "signed":  # like the Hub: a first hop with the size, then a GET-only CDN URL
            return self.status(req, 302, {"Location": f"/getonly/{name}",
                                          "X-Linked-Size": str(len(data))})
        if mode == "getonly" and head:
            return self.status(req, 403)
        if mode == "elsewhere":
            assert self.other is not None
            return self.status(req, 302, {"Location": self.other.url("range", name)})
        if mode == "private":
            auth = req.headers.get("Authorization")
            if auth is None:
                return self.status(req, 401)
            if auth != f"Bearer {self.TOKEN}":
                return self.status(req, 403)
        if mode in ("nohead", "nosize") and head:
            return self.status(req, 405)
        if mode == "slow":
            time.sleep(3)
        if mode == "trickle" and not head:
            return self.send(req, 200, {"Content-Length": str(len(data))}, data, pause=0.01)
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", req.headers.get("Range", ""))
        if mode in ("norange", "nosize") or match is None:
            headers = {} if mode == "nosize" else {"Content-Length": str(len(data))}
            return self.send(req, 200, headers, b"" if head else data)
        start, end = int(match.group(1)), min(int(match.group(2)), len(data) - 1)
        if mode == "liar":
            start += 1
        body = data[start:end + 1]
        headers = {"Content-Length": str(len(body)),
                   "Content-Range": f"bytes {start}-{end}/{len(data)}"}
        if mode == "short":  # says so honestly, but sends less than asked for
            body = body[: len(body) // 2]
            headers["Content-Length"] = str(len(body))
        if mode == "cut":  # drops the connection in the middle of the body
            body = body[: len(body) // 2]
        self.send(req, 206, headers, body)

    def status(self, req: BaseHTTPRequestHandler, code: int,
               headers: dict[str, str] | None = None) -> None:
        self.send(req, code, {"Content-Length": "0", **(headers or {})}, b"")

    def send(self, req: BaseHTTPRequestHandler, code: int, headers: dict[str, str],
             body: bytes, pause: float = 0) -> None:
        req.send_response(code)
        for key, value in headers.items():
            req.send_header(key, value)
        req.end_headers()
        chunk = 1024 if pause else CHUNK
        try:
            for i in range(0, len(body), chunk):
                req.wfile.write(body[i:i + chunk])
                req.wfile.flush()
                req.record.sent += len(body[i:i + chunk])  # type: ignore[attr-defined]
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass
