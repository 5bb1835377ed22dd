"""The system libraries Qt's platform plugins load, and the packages that provide them.

``missing_libraries(plugin)`` asks the dynamic linker (``ldd``) which of a plugin's libraries
cannot be found; ``packages_for(sonames, manager)`` names the packages to install.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

LDD_TIMEOUT_S = 10
NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)
QT_OWN = re.compile(r"^libQt6|^libpyside6|^libshiboken6", re.IGNORECASE)

# soname -> package for apt, dnf, pacman, zypper (what Qt 6's xcb, wayland and offscreen
# plugins need beyond glibc; libxcb-cursor0 is the one Qt >= 6.5 added)
PACKAGES: dict[str, tuple[str, str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor",
                           "libxcb-cursor0"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm", "libxcb-icccm4"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image", "libxcb-image0"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms",
                            "libxcb-keysyms1"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil",
                                "xcb-util-renderutil", "libxcb-render-util0"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util", "libxcb-util1"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb", "libxcb1"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb", "libxcb-glx0"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb", "libxcb-randr0"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb", "libxcb-render0"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb", "libxcb-shape0"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb", "libxcb-shm0"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb", "libxcb-sync1"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb", "libxcb-xfixes0"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb", "libxcb-xinerama0"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb", "libxcb-xinput0"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb", "libxcb-xkb1"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon", "libxkbcommon0"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11",
                              "libxkbcommon-x11-0"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11", "libX11-6"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11", "libX11-xcb1"),
    "libSM.so.6": ("libsm6", "libSM", "libsm", "libSM6"),
    "libICE.so.6": ("libice6", "libICE", "libice", "libICE6"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd", "libEGL1"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd", "libGL1"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx", "libglvnd", "libGLX0"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd", "libOpenGL0"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig", "libfontconfig1"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2", "libfreetype6"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2", "libglib-2_0-0"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2", "libgthread-2_0-0"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus", "libdbus-1-3"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client", "wayland",
                               "libwayland-client0"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor", "wayland",
                               "libwayland-cursor0"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl", "wayland", "libwayland-egl1"),
}
MANAGER_COLUMN = {"apt": 0, "dnf": 1, "pacman": 2, "zypper": 3}


def ldd_output(library: Path) -> str | None:
    """What ``ldd`` prints for ``library``; None where there is no ldd or it cannot run."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(library)], capture_output=True, text=True,
                              timeout=LDD_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout + done.stderr


def parse_not_found(ldd_text: str) -> list[str]:
    """The sonames ldd could not resolve, in its order, each once."""
    return list(dict.fromkeys(NOT_FOUND.findall(ldd_text)))


def missing_libraries(library: Path) -> list[str] | None:
    """The libraries ``library`` needs that the dynamic linker cannot find (None: unknown)."""
    text = ldd_output(library)
    return None if text is None else parse_not_found(text)


def is_qt_library(soname: str) -> bool:
    """Qt's own libraries come with PySide6 (missing: a broken PySide6, not a system package)."""
    return bool(QT_OWN.match(soname))


def packages_for(sonames: list[str], manager: str) -> tuple[list[str], list[str]]:
    """(packages to install, sonames with no known package) for ``manager``."""
    column = MANAGER_COLUMN[manager]
    packages: list[str] = []
    unknown: list[str] = []
    for soname in sonames:
        row = PACKAGES.get(soname)
        if row is None:
            unknown.append(soname)
        elif row[column] not in packages:
            packages.append(row[column])
    return packages, unknown


def find_package_hint(manager: str | None, soname: str) -> str:
    """How to find the package of a library the table does not know."""
    if manager in ("dnf", "zypper"):  # both install by the library's capability name
        return f"{manager} provides '{soname}()(64bit)'"
    if manager == "pacman":
        return f"pacman -F {soname}"
    if manager == "apt":
        return f"apt-file search {soname}"
    return f"your package manager's search for {soname}"
