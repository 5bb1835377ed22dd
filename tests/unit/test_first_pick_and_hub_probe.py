"""The Start page's decisions without Qt: the first pick (a comfortable speed first, then the
usual floor) and the Hub probe (one HEAD request; offline mode never connects)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from workbench.hardware.model import (
    CpuInfo,
    HardwareReport,
    LlamaBuild,
    NvmlStatus,
    OsInfo,
    RamInfo,
)
from workbench.hub import probe
from workbench.net import offline
from workbench.planner import catalog as cat
from workbench.planner import recommend as rec
from workbench.planner.speed import Predictor

GiB = 1 << 30
MODELS = Path(cat.__file__).resolve().parents[2] / "models"
NO_GPU = HardwareReport(
    os=OsInfo("Linux", "6.8", "test", "x86_64", "3.11", "python3"),
    cpu=CpuInfo("Test CPU", "x86_64", 8, 16, {"avx2": True}, "test"),
    ram=RamInfo(total_bytes=24 * GiB, available_bytes=22 * GiB),
    gpus=[], nvml=NvmlStatus(available=False), llama=LlamaBuild(installed=True))


@pytest.fixture(autouse=True)
def _online(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh home (the shared fixture) with none of the offline switches set."""
    for name in offline.OFFLINE_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield
    offline.disable_guard()


def _catalog() -> cat.Catalog:
    full = cat.load_catalog(MODELS)
    ids = ("llama-3.2-1b-instruct", "llama-3.1-8b-instruct")
    return cat.Catalog(tuple(full.get(i) for i in ids), full.quant_losses, full.loss_source)


def _pick(bandwidth: float, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    asked: list = []
    real = rec.recommend

    def spy(report, **kwargs):
        asked.append(kwargs.get("min_tokens_per_s"))
        return real(report, **kwargs)

    monkeypatch.setattr(rec, "recommend", spy)
    predictor = Predictor(bandwidth_gbps=bandwidth, use_stored_runs=False)
    return rec.first_pick(NO_GPU, catalog=_catalog(), predictor=predictor), asked


def test_first_pick_prefers_a_file_that_answers_comfortably_fast(monkeypatch) -> None:
    picks, asked = _pick(60.0, monkeypatch)
    assert asked == [rec.FIRST_PICK_TOKENS_PER_S]
    assert len(picks) == 1 and picks[0].usable
    assert picks[0].speed.tg_tokens_per_s >= rec.FIRST_PICK_TOKENS_PER_S
    # the usual ranking would have offered a better-quality file that answers slower
    usual = rec.recommend(NO_GPU, catalog=_catalog(), limit=1,
                          predictor=Predictor(bandwidth_gbps=60.0, use_stored_runs=False))
    assert usual[0].speed.tg_tokens_per_s < rec.FIRST_PICK_TOKENS_PER_S
    assert (usual[0].entry.id, usual[0].file.quant) != (picks[0].entry.id, picks[0].file.quant)


def test_first_pick_falls_back_to_the_usual_floor(monkeypatch) -> None:
    picks, asked = _pick(5.0, monkeypatch)
    assert asked == [rec.FIRST_PICK_TOKENS_PER_S, None]  # then recommend's own default floor
    assert len(picks) == 1 and picks[0].usable
    assert rec.DEFAULT_MIN_TOKENS_PER_S <= picks[0].speed.tg_tokens_per_s \
        < rec.FIRST_PICK_TOKENS_PER_S


def test_first_pick_with_nothing_usable_still_names_the_best_fit(monkeypatch) -> None:
    picks, asked = _pick(0.5, monkeypatch)
    assert asked == [rec.FIRST_PICK_TOKENS_PER_S, None]
    assert len(picks) == 1 and not picks[0].usable


class _Hub:
    """A loopback HTTP server that counts the requests it gets (``status`` answers HEAD)."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                hub.requests.append(self.path)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Hub]:
    server = _Hub()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    yield server
    server.close()


def test_a_hub_that_answers_is_reachable(hub: _Hub) -> None:
    assert probe.check_hub() is None
    assert hub.requests == ["/api/models?limit=1"]


def test_an_error_status_still_means_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _Hub(status=503)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint + "/")  # a trailing slash is dropped
    try:
        assert probe.check_hub() is None
        assert server.requests == ["/api/models?limit=1"]
    finally:
        server.close()


def test_a_hub_that_is_gone_says_why(hub: _Hub) -> None:
    hub.close()
    problem = probe.check_hub(timeout=2.0)
    assert problem is not None and problem.startswith(f"{hub.endpoint} cannot be reached (")


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "WORKBENCH_OFFLINE"])
def test_offline_mode_answers_without_a_connection(hub: _Hub, monkeypatch, variable) -> None:
    monkeypatch.setenv(variable, "1")
    assert probe.check_hub() == probe.OFFLINE_REASON
    assert hub.requests == []


def test_the_offline_guard_answers_without_a_connection(hub: _Hub) -> None:
    with offline.offline_guard():
        assert probe.check_hub() == probe.OFFLINE_REASON
    assert hub.requests == []


def test_a_connection_the_guard_blocks_reads_as_offline(monkeypatch) -> None:
    # the guard switched on while the probe had already decided to connect
    monkeypatch.setattr(probe, "is_offline", lambda: False)
    monkeypatch.setenv("HF_ENDPOINT", "http://192.0.2.1")  # TEST-NET-1: refused before sending
    with offline.offline_guard():
        assert probe.check_hub(timeout=2.0) == probe.OFFLINE_REASON
