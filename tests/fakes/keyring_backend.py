"""A throwaway in-memory keyring backend, installed with ``keyring.set_keyring`` (never the OS
keyring) for the length of a test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such password")


@contextlib.contextmanager
def installed(backend: keyring.backend.KeyringBackend | None = None) -> Iterator[MemoryKeyring]:
    """Install ``backend`` (a fresh MemoryKeyring by default); restore the previous one after."""
    previous = keyring.get_keyring()
    backend = backend or MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend  # type: ignore[misc]
    finally:
        keyring.set_keyring(previous)
