"""The one bench runner (CLI and Benchmarks page) without a worker process or Qt: progress,
storing each finished model in a real SQLite database, failures, cancel (the worker killed)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from workbench.cancel import CancelToken
from workbench.engine import bench_runs
from workbench.engine.bench_runner import (
    BenchProgress,
    BenchRunner,
    run_benchmarks,
    steps_per_model,
)
from workbench.engine.errors import WorkerCrashed
from workbench.engine.protocol import BenchSamples, LoadedModel
from workbench.engine.settings import LoadSettings
from workbench.store import db

MACHINE = {"cpu": "Test CPU", "logical_cores": 4, "physical_cores": 2, "os": "test"}


class FakeEngine:
    """LocalEngine's load/bench/kill/close, answering at once (no worker process)."""

    def __init__(self, *, fail: BaseException | None = None,
                 started: threading.Event | None = None,
                 release: threading.Event | None = None) -> None:
        self.settings: LoadSettings | None = None
        self.fail = fail
        self.started = started
        self.release = release
        self.killed = False
        self.closed = False

    def load(self, settings: LoadSettings, notes: Any = ()) -> LoadedModel:
        if self.fail is not None:
            raise self.fail
        self.settings = settings
        return LoadedModel(
            model_path=settings.model_path, architecture="llama",
            name=Path(settings.model_path).stem, n_params=1000, model_size_bytes=4096,
            n_vocab=32, n_ctx=settings.n_ctx, n_ctx_train=2048, chat_template=True, load_ms=1.0,
            threads=2, repack=False, flash_attn="auto", kv_type="f16", n_gpu_layers=0,
            gpu_offload=False, llama_cpp_version="test", notes=list(notes))

    def bench(self, pp_tokens: int, tg_tokens: int, repetitions: int, *, on_progress: Any = None,
              cancel: CancelToken | None = None) -> BenchSamples:
        if on_progress is not None:
            on_progress("warmup", 0)
        pp, tg = [], []
        for rep in range(1, repetitions + 1):
            if pp_tokens:
                if on_progress is not None:
                    on_progress("pp", rep)
                pp.append(100.0 + rep)
            if tg_tokens:
                if on_progress is not None:
                    on_progress("tg", rep)
                if self.started is not None:
                    self.started.set()
                    assert self.release is not None
                    self.release.wait(10)  # a long test: until killed
                    if self.killed:
                        raise WorkerCrashed(during="bench", returncode=-9, log_tail=[])
                tg.append(10.0 + rep)
        return BenchSamples(cancelled=False, pp_samples=tuple(pp), tg_samples=tuple(tg),
                            system_info="test")

    def kill(self) -> None:
        self.killed = True
        if self.release is not None:
            self.release.set()

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def connect(tmp_path: Path):
    return lambda: db.connect(tmp_path / "workbench.db")


def _stored(connect) -> list[dict[str, Any]]:
    connection = connect()
    try:
        return bench_runs.all_runs(connection)
    finally:
        connection.close()


def _settings(*paths: Path) -> list[LoadSettings]:
    return [LoadSettings(model_path=str(path), n_ctx=0) for path in paths]


def test_steps_per_model_counts_each_repetition_of_each_test() -> None:
    assert steps_per_model(512, 128, 5) == 10
    assert steps_per_model(0, 128, 5) == 5
    assert steps_per_model(512, 0, 3) == 3


def test_every_model_is_measured_stored_and_reported(connect, llama_tiny: Path,
                                                     tiny_model_path) -> None:
    f16 = tiny_model_path("llama", "F16")
    engines: list[FakeEngine] = []
    steps: list[BenchProgress] = []
    loaded: list[int] = []
    results: list[tuple[str, int | None]] = []

    def factory() -> FakeEngine:
        engines.append(FakeEngine())
        return engines[-1]

    report = run_benchmarks(
        _settings(llama_tiny, f16), pp_tokens=16, tg_tokens=8, repetitions=2,
        engine_factory=factory, connect=connect, machine=MACHINE, on_progress=steps.append,
        on_loaded=lambda index, info: loaded.append(index),
        on_result=lambda result, run_id: results.append((result.model_path, run_id)))
    assert not report.cancelled and report.failures == []
    assert [r.model_path for r in report.results] == [str(llama_tiny), str(f16)]
    assert len(engines) == 2 and all(e.closed for e in engines)  # one worker per model
    assert loaded == [0, 1]
    # n_ctx 0: what the test needs
    assert engines[0].settings is not None and engines[0].settings.n_ctx == 512
    stored = _stored(connect)
    assert sorted(r["id"] for r in stored) == sorted(report.run_ids)
    assert [run_id for _path, run_id in results] == report.run_ids
    assert {r["quant"] for r in stored} == {"Q8_0", "F16"}
    assert all(r["machine"] == MACHINE for r in stored)
    first = report.results[0]
    assert first.pp_tokens_per_s == pytest.approx(101.5) and first.tg_tokens_per_s == \
        pytest.approx(11.5)
    # progress: every stage of both models, steps counted over the whole run
    assert [(s.index, s.stage, s.rep) for s in steps[:6]] == [
        (0, "load", 0), (0, "warmup", 0), (0, "pp", 1), (0, "tg", 1), (0, "pp", 2),
        (0, "tg", 2)]
    assert all(s.models == 2 and s.steps_total == 8 and s.repetitions == 2 for s in steps)
    assert [s.steps_done for s in steps if s.index == 1 and s.stage in ("pp", "tg")] == \
        [4, 5, 6, 7]
    assert steps[-1].path == str(f16)


def test_without_connect_nothing_is_stored(connect, llama_tiny: Path) -> None:
    report = run_benchmarks(_settings(llama_tiny), pp_tokens=16, tg_tokens=0, repetitions=1,
                            engine_factory=FakeEngine)
    assert len(report.results) == 1 and report.run_ids == []
    assert report.results[0].tg_tokens_per_s is None
    assert _stored(connect) == []


def test_a_failing_model_is_reported_and_the_next_one_runs(connect, llama_tiny: Path,
                                                           tiny_model_path) -> None:
    f16 = tiny_model_path("llama", "F16")
    crash = WorkerCrashed(during="load", returncode=-6, log_tail=[])
    engines = iter([FakeEngine(fail=crash), FakeEngine()])
    failed: list[tuple[str, BaseException]] = []
    report = run_benchmarks(_settings(llama_tiny, f16), pp_tokens=8, tg_tokens=8,
                            repetitions=1, engine_factory=lambda: next(engines),
                            connect=connect, machine=MACHINE,
                            on_failed=lambda path, err: failed.append((path, err)))
    assert failed == [(str(llama_tiny), crash)] and report.failures == failed
    assert [r.model_path for r in report.results] == [str(f16)]
    assert [r["model_path"] for r in _stored(connect)] == [str(f16)]


def test_without_on_failed_an_error_stops_the_run(connect, llama_tiny: Path) -> None:
    engine = FakeEngine(fail=WorkerCrashed(during="load", returncode=-6, log_tail=[]))
    with pytest.raises(WorkerCrashed):
        run_benchmarks(_settings(llama_tiny, llama_tiny), engine_factory=lambda: engine,
                       connect=connect, machine=MACHINE)
    assert engine.closed and _stored(connect) == []


def test_a_store_failure_is_a_failure_of_that_model(llama_tiny: Path) -> None:
    def broken():
        raise OSError("disk full")

    failed: list[tuple[str, BaseException]] = []
    report = run_benchmarks(_settings(llama_tiny), pp_tokens=8, tg_tokens=8, repetitions=1,
                            engine_factory=FakeEngine, connect=broken, machine=MACHINE,
                            on_failed=lambda path, err: failed.append((path, err)))
    assert report.results == [] and [str(err) for _path, err in failed] == ["disk full"]


def test_cancel_kills_the_worker_stores_nothing_and_skips_the_rest(
        connect, llama_tiny: Path) -> None:
    started, release = threading.Event(), threading.Event()
    engines: list[FakeEngine] = []

    def factory() -> FakeEngine:
        engines.append(FakeEngine(started=started, release=release))
        return engines[-1]

    failed: list[Any] = []
    runner = BenchRunner(_settings(llama_tiny, llama_tiny), pp_tokens=8, tg_tokens=8,
                         repetitions=3, engine_factory=factory, connect=connect,
                         machine=MACHINE, on_failed=lambda *args: failed.append(args))
    reports: list[Any] = []
    thread = threading.Thread(target=lambda: reports.append(runner.run()))
    thread.start()
    assert started.wait(10)
    runner.cancel()
    thread.join(10)
    assert not thread.is_alive()
    (report,) = reports
    assert report.cancelled and report.results == [] and report.failures == []
    assert failed == []  # the kill of a cancel is not a failure
    assert len(engines) == 1 and engines[0].killed and engines[0].closed
    assert _stored(connect) == []


def test_a_token_cancelled_before_the_start_runs_nothing(llama_tiny: Path) -> None:
    token = CancelToken()
    token.cancel()
    engines: list[FakeEngine] = []
    report = run_benchmarks(_settings(llama_tiny), engine_factory=lambda: engines.append(
        FakeEngine()) or engines[-1], token=token)
    assert report.cancelled and report.results == [] and engines == []
