"""API keys: in the OS keyring (the ``keyring`` package), or in environment variables.

Keys never go to the settings file, the database, logs or exports. Lookup order: the
environment variable(s) of that provider first (``OPENAI_API_KEY``, ...), then the keyring
entry ``service="workbench", username=<name>``. Every key this process hands out is remembered
(in memory only) so that ``redact()`` and the log filter can scrub it from any text; text that
looks like a key (``sk-``, ``sk-ant-``, ``sk-or-``, ``AIza``, ``hf_``, ``gsk_``, Bearer tokens)
is scrubbed too, known or not. ``install_log_redaction`` puts the filter on every handler, and
it redacts tracebacks as well as messages. The model process gets an environment without keys
(``environment_without_secrets``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

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

# Hugging Face tokens: registered like keys (workbench.hub.auth) and kept out of the worker.
TOKEN_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# What a key looks like, for text no known value covers (a key typed into a prompt, a header
# echoed by a server): OpenAI/Anthropic/OpenRouter, Google, Hugging Face, Groq, Bearer tokens.
KEY_PATTERN = re.compile(
    r"(?<![A-Za-z0-9])(?:sk-(?:ant-|or-)?[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,}"
    r"|hf_[A-Za-z0-9]{20,}|gsk_[A-Za-z0-9]{20,})"
    r"|(?<=Bearer )[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE)

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


def _keyring() -> ModuleType:  # imported lazily: keyring picks its backend on first use
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
    for names in (*ENV_VARS.values(), TOKEN_ENV_VARS):
        for var in names:
            value = os.environ.get(var, "").strip()
            if len(value) >= 8:
                values.add(value)
    with _served_lock:
        return values | _served


def remember_secret(value: str) -> None:
    """Redact ``value`` from now on (the HF token, keys read elsewhere)."""
    _remember(value)


def redact(text: str) -> str:
    """``text`` with every known key value, and anything that looks like a key, replaced by
    ``[redacted]``."""
    if not text:
        return text
    for value in sorted(known_secret_values(), key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return KEY_PATTERN.sub(REDACTED, text)


def environment_without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without API keys and tokens (for processes that need none: the model process)."""
    secret_vars = {var for names in ENV_VARS.values() for var in names} | set(TOKEN_ENV_VARS)
    known = known_secret_values()
    return {name: value for name, value in env.items()
            if name not in secret_vars and not name.endswith(("_API_KEY", "_TOKEN"))
            and value not in known}


def contains_secret(text: str) -> bool:
    return any(value in text for value in known_secret_values())


class RedactingFilter(logging.Filter):
    """Scrubs keys from log records: the message and its arguments, the traceback (formatted
    here, redacted, as the record's ``exc_text``) and the stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            # formatters use a record's exc_text when it is set (exc_info stays for handlers
            # that look at the exception itself)
            record.exc_text = redact("".join(
                traceback.format_exception(*record.exc_info)).rstrip("\n"))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_filter = RedactingFilter()


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add the redacting filter to ``logger``'s handlers (root by default) and to the logger."""
    target = logger or logging.getLogger()
    if _filter not in target.filters:
        target.addFilter(_filter)
    handlers = [*target.handlers]
    if logger is None and logging.lastResort is not None:
        handlers.append(logging.lastResort)  # what logs to stderr when nothing is configured
    for handler in handlers:
        add_redaction(handler)


def add_redaction(handler: logging.Handler) -> logging.Handler:
    """``handler`` with the redacting filter (every handler the app installs gets it)."""
    if _filter not in handler.filters:
        handler.addFilter(_filter)
    return handler
