"""Offline mode: refuse every connection that would leave this machine, before a packet is sent.

``enable_guard()`` patches this process's socket layer (``socket.socket.connect`` /
``connect_ex`` / ``sendto`` / ``sendmsg``, ``socket.create_connection`` and the name lookups
``getaddrinfo`` / ``gethostbyname`` / ``gethostbyname_ex`` / ``gethostbyaddr``) so that only
loopback addresses (127.0.0.0/8, ::1, ``localhost``) and Unix sockets get through. Anything else
raises ``OfflineBlocked`` in the caller's thread. A host name other than ``localhost`` is
refused *before* it is resolved: resolving it would itself send a DNS query.

Scope: Python code in this process (the HTTP clients of the openai and anthropic SDKs, httpx,
urllib, huggingface_hub). The llama.cpp worker makes no network connections of its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import RuntimeFailure

ENV_OFFLINE = "WORKBENCH_OFFLINE"
OFFLINE_ENV_VARS = (ENV_OFFLINE, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}


class OfflineBlocked(RuntimeFailure, ConnectionRefusedError):
    """A connection to a non-loopback address was refused because offline mode is on.

    It is also a ``ConnectionRefusedError`` (an ``OSError``), so network libraries treat it as
    a connection failure; ``find_offline_block`` digs it out of their wrapped exceptions.
    """

    def __init__(self, host: object) -> None:
        self.host = str(host)
        super().__init__(f"offline mode: the connection to {self.host} was blocked "
                         "(nothing leaves this machine)")


_lock = threading.RLock()
_originals: dict[str, Any] = {}


def is_loopback_host(host: object) -> bool:
    """True for loopback IP literals (127.0.0.0/8, ::1, IPv4-mapped) and ``localhost`` names."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str) or not host:
        return False
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@dataclass(frozen=True)
class NetworkState:
    """Whether the app is offline, why, and what is wrong with the settings file (if anything).

    The one answer every part of the app shows and acts on (CLI, status bar, Start page,
    Discover, Settings, cloud targets, the Hub client)."""

    offline: bool
    reasons: tuple[str, ...] = ()  # "the settings", "WORKBENCH_OFFLINE", "HF_HUB_OFFLINE", ...
    settings_problem: str | None = None

    @property
    def forced_by_environment(self) -> bool:
        """Offline whatever the settings' switch says."""
        return any(r in OFFLINE_ENV_VARS for r in self.reasons)

    def describe(self) -> str:
        """One line: the state and why."""
        if not self.offline:
            return "online"
        return "offline mode is on (" + ", ".join(self.reasons) + "): nothing leaves this machine"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def network_state(settings_path: Path | None = None) -> NetworkState:
    """Offline when the settings say so (or cannot be read: fail safe), or when
    ``WORKBENCH_OFFLINE``, ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is 1/true/yes/on."""
    from workbench.store.settings import read_offline_setting

    settings_offline, problem = read_offline_setting(settings_path)
    reasons = (["the settings file is unusable" if problem else "the settings"]
               if settings_offline else [])
    reasons += [name for name in OFFLINE_ENV_VARS if _env_flag(name)]
    return NetworkState(bool(reasons), tuple(reasons), problem)


def is_offline(settings_path: Path | None = None) -> bool:
    """The guard is on, or ``network_state()`` says offline."""
    return guard_active() or network_state(settings_path).offline


def guard_active() -> bool:
    return bool(_originals)


def _check_address(family: int, address: Any) -> None:
    if family == getattr(socket, "AF_UNIX", object()):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback_host(host):
        raise OfflineBlocked(host)


def _check_host(host: Any) -> None:
    if host is None:  # getaddrinfo(None, port): the local wildcard/loopback address
        return
    if not is_loopback_host(host):
        raise OfflineBlocked(host)


def enable_guard() -> None:
    """Install the guard (idempotent)."""
    with _lock:
        if _originals:
            return
        sock_cls = socket.socket
        originals: dict[str, Any] = {
            "connect": sock_cls.connect,
            "connect_ex": sock_cls.connect_ex,
            "sendto": sock_cls.sendto,
            "sendmsg": getattr(sock_cls, "sendmsg", None),
            "create_connection": socket.create_connection,
            "getaddrinfo": socket.getaddrinfo,
            "gethostbyname": socket.gethostbyname,
            "gethostbyname_ex": socket.gethostbyname_ex,
            "gethostbyaddr": socket.gethostbyaddr,
        }

        def connect(self: socket.socket, address: Any) -> None:
            _check_address(self.family, address)
            return originals["connect"](self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            _check_address(self.family, address)
            return originals["connect_ex"](self, address)

        def sendto(self: socket.socket, data: Any, *args: Any) -> int:
            _check_address(self.family, args[-1])
            return originals["sendto"](self, data, *args)

        def sendmsg(self: socket.socket, buffers: Any, ancdata: Any = (), flags: int = 0,
                    address: Any = None) -> int:
            if address is not None:
                _check_address(self.family, address)
            return originals["sendmsg"](self, buffers, ancdata, flags, *(
                [address] if address is not None else []))

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            _check_host(address[0])
            return originals["create_connection"](address, *args, **kwargs)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            _check_host(host)
            return originals["getaddrinfo"](host, *args, **kwargs)

        def gethostbyname(host: Any) -> str:
            _check_host(host)
            return originals["gethostbyname"](host)

        def gethostbyname_ex(host: Any) -> Any:
            _check_host(host)
            return originals["gethostbyname_ex"](host)

        def gethostbyaddr(host: Any) -> Any:
            _check_host(host)
            return originals["gethostbyaddr"](host)

        # Monkeypatches: the wrappers take our socket.socket where typeshed says _socket.socket.
        sock_cls.connect = connect  # type: ignore[method-assign,assignment]
        sock_cls.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
        sock_cls.sendto = sendto  # type: ignore[method-assign,assignment]
        if originals["sendmsg"] is not None:
            sock_cls.sendmsg = sendmsg  # type: ignore[method-assign,assignment]
        socket.create_connection = create_connection
        socket.getaddrinfo = getaddrinfo
        socket.gethostbyname = gethostbyname
        socket.gethostbyname_ex = gethostbyname_ex
        socket.gethostbyaddr = gethostbyaddr
        _originals.update(originals)


def disable_guard() -> None:
    """Remove the guard (idempotent)."""
    with _lock:
        if not _originals:
            return
        sock_cls = socket.socket
        sock_cls.connect = _originals["connect"]  # type: ignore[method-assign]
        sock_cls.connect_ex = _originals["connect_ex"]  # type: ignore[method-assign]
        sock_cls.sendto = _originals["sendto"]  # type: ignore[method-assign]
        if _originals["sendmsg"] is not None:
            sock_cls.sendmsg = _originals["sendmsg"]  # type: ignore[method-assign]
        socket.create_connection = _originals["create_connection"]
        socket.getaddrinfo = _originals["getaddrinfo"]
        socket.gethostbyname = _originals["gethostbyname"]
        socket.gethostbyname_ex = _originals["gethostbyname_ex"]
        socket.gethostbyaddr = _originals["gethostbyaddr"]
        _originals.clear()


def set_offline(offline: bool) -> None:
    """Turn the guard on or off to match the offline setting."""
    (enable_guard if offline else disable_guard)()


@contextlib.contextmanager
def offline_guard() -> Iterator[None]:
    """The guard for the duration of a ``with`` block (restores the previous state)."""
    was_active = guard_active()
    enable_guard()
    try:
        yield
    finally:
        if not was_active:
            disable_guard()


def find_offline_block(err: BaseException | None) -> OfflineBlocked | None:
    """The ``OfflineBlocked`` behind ``err`` (following __cause__/__context__), if any."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OfflineBlocked):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None
