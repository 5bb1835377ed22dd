"""One network state for the whole app, failing safe: a settings file that cannot be used keeps
offline mode on (if it was on, or if that cannot be told), names the bad field, and is never
rewritten; HF_HUB_OFFLINE and WORKBENCH_OFFLINE count everywhere."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from workbench import cli
from workbench.hub.config import HubConfig
from workbench.net import offline
from workbench.net.offline import OfflineBlocked, network_state
from workbench.providers.base import Params
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.store.secrets import Secret
from workbench.store.settings import load_settings, settings_path

ENV_VARS = ("WORKBENCH_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture
def home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fresh WORKBENCH_HOME of tests/conftest.py, no offline variable set, no guard left
    behind."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield home
    offline.disable_guard()


def _write_settings(text: str | bytes) -> Path:
    path = settings_path()
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


BROKEN = [
    pytest.param('{"offline": true, "electricity_usd_per_kwh": "0.30"}',
                 "electricity_usd_per_kwh", id="string-number"),
    pytest.param('{"offline": true, "hardware_usd": -5}', "hardware_usd", id="negative"),
    pytest.param('{"offline": true, "profiles": [1, 2]}', "profiles", id="list-not-object"),
    pytest.param('{"hardware_usd": 3, "offline": true, "profi', "not valid JSON", id="torn"),
    pytest.param('{"offline": "yes"}', "offline must be true or false", id="offline-string"),
    pytest.param('[true]', "JSON object", id="not-an-object"),
    pytest.param(b'\xff\xfe{"offline": true', "not valid JSON", id="not-text"),
]


@pytest.mark.parametrize("text, field", BROKEN)
def test_unusable_settings_keep_offline_on_and_name_the_field(home: Path, text: str | bytes,
                                                              field: str) -> None:
    path = _write_settings(text)
    state = network_state()
    assert state.offline
    assert state.settings_problem and field in state.settings_problem
    assert str(path) in state.settings_problem
    assert HubConfig.from_env().offline
    assert path.read_bytes() == (text if isinstance(text, bytes) else text.encode())  # kept


def test_a_torn_file_that_still_says_offline_false_stays_online(home: Path) -> None:
    _write_settings('{"hardware_usd": 3, "offline": false, "profiles": {"a": {"base_u')
    state = network_state()
    assert not state.offline
    assert state.settings_problem and "not valid JSON" in state.settings_problem


def test_a_bad_field_beside_offline_false_keeps_the_users_choice(home: Path) -> None:
    _write_settings('{"offline": false, "cpu_watts_per_core": "8"}')
    state = network_state()
    assert not state.offline
    assert "cpu_watts_per_core" in (state.settings_problem or "")


def test_load_settings_names_the_file_and_the_field(home: Path) -> None:
    path = _write_settings('{"electricity_usd_per_kwh": "0.30"}')
    with pytest.raises(Exception) as caught:
        load_settings()
    assert type(caught.value).__name__ == "BadInput"
    assert str(path) in str(caught.value) and "electricity_usd_per_kwh" in str(caught.value)


@pytest.mark.parametrize("name", ENV_VARS)
def test_environment_variables_make_the_whole_app_offline(home: Path, name: str,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    assert not network_state().offline
    monkeypatch.setenv(name, "1")
    state = network_state()
    assert state.offline and state.reasons == (name,) and state.forced_by_environment
    assert HubConfig.from_env().offline


def test_good_settings_are_read_as_they_are(home: Path) -> None:
    _write_settings(json.dumps({"offline": True, "electricity_usd_per_kwh": 0.3}))
    state = network_state()
    assert state.offline and state.reasons == ("the settings",)
    assert state.settings_problem is None
    _write_settings(json.dumps({"offline": False}))
    assert network_state() == offline.NetworkState(False)


def test_cli_keeps_the_guard_on_with_a_broken_settings_file(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_settings('{"offline": true, "electricity_usd_per_kwh": "0.30"}')
    assert cli.main(["hw", "--json"]) == 0
    assert offline.guard_active()
    with pytest.raises(OfflineBlocked):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    err = capsys.readouterr().err
    assert "warning" in err and "electricity_usd_per_kwh" in err and "Traceback" not in err


def test_cli_blocks_connections_under_hf_hub_offline(home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["hw", "--json"]) == 0
    assert offline.guard_active()


def test_a_cloud_target_is_unavailable_with_a_broken_settings_file(home: Path) -> None:
    _write_settings('{"offline": true, "hardware_usd": -1}')
    target = OpenAICompatTarget(spec="openai:gpt-x", model="gpt-x",
                                base_url="https://api.openai.com/v1",
                                api_key=Secret("sk-broken-settings-0000"))
    result = target.stream([{"role": "user", "content": "hi"}], Params(max_tokens=4))
    assert result.error_kind == "offline"
