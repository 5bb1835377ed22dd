"""``workbench estimate``: JSON keys, the verdict, auto offload with given memory, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.gguf import read_header
from workbench.planner import estimate_memory

KEYS = ("weights_bytes", "kv_cache_bytes", "compute_bytes", "total_bytes", "gpu_bytes",
        "cpu_bytes", "gpu_layers", "n_layers", "ctx", "fit", "predicted_prompt_tokens_per_s",
        "predicted_gen_tokens_per_s")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", "estimate", *args],
                          capture_output=True, text=True, timeout=120)


def test_json_document(llama_tiny: Path) -> None:
    result = run_cli(str(llama_tiny), "--ctx", "1000", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    for key in KEYS:
        assert key in doc
    assert doc["ctx"] == 1024
    assert doc["fit"] == "cpu_only" and doc["gpu_bytes"] == 0
    assert doc["predicted_gen_tokens_per_s"] > 0 and doc["speed_note"]
    assert doc["speed_kind"] == "upper bound"  # no calibration in the tests' fresh home
    plan = estimate_memory(read_header(llama_tiny), n_ctx=1000)
    assert doc["total_bytes"] == plan.total_bytes
    assert doc["kv_cache_bytes"] == plan.kv_cache_bytes


def test_auto_offload_with_given_memory(llama_tiny: Path) -> None:
    result = run_cli(str(llama_tiny), "--gpu-layers", "auto", "--vram", "8", "--ram", "8",
                     "--backend", "cuda", "--kv-type", "q8_0", "--flash-attn", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["fit"] == "full_gpu"
    assert doc["gpu_layers"] == doc["n_layers"] == 3
    assert doc["kv_type"] == "q8_0" and doc["flash_attn"] is True
    assert doc["offload"]["margin_bytes"] == 1 << 30


def test_human_output_has_the_table_and_a_verdict(llama_tiny: Path) -> None:
    result = run_cli(str(llama_tiny), "--gpu-layers", "1", "--backend", "cuda")
    assert result.returncode == 0, result.stderr
    assert "KV cache" in result.stdout and "compute buffer" in result.stdout
    assert "partial offload: 1 of 3 layers on the GPU" in result.stdout


def test_human_output_says_an_upper_bound_is_not_a_prediction(llama_tiny: Path) -> None:
    result = run_cli(str(llama_tiny))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # the terminal's line breaks
    assert "Speed: generation ≤ " in text and " tok/s (upper bound)" in text
    assert "An upper bound, not a prediction" in text and "--profile measures this CPU" in text


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"GGUF\x03\x00"])
def test_bad_file_is_exit_2(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    result = run_cli(str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith("workbench: error:")
    assert "Traceback" not in result.stderr


def test_missing_file_and_bad_options_are_exit_2(tmp_path: Path, llama_tiny: Path) -> None:
    assert run_cli(str(tmp_path / "absent.gguf")).returncode == 2
    assert run_cli(str(llama_tiny), "--gpu-layers", "lots").returncode == 2
    assert run_cli(str(llama_tiny), "--ctx", "-1").returncode == 2
    refused = run_cli(str(llama_tiny), "--kv-type", "q8_0", "--flash-attn", "off")
    assert refused.returncode == 2 and "flash attention" in refused.stderr
