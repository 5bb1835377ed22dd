"""One benchmark run over several models: measure each in its own worker, store what finished.

Shared by ``workbench bench`` and the GUI's Benchmarks page (which only wraps it in Qt)::

    report = run_benchmarks(settings, pp_tokens=512, tg_tokens=128, repetitions=5,
                            connect=db.connect, on_progress=print)

Each model is loaded in a fresh ``LocalEngine`` from ``engine_factory`` and measured with
``workbench.engine.bench.measure``; a finished result is stored at once (``connect`` given)
with this machine's facts, so the speed preview learns from it. ``on_progress`` gets a
``BenchProgress`` (the model, the stage, the steps done of all). ``cancel()`` (any thread) sets
the cancel token and kills the current worker, so a cancel lands at once; the model in
progress is not stored. A model that fails goes to ``on_failed`` and the next one runs; without
``on_failed`` the error stops the run (the CLI's way).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.cancel import CancelToken
from workbench.engine import bench_runs
from workbench.engine.bench import BenchResult, measure

if TYPE_CHECKING:
    from workbench.engine.client import LocalEngine
    from workbench.engine.protocol import LoadedModel
    from workbench.engine.settings import LoadSettings

STAGES = ("load", "warmup", "pp", "tg")


def steps_per_model(pp_tokens: int, tg_tokens: int, repetitions: int) -> int:
    """Progress steps of one model: one per repetition of each test that runs."""
    return repetitions * ((pp_tokens > 0) + (tg_tokens > 0))


@dataclass(frozen=True)
class BenchProgress:
    """Where a run is: model ``index`` (0-based) of ``models``, its stage and repetition."""

    index: int
    models: int
    path: str
    stage: str  # load, warmup, pp, tg
    rep: int  # 1-based within pp and tg; 0 for load and warmup
    repetitions: int
    steps_done: int
    steps_total: int


@dataclass
class BenchReport:
    """What a run did: the finished results (with their stored ids), the failures."""

    results: list[BenchResult] = field(default_factory=list)
    run_ids: list[int] = field(default_factory=list)
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    cancelled: bool = False


def _default_engine() -> LocalEngine:
    from workbench.engine.client import LocalEngine

    return LocalEngine()


class BenchRunner:
    """Measures ``settings`` (one ``LoadSettings`` per model) one after another."""

    def __init__(
        self,
        settings: Sequence[LoadSettings],
        *,
        pp_tokens: int = 512,
        tg_tokens: int = 128,
        repetitions: int = 5,
        engine_factory: Callable[[], LocalEngine] | None = None,
        connect: Callable[[], sqlite3.Connection] | None = None,
        machine: dict[str, Any] | None = None,
        on_progress: Callable[[BenchProgress], None] | None = None,
        on_loaded: Callable[[int, LoadedModel], None] | None = None,
        on_result: Callable[[BenchResult, int | None], None] | None = None,
        on_failed: Callable[[str, BaseException], None] | None = None,
        token: CancelToken | None = None,
    ) -> None:
        self.settings = tuple(settings)
        self.pp_tokens = pp_tokens
        self.tg_tokens = tg_tokens
        self.repetitions = repetitions
        self.token = token if token is not None else CancelToken()
        self._engine_factory = engine_factory or _default_engine
        self._connect = connect
        self._machine = machine
        self._on_progress = on_progress
        self._on_loaded = on_loaded
        self._on_result = on_result
        self._on_failed = on_failed
        self._engine: LocalEngine | None = None
        self._lock = threading.Lock()

    @property
    def steps_per_model(self) -> int:
        return steps_per_model(self.pp_tokens, self.tg_tokens, self.repetitions)

    @property
    def steps_total(self) -> int:
        return len(self.settings) * self.steps_per_model

    def cancel(self) -> None:
        """Stop the run (any thread): the current worker is killed at once."""
        self.token.cancel()
        with self._lock:
            engine = self._engine
        if engine is not None:
            engine.kill()

    def progress(self, index: int, stage: str, rep: int) -> BenchProgress:
        """The progress of model ``index`` at ``stage``/``rep`` (the steps done before it)."""
        per_model = self.steps_per_model
        done = index * per_model
        per_rep = per_model // self.repetitions if self.repetitions else 0
        if stage == "pp":
            done += (rep - 1) * per_rep
        elif stage == "tg":
            done += (rep - 1) * per_rep + (1 if self.pp_tokens else 0)
        return BenchProgress(index, len(self.settings), self.settings[index].model_path, stage,
                             rep, self.repetitions, done, self.steps_total)

    def run(self) -> BenchReport:
        """Measure every model (blocking); returns what was measured, stored and failed."""
        report = BenchReport()
        for index, settings in enumerate(self.settings):
            if self.token.is_set():
                break
            result = self._measure(index, settings, report)
            if result is None:
                if self.token.is_set():
                    break
                continue
            try:
                run_id = self._store(result)
            except Exception as err:  # e.g. the database is locked or the disk full
                self._fail(report, settings.model_path, err)
                continue
            report.results.append(result)
            if run_id is not None:
                report.run_ids.append(run_id)
            if self._on_result is not None:
                self._on_result(result, run_id)
        report.cancelled = self.token.is_set()
        return report

    def _measure(self, index: int, settings: LoadSettings,
                 report: BenchReport) -> BenchResult | None:
        engine = self._engine_factory()
        with self._lock:
            self._engine = engine
        try:
            if self.token.is_set():
                return None

            def progressed(stage: str, rep: int) -> None:
                if self._on_progress is not None:
                    self._on_progress(self.progress(index, stage, rep))

            def loaded(info: LoadedModel) -> None:
                if self._on_loaded is not None:
                    self._on_loaded(index, info)

            return measure(engine, settings, self.pp_tokens, self.tg_tokens, self.repetitions,
                           on_progress=progressed, on_loaded=loaded,
                           cancel=self.token)
        except Exception as err:
            if self.token.is_set():  # the kill of a cancel, not a failure
                return None
            self._fail(report, settings.model_path, err)
            return None
        finally:
            with self._lock:
                self._engine = None
            engine.close()

    def _fail(self, report: BenchReport, path: str, err: BaseException) -> None:
        if self._on_failed is None:
            raise err
        report.failures.append((path, err))
        self._on_failed(path, err)

    def _store(self, result: BenchResult) -> int | None:
        if self._connect is None:
            return None
        if self._machine is None:
            self._machine = bench_runs.machine_facts()
        with contextlib.closing(self._connect()) as connection:
            return bench_runs.save(connection, result, self._machine)


def run_benchmarks(settings: Sequence[LoadSettings], **options: Any) -> BenchReport:
    """Measure each of ``settings`` (and store what finished, ``connect`` given); the options
    are ``BenchRunner``'s (test sizes, callbacks, cancel ``token``, engine factory)."""
    return BenchRunner(settings, **options).run()
