"""What the SDK-backed targets (``openai_compat``, ``anthropic_target``) share: one streaming
request with bounded retries, backoff and cancel (``retry.py``), the read loop that closes the
stream on cancel and classifies errors, and filling the result's text, finish and timings.

A subclass says how to open a stream (``_open``), what one event means (``_on_event``), when a
stream that ended was complete (``_check_complete``) and what its usage report holds
(``_fill_usage``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlparse

from workbench.cancel import CancelToken
from workbench.net.offline import is_loopback_host
from workbench.providers.base import (
    AnswerResult,
    DeltaCallback,
    Message,
    Params,
    StatusCallback,
    StreamClock,
    Target,
)
from workbench.providers.errors import ProviderError
from workbench.providers.retry import (
    Cancelled,
    RetryPolicy,
    classify,
    close_on_cancel,
    with_retries,
)

State = dict[str, Any]  # what a subclass keeps from the events of one attempt ("finish", ...)


def host_of(base_url: str) -> str:
    parsed = urlparse(base_url)
    return parsed.hostname or base_url


def describe_destination(base_url: str) -> str:
    parsed = urlparse(base_url)
    host = parsed.hostname or base_url
    if is_loopback_host(host):
        return f"{host}:{parsed.port} (this machine)" if parsed.port else "this machine"
    return f"{host}:{parsed.port}" if parsed.port else host


class SDKTarget(Target):
    """A target behind an HTTP API reached through a vendor SDK's streaming call."""

    base_url: str
    key_name: str | None
    timeout_s: float
    retry: RetryPolicy
    _client: Any
    # the API's finish/stop reasons mapped to AnswerResult.finish_reason
    FINISH_REASONS: ClassVar[Mapping[str, str]] = {}

    @property
    def destination(self) -> str:
        return describe_destination(self.base_url)

    @property
    def leaves_machine(self) -> bool:
        return not is_loopback_host(host_of(self.base_url))

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @abstractmethod
    def client(self) -> Any:
        """The SDK client (created on first use)."""

    @abstractmethod
    def request_body(self, messages: list[Message], params: Params) -> dict[str, Any]:
        """The keyword arguments of the SDK's streaming call."""

    @abstractmethod
    def _open(self, client: Any, body: dict[str, Any], result: AnswerResult) -> Any:
        """Start one streaming request; raise ProviderError (``_classify``) when it fails."""

    @abstractmethod
    def _on_event(self, event: Any, state: State, text: Callable[[str], None]) -> None:
        """Take one streamed event: answer text goes to ``text``, the rest into ``state``."""

    @abstractmethod
    def _check_complete(self, state: State, partial: str) -> None:
        """Raise ProviderError when the stream ended before the answer was finished."""

    @abstractmethod
    def _fill_usage(self, result: AnswerResult, clock: StreamClock, state: State) -> None:
        """Token counts (and rates) from the usage the stream reported, if any."""

    def _stream(self, messages: list[Message], params: Params, delta: DeltaCallback,
                cancel: CancelToken, result: AnswerResult, status: StatusCallback) -> None:
        body = self.request_body(messages, params)
        client = self.client()
        clock = StreamClock()
        state: State = {}
        parts: list[str] = []

        def attempt(_number: int) -> None:
            clock.restart()
            state.clear()
            self._read(self._open(client, body, result), clock, state, parts, delta, cancel)

        def on_retry(delay: float, _err: ProviderError) -> None:
            result.retries += 1
            result.retry_wait_ms += delay * 1000

        try:
            with_retries(attempt, policy=self.retry, cancel=cancel, status=status,
                         started=lambda: bool(parts), on_retry=on_retry)
        except Cancelled:
            state["finish"] = "cancelled"
        except ProviderError:
            self._fill(result, clock, state, parts)
            raise
        self._fill(result, clock, state, parts)

    def _read(self, stream: Any, clock: StreamClock, state: State, parts: list[str],
              delta: DeltaCallback, cancel: CancelToken) -> None:
        def text(piece: str) -> None:
            clock.text(piece)
            parts.append(piece)
            delta(piece, None)

        try:
            with close_on_cancel(cancel, stream.close):
                for event in stream:
                    self._on_event(event, state, text)
                    if cancel.cancelled:
                        state["finish"] = "cancelled"
                        break
        except Exception as exc:
            clock.end()
            if cancel.cancelled:
                state["finish"] = "cancelled"
                return
            raise self._classify(exc, "".join(parts)) from None
        finally:
            stream.close()
        clock.end()
        if cancel.cancelled:
            state["finish"] = "cancelled"
        else:
            self._check_complete(state, "".join(parts))

    def _classify(self, exc: BaseException, partial: str) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        return classify(exc, label=self.label, model=self.model, host=host_of(self.base_url),
                        key_name=self.key_name, timeout_s=self.timeout_s, partial_text=partial)

    def _fill(self, result: AnswerResult, clock: StreamClock, state: State,
              parts: list[str]) -> None:
        if clock.t_end is None:
            clock.end()
        result.text = "".join(parts)
        finish = state.get("finish")
        result.finish_reason = self.FINISH_REASONS.get(finish, finish) if finish else None
        result.ttft_ms = clock.ttft_ms
        result.total_ms = clock.total_ms
        self._fill_usage(result, clock, state)

    @staticmethod
    def _set_rates(result: AnswerResult, clock: StreamClock) -> None:
        """Generation rate over the visible tokens (reasoning tokens are not streamed as text),
        end-to-end rate over every output token."""
        visible = result.completion_tokens
        if visible is not None and result.reasoning_tokens:
            visible -= result.reasoning_tokens
        result.gen_tokens_per_s = clock.gen_rate(visible)
        result.e2e_tokens_per_s = clock.e2e_rate(result.completion_tokens)
