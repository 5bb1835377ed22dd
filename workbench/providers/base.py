"""One streaming interface for every target: a local model, a cloud API, a self-hosted server.

``Target.stream(messages, params, on_delta, cancel) -> AnswerResult``. It never raises for a
failure of the target itself: the result carries ``error`` (one clear line), ``error_kind`` and
whatever text streamed before the failure, so one failing pane never takes the others down.

Metric names follow ``workbench.engine.metrics.AnswerMetrics`` where they mean the same thing;
docs/metrics.md defines every figure. Token counts come from the provider's usage report or from
llama.cpp's counters, never from counting streamed chunks; when neither exists they are None.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from workbench.cancel import CancelToken
from workbench.errors import BadInput, WorkbenchError
from workbench.net.offline import find_offline_block, is_offline
from workbench.providers import errors
from workbench.providers.errors import ProviderError
from workbench.store.secrets import redact

Message = dict[str, Any]
DeltaCallback = Callable[[str, "int | None"], None]  # (text, output tokens so far or None)
StatusCallback = Callable[[str], None]  # e.g. "rate limited: retrying in 2.0 s"


_SCHEMA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def schema_name(schema: dict[str, Any]) -> str:
    """The name an API is given for a JSON Schema (OpenAI's ``json_schema.name``, Anthropic's
    tool name): the schema's ``title`` when it is a valid name, else "answer"."""
    title = schema.get("title")
    return title if isinstance(title, str) and _SCHEMA_NAME.fullmatch(title) else "answer"


@dataclass(frozen=True)
class Params:
    """What every target is asked with. None means "the provider's default" (and is sent as
    nothing); the local model then uses Workbench's sampling defaults."""

    max_tokens: int = 512
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # A JSON Schema the answer must follow (structured output): the local model samples through
    # a grammar built from it, OpenAI-compatible APIs get ``response_format`` (strict), Anthropic
    # a forced tool call whose input becomes the answer text. The answer is the JSON text.
    json_schema: dict[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.json_schema is not None:
            if not isinstance(self.json_schema, dict):
                raise BadInput("json_schema must be a JSON Schema object (a dict)")
            try:
                json.dumps(self.json_schema)
            except (TypeError, ValueError) as err:
                raise BadInput(f"json_schema is not JSON: {err}") from None
        if self.max_tokens < 1:
            raise BadInput("max_tokens must be at least 1")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise BadInput("temperature must be between 0 and 2")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise BadInput("top_p must be in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "stop": list(self.stop)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "stop" in values:
            values["stop"] = tuple(values["stop"] or ())
        return cls(**values)


@dataclass
class AnswerResult:
    """One target's answer and its measurements (JSON-friendly via ``to_dict``)."""

    target: str  # the spec it was built from, e.g. "openai:gpt-4o-mini"
    label: str  # what the UI calls it
    provider: str  # pricing provider: openai, anthropic, google, groq, ..., local
    model: str
    destination: str  # where the prompt went: "this machine" or a host name
    text: str = ""
    finish_reason: str | None = None  # stop | length | cancelled | error | other provider values
    ttft_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int | None = None  # all prompt tokens, cached ones included
    cached_prompt_tokens: int | None = None  # read from a prompt cache
    cache_write_tokens: int | None = None  # written to a prompt cache (Anthropic)
    completion_tokens: int | None = None  # billed output tokens, reasoning included
    reasoning_tokens: int | None = None  # hidden reasoning (not streamed as text)
    tokens_source: str | None = None  # "usage" | "llama.cpp" | None (unknown)
    gen_tokens_per_s: float | None = None  # (visible output - 1) / (last - first token)
    e2e_tokens_per_s: float | None = None  # output tokens / total time
    prompt_tokens_per_s: float | None = None  # local only: llama.cpp prompt processing
    engine_tokens_per_s: float | None = None  # local only: llama.cpp's own generation counter
    load_ms: float | None = None  # local only: model load (not part of ttft/total)
    cost_usd: float | None = None
    usd_per_1m_tokens: float | None = None  # cost / (prompt + output tokens) * 1e6
    cost_source: str | None = None  # pricing table | user override | provider | energy
    cost_note: str | None = None
    energy_j: float | None = None
    energy_method: str | None = None
    energy_note: str | None = None
    error: str | None = None
    error_kind: str | None = None
    retries: int = 0
    retry_wait_ms: float = 0.0
    notes: list[str] = field(default_factory=list)
    started_at: str = ""
    provider_cost_usd: float | None = None  # cost reported by the provider itself (OpenRouter)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StreamClock:
    """Client-side timing of one streamed answer (monotonic clock, milliseconds)."""

    def __init__(self) -> None:
        self.t_sent = time.perf_counter()
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.t_end: float | None = None

    def restart(self) -> None:
        self.__init__()  # type: ignore[misc]

    def text(self, piece: str) -> None:
        """Call for every streamed piece; only non-empty text moves the clocks."""
        if piece:
            now = time.perf_counter()
            if self.t_first is None:
                self.t_first = now
            self.t_last = now

    def end(self) -> None:
        self.t_end = time.perf_counter()

    @property
    def ttft_ms(self) -> float | None:
        return None if self.t_first is None else (self.t_first - self.t_sent) * 1000

    @property
    def total_ms(self) -> float:
        end = self.t_end if self.t_end is not None else time.perf_counter()
        return (end - self.t_sent) * 1000

    def gen_rate(self, visible_tokens: int | None) -> float | None:
        """(tokens - 1) / (last - first): the streamed generation speed (vLLM's 1/TPOT)."""
        if visible_tokens is None or visible_tokens < 2 or self.t_first is None:
            return None
        span = (self.t_last or self.t_first) - self.t_first
        return (visible_tokens - 1) / span if span > 0 else None

    def e2e_rate(self, output_tokens: int | None) -> float | None:
        total_s = self.total_ms / 1000
        if output_tokens is None or output_tokens < 1 or total_s <= 0:
            return None
        return output_tokens / total_s


class Target(ABC):
    """Something that answers a conversation with streamed text."""

    spec: str
    label: str
    provider: str
    model: str

    @property
    @abstractmethod
    def destination(self) -> str:
        """Where a prompt goes: "this machine" or the host that receives it."""

    @property
    @abstractmethod
    def leaves_machine(self) -> bool:
        """True when answering sends the prompt to another machine."""

    def new_result(self) -> AnswerResult:
        return AnswerResult(target=self.spec, label=self.label, provider=self.provider,
                            model=self.model, destination=self.destination,
                            started_at=now_iso())

    def stream(
        self,
        messages: Sequence[Message],
        params: Params | None = None,
        on_delta: DeltaCallback | None = None,
        cancel: CancelToken | None = None,
        on_status: StatusCallback | None = None,
    ) -> AnswerResult:
        """Answer ``messages``; every failure of the target ends up in ``result.error``."""
        params = params or Params()
        result = self.new_result()
        parts: list[str] = []

        def delta(text: str, tokens: int | None) -> None:
            parts.append(text)
            if on_delta is not None:
                on_delta(text, tokens)

        if self.leaves_machine and is_offline():
            return _fail(result, ProviderError(
                errors.OFFLINE, f"unavailable in offline mode: {self.label} would send the "
                f"prompt to {self.destination}"), parts)
        try:
            self._stream(list(messages), params, delta, cancel or CancelToken(), result,
                         on_status or (lambda _message: None))
        except ProviderError as err:
            return _fail(result, err, parts)
        except WorkbenchError as err:
            blocked = find_offline_block(err)
            kind = errors.OFFLINE if blocked else getattr(err, "kind", errors.INTERNAL)
            return _fail(result, ProviderError(kind if kind in errors.KINDS else errors.INTERNAL,
                                               str(blocked or err)), parts)
        except Exception as err:  # a bug must stay in its pane
            blocked = find_offline_block(err)
            if blocked is not None:
                return _fail(result, ProviderError(errors.OFFLINE, str(blocked)), parts)
            result.notes.append("".join(traceback.format_exception_only(err)).strip()[:500])
            return _fail(result, ProviderError(
                errors.INTERNAL, f"internal error: {type(err).__name__}: {err}"), parts)
        if not result.text and parts:
            result.text = "".join(parts)
        return result

    @abstractmethod
    def _stream(self, messages: list[Message], params: Params, delta: DeltaCallback,
                cancel: CancelToken, result: AnswerResult, status: StatusCallback) -> None:
        """Fill ``result`` (text, tokens, timings); raise ProviderError on failure."""

    def close(self) -> None:  # noqa: B027 - most targets hold nothing to release
        """Release connections or processes (idempotent)."""


def _fail(result: AnswerResult, err: ProviderError, parts: list[str]) -> AnswerResult:
    result.text = result.text or err.partial_text or "".join(parts)
    result.error = redact(str(err))
    result.error_kind = err.kind
    if result.finish_reason in (None, "stop", "length"):
        result.finish_reason = "error"
    return result


def failed_result(spec: str, err: WorkbenchError, *, label: str | None = None,
                  provider: str = "unknown", model: str = "", destination: str = "") -> (
        AnswerResult):
    """A result for a target that could not even be built (bad spec, no key, ...)."""
    kind = getattr(err, "kind", errors.BAD_REQUEST)
    result = AnswerResult(target=spec, label=label or spec, provider=provider, model=model,
                          destination=destination, started_at=now_iso())
    return _fail(result, ProviderError(kind if kind in errors.KINDS else errors.BAD_REQUEST,
                                       str(err)), [])
