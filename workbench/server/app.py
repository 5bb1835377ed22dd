"""The Starlette app: routes, the API key, the body limit, CORS, errors in each API's shape.

Every request is checked in the same order: the key (when the server has one), the body
(JSON object, at most ``max_body_bytes``), then the fields. Whatever goes wrong becomes an
error object of the API the path belongs to (Anthropic's for ``/v1/messages``, OpenAI's for
the rest) and the server carries on.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from workbench.server import anthropic_api, embeddings_api, openai_api
from workbench.server.errors import APIError
from workbench.server.state import RequestRecord, ServerState
from workbench.server.validation import read_json

log = logging.getLogger("workbench.server")

Handler = Callable[[ServerState, Request, dict[str, Any], RequestRecord, dict[str, Any]],
                   Awaitable[Response]]


def _authorized(state: ServerState, request: Request) -> bool:
    key = state.config.api_key
    if not key:
        return True
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), key.encode("utf-8"))


def _unauthorized(anthropic: bool) -> JSONResponse:
    err = APIError(401, "a valid API key is required: send it as 'Authorization: Bearer KEY' "
                   "(or x-api-key)", code="invalid_api_key",
                   headers={"WWW-Authenticate": "Bearer"})
    return anthropic_api.error_response(err) if anthropic else openai_api.error_response(err)


def _is_anthropic(path: str) -> bool:
    return path.rstrip("/") == "/v1/messages"


def _error_response(path: str, err: APIError) -> JSONResponse:
    if _is_anthropic(path):
        return anthropic_api.error_response(err)
    return openai_api.error_response(err)


def answer_endpoint(state: ServerState, handler: Handler) -> Callable[[Request],
                                                                         Awaitable[Response]]:
    """A POST endpoint that answers: key, body, fields, the answer; one record per request."""

    async def endpoint(request: Request) -> Response:
        path = request.url.path
        record = RequestRecord(at=time.time(), method=request.method, path=path)
        try:
            if not _authorized(state, request):
                response: Response = _unauthorized(_is_anthropic(path))
            else:
                data = await read_json(request, state.config.max_body_bytes)
                await run_in_threadpool(state.catalog.models)  # a fresh list (may scan)
                response = await handler(state, request, data, record, {})
        except APIError as err:
            record.error = err.message
            response = _error_response(path, err)
        except Exception as err:  # the server stays up whatever one request does
            log.exception("%s failed", path)
            record.error = f"{type(err).__name__}: {err}"
            response = _error_response(path, APIError(
                500, f"internal error: {type(err).__name__}: {str(err)[:300]}",
                code="internal_error"))
        record.status = response.status_code
        if isinstance(response, StreamingResponse):  # recorded once the stream has ended
            response.background = BackgroundTask(state.record, record)
        else:
            await run_in_threadpool(state.record, record)  # may write the route log
        return response

    return endpoint


def create_app(state: ServerState) -> Starlette:
    async def health(request: Request) -> Response:
        body: dict[str, Any] = {"status": "ok"}
        if _authorized(state, request):
            body["models"] = [slot.state().to_dict() for slot in state.pool.slots()]
        return JSONResponse(body)

    async def models(request: Request) -> Response:
        if not _authorized(state, request):
            return _unauthorized(False)
        listing = await run_in_threadpool(openai_api.list_models, state)
        return JSONResponse(listing)

    async def model(request: Request) -> Response:
        if not _authorized(state, request):
            return _unauthorized(False)
        await run_in_threadpool(state.catalog.models)
        name = request.path_params["model"]
        routed = state.routers.get(name)
        if routed is not None:
            return JSONResponse({**routed.to_openai(), "id": name})
        found = state.catalog.find(name)
        if found is None:
            return openai_api.error_response(APIError(
                404, f"the model {name[:200]!r} does not exist here", code="model_not_found",
                param="model"))
        return JSONResponse(found.to_openai())

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = {404: f"no such endpoint: {request.url.path[:200]}",
                   405: f"{request.method} is not allowed on {request.url.path[:200]}"}.get(
                       status, str(getattr(exc, "detail", "")) or "error")
        return _error_response(request.url.path, APIError(status, message,
                                                          code="not_found" if status == 404
                                                          else None))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(state.close)

    middleware = []
    if state.config.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(state.config.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"],
            expose_headers=["x-workbench-route", "retry-after"]))
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{model:path}", model, methods=["GET"]),
        Route("/v1/chat/completions", answer_endpoint(state, openai_api.chat_completions),
              methods=["POST"]),
        Route("/v1/completions", answer_endpoint(state, openai_api.completions),
              methods=["POST"]),
        Route("/v1/messages", answer_endpoint(state, anthropic_api.messages), methods=["POST"]),
        Route("/v1/embeddings", answer_endpoint(state, embeddings_api.create), methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error})
    app.state.workbench = state
    return app
