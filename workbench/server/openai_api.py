"""The OpenAI API: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``.

Requests are read strictly (``validation.Fields``): a field the server does not know is a 400
that names it; the harmless fields clients send by default are accepted (docs/serve.md has the
list). Usage is in every non-streamed answer, and in a final chunk with empty ``choices`` when a
stream asks for it (``stream_options.include_usage``).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from workbench.engine.tool_calls import ToolCall
from workbench.server import sse
from workbench.server.answering import (
    MAX_TOKENS,
    Answer,
    Ask,
    api_error,
    begin,
    complete,
    first_text_written,
    model_for,
    note_result,
    route,
    sampling,
    timings,
    usage,
    workbench_options,
)
from workbench.server.errors import APIError, bad_request
from workbench.server.generation import Delta, Failed, Finished
from workbench.server.state import RequestRecord, ServerState
from workbench.server.tools_api import (
    StreamHold,
    ToolRequest,
    check_tool_use,
    delta_chunks,
    parse_tools,
    tool_calls_of,
)
from workbench.server.validation import Fields, kind

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant",
         "tool": "tool"}
FINISH = {"stop": "stop", "length": "length", "cancelled": "stop"}
# Message fields that clients echo back from earlier answers: accepted while empty.
EMPTY_MESSAGE_FIELDS = ("refusal", "function_call", "audio", "annotations")


def _id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


# -- the request -------------------------------------------------------------------------------
def _text_content(content: object, where: str) -> str:
    """A message's content: a string, or an array of text parts (joined by newlines)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            param = f"{where}[{i}]"
            if not isinstance(part, dict):
                raise bad_request(f"{param} must be an object, not {kind(part)}", param)
            fields = Fields(part, param)
            part_type = fields.string("type", required=True)
            if part_type != "text":
                raise bad_request(f"{param}.type={part_type!r} is not supported: the local "
                                  "models take text only", f"{param}.type",
                                  code="unsupported_content")
            text = fields.string("text", required=True)
            fields.finish()
            texts.append(text or "")
        return "\n".join(texts)
    raise bad_request(f"{where} must be a string or an array of text parts, not "
                      f"{kind(content)}", where)


def parse_messages(raw: list[Any] | None) -> list[dict[str, Any]]:
    """The conversation: text messages, an assistant's earlier ``tool_calls`` and the ``tool``
    messages with their results (tools_api)."""
    if not raw:
        raise bad_request("messages must be a non-empty array", "messages",
                          code="missing_required_parameter" if raw is None else "invalid_value")
    messages = []
    for i, item in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object, not {kind(item)}", where)
        fields = Fields(item, where)
        role = fields.string("role", required=True)
        if role == "function":
            raise bad_request(f"{where}.role='function' is the older form of 'tool'",
                              f"{where}.role", code="unsupported_parameter")
        if role not in ROLES:
            raise bad_request(f"{where}.role must be one of {', '.join(ROLES)}, not "
                              f"{str(role)[:40]!r}", f"{where}.role")
        calls = tool_calls_of(fields, where) if role == "assistant" else []
        content = fields.raw("content")
        if content is None and not calls:
            raise bad_request(f"{where}.content is required", f"{where}.content",
                              code="missing_required_parameter")
        fields.string("name")  # a participant's name: accepted, not shown to the model
        call_id = fields.string("tool_call_id", required=role == "tool")
        for name in EMPTY_MESSAGE_FIELDS:
            fields.only(name, ([],), "tool calls and audio are not supported by this server")
        fields.finish()
        message: dict[str, Any] = {
            "role": ROLES[role],
            "content": "" if content is None else _text_content(content, f"{where}.content")}
        if calls:
            message["tool_calls"] = calls
        if call_id is not None:
            message["tool_call_id"] = call_id
        messages.append(message)
    return messages


def _stop(fields: Fields) -> tuple[str, ...] | None:
    value = fields.raw("stop")
    if value is None:
        return None
    if isinstance(value, str):
        return (value,) if value else None
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(s for s in value if s) or None
    raise bad_request("stop must be a string or an array of strings", "stop")


def _json_schema(fields: Fields) -> str | None:
    response_format = fields.obj("response_format")
    if response_format is None:
        return None
    kind_ = response_format.string("type", required=True)
    if kind_ == "text":
        response_format.finish()
        return None
    if kind_ == "json_object":
        response_format.finish()
        return json.dumps({"type": "object"})
    if kind_ != "json_schema":
        raise bad_request("response_format.type must be text, json_object or json_schema",
                          "response_format.type")
    spec = response_format.obj("json_schema")
    response_format.finish()
    if spec is None:
        raise bad_request("response_format.json_schema is required for type json_schema",
                          "response_format.json_schema", code="missing_required_parameter")
    spec.string("name")
    spec.string("description")
    spec.boolean("strict")
    schema = spec.raw("schema")
    spec.finish()
    if schema is None:
        return json.dumps({"type": "object"})
    if not isinstance(schema, dict):
        raise bad_request("response_format.json_schema.schema must be a JSON Schema object",
                          "response_format.json_schema.schema")
    return json.dumps(schema, ensure_ascii=False)


def _common(fields: Fields) -> dict[str, Any]:
    """The sampling fields both endpoints take, and the harmless ones they accept."""
    stream = fields.boolean("stream")
    options = fields.obj("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise bad_request("stream_options is only allowed with stream: true",
                              "stream_options")
        include_usage = options.boolean("include_usage")
        options.ignore("include_obfuscation")
        options.finish()
    values: dict[str, Any] = {
        "temperature": fields.number("temperature", minimum=0, maximum=2),
        "top_p": fields.number("top_p", minimum=0, maximum=1),
        "seed": fields.integer("seed", minimum=-(1 << 63), maximum=(1 << 64) - 1),
        "stop": _stop(fields),
        # llama.cpp's own sampling fields (llama-server takes them too)
        "top_k": fields.integer("top_k", minimum=0, maximum=1 << 20),
        "min_p": fields.number("min_p", minimum=0, maximum=1),
        "repeat_penalty": fields.number("repeat_penalty", minimum=0, maximum=10),
    }
    if values["top_p"] == 0:
        values["top_p"] = 1e-9  # 0 means "only the most likely token": as good as greedy
    if values["seed"] is not None:
        values["seed"] %= 1 << 32  # llama.cpp's seed is 32 bits
    fields.only("n", (1,), "one answer per request (ask again for another)")
    fields.only("presence_penalty", (0, 0.0), "use repeat_penalty (llama.cpp's penalty)")
    fields.only("frequency_penalty", (0, 0.0), "use repeat_penalty (llama.cpp's penalty)")
    fields.only("logit_bias", ({},), "logit_bias is not supported")
    fields.only("logprobs", (False,), "log probabilities are not reported")
    fields.string("user")
    fields.ignore("metadata", "service_tier", "prompt_cache_key", "safety_identifier")
    return {"stream": stream, "include_usage": include_usage, **values}


def _max_tokens(fields: Fields, default: int | None) -> int | None:
    max_tokens = fields.integer("max_tokens", minimum=1, maximum=MAX_TOKENS)
    newer = fields.integer("max_completion_tokens", minimum=1, maximum=MAX_TOKENS)
    if max_tokens is not None and newer is not None and max_tokens != newer:
        raise bad_request("give max_tokens or max_completion_tokens, not both",
                          "max_completion_tokens")
    chosen = newer if newer is not None else max_tokens
    return chosen if chosen is not None else default


def parse_chat(state: ServerState, data: dict[str, Any]) -> tuple[Ask, dict[str, Any]]:
    fields = Fields(data)
    model, routed = model_for(state, fields)
    messages = parse_messages(fields.array("messages"))
    common = _common(fields)
    given = fields.has("max_tokens") or fields.has("max_completion_tokens")
    max_tokens = _max_tokens(fields, MAX_TOKENS)
    json_schema = _json_schema(fields)
    tools = parse_tools(fields)
    check_tool_use(tools, messages, json_schema=json_schema, schema_field="response_format",
                   routed=routed)
    fields.only("top_logprobs", (0,), "log probabilities are not reported")
    fields.only("modalities", (["text"],), "the local models answer in text")
    fields.only("store", (False,), "answers are not stored by this server")
    options = workbench_options(fields, model)
    fields.finish()
    ask = Ask(model, messages, n_ctx=options.n_ctx, routed=routed, max_tokens_given=given,
              sampling=sampling(
                  max_tokens=max_tokens, json_schema=json_schema,
                  chat_format=options.chat_format, temperature=common["temperature"],
                  top_p=common["top_p"], seed=common["seed"], stop=common["stop"],
                  top_k=common["top_k"], min_p=common["min_p"],
                  repeat_penalty=common["repeat_penalty"], tools=tools.tools,
                  tool_choice=tools.choice if tools.offered else None))
    return ask, {**common, "options": options, "tools": tools}


def parse_completion(state: ServerState, data: dict[str, Any]) -> tuple[Ask, dict[str, Any]]:
    fields = Fields(data)
    model, routed = model_for(state, fields)
    if routed is not None:
        raise bad_request(f"{routed.id} routes chat requests (/v1/chat/completions); a "
                          "completion continues a prompt on one named model", "model")
    prompt = fields.raw("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("prompt must be a string (one prompt per request; token arrays "
                          "are not taken)", "prompt",
                          code="missing_required_parameter" if prompt is None else
                          "invalid_value")
    if not prompt:
        raise bad_request("prompt is empty", "prompt")
    common = _common(fields)
    max_tokens = _max_tokens(fields, 16)  # OpenAI's default for completions
    fields.only("echo", (False,), "the prompt is not echoed")
    fields.only("best_of", (1,), "one answer per request")
    fields.only("suffix", ("",), "insertion (suffix) is not supported")
    options = workbench_options(fields, model)
    fields.finish()
    ask = Ask(model, [{"role": "user", "content": prompt}], n_ctx=options.n_ctx,
              sampling=sampling(
        max_tokens=max_tokens, chat_format="completion", temperature=common["temperature"],
        top_p=common["top_p"], seed=common["seed"], stop=common["stop"],
        top_k=common["top_k"], min_p=common["min_p"],
        repeat_penalty=common["repeat_penalty"]))
    return ask, {**common, "options": options, "tools": ToolRequest()}


# -- the answer --------------------------------------------------------------------------------
def fingerprint() -> str:
    from workbench import __version__

    return f"workbench-{__version__}"


async def chat_completions(state: ServerState, request: Request, data: dict[str, Any],
                           record: RequestRecord, extra: dict[str, Any]) -> Response:
    ask, options = parse_chat(state, data)
    return await _answer(state, request, ask, options, record, extra, chat=True)


async def completions(state: ServerState, request: Request, data: dict[str, Any],
                      record: RequestRecord, extra: dict[str, Any]) -> Response:
    ask, options = parse_completion(state, data)
    return await _answer(state, request, ask, options, record, extra, chat=False)


async def _answer(state: ServerState, request: Request, ask: Ask, options: dict[str, Any],
                  record: RequestRecord, extra: dict[str, Any], *, chat: bool) -> Response:
    routed, headers = await route(state, request, ask, options["options"], record)
    extra = {**extra, **routed}
    record.model = ask.model.id
    record.stream = options["stream"]
    rid = _id("chatcmpl" if chat else "cmpl")
    created = int(time.time())
    if not options["stream"]:
        done = await complete(state, request, ask, record)
        if done is None:
            return Response(status_code=499)  # nobody reads it: the client left
        text, result, info = done
        first_text_written(record)
        choice: dict[str, Any] = {"index": 0, "logprobs": None,
                                  "finish_reason": FINISH[result.finish_reason]}
        if chat:
            content, calls = options["tools"].parse(text, info.tool_format if info else None)
            choice["message"] = {"role": "assistant", "content": content if calls else text,
                                 "refusal": None}
            if calls:
                choice["message"]["tool_calls"] = [call.to_openai() for call in calls]
                choice["finish_reason"] = "tool_calls"
        else:
            choice["text"] = text
        body = {"id": rid, "object": "chat.completion" if chat else "text_completion",
                "created": created, "model": ask.model.id, "system_fingerprint": fingerprint(),
                "choices": [choice], "usage": usage(result),
                "workbench": timings(result, info), **extra}
        return JSONResponse(body, headers=headers)
    answer = await begin(state, request, ask, record)
    if answer is None:
        return Response(status_code=499)
    return sse.stream(_chunks(answer, rid, created, options["include_usage"], chat, extra,
                              options["tools"]), headers)


async def _chunks(answer: Answer, rid: str, created: int, include_usage: bool, chat: bool,
                  extra: dict[str, Any], tools: ToolRequest) -> AsyncIterator[bytes]:
    model = answer.ask.model.id
    base: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk" if chat
                            else "text_completion", "created": created, "model": model,
                            "system_fingerprint": fingerprint()}
    if include_usage:
        base["usage"] = None
    base.update(extra)

    def chunk(text: str | None, finish: str | None = None, role: bool = False,
              calls: list[ToolCall] | None = None) -> bytes:
        if chat:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if text is not None:
                delta["content"] = text
            if calls:
                delta["tool_calls"] = delta_chunks(calls)
            choice: dict[str, Any] = {"index": 0, "delta": delta}
        else:
            choice = {"index": 0, "text": text or ""}
        choice["logprobs"] = None
        choice["finish_reason"] = finish
        return sse.event({**base, "choices": [choice]})

    opening = [chunk("", role=True)] if chat else []  # OpenAI's first chunk: the role
    hold = StreamHold(tools)
    try:
        async for batch in answer.more():
            out, opening = opening, []
            text = hold.push("".join(e.text for e in batch if isinstance(e, Delta)))
            if text:
                out.append(chunk(text))
            last = batch[-1]
            if isinstance(last, Failed):
                error = api_error(last.error, answer.ask.model)
                answer.record.error = error.message
                out.append(sse.event(error.openai()))
                yield b"".join(out)
                return
            if isinstance(last, Finished):
                note_result(answer.record, last.result)
                finish = FINISH[last.result.finish_reason]
                content, calls = tools.parse(hold.rest(), last.info.tool_format
                                             if last.info else None)
                if calls:
                    if content:
                        out.append(chunk(content))
                    out.append(chunk(None, calls=calls))
                    finish = "tool_calls"
                elif hold.rest():
                    out.append(chunk(hold.rest()))
                out.append(chunk(None if chat else "", finish))
                if include_usage:
                    out.append(sse.event({**base, "choices": [], "usage": usage(last.result),
                                          "workbench": timings(last.result, last.info)}))
                out.append(sse.DONE)
            if out:
                yield b"".join(out)
                if text:
                    first_text_written(answer.record)
    finally:
        answer.generation.cancel.cancel()  # a client that left stops the model at once


def list_models(state: ServerState) -> dict[str, Any]:
    data = [model.to_openai() for model in state.catalog.models()]
    data += [{**served.to_openai(), "id": name} for name, served in state.routers.items()]
    return {"object": "list", "data": data}


def error_response(err: APIError) -> JSONResponse:
    return JSONResponse(err.openai(), status_code=err.status, headers=err.headers)
