"""``recommend(online=True)``: real headers read with range requests from a loopback "Hub"."""

from __future__ import annotations

import json
import re
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
from workbench.planner import catalog as cat
from workbench.planner.recommend import recommend
from workbench.planner.speed import Predictor
from workbench.synth import synthesize

MODELS = Path(cat.__file__).resolve().parents[2] / "models"
REPO = "test-org/Qwen2-Tiny-GGUF"


class Hub:
    """Serves ``/{repo}/resolve/main/{file}`` from a folder: HEAD, GET and Range like the Hub."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str, str | None]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _file(self) -> Path | None:
                match = re.fullmatch(rf"/{re.escape(REPO)}/resolve/main/(.+)", self.path)
                path = hub.root / match.group(1) if match else None
                return path if path is not None and path.is_file() else None

            def do_HEAD(self) -> None:
                hub.requests.append(("HEAD", self.path, None))
                path = self._file()
                self.send_response(200 if path else 404)
                self.send_header("Content-Length", str(path.stat().st_size if path else 0))
                self.end_headers()

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                hub.requests.append(("GET", self.path, rng))
                path = self._file()
                if path is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                match = re.fullmatch(r"bytes=(\d+)-(\d+)", rng or "")
                if match:
                    start, end = int(match.group(1)), min(int(match.group(2)), len(data) - 1)
                    body = data[start:end + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    server = Hub(tmp_path / "hub")
    (tmp_path / "hub").mkdir()
    yield server
    server.close()


def tiny_catalog(tmp_path: Path, file_name: str) -> cat.Catalog:
    arch = {"arch": "qwen2", "n_layer": 2, "n_embd": 256, "n_head": 4, "n_head_kv": 2,
            "head_dim": 64, "n_ff": 512, "n_vocab": 1024, "tied_embeddings": True,
            "sliding_window": 0, "n_expert": 0, "n_expert_used": 0, "n_ff_expert": 0}
    a = cat.Architecture(**arch)  # type: ignore[arg-type]
    size = cat.computed_file_size(a, "F16")
    entry = {"id": "qwen2-tiny", "name": "Qwen2 tiny", "repo": REPO, "base_model": "test/none",
             "released": "2025-01-01", "licence": "apache-2.0", "tasks": ["chat"],
             "architecture": arch, "context_length": 4096,
             "n_params": cat.count_parameters(a), "arch_source": "the synth preset qwen2-tiny",
             "quality": None, "notes": "test entry",
             "files": [{"quant": "F16", "name": file_name, "size_bytes": size,
                        "size_source": "computed"}]}
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "tiny.json").write_text(json.dumps({"family": "tiny", "entries": [entry]}))
    (folder / cat.QUANT_LOSS_FILE).write_text((MODELS / cat.QUANT_LOSS_FILE).read_text())
    return cat.load_catalog(folder)


def report() -> HardwareReport:
    return HardwareReport(
        os=OsInfo("Linux", "6", "t", "x86_64", "3.11", "python3"),
        cpu=CpuInfo("Test CPU", "x86_64", 4, 8, {}, None),
        ram=RamInfo(total_bytes=16 << 30, available_bytes=12 << 30), gpus=[],
        nvml=NvmlStatus(available=False), llama=LlamaBuild(installed=True))


def test_online_reads_the_real_header_by_range_requests(tmp_path: Path, hub: Hub) -> None:
    real = synthesize(hub.root / "qwen2-tiny-f16.gguf", "qwen2", quant="F16").path
    catalog = tiny_catalog(tmp_path, "qwen2-tiny-f16.gguf")
    predictor = Predictor(bandwidth_gbps=20.0, use_stored_runs=False)
    offline = recommend(report(), catalog=catalog, predictor=predictor)
    assert offline[0].header_source == "catalog" and offline[0].file.computed
    online = recommend(report(), catalog=catalog, predictor=predictor, online=True,
                       endpoint=hub.url)
    rec = online[0]
    assert rec.header_source == f"{hub.url}/{REPO}/resolve/main/qwen2-tiny-f16.gguf"
    assert rec.file.size_bytes == real.stat().st_size and not rec.file.computed
    assert rec.fit == "cpu_only"
    gets = [r for r in hub.requests if r[0] == "GET"]
    assert gets and all(r[2] is not None for r in gets)  # ranged reads, never the whole file


def test_online_honours_hf_endpoint_and_survives_a_missing_file(
        tmp_path: Path, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = tiny_catalog(tmp_path, "not-there.gguf")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    recs = recommend(report(), catalog=catalog, online=True,
                     predictor=Predictor(bandwidth_gbps=20.0, use_stored_runs=False))
    assert recs[0].header_source == "catalog"
    assert any("online header not read" in n for n in recs[0].notes)
    assert any(path.endswith("/not-there.gguf") for _, path, _ in hub.requests)
