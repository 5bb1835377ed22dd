"""Structured output (``Params.json_schema``) through every kind of target: the real SmolLM2 on
llama.cpp samples through the grammar built from the schema (its JSON validates, and the answer
ends where the JSON does), an OpenAI-compatible server receives a strict ``response_format``,
Anthropic a forced tool call whose streamed input is the answer text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tests.fakes import anthropic_sse, openai_faults
from tests.fakes.http_base import Exchange
from tests.helpers.llama_server import llama_server
from workbench.engine.settings import LoadSettings, Sampling
from workbench.errors import BadInput
from workbench.providers.anthropic_target import AnthropicTarget
from workbench.providers.base import Params
from workbench.providers.local import LocalTarget, sampling_from
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.providers.registry import build_target
from workbench.providers.retry import RetryPolicy
from workbench.store.secrets import Secret

pytestmark = pytest.mark.usefixtures("home")

# Strings and arrays are bounded, so that every JSON closes within the token budget.
PERSON = {
    "title": "person", "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 40},
                   "age": {"type": "integer"},
                   "languages": {"type": "array", "items": {"type": "string", "maxLength": 20},
                                 "maxItems": 3}},
    "required": ["name", "age", "languages"], "additionalProperties": False}
VERDICT = {
    "title": "verdict", "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 60}, "pass": {"type": "boolean"}},
    "required": ["reason", "pass"], "additionalProperties": False}
SENTIMENT = {"type": "object", "properties": {
    "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]}},
    "required": ["sentiment"], "additionalProperties": False}
PROMPTS = [
    ("Describe Ada Lovelace as JSON: her name, age and languages.", PERSON),
    ("Tell me a story about a dragon.", PERSON),  # nothing to do with the schema: JSON anyway
    ("Is the sky green? Answer with a verdict.", VERDICT),
    ("Write Python code that prints hello.", VERDICT),
    ("What is the sentiment of: 'I love this phone, it is great!'", SENTIMENT),
]
MAX_TOKENS = 96
FAST = RetryPolicy(max_retries=0, initial_delay_s=0.05, max_delay_s=0.1, max_retry_after_s=1)


@pytest.fixture(scope="module")
def smol(smollm2: Path) -> Iterator[LocalTarget]:
    target = build_target(f"local:{smollm2}",
                          load=LoadSettings(str(smollm2), n_ctx=2048, repack=False))
    assert isinstance(target, LocalTarget)
    yield target
    target.close()


def test_params_carry_a_schema_through_their_dict_and_to_the_worker() -> None:
    params = Params(max_tokens=8, json_schema=PERSON)
    assert Params.from_dict(params.to_dict()) == params
    assert Params.from_dict(json.loads(json.dumps(params.to_dict()))) == params
    hash(params)  # still hashable: the schema is left out of the hash
    assert Params.from_dict(Params().to_dict()).json_schema is None
    with pytest.raises(BadInput, match="JSON Schema object"):
        Params(json_schema=["not", "a", "schema"])  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="not JSON"):
        Params(json_schema={"bad": object()})
    sampling = sampling_from(params)
    # the worker gets the schema as JSON text, its keys in their order (the JSON's order)
    assert sampling.json_schema is not None and list(json.loads(sampling.json_schema)) == list(
        PERSON)
    assert Sampling.from_dict(sampling.to_dict()) == sampling
    assert sampling_from(Params()).json_schema is None
    with pytest.raises(BadInput, match="JSON Schema object"):
        Sampling(json_schema="[1, 2]")
    with pytest.raises(BadInput, match="not JSON"):
        Sampling(json_schema="{oops")


@pytest.mark.parametrize(("prompt", "schema"), PROMPTS, ids=[p[:24] for p, _ in PROMPTS])
def test_smollm2_answers_json_that_follows_the_schema(smol: LocalTarget, prompt: str,
                                                      schema: dict) -> None:
    messages = [{"role": "user", "content": prompt}]
    result = smol.stream(messages, Params(max_tokens=MAX_TOKENS, temperature=0.0,
                                          json_schema=schema))
    assert result.ok, result.error
    data = json.loads(result.text, strict=False)  # a grammar's strings may hold raw newlines
    jsonschema.validate(data, schema)
    # the grammar ends the answer with the JSON: at most one space after it, then the end of
    # generation (llama.cpp's counters agree: fewer tokens than the budget)
    assert result.finish_reason == "stop"
    assert result.completion_tokens is not None and result.completion_tokens < MAX_TOKENS
    assert result.text.lstrip()[0] == "{" and result.text.rstrip().endswith("}")
    assert len(result.text) - len(result.text.rstrip()) <= 1


def test_without_a_schema_the_same_model_writes_prose(smol: LocalTarget) -> None:
    """The JSON above is the grammar's doing, not the model's habit."""
    result = smol.stream([{"role": "user", "content": PROMPTS[1][0]}],
                         Params(max_tokens=24, temperature=0.0))
    assert result.ok, result.error
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.text)


def test_a_schema_llama_cpp_cannot_use_is_a_clear_error(smol: LocalTarget) -> None:
    result = smol.stream([{"role": "user", "content": "Hi"}],
                         Params(max_tokens=8, json_schema={"type": "no-such-type"}))
    assert not result.ok
    assert "JSON schema cannot be turned into a grammar" in result.error
    assert "no-such-type" in result.error
    # a schema the converter takes but whose grammar llama.cpp's parser refuses (too deep)
    huge = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 3000}}}
    refused = smol.stream([{"role": "user", "content": "Hi"}],
                          Params(max_tokens=8, json_schema=huge))
    assert not refused.ok and "llama.cpp cannot parse the grammar" in refused.error
    # the worker survived it: the next answer comes from the same loaded model
    again = smol.stream([{"role": "user", "content": "Hi"}], Params(max_tokens=4))
    assert again.ok and again.load_ms is None


def test_openai_compatible_targets_send_a_strict_response_format() -> None:
    pieces = ('{"reason": "blue', ' sky", "pass"', ": false}")
    with openai_faults.server() as server:
        server.script(openai_faults.ok(pieces))
        target = OpenAICompatTarget(spec="openai:gpt-test", model="gpt-test",
                                    base_url=server.url + "/v1", api_key=Secret("sk-test-1"),
                                    timeout_s=3.0, retry=FAST)
        result = target.stream([{"role": "user", "content": "Is the sky green?"}],
                               Params(max_tokens=50, temperature=0.0, json_schema=VERDICT))
        plain = target.stream([{"role": "user", "content": "Hi"}], Params(max_tokens=5))
        target.close()
        bodies = [r.body for r in server.requests]
    assert result.ok, result.error
    assert bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": VERDICT, "strict": True}}
    assert json.loads(result.text) == {"reason": "blue sky", "pass": False}
    assert "response_format" not in bodies[1] and plain.ok


def _reject_json_schema(exchange: Exchange) -> None:
    """What an endpoint that knows only the older form says to a json_schema format."""
    if ((exchange.request.body or {}).get("response_format") or {}).get("type") == "json_schema":
        exchange.send_json(400, {"error": {"message": "response_format.type: input should be "
                                           "'text' or 'json_object'", "type": "invalid_request"}})
    else:
        openai_faults.ok(('{"reason": "no", ', '"pass": false}'))(exchange)


def test_an_endpoint_without_json_schema_is_asked_with_json_object() -> None:
    with openai_faults.server(_reject_json_schema) as server:
        target = OpenAICompatTarget(spec="profile:x/m", model="m", base_url=server.url + "/v1",
                                    timeout_s=3.0, retry=FAST)
        params = Params(max_tokens=50, json_schema=VERDICT)
        first = target.stream([{"role": "user", "content": "Green sky?"}], params)
        second = target.stream([{"role": "user", "content": "Green sky?"}], params)
        target.close()
        formats = [r.body["response_format"] for r in server.requests]
    assert first.ok and json.loads(first.text) == {"reason": "no", "pass": False}
    assert any("json_object" in note for note in first.notes)
    assert formats[0]["type"] == "json_schema"
    assert formats[1] == {"type": "json_object", "schema": VERDICT}
    assert second.ok and formats[2]["type"] == "json_schema"  # each answer tries the new form


def test_llama_cpp_pythons_server_answers_through_the_schema(smollm2: Path) -> None:
    """A real OpenAI-compatible server that takes only the older form: its grammar makes the
    JSON."""
    with llama_server(smollm2, alias="smol", n_ctx=1024) as base:
        target = OpenAICompatTarget(spec="profile:llama/smol", model="smol", base_url=base,
                                    timeout_s=60.0, retry=FAST)
        result = target.stream([{"role": "user", "content": PROMPTS[2][0]}],
                               Params(max_tokens=MAX_TOKENS, temperature=0.0,
                                      json_schema=VERDICT))
        target.close()
    assert result.ok, result.error
    jsonschema.validate(json.loads(result.text, strict=False), VERDICT)
    assert result.finish_reason == "stop"
    assert any("json_object" in note for note in result.notes)


def test_anthropic_gets_a_forced_tool_and_its_input_is_the_answer() -> None:
    with anthropic_sse.server() as server:
        server.script(anthropic_sse.tool_use())
        target = AnthropicTarget(spec="anthropic:claude-test", model="claude-test",
                                 base_url=server.url, api_key=Secret("sk-ant-test-1"),
                                 timeout_s=3.0, retry=FAST)
        deltas: list[str] = []
        result = target.stream([{"role": "system", "content": "Judge."},
                                {"role": "user", "content": "Paris?"}],
                               Params(max_tokens=50, json_schema=VERDICT),
                               on_delta=lambda text, _n: deltas.append(text))
        not_object = target.stream([{"role": "user", "content": "Hi"}],
                                   Params(max_tokens=5, json_schema={"type": "string"}))
        plain = target.stream([{"role": "user", "content": "Hi"}], Params(max_tokens=5))
        target.close()
        bodies = [r.body for r in server.requests]
    assert result.ok, result.error
    body = bodies[0]
    assert body["tool_choice"] == {"type": "tool", "name": "verdict"}
    assert [(t["name"], t["input_schema"]) for t in body["tools"]] == [("verdict", VERDICT)]
    # the streamed input_json_delta pieces, assembled, are the answer
    assert result.text == "".join(anthropic_sse.TOOL_PIECES) == "".join(deltas)
    assert json.loads(result.text) == {"reason": "the answer names Paris", "pass": True,
                                       "score": 1}
    assert result.finish_reason == "stop"  # the forced call's tool_use stop
    assert result.completion_tokens == len(anthropic_sse.TOOL_PIECES)
    # a schema a tool cannot take is refused before anything is sent
    assert not_object.error_kind == "bad_request" and "object schema" in not_object.error
    assert len(bodies) == 2 and "tools" not in bodies[1] and plain.ok
    # a plain answer from the fake is still text (the fake's existing behaviour)
    assert plain.text == "".join(anthropic_sse.PIECES)
