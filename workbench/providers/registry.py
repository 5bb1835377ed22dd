"""Target specs, as typed on the command line and stored with every answer.

    local:PATH                 a GGUF file, answered by llama.cpp on this machine
    openai:MODEL               OpenAI (OPENAI_API_KEY or `workbench keys set openai`)
    anthropic:MODEL            Anthropic (ANTHROPIC_API_KEY or `workbench keys set anthropic`)
    gemini:MODEL               Google Gemini through its OpenAI-compatible endpoint
    profile:NAME/MODEL         a saved or preset OpenAI-compatible endpoint (see profiles.py)

Base URLs can be pointed elsewhere (a proxy, a test server) with OPENAI_BASE_URL,
ANTHROPIC_BASE_URL and GEMINI_BASE_URL.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.client import LocalEngine
from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput
from workbench.providers.anthropic_target import ANTHROPIC_BASE_URL, AnthropicTarget
from workbench.providers.base import Target
from workbench.providers.errors import MissingKey
from workbench.providers.local import LocalTarget
from workbench.providers.openai_compat import OPENAI_BASE_URL, OpenAICompatTarget
from workbench.providers.profiles import get_profile
from workbench.providers.retry import RetryPolicy
from workbench.store.secrets import Secret, env_vars_for, get_api_key
from workbench.store.settings import AppSettings

KINDS = ("local", "openai", "anthropic", "gemini", "profile")
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
PROVIDER_LABELS = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Google Gemini"}


@dataclass(frozen=True)
class TargetSpec:
    kind: str
    model: str  # the model name, or the GGUF path for local
    profile: str | None = None

    @property
    def text(self) -> str:
        if self.kind == "profile":
            return f"profile:{self.profile}/{self.model}"
        return f"{self.kind}:{self.model}"


def parse_target(text: str) -> TargetSpec:
    """Parse ``KIND:MODEL`` (see the module docstring); BadInput with the accepted forms."""
    kind, sep, rest = text.strip().partition(":")
    kind = kind.lower()
    forms = "local:PATH, openai:MODEL, anthropic:MODEL, gemini:MODEL or profile:NAME/MODEL"
    if not sep or kind not in KINDS:
        raise BadInput(f"bad target {text!r}: use {forms}")
    rest = rest.strip()
    if not rest:
        raise BadInput(f"bad target {text!r}: the model is missing (use {forms})")
    if kind == "profile":
        name, slash, model = rest.partition("/")
        if not slash or not name or not model:
            raise BadInput(f"bad target {text!r}: use profile:NAME/MODEL, e.g. "
                           "profile:openrouter/meta-llama/llama-3.3-70b-instruct")
        return TargetSpec("profile", model, name)
    return TargetSpec(kind, rest)


def _key(name: str, label: str, required: bool = True) -> Secret | None:
    key = get_api_key(name)
    if key is None and required:
        raise MissingKey(label, name, env_vars_for(name))
    return key.secret if key else None


def build_target(
    spec: TargetSpec | str,
    *,
    settings: AppSettings | None = None,
    load: LoadSettings | None = None,
    engine: LocalEngine | None = None,
    timeout_s: float = 120.0,
    retry: RetryPolicy | None = None,
    chat_format: str = "auto",
    on_model_used: Callable[[str], None] | None = None,
) -> Target:
    """A ready target for ``spec``. Raises BadInput (unknown profile, missing file) or
    MissingKey (no API key configured) - nothing is sent anywhere yet. ``chat_format``
    applies to local models (engine.settings.CHAT_FORMATS); cloud APIs format chats themselves.
    ``on_model_used(path)``: called when a local model is loaded (the library's "last used")."""
    if isinstance(spec, str):
        spec = parse_target(spec)
    settings = settings or AppSettings()
    if spec.kind == "local":
        path = Path(spec.model).expanduser()
        if not path.is_file():
            raise BadInput(f"no such model file: {path}")
        load_settings = load or LoadSettings(str(path))
        if load_settings.model_path != str(path):
            load_settings = LoadSettings(**{**load_settings.to_dict(), "model_path": str(path)})
        return LocalTarget(path, spec=spec.text, load=load_settings, engine=engine,
                           chat_format=chat_format, on_model_used=on_model_used)
    common: dict[str, Any] = {"spec": spec.text, "model": spec.model, "timeout_s": timeout_s,
                              "retry": retry}
    if spec.kind == "openai":
        return OpenAICompatTarget(
            **common, base_url=os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
            api_key=_key("openai", "OpenAI"), provider="openai", key_name="openai",
            label=f"openai/{spec.model}", max_tokens_field="max_completion_tokens")
    if spec.kind == "gemini":
        return OpenAICompatTarget(
            **common, base_url=os.environ.get("GEMINI_BASE_URL") or GEMINI_BASE_URL,
            api_key=_key("gemini", "Google Gemini"), provider="google", key_name="gemini",
            label=f"gemini/{spec.model}")
    if spec.kind == "anthropic":
        return AnthropicTarget(
            **common, base_url=os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL,
            api_key=_key("anthropic", "Anthropic"), label=f"anthropic/{spec.model}")
    assert spec.profile is not None
    profile = get_profile(settings, spec.profile)
    return OpenAICompatTarget(
        **common, base_url=profile.base_url,
        api_key=_key(profile.key, f"profile {profile.name}", profile.requires_key),
        provider=profile.pricing_provider, key_name=profile.key,
        label=f"{profile.name}/{spec.model}", stream_usage=profile.stream_usage,
        headers=profile.headers)
