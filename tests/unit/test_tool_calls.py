"""Tool calls, Qt- and model-free: which templates take tools and how their models write calls,
reading calls in each format (and leaving what is no valid call as text), streaming hold-back,
and the forced-call grammar, which llama.cpp's own grammar parser accepts."""

from __future__ import annotations

import json

import pytest
from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

from tests.helpers.real_models import QWEN25_TOOLS_TEMPLATE
from workbench.engine.settings import Sampling
from workbench.engine.tool_calls import (
    check_tools,
    forced_call_schema,
    parse_tool_calls,
    split_stream,
    template_messages,
    tool_format,
    wrap_grammar,
)
from workbench.errors import BadInput
from workbench.resources import resource_path

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TOOLS = [WEATHER, {"type": "function", "function": {"name": "get_time"}}]


@pytest.mark.parametrize(("template", "expected"), [
    (None, None),
    ("{% for m in messages %}{{ m.content }}{% endfor %}", None),
    (QWEN25_TOOLS_TEMPLATE, "hermes"),
    ("{% if tools %}[AVAILABLE_TOOLS]{{ tools|tojson }}{% endif %}[TOOL_CALLS]", "mistral"),
    ("{%- if tools %}<|start_header_id|>ipython<|end_header_id|>{% endif %}", "llama3"),
    ("{% if tools %}{{ tools | tojson }}{% endif %}", "json"),
])
def test_the_template_says_how_calls_are_written(template: str | None,
                                                 expected: str | None) -> None:
    assert tool_format(template) == expected


@pytest.mark.parametrize(("family", "expected"), [
    ("qwen-2.5", "hermes"), ("llama-3.1", "llama3"), ("llama-3.2", "llama3"),
    ("gemma-3", None), ("phi-3.5", None), ("qwen-1.5", None)])
def test_real_templates(family: str, expected: str | None) -> None:
    """The real templates of resources/chat_templates, byte for byte as the models ship them."""
    assert tool_format(resource_path("chat_templates", f"{family}.jinja").read_text(
        encoding="utf-8")) == expected


@pytest.mark.parametrize(("fmt", "text", "content"), [
    ("hermes", 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": '
               '{"city": "Paris"}}\n</tool_call>', "Let me look."),
    ("hermes", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}', None),
    ("mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]', None),
    ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', None),
    ("llama3", '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}', None),
    ("llama3", ' {"name": "get_weather", "parameters": {"city": "Paris"}}', None),
    ("json", '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}', None),
])
def test_calls_are_read_in_each_format(fmt: str, text: str, content: str | None) -> None:
    found, calls = parse_tool_calls(text, fmt, TOOLS)
    assert found == content
    (call,) = calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert json.loads(call.to_openai()["function"]["arguments"]) == {"city": "Paris"}


def test_several_calls_are_read_in_order() -> None:
    text = ('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>\n'
            '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>')
    content, calls = parse_tool_calls(text, "hermes", TOOLS)
    assert content is None and [c.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize(("fmt", "text"), [
    ("hermes", "Paris is sunny today."),
    ("hermes", '<tool_call>{"name": "get_weather", "description": "cut off'),  # no JSON
    ("hermes", '<tool_call>{"name": "launch_rockets", "arguments": {}}</tool_call>'),  # no tool
    ("hermes", '<tool_call>{"name": "get_weather", "arguments": [1]}</tool_call>'),
    ("llama3", '{"answer": 42}'),
    ("json", "Sure, here you go."),
    ("mistral", "[TOOL_CALLS] not json"),
])
def test_what_is_no_valid_call_stays_text(fmt: str, text: str) -> None:
    assert parse_tool_calls(text, fmt, TOOLS) == (text, [])


def test_streamed_text_is_held_back_where_a_call_may_begin() -> None:
    assert split_stream("Hello there", "hermes") == len("Hello there")
    assert split_stream("Hello <tool", "hermes") == len("Hello ")
    assert split_stream("Hello <tool_call>{", "hermes") == len("Hello ")
    assert split_stream("Hello <b>", "hermes") == len("Hello <b>")
    assert split_stream(' {"name"', "json") == 0
    assert split_stream("", "any") == 0
    assert split_stream("Sure [TOOL_CA", "any") == len("Sure ")
    assert split_stream("anything", None) == len("anything")


@pytest.mark.parametrize("fmt", ["hermes", "mistral", "llama3", "json"])
@pytest.mark.parametrize("choice", ["required", "function:get_time"])
def test_the_forced_call_grammar_parses_in_llama_cpp(fmt: str, choice: str) -> None:
    schema = forced_call_schema(TOOLS, choice, fmt)
    gbnf = wrap_grammar(json_schema_to_gbnf(json.dumps(schema)), fmt)
    assert gbnf.startswith("root ::= ")
    LlamaGrammar.from_string(gbnf, verbose=False)  # raises when llama.cpp cannot parse it
    if choice == "function:get_time":
        assert schema["properties"]["name"] == {"const": "get_time"}
    else:
        assert [o["properties"]["name"]["const"] for o in schema["anyOf"]] == [
            "get_weather", "get_time"]


def test_templates_get_the_arguments_as_objects() -> None:
    messages = [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
        {"id": "c2", "type": "function", "function": {"name": "get_time", "arguments": "{oops"}}]}]
    converted = template_messages(messages)
    assert converted[0]["tool_calls"][0]["function"]["arguments"] == {"city": "Rome"}
    assert converted[0]["tool_calls"][1]["function"]["arguments"] == "{oops"
    assert messages[0]["tool_calls"][0]["function"]["arguments"] == '{"city": "Rome"}'


@pytest.mark.parametrize(("tools", "says"), [
    ("[]", "non-empty"), ("{}", "non-empty"), ('[{"type": "function"}]', "'type': 'function'"),
    ('[{"type": "function", "function": {"name": "has space"}}]', "function.name"),
    ('[{"type": "function", "function": {"name": "f", "parameters": 3}}]', "JSON Schema"),
    ("not json", "not JSON"),
])
def test_bad_tools_are_refused(tools: str, says: str) -> None:
    with pytest.raises(BadInput, match=says):
        check_tools(tools)


def test_sampling_checks_the_tool_request() -> None:
    tools = json.dumps(TOOLS)
    assert Sampling(tools=tools, tool_choice="function:get_time").tool_choice
    with pytest.raises(BadInput, match="not among the tools"):
        Sampling(tools=tools, tool_choice="function:nope")
    with pytest.raises(BadInput, match="needs tools"):
        Sampling(tool_choice="required")
    with pytest.raises(BadInput, match="together"):
        Sampling(tools=tools, tool_choice="required", json_schema='{"type": "object"}')
    assert Sampling.from_dict(Sampling(tools=tools).to_dict()) == Sampling(tools=tools)
