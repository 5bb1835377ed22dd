"""The line protocol between the app and the inference worker process, as typed messages.

One JSON object per line, UTF-8. The app writes requests to the worker's stdin; the worker writes
events to its stdout. llama.cpp's own log goes to the worker's stderr, which the app keeps as a
ring buffer of recent lines (shown when the worker crashes). docs/worker-protocol.md has the full
reference (a test checks that it names every class here); this module is the single source of
the names and of the fields.

Every message is a frozen dataclass: one class per request (``op``) and per event (``event``).
``to_json()`` gives the JSON object (the discriminating key first, then the fields in their
declared order: the same bytes the protocol has always had) and ``encode()`` the line;
``Request.from_json`` / ``Event.from_json`` (or ``parse_request`` / ``parse_event`` for a raw
line) are strict: an unknown op or event, a missing, unknown or mistyped field is a
``ProtocolError`` that says which, never a KeyError later.

Requests (app -> worker), each with an integer ``id`` chosen by the app:
  {"id": 1, "op": "load", "settings": {LoadSettings fields}}
  {"id": 2, "op": "chat", "messages": [{"role": "user", "content": "..."}], "sampling": {...}}
  {"id": 3, "op": "cancel", "target": 2}          stop request 2 (between tokens, or mid-prompt)
  {"id": 7, "op": "bench", "pp_tokens": 512, "tg_tokens": 128, "repetitions": 5}
  {"id": 8, "op": "embed", "inputs": ["text", ...]}   a model loaded with embedding: true
  {"id": 4, "op": "unload"}
  {"id": 5, "op": "stats"}
  {"id": 6, "op": "shutdown"}

Events (worker -> app):
  {"event": "ready", "pid": 123, "protocol": 1, "llama_cpp_version": "0.3.36"}   once, at start
  {"event": "heartbeat", "t": 12.5}                  every HEARTBEAT_S, from a separate thread
  {"event": "loaded", "id": 1, "info": {ModelInfo}}   model facts, load_ms, threads...
  {"event": "delta", "id": 2, "text": "...", "tokens": 7}   answer text (one or more tokens);
                                                      tokens: answer tokens sampled so far
  {"event": "done", "id": 2, "finish_reason": "stop" | "length" | "cancelled", "metrics": {...}}
  {"event": "progress", "id": 7, "stage": "warmup" | "pp" | "tg", "rep": 1}
  {"event": "bench_result", "id": 7, "result": {BenchSamples}}
  {"event": "embed_result", "id": 8, "vectors": ["base64 of float32 LE", ...], "tokens": [5, ...],
   "cancelled": false}                                one unit-length vector per input
  {"event": "unloaded", "id": 4}
  {"event": "stats", "id": 5, "stats": {WorkerStats}}
  {"event": "error", "id": 2, "kind": ERROR_KINDS member, "message": "..."}
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from workbench.engine.metrics import AnswerMetrics
from workbench.engine.settings import LoadSettings, Sampling
from workbench.errors import BadInput

PROTOCOL_VERSION = 1
LOG_MARK = "workbench-worker: end of load log for request "  # + id, on stderr
HEARTBEAT_S = 0.5
MAX_ERROR_TEXT = 300  # characters of a ProtocolError's text

MAX_EMBED_INPUTS = 2048  # inputs per embed request (OpenAI's limit per embeddings request)

OPS = ("load", "chat", "embed", "bench", "cancel", "unload", "stats", "shutdown")
EVENTS = ("ready", "heartbeat", "loaded", "delta", "done", "progress", "bench_result",
          "embed_result", "unloaded", "stats", "error")
FINISH_REASONS = ("stop", "length", "cancelled")
BENCH_STAGES = ("warmup", "pp", "tg")
ERROR_KINDS = (
    "bad_request",  # malformed or unknown request
    "no_model",  # chat before load
    "load_failed",  # llama.cpp refused the model (the message says why)
    "context_overflow",  # the prompt (or an input to embed) does not fit the context
    "internal",  # anything else that the worker survived
)

FinishReason = Literal["stop", "length", "cancelled"]
BenchStage = Literal["warmup", "pp", "tg"]
ErrorKind = Literal["bad_request", "no_model", "load_failed", "context_overflow", "internal"]


class ProtocolError(ValueError):
    """A line that is not a valid protocol message. ``request_id``: the id of the request it
    claimed to be, when that much could be read (the worker's error event echoes it). The text
    is bounded: it can quote a hostile line's names, and it goes into logs and crash details."""

    def __init__(self, message: str, *, request_id: int | None = None) -> None:
        if len(message) > MAX_ERROR_TEXT:
            message = message[:MAX_ERROR_TEXT] + "…"
        super().__init__(message)
        self.request_id = request_id


# -- payloads: the objects inside messages ---------------------------------------------------
class Payload:
    """An object carried inside a message (a dataclass): read its attributes."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls: type[_P], data: object) -> _P:
        return _build(cls, data, cls.__name__)


_P = TypeVar("_P", bound=Payload)


@dataclass(frozen=True)
class ModelInfo(Payload):
    """llama.cpp's facts about the model just loaded (the ``loaded`` event's ``info``)."""

    model_path: str
    architecture: str | None  # general.architecture
    name: str | None  # general.name
    n_params: int
    model_size_bytes: int
    n_vocab: int
    n_ctx: int  # the context llama.cpp gave (may differ from the one asked for)
    n_ctx_train: int
    chat_template: bool  # the GGUF has tokenizer.chat_template
    load_ms: float
    threads: int
    repack: bool  # CPU weight repacking was on
    flash_attn: str
    kv_type: str
    n_gpu_layers: int
    gpu_offload: bool  # this llama.cpp build can offload to a GPU
    llama_cpp_version: str
    # how the chat template writes tool calls (workbench.engine.tool_calls.TOOL_FORMATS), or
    # None: it takes no tools
    tool_format: str | None = None
    # the LoRA adapters applied, (path, scale) each, as LoadSettings.loras asked for them
    loras: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class LoadedModel(ModelInfo):
    """Not on the wire: the app's view of a loaded model (``LocalEngine.load``), the ``loaded``
    event's facts plus llama.cpp's buffer sizes read from the load log (MiB per kind: model, kv,
    compute, ...) and the notes on the settings Workbench chose."""

    buffers: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, info: ModelInfo, buffers: dict[str, float], notes: list[str]) -> LoadedModel:
        facts = {f.name: getattr(info, f.name) for f in dataclasses.fields(ModelInfo)}
        return cls(**facts, buffers=buffers, notes=list(notes))


@dataclass(frozen=True)
class BenchSamples(Payload):
    """The ``bench_result`` event's ``result``: tok/s per repetition of the pp and tg tests.
    A cancelled run carries only ``{"cancelled": true}``."""

    cancelled: bool
    pp_samples: tuple[float, ...] = ()
    tg_samples: tuple[float, ...] = ()
    system_info: str | None = None  # llama_print_system_info()

    def to_json(self) -> dict[str, Any]:
        return {"cancelled": True} if self.cancelled else super().to_json()


@dataclass(frozen=True)
class WorkerStats(Payload):
    """The ``stats`` event's ``stats``."""

    loaded: bool
    model: ModelInfo | None
    rss_bytes: int  # the worker process's resident memory
    n_tokens_cached: int  # tokens in the KV cache


# -- requests ---------------------------------------------------------------------------------
_R = TypeVar("_R", bound="Request")
_E = TypeVar("_E", bound="Event")


@dataclass(frozen=True)
class Request:
    """A request from the app to the worker (``op``); ``id`` is chosen by the app."""

    OP: ClassVar[str] = ""
    id: int

    def to_json(self) -> dict[str, Any]:
        data = {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"id": data.pop("id"), "op": self.OP, **data}

    def encode(self) -> bytes:
        return encode(self.to_json())

    @classmethod
    def from_json(cls: type[_R], data: object) -> _R:
        """The request ``data`` describes; ProtocolError when it is not a valid one."""
        if not isinstance(data, Mapping):
            raise ProtocolError("a request must be a JSON object")
        rid = data.get("id")
        rid = rid if isinstance(rid, int) and not isinstance(rid, bool) else None
        op = data.get("op")
        kind = REQUESTS.get(op) if isinstance(op, str) else None
        if kind is None:
            raise ProtocolError(f"unknown op {op!r} (known: {', '.join(OPS)})", request_id=rid)
        if not issubclass(kind, cls):
            raise ProtocolError(f"expected a {cls.OP} request, not {op!r}", request_id=rid)
        fields = {k: v for k, v in data.items() if k != "op"}
        try:
            return _build(kind, fields, f"{op} request")
        except ProtocolError as err:
            raise ProtocolError(str(err), request_id=rid) from None


@dataclass(frozen=True)
class LoadRequest(Request):
    """Load a model (replacing any loaded one); answered by ``loaded`` or ``error``."""

    OP: ClassVar[str] = "load"
    settings: LoadSettings


@dataclass(frozen=True)
class ChatRequest(Request):
    """Answer ``messages``; answered by ``delta`` events, then ``done`` or ``error``."""

    OP: ClassVar[str] = "chat"
    messages: list[dict[str, Any]]
    sampling: Sampling

    def __post_init__(self) -> None:
        if not self.messages:
            raise ProtocolError("chat request: chat needs a non-empty list of messages")
        for i, message in enumerate(self.messages):
            if not isinstance(message.get("role"), str) or not isinstance(
                    message.get("content"), str):
                raise ProtocolError(f"chat request: messages[{i}] needs a string role and "
                                    "content")


@dataclass(frozen=True)
class EmbedRequest(Request):
    """Embed each of ``inputs`` with a model loaded with ``embedding``; answered by
    ``embed_result`` or ``error``."""

    OP: ClassVar[str] = "embed"
    inputs: list[str]

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ProtocolError("embed request: embed needs a non-empty list of inputs")
        if len(self.inputs) > MAX_EMBED_INPUTS:
            raise ProtocolError(f"embed request: at most {MAX_EMBED_INPUTS} inputs, not "
                                f"{len(self.inputs)}")


@dataclass(frozen=True)
class BenchRequest(Request):
    """Run llama-bench's pp/tg tests; answered by ``progress`` events, then ``bench_result``
    or ``error``."""

    OP: ClassVar[str] = "bench"
    pp_tokens: int
    tg_tokens: int
    repetitions: int


@dataclass(frozen=True)
class CancelRequest(Request):
    """Stop request ``target``; not answered itself: the target ends as cancelled."""

    OP: ClassVar[str] = "cancel"
    target: int


@dataclass(frozen=True)
class UnloadRequest(Request):
    """Free the model; answered by ``unloaded``."""

    OP: ClassVar[str] = "unload"


@dataclass(frozen=True)
class StatsRequest(Request):
    """Answered by ``stats``."""

    OP: ClassVar[str] = "stats"


@dataclass(frozen=True)
class ShutdownRequest(Request):
    """The worker exits 0; not answered."""

    OP: ClassVar[str] = "shutdown"


# -- events -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """A message from the worker to the app (``event``)."""

    EVENT: ClassVar[str] = ""

    @property
    def request_id(self) -> int | None:
        """The id of the request this event answers (None for ready and heartbeat)."""
        rid = getattr(self, "id", None)
        return rid if isinstance(rid, int) else None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"event": self.EVENT, **data}

    def encode(self) -> bytes:
        return encode(self.to_json())

    @classmethod
    def from_json(cls: type[_E], data: object) -> _E:
        """The event ``data`` describes; ProtocolError when it is not a valid one."""
        if not isinstance(data, Mapping):
            raise ProtocolError("an event must be a JSON object")
        name = data.get("event")
        kind = EVENT_TYPES.get(name) if isinstance(name, str) else None
        if kind is None:
            raise ProtocolError(f"unknown event {name!r} (known: {', '.join(EVENTS)})")
        if not issubclass(kind, cls):
            raise ProtocolError(f"expected a {cls.EVENT} event, not {name!r}")
        return _build(kind, {k: v for k, v in data.items() if k != "event"}, f"{name} event")


@dataclass(frozen=True)
class Ready(Event):
    """Sent once, when the worker has started."""

    EVENT: ClassVar[str] = "ready"
    pid: int
    protocol: int
    llama_cpp_version: str


@dataclass(frozen=True)
class Heartbeat(Event):
    """Sent every HEARTBEAT_S from a separate thread; ``t``: seconds since the worker started."""

    EVENT: ClassVar[str] = "heartbeat"
    t: float


@dataclass(frozen=True)
class Loaded(Event):
    EVENT: ClassVar[str] = "loaded"
    id: int
    info: ModelInfo


@dataclass(frozen=True)
class Delta(Event):
    """Answer text (one or more tokens); ``tokens``: answer tokens sampled so far."""

    EVENT: ClassVar[str] = "delta"
    id: int
    text: str
    tokens: int


@dataclass(frozen=True)
class Done(Event):
    EVENT: ClassVar[str] = "done"
    id: int
    finish_reason: FinishReason
    metrics: AnswerMetrics


@dataclass(frozen=True)
class Progress(Event):
    """A bench test starts: ``stage`` warmup, pp or tg; ``rep`` counts from 1 (0: warm-up)."""

    EVENT: ClassVar[str] = "progress"
    id: int
    stage: BenchStage
    rep: int


@dataclass(frozen=True)
class BenchResult(Event):
    EVENT: ClassVar[str] = "bench_result"
    id: int
    result: BenchSamples


@dataclass(frozen=True)
class EmbedResult(Event):
    """One vector per input, in order: each the base64 text of its little-endian float32
    values (unit length, all of one size); ``tokens``: each input's token count. A cancelled
    request has neither."""

    EVENT: ClassVar[str] = "embed_result"
    id: int
    vectors: list[str]
    tokens: list[int]
    cancelled: bool

    def __post_init__(self) -> None:
        if len(self.vectors) != len(self.tokens):
            raise ProtocolError(f"embed_result event: {len(self.vectors)} vectors for "
                                f"{len(self.tokens)} token counts")
        raw = [decode_vector(v, f"embed_result event: vectors[{i}]")
               for i, v in enumerate(self.vectors)]
        sizes = {len(r) for r in raw}
        if len(sizes) > 1:
            raise ProtocolError("embed_result event: vectors of different sizes")
        if raw and (not raw[0] or len(raw[0]) % 4):
            raise ProtocolError(f"embed_result event: a vector of {len(raw[0])} bytes is no "
                                "whole number of float32 values")
        object.__setattr__(self, "_raw", raw)  # decoded once; not a field (not on the wire)

    def data(self) -> list[bytes]:
        """The vectors as little-endian float32 bytes."""
        raw: list[bytes] = getattr(self, "_raw")  # noqa: B009 - set in __post_init__
        return raw


def encode_vector(data: bytes) -> str:
    """A vector's little-endian float32 bytes as the protocol carries them (base64 text)."""
    return base64.b64encode(data).decode("ascii")


def decode_vector(text: str, where: str = "vector") -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"{where}: not base64 text") from None


@dataclass(frozen=True)
class Unloaded(Event):
    EVENT: ClassVar[str] = "unloaded"
    id: int


@dataclass(frozen=True)
class Stats(Event):
    EVENT: ClassVar[str] = "stats"
    id: int
    stats: WorkerStats


@dataclass(frozen=True)
class Error(Event):
    """A request the worker survived but could not serve; ``id`` is None when the request's
    own id could not be read."""

    EVENT: ClassVar[str] = "error"
    id: int | None
    kind: ErrorKind
    message: str


REQUESTS: dict[str, type[Request]] = {c.OP: c for c in (
    LoadRequest, ChatRequest, EmbedRequest, BenchRequest, CancelRequest, UnloadRequest,
    StatsRequest, ShutdownRequest)}
EVENT_TYPES: dict[str, type[Event]] = {c.EVENT: c for c in (
    Ready, Heartbeat, Loaded, Delta, Done, Progress, BenchResult, EmbedResult, Unloaded, Stats,
    Error)}
PAYLOADS: tuple[type[Payload], ...] = (ModelInfo, BenchSamples, WorkerStats)


# -- lines ------------------------------------------------------------------------------------
def encode(message: Request | Event | Mapping[str, Any]) -> bytes:
    """One message as one line of UTF-8 JSON (newline included)."""
    data = message.to_json() if isinstance(message, Request | Event) else dict(message)
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode(line: bytes | str) -> dict[str, Any]:
    """Parse one line; raises ProtocolError for anything that is not a JSON object."""
    try:
        message = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ProtocolError(f"not JSON: {err}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def parse_request(line: bytes | str) -> Request:
    """One line from the app as a typed request; ProtocolError when it is not one."""
    return Request.from_json(decode(line))


def parse_event(line: bytes | str) -> Event:
    """One line from the worker as a typed event; ProtocolError when it is not one."""
    return Event.from_json(decode(line))


# -- strict conversion ------------------------------------------------------------------------
_T = TypeVar("_T")


# Called with a type[_T], which mypy (2.4) does not see as Hashable: it checks the class's
# unbound __hash__; the call site carries a type: ignore[arg-type] for that.
@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _build(cls: type[_T], data: object, where: str) -> _T:
    """``cls`` (a dataclass) from a JSON object: every field checked against its type."""
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{where}: expected an object, got {_kind(data)}")
    types_ = _field_types(cls)  # type: ignore[arg-type]  # see _field_types
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ProtocolError(f"{where}: unknown field {', '.join(map(repr, unknown))}")
    missing = [f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
               if f.name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ProtocolError(f"{where}: missing field {', '.join(map(repr, missing))}")
    values = {name: _convert(value, types_[name], f"{where}: {name}")
              for name, value in data.items()}
    try:
        return cls(**values)
    except ProtocolError:  # the class's own check, worded in full
        raise
    except (BadInput, TypeError, ValueError) as err:  # the class's own checks
        raise ProtocolError(f"{where}: {err}") from None


def _convert(value: object, hint: Any, where: str) -> Any:
    if hint is Any:
        return value
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where}: expected {_name(hint)}, got {_kind(value)}")
    if origin is Literal:
        if isinstance(value, str) and value in get_args(hint):
            return value
        raise ProtocolError(f"{where}: expected one of {', '.join(map(str, get_args(hint)))}, "
                            f"got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ProtocolError(f"{where}: expected a list, got {_kind(value)}")
        args = get_args(hint)
        if origin is tuple and len(args) > 1 and args[1] is not Ellipsis:  # tuple[str, float]
            if len(value) != len(args):
                raise ProtocolError(f"{where}: expected a list of {len(args)} items, got "
                                    f"{len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]")
                         for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ProtocolError(f"{where}: expected an object, got {_kind(value)}")
        item = get_args(hint)[1] if get_args(hint) else Any
        return {k: _convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, str):
            return value
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    else:  # pragma: no cover - a field type this module does not know
        raise TypeError(f"{where}: unsupported field type {hint!r}")
    raise ProtocolError(f"{where}: expected {_name(hint)}, got {_kind(value)}")


def _to_json(value: object) -> Any:
    if isinstance(value, Payload):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _name(hint: Any) -> str:
    if get_origin(hint) is Union or get_origin(hint) is types.UnionType:
        return " or ".join(_name(a) for a in get_args(hint))
    if hint is type(None):
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
