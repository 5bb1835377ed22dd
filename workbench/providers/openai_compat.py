"""OpenAI and every OpenAI-compatible endpoint (Gemini, OpenRouter, Groq, vLLM, llama-server...)
through the official ``openai`` SDK's streaming chat completions.

Usage is requested with ``stream_options={"include_usage": True}``; it arrives in a last chunk
whose ``choices`` is empty. Endpoints that reject the option are asked again without it, and
endpoints that simply send no usage (llama-cpp-python's server, streams that were cut) leave the
token counts unknown (None) - never 0, never the number of chunks.

Structured output (``Params.json_schema``): ``response_format`` of type ``json_schema``, strict
(OpenAI then requires ``additionalProperties: false`` and every property listed in
``required``); the answer's text is the JSON. An endpoint that rejects that form is asked again
with ``{"type": "json_object", "schema": ...}`` (llama-cpp-python's server).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.providers import errors
from workbench.providers.base import AnswerResult, Message, Params, StreamClock, schema_name
from workbench.providers.errors import ProviderError
from workbench.providers.retry import RetryPolicy
from workbench.providers.sdk_target import SDKTarget, State, describe_destination, host_of
from workbench.store.secrets import Secret

__all__ = ["FINISH", "NO_KEY", "OPENAI_BASE_URL", "OpenAICompatTarget", "describe_destination",
           "host_of"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "sk-no-key-required"  # self-hosted servers without auth still need a non-empty key
FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter",
          "tool_calls": "tool_calls", "function_call": "tool_calls"}


class OpenAICompatTarget(SDKTarget):
    """A model behind an OpenAI-style ``/chat/completions`` endpoint."""

    FINISH_REASONS = FINISH

    def __init__(
        self,
        *,
        spec: str,
        model: str,
        base_url: str = OPENAI_BASE_URL,
        api_key: Secret | None = None,
        label: str | None = None,
        provider: str = "openai",
        key_name: str | None = None,
        stream_usage: bool = True,
        max_tokens_field: str = "max_tokens",
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.label = label or f"{provider}/{model}"
        self.provider = provider
        self.key_name = key_name
        self.stream_usage = stream_usage
        self.max_tokens_field = max_tokens_field
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._headers = dict(headers or {})
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                api_key=self._api_key.reveal() if self._api_key else NO_KEY,
                base_url=self.base_url,
                max_retries=0,
                timeout=openai.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                default_headers=self._headers or None,
            )
            _warm_openai(self._client)
        return self._client

    def request_body(self, messages: list[Message], params: Params) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True,
                                self.max_tokens_field: params.max_tokens}
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if params.json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema_name(params.json_schema), "schema": params.json_schema,
                "strict": True}}
        if self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def _open(self, client: Any, body: dict[str, Any], result: AnswerResult) -> Any:
        while True:  # each option an endpoint rejects is changed once: this ends
            try:
                return client.chat.completions.create(**body)
            except Exception as exc:
                err = self._classify(exc, "")
                if not _ask_without(err, body, result):
                    raise err from None

    def _on_event(self, event: Any, state: State, text: Callable[[str], None]) -> None:
        usage = getattr(event, "usage", None)
        if usage is not None:
            state["usage"] = usage
        for choice in event.choices or ():
            if getattr(choice, "index", 0) != 0:
                continue
            content = getattr(choice.delta, "content", None) if choice.delta else None
            if content:
                text(content)
            if choice.finish_reason:
                state["finish"] = choice.finish_reason

    def _check_complete(self, state: State, partial: str) -> None:
        if "finish" not in state:
            raise ProviderError(errors.STREAM, f"{self.label}: the stream ended before the "
                                "answer was finished (no finish reason)", partial_text=partial)

    def _fill_usage(self, result: AnswerResult, clock: StreamClock, state: State) -> None:
        finish = state.get("finish")
        usage = state.get("usage")
        if usage is None:
            if finish and finish != "cancelled":
                result.notes.append("the endpoint sent no usage report: token counts unknown")
            return
        extra = getattr(usage, "model_extra", None) or {}
        result.tokens_source = "usage"
        result.prompt_tokens = getattr(usage, "prompt_tokens", None)
        result.completion_tokens = getattr(usage, "completion_tokens", None)
        prompt_details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(prompt_details, "cached_tokens", None) if prompt_details else None
        if cached is None and isinstance(extra.get("prompt_cache_hit_tokens"), int):
            cached = extra["prompt_cache_hit_tokens"]  # DeepSeek's field
        result.cached_prompt_tokens = cached
        completion_details = getattr(usage, "completion_tokens_details", None)
        result.reasoning_tokens = (getattr(completion_details, "reasoning_tokens", None)
                                   if completion_details else None)
        cost = extra.get("cost")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            result.provider_cost_usd = float(cost)  # OpenRouter reports the charge itself
        self._set_rates(result, clock)


def _ask_without(err: ProviderError, body: dict[str, Any], result: AnswerResult) -> bool:
    """Change ``body`` for an endpoint that rejected one of its options: stream_options (asked
    again without it: no usage), a ``json_schema`` response format (asked again in the older
    form that llama-cpp-python's server takes: ``json_object`` with the schema). False when
    the error is not such a refusal (or the option was changed already)."""
    text = str(err)
    if err.kind == errors.BAD_REQUEST and "stream_options" in body and "stream_options" in text:
        body.pop("stream_options")
        result.notes.append("the endpoint rejected stream_options; asked again without it "
                            "(no token usage)")
        return True
    response_format = body.get("response_format") or {}
    if (response_format.get("type") == "json_schema" and "response_format" in text
            and err.kind in (errors.BAD_REQUEST, errors.SERVER)):
        # llama-cpp-python's server answers a schema it cannot read with a 500
        body["response_format"] = {"type": "json_object",
                                   "schema": response_format["json_schema"]["schema"]}
        result.notes.append("the endpoint rejected a json_schema response format; asked again "
                            "with json_object and the schema")
        return True
    return False


def _warm_openai(client: Any) -> None:
    """Do the SDK's one-time lazy work (resource imports, chunk model building) before the
    clock starts, so the first answer's TTFT measures the endpoint, not the SDK (~50 ms)."""
    from openai._models import construct_type
    from openai.types.chat import ChatCompletionChunk

    _ = client.chat.completions
    construct_type(type_=ChatCompletionChunk, value={
        "id": "warm", "object": "chat.completion.chunk", "created": 0, "model": "warm",
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})
