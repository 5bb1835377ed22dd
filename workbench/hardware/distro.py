"""Which Linux distribution this is and how its package manager installs packages.

Read from ``/etc/os-release`` (``ID`` and ``ID_LIKE``); apt, dnf, pacman and zypper are known.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

OS_RELEASE = Path("/etc/os-release")
MANAGERS = ("apt", "dnf", "pacman", "zypper")
# os-release IDs (or ID_LIKE entries) -> package manager
FAMILIES = {
    "debian": "apt", "ubuntu": "apt", "linuxmint": "apt", "pop": "apt", "raspbian": "apt",
    "elementary": "apt", "zorin": "apt", "kali": "apt", "neon": "apt",
    "fedora": "dnf", "rhel": "dnf", "centos": "dnf", "rocky": "dnf", "almalinux": "dnf",
    "ol": "dnf", "nobara": "dnf",
    "arch": "pacman", "manjaro": "pacman", "endeavouros": "pacman", "garuda": "pacman",
    "opensuse": "zypper", "opensuse-leap": "zypper", "opensuse-tumbleweed": "zypper",
    "suse": "zypper", "sles": "zypper",
}
INSTALL = {
    "apt": ["apt", "install"],
    "dnf": ["dnf", "install"],
    "pacman": ["pacman", "-S", "--needed"],
    "zypper": ["zypper", "install"],
}


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines (values may be quoted) as a dict."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value.strip("\"'")]
        fields[key] = words[0] if words else ""
    return fields


def read_os_release(path: Path = OS_RELEASE) -> dict[str, str]:
    """This machine's os-release fields ({} where there is none, as on macOS)."""
    for candidate in (path, Path("/usr/lib/os-release")):
        try:
            return parse_os_release(candidate.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return {}


def package_manager(os_release: dict[str, str]) -> str | None:
    """apt, dnf, pacman or zypper for a distribution's os-release fields; None if unknown."""
    ids = [os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()]
    for distro_id in ids:
        manager = FAMILIES.get(distro_id.lower())
        if manager is None and distro_id.lower().startswith("opensuse"):
            manager = "zypper"
        if manager:
            return manager
    return None


def distro_name(os_release: dict[str, str]) -> str:
    return os_release.get("PRETTY_NAME") or os_release.get("NAME") or "this Linux distribution"


def install_command(manager: str, packages: list[str], as_root: bool | None = None) -> str:
    """The shell command that installs ``packages`` with ``manager`` (``sudo`` unless root)."""
    if as_root is None:
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    words = [*INSTALL[manager], *packages]
    return shlex.join(words if as_root else ["sudo", *words])
