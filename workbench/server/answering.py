"""What both APIs do with an answer: queue it for its model, wait for its first event (so a
failure before the first token is a proper HTTP error), then follow it to the end."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from workbench.engine.client import ChatResult
from workbench.engine.protocol import LoadedModel
from workbench.engine.settings import CHAT_FORMATS, Sampling
from workbench.errors import WorkbenchError
from workbench.providers.base import Target
from workbench.routing.policy import parse_tags
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
from workbench.server.routed import ServedRouter, decide, header_value, params_for
from workbench.server.state import RequestRecord, ServerState
from workbench.server.validation import Fields

MAX_TOKENS = 1 << 20  # the largest max_tokens taken (the context ends an answer sooner)
MIN_CTX = 64
STREAM_FRAME_S = 1 / 60  # streamed text is written at most this often (see Answer.more)
ROUTE_HEADER = "x-workbench-route"  # where a routed request went and why
TAGS_HEADER = "x-workbench-tags"  # a request's task tags, comma-separated (for the router)


@dataclass
class Ask:
    """One answer to ask for: a served model's (the pool answers), or for a routed request
    decided for a provider target, that target's (``target``)."""

    model: ServedModel
    messages: list[dict[str, Any]]
    sampling: Sampling
    n_ctx: int | None = None  # the context asked for (a minimum)
    routed: ServedRouter | None = None  # asked for "auto" / "router:NAME": decided by route()
    target: Target | None = None  # the provider target the router chose
    max_tokens_given: bool = True  # False: the API's default (a cloud target gets a cap)


@dataclass(frozen=True)
class Options:
    """The ``workbench`` extension object of a request."""

    n_ctx: int | None = None  # the context to load the model with (a minimum)
    chat_format: str | None = None
    tags: tuple[str, ...] = ()  # the request's task tags, for the router's rules


@dataclass
class Answer:
    """An answer under way: the events so far, then ``more()`` until it ends."""

    ask: Ask
    generation: Generation
    events: list[Event]
    record: RequestRecord
    text: list[str] = field(default_factory=list)

    async def more(self) -> AsyncIterator[list[Event]]:
        """Batches of events until Finished or Failed; the first batch is the one ``begin``
        saw. Text is written at most once a frame (``STREAM_FRAME_S``): the tokens that arrive
        meanwhile go out together, so a fast model costs the server and the client one write
        and one parse a frame, not one a token. The first text and the end never wait."""
        batch, self.events = self.events, []
        loop = asyncio.get_running_loop()
        last_write = 0.0
        while True:
            if batch:
                yield batch
                if isinstance(batch[-1], Finished | Failed):
                    return
                last_write = loop.time()
            batch = [await self.generation.next(), *self.generation.drain()]
            wait = last_write + STREAM_FRAME_S - loop.time()
            if wait > 0 and not isinstance(batch[-1], Finished | Failed):
                await asyncio.sleep(wait)
                batch += self.generation.drain()
            cut = next((i for i, e in enumerate(batch) if isinstance(e, Finished | Failed)),
                       None)
            if cut is not None:
                batch = batch[:cut + 1]


def model_for(state: ServerState, fields: Fields) -> tuple[ServedModel, ServedRouter | None]:
    """The model a request names, or for a routed id (``auto``, ``router:NAME``) its router
    (with a placeholder model until ``route`` decides)."""
    name = fields.string("model", required=True)
    assert name is not None
    served = state.routers.get(name)
    if served is not None:
        return served.placeholder, served
    model = state.catalog.find(name)
    if model is None:
        routed = ", ".join(state.routers)
        hint = f" (routed: {routed})" if routed else ""
        raise APIError(404, f"the model {name[:200]!r} does not exist here; GET /v1/models "
                       f"lists the models this server has{hint}", code="model_not_found",
                       param="model")
    return model, None


def workbench_options(fields: Fields, model: ServedModel) -> Options:
    """The ``workbench`` extension object: ``n_ctx`` (the context to load the model with, a
    minimum), ``chat_format`` and ``tags`` (for the router)."""
    options = fields.obj("workbench")
    if options is None:
        return Options()
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
    tags = options.array("tags")
    if tags is not None and not all(isinstance(t, str) for t in tags):
        raise bad_request("workbench.tags must be an array of strings", "workbench.tags")
    options.finish()
    return Options(n_ctx, chat_format, parse_tags(tags))


async def route(state: ServerState, request: Request, ask: Ask, options: Options,
                record: RequestRecord) -> tuple[dict[str, Any], dict[str, str]]:
    """Decide a routed request (``ask.routed``): ``ask`` then names the served model or the
    provider target chosen. Returns the body fields and headers that say where it went (none
    for a request that names a model)."""
    served = ask.routed
    if served is None:
        return {}, {}
    tags = (*options.tags, *parse_tags(request.headers.get(TAGS_HEADER)))
    decision = await run_in_threadpool(decide, served, ask.messages, tuple(tags))
    if decision.target in served.models:
        ask.model = served.models[decision.target]
    else:
        target = served.targets[decision.target]
        ask.target = target
        ask.model = dataclasses.replace(ask.model, id=target.model, name=target.spec)
    record.router = served.id
    record.route = decision.reason
    record.decision = decision
    return ({"workbench_route": decision.to_dict()},
            {ROUTE_HEADER: header_value(decision.reason)})


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
    if ask.target is not None:
        state.providers.submit(ask.target, ask.messages, params_for(
            ask.sampling, max_tokens_given=ask.max_tokens_given), generation)
    else:
        state.pool.submit(ask.model, Job(messages=ask.messages, sampling=ask.sampling,
                                         n_ctx=ask.n_ctx, sink=generation))

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
