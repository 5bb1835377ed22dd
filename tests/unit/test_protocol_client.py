"""LocalEngine against a stand-in worker that speaks the protocol badly: a line cut short by a
crash is still the typed crash it always was (with its signal), a live worker that breaks the
protocol is stopped and reported, and typed events reach the caller as typed results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from workbench.engine import protocol as p
from workbench.engine.client import LocalEngine
from workbench.engine.errors import WorkerCrashed
from workbench.engine.metrics import AnswerMetrics
from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput

INFO = p.ModelInfo(
    model_path="", architecture="llama", name="Stand-in", n_params=1, model_size_bytes=2,
    n_vocab=3, n_ctx=512, n_ctx_train=512, chat_template=True, load_ms=1.0, threads=1,
    repack=False, flash_attn="auto", kv_type="f16", n_gpu_layers=0, gpu_offload=False,
    llama_cpp_version="0")
METRICS = AnswerMetrics(1.0, 2, 2, 1.0, None, 1, 1, 1.0, None, 3.0)

# The stand-in: answers load with a valid "loaded", then answers chat with the lines CHAT_LINES
# names, then does what AFTER says (segv: die by SIGSEGV; live: keep sending heartbeats).
STAND_IN = r'''
import json, os, signal, sys, threading, time
out = os.fdopen(os.dup(1), "wb", buffering=0)
lock = threading.Lock()
def send(line):
    with lock:
        out.write(line.encode() if isinstance(line, str) else line)
def beat():
    while True:
        time.sleep(0.2)
        send('{"event":"heartbeat","t":1.0}\n')
threading.Thread(target=beat, daemon=True).start()
send('{"event":"ready","pid":%d,"protocol":1,"llama_cpp_version":"0"}\n' % os.getpid())
for line in sys.stdin:
    request = json.loads(line)
    if request["op"] == "load":
        info = dict(INFO, model_path=request["settings"]["model_path"])
        sys.stderr.write("workbench-worker: end of load log for request %d\n" % request["id"])
        sys.stderr.flush()
        send(json.dumps({"event": "loaded", "id": request["id"], "info": info}) + "\n")
    elif request["op"] == "chat":
        for chunk in CHAT_LINES:
            send(chunk.replace("RID", str(request["id"])).encode())
        if AFTER == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
    elif request["op"] == "shutdown":
        break
'''


def _stand_in(tmp_path: Path, chat_lines: list[str], after: str) -> LocalEngine:
    script = tmp_path / "stand_in.py"
    script.write_text(f"INFO = {json.dumps(INFO.to_json())!r}\nINFO = __import__('json')"
                      f".loads(INFO)\nCHAT_LINES = {chat_lines!r}\nAFTER = {after!r}\n"
                      + STAND_IN)
    python = tmp_path / "python"  # LocalEngine runs `python -m workbench.engine.worker`
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    python.chmod(0o755)
    return LocalEngine(python=str(python), watchdog_s=10)


def _load(engine: LocalEngine, tmp_path: Path) -> p.LoadedModel:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    return engine.load(LoadSettings(model_path=str(model), repack=False))


def test_typed_events_become_typed_results(tmp_path: Path) -> None:
    events = [p.Delta(id=999, text="Hel", tokens=1), p.Delta(id=999, text="lo", tokens=2),
              p.Done(id=999, finish_reason="length", metrics=METRICS)]
    lines = [e.encode().decode().replace('"id":999', '"id":RID') for e in events]
    with _stand_in(tmp_path, lines, "live") as engine:
        info = _load(engine, tmp_path)
        assert isinstance(info, p.LoadedModel) and engine.info == info
        assert info.name == "Stand-in" and info.n_ctx == 512 and info.notes == []
        deltas: list[tuple[str, int]] = []
        result = engine.chat([{"role": "user", "content": "hi"}],
                             on_delta=lambda text, n: deltas.append((text, n)))
    assert deltas == [("Hel", 1), ("lo", 2)]
    assert result.text == "Hello" and result.finish_reason == "length"
    assert result.metrics == METRICS


def test_a_line_cut_short_by_a_crash_is_the_crash(tmp_path: Path) -> None:
    lines = ['{"event":"delta","id":RID,"text":"par","tokens":1}\n',
             '{"event":"delta","id":RID,"te']  # no newline: the process dies mid-write
    with _stand_in(tmp_path, lines, "segv") as engine:
        _load(engine, tmp_path)
        with pytest.raises(WorkerCrashed) as caught:
            engine.chat([{"role": "user", "content": "hi"}])
    crash = caught.value
    assert crash.signal_name == "SIGSEGV" and crash.during == "answering"
    assert crash.partial_text == "par"
    assert any("not a protocol event" in line for line in crash.log_tail)


def test_a_live_worker_that_breaks_the_protocol_is_stopped(tmp_path: Path) -> None:
    lines = ['{"event":"done","id":RID,"finish_reason":"stop","metrics":"fast"}\n']
    with _stand_in(tmp_path, lines, "live") as engine:
        _load(engine, tmp_path)
        with pytest.raises(WorkerCrashed) as caught:
            engine.chat([{"role": "user", "content": "hi"}])
        assert not engine.alive and engine.info is None
    message = str(caught.value)
    assert "broke the worker protocol" in message
    assert "done event: metrics: expected an object" in message


def test_a_request_the_protocol_refuses_is_bad_input_before_it_is_sent(tmp_path: Path) -> None:
    with _stand_in(tmp_path, [], "live") as engine:
        _load(engine, tmp_path)
        with pytest.raises(BadInput, match="needs a string role and content"):
            engine.chat([{"role": "user"}])
        assert engine.alive
