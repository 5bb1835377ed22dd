"""Target specs, as typed on the command line and stored with every answer.

    local:PATH                 a GGUF file, answered by llama.cpp on this machine
    local:PATH+lora:ADAPTER[@SCALE][+lora:ADAPTER2[@SCALE]]
                               the same with LoRA adapters (GGUF) applied at their scales
                               (1.0 when not given), checked against the model when the target
                               is built (a missing file, one that does not fit: BadInput)
    openai:MODEL               OpenAI (OPENAI_API_KEY or `workbench keys set openai`)
    openai:MODEL@BASE_URL      any OpenAI-compatible server at BASE_URL (http(s)://host[:port]/path,
                               e.g. openai:qwen2.5@http://127.0.0.1:1234/v1), sent no key:
                               OPENAI_API_KEY / the keyring's "openai" key goes only to
                               https://api.openai.com (a suite's apiBaseUrl must not collect
                               it); a server that needs a key is a profile (`workbench profiles
                               add NAME URL`, its key in the keyring under NAME); priced as
                               OpenAI only when the host is api.openai.com
    anthropic:MODEL            Anthropic (ANTHROPIC_API_KEY or `workbench keys set anthropic`)
    gemini:MODEL               Google Gemini through its OpenAI-compatible endpoint
    profile:NAME/MODEL         a saved or preset OpenAI-compatible endpoint (see profiles.py)
    router:NAME                a router (routers/NAME.yaml): parsed here, built by
                               workbench.routing.targets.build_any_target (a layer above)

Base URLs can be pointed elsewhere (a proxy, a test server) with OPENAI_BASE_URL,
ANTHROPIC_BASE_URL and GEMINI_BASE_URL.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from workbench.engine.client import LocalEngine
from workbench.engine.defaults import check_loras
from workbench.engine.settings import MAX_LORAS, LoadSettings, parse_lora
from workbench.errors import BadInput
from workbench.providers.anthropic_target import ANTHROPIC_BASE_URL, AnthropicTarget
from workbench.providers.base import Target
from workbench.providers.errors import MissingKey
from workbench.providers.local import LORA_SEP, LocalTarget, lora_suffix
from workbench.providers.openai_compat import OPENAI_BASE_URL, OpenAICompatTarget, host_of
from workbench.providers.profiles import SELF_HOSTED, get_profile
from workbench.providers.retry import RetryPolicy
from workbench.store.secrets import Secret, env_vars_for, get_api_key
from workbench.store.settings import AppSettings

KINDS = ("local", "openai", "anthropic", "gemini", "profile", "router")
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
PROVIDER_LABELS = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Google Gemini"}


@dataclass(frozen=True)
class TargetSpec:
    kind: str
    model: str  # the model name, or the GGUF path for local
    profile: str | None = None
    base_url: str | None = None  # openai:MODEL@BASE_URL: an OpenAI-compatible server elsewhere
    # local:PATH+lora:ADAPTER@SCALE: LoRA adapters (path as written, scale) applied in order
    loras: tuple[tuple[str, float], ...] = ()

    @property
    def text(self) -> str:
        if self.kind == "profile":
            return f"profile:{self.profile}/{self.model}"
        if self.base_url:
            return f"{self.kind}:{self.model}@{self.base_url}"
        return f"{self.kind}:{self.model}{lora_suffix(self.loras)}"

    @property
    def base(self) -> TargetSpec:
        """This target without its LoRA adapters (itself when it has none)."""
        return dataclasses.replace(self, loras=()) if self.loras else self


def _parse_local(text: str, rest: str) -> TargetSpec:
    """``PATH[+lora:ADAPTER[@SCALE]]...``: the model and its adapters (scale 1.0 by default)."""
    path, *adapters = rest.split(LORA_SEP)
    path = path.strip()
    if not path:
        raise BadInput(f"bad target {text!r}: the model file is missing before '{LORA_SEP}'")
    loras = []
    for adapter in adapters:
        adapter = adapter.strip()
        if not adapter:
            raise BadInput(f"bad target {text!r}: the adapter file is missing after "
                           f"'{LORA_SEP}' (use local:PATH+lora:ADAPTER[@SCALE])")
        loras.append(parse_lora(adapter, what=f"bad target {text!r}: LoRA adapter"))
    if len(loras) > MAX_LORAS:
        raise BadInput(f"bad target {text!r}: at most {MAX_LORAS} LoRA adapters")
    return TargetSpec("local", path, loras=tuple(loras))


def parse_target(text: str) -> TargetSpec:
    """Parse ``KIND:MODEL`` (see the module docstring); BadInput with the accepted forms."""
    kind, sep, rest = text.strip().partition(":")
    kind = kind.lower()
    forms = ("local:PATH[+lora:ADAPTER[@SCALE]], openai:MODEL[@BASE_URL], anthropic:MODEL, "
             "gemini:MODEL, profile:NAME/MODEL or router:NAME")
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
    if kind == "openai" and "@" in rest:
        model, _, base_url = rest.partition("@")
        model, base_url = model.strip(), base_url.strip()
        if not model:
            raise BadInput(f"bad target {text!r}: the model is missing before '@' (use "
                           "openai:MODEL@http://host:port/v1)")
        return TargetSpec(kind, model, base_url=_check_base_url(text, base_url))
    if kind == "local":
        return _parse_local(text, rest)
    return TargetSpec(kind, rest)


def _check_base_url(text: str, base_url: str) -> str:
    """The base URL of ``openai:MODEL@BASE_URL``, or BadInput: http(s) with a host, no
    credentials in it (keys belong in the keyring), no spaces."""
    parsed = urlparse(base_url)
    try:
        _ = parsed.port  # a port that is not a number raises ValueError
    except ValueError:
        raise BadInput(f"bad target {text!r}: the base URL's port is not a number") from None
    if (parsed.scheme.lower() not in ("http", "https") or not parsed.hostname
            or any(c.isspace() for c in base_url)):
        raise BadInput(f"bad target {text!r}: the base URL after '@' must be "
                       f"http(s)://host[:port]/path, e.g. openai:MODEL@http://127.0.0.1:1234/v1")
    if parsed.username or parsed.password:
        raise BadInput(f"bad target {text!r}: no credentials in the base URL; set the key "
                       "with `workbench keys set openai` or OPENAI_API_KEY")
    return base_url.rstrip("/")


def _host_port(base_url: str) -> str:
    parsed = urlparse(base_url)
    host = parsed.hostname or base_url
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{host}:{parsed.port}" if parsed.port else host


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
    if spec.kind == "router":
        raise BadInput(f"{spec.text}: router targets are built by workbench.routing "
                       "(workbench.routing.targets.build_any_target)")
    settings = settings or AppSettings()
    if spec.kind == "local":
        path = Path(spec.model).expanduser()
        if not path.is_file():
            raise BadInput(f"no such model file: {path}")
        load_settings = load or LoadSettings(str(path))
        if load_settings.model_path != str(path):
            load_settings = LoadSettings(**{**load_settings.to_dict(), "model_path": str(path)})
        if spec.loras:  # the target's own adapters, in place of any the load settings had
            load_settings = dataclasses.replace(load_settings, loras=tuple(
                (os.path.expanduser(adapter), scale) for adapter, scale in spec.loras))
        try:
            check_loras(load_settings)  # before anything loads: a missing file, a misfit
        except BadInput as err:
            raise BadInput(f"{spec.text}: {err}") from None
        return LocalTarget(path, spec=spec.text, load=load_settings, engine=engine,
                           chat_format=chat_format, on_model_used=on_model_used)
    common: dict[str, Any] = {"spec": spec.text, "model": spec.model, "timeout_s": timeout_s,
                              "retry": retry}
    if spec.kind == "openai" and spec.base_url:
        official = host_of(spec.base_url).lower() == host_of(OPENAI_BASE_URL)
        # the OpenAI key goes to OpenAI only, never to a host that a (shared) suite names
        sends_key = official and urlparse(spec.base_url).scheme.lower() == "https"
        return OpenAICompatTarget(
            **common, base_url=spec.base_url,
            api_key=_key("openai", "OpenAI", required=False) if sends_key else None,
            provider="openai" if official else SELF_HOSTED,
            key_name="openai" if sends_key else None,
            label=f"{spec.model}@{_host_port(spec.base_url)}",
            max_tokens_field="max_completion_tokens" if official else "max_tokens")
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
