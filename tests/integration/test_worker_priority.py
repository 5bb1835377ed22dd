"""The GUI's model process runs a little below the window's priority (and its threads too)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from workbench.engine.client import LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.settings import LoadSettings


@pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX niceness")
def test_nice_worker_and_its_llama_threads_run_below_the_app(llama_tiny: Path) -> None:
    engine = LocalEngine(nice=5)
    try:
        engine.start()
        engine.load(*resolve_load_settings(LoadSettings(str(llama_tiny), n_ctx=512, threads=2)))
        worker = psutil.Process(engine.pid)
        expected = min(os.nice(0) + 5, 19)
        assert worker.nice() == expected
        threads = [psutil.Process(t.id) for t in worker.threads()] if sys.platform.startswith(
            "linux") else []
        assert all(t.nice() == expected for t in threads)  # llama.cpp's threads inherit it
    finally:
        engine.close()


def test_default_worker_keeps_the_normal_priority(llama_tiny: Path) -> None:
    engine = LocalEngine()
    try:
        engine.start()
        assert psutil.Process(engine.pid).nice() == psutil.Process().nice()
    finally:
        engine.close()
