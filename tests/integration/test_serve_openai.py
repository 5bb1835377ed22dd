"""The official openai SDK, unchanged, against ``workbench serve`` on the real SmolLM2 model:
sync and async, streamed (with the usage chunk) and not, JSON-schema output, completions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import openai
import pytest

from tests.helpers.serve import serving
from workbench.server.runner import BackgroundServer

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


@pytest.fixture(scope="module")
def server(smollm2: Path) -> Iterator[BackgroundServer]:
    with serving(smollm2) as running:
        yield running


@pytest.fixture(scope="module")
def model(smollm2: Path) -> str:
    return smollm2.name


@pytest.fixture
def client(server: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


def test_the_model_is_listed_by_its_file_name(client: openai.OpenAI, model: str) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == [model]
    assert client.models.retrieve(model).id == model


def test_a_non_streamed_answer_always_has_usage(client: openai.OpenAI, model: str) -> None:
    reply = client.chat.completions.create(model=model, messages=HELLO, max_tokens=12,
                                           temperature=0)
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 5
    assert 0 < reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.model == model


def test_a_stream_ends_with_a_usage_chunk(client: openai.OpenAI, model: str) -> None:
    chunks = list(client.chat.completions.create(
        model=model, messages=HELLO, max_tokens=10, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    *content, last = chunks
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == 10 or content[-1].choices[0].finish_reason == "stop"
    assert content[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in content)
    assert text.strip()
    assert content[-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.usage is None for c in content)
    # the same answer, not streamed (greedy), is the same text
    again = client.chat.completions.create(model=model, messages=HELLO, max_tokens=10,
                                           temperature=0)
    assert again.choices[0].message.content == text


def test_a_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI,
                                                           model: str) -> None:
    chunks = list(client.chat.completions.create(model=model, messages=HELLO, max_tokens=4,
                                                 stream=True))
    assert all(c.choices for c in chunks)


def test_the_async_client_streams_and_answers(server: BackgroundServer, model: str) -> None:
    async def main() -> tuple[str, int]:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="none",
                                    max_retries=0)
        async with client:
            stream = await client.chat.completions.create(
                model=model, messages=HELLO, max_tokens=8, stream=True,
                stream_options={"include_usage": True})
            parts = []
            usage = 0
            async for chunk in stream:
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
                elif chunk.usage:
                    usage = chunk.usage.completion_tokens
            reply = await client.chat.completions.create(model=model, messages=HELLO,
                                                         max_completion_tokens=4)
            assert reply.usage and reply.usage.completion_tokens <= 4
            return "".join(parts), usage

    text, usage = asyncio.run(main())
    assert text and 0 < usage <= 8


def test_json_schema_output_parses_and_validates(client: openai.OpenAI, model: str) -> None:
    schema = {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120}},
        "required": ["name", "age"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model=model, max_tokens=60, temperature=0,
        messages=[{"role": "user", "content": "Invent a person: their name and age, as JSON."}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "person", "schema": schema, "strict": True}})
    document = json.loads(reply.choices[0].message.content or "")
    jsonschema.validate(document, schema)
    assert reply.choices[0].finish_reason == "stop"


def test_json_object_output_is_an_object(client: openai.OpenAI, model: str) -> None:
    reply = client.chat.completions.create(
        model=model, max_tokens=40, temperature=0, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "A JSON object with one key, colour."}])
    if reply.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_stop_sequences_end_the_answer_before_them(client: openai.OpenAI, model: str) -> None:
    ask = [{"role": "user", "content": "Count from 1 to 20, with commas: 1, 2, 3, ..."}]
    free = client.chat.completions.create(model=model, messages=ask, max_tokens=30,
                                          temperature=0).choices[0].message.content or ""
    assert "," in free  # the model does write commas
    stopped = client.chat.completions.create(model=model, messages=ask, max_tokens=30,
                                             temperature=0, stop=[","])
    text = stopped.choices[0].message.content or ""
    assert "," not in text
    assert text == free[:free.index(",")]
    assert stopped.choices[0].finish_reason == "stop"


def test_a_seed_makes_a_sampled_answer_reproducible(client: openai.OpenAI, model: str) -> None:
    def ask() -> str:
        reply = client.chat.completions.create(model=model, messages=HELLO, max_tokens=12,
                                               temperature=1.0, seed=1234)
        return reply.choices[0].message.content or ""

    assert ask() == ask()


def test_completions_continue_the_prompt(client: openai.OpenAI, model: str) -> None:
    reply = client.completions.create(model=model, prompt="The capital of France is",
                                      max_tokens=5, temperature=0)
    assert reply.choices[0].text
    assert reply.usage and reply.usage.completion_tokens <= 5
    assert reply.usage.prompt_tokens <= 8  # the raw prompt, no chat template around it
    chunks = list(client.completions.create(model=model, prompt="One, two, three,",
                                            max_tokens=4, stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert "".join(c.choices[0].text for c in chunks[:-1])


def test_openai_errors_reach_the_sdk_as_its_exceptions(client: openai.OpenAI,
                                                       model: str) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=HELLO)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.chat.completions.create(model=model, messages=HELLO,
                                       extra_body={"frobnicate": 1})
    assert "frobnicate" in str(unknown.value)
