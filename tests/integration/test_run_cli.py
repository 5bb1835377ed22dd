"""`workbench run` end to end: every synthetic architecture, streaming, JSON, crash + safe mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARCHES = ["llama", "qwen2", "gemma3", "phi3", "qwen2moe"]
JSON_KEYS = {"text", "ttft_ms", "prompt_tokens", "prompt_tokens_per_s", "completion_tokens",
             "gen_tokens_per_s", "total_ms", "load_ms"}


def workbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.parametrize("arch", ARCHES)
def test_run_json_on_every_architecture(arch: str, tiny_model_path) -> None:
    model = tiny_model_path(arch=arch, quant="Q8_0")
    result = workbench("run", str(model), "Tell me a story.", "--max-tokens", "12",
                       "--seed", "3", "--ctx", "512", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc.keys() >= JSON_KEYS
    assert doc["prompt_tokens"] > 3
    assert 0 < doc["completion_tokens"] <= 12
    assert doc["load_ms"] > 0 and doc["total_ms"] > 0
    assert doc["settings"]["threads"] >= 1


def test_run_streams_text_to_stdout_and_metrics_to_stderr(llama_tiny: Path) -> None:
    result = workbench("run", str(llama_tiny), "Hello", "--max-tokens", "10", "--seed", "1",
                       "--ctx", "512", "--temperature", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()  # the answer
    assert "TTFT" in result.stderr and "tok/s" in result.stderr
    assert "TTFT" not in result.stdout


def test_crash_is_retried_once_in_safe_mode(llama_tiny: Path) -> None:
    env = {**os.environ, "WORKBENCH_WORKER_FAULT": "abort-on-repack"}
    result = workbench("run", str(llama_tiny), "Hello", "--max-tokens", "4", "--repack", "on",
                       "--ctx", "512", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "SIGABRT" in result.stderr
    assert "retrying once in safe mode" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["settings"]["repack"] is False
    assert doc["completion_tokens"] > 0


def test_crash_that_safe_mode_cannot_fix_is_exit_1(tiny_model_path) -> None:
    broken = tiny_model_path(arch="llama", quant="F16", fault="duplicate-vocab")
    result = workbench("run", str(broken), "Hello", "--max-tokens", "4")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("workbench:")]
    assert "retrying once in safe mode" in lines[0]
    assert "SIGABRT" in lines[-1] and "GGML_ASSERT" in lines[-1]
    assert "Traceback" not in result.stderr


def test_malformed_gguf_is_exit_2(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\xff" * 64)
    result = workbench("run", str(bogus), "Hello")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
