"""Saved OpenAI-compatible endpoints ("profiles"): hosted open-model APIs and self-hosted servers.

A profile is a base URL plus how to price and authenticate it - never the key itself (that is in
the keyring under the profile's ``key_name``, or in its environment variable). Presets cover
the common endpoints; saved profiles (settings.json, "profiles") add to or replace them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from workbench.errors import BadInput
from workbench.net.offline import is_loopback_host
from workbench.store.settings import AppSettings, find_credentials

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
SELF_HOSTED = "self-hosted"


@dataclass(frozen=True)
class Profile:
    name: str
    base_url: str
    pricing_provider: str = SELF_HOSTED  # the pricing table's provider, or "self-hosted"
    requires_key: bool = True
    key_name: str | None = None  # keyring name (default: the profile name)
    stream_usage: bool = True  # send stream_options.include_usage
    headers: dict[str, str] = field(default_factory=dict)
    description: str = ""
    preset: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise BadInput(f"bad profile name {self.name!r}: lowercase letters, digits, '-', "
                           "'_' and '.'")
        parsed = urlparse(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise BadInput(f"profile {self.name}: base URL must be http(s)://host[:port]/path, "
                           f"not {self.base_url!r}")
        if find_credentials({"headers": self.headers}):
            raise BadInput(f"profile {self.name}: put keys in the keyring (`workbench keys set "
                           f"{self.name}`), not in headers")
        if any(h.lower() in ("authorization", "x-api-key", "api-key") for h in self.headers):
            raise BadInput(f"profile {self.name}: authentication headers are set from the "
                           "keyring, not stored in the profile")

    @property
    def key(self) -> str:
        return self.key_name or self.name

    @property
    def is_local(self) -> bool:
        return is_loopback_host(urlparse(self.base_url).hostname)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("preset")
        data.pop("name")
        return data

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Profile:
        names = {f.name for f in dataclasses.fields(cls)} - {"name", "preset"}
        unknown = set(data) - names
        if unknown:
            raise BadInput(f"profile {name}: unknown fields {', '.join(sorted(unknown))}")
        return cls(name=name, **data)


PRESETS: dict[str, Profile] = {p.name: p for p in (
    Profile("openrouter", "https://openrouter.ai/api/v1", "openrouter",
            description="OpenRouter: many models behind one key (reports the cost itself)",
            preset=True),
    Profile("groq", "https://api.groq.com/openai/v1", "groq", description="Groq",
            preset=True),
    Profile("together", "https://api.together.xyz/v1", "together", description="Together AI",
            preset=True),
    Profile("mistral", "https://api.mistral.ai/v1", "mistral", description="Mistral AI",
            preset=True),
    Profile("deepseek", "https://api.deepseek.com/v1", "deepseek", description="DeepSeek",
            preset=True),
    Profile("vllm", "http://127.0.0.1:8000/v1", requires_key=False,
            description="vLLM's OpenAI-compatible server on this machine", preset=True),
    Profile("llama-server", "http://127.0.0.1:8080/v1", requires_key=False,
            description="llama.cpp's llama-server on this machine", preset=True),
    Profile("ollama", "http://127.0.0.1:11434/v1", requires_key=False,
            description="Ollama's OpenAI-compatible API on this machine", preset=True),
    Profile("tgi", "http://127.0.0.1:3000/v1", requires_key=False,
            description="Hugging Face TGI (Messages API) on this machine", preset=True),
)}


def all_profiles(settings: AppSettings) -> dict[str, Profile]:
    """Presets, then the saved profiles (a saved one replaces a preset of the same name)."""
    profiles = dict(PRESETS)
    for name, data in settings.profiles.items():
        if not isinstance(data, dict):
            raise BadInput(f"settings: profile {name} must be an object")
        profiles[name] = Profile.from_dict(name, data)
    return profiles


def get_profile(settings: AppSettings, name: str) -> Profile:
    profiles = all_profiles(settings)
    if name not in profiles:
        known = ", ".join(sorted(profiles))
        raise BadInput(f"no profile named {name!r} (known: {known}); add one with "
                       f"`workbench profiles add {name} BASE_URL`")
    return profiles[name]


def save_profile(settings: AppSettings, profile: Profile) -> None:
    """Put ``profile`` into ``settings.profiles`` (the caller saves the settings)."""
    settings.profiles[profile.name] = profile.to_dict()


def remove_profile(settings: AppSettings, name: str) -> bool:
    return settings.profiles.pop(name, None) is not None
