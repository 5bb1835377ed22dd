"""``POST /v1/embeddings`` with the official openai SDK, unchanged, against ``workbench serve`` on
the real SmolLM2 model: one unit vector per input (base64, the SDK's default, and float), the
model's size, the same vector for the same input, related sentences closer than unrelated ones,
OpenAI's error objects, and chat beside embeddings on the same file without a reload."""

from __future__ import annotations

import base64
import dataclasses
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.helpers.serve import TEST_LOAD, serving
from workbench.server.runner import BackgroundServer

N_EMBD = 576  # SmolLM2-135M's embedding size
TEXTS = ["The cat sat on the mat.", "Paris is the capital of France.",
         "How do I bake bread at home?"]


@pytest.fixture(scope="module")
def server(smollm2: Path) -> Iterator[BackgroundServer]:
    with serving(smollm2, load=dataclasses.replace(TEST_LOAD, threads=1)) as running:
        yield running


@pytest.fixture(scope="module")
def model(smollm2: Path) -> str:
    return smollm2.name


@pytest.fixture
def client(server: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


def _post(server: BackgroundServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + "/v1/embeddings", json=body, timeout=120)


def _dot(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def test_one_unit_vector_per_input_in_order(client: openai.OpenAI, model: str) -> None:
    reply = client.embeddings.create(model=model, input=TEXTS)  # the SDK asks for base64
    assert reply.object == "list" and reply.model == model
    assert [d.index for d in reply.data] == [0, 1, 2]
    assert all(d.object == "embedding" for d in reply.data)
    for item in reply.data:
        assert len(item.embedding) == N_EMBD
        assert abs(_dot(item.embedding, item.embedding) - 1.0) < 1e-5
    assert reply.usage.prompt_tokens > len(TEXTS)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens
    # one input alone is the same vector as in a batch (to float32 rounding of the batching)
    alone = client.embeddings.create(model=model, input=TEXTS[1], encoding_format="float")
    assert len(alone.data) == 1 and alone.data[0].index == 0
    assert max(abs(x - y) for x, y in zip(alone.data[0].embedding, reply.data[1].embedding,
                                          strict=True)) < 1e-5


def test_base64_is_little_endian_float32_of_the_float_vectors(server: BackgroundServer,
                                                               model: str) -> None:
    as_float = _post(server, {"model": model, "input": TEXTS, "encoding_format": "float"})
    as_base64 = _post(server, {"model": model, "input": TEXTS, "encoding_format": "base64"})
    assert as_float.status_code == as_base64.status_code == 200
    floats = [d["embedding"] for d in as_float.json()["data"]]
    for i, item in enumerate(as_base64.json()["data"]):
        raw = base64.b64decode(item["embedding"])
        assert len(raw) == 4 * N_EMBD
        assert list(struct.unpack(f"<{N_EMBD}f", raw)) == floats[i]  # exact: same inputs, same
    body = as_float.json()
    assert body["usage"]["prompt_tokens"] == sum(body["workbench"]["input_tokens"])
    assert body["workbench"]["n_embd"] == N_EMBD


def test_the_same_input_gives_the_same_vector(client: openai.OpenAI, model: str) -> None:
    first = client.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    again = client.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    assert [d.embedding for d in first.data] == [d.embedding for d in again.data]
    same = client.embeddings.create(model=model, input=[TEXTS[0], TEXTS[0]],
                                    encoding_format="float", dimensions=N_EMBD, user="u1")
    # two copies in one batch: the same to float32 rounding (their place in the batch differs)
    assert max(abs(x - y) for x, y in zip(same.data[0].embedding, same.data[1].embedding,
                                          strict=True)) < 1e-6


@pytest.mark.parametrize("texts", [
    ("Paris is the capital of France.", "France's capital city is Paris.",
     "Photosynthesis converts light into energy."),
    ("How do I bake bread at home?", "A simple recipe for homemade bread.",
     "The spacecraft entered orbit around Mars."),
], ids=["paris", "bread"])
def test_related_sentences_are_closer_than_an_unrelated_one(
        client: openai.OpenAI, model: str, texts: tuple[str, str, str]) -> None:
    """Mean-pooled SmolLM2 is no embedding model, but these pairs hold with a wide margin
    (related ~0.93-0.96, unrelated ~0.6-0.7); weaker ones do not, so only these are asserted."""
    a, b, c = (d.embedding for d in client.embeddings.create(model=model, input=list(texts)).data)
    related = _dot(a, b)
    assert related > _dot(a, c) + 0.1 and related > _dot(b, c) + 0.1


@pytest.mark.parametrize(("body", "status", "code", "says"), [
    ({"input": ""}, 400, "invalid_value", "input is an empty string"),
    ({"input": []}, 400, "invalid_value", "input is an empty array"),
    ({"input": ["a", ""]}, 400, "invalid_value", "input[1] is an empty string"),
    ({"input": [1, 2, 3]}, 400, "unsupported_content", "token ids is not supported"),
    ({"input": [[1, 2], [3]]}, 400, "unsupported_content", "token ids is not supported"),
    ({"input": 5}, 400, "invalid_value", "must be a string or an array of strings"),
    ({"input": ["a", {"text": "b"}]}, 400, "invalid_value", "input[1] must be a string"),
    ({"input": ["a"] * 2049}, 400, "invalid_value", "at most 2048"),
    ({}, 400, "missing_required_parameter", "input is required"),
    ({"input": "a", "encoding_format": "int8"}, 400, "invalid_value", "float or base64"),
    ({"input": "a", "dimensions": 64}, 400, "invalid_value", "does not shorten them"),
    ({"input": "a", "dimensions": "576"}, 400, "invalid_value", "an integer"),
    ({"input": "a", "truncate": True}, 400, "unknown_parameter", "unknown field: truncate"),
    ({"input": "a", "workbench": {"n_ctx": 1 << 20}}, 400, "context_length_exceeded",
     "trained for"),
    ({"input": "a", "model": "no-such-model"}, 404, "model_not_found", "does not exist"),
    ({"input": "a", "model": 7}, 400, "invalid_value", "model must be a string"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_bad_request_gets_an_openai_error(server: BackgroundServer, model: str,
                                            body: dict[str, Any], status: int, code: str,
                                            says: str) -> None:
    response = _post(server, {"model": model, **body})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and says in error["message"]
    assert error["type"] == "invalid_request_error"


def test_an_input_longer_than_the_context_is_refused_with_both_lengths(
        client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=model, input=["short", "word " * 2100])
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "context_length_exceeded"
    assert error["param"] == "input"
    message = error["message"]
    assert "input[1] is 2101 tokens" in message and "context is 2048 tokens" in message
    assert "nothing was cut" in message and '"n_ctx"' in message


def test_the_sdk_raises_its_own_errors(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-model", input="a")
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.embeddings.create(model=model, input=[])


def test_chat_and_embeddings_on_one_file_keep_their_own_workers(
        server: BackgroundServer, client: openai.OpenAI, model: str) -> None:
    client.embeddings.create(model=model, input="warm")
    served = server.state.catalog.find(model)
    assert served is not None
    embed_slot = server.state.pool.slot(served, "embeddings")
    pid = embed_slot.engine.pid if embed_slot.engine else None
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hi."}], max_tokens=3)
    assert reply.choices[0].message.content is not None
    client.embeddings.create(model=model, input="again")
    assert embed_slot.engine is not None and embed_slot.engine.pid == pid  # not reloaded
    health = httpx.get(server.url + "/health").json()["models"]
    assert sorted((m["id"], m["purpose"], m["loaded"]) for m in health) == [
        (model, "chat", True), (model, "embeddings", True)]


def test_the_memory_check_counts_what_an_embedding_load_costs(smollm2: Path) -> None:
    """Embedding mode decodes each input whole and keeps every token's logits: for SmolLM2 at
    2048 tokens the planner's 0.9 GiB, against 0.23 GiB for chat, so 512 MiB free is enough for
    chat and not for embeddings."""
    free = 512 << 20
    with serving(smollm2, load=dataclasses.replace(TEST_LOAD, threads=1),
                 memory=lambda: (free, 64 << 30)) as running:
        response = _post(running, {"model": smollm2.name, "input": "a"})
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "10"
        error = response.json()["error"]
        assert error["code"] == "insufficient_memory"
        assert f"{smollm2.name} for embeddings with a context of 2048 tokens" in error["message"]
        chat = httpx.post(running.url + "/v1/chat/completions", timeout=120, json={
            "model": smollm2.name, "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 1})
        assert chat.status_code == 200, chat.text
