"""The user's Hugging Face token: from the environment, the OS keyring or the standard HF login.

Order: ``HF_TOKEN`` (or the older ``HUGGING_FACE_HUB_TOKEN``), then the OS keyring (service
``workbench``, user ``huggingface``), then the token file that ``hf auth login`` writes
(``HF_TOKEN_PATH``, else ``HF_HOME/token``). A token is only ever handed to HTTP headers: never
written to a file by this module except through the keyring, never logged, never put in a
message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from workbench.hub.config import hf_home

KEYRING_SERVICE = "workbench"
KEYRING_USERNAME = "huggingface"
ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@dataclass(frozen=True)
class Token:
    """A token and where it came from ("env", "keyring" or "hf-login"); repr hides the value."""

    value: str
    source: str

    def __post_init__(self) -> None:
        from workbench.store.secrets import remember_secret

        remember_secret(self.value)  # redacted from logs, errors and exports like an API key

    def __repr__(self) -> str:
        return f"Token(source={self.source!r}, value=<hidden>)"


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _from_env() -> str | None:
    for name in ENV_VARS:
        value = _clean(os.environ.get(name))
        if value:
            return value
    return None


def _keyring() -> ModuleType | None:
    try:
        import keyring
    except ImportError:
        return None
    return keyring


def _from_keyring() -> str | None:
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        return _clean(keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME))
    except Exception:  # no backend, locked keychain, D-Bus down: no token from here
        return None


def token_file() -> Path:
    """Where ``hf auth login`` keeps the token."""
    value = os.environ.get("HF_TOKEN_PATH")
    return Path(os.path.expandvars(value)).expanduser() if value else hf_home() / "token"


def _from_hf_login() -> str | None:
    try:
        return _clean(token_file().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def resolve_token() -> Token | None:
    """The token to send, or None (anonymous)."""
    for source, reader in (("env", _from_env), ("keyring", _from_keyring),
                           ("hf-login", _from_hf_login)):
        value = reader()
        if value:
            return Token(value, source)
    return None


def save_token(value: str) -> None:
    """Keep ``value`` in the OS keyring (raises ``RuntimeError`` when there is no keyring)."""
    keyring = _keyring()
    if keyring is None:
        raise RuntimeError("the keyring package is not installed")
    value = _clean(value) or ""
    if not value:
        raise ValueError("empty token")
    keyring.set_password(KEYRING_SERVICE, KEYRING_USERNAME, value)


def forget_token() -> bool:
    """Remove the keyring's token; True if there was one."""
    keyring = _keyring()
    if keyring is None:
        return False
    try:
        keyring.delete_password(KEYRING_SERVICE, KEYRING_USERNAME)
    except Exception:
        return False
    return True
