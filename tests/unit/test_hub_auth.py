"""Hub configuration from the environment (at call time) and the token's sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.hub import auth
from workbench.hub.config import HubConfig
from workbench.hub.errors import OfflineError


def test_config_reads_the_environment_at_call_time(hub_env, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example:8080/")
    config = HubConfig.from_env()
    assert config.endpoint == "http://mirror.example:8080"
    assert config.cache_dir == hub_env.hf_home / "hub"
    assert not config.offline
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_env.hf_home / "elsewhere"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = HubConfig.from_env()
    assert config.cache_dir == hub_env.hf_home / "elsewhere"
    assert config.offline
    with pytest.raises(OfflineError, match="offline: search needs the Hugging Face Hub"):
        config.require_online("search")


def test_default_hf_home_follows_xdg(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert HubConfig.from_env().cache_dir == tmp_path / "huggingface" / "hub"


def test_resolve_url_quotes_like_huggingface_hub(hub_env) -> None:
    from huggingface_hub import hf_hub_url

    config = HubConfig.from_env()
    for name in ("Q4_K_M/model Q4 #1-00001-of-00002.gguf", "a.gguf"):
        assert config.resolve_url("o/r", name, "main") == hf_hub_url(
            "o/r", name, revision="main", endpoint=config.endpoint)


def test_token_order_env_then_keyring_then_hf_login(hub_env, monkeypatch) -> None:
    assert auth.resolve_token() is None
    (hub_env.hf_home / "token").write_text("hf_from_login\n", encoding="utf-8")
    assert auth.resolve_token() == auth.Token("hf_from_login", "hf-login")
    auth.save_token("hf_from_keyring")
    assert hub_env.keyring.store == {("workbench", "huggingface"): "hf_from_keyring"}
    assert auth.resolve_token() == auth.Token("hf_from_keyring", "keyring")
    monkeypatch.setenv("HF_TOKEN", " hf_from_env ")
    token = auth.resolve_token()
    assert token == auth.Token("hf_from_env", "env")
    assert "hf_from_env" not in repr(token)  # never shown by accident
    monkeypatch.delenv("HF_TOKEN")
    assert auth.forget_token()
    assert not auth.forget_token()
    assert auth.resolve_token().source == "hf-login"


def test_a_broken_keyring_is_not_fatal(hub_env, monkeypatch) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("the keychain is locked")

    monkeypatch.setattr(hub_env.keyring, "get_password", broken)
    assert auth.resolve_token() is None


def test_token_path_override(hub_env, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "tok"
    path.parent.mkdir()
    path.write_text("hf_x", encoding="utf-8")
    monkeypatch.setenv("HF_TOKEN_PATH", str(path))
    assert auth.resolve_token() == auth.Token("hf_x", "hf-login")
