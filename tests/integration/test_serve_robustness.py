"""``workbench serve`` under abuse, on the real SmolLM2 model and real HTTP: hostile bodies get
each API's error object and the server carries on; a prompt longer than the context is refused
(never cut) and a longer context can be asked for; memory the planner says is missing refuses the
load; a full queue is a 429 with Retry-After; concurrent streams all finish; a client that
leaves frees the model at once; a killed model process fails only its request; the API key and
CORS; the command itself (banner, Ctrl-C, a bad --host)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil
import pytest

from tests.helpers.serve import TEST_LOAD, serving
from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput
from workbench.present.numbers import format_bytes
from workbench.server.config import ServerConfig
from workbench.server.models import Job, ModelSlot
from workbench.server.runner import BackgroundServer

REPO_ROOT = Path(__file__).resolve().parents[2]
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
# SmolLM2 answers this greedily with all 1500 tokens asked for (seconds of work on two cores)
ESSAY = [{"role": "user", "content": "Write a very long, detailed essay on the history of the "
          "Roman Empire, at least 3000 words."}]
LONG = {"messages": ESSAY, "max_tokens": 1500, "temperature": 0}
KEY = "robustness-key-1234"
# One llama.cpp thread: on a shared two-core machine, two threads slow to a crawl whenever
# another process takes a core (each waits for the other at every step); one runs steadily.
LOAD = dataclasses.replace(TEST_LOAD, threads=1)


def serve(model: Path, **options: Any) -> contextlib.AbstractContextManager[BackgroundServer]:
    """``serving`` with LOAD unless ``load`` is given."""
    return serving(model, **{"load": LOAD, **options})


# -- servers (module-scoped: a server costs nothing until a request loads its model) ----------

@pytest.fixture(scope="module")
def model(smollm2: Path) -> str:
    return smollm2.name


@pytest.fixture(scope="module")
def server(smollm2: Path) -> Iterator[BackgroundServer]:
    with serve(smollm2) as running:
        yield running


def _client(server: BackgroundServer, key: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=120)


def _slot(server: BackgroundServer) -> ModelSlot:
    slots = server.state.pool.slots()
    assert len(slots) == 1
    return slots[0]


def _wait_until(condition: Callable[[], object], timeout: float, what: str) -> float:
    """Seconds it took ``condition`` to become true; fails the test after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


def _answers(server: BackgroundServer, model: str) -> None:
    """The server is up and answers a normal request."""
    reply = httpx.post(server.url + "/v1/chat/completions", timeout=120, json={
        "model": model, "messages": HELLO, "max_tokens": 2})
    assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["completion_tokens"] >= 1


def _openai_error(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    return error


def _anthropic_error(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"type", "error"} and body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["message"]
    return body["error"]


# -- 1. hostile requests -----------------------------------------------------------------------

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
M = "{model}"  # replaced by the served model's id
OK_CHAT = {"model": M, "messages": HELLO}
OK_MESSAGES = {"model": M, "messages": HELLO, "max_tokens": 4}

# (path, body: bytes sent as is, or a JSON value, status, code (OpenAI), param, words the
# message must hold)
HOSTILE: dict[str, tuple[str, Any, int, str | None, str | None, tuple[str, ...]]] = {
    "invalid JSON": (CHAT, b'{"model": "x", "messages": [', 400, "invalid_json", None,
                     ("not valid JSON",)),
    "empty body": (CHAT, b"", 400, "invalid_json", None, ("no body",)),
    "a JSON array": (CHAT, [OK_CHAT], 400, "invalid_json", None, ("JSON object", "array")),
    "a JSON string": (CHAT, "hello", 400, "invalid_json", None, ("JSON object", "string")),
    "NaN": (CHAT, b'{"model": "x", "temperature": NaN}', 400, "invalid_json", None, ("NaN",)),
    "nested 100000 deep": (CHAT, b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json", None,
                           ("not valid JSON",)),
    "non-UTF-8 bytes": (CHAT, b'{"model": "\xff\xfe\xc3", "messages": []}', 400, "invalid_json",
                        None, ("not valid JSON",)),
    "negative max_tokens": (CHAT, {**OK_CHAT, "max_tokens": -5}, 400, "invalid_value",
                            "max_tokens", ("max_tokens", "-5")),
    "zero max_tokens": (CHAT, {**OK_CHAT, "max_tokens": 0}, 400, "invalid_value", "max_tokens",
                        ("max_tokens",)),
    "huge max_tokens": (CHAT, {**OK_CHAT, "max_tokens": 10 ** 30}, 400, "invalid_value",
                        "max_tokens", ("max_tokens", str(10 ** 30))),
    "max_tokens a string": (CHAT, {**OK_CHAT, "max_tokens": "100"}, 400, "invalid_value",
                            "max_tokens", ("an integer", "a string")),
    "an unknown field": (CHAT, {**OK_CHAT, "frobnicate": True}, 400, "unknown_parameter",
                         "frobnicate", ("frobnicate",)),
    "an unknown message field": (CHAT, {**OK_CHAT, "messages": [
        {"role": "user", "content": "hi", "mood": "grumpy"}]}, 400, "unknown_parameter",
        "messages[0].mood", ("messages[0].mood",)),
    "a bad role": (CHAT, {**OK_CHAT, "messages": [{"role": "wizard", "content": "hi"}]}, 400,
                   "invalid_value", "messages[0].role", ("wizard",)),
    "a role that is a number": (CHAT, {**OK_CHAT, "messages": [{"role": 7, "content": "hi"}]},
                                400, "invalid_value", "messages[0].role", ("a string",)),
    "no messages": (CHAT, {"model": M}, 400, "missing_required_parameter", "messages",
                    ("messages",)),
    "a message that is a string": (CHAT, {**OK_CHAT, "messages": ["hi"]}, 400, "invalid_value",
                                   "messages[0]", ("must be an object",)),
    "missing model": (CHAT, {"messages": HELLO}, 400, "missing_required_parameter", "model",
                      ("model is required",)),
    "an unknown model": (CHAT, {**OK_CHAT, "model": "gpt-imaginary"}, 404, "model_not_found",
                         "model", ("gpt-imaginary", "does not exist")),
    "the completions endpoint, no prompt": ("/v1/completions", {"model": M}, 400,
                                            "missing_required_parameter", "prompt",
                                            ("prompt",)),
    # JSON may escape half of a UTF-16 pair; it is no character (and could not be encoded for
    # the model, or for an error quoting it)
    "a lone surrogate in the text": (CHAT, b'{"model": "{model}", "messages": [{"role": "user", '
                                     b'"content": "hi \\ud800 there"}]}', 400, "invalid_value",
                                     "messages[0].content", ("lone UTF-16 surrogate",)),
    "a lone surrogate in the model": (CHAT, b'{"model": "x\\udfff", "messages": []}', 400,
                                      "invalid_value", "model", ("lone UTF-16 surrogate",)),
    "a lone surrogate in a field name": (CHAT, b'{"model": "{model}", "messages": [], '
                                         b'"\\udc80x": 1}', 400, "invalid_value", None,
                                         ("a field name in the body",)),
    "a context too short": (CHAT, {**OK_CHAT, "workbench": {"n_ctx": 10}}, 400,
                            "invalid_value", "workbench.n_ctx", ("between 64 and", "not 10")),
    "an unknown workbench field": (CHAT, {**OK_CHAT, "workbench": {"turbo": True}}, 400,
                                   "unknown_parameter", "workbench.turbo", ("workbench.turbo",)),
}

HOSTILE_ANTHROPIC: dict[str, tuple[Any, int, str, tuple[str, ...]]] = {
    "invalid JSON": (b"{not json", 400, "invalid_request_error", ("not valid JSON",)),
    "a JSON array": ([OK_MESSAGES], 400, "invalid_request_error", ("JSON object",)),
    "non-UTF-8 bytes": (b'{"model": "\xff"}', 400, "invalid_request_error",
                        ("not valid JSON",)),
    "negative max_tokens": ({**OK_MESSAGES, "max_tokens": -1}, 400, "invalid_request_error",
                            ("max_tokens", "-1")),
    "huge max_tokens": ({**OK_MESSAGES, "max_tokens": 10 ** 30}, 400, "invalid_request_error",
                        ("max_tokens",)),
    "an unknown field": ({**OK_MESSAGES, "frobnicate": 1}, 400, "invalid_request_error",
                         ("frobnicate",)),
    "a bad role": ({**OK_MESSAGES, "messages": [{"role": "wizard", "content": "hi"}]}, 400,
                   "invalid_request_error", ("wizard",)),
    "missing model": ({"messages": HELLO, "max_tokens": 4}, 400, "invalid_request_error",
                      ("model is required",)),
    "an unknown model": ({**OK_MESSAGES, "model": "claude-imaginary"}, 404, "not_found_error",
                         ("claude-imaginary",)),
    "a lone surrogate": (b'{"model": "{model}", "max_tokens": 4, "messages": [{"role": "user", '
                         b'"content": "\\ud83d"}]}', 400, "invalid_request_error",
                         ("messages[0].content", "lone UTF-16 surrogate")),
}


def _body(value: Any, model: str) -> bytes:
    if isinstance(value, bytes):
        return value.replace(M.encode(), model.encode())
    return json.dumps(value).replace(json.dumps(M), json.dumps(model)).encode()


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_openai_request_gets_an_error_object_and_the_server_carries_on(
        server: BackgroundServer, model: str, case: str) -> None:
    path, value, status, code, param, words = HOSTILE[case]
    reply = httpx.post(server.url + path, content=_body(value, model), timeout=60,
                       headers={"content-type": "application/json"})
    error = _openai_error(reply, status)
    assert error["code"] == code
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    for word in words:
        assert word in error["message"], error["message"]
    _answers(server, model)


@pytest.mark.parametrize("case", list(HOSTILE_ANTHROPIC))
def test_a_hostile_anthropic_request_gets_anthropics_error_and_the_server_carries_on(
        server: BackgroundServer, model: str, case: str) -> None:
    value, status, kind, words = HOSTILE_ANTHROPIC[case]
    reply = httpx.post(server.url + MESSAGES, content=_body(value, model), timeout=60,
                       headers={"content-type": "application/json"})
    error = _anthropic_error(reply, status)
    assert error["type"] == kind
    for word in words:
        assert word in error["message"], error["message"]
    _answers(server, model)


def test_an_escaped_surrogate_pair_is_text(server: BackgroundServer, model: str) -> None:
    body = (b'{"model": "{model}", "max_tokens": 2, "messages": [{"role": "user", "content": '
            b'"Describe \\ud83d\\ude00 in a word."}]}')  # an emoji, as ASCII-only JSON
    reply = httpx.post(server.url + CHAT, content=_body(body, model), timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["prompt_tokens"] > 5


def _big_body(size: int) -> Iterator[bytes]:
    yield b'{"model": "x", "messages": [{"role": "user", "content": "'
    piece = b"a" * 65536
    for _ in range(size // len(piece)):
        yield piece
    yield b'"}]}'


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_10_mb_body_is_413(server: BackgroundServer, model: str, path: str,
                             declared: bool) -> None:
    size = 10 * 1024 * 1024
    body: bytes | Iterator[bytes] = b"".join(_big_body(size)) if declared else _big_body(size)
    reply = httpx.post(server.url + path, content=body, timeout=60,
                       headers={"content-type": "application/json"})
    limit = str(server.state.config.max_body_bytes)
    if path == MESSAGES:
        error = _anthropic_error(reply, 413)
        assert error["type"] == "request_too_large"
    else:
        error = _openai_error(reply, 413)
        assert error["code"] == "body_too_large"
    assert limit in error["message"]
    _answers(server, model)


def test_wrong_methods_and_paths_get_error_objects(server: BackgroundServer,
                                                   model: str) -> None:
    error = _openai_error(httpx.get(server.url + CHAT), 405)
    assert "GET" in error["message"] and CHAT in error["message"]
    error = _openai_error(httpx.delete(server.url + "/v1/models"), 405)
    assert "DELETE" in error["message"]
    anthropic_error = _anthropic_error(httpx.get(server.url + MESSAGES), 405)
    assert "GET" in anthropic_error["message"]
    error = _openai_error(httpx.post(server.url + "/v1/nothing-here", json={}), 404)
    assert error["code"] == "not_found" and "/v1/nothing-here" in error["message"]
    error = _openai_error(httpx.get(server.url + "/v1/models/no-such-model"), 404)
    assert error["code"] == "model_not_found"
    _answers(server, model)


# -- 2. context and memory ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_server(smollm2: Path) -> Iterator[BackgroundServer]:
    with serve(smollm2, load=dataclasses.replace(LOAD, n_ctx=256)) as running:
        yield running


FITS = [{"role": "user", "content": "Write a long essay about this. " + "The quick brown fox "
         "jumps over the lazy dog. " * 15}]
LONG_PROMPT = [{"role": "user", "content": "Summarise this. " + "The quick brown fox jumps "
                "over the lazy dog. " * 40}]


def test_a_prompt_longer_than_the_context_is_refused_never_cut(short_server: BackgroundServer,
                                                               model: str) -> None:
    client = _client(short_server)
    # a prompt that fits: the context ends the answer (long before max_tokens), not an error
    fits = client.chat.completions.create(model=model, max_tokens=1000, temperature=0,
                                          messages=FITS)
    assert fits.usage is not None and fits.usage.total_tokens == 256
    assert fits.usage.prompt_tokens > 150  # a short answer to wait for
    assert fits.choices[0].finish_reason == "length"
    # streamed or not, a prompt that does not fit is a 400 before anything is streamed
    with pytest.raises(openai.BadRequestError) as streamed:
        client.chat.completions.create(model=model, messages=LONG_PROMPT, max_tokens=4,
                                       stream=True)
    assert streamed.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=model, messages=LONG_PROMPT, max_tokens=4)
    assert refused.value.code == "context_length_exceeded"
    assert refused.value.param == "messages"
    message = str(refused.value)
    found = re.search(r"the prompt is (\d+) tokens and the model's context is (\d+) tokens",
                      message)
    assert found, message
    prompt_tokens, context = int(found.group(1)), int(found.group(2))
    assert context == 256 and prompt_tokens > 256
    assert "nothing was cut" in message and "8192" in message  # how far it may go
    # the same refusal in Anthropic's shape
    reply = httpx.post(short_server.url + MESSAGES, timeout=60, json={
        "model": model, "messages": LONG_PROMPT, "max_tokens": 4})
    error = _anthropic_error(reply, 400)
    assert f"the prompt is {prompt_tokens} tokens" in error["message"]

    # asking for a longer context reloads the model with it, and the whole prompt is read
    reply_ok = client.chat.completions.create(
        model=model, messages=LONG_PROMPT, max_tokens=4, extra_body={"workbench": {"n_ctx": 2048}})
    assert reply_ok.usage is not None
    assert reply_ok.usage.prompt_tokens == prompt_tokens  # not a token cut
    assert reply_ok.choices[0].message.content
    assert _slot(short_server).state().n_ctx == 2048
    health = httpx.get(short_server.url + "/health").json()
    assert health["models"][0]["n_ctx"] == 2048 and health["models"][0]["loaded"]

    # beyond what the model was trained for: refused before any load
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model=model, messages=HELLO, max_tokens=4,
                                       extra_body={"workbench": {"n_ctx": 8193}})
    assert too_long.value.code == "context_length_exceeded"
    assert too_long.value.param == "workbench.n_ctx"
    assert "8193" in str(too_long.value) and "8192" in str(too_long.value)
    assert _slot(short_server).state().n_ctx == 2048  # the loaded model is left alone


def _planned(server: BackgroundServer) -> int:
    model = server.state.catalog.models()[0]
    settings = LoadSettings(model_path=model.path, n_ctx=2048, repack=False)
    needed = server.state.pool.plan_bytes(model, settings)
    assert needed > 50 * 1024 * 1024  # the planner does plan this model
    return needed


def test_a_machine_too_small_for_the_model_is_a_400_with_the_figures(smollm2: Path,
                                                                     model: str) -> None:
    total = 16 * 1024 * 1024
    with serve(smollm2, memory=lambda: (total, total)) as small:
        needed = _planned(small)
        reply = httpx.post(small.url + CHAT, timeout=60, json={**OK_CHAT, "model": model,
                                                               "max_tokens": 2})
        error = _openai_error(reply, 400)
        assert error["code"] == "model_too_large"
        assert format_bytes(needed) in error["message"]
        assert format_bytes(total) in error["message"]
        assert "2048 tokens" in error["message"]
        slot = _slot(small)
        assert slot.engine is None  # no model process was even started
        reply = httpx.post(small.url + MESSAGES, timeout=60, json={**OK_MESSAGES,
                                                                   "model": model})
        assert _anthropic_error(reply, 400)["type"] == "invalid_request_error"


def test_too_little_free_memory_is_a_503_with_retry_after(smollm2: Path, model: str) -> None:
    free = 8 * 1024 * 1024
    with serve(smollm2, memory=lambda: (free, 64 * 1024 ** 3)) as busy:
        needed = _planned(busy)
        reply = httpx.post(busy.url + CHAT, timeout=60, json={**OK_CHAT, "model": model,
                                                              "max_tokens": 2})
        error = _openai_error(reply, 503)
        assert error["code"] == "insufficient_memory"
        assert int(reply.headers["retry-after"]) > 0
        assert format_bytes(needed) in error["message"]
        assert f"{format_bytes(free)} is free" in error["message"]
        assert _slot(busy).engine is None
        reply = httpx.post(busy.url + MESSAGES, timeout=60, json={**OK_MESSAGES,
                                                                  "model": model})
        assert _anthropic_error(reply, 503)["type"] == "overloaded_error"
        assert "retry-after" in reply.headers


# -- 3. the queue ------------------------------------------------------------------------------

class Streamer(threading.Thread):
    """A streaming chat request in a thread (the openai SDK): reads ``stop_after`` chunks (all:
    None), or until ``leave`` is set, then closes the connection."""

    def __init__(self, server: BackgroundServer, model: str, stop_after: int | None = None,
                 **request: Any) -> None:
        super().__init__(daemon=True)
        self.client = _client(server)
        self.model = model
        self.stop_after = stop_after
        self.request = request
        self.chunks: list[Any] = []
        self.error: BaseException | None = None
        self.started_answering = threading.Event()
        self.leave = threading.Event()

    def run(self) -> None:
        try:
            stream = self.client.chat.completions.create(model=self.model, stream=True,
                                                         **self.request)
            with stream:
                for chunk in stream:
                    self.chunks.append(chunk)
                    self.started_answering.set()
                    if self.leave.is_set() or (self.stop_after is not None
                                               and len(self.chunks) >= self.stop_after):
                        break
        except BaseException as err:
            self.error = err
        finally:
            self.client.close()

    def text(self) -> str:
        return "".join(c.choices[0].delta.content or "" for c in self.chunks if c.choices)


def test_a_full_queue_is_429_with_retry_after(smollm2: Path, model: str) -> None:
    with serve(smollm2, max_queue=1) as small_queue:
        first = Streamer(small_queue, model, **LONG)  # open until the third one is refused
        first.start()
        assert first.started_answering.wait(120), first.error
        second = Streamer(small_queue, model, stop_after=3, **LONG)
        second.start()
        slot = _slot(small_queue)
        _wait_until(lambda: slot.outstanding == 2, 30, "the second request queued")
        with pytest.raises(openai.RateLimitError) as refused:
            _client(small_queue).chat.completions.create(model=model, stream=True, **LONG)
        headers = refused.value.response.headers
        assert int(headers["retry-after"]) >= 1
        assert refused.value.code == "queue_full"
        assert "the queue holds 1" in str(refused.value)
        assert slot.state().waiting == 1 and slot.state().busy
        # the first one leaves: the second is answered, then the queue takes requests again
        first.leave.set()
        second.join(120)
        assert second.error is None and second.text()
        first.join(30)
        _answers(small_queue, model)


# -- 4. concurrent streams ---------------------------------------------------------------------

def test_eight_concurrent_streams_all_finish_with_usage(server: BackgroundServer,
                                                        model: str) -> None:
    _answers(server, model)  # loaded: the streams queue for the model, not for its load
    clients = [Streamer(server, model, messages=HELLO, max_tokens=8, temperature=0,
                        stream_options={"include_usage": True}) for _ in range(8)]
    for client in clients:
        client.start()
    peak = 0
    while any(c.is_alive() for c in clients):
        peak = max(peak, _slot(server).outstanding)
        time.sleep(0.005)
    for client in clients:
        client.join()
    assert peak >= 2  # they were in the queue together
    texts = set()
    for client in clients:
        assert client.error is None, client.error
        *content, last = client.chunks
        assert last.choices == [] and last.usage is not None
        assert 0 < last.usage.completion_tokens <= 8
        assert content[-1].choices[0].finish_reason in ("stop", "length")
        texts.add(client.text())
    assert len(texts) == 1 and texts != {""}  # greedy: every client got the same answer
    assert not _slot(server).state().busy and _slot(server).state().waiting == 0


# -- 5. a client that leaves -------------------------------------------------------------------

def test_a_client_that_leaves_mid_stream_frees_the_model_at_once(server: BackgroundServer,
                                                                 model: str) -> None:
    _answers(server, model)
    slot = _slot(server)
    body = {"model": model, "stream": True, **LONG}
    with httpx.stream("POST", server.url + CHAT, json=body, timeout=120) as reply:
        assert reply.status_code == 200
        chunks = []
        for line in reply.iter_lines():
            if line.startswith("data: {"):
                chunks.append(line)
                if len(chunks) >= 5:
                    break
        assert slot.state().busy
    left = time.monotonic()  # the connection is closed here
    freed = _wait_until(lambda: not slot.state().busy, 10, "the model freed")
    health = httpx.get(server.url + "/health").json()["models"][0]
    assert health["busy"] is False and health["waiting"] == 0
    stream = _client(server).chat.completions.create(model=model, messages=HELLO,
                                                     max_tokens=4, stream=True)
    with stream:
        first = next(iter(stream))
    answering = time.monotonic() - left
    assert first.choices[0].delta.role == "assistant"
    # the abandoned answer had well over a thousand tokens to go (seconds of work)
    assert freed < 2.0, f"the model went on for {freed:.1f} s after its client left"
    assert answering < 3.0, f"a new request waited {answering:.1f} s"


def test_a_client_that_leaves_a_whole_answer_frees_the_model_at_once(
        server: BackgroundServer, model: str) -> None:
    _answers(server, model)
    slot = _slot(server)
    with pytest.raises(httpx.ReadTimeout):  # the client gives up waiting for the whole answer
        httpx.post(server.url + CHAT, json={"model": model, **LONG},
                   timeout=httpx.Timeout(60, read=1.5))
    freed = _wait_until(lambda: not slot.state().busy, 10, "the model freed")
    assert freed < 2.0, f"the model went on for {freed:.1f} s after its client left"
    _wait_until(lambda: any(r.status == 499 for r in server.state.recent), 5,
                "the request recorded")
    left = [r for r in server.state.recent if r.status == 499][-1]
    assert left.path == CHAT and left.completion_tokens is None  # it was never finished
    _answers(server, model)


def _post_and_leave_open(server: BackgroundServer, body: dict[str, Any]) -> socket.socket:
    """A request sent on a raw connection (closing it is the client leaving)."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data)
                 + data)
    return sock


def test_a_client_that_leaves_the_queue_frees_its_place(smollm2: Path, model: str) -> None:
    with serve(smollm2, max_queue=1) as small_queue:
        first = Streamer(small_queue, model, **LONG)
        first.start()
        assert first.started_answering.wait(120), first.error
        slot = _slot(small_queue)
        try:
            waiting = _post_and_leave_open(small_queue, {"model": model, "stream": True, **LONG})
            _wait_until(lambda: slot.outstanding == 2, 30, "the second request queued")
            waiting.close()  # it leaves while it waits
            time.sleep(0.5)  # the server sees the connection closed
            assert slot.state().waiting == 0
            # its place is free: a new request is admitted (not a 429), waits its turn, and is
            # answered once the first one is done
            third = Streamer(small_queue, model, messages=HELLO, max_tokens=2)
            third.start()
            _wait_until(lambda: slot.outstanding == 2 or third.error is not None, 30,
                        "the third request queued")
            assert third.error is None
            first.leave.set()
            third.join(120)
            assert third.error is None and third.started_answering.is_set()
        finally:
            first.leave.set()
            first.join(60)


# -- 6. the model process killed ---------------------------------------------------------------

@pytest.fixture(scope="module")
def crash_server(smollm2: Path) -> Iterator[BackgroundServer]:
    with serve(smollm2) as running:
        yield running


def _kill_worker(server: BackgroundServer) -> int:
    engine = _slot(server).engine
    assert engine is not None and engine.pid is not None and engine.alive
    pid = engine.pid
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_killed_model_process_ends_the_stream_with_an_error_and_restarts(
        crash_server: BackgroundServer, model: str) -> None:
    _answers(crash_server, model)
    stream = _client(crash_server).chat.completions.create(model=model, stream=True, **LONG)
    received = []
    killed = None
    with pytest.raises(openai.APIError) as crashed, stream:
        for chunk in stream:
            received.append(chunk)
            if len(received) == 4:
                killed = _kill_worker(crash_server)
    assert killed is not None and len(received) >= 4
    message = str(crashed.value)
    assert "crashed" in message and "SIGKILL" in message
    assert "started again" in message
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == "zombie"
    _answers(crash_server, model)  # a fresh model process answers the next request
    engine = _slot(crash_server).engine
    assert engine is not None and engine.pid != killed and engine.alive


def test_a_killed_model_process_ends_an_anthropic_stream_with_an_error_event(
        crash_server: BackgroundServer, model: str) -> None:
    _answers(crash_server, model)
    body = {"model": model, "stream": True, **LONG}
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("POST", crash_server.url + MESSAGES, json=body, timeout=120) as reply:
        assert reply.status_code == 200
        name = ""
        for line in reply.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if len(events) == 5:
                    _kill_worker(crash_server)
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert names[-1] == "error" and "message_stop" not in names
    error = events[-1][1]
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert "crashed" in error["error"]["message"]
    _answers(crash_server, model)


def test_a_model_process_killed_while_idle_is_started_again(crash_server: BackgroundServer,
                                                            model: str) -> None:
    _answers(crash_server, model)
    killed = _kill_worker(crash_server)
    engine = _slot(crash_server).engine
    assert engine is not None
    _wait_until(lambda: not engine.alive, 10, "the model process gone")
    assert not _slot(crash_server).state().loaded  # /health tells the truth meanwhile
    _answers(crash_server, model)
    assert engine.pid != killed and _slot(crash_server).state().loaded


def test_a_killed_model_process_fails_a_whole_answer_with_a_500(
        crash_server: BackgroundServer, model: str) -> None:
    _answers(crash_server, model)
    slot = _slot(crash_server)
    replies: queue.Queue[httpx.Response] = queue.Queue()
    asking = threading.Thread(target=lambda: replies.put(httpx.post(
        crash_server.url + CHAT, json={"model": model, **LONG}, timeout=120)), daemon=True)
    asking.start()
    def answering() -> bool:
        running = slot.running
        return isinstance(running, Job) and running.sink.first_token_at is not None

    _wait_until(answering, 60, "the answer started")
    killed = _kill_worker(crash_server)
    reply = replies.get(timeout=60)
    error = _openai_error(reply, 500)
    assert error["code"] == "model_crashed" and error["type"] == "server_error"
    assert "crashed while" in error["message"] and "SIGKILL" in error["message"]
    _answers(crash_server, model)
    engine = slot.engine
    assert engine is not None and engine.pid != killed


# -- 7. the API key and CORS -------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_a_reachable_host_needs_a_key(host: str) -> None:
    with pytest.raises(BadInput) as refused:
        ServerConfig(host=host)
    assert f"--host {host}" in str(refused.value) and "--api-key" in str(refused.value)
    assert ServerConfig(host=host, api_key=KEY).api_key == KEY
    for loopback in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert ServerConfig(host=loopback).api_key is None


@pytest.fixture(scope="module")
def key_server(smollm2: Path) -> Iterator[BackgroundServer]:
    with serve(smollm2, api_key=KEY) as running:
        yield running


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong-key-5678"},
                                     {"x-api-key": "wrong-key-5678"},
                                     {"authorization": f"Basic {KEY}"},
                                     {"x-api-key": ""}],
                         ids=["none", "wrong bearer", "wrong x-api-key", "basic", "empty"])
def test_no_key_or_a_wrong_one_is_401_in_each_apis_shape(key_server: BackgroundServer,
                                                         model: str,
                                                         headers: dict[str, str]) -> None:
    reply = httpx.post(key_server.url + CHAT, headers=headers,
                       json={**OK_CHAT, "model": model, "max_tokens": 2})
    error = _openai_error(reply, 401)
    assert error["code"] == "invalid_api_key" and "API key" in error["message"]
    assert reply.headers["www-authenticate"] == "Bearer"
    reply = httpx.post(key_server.url + MESSAGES, headers=headers,
                       json={**OK_MESSAGES, "model": model})
    assert _anthropic_error(reply, 401)["type"] == "authentication_error"
    # the key is checked before the body is read: a bad body is still a 401
    reply = httpx.post(key_server.url + CHAT, headers=headers, content=b"{not json")
    assert _openai_error(reply, 401)["code"] == "invalid_api_key"
    assert _slot_count(key_server) == 0  # nothing was loaded for them


def _slot_count(server: BackgroundServer) -> int:
    return len(server.state.pool.slots())


def test_the_right_key_works_as_bearer_and_as_x_api_key(key_server: BackgroundServer,
                                                        model: str) -> None:
    reply = _client(key_server, KEY).chat.completions.create(model=model, messages=HELLO,
                                                             max_tokens=2)
    assert reply.choices[0].message.content
    for headers in ({"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}):
        answered = httpx.post(key_server.url + MESSAGES, headers=headers, timeout=60,
                              json={**OK_MESSAGES, "model": model})
        assert answered.status_code == 200, answered.text
        assert answered.json()["content"][0]["text"]
        chat = httpx.post(key_server.url + CHAT, headers=headers, timeout=60,
                          json={**OK_CHAT, "model": model, "max_tokens": 2})
        assert chat.status_code == 200, chat.text


ORIGIN = "http://localhost:3000"


def test_no_cors_headers_unless_origins_are_given(server: BackgroundServer) -> None:
    reply = httpx.get(server.url + "/v1/models", headers={"origin": ORIGIN})
    assert reply.status_code == 200
    assert "access-control-allow-origin" not in reply.headers
    preflight = httpx.options(server.url + CHAT, headers={
        "origin": ORIGIN, "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405


def test_cors_allows_only_the_origins_given(smollm2: Path) -> None:
    with serve(smollm2, cors_origins=(ORIGIN,)) as cors:
        reply = httpx.get(cors.url + "/v1/models", headers={"origin": ORIGIN})
        assert reply.headers["access-control-allow-origin"] == ORIGIN
        preflight = httpx.options(cors.url + CHAT, headers={
            "origin": ORIGIN, "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        other = httpx.get(cors.url + "/v1/models", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        refused = httpx.options(cors.url + CHAT, headers={
            "origin": "http://evil.example", "access-control-request-method": "POST"})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


# -- 8. the command ----------------------------------------------------------------------------

def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m workbench serve ...`` in its own process group, as a terminal runs it."""
    environment = {k: v for k, v in os.environ.items() if k != "WORKBENCH_SERVER_API_KEY"}
    return subprocess.Popen([sys.executable, "-m", "workbench", "serve", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**environment, **(env or {})})


def _read_lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _all(lines: queue.Queue[str | None]) -> str:
    """What has arrived of a stream (without waiting)."""
    got = []
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return "".join(got)
        if line is not None:
            got.append(line)


@pytest.mark.usefixtures("home")
def test_the_command_serves_and_stops_cleanly_on_ctrl_c(smollm2: Path, model: str) -> None:
    process = _serve("--model", str(smollm2), "--no-library", "--port", "0", "--repack", "off",
                     "--ctx", "1024", "--threads", "1")
    lines: queue.Queue[str | None] = queue.Queue()
    errors: queue.Queue[str | None] = queue.Queue()
    readers = [threading.Thread(target=_read_lines, args=(stream, into), daemon=True)
               for stream, into in ((process.stdout, lines), (process.stderr, errors))]
    for reader in readers:
        reader.start()
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"no banner; stderr: {_all(errors)}"
            found = re.search(r"listening on (http://127\.0\.0\.1:(\d+)/v1) \(this machine "
                              r"only\); 1 model", line)
            if found:
                url = found.group(1)
        assert int(url.rsplit(":", 1)[1].split("/")[0]) > 0  # the port bound, not 0
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list()] == [model]
        reply = client.chat.completions.create(model=model, messages=HELLO, max_tokens=3)
        assert reply.choices[0].message.content
        assert reply.model_extra and reply.model_extra["workbench"]["n_ctx"] == 1024
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "the model process should be running"
        # Ctrl-C with an answer being streamed: it is stopped, not waited for
        stream = client.chat.completions.create(model=model, stream=True, **LONG)
        next(iter(stream))
        os.killpg(process.pid, signal.SIGINT)
        stopping = time.monotonic()
        process.wait(timeout=30)
        assert time.monotonic() - stopping < 10
        with contextlib.suppress(openai.APIError, httpx.HTTPError), stream:
            for _ in stream:  # the stream ends (however the server could end it)
                pass
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for reader in readers:
        reader.join(10)
    for pipe in (process.stdout, process.stderr):
        assert pipe is not None
        pipe.close()
    out, err = _all(lines), _all(errors)
    assert process.returncode == 0, err
    assert "Traceback" not in err, err
    assert "stopped; every model unloaded" in err
    assert "POST /v1/chat/completions  200" in err  # the request log line
    assert f'base_url="{url}"' in out  # the banner's example, ready to paste
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"model processes left running: {alive}"


@pytest.mark.usefixtures("home")
def test_the_command_refuses_a_reachable_host_without_a_key() -> None:
    process = _serve("--host", "0.0.0.0", "--no-library", "--port", "0")
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("workbench: error: --host 0.0.0.0")
    assert "--api-key" in lines[0] and "Traceback" not in err
