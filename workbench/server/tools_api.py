"""Tool calls in the OpenAI API: the request's ``tools`` and ``tool_choice``, the messages that
carry calls and results, and the answer's ``tool_calls`` (whole, or streamed).

The model's own chat template decides whether it takes tools (``tool_calls.tool_format``); a
model whose template takes none answers a request with tools with a 400 that says so. With
``tool_choice: "required"`` or a named function the call is forced through a grammar (the
worker), so it always parses; with ``auto`` the model decides and its answer is read for calls
(``tool_calls.parse_tool_calls``): text that is no valid call stays text. A streamed answer
holds back what may be a call (``tool_calls.split_stream``) and sends the calls at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from workbench.engine.tool_calls import (
    AUTO,
    NONE,
    REQUIRED,
    ToolCall,
    check_tool_request,
    parse_tool_calls,
    split_stream,
    uses_tools,
)
from workbench.errors import BadInput
from workbench.server.errors import bad_request
from workbench.server.validation import Fields, kind


@dataclass(frozen=True)
class ToolRequest:
    """A request's tools (JSON text, None: none offered) and the choice (Sampling's form)."""

    tools: str | None = None
    choice: str = AUTO

    @property
    def offered(self) -> bool:
        return self.tools is not None

    def parse(self, text: str, fmt: str | None) -> tuple[str | None, list[ToolCall]]:
        """The answer's text and its calls (none when no tools were offered)."""
        if self.tools is None or fmt is None:
            return (text or None), []
        return parse_tool_calls(text, fmt, json.loads(self.tools))


def _offered(tools: list[Any], choice: str) -> ToolRequest:
    """The tools offered (OpenAI's shape) with ``choice``; ``none`` offers none (the model is
    not shown them)."""
    if choice == NONE:
        return ToolRequest()
    text = json.dumps(tools, ensure_ascii=False)
    try:
        check_tool_request(text, choice, json_schema=None)
    except BadInput as err:
        raise bad_request(str(err), "tools") from None
    return ToolRequest(text, choice)


def check_tool_use(tools: ToolRequest, messages: list[dict[str, Any]], *,
                   json_schema: str | None, schema_field: str, routed: Any) -> None:
    """What a request with tools may not also ask for: a forced call and a JSON schema
    (``schema_field`` names the API's field), tools for a router (answered by named models)."""
    if json_schema is not None and tools.offered and tools.choice != AUTO:
        raise bad_request(f"a forced tool call and {schema_field} cannot be asked for "
                          "together", "tool_choice")
    if routed is not None and (tools.offered or uses_tools(messages)):
        raise bad_request(f"tool calls are answered by a named local model: {routed.id} "
                          "routes requests without tools only", "tools")


def parse_tools(fields: Fields) -> ToolRequest:
    """``tools`` and ``tool_choice`` (``none`` offers no tools); legacy ``functions`` refused."""
    tools = fields.array("tools")
    choice = fields.raw("tool_choice")
    fields.only("functions", ([],), "use tools (functions is the older form)")
    fields.only("function_call", ("none",), "use tool_choice (function_call is the older form)")
    fields.boolean("parallel_tool_calls", default=True)  # auto may call several; forced: one
    if choice is None:
        choice = AUTO
    elif isinstance(choice, dict):
        spec = Fields(choice, "tool_choice")
        if spec.string("type", required=True) != "function":
            raise bad_request("tool_choice.type must be 'function'", "tool_choice.type")
        function = spec.obj("function")
        spec.finish()
        if function is None:
            raise bad_request("tool_choice.function is required", "tool_choice.function",
                              code="missing_required_parameter")
        name = function.string("name", required=True)
        function.finish()
        choice = f"function:{name}"
    elif choice not in (NONE, AUTO, REQUIRED):
        given = repr(choice[:40]) if isinstance(choice, str) else kind(choice)
        raise bad_request(f"tool_choice must be none, auto, required or an object naming a "
                          f"function, not {given}", "tool_choice")
    if not tools:
        if choice not in (NONE, AUTO):
            raise bad_request("tool_choice asks for a tool call, but no tools are given",
                              "tool_choice")
        return ToolRequest()
    return _offered(tools, choice)


def _call(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request(f"{where} must be an object, not {kind(raw)}", where)
    fields = Fields(raw, where)
    call_id = fields.string("id", required=True)
    if fields.string("type") not in (None, "function"):
        raise bad_request(f"{where}.type must be 'function'", f"{where}.type")
    function = fields.obj("function")
    fields.finish()
    if function is None:
        raise bad_request(f"{where}.function is required", f"{where}.function",
                          code="missing_required_parameter")
    name = function.string("name", required=True)
    arguments = function.string("arguments", required=True)
    function.finish()
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def tool_calls_of(fields: Fields, where: str) -> list[dict[str, Any]]:
    """An assistant message's ``tool_calls`` (the calls of an earlier answer)."""
    raw = fields.array("tool_calls") or []
    return [_call(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(raw)]


def delta_chunks(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """The ``tool_calls`` of streamed deltas: one per call, each whole."""
    return [{"index": i, **call.to_openai()} for i, call in enumerate(calls)]


class StreamHold:
    """Streamed text, held back from where a tool call may begin (any format's start: the
    format is known when the answer ends)."""

    def __init__(self, tools: ToolRequest) -> None:
        self.active = tools.offered
        self.text = ""
        self.sent = 0

    def push(self, piece: str) -> str:
        """The text that can be sent now."""
        self.text += piece
        if not self.active:
            self.sent = len(self.text)
            return piece
        cut = max(self.sent, split_stream(self.text, "any"))
        out, self.sent = self.text[self.sent:cut], cut
        return out

    def rest(self) -> str:
        """The text held back (sent as text when it is no call)."""
        return self.text[self.sent:]


# -- the Anthropic Messages API's form -----------------------------------------------------------

ANTHROPIC_CHOICES = {"auto": AUTO, "any": REQUIRED, "none": NONE}


def anthropic_tools(fields: Fields) -> ToolRequest:
    """``tools`` (``name``, ``description``, ``input_schema``) and ``tool_choice`` (auto, any,
    tool with a name, none) as a ToolRequest; Anthropic's server tools are refused by type."""
    raw = fields.array("tools")
    spec = fields.obj("tool_choice")
    choice = AUTO
    if spec is not None:
        kind_ = spec.string("type", required=True)
        spec.boolean("disable_parallel_tool_use")  # a forced call is one call
        if kind_ == "tool":
            choice = f"function:{spec.string('name', required=True)}"
        elif kind_ in ANTHROPIC_CHOICES:
            choice = ANTHROPIC_CHOICES[kind_]
        else:
            raise bad_request("tool_choice.type must be auto, any, tool or none",
                              "tool_choice.type")
        spec.finish()
    if not raw:
        if choice not in (NONE, AUTO):
            raise bad_request("tool_choice asks for a tool call, but no tools are given",
                              "tool_choice")
        return ToolRequest()
    tools = []
    for i, item in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object, not {kind(item)}", where)
        tool = Fields(item, where)
        tool_type = tool.string("type")
        if tool_type not in (None, "custom"):
            raise bad_request(f"{where}.type={tool_type[:40]!r}: Anthropic's server tools "
                              "are not run by this server; give client tools (name, "
                              "input_schema)", f"{where}.type", code="unsupported_parameter")
        name = tool.string("name", required=True)
        description = tool.string("description")
        schema = tool.raw("input_schema")
        tool.ignore("cache_control")
        tool.finish()
        if not isinstance(schema, dict):
            raise bad_request(f"{where}.input_schema must be a JSON Schema object",
                              f"{where}.input_schema")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        if description:
            function["description"] = description
        tools.append({"type": "function", "function": function})
    return _offered(tools, choice)


def anthropic_id(call: ToolCall) -> str:
    return "toolu_" + call.id.removeprefix("call_")


def tool_use_block(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": anthropic_id(call), "name": call.name,
            "input": call.arguments}
