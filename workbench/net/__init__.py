"""Network policy: offline mode (a socket guard that lets only loopback through)."""

from workbench.net.offline import (
    NetworkState,
    OfflineBlocked,
    disable_guard,
    enable_guard,
    find_offline_block,
    guard_active,
    is_loopback_host,
    is_offline,
    network_state,
    offline_guard,
    set_offline,
)

__all__ = [
    "NetworkState",
    "OfflineBlocked",
    "disable_guard",
    "enable_guard",
    "find_offline_block",
    "guard_active",
    "is_loopback_host",
    "is_offline",
    "network_state",
    "offline_guard",
    "set_offline",
]
