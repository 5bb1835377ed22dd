"""A model process that prints a huge line (llama-cpp-python prints a GGUF's whole metadata as
one stderr line) is kept to a bounded line in the log buffer and the crash details."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

from workbench.engine.client import LocalEngine
from workbench.engine.log_lines import MAX_LINE_BYTES, bounded_lines

HUGE = 8_000_000
SUFFIX_ROOM = 64


def _printer(tmp_path: Path, body: str) -> Path:
    """An interpreter stand-in: prints to stderr, then runs the real command (the worker)."""
    script = tmp_path / "python-printing"
    script.write_text(f"#!/bin/sh\n{sys.executable} -c '{body}'\nexec {sys.executable} \"$@\"\n")
    script.chmod(0o755)
    return script


def test_a_huge_stderr_line_is_cut_in_the_log_buffer(tmp_path: Path) -> None:
    metadata = f"import sys; sys.stderr.write(\"Model metadata: {{\" + \"t\" * {HUGE} + \"}}\\n\")"
    engine = LocalEngine(python=str(_printer(tmp_path, metadata)))
    with engine:
        engine.start()
        metadata_lines = [line for line in engine.log if line.startswith("Model metadata")]
        assert metadata_lines, list(engine.log)
    [line] = metadata_lines
    assert len(line.encode()) <= MAX_LINE_BYTES + SUFFIX_ROOM
    assert line.endswith(f"({HUGE + 18 - MAX_LINE_BYTES:,} more bytes not kept)")
    assert all(len(kept.encode()) <= MAX_LINE_BYTES + SUFFIX_ROOM for kept in engine.log)


def test_reading_a_huge_line_never_holds_it_in_memory() -> None:
    child = subprocess.Popen([sys.executable, "-c", f"import sys; sys.stdout.write('x' * {HUGE}"
                              " + '\\nshort line\\n')"], stdout=subprocess.PIPE)
    assert child.stdout is not None
    tracemalloc.start()
    try:
        lines = list(bounded_lines(child.stdout))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        child.wait(timeout=30)
    assert lines[1] == "short line" and len(lines) == 2
    assert lines[0].startswith("x" * 100) and lines[0].endswith("more bytes not kept)")
    assert peak < 1 << 20, f"{peak >> 20} MiB held for one line"
