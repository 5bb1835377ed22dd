"""Offline mode: the socket guard refuses non-loopback addresses before any packet leaves, lets
loopback through, and cloud targets report themselves unavailable."""

from __future__ import annotations

import socket

import pytest

from tests.fakes import openai_faults
from workbench.net import offline
from workbench.net.offline import OfflineBlocked, is_loopback_host, offline_guard
from workbench.providers.base import Params
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.store.secrets import Secret

TEST_NET = "192.0.2.1"  # RFC 5737 TEST-NET-1: never routed; the guard must refuse it first
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _no_guard_left_behind():
    yield
    offline.disable_guard()
    assert not offline.guard_active()


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
    ("::ffff:127.0.0.1", True), ("localhost", True), ("api.localhost", True),
    ("LOCALHOST.", True), (b"127.0.0.1", True),
    ("192.0.2.1", False), ("10.0.0.1", False), ("0.0.0.0", False), ("::", False),
    ("api.openai.com", False), ("localhost.evil.com", False), ("", False), (None, False),
])
def test_loopback_detection(host, expected) -> None:
    assert is_loopback_host(host) is expected


def test_guard_refuses_a_non_loopback_connect_before_sending() -> None:
    with offline_guard():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            with pytest.raises(OfflineBlocked, match=r"192\.0\.2\.1"):
                sock.connect((TEST_NET, 80))
            with pytest.raises(OfflineBlocked):
                sock.connect_ex((TEST_NET, 443))
            # refused synchronously, never attempted: the socket never got a peer
            with pytest.raises(OSError):
                sock.getpeername()
        with pytest.raises(OfflineBlocked):
            socket.create_connection((TEST_NET, 80), timeout=5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                pytest.raises(OfflineBlocked):
            udp.sendto(b"x", (TEST_NET, 53))


def test_guard_refuses_name_lookups_so_no_dns_query_is_sent() -> None:
    with offline_guard():
        for lookup in (lambda: socket.getaddrinfo("example.com", 443),
                       lambda: socket.gethostbyname("example.com"),
                       lambda: socket.gethostbyname_ex("example.com"),
                       lambda: socket.gethostbyaddr(TEST_NET)):
            with pytest.raises(OfflineBlocked):
                lookup()
        # loopback names still resolve
        assert socket.getaddrinfo("localhost", 80)
    assert not offline.guard_active()


def test_guard_lets_loopback_through() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with offline_guard(), socket.create_connection(("127.0.0.1", port), timeout=2) as client:
            peer, _ = server.accept()
            client.sendall(b"ping")
            assert peer.recv(4) == b"ping"
            peer.close()


def test_guard_is_removed_and_restores_the_originals() -> None:
    original = socket.socket.connect
    with offline_guard():
        assert socket.socket.connect is not original
        with offline_guard():  # nested: the outer one stays in charge
            pass
        assert offline.guard_active()
    assert socket.socket.connect is original and socket.getaddrinfo.__module__ == "socket"


def test_cloud_target_is_unavailable_offline_without_any_connection() -> None:
    target = OpenAICompatTarget(spec="openai:gpt-4o-mini", model="gpt-4o-mini",
                                base_url="https://api.openai.com/v1",
                                api_key=Secret("sk-offline-test-0000"))
    assert target.leaves_machine and target.destination == "api.openai.com"
    with offline_guard():
        result = target.stream(HELLO, Params(max_tokens=4))
    assert result.error_kind == "offline"
    assert "offline" in result.error and "api.openai.com" in result.error
    assert result.text == "" and result.finish_reason == "error"


def test_env_variable_turns_offline_mode_on(monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    target = OpenAICompatTarget(spec="gemini:x", model="x",
                                base_url="https://generativelanguage.googleapis.com/v1beta/openai/",
                                api_key=Secret("gm-offline-test-0000"))
    assert target.stream(HELLO).error_kind == "offline"


class _Liar(OpenAICompatTarget):
    """A target that wrongly claims to stay on this machine: the guard is the safety net."""

    @property
    def leaves_machine(self) -> bool:
        return False


def test_guard_catches_a_target_that_would_leak() -> None:
    target = _Liar(spec="profile:x/m", model="m", base_url=f"http://{TEST_NET}:9/v1",
                   api_key=Secret("sk-liar-test-00000"))
    with offline_guard():
        result = target.stream(HELLO, Params(max_tokens=4))
    assert result.error_kind == "offline", result.error
    assert TEST_NET in result.error


def test_loopback_endpoints_keep_working_offline() -> None:
    with openai_faults.server() as server, offline_guard():
        target = OpenAICompatTarget(spec="profile:vllm/fake", model="fake",
                                    base_url=server.url + "/v1", provider="self-hosted")
        assert not target.leaves_machine
        result = target.stream(HELLO, Params(max_tokens=8))
    assert result.ok, result.error
    assert result.text == "".join(openai_faults.PIECES)
