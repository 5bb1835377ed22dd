"""The probe runner's handling of a child that crashes, hangs or talks nonsense, and the parser.

The "interpreters" here are small shell scripts standing in for a Python whose llama.cpp build
dies: real child processes, real signals.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from workbench.engine.worker.probe import parse_system_info
from workbench.hardware import probe_llama
from workbench.hardware.llama_probe import run_probe

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX shell scripts")


def fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


def test_crash_by_signal_is_reported(tmp_path: Path) -> None:
    result = run_probe(fake_python(tmp_path, "kill -SEGV $$"), timeout_s=10)
    assert result["ok"] is False
    assert result["signal"] == signal.SIGSEGV
    assert result["error"] == f"probe failed: signal {int(signal.SIGSEGV)} (SIGSEGV)"


def test_abort_is_reported(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "echo 'GGML_ASSERT(ctx) failed' >&2; kill -ABRT $$")
    build = probe_llama(python=python)
    assert build.probe_ok is False
    assert build.error == f"probe failed: signal {int(signal.SIGABRT)} (SIGABRT)"


def test_hang_times_out(tmp_path: Path) -> None:
    result = run_probe(fake_python(tmp_path, "exec sleep 30"), timeout_s=0.5)
    assert result["ok"] is False and "no answer within" in result["error"]


def test_exit_status_and_garbage(tmp_path: Path) -> None:
    failed = run_probe(fake_python(tmp_path, "echo 'ImportError: boom' >&2; exit 3"))
    assert failed["ok"] is False
    assert failed["error"] == "probe failed: exit status 3: ImportError: boom"
    garbage = run_probe(fake_python(tmp_path, "echo 'not json'"))
    assert garbage["ok"] is False and "not JSON" in garbage["error"]


def test_missing_interpreter(tmp_path: Path) -> None:
    result = run_probe(str(tmp_path / "no-such-python"))
    assert result["ok"] is False and "could not start" in result["error"]


def test_an_answer_from_another_interpreter(tmp_path: Path) -> None:
    answer = {"llama_cpp_importable": True, "llama_cpp_version": "9.9.9", "gpu_offload": True,
              "devices": [{"name": "CUDA0", "type": "gpu", "backend": "CUDA"}], "notes": []}
    python = fake_python(tmp_path, f"echo 'loading...' >&2; echo '{json.dumps(answer)}'")
    build = probe_llama(python=python)
    assert build.probe_ok and build.version == "9.9.9" and build.gpu_offload is True
    assert build.gpu_backends() == {"cuda"}
    assert build.cached is False


def test_the_child_finds_the_package(tmp_path: Path) -> None:
    """The runner puts Workbench on the child's path even when started elsewhere."""
    python = fake_python(tmp_path, 'echo "{\\"llama_cpp_importable\\": false, \\"error\\": '
                                   '\\"$PYTHONPATH\\"}"')
    build = probe_llama(python=python)
    root = str(Path(__file__).resolve().parents[2])
    assert root in (build.error or "").split(os.pathsep)


def test_parse_system_info() -> None:
    text = ("CPU : SSE3 = 1 | AVX2 = 1 | REPACK = 1 | CUDA : ARCHS = 890 | USE_GRAPHS = 1 | "
            "BLAS : Metal : EMBED_LIBRARY = 1 | ")
    assert parse_system_info(text) == {
        "CPU": {"SSE3": "1", "AVX2": "1", "REPACK": "1"},
        "CUDA": {"ARCHS": "890", "USE_GRAPHS": "1"},
        "BLAS": {},
        "Metal": {"EMBED_LIBRARY": "1"},
    }
    assert parse_system_info("") == {}
