"""Target specs as the router sees them: which answer on this machine, which are well formed."""

from __future__ import annotations

from urllib.parse import urlparse

from workbench.errors import BadInput
from workbench.net.offline import is_loopback_host
from workbench.providers.profiles import get_profile
from workbench.providers.registry import parse_target
from workbench.store.settings import AppSettings


def on_this_machine(spec: str, settings: AppSettings | None = None) -> bool:
    """True for a target that answers on this machine: a ``local:`` model, an OpenAI-compatible
    server on loopback (``openai:MODEL@http://127.0.0.1:PORT/v1``, a profile such as
    ``profile:ollama/...``)."""
    try:
        parsed = parse_target(spec)
    except BadInput:
        return False
    if parsed.kind == "local":
        return True
    if parsed.kind == "openai" and parsed.base_url:
        return is_loopback_host(urlparse(parsed.base_url).hostname)
    if parsed.kind == "profile" and parsed.profile:
        try:
            return get_profile(settings or AppSettings(), parsed.profile).is_local
        except BadInput:
            return False
    return False


def check_spec(spec: object, what: str) -> str:
    """``spec`` stripped, or BadInput: not a target spec, or a router (routers do not nest)."""
    if not isinstance(spec, str) or not spec.strip():
        raise BadInput(f"the router's {what} target must be a target spec, e.g. "
                       "local:model.gguf or openai:gpt-4o-mini")
    spec = spec.strip()
    if parse_target(spec).kind == "router":
        raise BadInput(f"the router's {what} target cannot be another router ({spec})")
    return spec
