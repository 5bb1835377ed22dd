"""The worker protocol's typed messages: the same bytes on the wire, strict parsing, and a
document that names every message and field."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import struct
from pathlib import Path

import pytest

from workbench.engine import protocol as p
from workbench.engine.metrics import AnswerMetrics
from workbench.engine.settings import LoadSettings, Sampling

DOC = Path(__file__).resolve().parents[2] / "docs" / "worker-protocol.md"
METRICS = AnswerMetrics(12.5, 9, 9, 3.25, 2769.2, 4, 4, 10.0, 400.0, 20.0, 333.3, 150.0)
INFO = p.ModelInfo(
    model_path="/m/tiny.gguf", architecture="llama", name="Tiny", n_params=1000,
    model_size_bytes=4096, n_vocab=32, n_ctx=512, n_ctx_train=2048, chat_template=True,
    load_ms=12.0, threads=4, repack=False, flash_attn="auto", kv_type="f16", n_gpu_layers=0,
    gpu_offload=False, llama_cpp_version="0.3.36")

REQUESTS = [
    p.LoadRequest(id=1, settings=LoadSettings(model_path="/m/tiny.gguf", repack=False)),
    p.ChatRequest(id=2, messages=[{"role": "user", "content": "hi"}],
                  sampling=Sampling(seed=3, chat_format="chatml")),
    p.EmbedRequest(id=8, inputs=["a cat", "é ✓"]),
    p.BenchRequest(id=7, pp_tokens=512, tg_tokens=128, repetitions=5),
    p.CancelRequest(id=3, target=2),
    p.UnloadRequest(id=4),
    p.StatsRequest(id=5),
    p.ShutdownRequest(id=0),
]
EVENTS = [
    p.Ready(pid=123, protocol=1, llama_cpp_version="0.3.36"),
    p.Heartbeat(t=12.5),
    p.Loaded(id=1, info=INFO),
    p.Delta(id=2, text="Paris ✓", tokens=7),
    p.Done(id=2, finish_reason="stop", metrics=METRICS),
    p.Progress(id=7, stage="pp", rep=1),
    p.BenchResult(id=7, result=p.BenchSamples(False, (512.5, 500.0), (40.0,), "AVX2 = 1")),
    p.BenchResult(id=7, result=p.BenchSamples(cancelled=True)),
    p.EmbedResult(id=8, vectors=[p.encode_vector(struct.pack("<3f", 0.6, 0.8, 0.0)),
                                 p.encode_vector(struct.pack("<3f", 0.0, 0.0, 1.0))],
                  tokens=[2, 4], cancelled=False),
    p.EmbedResult(id=8, vectors=[], tokens=[], cancelled=True),
    p.Unloaded(id=4),
    p.Stats(id=5, stats=p.WorkerStats(loaded=True, model=INFO, rss_bytes=1 << 20,
                                      n_tokens_cached=12)),
    p.Stats(id=5, stats=p.WorkerStats(loaded=False, model=None, rss_bytes=1, n_tokens_cached=0)),
    p.Error(id=2, kind="context_overflow", message="too long"),
    p.Error(id=None, kind="bad_request", message="not JSON"),
]


def test_every_op_and_event_has_one_class() -> None:
    assert tuple(p.REQUESTS) == p.OPS
    assert tuple(p.EVENT_TYPES) == p.EVENTS
    assert {type(r) for r in REQUESTS} == set(p.REQUESTS.values())
    assert {type(e) for e in EVENTS} == set(p.EVENT_TYPES.values())


@pytest.mark.parametrize("message", REQUESTS + EVENTS, ids=lambda m: type(m).__name__)
def test_a_message_survives_the_wire(message: p.Request | p.Event) -> None:
    line = message.encode()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    parse = p.parse_request if isinstance(message, p.Request) else p.parse_event
    assert parse(line) == message
    assert p.encode(message) == line


def test_the_bytes_are_the_ones_the_protocol_always_had() -> None:
    """The key names and order of the dict-built messages that came before the classes."""
    assert p.CancelRequest(id=3, target=2).encode() == b'{"id":3,"op":"cancel","target":2}\n'
    assert p.ShutdownRequest(id=0).encode() == b'{"id":0,"op":"shutdown"}\n'
    assert p.BenchRequest(id=7, pp_tokens=64, tg_tokens=16, repetitions=2).encode() == (
        b'{"id":7,"op":"bench","pp_tokens":64,"tg_tokens":16,"repetitions":2}\n')
    settings = LoadSettings(model_path="/m.gguf", repack=True)
    assert json.loads(p.LoadRequest(id=1, settings=settings).encode()) == {
        "id": 1, "op": "load", "settings": settings.to_dict()}
    sampling = Sampling()
    assert list(json.loads(p.ChatRequest(id=2, messages=[{"role": "user", "content": "x"}],
                                         sampling=sampling).encode())) == [
        "id", "op", "messages", "sampling"]
    assert p.Delta(id=2, text="é", tokens=7).encode() == (
        '{"event":"delta","id":2,"text":"é","tokens":7}\n'.encode())
    assert p.EmbedRequest(id=8, inputs=["x"]).encode() == b'{"id":8,"op":"embed","inputs":["x"]}\n'
    assert p.EmbedResult(id=8, vectors=[], tokens=[], cancelled=True).encode() == (
        b'{"event":"embed_result","id":8,"vectors":[],"tokens":[],"cancelled":true}\n')
    assert p.Progress(id=7, stage="warmup", rep=0).encode() == (
        b'{"event":"progress","id":7,"stage":"warmup","rep":0}\n')
    assert p.Error(id=None, kind="internal", message="m").encode() == (
        b'{"event":"error","id":null,"kind":"internal","message":"m"}\n')
    done = json.loads(p.Done(id=2, finish_reason="length", metrics=METRICS).encode())
    assert done == {"event": "done", "id": 2, "finish_reason": "length",
                    "metrics": METRICS.to_dict()}
    assert json.loads(p.BenchResult(id=7, result=p.BenchSamples(True)).encode()) == {
        "event": "bench_result", "id": 7, "result": {"cancelled": True}}
    loaded = json.loads(p.Loaded(id=1, info=INFO).encode())
    assert list(loaded) == ["event", "id", "info"]
    assert list(loaded["info"]) == [
        "model_path", "architecture", "name", "n_params", "model_size_bytes", "n_vocab", "n_ctx",
        "n_ctx_train", "chat_template", "load_ms", "threads", "repack", "flash_attn", "kv_type",
        "n_gpu_layers", "gpu_offload", "llama_cpp_version", "tool_format", "loras"]


@pytest.mark.parametrize(("line", "says"), [
    (b'{"event":"delta","id":2,"text":"x"}', "delta event: missing field 'tokens'"),
    (b'{"event":"delta","id":2,"text":3,"tokens":1}', "delta event: text: expected a string"),
    (b'{"event":"delta","id":"2","text":"x","tokens":1}', "id: expected an integer"),
    (b'{"event":"delta","id":2,"text":"x","tokens":true}', "tokens: expected an integer"),
    (b'{"event":"delta","id":2,"text":"x","tokens":1,"more":0}', "unknown field 'more'"),
    (b'{"event":"toast","id":2}', "unknown event 'toast'"),
    (b'{"id":2,"text":"x"}', "unknown event None"),
    (b'{"event":"done","id":2,"finish_reason":"bored","metrics":{}}', "one of stop, length"),
    (b'{"event":"done","id":2,"finish_reason":"stop","metrics":{"ttft_ms":1}}',
     "done event: metrics: missing field"),
    (b'{"event":"loaded","id":1,"info":[]}', "loaded event: info: expected an object"),
    (b'{"event":"bench_result","id":7,"result":{"cancelled":false,"pp_samples":["fast"]}}',
     "pp_samples[0]: expected a number"),
    (b'{"event":"error","id":2,"kind":"oops","message":"m"}', "error event: kind: expected one"),
    (b'{"event":"embed_result","id":8,"vectors":["AAAAAA=="],"tokens":[],"cancelled":false}',
     "embed_result event: 1 vectors for 0 token counts"),
    (b'{"event":"embed_result","id":8,"vectors":["not base64!"],"tokens":[1],'
     b'"cancelled":false}', "embed_result event: vectors[0]: not base64 text"),
    (b'{"event":"embed_result","id":8,"vectors":["AAAAAA==","AAAAAAAAAAA="],"tokens":[1,1],'
     b'"cancelled":false}', "embed_result event: vectors of different sizes"),
    (b'{"event":"embed_result","id":8,"vectors":["AAAA"],"tokens":[1],"cancelled":false}',
     "a vector of 3 bytes is no whole number of float32 values"),
    (b'{"event":"embed_result","id":8,"vectors":[[0.5]],"tokens":[1],"cancelled":false}',
     "vectors[0]: expected a string"),
    (b'{"event":"del', "not JSON"),
    (b"\xff\xfe garbage", "not JSON"),
    (b"[1, 2]", "a message must be a JSON object"),
])
def test_a_bad_event_is_a_protocol_error_that_says_what(line: bytes, says: str) -> None:
    with pytest.raises(p.ProtocolError, match=re.escape(says)):
        p.parse_event(line)


@pytest.mark.parametrize(("line", "says", "rid"), [
    (b'{"id":5,"op":"dance"}', "unknown op 'dance'", 5),
    (b'{"op":"stats"}', "stats request: missing field 'id'", None),
    (b'{"id":true,"op":"stats"}', "id: expected an integer, got a boolean", None),
    (b'{"id":5,"op":"bench","pp_tokens":1}', "missing field 'tg_tokens', 'repetitions'", 5),
    (b'{"id":5,"op":"cancel","target":"all"}', "target: expected an integer", 5),
    (b'{"id":5,"op":"load","settings":{"model_path":"m","kv_type":"q2"}}',
     "unknown KV cache type 'q2'", 5),
    (b'{"id":5,"op":"load","settings":{"model_path":"m","wat":1}}', "unknown field 'wat'", 5),
    (b'{"id":5,"op":"chat","messages":[],"sampling":{}}', "non-empty list of messages", 5),
    (b'{"id":5,"op":"chat","messages":[{"role":"user"}],"sampling":{}}',
     "messages[0] needs a string role and content", 5),
    (b'{"id":5,"op":"chat","messages":"hi","sampling":{}}', "messages: expected a list", 5),
    (b'{"id":5,"op":"embed","inputs":[]}', "embed needs a non-empty list of inputs", 5),
    (b'{"id":5,"op":"embed","inputs":["a",[1,2]]}', "inputs[1]: expected a string", 5),
    (b'{"id":5,"op":"embed","inputs":"a"}', "inputs: expected a list", 5),
    (b'{"id":5,"op":"embed","inputs":[' + b'"a",' * 2048 + b'"a"]}',
     "at most 2048 inputs, not 2049", 5),
])
def test_a_bad_request_is_a_protocol_error_with_its_id(line: bytes, says: str,
                                                       rid: int | None) -> None:
    with pytest.raises(p.ProtocolError, match=re.escape(says)) as caught:
        p.parse_request(line)
    assert caught.value.request_id == rid


def test_a_specific_class_parses_only_its_own_kind() -> None:
    assert p.Delta.from_json({"event": "delta", "id": 1, "text": "", "tokens": 0}).tokens == 0
    with pytest.raises(p.ProtocolError, match="expected a delta event"):
        p.Delta.from_json({"event": "unloaded", "id": 1})
    with pytest.raises(p.ProtocolError, match="expected a load request"):
        p.LoadRequest.from_json({"id": 1, "op": "stats"})


@pytest.mark.parametrize("data", [
    {"event": "progress", "id": 1, "stage": "x" * 100_000, "rep": 1},
    {"event": "x" * 100_000},
    {"event": "unloaded", "id": 1, "x" * 100_000: 1},
    {"event": "delta", "id": 1, "text": "", "tokens": 1, **{f"k{i}": i for i in range(10_000)}},
], ids=["value", "event", "field", "fields"])
def test_hostile_names_and_values_are_not_echoed_in_full(data: dict[str, object]) -> None:
    with pytest.raises(p.ProtocolError) as caught:
        p.parse_event(json.dumps(data))
    assert len(str(caught.value)) <= p.MAX_ERROR_TEXT + 1


def test_request_ids_belong_to_answers_only() -> None:
    assert p.Delta(id=2, text="", tokens=0).request_id == 2
    assert p.Heartbeat(t=1.0).request_id is None
    assert p.Error(id=None, kind="internal", message="").request_id is None


def test_the_loaded_model_is_the_event_facts_and_the_apps_additions() -> None:
    loaded = p.LoadedModel.of(INFO, {"kv": 1.5}, ["a note"])
    assert isinstance(loaded, p.ModelInfo) and loaded.name == "Tiny"
    assert loaded.buffers == {"kv": 1.5} and loaded.notes == ["a note"]
    assert {k: v for k, v in loaded.to_json().items() if k not in ("buffers", "notes")} == (
        INFO.to_json())
    assert not hasattr(loaded, "get")  # one way to read it: attributes
    samples = p.BenchSamples(cancelled=True)
    assert samples.pp_samples == () and samples.system_info is None


# -- the document ---------------------------------------------------------------------------
def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _table_rows(section: str) -> dict[str, str]:
    """``| `name` | ... |`` rows under the ``## section`` heading: name -> the rest of the row."""
    body = _doc().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        match = re.match(r"\|\s*`([a-z_]+)`\s*\|(.*)", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_0-9]+)`", text))


def test_the_document_names_every_request_and_its_fields() -> None:
    rows = _table_rows("Requests")
    assert set(rows) == set(p.OPS)
    for op, cls in p.REQUESTS.items():
        fields = {f.name for f in dataclasses.fields(cls)} - {"id"}
        assert fields <= _names_in(rows[op]), (op, fields - _names_in(rows[op]))
        assert cls.__name__ in _doc(), cls.__name__


def test_the_document_names_every_event_and_its_fields() -> None:
    rows = _table_rows("Events")
    assert set(rows) == set(p.EVENTS)
    for name, cls in p.EVENT_TYPES.items():
        fields = {f.name for f in dataclasses.fields(cls)} - {"id"}
        assert fields <= _names_in(rows[name]), (name, fields - _names_in(rows[name]))
        assert cls.__name__ in _doc(), cls.__name__


@pytest.mark.parametrize("payload", [p.ModelInfo, p.BenchSamples, p.WorkerStats, AnswerMetrics,
                                     LoadSettings, Sampling], ids=lambda c: c.__name__)
def test_the_document_names_every_field_of_what_messages_carry(payload: type) -> None:
    doc = _doc()
    assert payload.__name__ in doc
    missing = {f.name for f in dataclasses.fields(payload)} - _names_in(doc)
    assert not missing, f"{payload.__name__}: {sorted(missing)} not in {DOC.name}"


def test_the_document_names_every_constant() -> None:
    names = _names_in(_doc())
    for values in (p.FINISH_REASONS, p.BENCH_STAGES, p.ERROR_KINDS):
        assert set(values) <= names, set(values) - names


def test_an_embed_result_carries_exact_little_endian_float32() -> None:
    values = (0.1, -0.25, 1e-7)
    raw = struct.pack("<3f", *values)
    event = p.parse_event(p.EmbedResult(id=1, vectors=[p.encode_vector(raw)], tokens=[3],
                                        cancelled=False).encode())
    assert isinstance(event, p.EmbedResult)
    assert event.data() == [raw]
    assert base64.b64decode(event.vectors[0]) == raw
    assert struct.unpack("<3f", event.data()[0]) == struct.unpack("<3f", raw)
