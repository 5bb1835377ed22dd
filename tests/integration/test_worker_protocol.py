"""The real worker process at the line level: what it writes parses strictly as typed events, and
a request it cannot parse is answered with a bad_request error that carries the request's id."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from workbench.engine import protocol as p
from workbench.engine.settings import Sampling


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-m", "workbench.engine.worker"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def _next(process: subprocess.Popen[bytes]) -> p.Event:
    """The next event other than a heartbeat, parsed strictly."""
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        assert line, "the worker closed its stdout"
        event = p.parse_event(line)
        if not isinstance(event, p.Heartbeat):
            return event


def _send(process: subprocess.Popen[bytes], line: bytes) -> None:
    assert process.stdin is not None
    process.stdin.write(line)
    process.stdin.flush()


def test_the_worker_speaks_typed_events_and_refuses_bad_requests(
        worker: subprocess.Popen[bytes]) -> None:
    ready = _next(worker)
    assert isinstance(ready, p.Ready) and ready.protocol == p.PROTOCOL_VERSION
    assert ready.pid == worker.pid

    _send(worker, b'{"id":5,"op":"bench","pp_tokens":64}\n')
    error = _next(worker)
    assert isinstance(error, p.Error) and (error.id, error.kind) == (5, "bad_request")
    assert "missing field 'tg_tokens', 'repetitions'" in error.message

    _send(worker, b"this is not JSON\n")
    error = _next(worker)
    assert isinstance(error, p.Error) and error.id is None and "not JSON" in error.message

    _send(worker, b'{"id":6,"op":"dance"}\n')
    error = _next(worker)
    assert isinstance(error, p.Error) and error.id == 6 and "unknown op 'dance'" in error.message

    _send(worker, p.ChatRequest(id=7, messages=[{"role": "user", "content": "hi"}],
                                sampling=Sampling()).encode())
    error = _next(worker)
    assert isinstance(error, p.Error) and (error.id, error.kind) == (7, "no_model")

    _send(worker, p.BenchRequest(id=8, pp_tokens=8, tg_tokens=8, repetitions=1).encode())
    error = _next(worker)
    assert isinstance(error, p.Error) and (error.id, error.kind) == (8, "no_model")

    _send(worker, p.StatsRequest(id=9).encode())
    stats = _next(worker)
    assert isinstance(stats, p.Stats) and stats.id == 9
    assert stats.stats.loaded is False and stats.stats.model is None
    assert stats.stats.rss_bytes > 0

    _send(worker, p.UnloadRequest(id=10).encode())
    assert _next(worker) == p.Unloaded(id=10)

    _send(worker, p.ShutdownRequest(id=0).encode())
    assert worker.wait(timeout=30) == 0
