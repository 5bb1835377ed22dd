"""The downloader against the loopback Hub: resume, verify, share the HF cache, faults."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

from tests.fakes.hub_server import FakeHub
from tests.helpers.hub import HubEnv, synthetic_gguf
from workbench.hub import cache, download
from workbench.hub.download import Downloader, DownloadProgress, RateMeter
from workbench.hub.errors import (
    AuthError,
    DiskSpaceError,
    DownloadCancelled,
    HashMismatchError,
    NetworkError,
    NotFoundError,
    OfflineError,
)
from workbench.hub.library import scan_library
from workbench.hub.quant import RemoteFile
from workbench.hub.remote import repo_listing

REPO = "test/Small-GGUF"
NAME = "small-F32.gguf"
TARGET = f"{REPO}/{NAME}"


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = synthetic_gguf(tmp_path_factory.mktemp("m") / NAME, n_embd=128)
    return path.read_bytes()


@pytest.fixture
def repo(hub_env: HubEnv, model_bytes: bytes) -> list[RemoteFile]:
    hub_env.hub.add_repo(REPO, {NAME: model_bytes, "README.md": b"# small\n"})
    return list(repo_listing(REPO).variants[0].files)


def starts(hub: FakeHub) -> list[int]:
    return [r.start for r in hub.content_requests(TARGET)]


def partial_path(hub_env: HubEnv, file: RemoteFile) -> Path:
    return cache.incomplete_path(hub_env.cache_dir, REPO, file.sha256 or "")


def test_download_lands_in_the_hf_cache_layout(hub_env: HubEnv, repo: list[RemoteFile],
                                               model_bytes: bytes) -> None:
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache

    seen: list[DownloadProgress] = []
    [result] = Downloader(progress_interval_s=0).download(repo, progress=seen.append)
    sha = hashlib.sha256(model_bytes).hexdigest()
    commit = repo[0].commit
    assert result.path == hub_env.cache_dir / f"models--test--Small-GGUF/snapshots/{commit}/{NAME}"
    assert result.path.is_symlink() and not os.path.isabs(os.readlink(result.path))
    assert result.blob_path.name == sha and result.path.read_bytes() == model_bytes
    assert (hub_env.cache_dir / "models--test--Small-GGUF/refs/main").read_text() == commit
    assert result.fetched_bytes == len(model_bytes) and not result.cached
    # huggingface_hub finds it without the network
    assert try_to_load_from_cache(REPO, NAME, cache_dir=hub_env.cache_dir) == str(result.path)
    [cached_repo] = scan_cache_dir(hub_env.cache_dir).repos
    assert cached_repo.repo_id == REPO and cached_repo.size_on_disk == len(model_bytes)
    # progress: bytes only grow, the last report is "done" at the full size
    done = [p.bytes_done for p in seen]
    assert done == sorted(done) and seen[-1].state == "done"
    assert seen[-1].bytes_done == seen[-1].bytes_total == len(model_bytes)
    assert {"downloading", "verifying"} <= {p.state for p in seen}
    assert not partial_path(hub_env, repo[0]).exists()


def test_a_second_pull_transfers_nothing(hub_env: HubEnv, repo: list[RemoteFile]) -> None:
    Downloader().download(repo)
    before = len(hub_env.hub.content_requests(TARGET))
    [again] = Downloader().download(repo)
    assert again.cached and again.fetched_bytes == 0
    assert len(hub_env.hub.content_requests(TARGET)) == before


def test_files_downloaded_by_huggingface_hub_are_shared(hub_env: HubEnv,
                                                        repo: list[RemoteFile]) -> None:
    from huggingface_hub import hf_hub_download

    theirs = hf_hub_download(REPO, NAME, cache_dir=hub_env.cache_dir,
                             endpoint=hub_env.hub.endpoint)
    served = hub_env.hub.bytes_served(TARGET)
    [ours] = Downloader().download(repo)
    assert ours.cached and str(ours.path) == theirs
    assert hub_env.hub.bytes_served(TARGET) == served  # not one byte more


def test_connection_cut_mid_file_resumes_without_refetching(hub_env: HubEnv,
                                                            repo: list[RemoteFile],
                                                            model_bytes: bytes) -> None:
    hub_env.hub.cut_after(TARGET, 300_000, times=2)
    [result] = Downloader(retry_wait_s=0.01).download(repo)
    assert result.path.read_bytes() == model_bytes
    assert starts(hub_env.hub) == [0, 300_000, 600_000]
    # every byte crossed the wire exactly once
    assert hub_env.hub.bytes_served(TARGET) == len(model_bytes)


def test_resume_after_giving_up(hub_env: HubEnv, repo: list[RemoteFile],
                                model_bytes: bytes) -> None:
    hub_env.hub.cut_after(TARGET, 250_000, times=1)
    hub_env.hub.cut_after(TARGET, 0, times=None)  # then no byte comes through any more
    with pytest.raises(NetworkError, match=r"failed after 2 attempts .*kept, run again"):
        Downloader(max_retries=1, retry_wait_s=0.01).download(repo)
    kept = partial_path(hub_env, repo[0]).stat().st_size
    assert kept == 250_000
    hub_env.hub.clear_faults()
    served_before = hub_env.hub.bytes_served(TARGET)
    [result] = Downloader().download(repo)  # a later run, the network is back
    assert result.resumed_from == kept and result.fetched_bytes == len(model_bytes) - kept
    assert starts(hub_env.hub)[-1] == kept
    assert hub_env.hub.bytes_served(TARGET) - served_before == len(model_bytes) - kept
    assert result.path.read_bytes() == model_bytes


def test_corrupted_byte_is_rejected_and_deleted(hub_env: HubEnv,
                                                repo: list[RemoteFile]) -> None:
    hub_env.hub.corrupt(TARGET, 123_456)
    with pytest.raises(HashMismatchError, match=r"corrupt \(sha256 .*it was deleted"):
        Downloader().download(repo)
    repo_dir = cache.repo_dir(hub_env.cache_dir, REPO)
    assert not any(p.is_file() for p in (repo_dir / "blobs").iterdir())
    assert not list(repo_dir.rglob("*.gguf"))
    assert scan_library(sources=["hf-cache"]) == []


def test_server_ignoring_range_restarts_cleanly(hub_env: HubEnv, repo: list[RemoteFile],
                                                model_bytes: bytes) -> None:
    hub_env.hub.cut_after(TARGET, 100_000, times=1)
    hub_env.hub.ignore_range(TARGET, times=1)
    [result] = Downloader(retry_wait_s=0.01).download(repo)
    assert result.path.read_bytes() == model_bytes  # not the first 100 kB twice
    assert starts(hub_env.hub) == [0, 0]


def test_gated_repo_needs_a_token(hub_env: HubEnv, model_bytes: bytes, monkeypatch) -> None:
    hub_env.hub.add_repo("meta/Gated-GGUF", {NAME: model_bytes}, gated="manual",
                         tokens={"hf_granted"})
    files = list(repo_listing("meta/Gated-GGUF").variants[0].files)  # metadata is public
    with pytest.raises(AuthError, match=r"HTTP 401: gated or private: .*HF_TOKEN"):
        Downloader().download(files)
    monkeypatch.setenv("HF_TOKEN", "hf_refused")
    with pytest.raises(AuthError, match=r"HTTP 403: access refused with the token from env"):
        Downloader().download(files)
    monkeypatch.delenv("HF_TOKEN")
    from workbench.hub.auth import save_token

    save_token("hf_granted")  # the keyring's token
    [result] = Downloader().download(files)
    assert result.path.read_bytes() == model_bytes
    resolve = [r for r in hub_env.hub.requests if "/resolve/" in r.path]
    cdn = [r for r in hub_env.hub.requests if r.path.startswith("/cdn/")]
    assert resolve[-1].authorized and cdn and not any(r.authorized for r in cdn)


def test_missing_repo_and_file(hub_env: HubEnv, repo: list[RemoteFile]) -> None:
    with pytest.raises(NotFoundError, match="no such repository"):
        repo_listing("test/Nope-GGUF")
    ghost = RemoteFile(REPO, "ghost-Q4_0.gguf", 10, "f" * 64, None, "main", repo[0].commit)
    with pytest.raises(NotFoundError, match=r"ghost-Q4_0.gguf: not found .*HTTP 404"):
        Downloader().download([ghost])


def test_slow_server_cancel_keeps_the_bytes(hub_env: HubEnv, repo: list[RemoteFile],
                                            model_bytes: bytes) -> None:
    hub_env.hub.throttle(TARGET, 400_000, times=1)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(p: DownloadProgress) -> None:
        seen.append(p.bytes_done)
        if p.bytes_done >= 200_000:
            cancel.set()

    with pytest.raises(DownloadCancelled, match="kept, it resumes from there"):
        Downloader(progress_interval_s=0).download(repo, progress=progress, cancel=cancel)
    kept = partial_path(hub_env, repo[0]).stat().st_size
    assert 200_000 <= kept < len(model_bytes)  # stopped mid-file, not at its end
    [result] = Downloader().download(repo)
    assert starts(hub_env.hub)[-1] == kept
    assert result.path.read_bytes() == model_bytes


def test_disk_space_is_checked_before_starting(hub_env: HubEnv, repo: list[RemoteFile],
                                               monkeypatch) -> None:
    monkeypatch.setattr(cache, "free_bytes", lambda path: 10 << 20)
    with pytest.raises(DiskSpaceError, match=r"not enough disk space in .*needs 1\.\d MiB more "
                                             r"and 10\.0 MiB is free"):
        Downloader().download(repo)
    assert hub_env.hub.content_requests(TARGET) == []


def test_disk_full_while_writing_keeps_what_was_written(hub_env: HubEnv,
                                                        repo: list[RemoteFile],
                                                        model_bytes: bytes,
                                                        monkeypatch) -> None:
    import workbench.hub.download as download

    class FullDisk:
        def __init__(self, path: Path) -> None:
            self.file = path.open("ab")

        def write(self, data: bytes) -> int:
            if self.file.tell() + len(data) > 500_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.file.write(data)

        def __getattr__(self, name: str):  # flush, fileno, close
            return getattr(self.file, name)

    with monkeypatch.context() as patch:
        patch.setattr(download, "_open_partial", FullDisk)
        with pytest.raises(DiskSpaceError, match=r"the disk is full .* kept: free some space"):
            Downloader().download(repo)
    kept = partial_path(hub_env, repo[0]).stat().st_size
    assert 0 < kept <= 500_000
    [result] = Downloader().download(repo)
    assert result.resumed_from == kept and result.path.read_bytes() == model_bytes


def test_offline_refuses_to_download(hub_env: HubEnv, repo: list[RemoteFile],
                                     monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline"):
        Downloader().download(repo)


def test_a_partial_file_longer_than_the_file_starts_over(hub_env: HubEnv,
                                                         repo: list[RemoteFile],
                                                         model_bytes: bytes) -> None:
    partial = partial_path(hub_env, repo[0])
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * (len(model_bytes) + 5))
    [result] = Downloader().download(repo)
    assert result.resumed_from == 0 and result.path.read_bytes() == model_bytes


def test_rate_meter() -> None:
    now = [0.0]
    meter = RateMeter(window_s=5.0, clock=lambda: now[0])
    assert meter.rate() is None
    for second in range(10):
        now[0] = float(second)
        meter.add(second * 1000)
    assert meter.rate() == pytest.approx(1000.0)
    assert meter.eta(5000) == pytest.approx(5.0)
    assert meter.eta(None) is None


def test_workbench_offline_mode_counts(hub_env: HubEnv, repo: list[RemoteFile],
                                       monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline"):
        Downloader().download(repo)
    assert hub_env.hub.content_requests(TARGET) == []


def test_the_offline_guard_fails_fast_instead_of_retrying(hub_env: HubEnv,
                                                          repo: list[RemoteFile],
                                                          monkeypatch) -> None:
    offline = pytest.importorskip("workbench.net.offline")
    monkeypatch.setenv("HF_ENDPOINT", "http://192.0.2.1")  # TEST-NET-1: not loopback
    waits: list[float] = []
    real_sleep = download._Run.sleep

    def sleep(run, seconds, file, on_disk):  # type: ignore[no-untyped-def]
        waits.append(seconds)
        real_sleep(run, seconds, file, on_disk)

    monkeypatch.setattr(download._Run, "sleep", sleep)
    with offline.offline_guard(), pytest.raises(OfflineError, match="offline mode is on"):
        Downloader(retry_wait_s=5).download(repo)
    with offline.offline_guard(), pytest.raises(OfflineError, match="offline mode is on"):
        repo_listing(REPO)
    assert waits == []  # no retry, so no wait before one


def test_a_stalled_connection_is_dropped_and_resumed(hub_env: HubEnv, repo: list[RemoteFile],
                                                     model_bytes: bytes) -> None:
    hub_env.hub.throttle(TARGET, 2_000, times=1)  # 16 kB, then silence for 8 s
    [result] = Downloader(poll_s=0.3).download(repo)
    # dropped during the silence and resumed from 16 kB (had it waited the silence out, the
    # first request would have brought the whole file)
    assert starts(hub_env.hub) == [0, 16 * 1024]
    assert result.path.read_bytes() == model_bytes
