"""The Anthropic Messages API: ``POST /v1/messages``, streamed or not.

The system prompt is a top-level field; content is a string or text blocks; ``max_tokens`` is
required. A stream is exactly: message_start, content_block_start, content_block_delta
(text_delta)..., content_block_stop, message_delta (stop_reason, usage), message_stop. The
prompt's token count is known once the answer ends: message_start says 0 input tokens and
message_delta carries the real count (Anthropic's SDK takes the later figure).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from workbench.engine.client import ChatResult
from workbench.engine.tool_calls import ToolCall
from workbench.server import sse
from workbench.server.answering import (
    MAX_TOKENS,
    Answer,
    Ask,
    Options,
    api_error,
    begin,
    complete,
    first_text_written,
    model_for,
    note_result,
    route,
    sampling,
    timings,
    workbench_options,
)
from workbench.server.errors import APIError, bad_request
from workbench.server.generation import Delta, Failed, Finished
from workbench.server.state import RequestRecord, ServerState
from workbench.server.tools_api import (
    StreamHold,
    ToolRequest,
    anthropic_tools,
    check_tool_use,
    tool_use_block,
)
from workbench.server.validation import Fields, kind

ROLES = ("user", "assistant")


def _blocks_text(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or an array of content blocks, not "
                          f"{kind(content)}", where)
    texts = []
    for i, block in enumerate(content):
        param = f"{where}[{i}]"
        if not isinstance(block, dict):
            raise bad_request(f"{param} must be an object, not {kind(block)}", param)
        fields = Fields(block, param)
        block_type = fields.string("type", required=True)
        if block_type != "text":
            raise bad_request(f"{param}.type={block_type!r} is not supported: the local "
                              "models take text blocks only", f"{param}.type",
                              code="unsupported_content")
        text = fields.string("text", required=True)
        fields.ignore("cache_control", "citations")
        fields.finish()
        texts.append(text or "")
    return "\n".join(texts)


def _tool_use(fields: Fields, param: str) -> dict[str, Any]:
    """An assistant's earlier ``tool_use`` block, as an OpenAI-shaped call."""
    call_id = fields.string("id", required=True)
    name = fields.string("name", required=True)
    arguments = fields.raw("input")
    fields.string("type")
    fields.ignore("cache_control", "caller", "toolset_name")  # echoed back by the SDK
    fields.finish()
    if not isinstance(arguments, dict):
        raise bad_request(f"{param}.input must be an object", f"{param}.input")
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}


def _tool_result(fields: Fields, param: str) -> dict[str, Any]:
    """A user's ``tool_result`` block, as a ``tool`` message."""
    call_id = fields.string("tool_use_id", required=True)
    content = fields.raw("content")
    failed = fields.boolean("is_error")
    fields.string("type")
    fields.ignore("cache_control")
    fields.finish()
    text = "" if content is None else _blocks_text(content, f"{param}.content")
    return {"role": "tool", "tool_call_id": call_id,
            "content": f"Error: {text}" if failed else text}


def _turn(role: str, content: object, where: str) -> list[dict[str, Any]]:
    """One message as the conversation's messages: its text, an assistant's ``tool_use``
    blocks as calls, a user's ``tool_result`` blocks as ``tool`` messages (first)."""
    if not isinstance(content, list) or not any(
            isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result")
            for b in content):
        return [{"role": role, "content": _blocks_text(content, where)}]
    texts, calls, results = [], [], []
    for i, block in enumerate(content):
        param = f"{where}[{i}]"
        if not isinstance(block, dict):
            raise bad_request(f"{param} must be an object, not {kind(block)}", param)
        block_type = block.get("type")
        if block_type == "tool_use" and role == "assistant":
            calls.append(_tool_use(Fields(block, param), param))
        elif block_type == "tool_result" and role == "user":
            results.append(_tool_result(Fields(block, param), param))
        elif block_type in ("tool_use", "tool_result"):
            raise bad_request(f"{param}: a {block_type} block belongs in an "
                              f"{'assistant' if block_type == 'tool_use' else 'user'} message",
                              f"{param}.type")
        else:
            texts.append(_blocks_text([block], where))
    text = "\n".join(texts)
    if role == "assistant":
        return [{"role": role, "content": text, "tool_calls": calls}]
    return [*results, *([{"role": role, "content": text}] if texts else [])]


def parse_messages_request(state: ServerState, data: dict[str, Any],
                           ) -> tuple[Ask, bool, Options, ToolRequest]:
    fields = Fields(data)
    model, routed = model_for(state, fields)
    max_tokens = fields.integer("max_tokens", minimum=1, maximum=MAX_TOKENS, required=True)
    raw = fields.array("messages")
    if not raw:
        raise bad_request("messages must be a non-empty array", "messages")
    messages: list[dict[str, Any]] = []
    system = fields.raw("system")
    if system is not None:
        text = _blocks_text(system, "system")
        if text:
            messages.append({"role": "system", "content": text})
    for i, item in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object, not {kind(item)}", where)
        message = Fields(item, where)
        role = message.string("role", required=True)
        if role not in ROLES:
            raise bad_request(f"{where}.role must be user or assistant, not "
                              f"{str(role)[:40]!r} (the system prompt is the top-level "
                              "system field)", f"{where}.role")
        content = message.raw("content")
        if content is None:
            raise bad_request(f"{where}.content is required", f"{where}.content")
        message.finish()
        messages += _turn(role, content, f"{where}.content")
    stops = fields.array("stop_sequences")
    if stops is not None and not all(isinstance(s, str) and s for s in stops):
        raise bad_request("stop_sequences must be an array of non-empty strings",
                          "stop_sequences")
    values = {
        "temperature": fields.number("temperature", minimum=0, maximum=1),
        "top_p": fields.number("top_p", minimum=0, maximum=1),
        "top_k": fields.integer("top_k", minimum=0, maximum=1 << 20),
    }
    if values["top_p"] == 0:
        values["top_p"] = 1e-9
    stream = fields.boolean("stream")
    json_schema = _output_format(fields)
    tools = anthropic_tools(fields)
    check_tool_use(tools, messages, json_schema=json_schema, schema_field="output_config.format",
                   routed=routed)
    fields.only("thinking", ({"type": "disabled"},), "extended thinking is not supported")
    fields.ignore("metadata", "service_tier")
    options = workbench_options(fields, model)
    fields.finish()
    ask = Ask(model, messages, n_ctx=options.n_ctx, routed=routed, sampling=sampling(
        max_tokens=max_tokens, stop=tuple(stops) if stops else None,
        chat_format=options.chat_format, json_schema=json_schema, tools=tools.tools,
        tool_choice=tools.choice if tools.offered else None, **values))
    return ask, stream, options, tools


def _output_format(fields: Fields) -> str | None:
    """``output_config.format``: a JSON schema the answer follows (structured outputs)."""
    config = fields.obj("output_config")
    if config is None:
        return None
    config.unsupported("effort", "this server has no effort levels")
    spec = config.obj("format")
    config.finish()
    if spec is None:
        return None
    if spec.string("type", required=True) != "json_schema":
        raise bad_request("output_config.format.type must be json_schema",
                          "output_config.format.type")
    schema = spec.raw("schema")
    spec.finish()
    if not isinstance(schema, dict):
        raise bad_request("output_config.format.schema must be a JSON Schema object",
                          "output_config.format.schema")
    return json.dumps(schema, ensure_ascii=False)


def _stop(result: ChatResult) -> tuple[str, str | None]:
    if result.finish_reason == "length":
        return "max_tokens", None
    return "end_turn", None


def _message(rid: str, model: str, content: list[dict[str, Any]], stop_reason: str | None,
             stop_sequence: str | None, input_tokens: int, output_tokens: int,
             ) -> dict[str, Any]:
    return {"id": rid, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}


async def messages(state: ServerState, request: Request, data: dict[str, Any],
                   record: RequestRecord, extra: dict[str, Any]) -> Response:
    ask, stream, options, tools = parse_messages_request(state, data)
    routed, headers = await route(state, request, ask, options, record)
    extra = {**extra, **routed}
    record.model = ask.model.id
    record.stream = stream
    rid = f"msg_{secrets.token_hex(12)}"
    if not stream:
        done = await complete(state, request, ask, record)
        if done is None:
            return Response(status_code=499)
        text, result, info = done
        first_text_written(record)
        reason, sequence = _stop(result)
        content, calls = tools.parse(text, info.tool_format if info else None)
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if calls:
            blocks = [*([{"type": "text", "text": content}] if content else []),
                      *(tool_use_block(call) for call in calls)]
            reason = "tool_use"
        body = _message(rid, ask.model.id, blocks, reason, sequence,
                        result.metrics.prompt_tokens, result.metrics.completion_tokens)
        return JSONResponse({**body, "workbench": timings(result, info), **extra},
                            headers=headers)
    answer = await begin(state, request, ask, record)
    if answer is None:
        return Response(status_code=499)
    return sse.stream(_events(answer, rid, extra, tools), headers)


def _text_start() -> bytes:
    return sse.event({"type": "content_block_start", "index": 0,
                      "content_block": {"type": "text", "text": ""}}, "content_block_start")


def _text_delta(text: str) -> bytes:
    return sse.event({"type": "content_block_delta", "index": 0,
                      "delta": {"type": "text_delta", "text": text}}, "content_block_delta")


def _tool_use_events(calls: list[ToolCall], first: int) -> list[bytes]:
    """Each call as a tool_use block: its start, its input as one JSON delta, its stop."""
    out = []
    for index, call in enumerate(calls, first):
        out += [sse.event({"type": "content_block_start", "index": index, "content_block": {
                    **tool_use_block(call), "input": {}}}, "content_block_start"),
                sse.event({"type": "content_block_delta", "index": index, "delta": {
                    "type": "input_json_delta", "partial_json": call.arguments_json}},
                    "content_block_delta"),
                sse.event({"type": "content_block_stop", "index": index},
                          "content_block_stop")]
    return out


async def _events(answer: Answer, rid: str, extra: dict[str, Any],
                  tools: ToolRequest) -> AsyncIterator[bytes]:
    """The stream; with tools the text block opens with the first text (an answer that is
    only a call has none) and the calls follow it as tool_use blocks."""
    model = answer.ask.model.id
    opening = [
        sse.event({"type": "message_start",
                   "message": {**_message(rid, model, [], None, None, 0, 0), **extra}},
                  "message_start"),
    ]
    text_open = not tools.offered
    if text_open:
        opening.append(_text_start())
    hold = StreamHold(tools)
    try:
        async for batch in answer.more():
            out, opening = opening, []
            text = hold.push("".join(e.text for e in batch if isinstance(e, Delta)))
            if text:
                if not text_open:
                    out.append(_text_start())
                    text_open = True
                out.append(_text_delta(text))
            last = batch[-1]
            if isinstance(last, Failed):
                error = api_error(last.error, answer.ask.model)
                answer.record.error = error.message
                out.append(sse.event(error.anthropic(), "error"))
                yield b"".join(out)
                return
            if isinstance(last, Finished):
                result = last.result
                note_result(answer.record, result)
                reason, sequence = _stop(result)
                content, calls = tools.parse(hold.rest(), last.info.tool_format
                                             if last.info else None)
                tail = content if calls else hold.rest()
                if tail or not (text_open or calls):
                    if not text_open:
                        out.append(_text_start())
                        text_open = True
                    if tail:
                        out.append(_text_delta(tail))
                if text_open:
                    out.append(sse.event({"type": "content_block_stop", "index": 0},
                                         "content_block_stop"))
                if calls:
                    out += _tool_use_events(calls, 1 if text_open else 0)
                    reason = "tool_use"
                out += [
                    sse.event({"type": "message_delta",
                               "delta": {"stop_reason": reason, "stop_sequence": sequence},
                               "usage": {"input_tokens": result.metrics.prompt_tokens,
                                         "output_tokens": result.metrics.completion_tokens}},
                              "message_delta"),
                    sse.event({"type": "message_stop"}, "message_stop"),
                ]
            if out:
                yield b"".join(out)
                if text:
                    first_text_written(answer.record)
    finally:
        answer.generation.cancel.cancel()


def error_response(err: APIError) -> JSONResponse:
    return JSONResponse(err.anthropic(), status_code=err.status, headers=err.headers)
