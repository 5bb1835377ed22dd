"""Errors as the two APIs shape them: OpenAI's ``{"error": {message, type, param, code}}`` and
Anthropic's ``{"type": "error", "error": {type, message}}``, with the HTTP status each maps to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.errors import ContextOverflow, ModelRejected, WorkerCrashed
from workbench.errors import BadInput, WorkbenchError

# the worker's words: "the conversation is 5000 tokens, the context holds 4096: ..."
_OVERFLOW = re.compile(r"is (\d+) tokens, the context holds (\d+)")

OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error",
                404: "invalid_request_error", 405: "invalid_request_error",
                413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error",
                503: "server_error"}
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                   404: "not_found_error", 405: "invalid_request_error",
                   413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                   503: "overloaded_error"}


@dataclass(eq=False)  # an exception: compared and hashed by identity
class APIError(Exception):
    """A request the server refuses or could not answer: becomes an HTTP error response."""

    status: int
    message: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def openai(self) -> dict[str, Any]:
        return {"error": {"message": self.message,
                          "type": OPENAI_TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def anthropic(self) -> dict[str, Any]:
        return {"type": "error",
                "error": {"type": ANTHROPIC_TYPES.get(self.status, "api_error"),
                          "message": self.message}}


def bad_request(message: str, param: str | None = None,
                code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, code=code, param=param)


def context_exceeded(err: ContextOverflow, *, n_ctx_train: int | None) -> APIError:
    """The prompt does not fit the loaded context: both lengths said, and how to ask for more."""
    match = _OVERFLOW.search(str(err))
    if match is None:
        return APIError(400, str(err), code="context_length_exceeded", param="messages")
    prompt, context = int(match.group(1)), int(match.group(2))
    more = (f" (up to the {n_ctx_train} tokens the model was trained for)" if n_ctx_train
            else "")
    return APIError(
        400, f"the prompt is {prompt} tokens and the model's context is {context} tokens: "
        "shorten the prompt, or ask for a longer context with the request field "
        f'"workbench": {{"n_ctx": N}}{more}; nothing was cut',
        code="context_length_exceeded", param="messages")


def from_workbench_error(err: WorkbenchError, *, n_ctx_train: int | None = None) -> APIError:
    """The HTTP error for a failure of the engine or the planner."""
    if isinstance(err, ContextOverflow):
        return context_exceeded(err, n_ctx_train=n_ctx_train)
    if isinstance(err, WorkerCrashed):
        return APIError(500, f"{err}; the model will be started again for the next request",
                        code="model_crashed")
    if isinstance(err, ModelRejected):
        return APIError(500, f"the model could not be loaded: {err}", code="model_load_failed")
    if isinstance(err, BadInput):
        return APIError(400, str(err), code="invalid_value")
    return APIError(500, str(err), code="engine_error")
