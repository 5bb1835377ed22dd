"""The download queue: persisted jobs, worker threads, cancel/pause/resume, crash recovery."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from tests.helpers.hub import HubEnv, synthetic_gguf
from workbench.hub import cache
from workbench.hub.download import DownloadProgress
from workbench.hub.errors import DownloadCancelled
from workbench.hub.quant import Variant
from workbench.hub.queue import DownloadJob, DownloadQueue, JobStore, state_path
from workbench.hub.remote import repo_listing

REPO = "test/Queue-GGUF"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("q")
    return {"q-F32.gguf": synthetic_gguf(folder / "a.gguf", n_embd=128, seed=1).read_bytes(),
            "q-F16.gguf": synthetic_gguf(folder / "b.gguf", n_embd=96, seed=2).read_bytes()}


@pytest.fixture
def variants(hub_env: HubEnv, models: dict[str, bytes]) -> dict[str, Variant]:
    hub_env.hub.add_repo(REPO, dict(models))
    return {v.quant or v.name: v for v in repo_listing(REPO).variants}


def add(queue: DownloadQueue, variant: Variant) -> DownloadJob:
    return queue.add(REPO, variant.files, name=variant.name, quant=variant.quant)


def test_run_a_job_and_persist_it(hub_env: HubEnv, variants: dict[str, Variant],
                                  models: dict[str, bytes]) -> None:
    updates: list[tuple[str, DownloadProgress | None]] = []
    queue = DownloadQueue(on_update=lambda job, p: updates.append((job.state, p)))
    job = add(queue, variants["F32"])
    assert job.state == "queued" and job.bytes_total == len(models["q-F32.gguf"])
    [result] = queue.run(job.id)
    assert result.path.read_bytes() == models["q-F32.gguf"]
    saved = json.loads(state_path().read_text())
    [entry] = saved["jobs"]
    assert entry["state"] == "done" and entry["paths"] == [str(result.path)]
    assert entry["files"][0]["sha256"] == variants["F32"].files[0].sha256
    states = [s for s, _ in updates]
    assert states[0] == "queued" and "running" in states and states[-1] == "done"
    assert any(p is not None and p.state == "downloading" for _, p in updates)
    # the same variant again is the same job, not a second one
    assert add(queue, variants["F32"]).id == job.id


def test_workers_run_jobs_in_order(hub_env: HubEnv, variants: dict[str, Variant]) -> None:
    queue = DownloadQueue()
    first, second = add(queue, variants["F32"]), add(queue, variants["F16"])
    queue.start()
    try:
        assert queue.wait(second.id, timeout=30).state == "done"
        assert queue.get(first.id).state == "done"
    finally:
        queue.close()
    served = [r.file for r in hub_env.hub.requests if r.file]
    assert served == [f"{REPO}/q-F32.gguf", f"{REPO}/q-F16.gguf"]


def test_cancel_pause_resume(hub_env: HubEnv, variants: dict[str, Variant],
                             models: dict[str, bytes]) -> None:
    target = f"{REPO}/q-F32.gguf"
    hub_env.hub.throttle(target, 300_000, times=1)
    started = threading.Event()

    def on_update(job: DownloadJob, progress: DownloadProgress | None) -> None:
        if progress is not None and progress.bytes_done > 100_000:
            started.set()

    queue = DownloadQueue(on_update=on_update)
    job = add(queue, variants["F32"])
    queue.start()
    try:
        assert started.wait(10)
        queue.pause(job.id)
        paused = queue.wait(job.id, timeout=10)
        assert paused.state == "paused"
        partial = cache.incomplete_path(hub_env.cache_dir, REPO, variants["F32"].first.etag)
        kept = partial.stat().st_size
        assert 100_000 <= kept < len(models["q-F32.gguf"])
        assert paused.bytes_done == kept
        queue.resume(job.id)
        assert queue.wait(job.id, timeout=30).state == "done"
    finally:
        queue.close()
    starts = [r.start for r in hub_env.hub.content_requests(target)]
    assert starts == [0, kept]  # the resume asked only for the missing bytes


def test_cancel_with_discard_deletes_the_partial(hub_env: HubEnv,
                                                 variants: dict[str, Variant]) -> None:
    target = f"{REPO}/q-F32.gguf"
    hub_env.hub.throttle(target, 200_000, times=1)
    cancel = threading.Event()
    queue = DownloadQueue()
    job = add(queue, variants["F32"])

    def progress(p: DownloadProgress) -> None:
        if p.bytes_done > 50_000:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        queue.run(job.id, progress=progress, cancel=cancel)
    assert queue.get(job.id).state == "cancelled"
    partial = cache.incomplete_path(hub_env.cache_dir, REPO, variants["F32"].first.etag)
    assert partial.exists()
    queue.cancel(job.id, discard=True)
    assert not partial.exists() and queue.get(job.id).bytes_done == 0
    queue.remove(job.id)
    assert queue.jobs() == []


def test_close_puts_running_jobs_back_in_the_queue(hub_env: HubEnv,
                                                   variants: dict[str, Variant]) -> None:
    hub_env.hub.throttle(f"{REPO}/q-F32.gguf", 200_000, times=1)
    queue = DownloadQueue()
    job = add(queue, variants["F32"])
    queue.start()
    deadline = threading.Event()
    while queue.get(job.id).state != "running" and not deadline.wait(0.05):
        pass
    queue.close()
    assert queue.get(job.id).state == "queued"  # the next start resumes it


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_job_of_a_dead_process_resumes(hub_env: HubEnv, variants: dict[str, Variant],
                                         models: dict[str, bytes]) -> None:
    """A crash mid-download: the state file says running, its process is gone, half the bytes
    are on disk. A new queue resumes it from those bytes."""
    variant = variants["F32"]
    data = models["q-F32.gguf"]
    partial = cache.incomplete_path(hub_env.cache_dir, REPO, variant.first.etag)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:700_000])
    store = JobStore()
    job = DownloadJob(id="crashed00001", repo_id=REPO, revision="main",
                      commit=variant.first.commit, name=variant.name, quant=variant.quant,
                      files=list(variant.files), state="running", bytes_done=650_000,
                      owner={"pid": dead_pid(), "host": __import__("socket").gethostname(),
                             "started": 0.0})
    store.save(job)
    queue = DownloadQueue()
    [pending] = queue.pending()
    assert pending.id == job.id and pending.interrupted
    queue.start()
    try:
        assert queue.wait(job.id, timeout=30).state == "done"
    finally:
        queue.close()
    [request] = hub_env.hub.content_requests(f"{REPO}/q-F32.gguf")
    assert request.start == 700_000 and request.bytes_sent == len(data) - 700_000


def test_a_job_running_in_a_live_process_is_left_alone(hub_env: HubEnv,
                                                       variants: dict[str, Variant]) -> None:
    import psutil

    me = psutil.Process()
    variant = variants["F16"]
    store = JobStore()
    other = {"pid": me.ppid(), "host": __import__("socket").gethostname(),
             "started": psutil.Process(me.ppid()).create_time()}
    job = DownloadJob(id="elsewhere001", repo_id=REPO, revision="main",
                      commit=variant.first.commit, name=variant.name, quant=variant.quant,
                      files=list(variant.files), state="running", owner=other)
    store.save(job)
    queue = DownloadQueue()
    assert queue.pending() == []
    with pytest.raises(Exception, match="being downloaded by another Workbench process"):
        queue.run(job.id)


def test_a_corrupt_state_file_is_set_aside(hub_env: HubEnv) -> None:
    path = state_path()
    path.write_text("{not json", encoding="utf-8")
    assert DownloadQueue().jobs() == []
    assert path.with_name(path.name + ".broken").exists()
