"""The model pool: each model loaded on first use, its requests in turn, unloaded when idle.

Every served model that has been asked for gets a ``ModelSlot``: one thread that takes the
model's requests one at a time, in the order they came (a FIFO queue), and one crash-proof
worker process (``LocalEngine``) that it loads the model into. The queue is bounded: a request
that finds ``max_queue`` others waiting is refused at once (429). Before a model is loaded, the
memory planner's figure for it is checked against the free memory; idle models are unloaded to
make room, and when that is not enough the load is refused with the figures (503, or 400 when
the machine could never hold it). A request may ask for a context length: it is a minimum, and
the model is loaded again with it when the loaded one is shorter. A model nobody asked for in
``idle_unload_s`` seconds is unloaded (its worker process stops). A crashed worker fails only
the request it was answering; the next one starts it again.

A slot serves one purpose: chat (``Job``) or embeddings (``EmbedJob``, the model loaded with
``LoadSettings.embedding``). A model asked for both has two slots, each with its own queue and
worker, so neither reloads the other; the memory check counts both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

import psutil

from workbench.cancel import CancelToken
from workbench.engine.client import Embeddings, LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.errors import WorkerCrashed
from workbench.engine.protocol import LoadedModel
from workbench.engine.settings import LoadSettings, Sampling
from workbench.errors import WorkbenchError
from workbench.server.catalog import ServedModel
from workbench.server.errors import APIError
from workbench.server.generation import Generation

log = logging.getLogger("workbench.server")

Memory = Callable[[], "tuple[int, int]"]  # -> (available bytes, total bytes)
EngineFactory = Callable[[], LocalEngine]
Purpose = Literal["chat", "embeddings"]


def system_memory() -> tuple[int, int]:
    memory = psutil.virtual_memory()
    return int(memory.available), int(memory.total)


def _default_engine() -> LocalEngine:
    from workbench.hub.library import record_use  # the library's "last used"

    return LocalEngine(on_model_used=record_use)


@dataclass
class Job:
    """One answer to give: what to answer and where its events go."""

    messages: list[dict[str, Any]]
    sampling: Sampling
    n_ctx: int | None  # the context the request asked for (a minimum), None: any
    sink: Generation

    @property
    def cancel(self) -> CancelToken:
        return self.sink.cancel


@dataclass
class EmbedJob:
    """Texts to embed; ``future`` gets the vectors and the model as loaded (or the error).
    ``cancel``: set when its client has gone."""

    texts: list[str]
    n_ctx: int | None  # the context the request asked for (a minimum), None: any
    cancel: CancelToken = field(default_factory=CancelToken)
    future: Future[tuple[Embeddings, LoadedModel]] = field(default_factory=Future)


AnyJob = Job | EmbedJob


@dataclass(frozen=True)
class SlotState:
    """What ``/health`` and the GUI show of one model (one slot of it: chat or embeddings)."""

    id: str
    loaded: bool
    n_ctx: int | None
    busy: bool
    waiting: int
    planned_bytes: int
    idle_s: float
    purpose: Purpose = "chat"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _words(n: int) -> str:
    from workbench.present.numbers import format_bytes

    return format_bytes(n)


class ModelSlot:
    """One served model for one purpose: its queue, its thread and its worker process."""

    def __init__(self, pool: ModelPool, model: ServedModel, purpose: Purpose = "chat") -> None:
        self.pool = pool
        self.model = model
        self.purpose: Purpose = purpose
        self.label = model.id if purpose == "chat" else f"{model.id} (embeddings)"
        self.engine: LocalEngine | None = None
        self.info: LoadedModel | None = None
        self.planned_bytes = 0
        self.admitted: list[AnyJob] = []  # queued or being answered, not finished; pool lock
        self.running: AnyJob | None = None
        self.last_used = time.monotonic()
        self.work_lock = threading.Lock()  # held while the thread loads, answers or unloads
        self.average_s = 2.0  # how long an answer takes (moving average): for Retry-After
        self._jobs: queue.Queue[AnyJob | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name=f"model {self.label}",
                                        daemon=True)
        self._thread.start()

    @property
    def outstanding(self) -> int:
        """Admitted jobs still wanted: the one answered and those waiting whose client is
        still there (a client that left gives its place back at once, not when its turn
        comes)."""
        running = self.running
        return sum(1 for job in list(self.admitted)
                   if job is running or not job.cancel.is_set())

    @property
    def loaded(self) -> bool:
        return self.engine is not None and self.engine.alive and self.engine.info is not None

    def put(self, job: AnyJob) -> None:
        self._jobs.put(job)

    def stop(self) -> None:
        running = self.running
        if running is not None:
            running.cancel.cancel()
        self._jobs.put(None)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def state(self) -> SlotState:
        return SlotState(id=self.model.id, loaded=self.loaded,
                         n_ctx=self.info.n_ctx if self.info and self.loaded else None,
                         busy=self.running is not None, waiting=max(0, self.outstanding - (
                             1 if self.running is not None else 0)),
                         planned_bytes=self.planned_bytes,
                         idle_s=round(time.monotonic() - self.last_used, 1),
                         purpose=self.purpose)

    # -- the thread ------------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            idle = self.pool.idle_unload_s
            timeout = None
            if idle and self.loaded:
                timeout = max(0.05, self.last_used + idle - time.monotonic())
            try:
                job = self._jobs.get(timeout=timeout)
            except queue.Empty:
                if time.monotonic() - self.last_used >= idle:
                    self.unload_if_idle(reason=f"idle for {idle:.0f} s")
                continue
            if job is None:
                break
            try:
                if job.cancel.is_set():  # its client left while it waited
                    if isinstance(job, EmbedJob):
                        job.future.cancel()
                    continue
                if isinstance(job, EmbedJob) and not job.future.set_running_or_notify_cancel():
                    continue
                with self.work_lock:
                    self.running = job
                    started = time.monotonic()
                    try:
                        if isinstance(job, EmbedJob):
                            self._embed(job)
                        else:
                            self._answer(job)
                    finally:
                        self.running = None
                        self.last_used = time.monotonic()
                        self.average_s = 0.7 * self.average_s + 0.3 * (
                            self.last_used - started)
            finally:
                self.pool.finished(self, job)
        self._close_engine()

    def _answer(self, job: Job) -> None:
        try:
            info = self._ensure_loaded(job.n_ctx)
            if job.cancel.is_set():
                return
            assert self.engine is not None
            result = self.engine.chat(job.messages, job.sampling, on_delta=job.sink.delta,
                                      cancel=job.cancel)
            job.sink.done(result, info)
        except APIError as err:
            job.sink.fail(err)
        except WorkerCrashed as err:
            self.info = None
            log.warning("%s: %s", self.label, err)
            job.sink.fail(err)
        except WorkbenchError as err:
            job.sink.fail(err)
        except Exception as err:  # never the thread: the next request must be served
            log.exception("%s: unexpected failure", self.label)
            job.sink.fail(err)

    def _embed(self, job: EmbedJob) -> None:
        """Embed ``job.texts``; the future gets the result or the error, never the thread."""
        try:
            info = self._ensure_loaded(job.n_ctx)
            if job.cancel.is_set():
                job.future.set_result((Embeddings((), (), cancelled=True), info))
                return
            assert self.engine is not None
            result = self.engine.embed(job.texts, cancel=job.cancel)
            job.future.set_result((result, info))
        except WorkerCrashed as err:
            self.info = None
            log.warning("%s: %s", self.label, err)
            job.future.set_exception(err)
        except (APIError, WorkbenchError) as err:
            job.future.set_exception(err)
        except Exception as err:  # never the thread: the next request must be served
            log.exception("%s: unexpected failure", self.label)
            job.future.set_exception(err)

    # -- loading ---------------------------------------------------------------------------
    def _wanted_ctx(self, asked: int | None) -> int:
        if asked is not None:
            return asked
        if self.loaded and self.info is not None:
            return self.info.n_ctx
        default = self.pool.load.n_ctx
        trained = self.model.context_length
        return min(default, trained) if trained and default else default

    def _ensure_loaded(self, asked: int | None) -> LoadedModel:
        if self.loaded and self.info is not None and (asked is None or self.info.n_ctx >= asked):
            return self.info
        settings = dataclasses.replace(self.pool.load, model_path=self.model.path,
                                       n_ctx=self._wanted_ctx(asked), loras=self.model.loras)
        if self.purpose == "embeddings":
            settings = settings.embedding_load()
        with self.pool.memory_lock:
            planned = self.pool.plan_bytes(self.model, settings)
            own = self.planned_bytes if self.loaded else 0
            if planned:
                self.pool.make_room(planned - own, exclude=self, model=self.model,
                                    settings=settings)
            if self.engine is None:
                self.engine = self.pool.new_engine()
            log.info("%s: loading (context %d)", self.label, settings.n_ctx)
            try:
                self.info = self.engine.load(*resolve_load_settings(settings))
            except WorkerCrashed as err:
                safe = settings.safe()
                if settings == safe:
                    raise
                log.warning("%s: %s; loading again in safe mode", self.label, err)
                self.info = self.engine.load(*resolve_load_settings(safe))
            self.planned_bytes = planned
            return self.info

    def unload_if_idle(self, reason: str) -> bool:
        """Unload the model unless it is working (never waits for it); True when unloaded."""
        if not self.work_lock.acquire(blocking=False):
            return False
        try:
            if self.running is not None or self.outstanding > 0 or self.engine is None:
                return False
            log.info("%s: unloaded (%s)", self.label, reason)
            self._close_engine()
            return True
        finally:
            self.work_lock.release()

    def _close_engine(self) -> None:
        engine, self.engine, self.info = self.engine, None, None
        self.planned_bytes = 0
        if engine is not None:
            with contextlib.suppress(Exception):
                engine.close()


class ModelPool:
    """The slots of every model asked for; thread-safe."""

    def __init__(self, load: LoadSettings, *, max_queue: int = 8, idle_unload_s: float = 600.0,
                 memory: Memory = system_memory, engine_factory: EngineFactory | None = None,
                 ) -> None:
        self.load = load
        self.max_queue = max_queue
        self.idle_unload_s = idle_unload_s
        self.memory = memory
        self.memory_lock = threading.Lock()  # one load at a time decides about memory
        self._engine_factory = engine_factory or _default_engine
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, tuple[tuple[str, float], ...], Purpose], ModelSlot] = {}
        self._closed = False

    def new_engine(self) -> LocalEngine:
        return self._engine_factory()

    def slots(self) -> list[ModelSlot]:
        with self._lock:
            return list(self._slots.values())

    def slot(self, model: ServedModel, purpose: Purpose = "chat") -> ModelSlot:
        """The slot of ``model`` for ``purpose`` (made on first use)."""
        with self._lock:
            if self._closed:
                raise APIError(503, "the server is shutting down", code="shutting_down")
            key = (model.path, model.loras, purpose)  # an adapter is a model of its own
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = ModelSlot(self, model, purpose)
            return slot

    def submit(self, model: ServedModel, job: AnyJob) -> ModelSlot:
        """Queue ``job`` for ``model`` (an ``EmbedJob`` goes to its embeddings slot); APIError
        429 (with Retry-After) when that queue is full."""
        slot = self.slot(model, "embeddings" if isinstance(job, EmbedJob) else "chat")
        with self._lock:
            if slot.outstanding >= self.max_queue + 1:
                wait = max(1, round(slot.average_s * slot.outstanding))
                raise APIError(
                    429, f"{slot.label} is answering and {slot.outstanding - 1} more requests "
                    f"are waiting for it (the queue holds {self.max_queue}); retry in about "
                    f"{wait} s", code="queue_full", headers={"Retry-After": str(wait)})
            slot.admitted.append(job)
        slot.put(job)
        return slot

    def finished(self, slot: ModelSlot, job: AnyJob) -> None:
        with self._lock, contextlib.suppress(ValueError):
            slot.admitted.remove(job)

    # -- memory ----------------------------------------------------------------------------
    def plan_bytes(self, model: ServedModel, settings: LoadSettings) -> int:
        """The memory planner's bytes for ``model`` loaded with ``settings`` on this machine's
        RAM (GPU layers are llama.cpp's to place), its LoRA adapters included; 0 when the
        planner cannot plan it."""
        from workbench.gguf import read_adapter, read_header
        from workbench.planner import estimate_memory, model_params

        try:
            headers = [read_header(path) for path in model.files]
            params = model_params(headers if len(headers) > 1 else headers[0])
            plan = estimate_memory(
                params, n_ctx=settings.n_ctx,
                n_ubatch=settings.n_ubatch, n_batch=settings.n_batch,
                n_gpu_layers=settings.n_gpu_layers, kv_type=settings.kv_type,
                flash_attn=settings.flash_attn, use_mmap=settings.use_mmap,
                swa_full=settings.swa_full,
                loras=[(read_adapter(path), scale) for path, scale in settings.loras])
        except Exception as err:  # an architecture the planner does not know: llama.cpp decides
            log.info("%s: not planned (%s); loading without a memory check", model.id, err)
            return 0
        extra = 0
        if settings.embedding:
            # llama.cpp's output buffer in embedding mode: every token of a batch is an output
            # (pooling reads them all), each with its logits and its vector; the planner counts
            # one output (chat). A batch holds up to n_batch tokens.
            batch = min(settings.n_batch, settings.n_ctx or settings.n_batch)
            extra = max(0, batch * (params.n_vocab + params.n_embd) * 4 - plan.output_bytes)
        return int(plan.cpu_bytes) + extra

    def make_room(self, needed: int, *, exclude: ModelSlot, model: ServedModel,
                  settings: LoadSettings) -> None:
        """Make ``needed`` bytes free, unloading idle models (least recently used first);
        APIError 400 / 503 with the planner's figures when that cannot be done."""
        available, total = self.memory()
        purpose = " for embeddings" if settings.embedding else ""
        what = f"{model.id}{purpose} with a context of {settings.n_ctx} tokens"
        if needed > total:
            raise APIError(
                400, f"{what} needs {_words(needed)} of memory (the memory planner's figure), "
                f"this machine has {_words(total)} in all: ask for a shorter context "
                '("workbench": {"n_ctx": N}) or use a smaller model', code="model_too_large")
        if needed <= available:
            return
        others = sorted((s for s in self.slots() if s is not exclude and s.engine is not None),
                        key=lambda s: s.last_used)
        for other in others:
            if other.unload_if_idle(reason=f"room for {model.id}"):
                available, total = self.memory()
                if needed <= available:
                    return
        busy = [s.label for s in self.slots() if s is not exclude and s.loaded]
        held = f"; loaded and busy: {', '.join(busy)}" if busy else ""
        raise APIError(
            503, f"{what} needs {_words(needed)} of memory (the memory planner's figure), "
            f"{_words(available)} is free now{held}: retry later, or ask for a shorter context",
            code="insufficient_memory", headers={"Retry-After": "10"})

    # -- the end ---------------------------------------------------------------------------
    def cancel_all(self) -> None:
        """Stop every answer being generated (the server is stopping)."""
        for slot in self.slots():
            running = slot.running
            if running is not None:
                running.cancel.cancel()

    def close(self) -> int:
        """Stop every slot's thread and worker process; returns how many models were loaded."""
        with self._lock:
            self._closed = True
            slots = list(self._slots.values())
        loaded = sum(1 for s in slots if s.loaded)
        for slot in slots:
            slot.stop()
        for slot in slots:
            slot.join(timeout=10)
            slot._close_engine()  # a thread that did not stop in time: its process goes anyway
        return loaded
