"""Tool calls (function calling) for local models: which chat templates take tools, how a call
is written in each model family's format, how a call is forced, and how calls are read back.

A GGUF's chat template takes tools when it uses the ``tools`` variable; the way the model then
writes a call is the family's, recognised by what the template says (``tool_format``):

- ``hermes``: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, one block per call
  (Qwen 2.5 and 3, Hermes 2 and 3, SmolLM3 and most chatml models with tools);
- ``mistral``: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]``, or the newer
  ``[TOOL_CALLS]name[ARGS]{...}``;
- ``llama3``: a JSON object ``{"name": ..., "parameters": {...}}``, after ``<|python_tag|>`` or
  alone (Llama 3.1 to 3.3: the template names the ``ipython`` role);
- ``json``: any other template with tools: the call as a JSON object with ``name`` and
  ``arguments`` (or ``parameters``).

With ``tool_choice`` ``required`` or a named function the call is forced: the answer is sampled
through a grammar that admits one call, in the family's format, to one of the tools, with
arguments that follow its JSON Schema (``forced_call_schema`` and ``call_wrapping``). With
``auto`` the model decides, and ``parse_tool_calls`` reads calls out of what it wrote: a call
whose JSON does not parse or which names no given tool is left as text, never guessed at.

Qt-free and llama.cpp-free: the worker builds the grammar, the server reads the calls.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.errors import BadInput

TOOL_FORMATS = ("hermes", "mistral", "llama3", "json")
AUTO, REQUIRED, NONE = "auto", "required", "none"
MAX_TOOLS = 128
MAX_TOOLS_CHARS = 200_000  # the tools' JSON text: names, descriptions and schemas
NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # OpenAI's rule, plus '.' and ':' (MCP names)
# Text that starts a call, per format: streamed text is held back from there (``split_stream``)
MARKERS = {"hermes": ("<tool_call>",), "mistral": ("[TOOL_CALLS]",),
           "llama3": ("<|python_tag|>",), "json": ()}
JSON_FIRST = ("llama3", "json")  # formats whose call may be the bare JSON object


@dataclass(frozen=True)
class ToolCall:
    """One call the model made: the function's name and its arguments (a JSON object)."""

    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, ensure_ascii=False)

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments_json}}


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


# -- templates ----------------------------------------------------------------------------------

def tool_format(template: str | None) -> str | None:
    """The way a model with this chat template writes tool calls (one of TOOL_FORMATS), or
    None when the template does not take tools."""
    if not template or not re.search(r"\btools\b", template):
        return None
    if "<tool_call>" in template:
        return "hermes"
    if "[TOOL_CALLS]" in template:
        return "mistral"
    if "<|python_tag|>" in template or "ipython" in template:
        return "llama3"
    return "json"


def uses_tools(messages: Sequence[dict[str, Any]]) -> bool:
    """True when a conversation holds tool calls or tool results."""
    return any(m.get("role") == "tool" or m.get("tool_calls") for m in messages)


def template_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as chat templates read them (Hugging Face's convention): a call's
    arguments as an object, not OpenAI's JSON text."""
    out = []
    for message in messages:
        calls = message.get("tool_calls")
        if calls:
            converted = []
            for call in calls:
                function = dict(call.get("function") or {})
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    with contextlib.suppress(ValueError):  # else the text as it came
                        function["arguments"] = json.loads(arguments)
                converted.append({**call, "function": function})
            message = {**message, "tool_calls": converted}
        out.append(message)
    return out


# -- the tools of a request ---------------------------------------------------------------------

def check_tools(tools_json: str) -> list[dict[str, Any]]:
    """The tools (OpenAI's shape: ``{"type": "function", "function": {"name", "description",
    "parameters"}}``) from their JSON text; BadInput names what is wrong."""
    if len(tools_json) > MAX_TOOLS_CHARS:
        raise BadInput(f"the tools take {len(tools_json)} characters, at most "
                       f"{MAX_TOOLS_CHARS}")
    try:
        tools = json.loads(tools_json)
    except ValueError as err:
        raise BadInput(f"tools is not JSON text: {err}") from None
    if not isinstance(tools, list) or not tools:
        raise BadInput("tools must be a non-empty list")
    if len(tools) > MAX_TOOLS:
        raise BadInput(f"at most {MAX_TOOLS} tools, not {len(tools)}")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(
                function, dict):
            raise BadInput(f"tools[{i}] must be {{'type': 'function', 'function': {{...}}}}")
        name = function.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise BadInput(f"tools[{i}].function.name must be 1-64 letters, digits, '_', '-', "
                           "'.' or ':'")
        if name in names:
            raise BadInput(f"tools[{i}].function.name {name!r} is given twice")
        names.add(name)
        parameters = function.get("parameters", {})
        if not isinstance(parameters, dict):
            raise BadInput(f"tools[{i}].function.parameters must be a JSON Schema object")
    return tools


def tool_names(tools: Sequence[dict[str, Any]]) -> list[str]:
    return [str(tool["function"]["name"]) for tool in tools]


def check_choice(choice: str, tools: Sequence[dict[str, Any]]) -> None:
    """``choice``: auto, required, or ``function:NAME`` naming one of ``tools``."""
    if choice in (AUTO, REQUIRED):
        return
    name = forced_name(choice)
    if name is None:
        raise BadInput(f"tool_choice must be auto, required or function:NAME, not {choice!r}")
    if name not in tool_names(tools):
        raise BadInput(f"tool_choice names the function {name!r}, which is not among the "
                       f"tools ({', '.join(tool_names(tools))})")


def check_tool_request(tools_json: str, choice: str, *, json_schema: str | None) -> None:
    """The tools and the choice of one request (``Sampling``); BadInput says what is wrong."""
    tools = check_tools(tools_json)
    check_choice(choice, tools)
    if json_schema is not None and is_forced(choice):
        raise BadInput("a forced tool call and a JSON schema for the answer cannot be asked "
                       "for together")


def forced_name(choice: str) -> str | None:
    return choice.removeprefix("function:") if choice.startswith("function:") else None


def is_forced(choice: str) -> bool:
    return choice != AUTO


# -- forcing a call -----------------------------------------------------------------------------

def _arguments_key(fmt: str) -> str:
    return "parameters" if fmt == "llama3" else "arguments"


def forced_call_schema(tools: Sequence[dict[str, Any]], choice: str, fmt: str) -> dict[str, Any]:
    """The JSON Schema of one call as the format writes it: the name one of the tools (or the
    one ``choice`` names), the arguments that tool's parameters."""
    name = forced_name(choice)
    options = []
    for tool in tools:
        function = tool["function"]
        if name is not None and function["name"] != name:
            continue
        parameters = function.get("parameters") or {"type": "object"}
        options.append({"type": "object",
                        "properties": {"name": {"const": function["name"]},
                                       _arguments_key(fmt): parameters},
                        "required": ["name", _arguments_key(fmt)],
                        "additionalProperties": False})
    return options[0] if len(options) == 1 else {"anyOf": options}


def call_wrapping(fmt: str) -> tuple[str, str]:
    """The text before and after a forced call's JSON in this format."""
    return {"hermes": ("<tool_call>\n", "\n</tool_call>"), "mistral": ("[TOOL_CALLS][", "]"),
            "llama3": ("", ""), "json": ("", "")}[fmt]


def wrap_grammar(json_gbnf: str, fmt: str) -> str:
    """A GBNF grammar for one call in ``fmt``, from the grammar of its JSON (whose start rule
    is ``root``): the JSON's rules kept, a new ``root`` around them."""
    before, after = call_wrapping(fmt)
    renamed = re.sub(r"(?m)^root\s*::=", "tool-call-json ::=", json_gbnf)
    if renamed == json_gbnf:
        raise BadInput("the grammar of the tool call has no root rule")
    pieces = [*([json.dumps(before)] if before else []), "tool-call-json",
              *([json.dumps(after)] if after else [])]
    body = " ".join(pieces)
    return f"root ::= {body}\n{renamed}"


# -- reading calls back -------------------------------------------------------------------------

def _decode_object(text: str) -> tuple[Any, int] | None:
    """The JSON value at the start of ``text`` (after spaces) and where it ends."""
    stripped = text.lstrip()
    try:
        value, end = json.JSONDecoder().raw_decode(stripped)
    except ValueError:
        return None
    return value, end + len(text) - len(stripped)


def _call(value: Any, fmt: str, names: set[str]) -> ToolCall | None:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get(_arguments_key(fmt), value.get("arguments", value.get("parameters")))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict) or value["name"] not in names:
        return None
    return ToolCall(new_call_id(), value["name"], arguments)


def _hermes(text: str, names: set[str]) -> tuple[str, list[ToolCall]] | None:
    calls: list[ToolCall] = []
    content: list[str] = []
    rest = text
    while "<tool_call>" in rest:
        before, _, after = rest.partition("<tool_call>")
        content.append(before)
        body, _, rest = after.partition("</tool_call>")  # an answer may end before the tag
        decoded = _decode_object(body)
        if decoded is None:
            return None
        call = _call(decoded[0], "hermes", names)
        if call is None or body[decoded[1]:].strip():
            return None
        calls.append(call)
    content.append(rest)
    return "".join(content), calls


def _mistral(text: str, names: set[str]) -> tuple[str, list[ToolCall]] | None:
    before, _, after = text.partition("[TOOL_CALLS]")
    calls: list[ToolCall] = []
    if "[ARGS]" in after:  # [TOOL_CALLS]name[ARGS]{...} (one or more)
        for chunk in after.split("[TOOL_CALLS]"):
            name, _, arguments = chunk.partition("[ARGS]")
            decoded = _decode_object(arguments)
            call = _call({"name": name.strip(), "arguments": decoded[0]}, "mistral",
                         names) if decoded else None
            if call is None:
                return None
            calls.append(call)
        return before, calls
    decoded = _decode_object(after)
    if decoded is None:
        return None
    values = decoded[0] if isinstance(decoded[0], list) else [decoded[0]]
    for value in values:
        call = _call(value, "mistral", names)
        if call is None:
            return None
        calls.append(call)
    return before + after[decoded[1]:], calls


def _json_first(text: str, fmt: str, names: set[str]) -> tuple[str, list[ToolCall]] | None:
    before, tagged, after = text.partition("<|python_tag|>")
    body = after if tagged else text
    if not tagged and not body.lstrip().startswith("{"):
        return None
    calls: list[ToolCall] = []
    rest = body
    while rest.strip():  # one object, or several separated by ';' or new lines
        decoded = _decode_object(rest)
        call = _call(decoded[0], fmt, names) if decoded else None
        if call is None or decoded is None:
            return None
        calls.append(call)
        rest = rest[decoded[1]:].lstrip().removeprefix(";")
    return (before if tagged else ""), calls


def parse_tool_calls(text: str, fmt: str, tools: Sequence[dict[str, Any]]
                     ) -> tuple[str | None, list[ToolCall]]:
    """The answer's text without its calls (None when nothing is left) and the calls, in the
    format ``fmt``; text that is no valid call to a given tool stays text."""
    names = set(tool_names(tools))
    parsed: tuple[str, list[ToolCall]] | None = None
    if fmt == "hermes" and "<tool_call>" in text:
        parsed = _hermes(text, names)
    elif fmt == "mistral" and "[TOOL_CALLS]" in text:
        parsed = _mistral(text, names)
    elif fmt in JSON_FIRST:
        parsed = _json_first(text, fmt, names)
    if not parsed or not parsed[1]:
        return (text or None), []
    content = parsed[0].strip()
    return (content or None), parsed[1]


def split_stream(text: str, fmt: str | None) -> int:
    """How much of ``text`` (the answer so far) can be streamed as text now: everything before
    what may still turn out to be a tool call (a marker, or a part of one at the end; for the
    JSON formats, an answer that begins with ``{``). ``fmt`` "any": every format's starts."""
    if fmt is None:
        return len(text)
    json_first = fmt == "any" or fmt in JSON_FIRST
    if json_first and (not text.strip() or text.lstrip().startswith("{")):
        return 0
    markers = ([m for ms in MARKERS.values() for m in ms] if fmt == "any"
               else MARKERS.get(fmt, ()))
    cut = len(text)
    for marker in markers:
        found = text.find(marker)
        if found >= 0:
            cut = min(cut, found)
            continue
        for size in range(min(len(marker) - 1, len(text)), 0, -1):
            if text.endswith(marker[:size]):
                cut = min(cut, len(text) - size)
                break
    return cut
