"""Target specs and how they become targets: keys, base URLs, profiles, destinations."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import BadInput
from workbench.providers.anthropic_target import AnthropicTarget
from workbench.providers.errors import MissingKey
from workbench.providers.local import LocalTarget, sampling_from
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.providers.profiles import PRESETS, Profile, all_profiles, save_profile
from workbench.providers.registry import build_target, parse_target
from workbench.store import secrets
from workbench.store.settings import AppSettings


@pytest.fixture(autouse=True)
def clean_env(memory_keyring, monkeypatch):
    for names in secrets.ENV_VARS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("text, kind, model, profile", [
    ("local:/models/a b.gguf", "local", "/models/a b.gguf", None),
    ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
    ("Anthropic:claude-haiku-4-5", "anthropic", "claude-haiku-4-5", None),
    ("gemini:gemini-2.5-flash", "gemini", "gemini-2.5-flash", None),
    ("profile:openrouter/meta-llama/llama-3.3-70b-instruct", "profile",
     "meta-llama/llama-3.3-70b-instruct", "openrouter"),
    ("local:C:\\models\\x.gguf", "local", "C:\\models\\x.gguf", None),
])
def test_parse(text, kind, model, profile) -> None:
    spec = parse_target(text)
    assert (spec.kind, spec.model, spec.profile) == (kind, model, profile)
    assert parse_target(spec.text) == spec


@pytest.mark.parametrize("text", ["gpt-4o", "azure:gpt-4o", "openai:", "profile:groq",
                                  "profile:/model", "profile:groq/", ""])
def test_parse_refuses_bad_specs(text) -> None:
    with pytest.raises(BadInput, match="target"):
        parse_target(text)


def test_cloud_targets_need_a_key_and_say_how_to_set_it() -> None:
    with pytest.raises(MissingKey, match=r"workbench keys set openai.*OPENAI_API_KEY"):
        build_target("openai:gpt-4o-mini")
    with pytest.raises(MissingKey, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        build_target("gemini:gemini-2.5-flash")
    with pytest.raises(MissingKey, match="OPENROUTER_API_KEY"):
        build_target("profile:openrouter/x/y")


def test_openai_anthropic_gemini_targets(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-reg-openai-12345")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-reg-anthropic-12345")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-reg-gemini-12345")
    openai_t = build_target("openai:gpt-4o-mini")
    assert isinstance(openai_t, OpenAICompatTarget)
    assert openai_t.destination == "api.openai.com" and openai_t.leaves_machine
    assert openai_t.provider == "openai" and openai_t.max_tokens_field == "max_completion_tokens"
    anthropic_t = build_target("anthropic:claude-haiku-4-5")
    assert isinstance(anthropic_t, AnthropicTarget)
    assert anthropic_t.destination == "api.anthropic.com"
    gemini = build_target("gemini:gemini-2.5-flash")
    assert gemini.provider == "google"
    assert gemini.destination == "generativelanguage.googleapis.com"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1")
    local_proxy = build_target("openai:gpt-4o-mini")
    assert not local_proxy.leaves_machine
    assert local_proxy.destination == "127.0.0.1:9999 (this machine)"


def test_profiles_presets_saved_and_keys() -> None:
    settings = AppSettings()
    vllm = build_target("profile:vllm/Qwen/Qwen2.5-7B-Instruct", settings=settings)
    assert isinstance(vllm, OpenAICompatTarget) and not vllm.leaves_machine
    assert vllm.provider == "self-hosted" and vllm.model == "Qwen/Qwen2.5-7B-Instruct"
    save_profile(settings, Profile("lab", "https://gpu-box.lan:8000/v1", requires_key=True))
    with pytest.raises(MissingKey, match="workbench keys set lab"):
        build_target("profile:lab/m", settings=settings)
    secrets.set_api_key("lab", "lab-token-123456789")
    lab = build_target("profile:lab/m", settings=settings)
    assert lab.leaves_machine and lab.destination == "gpu-box.lan:8000"
    with pytest.raises(BadInput, match="no profile named 'nope'"):
        build_target("profile:nope/m", settings=settings)
    assert set(PRESETS) <= set(all_profiles(settings))


def test_profiles_refuse_keys_and_bad_urls() -> None:
    with pytest.raises(BadInput, match="keyring"):
        Profile("x", "http://127.0.0.1:1/v1", headers={"Authorization": "Bearer abc"})
    with pytest.raises(BadInput, match="base URL"):
        Profile("x", "ftp://host/v1")
    with pytest.raises(BadInput, match="profile name"):
        Profile("Bad Name", "http://127.0.0.1:1/v1")
    with pytest.raises(BadInput, match="unknown fields"):
        Profile.from_dict("x", {"base_url": "http://127.0.0.1:1/v1", "api_key": "k"})


def test_local_target(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such model file"):
        build_target(f"local:{tmp_path / 'missing.gguf'}")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    target = build_target(f"local:{model}")
    assert isinstance(target, LocalTarget)
    assert target.destination == "this machine" and not target.leaves_machine
    assert target.label == "local/m.gguf" and target.load_settings.model_path == str(model)


def test_local_sampling_uses_workbench_defaults_where_params_say_none() -> None:
    from workbench.providers.base import Params

    sampling = sampling_from(Params(max_tokens=9, seed=3))
    assert sampling.max_tokens == 9 and sampling.seed == 3 and sampling.temperature == 0.7
    assert sampling_from(Params(temperature=0.0, top_p=0.5)).temperature == 0.0
