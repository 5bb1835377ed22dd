"""What both APIs do with an answer: queue it for its model, wait for its first event (so a
failure before the first token is a proper HTTP error), then follow it to the end."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from workbench.engine.client import ChatResult
from workbench.engine.protocol import LoadedModel
from workbench.engine.settings import CHAT_FORMATS, Sampling
from workbench.errors import WorkbenchError
from workbench.server.catalog import ServedModel
from workbench.server.errors import APIError, bad_request, from_workbench_error
from workbench.server.generation import (
    ClientGone,
    Delta,
    Event,
    Failed,
    Finished,
    Generation,
    unless_disconnected,
)
from workbench.server.models import Job
from workbench.server.state import RequestRecord, ServerState
from workbench.server.validation import Fields

MAX_TOKENS = 1 << 20  # the largest max_tokens taken (the context ends an answer sooner)
MIN_CTX = 64


@dataclass
class Ask:
    """One answer to ask a local model for."""

    model: ServedModel
    messages: list[dict[str, str]]
    sampling: Sampling
    n_ctx: int | None = None  # the context asked for (a minimum)


@dataclass
class Answer:
    """An answer under way: the events so far, then ``more()`` until it ends."""

    ask: Ask
    generation: Generation
    events: list[Event]
    record: RequestRecord
    text: list[str] = field(default_factory=list)

    async def more(self) -> AsyncIterator[list[Event]]:
        """Batches of events (what has arrived, without waiting) until Finished or Failed;
        the first batch is the one ``begin`` saw."""
        batch, self.events = self.events, []
        while True:
            if batch:
                yield batch
                if isinstance(batch[-1], Finished | Failed):
                    return
            batch = [await self.generation.next(), *self.generation.drain()]
            cut = next((i for i, e in enumerate(batch) if isinstance(e, Finished | Failed)),
                       None)
            if cut is not None:
                batch = batch[:cut + 1]


def model_for(state: ServerState, fields: Fields) -> ServedModel:
    name = fields.string("model", required=True)
    assert name is not None
    model = state.catalog.find(name)
    if model is None:
        raise APIError(404, f"the model {name[:200]!r} does not exist here; GET /v1/models "
                       "lists the models this server has", code="model_not_found",
                       param="model")
    return model


def workbench_options(fields: Fields, model: ServedModel) -> tuple[int | None, str | None]:
    """The ``workbench`` extension object: ``n_ctx`` (the context to load the model with, a
    minimum) and ``chat_format``."""
    options = fields.obj("workbench")
    if options is None:
        return None, None
    trained = model.context_length
    n_ctx = options.integer("n_ctx", minimum=MIN_CTX, maximum=1 << 24)
    if n_ctx is not None and trained and n_ctx > trained:
        raise bad_request(f"workbench.n_ctx={n_ctx} is longer than the {trained} tokens "
                          f"{model.id} was trained for", "workbench.n_ctx",
                          code="context_length_exceeded")
    chat_format = options.string("chat_format")
    if chat_format is not None and chat_format not in CHAT_FORMATS:
        raise bad_request(f"workbench.chat_format must be one of {', '.join(CHAT_FORMATS)}",
                          "workbench.chat_format")
    options.finish()
    return n_ctx, chat_format


def sampling(**values: Any) -> Sampling:
    """``Sampling`` with the given values (None: Workbench's default); its own checks are 400s."""
    try:
        return Sampling(**{k: v for k, v in values.items() if v is not None})
    except WorkbenchError as err:
        raise bad_request(str(err)) from None


def api_error(err: BaseException, model: ServedModel) -> APIError:
    if isinstance(err, APIError):
        return err
    if isinstance(err, WorkbenchError):
        return from_workbench_error(err, n_ctx_train=model.context_length)
    return APIError(500, f"internal error: {type(err).__name__}: {str(err)[:300]}",
                    code="internal_error")


async def begin(state: ServerState, request: Request, ask: Ask,
                record: RequestRecord) -> Answer | None:
    """Queue ``ask`` and wait for its first event; None when the client left meanwhile (its
    request is then cancelled). APIError when it failed before answering anything."""
    generation = Generation()
    job = Job(messages=ask.messages, sampling=ask.sampling, n_ctx=ask.n_ctx, sink=generation)
    state.pool.submit(ask.model, job)

    async def first() -> list[Event]:
        return [await generation.next(), *generation.drain()]

    try:
        events = await unless_disconnected(request, first())
    except ClientGone:
        generation.cancel.cancel()
        return None
    except BaseException:
        generation.cancel.cancel()
        raise
    for event in events:
        if isinstance(event, Failed):
            raise api_error(event.error, ask.model)
        if isinstance(event, Finished) and event.result.finish_reason == "cancelled":
            raise APIError(503, "the server is stopping", code="shutting_down")
    return Answer(ask, generation, events, record)


async def complete(state: ServerState, request: Request, ask: Ask,
                   record: RequestRecord) -> tuple[str, ChatResult, LoadedModel | None] | None:
    """The whole answer (not streamed); None when the client left first."""
    answer = await begin(state, request, ask, record)
    if answer is None:
        return None

    async def rest() -> tuple[str, ChatResult, LoadedModel | None]:
        async for batch in answer.more():
            for event in batch:
                if isinstance(event, Delta):
                    answer.text.append(event.text)
                elif isinstance(event, Failed):
                    raise api_error(event.error, ask.model)
                elif isinstance(event, Finished):
                    return "".join(answer.text), event.result, event.info
        raise AssertionError("an answer ends with Finished or Failed")

    try:
        text, result, info = await unless_disconnected(request, rest())
    except ClientGone:
        answer.generation.cancel.cancel()
        return None
    except BaseException:
        answer.generation.cancel.cancel()
        raise
    note_result(record, result)
    return text, result, info


def note_result(record: RequestRecord, result: ChatResult) -> None:
    m = result.metrics
    record.prompt_tokens = m.prompt_tokens
    record.completion_tokens = m.completion_tokens
    record.tokens_per_s = m.stream_tokens_per_s or m.gen_tokens_per_s
    record.finish_reason = result.finish_reason


def first_text_written(record: RequestRecord) -> None:
    if record.ttft_ms is None:
        record.ttft_ms = round((time.monotonic() - record.started) * 1000.0, 1)


def usage(result: ChatResult) -> dict[str, Any]:
    m = result.metrics
    return {"prompt_tokens": m.prompt_tokens, "completion_tokens": m.completion_tokens,
            "total_tokens": m.prompt_tokens + m.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": max(0, m.prompt_tokens
                                                           - m.prompt_eval_tokens)}}


def timings(result: ChatResult, info: LoadedModel | None) -> dict[str, Any]:
    """Workbench's own figures for an answer (the ``workbench`` field of a response)."""
    m = result.metrics
    return {"ttft_ms": m.ttft_ms, "prompt_tokens_per_s": m.prompt_tokens_per_s,
            "gen_tokens_per_s": m.gen_tokens_per_s,
            "stream_tokens_per_s": m.stream_tokens_per_s, "total_ms": m.total_ms,
            "n_ctx": info.n_ctx if info else None}
