"""Every GGUF weight type llama.cpp 0.3.36 loads: synthesised, loaded with Workbench's default
settings (repacking probed), answering, and planned exactly; `run` and `bench` on the types the
repacking probe used to refuse (Q4_1, IQ4_NL)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.engine import MiB, reported_buffers
from workbench.engine.client import LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.settings import LoadSettings, Sampling
from workbench.gguf import read_header
from workbench.gguf.ggml_types import GGML_TYPES, file_type_name
from workbench.planner import estimate_memory
from workbench.synth.quant_types import QUANTS, file_type_label

N_CTX = 512
HELLO = [{"role": "user", "content": "Hello there"}]
FORMERLY_REFUSED = ["Q4_1", "IQ4_NL"]


@pytest.fixture(scope="module")
def models(tiny_model_path) -> dict[str, Path]:
    """The tiny llama in every type, built concurrently, slowest first (the i-quants' grid
    set-up runs on one core). The probe's own models are built by the tests that need them."""
    slowest_first = sorted(QUANTS, key=lambda q: (not QUANTS[q].imatrix, QUANTS[q].bits_per_weight))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        built = pool.map(lambda quant: tiny_model_path("llama", quant), slowest_first)
        return dict(zip(slowest_first, built, strict=True))


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine() as eng:
        yield eng


@pytest.mark.slow
@pytest.mark.parametrize("quant", list(QUANTS))
def test_loads_answers_and_is_planned_exactly(quant: str, models: dict[str, Path],
                                              engine: LocalEngine) -> None:
    import llama_cpp

    path = models[quant]
    header = read_header(path)
    spec = QUANTS[quant]
    assert spec.tensor_type in {t.type_name for t in header.tensors}
    file_type = header.metadata["general.file_type"]
    assert file_type == getattr(llama_cpp, spec.file_type or spec.ftype)
    assert file_type_name(file_type) == file_type_label(spec)

    # repack=None: the probe decides
    info = engine.load(*resolve_load_settings(LoadSettings(str(path), n_ctx=N_CTX)))
    assert engine.settings is not None and engine.settings.repack is not None
    assert not [n for n in info.notes if "no probe could be run" in n]  # the probe ran
    result = engine.chat(HELLO, Sampling(max_tokens=3, temperature=0.0))
    assert result.metrics.completion_tokens >= 1

    # as in test_planner_accuracy: repacking off, where llama.cpp's buffer lines hold each
    # weight once (with it on, its mapped-buffer line leaves out the span of repacked tensors)
    buffers = reported_buffers(engine, LoadSettings(str(path), n_ctx=N_CTX, repack=False))
    plan = estimate_memory(header, n_ctx=N_CTX, flash_attn="auto", kv_type="f16")
    assert plan.weights_bytes / MiB == pytest.approx(buffers["model"], abs=0.006)
    assert plan.kv_cache_bytes / MiB == pytest.approx(buffers["kv"], abs=0.011)
    assert plan.compute_bytes / MiB == pytest.approx(buffers["compute"], abs=0.006)


def test_block_sizes_are_llama_cpps() -> None:
    """Every ggml type the GGUF reader and planner know has ggml's own block and byte size."""
    import llama_cpp

    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    lib.ggml_blck_size.restype = ctypes.c_int64
    lib.ggml_type_size.restype = ctypes.c_size_t
    lib.ggml_blck_size.argtypes = lib.ggml_type_size.argtypes = [ctypes.c_int]
    for type_id, kind in GGML_TYPES.items():
        if lib.ggml_type_size(type_id) == 0:  # removed from ggml (Q4_0_4_4 ...)
            continue
        assert (kind.block_size, kind.type_size) == (lib.ggml_blck_size(type_id),
                                                     lib.ggml_type_size(type_id)), kind.name
    written = {spec.tensor_type for spec in QUANTS.values()}
    assert written <= {kind.name for kind in GGML_TYPES.values()}


def _workbench(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}  # no remembered verdict: the probe runs
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=300, env=env, check=False)


@pytest.mark.parametrize("quant", FORMERLY_REFUSED)
def test_run_answers_with_no_extra_flag(quant: str, tiny_model_path, tmp_path: Path) -> None:
    result = _workbench(tmp_path, "run", str(tiny_model_path("llama", quant)), "hi",
                        "--max-tokens", "4", "--ctx", "512", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["completion_tokens"] > 0


@pytest.mark.parametrize("quant", FORMERLY_REFUSED)
def test_bench_measures_with_no_extra_flag(quant: str, tiny_model_path, tmp_path: Path) -> None:
    result = _workbench(tmp_path, "bench", str(tiny_model_path("llama", quant)),
                        "--prompt-tokens", "16", "--gen-tokens", "4", "--repetitions", "1",
                        "--no-store", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["model"]["quant"] == quant
    assert doc["pp_tokens_per_s"] > 0 and doc["tg_tokens_per_s"] > 0
