"""Network policy: offline mode (a socket guard that lets only loopback through)."""

from workbench.net.offline import (
    OfflineBlocked,
    disable_guard,
    enable_guard,
    find_offline_block,
    guard_active,
    is_loopback_host,
    offline_guard,
    offline_requested,
    set_offline,
)

__all__ = [
    "OfflineBlocked",
    "disable_guard",
    "enable_guard",
    "find_offline_block",
    "guard_active",
    "is_loopback_host",
    "offline_guard",
    "offline_requested",
    "set_offline",
]
