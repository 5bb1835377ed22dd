"""Byte sources for the header reader: a local file, or an HTTP(S) URL read with Range requests.

A source returns exactly the bytes asked for or raises: a local file as ``GGUFSourceError``
(missing, unreadable) or ``GGUFError`` (shorter than it claimed), a URL as ``GGUFSourceError``
(401, 403, 404) or ``GGUFRemoteError`` (connection, timeout, server error or misbehaviour).
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # imported where a remote file is read: httpx costs the app's start 0.3 s
    import httpx

from workbench import __version__
from workbench.gguf.errors import GGUFError, GGUFRemoteError, GGUFSourceError

_CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class ByteSource(Protocol):
    """Random access to the first bytes of a file whose size is known after the first read."""

    name: str
    size: int | None
    bytes_read: int

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``; exactly ``end - start`` of them (``end <= size``)."""
        ...

    def close(self) -> None: ...


def is_url(source: str | os.PathLike[str]) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def redact_url(url: str) -> str:
    """The URL without query string and credentials (signed CDN URLs, tokens) for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed host or port: keep what precedes any query
        return url.split("?", 1)[0].split("#", 1)[0]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class LocalSource:
    """A regular file on disk."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        self.bytes_read = 0
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise GGUFSourceError(f"{self.name}: no such file") from None
        except OSError as err:
            raise GGUFSourceError(f"{self.name}: cannot read: {err.strerror or err}") from None
        if stat.S_ISDIR(info.st_mode):
            raise GGUFSourceError(f"{self.name}: is a directory, not a GGUF file")
        if not stat.S_ISREG(info.st_mode):  # FIFOs and devices could block or never end
            raise GGUFSourceError(f"{self.name}: not a regular file")
        try:
            self._file: BinaryIO = Path(path).open("rb")  # noqa: SIM115 (closed by close())
        except OSError as err:
            raise GGUFSourceError(f"{self.name}: cannot open: {err.strerror or err}") from None
        self.size: int | None = os.fstat(self._file.fileno()).st_size

    def read(self, start: int, end: int) -> bytes:
        try:
            self._file.seek(start)
            data = self._file.read(end - start)
        except OSError as err:
            raise GGUFSourceError(f"{self.name}: read failed: {err.strerror or err}") from None
        self.bytes_read += len(data)
        if len(data) != end - start:
            raise GGUFError(f"{self.name}: the file ended at byte {start + len(data)}, before "
                            f"its size of {self.size} bytes (is it still being written?)")
        return data

    def close(self) -> None:
        self._file.close()


class HttpSource:
    """A file behind an HTTP(S) URL; HEAD for the size, then Range GETs from the start.

    Redirects are followed (the Hugging Face Hub's /resolve/ URLs redirect to a CDN; httpx drops
    the Authorization header when a redirect leaves the origin). A server that ignores Range and
    answers 200 with the whole file is read only as far as needed, then the connection is closed.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url
        self.name = redact_url(url)
        self.size: int | None = None
        self.bytes_read = 0
        self._token_given = token is not None
        self._total_timeout = 10 * timeout  # for one ranged read, however slowly bytes trickle
        headers = {"User-Agent": f"workbench/{__version__}", "Accept-Encoding": "identity"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        import httpx

        try:
            self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout),
                                        follow_redirects=True)
        except (httpx.HTTPError, ValueError) as err:
            raise GGUFSourceError(f"{self.name}: bad URL: {err}") from None
        try:
            self.size = self._head_size()
        except BaseException:
            self._client.close()
            raise

    # -- requests -----------------------------------------------------------------------------

    def _head_size(self) -> int | None:
        """The size from HEAD, or None to learn it from the first GET's Content-Range.

        A redirect target may refuse HEAD (URLs signed for GET only): then the Hub's first hop
        still tells the size of LFS files (X-Linked-Size), and the GET decides the rest.
        """
        with self._transport_errors():
            response = self._client.head(self.url)
        linked = None
        for hop in response.history:
            linked = _parse_int(hop.headers.get("X-Linked-Size"))
            if linked is not None:
                break
        refused = response.status_code >= 400
        if refused and (response.history or response.status_code in (405, 501)):
            return linked  # HEAD refused after a redirect, or not supported: the GET decides
        self._check_status(response)
        size = _parse_int(response.headers.get("Content-Length"))
        return size if size is not None else linked

    def read(self, start: int, end: int) -> bytes:
        want = end - start
        out = bytearray()
        deadline = time.monotonic() + self._total_timeout
        with self._transport_errors(), self._client.stream(
            "GET", self.url, headers={"Range": f"bytes={start}-{end - 1}"}
        ) as response:
            self._check_status(response)
            if response.status_code == 206:
                skip = 0
                self._learn_size(self._content_range_total(response, start))
            elif response.status_code == 200:  # Range ignored: the body starts at byte 0
                skip = start
                self._learn_size(_parse_int(response.headers.get("Content-Length")))
            else:
                raise GGUFRemoteError(f"{self.name}: unexpected HTTP {response.status_code} "
                                      "to a Range request")
            for chunk in response.iter_bytes(_CHUNK):
                self.bytes_read += len(chunk)
                if time.monotonic() > deadline:
                    raise GGUFRemoteError(f"{self.name}: too slow: {len(out)} of {want} bytes "
                                          f"in {self._total_timeout:.0f} s")
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk = chunk[skip:]
                    skip = 0
                out += chunk[: want - len(out)]
                if len(out) >= want:
                    break  # leaving the block closes the connection: no more bytes come
            complete_body = response.status_code == 200 and len(out) < want
        if complete_body and self.size is None:
            self.size = start + len(out)
        if len(out) < want and (self.size is None or start + len(out) < self.size):
            raise GGUFRemoteError(f"{self.name}: the server ended the response after "
                                  f"{start + len(out)} bytes, expected {end}")
        return bytes(out)

    def close(self) -> None:
        self._client.close()

    # -- helpers -------------------------------------------------------------------------------

    def _learn_size(self, size: int | None) -> None:
        if size is None:
            return
        if self.size is None:
            self.size = size
        elif self.size != size:
            raise GGUFRemoteError(f"{self.name}: the file size changed while reading "
                                  f"({self.size} then {size} bytes)")

    def _content_range_total(self, response: httpx.Response, start: int) -> int | None:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if match is None:
            raise GGUFRemoteError(f"{self.name}: HTTP 206 without a valid Content-Range header")
        if int(match.group(1)) != start:
            raise GGUFRemoteError(f"{self.name}: asked for bytes from {start}, the server sent "
                                  f"bytes from {match.group(1)}")
        return None if match.group(3) == "*" else int(match.group(3))

    def _check_status(self, response: httpx.Response) -> None:
        code = response.status_code
        if code < 400:
            return
        if code == 401:
            hint = ("the token was refused" if self._token_given
                    else "this needs a token (set HF_TOKEN or pass a token)")
            raise GGUFSourceError(f"{self.name}: HTTP 401 unauthorized: {hint}")
        if code == 403:
            raise GGUFSourceError(f"{self.name}: HTTP 403 forbidden: a gated or private model? "
                                  "Accept its licence on the Hub and use a token with access")
        if code in (404, 410):
            raise GGUFSourceError(f"{self.name}: HTTP {code}: no such file on the server")
        raise GGUFRemoteError(f"{self.name}: HTTP {code} {response.reason_phrase}".rstrip())

    def _transport_errors(self) -> _TransportErrors:
        return _TransportErrors(self.name)


class _TransportErrors:
    """Turns httpx's exceptions into GGUFSourceError / GGUFRemoteError with one clear line."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> Literal[False]:
        if exc is None:
            return False
        import httpx

        if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError)):
            raise GGUFSourceError(f"{self.name}: bad URL: {exc}") from None
        if isinstance(exc, httpx.TimeoutException):
            raise GGUFRemoteError(f"{self.name}: timed out ({type(exc).__name__})") from None
        if isinstance(exc, httpx.ConnectError):
            raise GGUFRemoteError(f"{self.name}: cannot connect: {exc}") from None
        if isinstance(exc, httpx.TooManyRedirects):
            raise GGUFRemoteError(f"{self.name}: too many redirects") from None
        if isinstance(exc, (httpx.HTTPError, httpx.StreamError)):
            raise GGUFRemoteError(f"{self.name}: transfer failed: {type(exc).__name__}: "
                                  f"{exc}") from None
        return False


def _parse_int(value: str | None) -> int | None:
    if value is None or not re.fullmatch(r"[0-9]{1,20}", value.strip()):
        return None
    return int(value.strip())


def open_source(source: str | os.PathLike[str], *, token: str | None = None,
                timeout: float = 30.0) -> LocalSource | HttpSource:
    """A LocalSource for a path, an HttpSource for an http(s) URL."""
    if is_url(source):
        return HttpSource(str(source), token=token, timeout=timeout)
    return LocalSource(source)
