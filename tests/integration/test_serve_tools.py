"""Tool calls through ``workbench serve`` with the official openai SDK, on the real SmolLM2
model given Qwen 2.5's chat template (which takes tools and writes ``<tool_call>`` blocks):
forced calls (``required``, a named function) always parse and follow the tool's schema, whole
and streamed; with ``auto`` the model may answer in text, streamed exactly as it is answered
whole; a conversation with the call and its result goes back to the model; a model whose
template takes no tools, and malformed tools, are 400s that say why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest

from tests.helpers.serve import serving
from workbench.server.runner import BackgroundServer

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The local time in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
                   "required": ["city"]}}}
ASK = [{"role": "user", "content": "What is the weather in Paris right now?"}]


@pytest.fixture(scope="module")
def server(smollm2_tools: Path, smollm2: Path) -> Iterator[BackgroundServer]:
    with serving(smollm2_tools, smollm2) as running:
        yield running


@pytest.fixture
def client(server: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


@pytest.fixture(scope="module")
def model(smollm2_tools: Path) -> str:
    return smollm2_tools.name


def _schema(tool: dict[str, Any]) -> dict[str, Any]:
    return tool["function"]["parameters"]


def test_a_required_call_parses_and_follows_the_schema(client: openai.OpenAI,
                                                       model: str) -> None:
    reply = client.chat.completions.create(model=model, messages=ASK, tools=[WEATHER],
                                           tool_choice="required", max_tokens=80,
                                           temperature=0.8, seed=3)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, _schema(WEATHER))
    assert reply.usage is not None and reply.usage.completion_tokens > 5


def test_a_named_function_is_the_one_called(client: openai.OpenAI, model: str) -> None:
    for name in ("get_time", "get_weather"):
        reply = client.chat.completions.create(
            model=model, messages=ASK, tools=[WEATHER, TIME], max_tokens=80, temperature=0,
            tool_choice={"type": "function", "function": {"name": name}})
        (call,) = reply.choices[0].message.tool_calls
        assert call.function.name == name
        tool = WEATHER if name == "get_weather" else TIME
        jsonschema.validate(json.loads(call.function.arguments), _schema(tool))


def test_a_streamed_call_comes_whole_at_the_end(client: openai.OpenAI, model: str) -> None:
    chunks = list(client.chat.completions.create(
        model=model, messages=ASK, tools=[WEATHER, TIME], tool_choice="required",
        max_tokens=80, temperature=0, stream=True, stream_options={"include_usage": True}))
    *answer, last = chunks
    assert last.choices == [] and last.usage is not None
    assert not "".join(c.choices[0].delta.content or "" for c in answer)  # no call as text
    deltas = [d for c in answer for d in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) == 1 and deltas[0].index == 0 and deltas[0].id.startswith("call_")
    assert deltas[0].function.name in ("get_weather", "get_time")
    json.loads(deltas[0].function.arguments)
    assert answer[-1].choices[0].finish_reason == "tool_calls"
    # the same request whole gives the same call (greedy)
    whole = client.chat.completions.create(model=model, messages=ASK, tools=[WEATHER, TIME],
                                           tool_choice="required", max_tokens=80,
                                           temperature=0)
    (call,) = whole.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == (
        deltas[0].function.name, deltas[0].function.arguments)


def test_auto_lets_the_model_answer_in_text_streamed_as_whole(client: openai.OpenAI,
                                                              model: str) -> None:
    messages = [{"role": "user", "content": "Say hello in one short sentence."}]
    # seeded: no cached prefix is reused, so the two answers are the same tokens
    whole = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER],
                                           max_tokens=24, temperature=0, seed=5)
    choice = whole.choices[0]
    assert choice.message.content and not choice.message.tool_calls
    assert choice.finish_reason in ("stop", "length")
    streamed = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER],
                                              max_tokens=24, temperature=0, seed=5,
                                              stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == choice.message.content


def test_the_call_and_its_result_go_back_to_the_model(client: openai.OpenAI,
                                                      model: str) -> None:
    first = client.chat.completions.create(model=model, messages=ASK, tools=[WEATHER],
                                           tool_choice="required", max_tokens=80,
                                           temperature=0)
    message = first.choices[0].message
    (call,) = message.tool_calls
    conversation = [*ASK, message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id,
                     "content": "Sunny, 21 degrees celsius"}]
    reply = client.chat.completions.create(model=model, messages=conversation,
                                           tools=[WEATHER], max_tokens=40, temperature=0)
    assert reply.choices[0].message.content
    # the template showed the call and the result: the prompt grew by both
    assert reply.usage is not None and first.usage is not None
    assert reply.usage.prompt_tokens > first.usage.prompt_tokens + 20


def test_a_template_without_tools_says_so(client: openai.OpenAI, smollm2: Path) -> None:
    with pytest.raises(openai.BadRequestError, match="takes no tools"):
        client.chat.completions.create(model=smollm2.name, messages=ASK, tools=[WEATHER],
                                       max_tokens=8)
    tool_result = [*ASK, {"role": "assistant", "tool_calls": [{
        "id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"}]
    with pytest.raises(openai.BadRequestError, match="takes no tools"):
        client.chat.completions.create(model=smollm2.name, messages=tool_result, max_tokens=8)
    # tool_choice none: no tools are offered, the model answers
    reply = client.chat.completions.create(model=smollm2.name, messages=ASK, tools=[WEATHER],
                                           tool_choice="none", max_tokens=8)
    assert reply.choices[0].message.content and not reply.choices[0].message.tool_calls


@pytest.mark.parametrize(("fields", "says"), [
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]},
     "function.name"),
    ({"tools": [WEATHER, WEATHER]}, "given twice"),
    ({"tools": [{"type": "retrieval"}]}, "'type': 'function'"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "not among the tools"),
    ({"tools": [WEATHER], "tool_choice": "always"}, "tool_choice must be"),
    ({"tool_choice": "required"}, "no tools are given"),
    ({"tools": [WEATHER], "tool_choice": "required",
      "response_format": {"type": "json_object"}}, "cannot be asked for together"),
    ({"functions": [{"name": "f"}]}, "older form"),
])
def test_malformed_tools_are_400s(client: openai.OpenAI, model: str, fields: dict[str, Any],
                                  says: str) -> None:
    with pytest.raises(openai.BadRequestError, match=says):
        client.chat.completions.create(model=model, messages=ASK, max_tokens=8, **fields)


def test_a_tool_message_needs_its_call_id(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError, match="tool_call_id"):
        client.chat.completions.create(model=model, max_tokens=8, messages=[
            *ASK, {"role": "tool", "content": "Sunny"}])


# -- the Anthropic Messages API ------------------------------------------------------------------

GREEDY = {"temperature": 0}  # this SDK has no temperature argument; the API field is taken
ANTHROPIC_WEATHER = {"name": "get_weather", "description": "The current weather in a city",
                     "input_schema": _schema(WEATHER)}


@pytest.fixture
def claude(server: BackgroundServer) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=server.url, api_key="none", max_retries=0)


def test_anthropic_tool_use_whole_and_streamed(claude: Any, model: str) -> None:
    reply = claude.messages.create(model=model, max_tokens=80, messages=ASK, extra_body=GREEDY,
                                   tools=[ANTHROPIC_WEATHER], tool_choice={"type": "any"})
    assert reply.stop_reason == "tool_use"
    (block,) = reply.content
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    assert block.name == "get_weather"
    jsonschema.validate(block.input, _schema(WEATHER))
    with claude.messages.stream(model=model, max_tokens=80, messages=ASK, extra_body=GREEDY,
                                tools=[ANTHROPIC_WEATHER],
                                tool_choice={"type": "tool", "name": "get_weather"}) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    (streamed,) = final.content
    assert (streamed.type, streamed.name, streamed.input) == ("tool_use", block.name,
                                                              block.input)
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    # the result goes back in a tool_result block and the model answers in text
    conversation = [*ASK, {"role": "assistant", "content": [block.model_dump()]},
                    {"role": "user", "content": [{"type": "tool_result",
                                                  "tool_use_id": block.id,
                                                  "content": "Sunny, 21 degrees celsius"}]}]
    answer = claude.messages.create(model=model, max_tokens=30, messages=conversation,
                                    tools=[ANTHROPIC_WEATHER], extra_body=GREEDY)
    assert answer.content and answer.content[0].type == "text" and answer.content[0].text
    assert answer.usage.input_tokens > reply.usage.input_tokens + 20


def test_anthropic_auto_text_streams_as_whole(claude: Any, model: str) -> None:
    messages = [{"role": "user", "content": "Say hello in one short sentence."}]
    # no seed in Anthropic's API: the first answer fills the prompt cache, so that the next two
    # start from the same cached prefix (the same tokens then)
    for _ in range(2):
        whole = claude.messages.create(model=model, max_tokens=24, messages=messages,
                                       tools=[ANTHROPIC_WEATHER], extra_body=GREEDY)
    assert [b.type for b in whole.content] == ["text"] and whole.stop_reason != "tool_use"
    with claude.messages.stream(model=model, max_tokens=24, messages=messages,
                                tools=[ANTHROPIC_WEATHER], extra_body=GREEDY) as stream:
        text = "".join(stream.text_stream)
    assert text == whole.content[0].text


def test_anthropic_server_tools_and_bad_choices_are_400s(claude: Any, model: str) -> None:
    import anthropic

    with pytest.raises(anthropic.BadRequestError, match="server tools"):
        claude.messages.create(model=model, max_tokens=8, messages=ASK, tools=[
            {"type": "web_search_20250305", "name": "web_search"}])
    with pytest.raises(anthropic.BadRequestError, match="not among the tools"):
        claude.messages.create(model=model, max_tokens=8, messages=ASK,
                               tools=[ANTHROPIC_WEATHER],
                               tool_choice={"type": "tool", "name": "nope"})
    with pytest.raises(anthropic.BadRequestError, match="belongs in an assistant"):
        claude.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]}])
