"""OpenAI's Embeddings API: ``POST /v1/embeddings``.

The request is read strictly (``validation.Fields``): ``model``, ``input`` (a string or an array
of up to 2048 strings; token-id arrays are refused), ``encoding_format`` (``float``, the default,
or ``base64``: little-endian float32, what the openai SDK asks for and decodes), ``dimensions``
(only the model's own size: vectors are not shortened), ``user`` (accepted), and Workbench's
``workbench.n_ctx`` (the context to load the model with, a minimum: the longest input it takes).

The texts go to the model's embeddings slot in the pool (its own worker, loaded with
``LoadSettings.embedding``), which answers one pooled, unit-length vector per input
(docs/serve.md, "Embeddings"). An input longer than the context is a 400 that says both lengths;
nothing is cut.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from workbench.engine.client import Embeddings
from workbench.engine.errors import ContextOverflow
from workbench.engine.protocol import MAX_EMBED_INPUTS, LoadedModel
from workbench.server.answering import MIN_CTX, api_error, model_for
from workbench.server.catalog import ServedModel
from workbench.server.errors import APIError, bad_request
from workbench.server.generation import ClientGone, unless_disconnected
from workbench.server.models import EmbedJob
from workbench.server.state import RequestRecord, ServerState
from workbench.server.validation import Fields, kind

ENCODINGS = ("float", "base64")
# the worker's words: "input 3 is 5000 tokens, the context holds 4096: ..."
_OVERFLOW = re.compile(r"input (\d+) is (\d+) tokens, the context holds (\d+)")


@dataclass(frozen=True)
class EmbedAsk:
    """One embeddings request, read."""

    model: ServedModel
    texts: list[str]
    one_string: bool  # ``input`` was a string, not an array
    encoding: str  # float | base64
    dimensions: int | None
    n_ctx: int | None  # the context asked for (a minimum)


def _texts(value: object) -> tuple[list[str], bool]:
    """``input``: the texts, and whether it was one string."""
    if value is None:
        raise bad_request("input is required: a string or an array of strings", "input",
                          code="missing_required_parameter")
    if isinstance(value, str):
        if not value:
            raise bad_request("input is an empty string", "input")
        return [value], True
    if not isinstance(value, list):
        raise bad_request(f"input must be a string or an array of strings, not {kind(value)}",
                          "input")
    if not value:
        raise bad_request("input is an empty array", "input")
    if len(value) > MAX_EMBED_INPUTS:
        raise bad_request(f"input has {len(value)} items; at most {MAX_EMBED_INPUTS} are taken "
                          "per request", "input")
    if any(isinstance(item, int | list) and not isinstance(item, bool) for item in value):
        raise bad_request("input as token ids is not supported: send the texts (a string or "
                          "an array of strings)", "input", code="unsupported_content")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise bad_request(f"input[{i}] must be a string, not {kind(item)}", "input")
        if not item:
            raise bad_request(f"input[{i}] is an empty string", "input")
    return list(value), False


def _n_ctx(fields: Fields, model: ServedModel) -> int | None:
    options = fields.obj("workbench")
    if options is None:
        return None
    n_ctx = options.integer("n_ctx", minimum=MIN_CTX, maximum=1 << 24)
    trained = model.context_length
    if n_ctx is not None and trained and n_ctx > trained:
        raise bad_request(f"workbench.n_ctx={n_ctx} is longer than the {trained} tokens "
                          f"{model.id} was trained for", "workbench.n_ctx",
                          code="context_length_exceeded")
    options.finish()
    return n_ctx


def parse_embeddings(state: ServerState, data: dict[str, Any]) -> EmbedAsk:
    fields = Fields(data)
    model, routed = model_for(state, fields)
    if routed is not None:
        raise bad_request(f"{routed.id} routes chat requests; embeddings are made by one named "
                          "model (GET /v1/models lists them)", "model")
    texts, one_string = _texts(fields.raw("input"))
    encoding = fields.string("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise bad_request(f"encoding_format must be float or base64, not {encoding[:40]!r}",
                          "encoding_format")
    dimensions = fields.integer("dimensions", minimum=1, maximum=1 << 20)
    fields.string("user")
    n_ctx = _n_ctx(fields, model)
    fields.finish()
    return EmbedAsk(model, texts, one_string, encoding, dimensions, n_ctx)


def _too_long(err: ContextOverflow, ask: EmbedAsk) -> APIError:
    """An input longer than the loaded context: both lengths said, and how to ask for more."""
    match = _OVERFLOW.search(str(err))
    if match is None:
        return APIError(400, str(err), code="context_length_exceeded", param="input")
    index, tokens, context = (int(g) for g in match.groups())
    which = "input" if ask.one_string else f"input[{index}]"
    trained = ask.model.context_length
    more = f" (up to the {trained} tokens the model was trained for)" if trained else ""
    return APIError(
        400, f"{which} is {tokens} tokens and the model's context is {context} tokens: shorten "
        "or split it, or ask for a longer context with the request field "
        f'"workbench": {{"n_ctx": N}}{more}; nothing was cut',
        code="context_length_exceeded", param="input")


def _body(ask: EmbedAsk, result: Embeddings, info: LoadedModel, extra: dict[str, Any]) -> bytes:
    if ask.encoding == "base64":  # the worker's bytes as they are: little-endian float32
        vectors: list[Any] = [base64.b64encode(raw).decode("ascii") for raw in result.data]
    else:
        vectors = result.vectors()
    total = sum(result.tokens)
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": vector}
                 for i, vector in enumerate(vectors)],
        "model": ask.model.id,
        "usage": {"prompt_tokens": total, "total_tokens": total},
        "workbench": {"n_ctx": info.n_ctx, "n_embd": result.n_embd,
                      "input_tokens": list(result.tokens)},
        **extra,
    }
    return json.dumps(body, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


async def create(state: ServerState, request: Request, data: dict[str, Any],
                 record: RequestRecord, extra: dict[str, Any]) -> Response:
    ask = parse_embeddings(state, data)
    record.model = ask.model.id
    job = EmbedJob(texts=ask.texts, n_ctx=ask.n_ctx)
    state.pool.submit(ask.model, job)  # 429 when its queue is full
    try:
        result, info = await unless_disconnected(request, asyncio.wrap_future(job.future))
    except ClientGone:
        job.cancel.cancel()
        return Response(status_code=499)  # nobody reads it: the client left
    except ContextOverflow as err:
        raise _too_long(err, ask) from None
    except Exception as err:
        job.cancel.cancel()
        raise api_error(err, ask.model) from None
    except BaseException:
        job.cancel.cancel()
        raise
    if result.cancelled:
        raise APIError(503, "the server is stopping", code="shutting_down")
    if ask.dimensions is not None and ask.dimensions != result.n_embd:
        raise bad_request(f"dimensions={ask.dimensions}: {ask.model.id} makes vectors of "
                          f"{result.n_embd} dimensions, and this server does not shorten them "
                          f"(leave dimensions out, or ask for {result.n_embd})", "dimensions")
    record.prompt_tokens = sum(result.tokens)
    record.completion_tokens = 0
    content = await run_in_threadpool(_body, ask, result, info, extra)  # large: off the loop
    return Response(content, media_type="application/json")
