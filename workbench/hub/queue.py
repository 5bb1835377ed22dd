"""The download queue: jobs run one after another on worker threads, and survive restarts.

Every job (a repository's variant: one file or all shards of a split set) is kept in
``<data dir>/downloads.json``. A job that was running when its process died (a crash, a kill,
the app closed) is found again as queued, and its bytes on disk are resumed, not downloaded
again. Several processes (the app and ``workbench pull``) share the file: a lock guards every
change, each process only changes the jobs it runs, and a job whose owner is alive is left alone.

Core code only: progress goes to plain callbacks, cancelling takes a job id; the GUI wraps both.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.cancel import Cancellable, CancelToken
from workbench.errors import WorkbenchError
from workbench.hub import cache
from workbench.hub.auth import Token
from workbench.hub.config import HubConfig
from workbench.hub.download import DownloadedFile, Downloader, DownloadProgress
from workbench.hub.errors import DownloadCancelled, DownloadError, NotFoundError
from workbench.hub.quant import RemoteFile
from workbench.store.state_file import read_json_state, write_json_atomic

STATES = ("queued", "running", "paused", "done", "failed", "cancelled")
STATE_VERSION = 1
PERSIST_INTERVAL_S = 2.0

JobCallback = Callable[["DownloadJob", "DownloadProgress | None"], None]


def state_path() -> Path:
    return paths.data_dir() / "downloads.json"


def _owner() -> dict[str, Any]:
    import psutil

    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": psutil.Process().create_time()}


def owner_alive(owner: dict[str, Any] | None) -> bool:
    """Whether the process that owns a running job still exists (pid reuse checked)."""
    import psutil

    if not owner:
        return False
    if owner.get("host") != socket.gethostname():
        return True  # another machine sharing the data dir: cannot tell, leave its job alone
    try:
        process = psutil.Process(int(owner["pid"]))
        return abs(process.create_time() - float(owner.get("started") or 0)) < 1.0
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


@dataclass
class DownloadJob:
    """One download: a variant of a repository (one or more files)."""

    id: str
    repo_id: str
    revision: str
    commit: str | None
    name: str
    quant: str | None
    files: list[RemoteFile]
    state: str = "queued"
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    bytes_done: int = 0
    bytes_total: int | None = None
    rate_bps: float | None = None
    eta_s: float | None = None
    paths: list[str] = field(default_factory=list)
    owner: dict[str, Any] | None = None
    interrupted: bool = False  # was running when its process died

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.repo_id, self.commit or self.revision, self.name)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "files"}
        out["files"] = [{**f.to_dict(), "revision": f.revision, "commit": f.commit}
                        for f in self.files]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DownloadJob:
        files = [RemoteFile(repo_id=raw["repo_id"], path=f["path"], size=f.get("size"),
                            sha256=f.get("sha256"), blob_id=f.get("blob_id"),
                            revision=f.get("revision") or raw["revision"],
                            commit=f.get("commit") or raw.get("commit"))
                 for f in raw["files"]]
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw and k != "files"}
        job = cls(**known, files=files)
        if job.state not in STATES:
            job.state = "failed"
        return job


class JobStore:
    """The JSON file of jobs, changed under a lock shared by every process."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_path()
        self._thread_lock = threading.RLock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, FileLock(str(self.path) + ".lock", timeout=30):
            yield

    def _read(self) -> dict[str, DownloadJob]:
        """The jobs on disk; a file that does not parse is set aside, any other read error
        raises (a transient error must not make the next save drop every other job)."""
        raw = read_json_state(self.path, default={})
        jobs = {}
        for item in raw.get("jobs", []) if isinstance(raw, dict) else []:
            try:
                job = DownloadJob.from_dict(item)
            except (KeyError, TypeError, ValueError):
                continue
            jobs[job.id] = job
        return jobs

    def _write(self, jobs: dict[str, DownloadJob]) -> None:
        document = {"version": STATE_VERSION, "jobs": [j.to_dict() for j in jobs.values()]}
        write_json_atomic(self.path, document)

    def load(self) -> dict[str, DownloadJob]:
        """Every job; a running job whose process is gone reads as queued (interrupted)."""
        with self._locked():
            jobs = self._read()
        for job in jobs.values():
            if job.state == "running" and not owner_alive(job.owner):
                job.state, job.owner, job.interrupted = "queued", None, True
                job.rate_bps = job.eta_s = None
        return jobs

    def save(self, job: DownloadJob) -> None:
        with self._locked():
            jobs = self._read()
            job.updated_at = time.time()
            jobs[job.id] = job
            self._write(jobs)

    def delete(self, job_id: str) -> None:
        with self._locked():
            jobs = self._read()
            if jobs.pop(job_id, None) is not None:
                self._write(jobs)

    def claim(self, job_id: str) -> DownloadJob:
        """Mark a job running for this process; raises if another live process runs it."""
        with self._locked():
            jobs = self._read()
            job = jobs.get(job_id)
            if job is None:
                raise NotFoundError(f"no download job {job_id}")
            if job.state == "running" and job.owner != _owner() and owner_alive(job.owner):
                raise DownloadError(f"{job.repo_id} {job.name} is being downloaded by another "
                                    f"Workbench process (pid {(job.owner or {}).get('pid')})")
            job.state, job.owner, job.error = "running", _owner(), None
            job.interrupted = False
            job.updated_at = time.time()
            self._write(jobs)
            return job


class DownloadQueue:
    """Jobs persisted in the data dir, run by ``workers`` threads (``start``) or in the caller's
    thread (``run``). ``on_update(job, progress)`` is called from the thread doing the work."""

    def __init__(self, *, store: JobStore | None = None, config: HubConfig | None = None,
                 token: Token | None = None, workers: int = 1,
                 on_update: JobCallback | None = None,
                 downloader_factory: Callable[[], Downloader] | None = None) -> None:
        self.store = store or JobStore()
        self.config = config
        self.token = token
        self.workers = max(1, workers)
        self.on_update = on_update
        self._factory = downloader_factory or (lambda: Downloader(self.config, self.token))
        self._lock = threading.Condition()
        self._running: dict[str, tuple[CancelToken, list[str]]] = {}  # id -> (cancel, why)
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._live: dict[str, DownloadJob] = {}  # jobs this process runs, with live progress

    # -- reading --------------------------------------------------------------------------------
    def jobs(self) -> list[DownloadJob]:
        """Every job, oldest first; the jobs running here carry their live progress."""
        jobs = self.store.load()
        with self._lock:
            jobs.update({k: replace(v) for k, v in self._live.items()})
        return sorted(jobs.values(), key=lambda j: j.created_at)

    def get(self, job_id: str) -> DownloadJob:
        for job in self.jobs():
            if job.id == job_id:
                return job
        raise NotFoundError(f"no download job {job_id}")

    def pending(self) -> list[DownloadJob]:
        """Jobs waiting to run here: queued, interrupted ones included."""
        with self._lock:
            mine = set(self._running)
        return [j for j in self.jobs() if j.state == "queued" and j.id not in mine]

    # -- changing -------------------------------------------------------------------------------
    def add(self, repo_id: str, files: Sequence[RemoteFile], *, name: str,
            quant: str | None = None, revision: str = "main") -> DownloadJob:
        """Queue a download, or return the job of the same files (queued again if it had
        stopped or finished: a finished one then completes at once from the cache)."""
        if not files:
            raise ValueError("a download job needs at least one file")
        commit = files[0].commit
        for job in self.jobs():
            if job.key == (repo_id, commit or revision, name):
                if job.state in ("failed", "cancelled", "paused", "done"):
                    job.state, job.error = "queued", None
                    self.store.save(job)
                    self._notify(job)
                return job
        sizes = [f.size for f in files]
        job = DownloadJob(id=uuid.uuid4().hex[:12], repo_id=repo_id, revision=revision,
                          commit=commit, name=name, quant=quant, files=list(files),
                          bytes_total=None if None in sizes else sum(s or 0 for s in sizes))
        job.bytes_done = sum(cache.partial_size(self._cache_dir(), f) for f in files)
        self.store.save(job)
        self._notify(job)
        return job

    def cancel(self, job_id: str, *, discard: bool = False) -> None:
        """Stop a job (running or waiting). Its bytes stay for a resume unless ``discard``."""
        self._stop(job_id, "cancelled")
        if discard:
            self.wait(job_id, timeout=30)
            job = self.get(job_id)
            for f in job.files:
                if f.etag:
                    cache.incomplete_path(self._cache_dir(), f.repo_id, f.etag).unlink(
                        missing_ok=True)
            job.bytes_done = 0
            self.store.save(job)

    def pause(self, job_id: str) -> None:
        self._stop(job_id, "paused")

    def resume(self, job_id: str) -> None:
        """Queue a paused, cancelled or failed job again (it continues from its bytes)."""
        job = self.get(job_id)
        if job.state in ("paused", "cancelled", "failed"):
            job.state, job.error = "queued", None
            self.store.save(job)
            self._notify(job)

    def remove(self, job_id: str, *, discard: bool = True) -> None:
        """Forget a job (stopping it first); its partial bytes are deleted unless kept."""
        with self._lock:
            running = job_id in self._running
        if running or self.get(job_id).state == "queued":
            self.cancel(job_id, discard=discard)
            self.wait(job_id, timeout=30)
        elif discard:
            self.cancel(job_id, discard=True)
        self.store.delete(job_id)

    def _stop(self, job_id: str, state: str) -> None:
        with self._lock:
            entry = self._running.get(job_id)
            if entry is not None:
                entry[1].append(state)
                entry[0].cancel()
                return
        job = self.get(job_id)
        if job.state in ("queued", "paused", "failed", "cancelled") or (
                job.state == "running" and job.interrupted):
            job.state = state
            self.store.save(job)
            self._notify(job)
        elif job.state == "running":
            raise DownloadError(f"{job.repo_id} {job.name} runs in another process "
                                f"(pid {(job.owner or {}).get('pid')}); stop it there")

    # -- running --------------------------------------------------------------------------------
    def run(self, job_id: str, *, progress: Callable[[DownloadProgress], None] | None = None,
            cancel: Cancellable | None = None) -> list[DownloadedFile]:
        """Run one job in this thread; returns its files, raises like ``Downloader.download``.

        ``cancel`` (optional) stops it like ``cancel(job_id)``.
        """
        event = CancelToken(cancel)  # stopped by ``cancel`` or by cancel(job_id)
        reasons: list[str] = []
        with self._lock:
            if job_id in self._running:
                raise DownloadError(f"download job {job_id} is already running")
            self._running[job_id] = (event, reasons)
        try:
            return self._execute(job_id, event, reasons, progress)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
                self._live.pop(job_id, None)
                self._lock.notify_all()

    def _execute(self, job_id: str, event: CancelToken, reasons: list[str],
                 progress: Callable[[DownloadProgress], None] | None) -> list[DownloadedFile]:
        job = self.store.claim(job_id)
        with self._lock:
            self._live[job_id] = job
        self._notify(job)
        last_save = [time.monotonic()]

        def on_progress(p: DownloadProgress) -> None:
            job.bytes_done, job.bytes_total = p.bytes_done, p.bytes_total
            job.rate_bps, job.eta_s = p.rate_bps, p.eta_s
            if time.monotonic() - last_save[0] >= PERSIST_INTERVAL_S:
                last_save[0] = time.monotonic()
                self.store.save(job)
            if progress is not None:
                progress(p)
            self._notify(job, p)

        try:
            results = self._factory().download(job.files, progress=on_progress, cancel=event)
        except DownloadCancelled:
            job.state = reasons[-1] if reasons else "cancelled"
            job.error = None
            raise
        except WorkbenchError as err:
            job.state, job.error = "failed", str(err)
            raise
        except BaseException as err:
            # KeyboardInterrupt or an unforeseen error: the bytes stay; it resumes later
            job.state = "queued" if isinstance(err, KeyboardInterrupt) else "failed"
            job.error = None if isinstance(err, KeyboardInterrupt) else \
                f"internal error: {type(err).__name__}: {err}"
            raise
        else:
            job.state, job.error = "done", None
            job.paths = [str(r.path) for r in results]
            job.bytes_done = job.bytes_total or sum(r.file.size or 0 for r in results)
            return results
        finally:
            job.owner, job.rate_bps, job.eta_s = None, None, None
            job.bytes_done = job.bytes_done if job.state == "done" else sum(
                cache.partial_size(self._cache_dir(), f) for f in job.files) + sum(
                f.size or 0 for f in job.files if cache.cached_path(self._cache_dir(), f))
            self.store.save(job)
            self._notify(job)

    def start(self) -> None:
        """Start the worker threads; they run queued jobs (interrupted ones first) in order."""
        with self._lock:
            self._stopping = False
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self.workers:
                thread = threading.Thread(target=self._worker, name="workbench-download",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()

    def _worker(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
            job = self._next_job()
            if job is None:
                with self._lock:
                    if self._stopping:
                        return
                    self._lock.wait(timeout=1.0)
                continue
            with contextlib.suppress(Exception):  # the job records its own failure
                self.run(job.id)

    def _next_job(self) -> DownloadJob | None:
        pending = sorted(self.pending(), key=lambda j: (not j.interrupted, j.created_at))
        with self._lock:
            for job in pending:
                if job.id not in self._running:
                    return job
        return None

    def wait(self, job_id: str, timeout: float | None = None) -> DownloadJob:
        """Block until the job is no longer queued or running here (or the timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            with self._lock:
                running = job_id in self._running
            if not running and job.state not in ("queued", "running"):
                return job
            if job.state == "queued" and not running and not self._threads:
                return job  # nothing here will run it
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return job
            with self._lock:
                self._lock.wait(timeout=0.1 if remaining is None else min(0.1, remaining))

    def close(self, timeout: float = 30.0) -> None:
        """Stop the workers; running jobs go back to queued, so the next start resumes them."""
        with self._lock:
            self._stopping = True
            for event, reasons in self._running.values():
                reasons.append("queued")
                event.cancel()
            self._lock.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]

    # -- helpers ------------------------------------------------------------------------------
    def _cache_dir(self) -> Path:
        return (self.config or HubConfig.from_env()).cache_dir

    def _notify(self, job: DownloadJob, progress: DownloadProgress | None = None) -> None:
        with self._lock:
            self._lock.notify_all()
        if self.on_update is not None:
            self.on_update(replace(job), progress)
