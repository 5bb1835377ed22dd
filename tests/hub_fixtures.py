"""pytest fixtures for the loopback Hub (register with ``pytest_plugins = ["tests.hub_fixtures"]``).

- ``fake_hub``: a running ``FakeHub`` (closed after the test);
- ``hub_env``: HF_ENDPOINT at it, a fresh HF_HOME and WORKBENCH_HOME, no token, online, and a
  throwaway keyring (in memory in this process, the null backend in child processes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_server import FakeHub, HubEnv, memory_keyring

ISOLATED_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "HF_HUB_CACHE", "HF_TOKEN_PATH", "HF_HUB_DISABLE_IMPLICIT_TOKEN")


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    try:
        yield hub
    finally:
        hub.close()


@pytest.fixture
def hub_env(fake_hub: FakeHub, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnv]:
    """HF_ENDPOINT at the fake Hub, a fresh HF_HOME and WORKBENCH_HOME, no token, online, and
    a throwaway keyring (in memory here, the null backend in child processes)."""
    import keyring

    hf_home = tmp_path / "hf-home"
    wb_home = tmp_path / "workbench-home"
    hf_home.mkdir()
    wb_home.mkdir()
    for name in ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("WORKBENCH_HOME", str(wb_home))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    previous = keyring.get_keyring()
    backend = memory_keyring()
    keyring.set_keyring(backend)
    try:
        yield HubEnv(fake_hub, hf_home, wb_home, backend)
    finally:
        keyring.set_keyring(previous)
