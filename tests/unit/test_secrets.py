"""API keys: environment first, then the keyring (a throwaway in-memory backend here, never the
OS one); redaction; settings refuse keys; `workbench keys` never shows or writes a value."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import keyring.backends.fail
import pytest

from tests.fakes.keyring_backend import installed
from workbench.cli import main
from workbench.errors import BadInput
from workbench.store import secrets
from workbench.store.secrets import (
    REDACTED,
    RedactingFilter,
    Secret,
    SecretsUnavailable,
    get_api_key,
    key_status,
    redact,
    set_api_key,
)
from workbench.store.settings import AppSettings, load_settings, save_settings

KEY = "sk-test-secret-4f2c9a7b1e"


@pytest.fixture
def home(home: Path, monkeypatch) -> Path:
    """The fresh WORKBENCH_HOME of tests/conftest.py, with no API key variable set."""
    for names in secrets.ENV_VARS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    return home


def test_environment_wins_over_the_keyring(home, memory_keyring, monkeypatch) -> None:
    set_api_key("openai", "sk-from-keyring-123456")
    assert memory_keyring.store[("workbench", "openai")] == "sk-from-keyring-123456"
    key = get_api_key("openai")
    assert key is not None and key.source == "keyring"
    assert key.secret.reveal() == "sk-from-keyring-123456"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-1234567")
    key = get_api_key("openai")
    assert key is not None and key.source == "env:OPENAI_API_KEY"
    assert key.secret.reveal() == "sk-from-env-1234567"


def test_gemini_accepts_either_variable_and_profiles_get_their_own(home, memory_keyring,
                                                                   monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key-1234567")
    assert key_status("gemini") == "env:GOOGLE_API_KEY"
    assert secrets.env_vars_for("my-vllm") == ("WORKBENCH_KEY_MY_VLLM",)
    assert key_status("my-vllm") is None
    set_api_key("my-vllm", "vllm-token-12345678")
    assert key_status("my-vllm") == "keyring"
    assert secrets.delete_api_key("my-vllm") is True
    assert secrets.delete_api_key("my-vllm") is False
    assert key_status("my-vllm") is None


def test_secret_values_never_show_in_repr_or_logs(home) -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret) and KEY not in str(secret) and KEY not in f"{secret}"
    assert KEY not in repr(secrets.ApiKey("openai", secret, "keyring"))
    assert redact(f"Incorrect API key provided: {KEY}.") == f"Incorrect API key provided: "\
        f"{REDACTED}."
    stream = io.StringIO()
    logger = logging.getLogger("workbench.test.redaction")
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("request failed with key %s", KEY)
        logger.warning(f"inline {KEY}")
    finally:
        logger.removeHandler(handler)
    assert KEY not in stream.getvalue()
    assert stream.getvalue().count(REDACTED) == 2


def test_bad_keys_and_names_are_refused(home, memory_keyring) -> None:
    with pytest.raises(BadInput):
        set_api_key("openai", "   ")
    with pytest.raises(BadInput):
        set_api_key("openai", "sk-two\nlines")
    with pytest.raises(BadInput):
        set_api_key("bad name", "sk-123456789")


def test_without_a_keyring_backend_lookups_fall_back_and_set_explains(home,
                                                                      monkeypatch) -> None:
    with installed(keyring.backends.fail.Keyring()):
        assert get_api_key("anthropic") is None
        with pytest.raises(SecretsUnavailable, match="ANTHROPIC_API_KEY"):
            set_api_key("anthropic", "sk-ant-123456789")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-123456")
        assert key_status("anthropic") == "env:ANTHROPIC_API_KEY"


def test_settings_never_hold_keys(home) -> None:
    settings = AppSettings()
    settings.profiles["mine"] = {"base_url": "http://127.0.0.1:8000/v1", "api_key": "x" * 20}
    with pytest.raises(BadInput, match=r"profiles\.mine\.api_key"):
        save_settings(settings)
    Secret(KEY)  # a key this process knows
    settings.profiles["mine"] = {"base_url": "http://127.0.0.1:8000/v1",
                                 "description": f"uses {KEY}"}
    with pytest.raises(BadInput, match="known key"):
        save_settings(settings)
    settings.profiles["mine"] = {"base_url": "http://127.0.0.1:8000/v1"}
    path = save_settings(settings)
    assert json.loads(path.read_text())["profiles"]["mine"]["base_url"].endswith("/v1")
    assert load_settings().profiles == settings.profiles


def test_keys_cli_sets_lists_and_deletes_without_showing_values(home, memory_keyring,
                                                                monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    assert main(["keys", "set", "anthropic", "--stdin"]) == 0
    assert memory_keyring.store[("workbench", "anthropic")] == KEY
    assert main(["keys", "list", "--json"]) == 0
    out, err = capsys.readouterr()
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["anthropic"]["source"] == "keyring"
    assert rows["openai"]["source"] is None
    assert "openrouter" in rows and rows["openrouter"]["env_vars"] == ["OPENROUTER_API_KEY"]
    assert KEY not in out and KEY not in err
    assert main(["keys", "delete", "anthropic"]) == 0
    assert ("workbench", "anthropic") not in memory_keyring.store
    assert main(["keys", "delete", "anthropic"]) == 2
    for path in home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
