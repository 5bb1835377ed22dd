"""Bounded retries and error classification shared by the SDK-backed targets.

The SDKs' own retries are switched off (``max_retries=0``) so that Workbench can show a waiting
pane what is happening, stop waiting when the user cancels, and cap ``retry-after``. Retried:
429, 408, 409, 5xx (529 included) and connection failures, and only before any answer text has
streamed - an error after that ends the answer with the partial text kept.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from workbench.cancel import CancelToken
from workbench.net.offline import find_offline_block
from workbench.providers import errors
from workbench.providers.errors import ProviderError
from workbench.store.secrets import redact

RETRY_STATUSES = frozenset({408, 409, 429})
DETAIL_CHARS = 240


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 30.0  # a longer retry-after fails at once, saying how long

    def backoff(self, attempt: int) -> float:
        delay = min(self.initial_delay_s * 2.0 ** attempt, self.max_delay_s)
        return delay * (1 - 0.25 * random.random())


class Cancelled(Exception):
    """The user cancelled while a request was being retried."""


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) in seconds."""
    if not headers:
        return None
    getter = headers.get
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = getter(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            if name == "retry-after":
                parsed = email.utils.parsedate_tz(value)
                if parsed is not None:
                    return max(0.0, email.utils.mktime_tz(parsed) - time.time())
            continue
        if seconds >= 0:
            return seconds
    return None


def _body_error(body: Any) -> tuple[str | None, str | None]:
    """(error type, message) from an API error body (OpenAI and Anthropic shapes)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            kind = inner.get("type") or inner.get("code")
            message = inner.get("message")
            return (str(kind) if kind else None, str(message) if message else None)
        if isinstance(inner, str):
            return None, inner
    if isinstance(body, str) and body.strip():
        return None, body.strip()
    return None, None


_TYPE_KINDS = {
    "authentication_error": errors.AUTH, "invalid_api_key": errors.AUTH,
    "permission_error": errors.FORBIDDEN, "permission_denied": errors.FORBIDDEN,
    "not_found_error": errors.NOT_FOUND, "model_not_found": errors.NOT_FOUND,
    "invalid_request_error": errors.BAD_REQUEST, "request_too_large": errors.BAD_REQUEST,
    "rate_limit_error": errors.RATE_LIMIT, "rate_limit_exceeded": errors.RATE_LIMIT,
    "overloaded_error": errors.OVERLOADED, "api_error": errors.SERVER,
    "server_error": errors.SERVER,
}


def _status_kind(status: int) -> str:
    if status == 401:
        return errors.AUTH
    if status == 403:
        return errors.FORBIDDEN
    if status == 404:
        return errors.NOT_FOUND
    if status == 408:
        return errors.TIMEOUT
    if status == 429:
        return errors.RATE_LIMIT
    if status == 529:
        return errors.OVERLOADED
    if status >= 500:
        return errors.SERVER
    return errors.BAD_REQUEST


def _root_cause(exc: BaseException) -> str:
    seen: set[int] = set()
    cause: BaseException | None = exc
    last = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        last = cause
        cause = cause.__cause__ or cause.__context__
    text = str(last).strip()
    return f"{type(last).__name__}: {text}" if text else type(last).__name__


def _transport_errors() -> tuple[tuple[type[BaseException], ...],
                                 tuple[type[BaseException], ...]]:
    """Timeout and transport error bases of the SDKs' HTTP layer (httpx2 in the current SDKs,
    httpx in older ones), whichever are installed."""
    timeouts: list[type[BaseException]] = []
    transports: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transports.append(module.TransportError)
    return (tuple(timeouts) or (_Never,), tuple(transports) or (_Never,))


class _Never(Exception):
    pass


def classify(exc: BaseException, *, label: str, model: str, host: str, key_name: str | None,
             timeout_s: float, partial_text: str) -> ProviderError:
    """One ProviderError, with a message a person can act on, for an openai/anthropic error."""
    blocked = find_offline_block(exc)
    if blocked is not None:
        return ProviderError(errors.OFFLINE, str(blocked), partial_text=partial_text)
    started = bool(partial_text)
    after = f" after {len(partial_text)} characters of answer" if started else ""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    body_type, body_message = _body_error(body)
    detail = redact((body_message or getattr(exc, "message", None) or str(exc)).strip())
    detail = detail[:DETAIL_CHARS] + ("..." if len(detail) > DETAIL_CHARS else "")
    name = type(exc).__name__
    if isinstance(status, int) and status != 200:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        kind = _status_kind(status)
        if body_type in _TYPE_KINDS and kind in (errors.BAD_REQUEST, errors.SERVER):
            kind = _TYPE_KINDS[body_type]
        message = {
            errors.AUTH: f"{label} rejected the API key ({status})" + (
                f": check it with `workbench keys set {key_name}`" if key_name else ""),
            errors.FORBIDDEN: f"{label} refused access ({status}): the key may not use "
                              f"{model} (or not from this region)",
            errors.NOT_FOUND: f"{label}: {model} was not found ({status}); check the model name "
                              f"and the base URL",
            errors.RATE_LIMIT: f"{label} rate limit reached ({status})",
            errors.OVERLOADED: f"{label} is overloaded ({status}); try again later",
            errors.SERVER: f"{label} server error ({status})",
            errors.TIMEOUT: f"{label} timed out the request ({status})",
            errors.BAD_REQUEST: f"{label} refused the request ({status})",
        }[kind]
        if detail and detail not in message:
            message += f" - {detail}"
        retryable = status in RETRY_STATUSES or status >= 500
        return ProviderError(kind, message, status=status, partial_text=partial_text,
                             retry_after_s=retry_after_seconds(headers), retryable=retryable)
    transport_timeout, transport_error = _transport_errors()
    if "Timeout" in name or isinstance(exc, transport_timeout):
        return ProviderError(errors.TIMEOUT, f"{label}: no response from {host} within "
                             f"{timeout_s:g} s{after}", partial_text=partial_text)
    if "Connection" in name or isinstance(exc, transport_error):
        if started:
            return ProviderError(errors.STREAM, f"{label}: the connection broke{after} "
                                 f"({_root_cause(exc)})", partial_text=partial_text)
        return ProviderError(errors.NETWORK, f"{label}: cannot reach {host} - network down or "
                             f"wrong address ({_root_cause(exc)})", partial_text=partial_text,
                             retryable=True)
    if hasattr(exc, "body") or status == 200:  # an error event inside a 200 stream
        what = f"{body_type}: {detail}" if body_type else detail
        kind = errors.STREAM if started else _TYPE_KINDS.get(body_type or "", errors.STREAM)
        message = f"{label}: the provider sent an error{after or ' before any answer'}: {what}"
        return ProviderError(kind, message, partial_text=partial_text,
                             retryable=not started and kind in (
                                 errors.OVERLOADED, errors.RATE_LIMIT, errors.SERVER))
    return ProviderError(errors.INTERNAL, f"{label}: {name}: {detail}", partial_text=partial_text)


def wait_or_cancel(seconds: float, cancel: CancelToken) -> bool:
    """Sleep up to ``seconds``; False when cancelled meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cancel.cancelled:
            return False
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return not cancel.cancelled


def with_retries(
    attempt: Callable[[int], None],
    *,
    policy: RetryPolicy,
    cancel: CancelToken,
    status: Callable[[str], None],
    started: Callable[[], bool],
    on_retry: Callable[[float, ProviderError], None],
) -> None:
    """Run ``attempt(n)`` until it succeeds, a failure is not retryable, or retries run out.

    ``attempt`` raises ProviderError. ``started()`` tells whether answer text has streamed
    (then nothing is retried). Raises ``Cancelled`` when the user cancels during a wait.
    """
    for number in range(policy.max_retries + 1):
        try:
            attempt(number)
            return
        except ProviderError as err:
            if started() or not err.retryable or number == policy.max_retries:
                if number and err.retryable and not started():
                    err.args = (f"{err} (after {number} "
                                f"{'retry' if number == 1 else 'retries'})",)
                raise
            wait = err.retry_after_s
            if wait is not None and wait > policy.max_retry_after_s:
                err.args = (f"{err}; the provider asks to wait {wait:.0f} s before retrying "
                            f"(more than {policy.max_retry_after_s:.0f} s): try again later",)
                raise
            delay = wait if wait is not None else policy.backoff(number)
            why = "retry-after" if wait is not None else "backoff"
            shown = f"{delay:.1f} s" if delay >= 0.1 else f"{delay * 1000:.0f} ms"
            status(f"{err}; retrying in {shown} ({why}, {number + 1} of "
                   f"{policy.max_retries})")
            on_retry(delay, err)
            if not wait_or_cancel(delay, cancel):
                raise Cancelled() from None


@contextlib.contextmanager
def close_on_cancel(cancel: CancelToken, close: Callable[[], Any]) -> Iterator[None]:
    """While the block runs, a watcher closes the stream as soon as ``cancel`` is set, so a
    read blocked on a slow server returns at once."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            if cancel.cancelled:
                with contextlib.suppress(Exception):
                    close()
                return

    watcher = threading.Thread(target=watch, name="cancel-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=1)
