"""A loopback Hugging Face Hub: the endpoints huggingface_hub and Workbench call, with faults.

Endpoints (what the real Hub answers, as far as the clients read it):

- ``GET /api/models?search=&filter=&sort=&limit=&expand=`` (``HfApi.list_models``);
- ``GET /api/models/{repo}[/revision/{rev}][?blobs=true]`` (``HfApi.model_info``, with sizes,
  git oids and LFS SHA-256 when ``blobs=true``);
- ``HEAD|GET /{repo}/resolve/{rev}/{path}``: an LFS file redirects (302) to the CDN (a
  second loopback server, another origin, so the token is not sent there) with
  ``X-Repo-Commit``, ``X-Linked-Etag`` (the SHA-256) and ``X-Linked-Size``; a non-LFS file is
  served directly with its git oid as ``ETag``. Gated repos answer 401 without a token and 403
  with a token that has no access (``X-Error-Code: GatedRepo``); unknown repos, revisions and
  files answer 404 with the Hub's error codes;
- CDN ``HEAD|GET /cdn/{sha256}``: the bytes, with ``Range`` support (206, 416).

Faults (``FakeHub`` methods): ``cut_after`` (close the connection mid-file), ``corrupt`` (flip a
byte while serving), ``throttle`` (slow), ``ignore_range`` (200 with the whole file), ``fail``
(an HTTP status for matching paths). Every
request is recorded (``requests``, ``content_requests``, ``bytes_served``).

The fixtures ``fake_hub`` and ``hub_env`` are in ``tests/conftest.py`` (every test can use
them); ``HubEnv`` and the GGUF files the Hub serves (``synthetic_gguf``, ``split_gguf``) are in
``tests/helpers/hub.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_THRESHOLD = 1024  # files at least this big are LFS files (like *.gguf on the Hub)
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class HubFile:
    path: str
    data: bytes
    lfs: bool

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def blob_id(self) -> str:
        return git_blob_id(self.data)


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, HubFile]
    commit: str
    gated: bool | str = False
    tokens: set[str] = field(default_factory=set)  # tokens granted access (gated repos)
    downloads: int = 0
    likes: int = 0
    license: str | None = "apache-2.0"
    tags: list[str] = field(default_factory=list)
    last_modified: str = "2025-01-02T03:04:05.000Z"
    gguf: dict[str, Any] | None = None

    @property
    def author(self) -> str:
        return self.repo_id.split("/", 1)[0]


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    authorized: bool  # an Authorization header was sent
    status: int = 0
    bytes_sent: int = 0
    file: str | None = None  # "repo/path" of the content served
    start: int = 0  # the first byte served


@dataclass
class _Fault:
    kind: str
    target: str | None  # "repo/path", or None for every file
    value: Any
    times: int | None  # None: always


class FakeHub:
    """The loopback Hub. ``endpoint`` is what HF_ENDPOINT should be."""

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        hub = self

        def handler(cdn: bool) -> type[BaseHTTPRequestHandler]:
            class Handler(BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"

                def log_message(self, format: str, *args: object) -> None:
                    pass

                def do_HEAD(self) -> None:
                    hub._handle(self, head=True, cdn=cdn)

                def do_GET(self) -> None:
                    hub._handle(self, head=False, cdn=cdn)

            return Handler

        # the Hub and its CDN are different origins, as on the real Hub (huggingface_hub
        # reads a file's metadata from the redirect and does not follow it off the Hub)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(False))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), handler(True))
        self._threads = []
        for server in (self.httpd, self.cdn):
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def endpoint(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cdn_endpoint(self) -> str:
        host, port = self.cdn.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        for server in (self.httpd, self.cdn):
            server.shutdown()
            server.server_close()

    # -- content ------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: dict[str, bytes | Path], **meta: Any) -> HubRepo:
        hub_files = {}
        for path, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            hub_files[path] = HubFile(path, data, len(data) >= LFS_THRESHOLD)
        commit = hashlib.sha1(repo_id.encode() + str(sorted(files)).encode(),
                              usedforsecurity=False).hexdigest()
        tokens = set(meta.pop("tokens", ()))
        repo = HubRepo(repo_id, hub_files, commit, tokens=tokens, **meta)
        self.repos[repo_id] = repo
        return repo

    # -- faults -------------------------------------------------------------------------------
    def cut_after(self, target: str | None, nbytes: int, times: int | None = 1) -> None:
        """Close the connection after ``nbytes`` of a response body (``times`` responses)."""
        self._faults.append(_Fault("cut", target, nbytes, times))

    def corrupt(self, target: str | None, offset: int, times: int | None = None) -> None:
        """Serve the byte at ``offset`` flipped."""
        self._faults.append(_Fault("corrupt", target, offset, times))

    def throttle(self, target: str | None, bytes_per_s: int, times: int | None = None) -> None:
        self._faults.append(_Fault("slow", target, bytes_per_s, times))

    def ignore_range(self, target: str | None, times: int | None = None) -> None:
        """Answer Range requests with the whole file (200), as some CDNs do."""
        self._faults.append(_Fault("ignore_range", target, None, times))

    def fail(self, pattern: str, status: int, times: int | None = None) -> None:
        """Answer ``status`` to requests whose path matches the regex ``pattern``."""
        self._faults.append(_Fault("status", pattern, status, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take(self, kind: str, target: str | None, path: str = "") -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind != kind or fault.times == 0:
                    continue
                if kind == "status":
                    if not re.search(str(fault.target), path):
                        continue
                elif fault.target is not None and fault.target != target:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    # -- what happened ------------------------------------------------------------------------
    def content_requests(self, target: str) -> list[Request]:
        """GETs that served bytes of ``repo/path``."""
        with self._lock:
            return [r for r in self.requests if r.file == target and r.method == "GET"]

    def bytes_served(self, target: str) -> int:
        return sum(r.bytes_sent for r in self.content_requests(target))

    # -- dispatch -----------------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler, head: bool, cdn: bool) -> None:
        parts = urlsplit(req.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        record = Request(req.command, req.path, req.headers.get("Range"),
                         bool(req.headers.get("Authorization")))
        with self._lock:
            self.requests.append(record)
        fault = self._take("status", None, path)
        try:
            if fault is not None:
                return self._error(req, record, fault.value, "Injected", "injected fault")
            if cdn:
                match = re.fullmatch(r"/cdn/([0-9a-f]{64})", path)
                if match:
                    return self._cdn(req, record, head, match.group(1))
                return self._error(req, record, 404, None, "no such object")
            if path == "/api/models":
                return self._search(req, record, query)
            match = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
            if match:
                return self._info(req, record, match.group(1), match.group(2) or "main",
                                  query)
            match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if match:
                return self._resolve(req, record, head, *match.groups())
            return self._error(req, record, 404, None, "no such endpoint")
        except (BrokenPipeError, ConnectionResetError):
            req.close_connection = True

    def _json(self, req: BaseHTTPRequestHandler, record: Request, document: Any,
              headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document).encode()
        record.status = 200
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(body)

    def _error(self, req: BaseHTTPRequestHandler, record: Request, status: int,
               code: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        record.status = status
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        if code:
            req.send_header("X-Error-Code", code)
        req.send_header("X-Error-Message", message)
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)

    # -- API ----------------------------------------------------------------------------------
    def _summary(self, repo: HubRepo) -> dict[str, Any]:
        return {
            "_id": repo.commit[:24], "id": repo.repo_id, "author": repo.author,
            "downloads": repo.downloads, "likes": repo.likes,
            "lastModified": repo.last_modified, "createdAt": "2024-06-01T00:00:00.000Z",
            "gated": repo.gated, "private": False, "disabled": False,
            "tags": ["gguf", *repo.tags, *([f"license:{repo.license}"] if repo.license else [])],
            "library_name": "gguf", "sha": repo.commit,
            **({"gguf": repo.gguf} if repo.gguf else {}),
        }

    def _search(self, req: BaseHTTPRequestHandler, record: Request,
                query: dict[str, list[str]]) -> None:
        text = (query.get("search") or [""])[0].lower()
        filters = query.get("filter") or []
        results = [r for r in self.repos.values() if text in r.repo_id.lower()]
        results = [r for r in results if all(f in self._summary(r)["tags"] for f in filters)]
        if "author" in query:
            results = [r for r in results if r.author == query["author"][0]]
        sort = (query.get("sort") or ["downloads"])[0]
        key = {"downloads": lambda r: r.downloads, "likes": lambda r: r.likes,
               "lastModified": lambda r: r.last_modified}.get(sort, lambda r: r.downloads)
        results.sort(key=key, reverse=True)
        limit = int((query.get("limit") or ["1000"])[0])
        expand = query.get("expand")
        out = []
        for repo in results[:limit]:
            summary = self._summary(repo)
            if expand:
                summary = {k: v for k, v in summary.items()
                           if k in ("id", "_id") or k in expand}
            out.append(summary)
        self._json(req, record, out)

    def _repo_or_error(self, req: BaseHTTPRequestHandler, record: Request,
                       repo_id: str) -> HubRepo | None:
        repo = self.repos.get(repo_id)
        if repo is None:
            self._error(req, record, 404, "RepoNotFound", "Repository not found")
        return repo

    def _info(self, req: BaseHTTPRequestHandler, record: Request, repo_id: str, revision: str,
              query: dict[str, list[str]]) -> None:
        repo = self._repo_or_error(req, record, repo_id)
        if repo is None:
            return
        if revision not in ("main", repo.commit):
            return self._error(req, record, 404, "RevisionNotFound", "Invalid rev id")
        blobs = (query.get("blobs") or ["false"])[0] in ("true", "True", "1")
        siblings = []
        for f in repo.files.values():
            sibling: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                sibling.update({"size": f.size, "blobId": f.blob_id})
                if f.lfs:
                    sibling["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
            siblings.append(sibling)
        document = {**self._summary(repo), "siblings": siblings,
                    "cardData": {"license": repo.license} if repo.license else {}}
        self._json(req, record, document)

    # -- files --------------------------------------------------------------------------------
    def _resolve(self, req: BaseHTTPRequestHandler, record: Request, head: bool, repo_id: str,
                 revision: str, filename: str) -> None:
        repo = self._repo_or_error(req, record, repo_id)
        if repo is None:
            return
        commit_header = {"X-Repo-Commit": repo.commit}
        if revision not in ("main", repo.commit):
            return self._error(req, record, 404, "RevisionNotFound", "Invalid rev id")
        if repo.gated:
            auth = req.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            if token is None:
                return self._error(req, record, 401, "GatedRepo",
                                   f"Access to model {repo_id} is restricted. You must have "
                                   "access to it and be authenticated to access it.",
                                   commit_header)
            if token not in repo.tokens:
                return self._error(req, record, 403, "GatedRepo",
                                   f"Access to model {repo_id} is restricted and you are not "
                                   "in the authorized list.", commit_header)
        f = repo.files.get(filename)
        if f is None:
            return self._error(req, record, 404, "EntryNotFound", "Entry not found",
                               commit_header)
        if f.lfs:
            record.status = 302
            req.send_response(302)
            req.send_header("Location", f"{self.cdn_endpoint}/cdn/{f.sha256}")
            req.send_header("X-Repo-Commit", repo.commit)
            req.send_header("X-Linked-Etag", f'"{f.sha256}"')
            req.send_header("X-Linked-Size", str(f.size))
            req.send_header("ETag", f'"{f.blob_id}"')
            req.send_header("Content-Length", "0")
            req.end_headers()
            return None
        return self._serve(req, record, head, repo, f, {"ETag": f'"{f.blob_id}"',
                                                         "X-Repo-Commit": repo.commit})

    def _cdn(self, req: BaseHTTPRequestHandler, record: Request, head: bool,
             sha256: str) -> None:
        for repo in self.repos.values():
            for f in repo.files.values():
                if f.lfs and f.sha256 == sha256:
                    return self._serve(req, record, head, repo, f, {"ETag": f'"{sha256}"'})
        return self._error(req, record, 404, None, "no such object")

    def _serve(self, req: BaseHTTPRequestHandler, record: Request, head: bool, repo: HubRepo,
               f: HubFile, headers: dict[str, str]) -> None:
        target = f"{repo.repo_id}/{f.path}"
        record.file = target
        data = f.data
        start, end = 0, f.size - 1
        status = 200
        wanted = req.headers.get("Range")
        if wanted and not head and self._take("ignore_range", target) is not None:
            wanted = None
        if wanted:
            match = _RANGE.match(wanted.strip())
            if match is None:
                return self._error(req, record, 400, None, "bad range")
            start = int(match.group(1))
            if match.group(2):
                end = min(int(match.group(2)), f.size - 1)
            if start >= f.size:
                return self._error(req, record, 416, None, "range not satisfiable",
                                   {"Content-Range": f"bytes */{f.size}"})
            status = 206
        record.status, record.start = status, start
        req.send_response(status)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Accept-Ranges", "bytes")
        req.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            req.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        if head:
            return None
        body = bytearray(data[start:end + 1])
        corrupt = self._take("corrupt", target)
        if corrupt is not None and start <= corrupt.value <= end:
            body[corrupt.value - start] ^= 0xFF
        cut = self._take("cut", target)
        slow = self._take("slow", target)
        limit = len(body) if cut is None else min(len(body), cut.value)
        chunk = 16 * 1024
        rate = slow.value if slow is not None else None
        sent = 0
        while sent < limit:
            piece = bytes(body[sent:min(limit, sent + chunk)])
            req.wfile.write(piece)
            req.wfile.flush()
            sent += len(piece)
            record.bytes_sent = sent
            if rate:
                time.sleep(len(piece) / rate)
        if cut is not None and limit < len(body):
            req.close_connection = True  # the client sees the body end early
        return None

