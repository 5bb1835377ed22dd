"""API keys: in the OS keyring (the ``keyring`` package), or in environment variables.

Keys never go to the settings file, the database, logs or exports. Lookup order: the
environment variable(s) of that provider first (``OPENAI_API_KEY``, ...), then the keyring
entry ``service="workbench", username=<name>``. Every key this process hands out is remembered
(in memory only) so that ``redact()`` and the log filter can scrub it from any text.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from workbench.errors import BadInput, RuntimeFailure

SERVICE = "workbench"
REDACTED = "[redacted]"

# Key names and the environment variables that can hold them (first one set wins).
ENV_VARS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
}

_served: set[str] = set()
_served_lock = threading.Lock()


class SecretsUnavailable(RuntimeFailure):
    """The OS keyring cannot be used (no backend, locked, access denied)."""


class Secret:
    """A key value that does not show itself in repr/str (so it cannot leak into a log line)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        _remember(value)  # so that redact() scrubs it from any text, wherever it came from

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(****)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ApiKey:
    name: str
    secret: Secret
    source: str  # "env:OPENAI_API_KEY" or "keyring"


def env_vars_for(name: str) -> tuple[str, ...]:
    """The environment variables for key ``name`` (profiles: WORKBENCH_KEY_<NAME>)."""
    known = ENV_VARS.get(name)
    if known:
        return known
    slug = "".join(c if c.isalnum() else "_" for c in name.upper())
    return (f"WORKBENCH_KEY_{slug}",)


def _validate_name(name: str) -> None:
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise BadInput(f"bad key name {name!r}: a provider or profile name without spaces")


def _remember(value: str) -> None:
    if len(value) >= 8:  # short strings would redact ordinary words
        with _served_lock:
            _served.add(value)


def _keyring():  # imported lazily: keyring picks its backend on first use
    try:
        import keyring
        import keyring.errors
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise SecretsUnavailable("the keyring package is not installed; use environment "
                                 "variables for API keys") from err
    return keyring


def get_api_key(name: str, *, use_keyring: bool = True) -> ApiKey | None:
    """The key for ``name`` (environment first, then the keyring), or None."""
    _validate_name(name)
    for var in env_vars_for(name):
        value = os.environ.get(var, "").strip()
        if value:
            _remember(value)
            return ApiKey(name, Secret(value), f"env:{var}")
    if not use_keyring:
        return None
    keyring = _keyring()
    try:
        value = keyring.get_password(SERVICE, name)
    except keyring.errors.KeyringError as err:
        logging.getLogger(__name__).debug("keyring lookup for %s failed: %s", name,
                                          type(err).__name__)
        return None
    if value:
        _remember(value)
        return ApiKey(name, Secret(value), "keyring")
    return None


def set_api_key(name: str, value: str) -> None:
    """Store ``value`` in the OS keyring under ``name``."""
    _validate_name(name)
    value = value.strip()
    if not value:
        raise BadInput("the key is empty")
    if any(c.isspace() for c in value):
        raise BadInput("the key contains spaces or line breaks; paste it again")
    keyring = _keyring()
    try:
        keyring.set_password(SERVICE, name, value)
    except keyring.errors.KeyringError as err:
        vars_ = " or ".join(env_vars_for(name))
        raise SecretsUnavailable(f"the OS keyring refused the key ({type(err).__name__}); set "
                                 f"{vars_} in the environment instead") from None
    _remember(value)


def delete_api_key(name: str) -> bool:
    """Remove the keyring entry; False when there was none."""
    _validate_name(name)
    keyring = _keyring()
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as err:
        raise SecretsUnavailable(f"the OS keyring failed: {type(err).__name__}") from None
    return True


def key_status(name: str) -> str | None:
    """Where the key for ``name`` comes from ("env:VAR" / "keyring"), None when there is none."""
    try:
        key = get_api_key(name)
    except SecretsUnavailable:
        key = get_api_key(name, use_keyring=False)
    return key.source if key else None


def known_secret_values() -> set[str]:
    """Every key value this process has handed out (and the provider env vars now set)."""
    values = set()
    for names in ENV_VARS.values():
        for var in names:
            value = os.environ.get(var, "").strip()
            if len(value) >= 8:
                values.add(value)
    with _served_lock:
        return values | _served


def redact(text: str) -> str:
    """``text`` with every known key value replaced by ``[redacted]``."""
    if not text:
        return text
    for value in sorted(known_secret_values(), key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def contains_secret(text: str) -> bool:
    return any(value in text for value in known_secret_values())


class RedactingFilter(logging.Filter):
    """Scrubs known key values from log records (message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_filter = RedactingFilter()


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add the redacting filter to ``logger``'s handlers (root by default) and to the logger."""
    target = logger or logging.getLogger()
    if _filter not in target.filters:
        target.addFilter(_filter)
    for handler in target.handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)
