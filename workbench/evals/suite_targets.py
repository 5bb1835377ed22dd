"""promptfoo provider ids (a suite's ``providers``, a judge's ``provider``) as Workbench
target specs (workbench/providers/registry.py): ``map_provider``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.evals.model import SuiteError, SuiteTarget
from workbench.providers.registry import parse_target

__all__ = ["PROVIDER_FORMS", "map_provider"]

PROVIDER_FORMS = (
    "openai:MODEL, openai:chat:MODEL (config.apiBaseUrl or apiHost for another server), "
    "anthropic:MODEL, anthropic:messages:MODEL, ollama:MODEL, ollama:chat:MODEL, google:MODEL, "
    "gemini:MODEL, openrouter:MODEL, groq:MODEL, mistral:MODEL, deepseek:MODEL, "
    "togetherai:MODEL, and Workbench's local:PATH[+lora:ADAPTER[@SCALE]] and "
    "profile:NAME/MODEL")
# promptfoo prefixes served by one of Workbench's preset profiles (providers/profiles.py)
PROFILE_PREFIXES = {"openrouter": "openrouter", "groq": "groq", "mistral": "mistral",
                    "deepseek": "deepseek", "togetherai": "together", "together": "together"}


def map_provider(entry: str | dict[str, Any], *, line: int | None, source: str,
                 base_dir: Path | None = None) -> SuiteTarget:
    """A promptfoo provider id (or ``{id, label, config}``) as a Workbench target.

    ``openai:MODEL`` and ``openai:chat:MODEL`` -> ``openai:MODEL`` (with ``config.apiBaseUrl``
    or ``config.apiHost``: ``openai:MODEL@BASE_URL``); ``anthropic:[messages:]MODEL`` ->
    ``anthropic:MODEL``; ``ollama:[chat:]MODEL`` -> ``profile:ollama/MODEL`` (with
    ``apiBaseUrl``: that server's ``/v1``); ``google:MODEL`` / ``gemini:MODEL`` ->
    ``gemini:MODEL``; ``openrouter|groq|mistral|deepseek|togetherai:MODEL`` -> the preset
    profile; ``local:PATH[+lora:ADAPTER[@SCALE]]...`` (the model's and the adapters' paths
    relative to ``base_dir``, the suite's folder; ``~`` expanded) and ``profile:NAME/MODEL`` as
    they are. Anything else is a SuiteError naming the line."""
    def fail(message: str) -> SuiteError:
        return SuiteError(message, source=source, line=line)

    config: dict[str, Any] = {}
    label: str | None = None
    if isinstance(entry, dict):
        if "id" not in entry and len(entry) == 1 and not set(entry) & {"label", "config"}:
            # promptfoo's {ID: {label, config}} form
            ((only_id, options),) = entry.items()
            if not isinstance(options, dict):
                raise fail(f"provider {only_id!r}: its options must be a mapping")
            entry = {"id": only_id, **options}
        unknown = sorted(set(entry) - {"id", "label", "config"}, key=str)
        if unknown:
            raise fail(f"provider option {unknown[0]!r} is not supported (a provider is "
                       "{id, label, config})")
        pid, label, raw_config = entry.get("id"), entry.get("label"), entry.get("config")
        if raw_config is not None and not isinstance(raw_config, dict):
            raise fail("provider config must be a mapping")
        config = dict(raw_config or {})
        if label is not None and (not isinstance(label, str) or not label.strip()):
            raise fail("provider label must be a non-empty string")
    else:
        pid = entry
    if not isinstance(pid, str) or not pid.strip():
        raise fail(f"a provider needs an id (one of: {PROVIDER_FORMS})")
    pid = pid.strip()
    spec = _provider_spec(pid, config, base_dir, fail)
    try:
        parse_target(spec)
    except BadInput as err:
        raise fail(f"provider {pid!r}: {err}") from None
    return SuiteTarget(spec=spec, label=(label.strip() if label else pid), line=line)


def _provider_spec(pid: str, config: dict[str, Any], base_dir: Path | None,
                   fail: Any) -> str:
    prefix, sep, rest = pid.partition(":")
    prefix = prefix.lower()
    base_url = _base_url(config, fail)
    extra = sorted(set(config) - {"apiBaseUrl", "apiHost"}, key=str)
    if extra:
        name = extra[0]
        if name.lower() in ("apikey", "apikeyenvar", "api_key"):
            raise fail(f"provider {pid!r}: no keys in a suite file; set it with `workbench keys "
                       "set` or the provider's environment variable")
        raise fail(f"provider {pid!r}: config {name!r} is not supported in a suite (use "
                   "--temperature / --max-tokens on the command line); supported config: "
                   "apiBaseUrl, apiHost")
    if not sep or not rest.strip():
        if pid.startswith(("file://", "python:", "exec:", "js:")):
            raise fail(f"provider {pid!r} is not supported: Workbench does not run code "
                       "from a suite")
        raise fail(f"unknown provider {pid!r}; supported: {PROVIDER_FORMS}")
    rest = rest.strip()
    if base_url and prefix not in ("openai", "ollama"):
        raise fail(f"provider {pid!r}: apiBaseUrl/apiHost is supported for openai: and "
                   "ollama: providers only")

    def model_after(kinds: tuple[str, ...], other_kinds: tuple[str, ...]) -> str:
        kind, colon, model = rest.partition(":")
        if colon and kind in kinds:
            model = model.strip()
        elif colon and kind in other_kinds:
            raise fail(f"provider {pid!r} is not supported: only chat models can be "
                       f"evaluated ({prefix}:{kinds[0]}:MODEL)")
        else:
            model = rest
        if not model:
            raise fail(f"provider {pid!r}: the model is missing")
        return model

    if prefix == "openai":
        model = model_after(("chat", "responses"),
                            ("completion", "embedding", "embeddings", "assistant", "image",
                             "realtime", "moderation", "transcription"))
        return f"openai:{model}@{base_url}" if base_url else f"openai:{model}"
    if prefix == "anthropic":
        return f"anthropic:{model_after(('messages',), ('completion',))}"
    if prefix == "ollama":
        model = model_after(("chat",), ("completion", "embedding", "embeddings"))
        if base_url:
            url = base_url if base_url.endswith("/v1") else f"{base_url}/v1"
            return f"openai:{model}@{url}"
        return f"profile:ollama/{model}"
    if prefix in ("google", "gemini"):
        return f"gemini:{rest}"
    if prefix in PROFILE_PREFIXES:
        return f"profile:{PROFILE_PREFIXES[prefix]}/{rest}"
    if prefix == "local":
        def resolved(text: str) -> str:
            path = Path(text).expanduser()
            return str(path if path.is_absolute() else (base_dir or Path.cwd()) / path)

        try:
            spec = parse_target(f"local:{rest}")
        except BadInput as err:
            raise fail(f"provider {pid!r}: {err}") from None
        return dataclasses.replace(
            spec, model=resolved(spec.model),
            loras=tuple((resolved(path), scale) for path, scale in spec.loras)).text
    if prefix == "profile":
        return f"profile:{rest}"
    if prefix in ("python", "exec", "file", "js", "golang", "http", "https", "websocket"):
        raise fail(f"provider {pid!r} is not supported: Workbench does not run code or call "
                   "arbitrary endpoints from a suite")
    raise fail(f"unknown provider {pid!r}; supported: {PROVIDER_FORMS}")


def _base_url(config: dict[str, Any], fail: Any) -> str | None:
    url = config.get("apiBaseUrl")
    host = config.get("apiHost")
    if url is not None and host is not None:
        raise fail("give apiBaseUrl or apiHost, not both")
    if host is not None:
        if not isinstance(host, str) or not host.strip():
            raise fail("apiHost must be a host name")
        host = host.strip()
        url = host if "://" in host else f"https://{host}/v1"  # promptfoo's reading
    if url is None:
        return None
    if not isinstance(url, str) or not url.strip():
        raise fail("apiBaseUrl must be a URL")
    return url.strip().rstrip("/")
