"""Anthropic's Messages API through the official ``anthropic`` SDK (raw streaming events).

Event sequence: ``message_start`` (usage.input_tokens, cache_creation_input_tokens,
cache_read_input_tokens), ``content_block_start``, ``content_block_delta`` (text_delta),
``content_block_stop``, ``message_delta`` (stop_reason, cumulative usage.output_tokens),
``message_stop``; ``ping`` at any time; ``event: error`` mid-stream (the SDK raises it).

Anthropic's ``input_tokens`` exclude cache reads and writes; ``AnswerResult.prompt_tokens`` is
normalised to the whole prompt (input + cache read + cache write), like OpenAI's.

Structured output (``Params.json_schema``, an object schema): one tool whose ``input_schema`` is
the schema, forced with ``tool_choice``; its streamed ``input_json_delta`` pieces are the answer
text (the JSON), and the forced call's ``tool_use`` stop reads as "stop".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from workbench.providers import errors
from workbench.providers.base import AnswerResult, Message, Params, StreamClock, schema_name
from workbench.providers.errors import ProviderError
from workbench.providers.retry import RetryPolicy
from workbench.providers.sdk_target import SDKTarget, State
from workbench.store.secrets import Secret

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                "tool_use": "tool_calls", "refusal": "content_filter"}


def split_system(messages: list[Message]) -> tuple[str | None, list[Message]]:
    """Anthropic takes the system prompt apart from the turns."""
    system = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    turns = [{"role": m["role"], "content": m.get("content", "")} for m in messages
             if m.get("role") in ("user", "assistant")]
    return ("\n\n".join(system) if system else None), turns


class AnthropicTarget(SDKTarget):
    """A Claude model through the Messages API."""

    FINISH_REASONS = STOP_REASONS

    def __init__(
        self,
        *,
        spec: str,
        model: str,
        api_key: Secret | None,
        base_url: str = ANTHROPIC_BASE_URL,
        label: str | None = None,
        key_name: str | None = "anthropic",
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.spec = spec
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.label = label or f"anthropic/{model}"
        self.provider = "anthropic"
        self.key_name = key_name
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import anthropic

            if self._api_key is None:
                raise ProviderError(errors.NO_KEY, f"no API key for {self.label}")
            options: dict[str, Any] = {
                "api_key": self._api_key.reveal(), "base_url": self.base_url, "max_retries": 0,
                "timeout": anthropic.Timeout(self.timeout_s, connect=self.connect_timeout_s)}
            if "open_telemetry" in inspect.signature(anthropic.Anthropic).parameters:
                options["open_telemetry"] = False  # newer SDKs: no tracing of prompts
            self._client = anthropic.Anthropic(**options)
            _warm_anthropic(self._client)
        return self._client

    def request_body(self, messages: list[Message], params: Params) -> dict[str, Any]:
        system, turns = split_system(messages)
        body: dict[str, Any] = {"model": self.model, "messages": turns,
                                "max_tokens": params.max_tokens, "stream": True}
        if system:
            body["system"] = system
        if params.stop:
            body["stop_sequences"] = list(params.stop)
        sampling = {k: v for k, v in (("temperature", params.temperature),
                                      ("top_p", params.top_p)) if v is not None}
        if sampling:  # not in this SDK's signature any more; the API still takes them
            body["extra_body"] = sampling
        schema = params.json_schema
        if schema is not None:
            if schema.get("type") != "object":
                raise ProviderError(errors.BAD_REQUEST, f"{self.label}: structured output "
                                    "through a tool call needs an object schema "
                                    "(\"type\": \"object\")")
            name = schema_name(schema)
            body["tools"] = [{"name": name, "description": "Give the answer as this tool's "
                              "input.", "input_schema": schema}]
            body["tool_choice"] = {"type": "tool", "name": name}
        return body

    def _open(self, client: Any, body: dict[str, Any], result: AnswerResult) -> Any:
        try:
            return client.messages.create(**body)
        except Exception as exc:
            raise self._classify(exc, "") from None

    def _on_event(self, event: Any, state: State, text: Callable[[str], None]) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            usage = getattr(event.message, "usage", None)
            if usage is not None:
                state["start_usage"] = usage
        elif kind == "content_block_delta":
            delta_type = getattr(event.delta, "type", None)
            if delta_type == "text_delta":
                piece = getattr(event.delta, "text", None)
            elif delta_type == "input_json_delta":  # the forced tool call's input (the JSON)
                piece = getattr(event.delta, "partial_json", None)
                state["tool_input"] = True
            else:
                piece = None
            if piece:
                text(piece)
        elif kind == "message_delta":
            reason = getattr(event.delta, "stop_reason", None)
            if reason:
                state["finish"] = reason
            if getattr(event, "usage", None) is not None:
                state["delta_usage"] = event.usage
        elif kind == "message_stop":
            state["stopped"] = True

    def _check_complete(self, state: State, partial: str) -> None:
        if not state.get("stopped"):
            raise ProviderError(errors.STREAM, f"{self.label}: the stream ended before "
                                "message_stop (cut off?)", partial_text=partial)

    def _fill_usage(self, result: AnswerResult, clock: StreamClock, state: State) -> None:
        if state.get("tool_input") and result.finish_reason == "tool_calls":
            result.finish_reason = "stop"  # the forced tool call is how the answer was asked
        start = state.get("start_usage")
        final = state.get("delta_usage")
        if start is not None:
            read = _int(getattr(start, "cache_read_input_tokens", None))
            write = _int(getattr(start, "cache_creation_input_tokens", None))
            # message_delta may repeat the (cumulative) input figures; prefer them when present
            if final is not None:
                read = _int(getattr(final, "cache_read_input_tokens", None), read)
                write = _int(getattr(final, "cache_creation_input_tokens", None), write)
            base = _int(getattr(final, "input_tokens", None) if final is not None else None,
                        _int(getattr(start, "input_tokens", None)))
            if base is not None:
                result.prompt_tokens = base + (read or 0) + (write or 0)
                result.cached_prompt_tokens = read
                result.cache_write_tokens = write
                result.tokens_source = "usage"
        if final is not None and state.get("stopped"):
            # output_tokens is cumulative: only the figure of a finished message is the total
            result.completion_tokens = _int(getattr(final, "output_tokens", None))
            details = getattr(final, "output_tokens_details", None)
            result.reasoning_tokens = _int(getattr(details, "thinking_tokens", None))
            result.tokens_source = "usage"
            self._set_rates(result, clock)
        elif state.get("finish") == "cancelled":
            result.notes.append("cancelled: the output token count was not reported")


def _int(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _warm_anthropic(client: Any) -> None:
    """The SDK's one-time lazy work, done before the clock starts (see _warm_openai)."""
    from anthropic._models import construct_type
    from anthropic.types import RawMessageStreamEvent

    _ = client.messages
    construct_type(type_=RawMessageStreamEvent, value={
        "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ""}})
