"""A local GGUF model through the crash-proof llama.cpp worker (``LocalEngine``).

Exact figures come from the worker (llama.cpp's counters and the worker's clock, see
workbench/engine/metrics.py). Energy is measured around the answer (NVML when layers run on an
NVIDIA GPU, RAPL or a labelled CPU-time estimate for the CPU). Local targets in one process take
turns (a shared lock): two models generating at once on the same cores would halve each
other's speed and share each other's energy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.cancel import CancelToken
from workbench.engine.client import LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.errors import WorkerCrashed
from workbench.engine.protocol import LoadedModel
from workbench.engine.settings import LoadSettings, Sampling, format_lora
from workbench.errors import WorkbenchError
from workbench.providers import errors
from workbench.providers.base import (
    AnswerResult,
    DeltaCallback,
    Message,
    Params,
    StatusCallback,
    Target,
)
from workbench.providers.errors import ProviderError

LOCAL_LOCK = threading.Lock()  # one local answer at a time in this process
LORA_SEP = "+lora:"  # local:PATH+lora:ADAPTER@SCALE (workbench.providers.registry)
MeterFactory = Callable[["LocalTarget"], Any]  # -> an object with start() / stop() -> reading


def default_meter_factory(target: LocalTarget) -> Any:
    """NVML for the GPU (when layers are offloaded), RAPL or a labelled estimate for the CPU."""
    from workbench.hardware.energy import local_energy_meter
    from workbench.store.settings import load_settings

    try:
        watts = load_settings().cpu_watts
    except WorkbenchError:
        watts = None
    return local_energy_meter(pid=target.engine.pid, uses_gpu=target.uses_gpu,
                              cpu_watts_per_core=watts)


def lora_suffix(loras: Sequence[tuple[str, float]], *, short: bool = False) -> str:
    """``+lora:ADAPTER[@SCALE]`` for each adapter (``short``: its file name, not its path)."""
    return "".join(f"{LORA_SEP}{format_lora(Path(path).name if short else path, scale)}"
                   for path, scale in loras)


def local_label(path: str | os.PathLike[str], loras: Sequence[tuple[str, float]] = ()) -> str:
    """A local target as people read it: ``model.gguf+lora:adapter.gguf@0.8``."""
    return Path(path).name + lora_suffix(loras, short=True)


def sampling_from(params: Params, chat_format: str = "auto") -> Sampling:
    """The worker's sampling for ``params`` (Workbench's defaults where params say None)."""
    base = Sampling()
    return dataclasses.replace(
        base,
        chat_format=chat_format,
        max_tokens=params.max_tokens,
        temperature=base.temperature if params.temperature is None else params.temperature,
        top_p=base.top_p if params.top_p is None else params.top_p,
        seed=params.seed,
        json_schema=None if params.json_schema is None else json.dumps(
            params.json_schema, ensure_ascii=False),  # key order kept: it is the JSON's order
    )


class LocalTarget(Target):
    """A GGUF file answered by llama.cpp in a worker process on this machine."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        spec: str | None = None,
        load: LoadSettings | None = None,
        engine: LocalEngine | None = None,
        meter_factory: MeterFactory | None = None,
        lock: Any = LOCAL_LOCK,
        chat_format: str = "auto",
        on_model_used: Callable[[str], None] | None = None,
    ) -> None:
        """``on_model_used`` goes to the engine this target starts (``engine`` not given):
        the caller's "last used" recorder (``workbench.hub.library.record_use``)."""
        path = Path(model_path)
        Sampling(chat_format=chat_format)  # an unknown format is bad input now, not later
        self.chat_format = chat_format
        self.model_path = str(path)
        self.load_settings = load or LoadSettings(self.model_path)
        loras = self.load_settings.loras
        self.spec = spec or f"local:{path}{lora_suffix(loras)}"
        self.model = local_label(path, loras)  # the adapters name a model of their own
        self.label = f"local/{self.model}"
        self.provider = "local"
        self._engine = engine
        self._owns_engine = engine is None
        self._on_model_used = on_model_used
        self._meter_factory = meter_factory
        self._lock = lock
        self.load_info: LoadedModel | None = None

    @property
    def destination(self) -> str:
        return "this machine"

    @property
    def leaves_machine(self) -> bool:
        return False

    @property
    def engine(self) -> LocalEngine:
        if self._engine is None:
            self._engine = LocalEngine(on_model_used=self._on_model_used)
        return self._engine

    @property
    def uses_gpu(self) -> bool:
        return self.load_settings.n_gpu_layers != 0

    def close(self) -> None:
        if self._engine is not None and self._owns_engine:
            self._engine.close()
            self._engine = None
        self.load_info = None

    def _stream(self, messages: list[Message], params: Params, delta: DeltaCallback,
                cancel: CancelToken, result: AnswerResult, status: StatusCallback) -> None:
        if params.stop:
            result.notes.append("stop sequences are not applied to the local model")
        acquired = self._lock.acquire(blocking=False)
        if not acquired:
            status("waiting for the other local model to finish (local answers take turns)")
            while not self._lock.acquire(timeout=0.1):
                if cancel.cancelled:
                    result.finish_reason = "cancelled"
                    return
        try:
            self._answer(messages, params, delta, cancel, result, status)
        finally:
            self._lock.release()

    def _answer(self, messages: list[Message], params: Params, delta: DeltaCallback,
                cancel: CancelToken, result: AnswerResult, status: StatusCallback) -> None:
        engine = self.engine
        parts: list[str] = []
        if self.load_info is None or not engine.alive or engine.info is None:
            status(f"loading {self.model}")
            try:
                self.load_info = engine.load(*resolve_load_settings(self.load_settings))
            except WorkbenchError as err:
                raise ProviderError(errors.LOCAL, f"{self.label}: {err}") from None
            result.load_ms = self.load_info.load_ms
            result.notes.extend(self.load_info.notes)
        if cancel.cancelled:
            result.finish_reason = "cancelled"
            return

        def on_delta(text: str, tokens: int) -> None:
            parts.append(text)
            delta(text, tokens)

        factory = self._meter_factory or default_meter_factory
        try:
            meter = factory(self)
            if meter is not None:
                meter.start()
        except Exception as err:  # no energy figure is better than no answer
            meter = None
            result.notes.append(f"energy not measured: {type(err).__name__}: {err}")
        reading = None
        try:
            chat = engine.chat(messages, sampling_from(params, self.chat_format),
                               on_delta=on_delta, cancel=cancel)
        except WorkerCrashed as err:
            self.load_info = None
            raise ProviderError(errors.LOCAL, f"{self.label}: {err}",
                                partial_text=err.partial_text or "".join(parts)) from None
        except WorkbenchError as err:
            raise ProviderError(errors.LOCAL, f"{self.label}: {err}",
                                partial_text="".join(parts)) from None
        finally:
            if meter is not None:
                with contextlib.suppress(Exception):
                    reading = meter.stop()
        m = chat.metrics
        result.text = chat.text
        result.finish_reason = chat.finish_reason
        result.ttft_ms = m.ttft_ms
        result.total_ms = m.total_ms
        if chat.finish_reason == "cancelled" and m.prompt_tokens == 0 and m.total_ms == 0:
            # a hard cancel killed the worker: it could not report its counters
            result.total_ms = None
            result.notes.append("cancelled by stopping the model process: counts unknown")
            self.load_info = None
            return
        result.tokens_source = "llama.cpp"
        result.prompt_tokens = m.prompt_tokens
        result.completion_tokens = m.completion_tokens
        result.cached_prompt_tokens = m.prompt_tokens - m.prompt_eval_tokens
        result.gen_tokens_per_s = m.stream_tokens_per_s
        result.engine_tokens_per_s = m.gen_tokens_per_s
        result.prompt_tokens_per_s = m.prompt_tokens_per_s
        if m.total_ms > 0 and m.completion_tokens > 0:
            result.e2e_tokens_per_s = m.completion_tokens / (m.total_ms / 1000)
        if reading is not None:
            result.energy_j = reading.joules
            result.energy_method = reading.method
            result.energy_note = reading.note
