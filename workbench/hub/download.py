"""The downloader: resumable, verified downloads into the Hugging Face cache.

Why not ``hf_hub_download``: huggingface_hub 2.x writes each download to a process-unique
temporary file and deletes it when the download fails, so nothing survives a crash, a cancel or
a restart; it has no progress callback (only a tqdm class), no cancel, and its disk-space check
only warns. This module writes the same cache layout (see ``cache.py``), so HF tools and
Workbench share every file:

1. the Hub's listing gives each file's size and LFS SHA-256 (the blob's name);
2. a file already in the cache (downloaded by any HF tool) is linked, not downloaded again;
3. the free disk space is checked against the bytes still missing, before anything starts;
4. bytes go to ``blobs/<sha256>.incomplete``; after a cut connection, a cancel, a crash or a
   restart the download continues with an HTTP Range request from the bytes on disk (which are
   hashed again first, so the final check covers every byte);
5. the SHA-256 is compared with the Hub's before the file counts: a mismatch deletes it;
6. the blob is renamed into place and ``snapshots/<commit>/<path>`` links to it.

The blob's lock (``.locks/...``) is the one huggingface_hub takes, so two tools never write the
same blob. Progress goes to a plain callback; ``cancel`` is a ``workbench.cancel.Cancellable``
(a ``CancelToken``, or any object with ``is_set()``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from workbench import __version__
from workbench.cancel import Cancellable, is_cancelled
from workbench.hub import cache
from workbench.hub.auth import Token, resolve_token
from workbench.hub.config import HubConfig, offline_block
from workbench.hub.errors import (
    AuthError,
    DiskSpaceError,
    DownloadCancelled,
    DownloadError,
    HashMismatchError,
    NetworkError,
    NotFoundError,
    OfflineError,
)
from workbench.hub.quant import RemoteFile
from workbench.hub.remote import gated_message

if TYPE_CHECKING:  # imported when a transfer starts: httpx costs the app's start 0.2 s
    import httpx

GiB = 1 << 30
MiB = 1 << 20
DISK_RESERVE_BYTES = 64 * MiB  # left free after a download, so the disk is never filled to 0
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_HASH_CHUNK = 4 * MiB


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands. Byte counts cover every file of the request."""

    repo_id: str
    filename: str  # the file being worked on
    state: str  # checking | waiting | verifying | downloading | done
    file_index: int
    file_count: int
    file_bytes: int  # bytes of this file on disk
    file_size: int | None
    bytes_done: int
    bytes_total: int | None
    rate_bps: float | None  # bytes per second over the last seconds (None: not known yet)
    eta_s: float | None
    resumed_bytes: int  # bytes of this file that were on disk before this run

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class DownloadedFile:
    """A verified file in the cache."""

    file: RemoteFile
    path: Path  # snapshots/<commit>/<path>: what to load
    blob_path: Path
    fetched_bytes: int  # transferred in this run
    resumed_from: int  # bytes that were on disk before this run
    cached: bool  # complete in the cache already: nothing transferred

    def to_dict(self) -> dict[str, object]:
        return {**self.file.to_dict(), "local_path": str(self.path),
                "blob_path": str(self.blob_path), "fetched_bytes": self.fetched_bytes,
                "resumed_from": self.resumed_from, "cached": self.cached}


@dataclass(frozen=True)
class FileState:
    file: RemoteFile
    cached: Path | None
    partial: int

    @property
    def missing(self) -> int:
        if self.cached is not None or self.file.size is None:
            return 0
        return max(0, self.file.size - self.partial)


class RateMeter:
    """Bytes per second over a sliding window (5 s), and the time left."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self.clock = clock
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, total_fetched: int) -> None:
        now = self.clock()
        self.samples.append((now, total_fetched))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()

    def rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        if t1 - t0 < 0.25:
            return None
        return (b1 - b0) / (t1 - t0)

    def eta(self, remaining: int | None) -> float | None:
        rate = self.rate()
        if remaining is None or not rate:
            return None
        return remaining / rate


class _Digest:
    """SHA-256 of the content (LFS files), or git's blob SHA-1 (small non-LFS files)."""

    def __init__(self, file: RemoteFile, size: int) -> None:
        self.file = file
        if file.sha256:
            self.kind, self.expected = "sha256", file.sha256.lower()
            self._h = hashlib.sha256()
        elif file.blob_id:
            self.kind, self.expected = "git-sha1", file.blob_id.lower()
            self._h = hashlib.sha1(usedforsecurity=False)
            self._h.update(b"blob %d\0" % size)
        else:
            raise DownloadError(f"{file.path}: the Hub gave no hash for this file, so it "
                                "cannot be verified; not downloading it")

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _open_partial(path: Path) -> BinaryIO:
    """The ``.incomplete`` file, opened for appending, never through a symlink and only if it
    is this user's (tests replace this to fill the disk)."""
    return cache.open_own_file(path, "partial download", append=True)


class Downloader:
    """Downloads files of one or more repositories into the HF cache (see the module doc)."""

    def __init__(self, config: HubConfig | None = None, token: Token | None = None, *,
                 poll_s: float = 2.0, stall_timeout_s: float = 60.0, max_retries: int = 5,
                 retry_wait_s: float = 1.0, connect_timeout_s: float = 15.0,
                 progress_interval_s: float = 0.1) -> None:
        self.config = config or HubConfig.from_env()
        self.token = token if token is not None else resolve_token()
        self.poll_s = poll_s
        self.stall_timeout_s = stall_timeout_s
        self.max_retries = max_retries
        self.retry_wait_s = retry_wait_s
        self.connect_timeout_s = connect_timeout_s
        self.progress_interval_s = progress_interval_s

    # -- before downloading -----------------------------------------------------------------
    def inspect(self, files: Sequence[RemoteFile]) -> list[FileState]:
        """What is in the cache already: complete files and partial downloads."""
        out = []
        for f in files:
            hit = cache.cached_path(self.config.cache_dir, f)
            out.append(FileState(f, hit, 0 if hit else cache.partial_size(self.config.cache_dir,
                                                                           f)))
        return out

    def check_disk_space(self, states: Sequence[FileState]) -> int:
        """Raise ``DiskSpaceError`` unless the missing bytes fit; returns the missing bytes."""
        missing = sum(s.missing for s in states)
        if missing == 0:
            return 0
        free = cache.free_bytes(self.config.cache_dir)
        if free < missing + DISK_RESERVE_BYTES:
            raise DiskSpaceError(
                f"not enough disk space in {self.config.cache_dir}: the download needs "
                f"{_size(missing)} more and {_size(free)} is free (keeping "
                f"{_size(DISK_RESERVE_BYTES)} spare); free some space or point HF_HOME at a "
                "disk with room")
        return missing

    # -- downloading --------------------------------------------------------------------------
    def download(self, files: Sequence[RemoteFile], *, progress: ProgressCallback | None = None,
                 cancel: Cancellable | None = None) -> list[DownloadedFile]:
        """Download (or find) every file, verified; raises a ``DownloadError`` subclass."""
        self.config.require_online("downloading")
        states = self.inspect(files)
        self.check_disk_space(states)
        sizes = [s.file.size for s in states]
        total = None if any(v is None for v in sizes) else sum(v for v in sizes if v is not None)
        run = _Run(self, states, total, progress, cancel)
        return run.all()


class _Run:
    """One call of ``Downloader.download``: the shared counters and the HTTP client."""

    def __init__(self, dl: Downloader, states: Sequence[FileState], total: int | None,
                 progress: ProgressCallback | None, cancel: Cancellable | None) -> None:
        self.dl = dl
        self.states = states
        self.total = total
        self.progress = progress
        self.cancel = cancel
        self.done_before = 0  # bytes of the files already finished in this run
        self.fetched = 0  # bytes transferred in this run, all files
        self.meter = RateMeter()
        self.last_emit = 0.0
        self.client: httpx.Client | None = None

    # -- helpers -------------------------------------------------------------------------------
    def cancelled(self) -> bool:
        return is_cancelled(self.cancel)

    def check_cancel(self, file: RemoteFile, on_disk: int) -> None:
        if self.cancelled():
            raise DownloadCancelled(f"{file.path}: download cancelled; {_size(on_disk)} kept, "
                                    "it resumes from there")

    def emit(self, index: int, file: RemoteFile, state: str, on_disk: int, resumed: int,
             force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self.last_emit < self.dl.progress_interval_s:
            return
        self.last_emit = now
        done = self.done_before + on_disk
        remaining = None if self.total is None else max(0, self.total - done)
        self.progress(DownloadProgress(
            repo_id=file.repo_id, filename=file.path, state=state, file_index=index,
            file_count=len(self.states), file_bytes=on_disk, file_size=file.size,
            bytes_done=done, bytes_total=self.total, rate_bps=self.meter.rate(),
            eta_s=self.meter.eta(remaining), resumed_bytes=resumed))

    def sleep(self, seconds: float, file: RemoteFile, on_disk: int) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_cancel(file, on_disk)
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    # -- the run -------------------------------------------------------------------------------
    def all(self) -> list[DownloadedFile]:
        import httpx

        headers = {"User-Agent": f"workbench/{__version__}", "Accept-Encoding": "identity"}
        if self.dl.token:
            headers["Authorization"] = f"Bearer {self.dl.token.value}"
        timeout = httpx.Timeout(self.dl.poll_s, connect=self.dl.connect_timeout_s)
        out = []
        with httpx.Client(headers=headers, timeout=timeout, follow_redirects=True) as client:
            self.client = client
            for index, state in enumerate(self.states):
                result = self.one(index, state)
                self.done_before += result.file.size or result.path.stat().st_size
                out.append(result)
        return out

    def one(self, index: int, state: FileState) -> DownloadedFile:
        file = state.file
        cache_dir = self.dl.config.cache_dir
        if state.cached is not None:
            self.emit(index, file, "done", file.size or 0, file.size or 0, force=True)
            return DownloadedFile(file, state.cached, state.cached.resolve(), 0,
                                  file.size or 0, True)
        etag = file.etag
        if etag is None or file.commit is None:
            raise DownloadError(f"{file.path}: the Hub listing gave no hash or commit for this "
                                "file; cannot download it into the cache")
        lock = cache.lock_path(cache_dir, file.repo_id, etag)
        lock.parent.mkdir(parents=True, exist_ok=True)
        cache.own_file(lock, "lock file")  # filelock >= 3.20.1 also refuses to follow one
        with self.locked(lock, index, file):
            hit = cache.cached_path(cache_dir, file)  # another process may have finished it
            if hit is not None:
                self.emit(index, file, "done", file.size or 0, file.size or 0, force=True)
                return DownloadedFile(file, hit, hit.resolve(), 0, file.size or 0, True)
            partial = cache.incomplete_path(cache_dir, file.repo_id, etag)
            partial.parent.mkdir(parents=True, exist_ok=True)
            resumed, fetched = self.fetch(index, file, partial)
            blob = cache.blob_path(cache_dir, file.repo_id, etag)
            os.replace(partial, blob)
            pointer = cache.pointer_path(cache_dir, file.repo_id, file.commit, file.path)
            cache.link_pointer(blob, pointer)
            cache.write_ref(cache_dir, file.repo_id, file.revision, file.commit)
        self.emit(index, file, "done", file.size or blob.stat().st_size, resumed, force=True)
        return DownloadedFile(file, pointer, blob, fetched, resumed, False)

    @contextlib.contextmanager
    def locked(self, path: Path, index: int, file: RemoteFile):  # type: ignore[no-untyped-def]
        from filelock import FileLock, Timeout

        lock = FileLock(str(path))
        while True:
            try:
                lock.acquire(timeout=0.2)
                break
            except Timeout:
                self.check_cancel(file, cache.partial_size(self.dl.config.cache_dir, file))
                self.emit(index, file, "waiting", 0, 0)
        try:
            yield
        finally:
            lock.release()

    def fetch(self, index: int, file: RemoteFile, partial: Path) -> tuple[int, int]:
        """Bring ``partial`` to the full, verified file; returns (resumed from, fetched)."""
        import httpx

        size = file.size
        info = cache.own_file(partial, "partial download")
        on_disk = info.st_size if info is not None else 0
        if size is not None and on_disk > size:  # not this file's bytes: start over
            partial.unlink()
            on_disk = 0
        resumed = on_disk
        digest = self.hash_existing(index, file, partial, on_disk)
        url = self.dl.config.resolve_url(file.repo_id, file.path, file.commit or file.revision)
        fetched = 0
        failures = 0
        stalled = 0.0
        restarted = False
        while size is None or on_disk < size:
            self.check_cancel(file, on_disk)
            request_headers = {"Range": f"bytes={on_disk}-"} if on_disk else {}
            progressed = False
            try:
                assert self.client is not None
                with self.client.stream("GET", url, headers=request_headers) as response:
                    start = self.check_response(response, file, on_disk)
                    if start is None:  # 416: what is on disk cannot be this file's start
                        if restarted:
                            raise DownloadError(f"{file.path}: the server refuses the range "
                                                f"from byte {on_disk}")
                        restarted = True
                        partial.unlink(missing_ok=True)
                        on_disk, resumed, digest = 0, 0, _Digest(file, size or 0)
                        continue
                    if start == 0 and on_disk:  # the server ignored Range: from the start
                        partial.unlink(missing_ok=True)
                        on_disk, resumed, digest = 0, 0, _Digest(file, size or 0)
                    if size is None:
                        size = _total_size(response, start)
                        file = replace(file, size=size)
                        digest = _Digest(file, size or 0) if on_disk == 0 else digest
                    self.emit(index, file, "downloading", on_disk, resumed, force=True)
                    with self.open_partial(partial, file, on_disk) as out:
                        for chunk in response.iter_raw():
                            if not chunk:
                                continue
                            self.check_cancel(file, on_disk)
                            if size is not None and on_disk + len(chunk) > size:
                                partial.unlink(missing_ok=True)
                                raise DownloadError(f"{file.path}: the server sent more than "
                                                    f"the file's {size} bytes; the partial "
                                                    "file was deleted")
                            self.write(out, chunk, file, partial, on_disk)
                            digest.update(chunk)
                            on_disk += len(chunk)
                            fetched += len(chunk)
                            self.fetched += len(chunk)
                            self.meter.add(self.fetched)
                            progressed = True
                            self.emit(index, file, "downloading", on_disk, resumed)
                        out.flush()
                        os.fsync(out.fileno())
                if size is None:
                    size = on_disk
                if on_disk < size:  # the response ended early: resume from here
                    raise httpx.RemoteProtocolError("the response ended early")
            except httpx.ReadTimeout:
                self.check_cancel(file, on_disk)
                stalled = 0.0 if progressed else stalled + self.dl.poll_s
                if stalled >= self.dl.stall_timeout_s:
                    raise NetworkError(f"{file.path}: no data for {stalled:.0f} s; "
                                       f"{_size(on_disk)} kept, run again to resume") from None
                continue
            except (httpx.TransportError, httpx.StreamError) as err:
                self.check_cancel(file, on_disk)
                if offline_block(err) is not None:
                    raise OfflineError(f"{file.path}: offline mode is on (nothing leaves this "
                                       f"machine); {_size(on_disk)} kept for later") from None
                failures = 0 if progressed else failures + 1
                if failures > self.dl.max_retries:
                    raise NetworkError(f"{file.path}: download failed after {failures} "
                                       f"attempts ({_transport_reason(err)}); {_size(on_disk)} "
                                       "kept, run again to resume") from None
                self.sleep(self.dl.retry_wait_s * (2 ** max(0, failures - 1)), file, on_disk)
                continue
            stalled = 0.0
        self.verify(index, file, partial, digest, on_disk, resumed)
        return resumed, fetched

    def hash_existing(self, index: int, file: RemoteFile, partial: Path,
                      on_disk: int) -> _Digest:
        digest = _Digest(file, file.size or 0)
        if not on_disk:
            return digest
        done = 0
        with cache.open_own_file(partial, "partial download", append=False) as fh:
            while done < on_disk:
                block = fh.read(min(_HASH_CHUNK, on_disk - done))
                if not block:
                    break
                digest.update(block)
                done += len(block)
                self.check_cancel(file, on_disk)
                self.emit(index, file, "checking", done, on_disk)
        return digest

    def verify(self, index: int, file: RemoteFile, partial: Path, digest: _Digest,
               on_disk: int, resumed: int) -> None:
        self.emit(index, file, "verifying", on_disk, resumed, force=True)
        actual = digest.hexdigest()
        if actual != digest.expected:
            partial.unlink(missing_ok=True)
            raise HashMismatchError(
                f"{file.path}: the downloaded file is corrupt ({digest.kind} {actual[:12]}…, "
                f"the Hub says {digest.expected[:12]}…); it was deleted, download it again")

    @contextlib.contextmanager
    def open_partial(self, partial: Path, file: RemoteFile, on_disk: int):  # type: ignore[no-untyped-def]
        try:
            out = _open_partial(partial)
        except OSError as err:
            raise self.disk_error(err, file, partial, on_disk) from None
        try:
            yield out
        except OSError as err:  # flush, fsync
            raise self.disk_error(err, file, partial, on_disk) from None
        finally:
            with contextlib.suppress(OSError):
                out.close()

    def write(self, out: BinaryIO, chunk: bytes, file: RemoteFile, partial: Path,
              on_disk: int) -> None:
        try:
            out.write(chunk)
        except OSError as err:
            raise self.disk_error(err, file, partial, on_disk) from None

    def disk_error(self, err: OSError, file: RemoteFile, partial: Path,
                   on_disk: int) -> DownloadError:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskSpaceError(f"{file.path}: the disk is full ({partial.parent}); "
                                  f"{_size(on_disk)} kept: free some space and run again to "
                                  "resume")
        return DownloadError(f"{file.path}: cannot write {partial}: {err.strerror or err}")

    def check_response(self, response: httpx.Response, file: RemoteFile,
                       on_disk: int) -> int | None:
        """The byte the body starts at (None for 416); raises for refusals and errors."""
        import httpx

        code = response.status_code
        what = f"{file.repo_id}/{file.path}"
        if code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match is None or int(match.group(1)) != on_disk:
                raise httpx.RemoteProtocolError("bad Content-Range in a 206 answer")
            return on_disk
        if code == 200:
            return 0
        if code == 416:
            return None
        if code in (401, 403):
            raise AuthError(gated_message(what, self.dl.token, code))
        if code in (404, 410):
            raise NotFoundError(f"{what}: not found on {self.dl.config.endpoint} "
                                f"(HTTP {code})")
        if code == 429 or code >= 500:
            raise httpx.RemoteProtocolError(f"HTTP {code}")  # retried like a cut connection
        raise DownloadError(f"{what}: unexpected HTTP {code}")


def _total_size(response: httpx.Response, start: int) -> int | None:
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if match and match.group(3) != "*":
            return int(match.group(3))
        return None
    length = response.headers.get("Content-Length")
    return int(length) + start if length and length.isdigit() else None


def _transport_reason(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _size(n: int) -> str:
    from workbench.present.numbers import format_size

    return format_size(n)
