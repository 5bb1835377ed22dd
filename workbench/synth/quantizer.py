"""Run llama.cpp's quantiser in a child process and turn its outcome into Workbench errors.

The child is ``python -m workbench.engine.worker.quantize`` (the only place that touches
llama_cpp); a failure or a crash there (abort, segfault, OOM kill) becomes a ``RuntimeFailure``
here, never a dead parent.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from workbench.cancel import Cancellable, is_cancelled
from workbench.errors import RuntimeFailure
from workbench.synth.quant_types import QUANTS

# Supported --quant values -> what they are (the table and how each is made: quant_types).
QUANT_TYPES: dict[str, str] = {name: q.description for name, q in QUANTS.items()}
DIRECT_TYPES = frozenset(name for name, q in QUANTS.items() if q.direct)

Progress = Callable[[int, int], None]  # (tensors done, tensors total)
CHILD_PROG = "python -m workbench.engine.worker.quantize"


class QuantizeCancelled(Exception):
    """The cancel token was set; the child was terminated."""


def child_env() -> dict[str, str]:
    """The environment for a child Python that must import this very ``workbench`` package."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("GGML_NO_BACKTRACE", "1")  # an abort should not spend seconds in gdb
    return env


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"crashed ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def quantize_file(src: Path, dst: Path, quant: str, *, threads: int | None = None,
                  progress: Progress | None = None, cancel: Cancellable | None = None,
                  label: str | None = None, allow_requantize: bool = False) -> None:
    """Quantise ``src`` to ``dst`` as ``quant`` with llama.cpp, in a child process.

    ``label`` names the model in error messages (default: the source file name);
    ``allow_requantize``: ``src`` may be quantised already (llama.cpp refuses that otherwise).
    """
    cmd = [sys.executable, "-m", "workbench.engine.worker.quantize", str(src), str(dst), quant,
           "--threads", str(threads or 0), "--progress"]
    if allow_requantize:
        cmd.append("--allow-requantize")
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=child_env()) as proc:
        stderr = _follow(proc, progress, cancel)
    if proc.returncode != 0:
        detail = _reason(stderr)
        raise RuntimeFailure(f"llama.cpp's quantiser {describe_exit(proc.returncode)} while "
                             f"making {quant} of {label or src.name}{detail}")


def _follow(proc: subprocess.Popen[str], progress: Progress | None,
            cancel: Cancellable | None) -> list[str]:
    """Wait for the child, passing its progress lines on; returns its stderr lines."""
    lines: queue.Queue[str | None] = queue.Queue()
    stderr: list[str] = []

    def pump_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_stderr() -> None:
        assert proc.stderr is not None
        stderr.extend(proc.stderr)

    readers = [threading.Thread(target=pump_stdout, daemon=True),
               threading.Thread(target=pump_stderr, daemon=True)]
    for reader in readers:
        reader.start()
    try:
        while True:
            if is_cancelled(cancel):
                raise QuantizeCancelled
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            parts = line.split()
            if progress is not None and len(parts) == 3 and parts[0] == "progress":
                progress(int(parts[1]), int(parts[2]))
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(timeout=5)
    return stderr


def _reason(stderr: list[str]) -> str:
    """The most telling line of the child's stderr: an error or assertion, else the last."""
    lines = [ln.strip() for ln in stderr if ln.strip()]
    telling = [ln for ln in lines if "error" in ln.lower() or "GGML_ASSERT" in ln]
    line = (telling or lines or [""])[-1]
    line = line.split(f"{CHILD_PROG}: error: ", 1)[-1]
    assertion = re.search(r"[^/\\\s]+:\d+: GGML_ASSERT.*", line)  # drop the build directory
    line = assertion.group(0) if assertion else line
    return f": {line[:300]}" if line else ""
