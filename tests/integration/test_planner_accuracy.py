"""The memory plan against what llama.cpp reports allocating when it really loads the model
(the "model/KV/compute/output buffer size" lines), in a worker process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.engine import MiB, reported_buffers
from workbench.engine.client import LocalEngine
from workbench.engine.settings import LoadSettings
from workbench.gguf import read_adapter, read_header
from workbench.planner import estimate_memory
from workbench.synth import write_lora_adapter

SETTINGS = [
    dict(n_ctx=2048, flash_attn="off", kv_type="f16"),
    dict(n_ctx=4096, flash_attn="on", kv_type="q8_0", n_ubatch=256),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine() as eng:
        yield eng


@pytest.mark.parametrize("arch", ["llama", "gemma3", "qwen2moe"])
@pytest.mark.parametrize("options", SETTINGS, ids=["fa-off-f16", "fa-on-q8_0"])
def test_estimate_matches_llama_cpp(engine: LocalEngine, tiny_model_path, arch: str,
                                    options: dict) -> None:
    path: Path = tiny_model_path(arch, "Q8_0")
    buffers = reported_buffers(engine, LoadSettings(str(path), repack=False, **options))
    assert {"model", "kv", "compute"} <= set(buffers)
    plan = estimate_memory(read_header(path), n_ctx=options["n_ctx"],
                           n_ubatch=options.get("n_ubatch", 512),
                           flash_attn=options["flash_attn"], kv_type=options["kv_type"])
    reported_total = sum(buffers.values())
    assert plan.buffers_bytes / MiB == pytest.approx(reported_total, rel=0.05)
    # each part is exact up to the log's two decimals (two KV lines with sliding windows)
    assert plan.weights_bytes / MiB == pytest.approx(buffers["model"], abs=0.006)
    assert plan.kv_cache_bytes / MiB == pytest.approx(buffers["kv"], abs=0.011)
    assert plan.compute_bytes / MiB == pytest.approx(buffers["compute"], abs=0.006)
    assert plan.output_bytes / MiB == pytest.approx(buffers.get("output", 0.0), abs=0.006)


@pytest.mark.parametrize("arch", ["llama", "gemma3", "qwen2moe"])
@pytest.mark.parametrize("options", SETTINGS, ids=["fa-off-f16", "fa-on-q8_0"])
def test_estimate_with_lora_adapters_matches_llama_cpp(engine: LocalEngine, tiny_model_path,
                                                       tmp_path: Path, arch: str,
                                                       options: dict) -> None:
    """Two adapters (F32 rank 4 on attention and the output, F16 rank 8 on the FFN) and a third
    at scale 0: their "LoRA buffer" lines, the weights, and the compute buffer that grows by
    their products (a zero-scale adapter is loaded but left out of the graph)."""
    path: Path = tiny_model_path(arch, "Q8_0")
    ffn = ("ffn_up", "ffn_down") if arch != "qwen2moe" else ("ffn_up_shexp", "ffn_down_shexp")
    files = [write_lora_adapter(tmp_path / "a.gguf", path, targets=("attn_q", "attn_v", "output")),
             write_lora_adapter(tmp_path / "b.gguf", path, rank=8, targets=ffn, dtype="F16"),
             write_lora_adapter(tmp_path / "c.gguf", path, rank=16, targets=("attn_k",))]
    loras = tuple((str(file), scale) for file, scale in zip(files, (1.0, 0.5, 0.0), strict=True))
    buffers = reported_buffers(engine, LoadSettings(str(path), repack=False, loras=loras,
                                                    **options))
    plan = estimate_memory(read_header(path), n_ctx=options["n_ctx"],
                           n_ubatch=options.get("n_ubatch", 512),
                           flash_attn=options["flash_attn"], kv_type=options["kv_type"],
                           loras=[(read_adapter(file), scale) for file, scale in loras])
    assert plan.adapter_cpu_bytes == plan.adapter_bytes > 0
    # one line per adapter, each rounded to two decimals
    assert plan.adapter_bytes / MiB == pytest.approx(buffers["lora"], abs=0.016)
    assert (plan.weights_bytes - plan.adapter_bytes) / MiB == pytest.approx(buffers["model"],
                                                                            abs=0.006)
    assert plan.kv_cache_bytes / MiB == pytest.approx(buffers["kv"], abs=0.011)
    assert plan.compute_bytes / MiB == pytest.approx(buffers["compute"], abs=0.006)
