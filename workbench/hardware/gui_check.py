"""Can the desktop app start here? Checked before Qt is, so a missing display or library is
explained in plain words (what is missing, the install command) instead of Qt's abort.

Qt-free and cheap (a file lookup and one ``ldd`` per platform plugin): ``workbench`` runs it at
every GUI start, ``workbench doctor`` reports it.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.hardware.distro import distro_name, install_command, package_manager, read_os_release
from workbench.hardware.gui_libraries import (
    find_package_hint,
    is_qt_library,
    missing_libraries,
    packages_for,
)
from workbench.hardware.model import JsonMixin

NATIVE = {"Darwin": "cocoa", "Windows": "windows"}
CLI_HINT = ("Every feature also works from the command line: `workbench --help` (for example "
            "`workbench doctor`, `workbench recommend`, `workbench run MODEL \"PROMPT\"`).")
NO_DISPLAY = ("there is no display: neither DISPLAY nor WAYLAND_DISPLAY is set (as in an SSH "
              "session or a container)")
DISPLAY_FIX = ("Start it from a desktop session, or over SSH with X forwarding (`ssh -X`); "
               "QT_QPA_PLATFORM=offscreen runs it without a display (nothing is shown).")

LibraryProbe = Callable[[Path], "list[str] | None"]


@dataclass
class PlatformCheck(JsonMixin):
    """One Qt platform plugin Qt would try: whether it can start, and why not."""

    name: str
    plugin: str | None = None
    needs_display: bool = False  # xcb and wayland do; offscreen, cocoa, windows do not
    display: str | None = None  # the DISPLAY/WAYLAND_DISPLAY it would use
    missing_libraries: list[str] | None = None  # None: not checked (no ldd, not Linux)
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems


@dataclass
class GuiCheck(JsonMixin):
    """What the GUI needs on this machine; ``ok`` when at least one platform can start."""

    system: str
    platforms: list[PlatformCheck]
    plugins_dir: str | None
    distro: str | None = None
    package_manager: str | None = None
    fixes: list[str] = field(default_factory=list)
    ok: bool = False
    platform: str | None = None  # the first platform that can start

    @property
    def problems(self) -> list[str]:
        return [problem for p in self.platforms for problem in p.problems]

    def message(self) -> str:
        """One paragraph: what is missing, how to fix it, and that the CLI works without it."""
        return " ".join([f"the desktop app cannot start here: {'; '.join(self.problems)}.",
                         *self.fixes, CLI_HINT])


def pyside6_dir() -> Path | None:
    """PySide6's package folder, found without importing it (or Qt)."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def plugin_dirs(env: Mapping[str, str], system: str) -> list[Path]:
    """Where Qt looks for platform plugins: the environment's overrides, then PySide6's own."""
    dirs = [Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"])] if env.get("QT_QPA_PLATFORM_PLUGIN_PATH") \
        else []
    dirs += [Path(p) / "platforms" for p in env.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    package = pyside6_dir()
    if package is not None:
        inside = ("plugins",) if system == "Windows" else ("Qt", "plugins")
        dirs.append(package.joinpath(*inside, "platforms"))
    return dirs


def plugin_files(name: str, dirs: list[Path], system: str) -> list[Path]:
    """The plugin files for platform ``name`` (``wayland`` has -egl and -generic variants)."""
    prefix, suffix = {"Windows": ("q", ".dll"), "Darwin": ("libq", ".dylib")}.get(
        system, ("libq", ".so"))
    found: list[Path] = []
    for folder in dirs:
        exact = folder / f"{prefix}{name}{suffix}"
        if exact.is_file():
            found.append(exact)
        elif name == "wayland" and folder.is_dir():
            found += sorted(folder.glob(f"{prefix}{name}-*{suffix}"))
        if found:
            break
    return found


def candidate_platforms(env: Mapping[str, str], system: str) -> list[str]:
    """The platforms Qt tries, in order: QT_QPA_PLATFORM's list, else the system's default."""
    requested = [p.split(":")[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";")]
    requested = [p for p in requested if p]
    if requested:
        return requested
    if system in NATIVE:
        return [NATIVE[system]]
    if env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland":
        return ["wayland", "xcb"]
    return ["xcb"]


def display_problem(name: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    """(the display platform ``name`` would use, what is wrong if it has none)."""
    if name == "xcb":
        display = env.get("DISPLAY")
        if display:
            return display, ""
        return None, "DISPLAY is not set" if env.get("WAYLAND_DISPLAY") else NO_DISPLAY
    if name.startswith("wayland"):
        display = env.get("WAYLAND_DISPLAY")
        runtime = env.get("XDG_RUNTIME_DIR")
        if not display and runtime and Path(runtime, "wayland-0").exists():
            display = "wayland-0"  # Qt's default socket
        return display, "" if display else "WAYLAND_DISPLAY is not set"
    return None, ""


def check_platform(name: str, dirs: list[Path], env: Mapping[str, str], system: str,
                   probe: LibraryProbe) -> PlatformCheck:
    """Platform ``name``: its plugin file, its display, and (Linux) its unloadable libraries."""
    check = PlatformCheck(name, needs_display=name == "xcb" or name.startswith("wayland"))
    check.display, no_display = display_problem(name, env)
    if no_display:
        check.problems.append(no_display)
    files = plugin_files(name, dirs, system)
    if not files:
        where = ", ".join(str(d) for d in dirs) or "(PySide6 not found)"
        check.problems.append(f"Qt has no '{name}' platform plugin in {where}")
        return check
    check.plugin = str(files[0])
    if system != "Linux":
        return check
    results = [(f, probe(f)) for f in files]
    plugin, missing = next(((f, m) for f, m in results if not m), results[0])
    check.plugin, check.missing_libraries = str(plugin), missing
    if missing:
        check.problems.append(f"Qt's {name} platform plugin ({plugin.name}) needs libraries "
                              f"that are missing: {', '.join(missing)}")
    return check


def pip_command(*words: str) -> str:
    """``<this Python> -m pip ...``: the interpreter that runs Workbench, whatever PATH says."""
    return shlex.join([sys.executable, "-m", "pip", *words])


def _library_fixes(missing: list[str], manager: str | None, distro: str) -> list[str]:
    """What to install for ``missing`` sonames: a PySide6 reinstall, the distribution's
    packages, or how to find a package the table does not know."""
    fixes: list[str] = []
    qt_own = [s for s in missing if is_qt_library(s)]
    system_libs = [s for s in missing if not is_qt_library(s)]
    if qt_own:
        fixes.append("PySide6's own Qt libraries are missing, so its installation is broken: "
                     f"`{pip_command('install', '--force-reinstall', 'pyside6')}`.")
    if not system_libs:
        return fixes
    if manager is None:
        packages, _unknown = packages_for(system_libs, "apt")
        named = f" (on Debian/Ubuntu: {' '.join(packages)})" if packages else ""
        fixes.append(f"Install the packages that provide {', '.join(system_libs)} with "
                     f"{distro}'s package manager{named}.")
        return fixes
    packages, unknown = packages_for(system_libs, manager)
    if packages:
        fixes.append(f"Install them on {distro} with: `{install_command(manager, packages)}`.")
    for soname in unknown:
        fixes.append(f"Find the package for {soname} with `{find_package_hint(manager, soname)}`.")
    return fixes


def check_gui(env: Mapping[str, str] | None = None, system: str | None = None,
              os_release: dict[str, str] | None = None,
              probe: LibraryProbe = missing_libraries) -> GuiCheck:
    """Check the display and the platform plugins Qt would use, without starting Qt.

    ``probe`` lists a plugin's unloadable libraries (``ldd``); tests replace it.
    """
    env = os.environ if env is None else env
    system = system or platform.system()
    dirs = plugin_dirs(env, system)
    package = pyside6_dir()
    result = GuiCheck(system=system, platforms=[], plugins_dir=str(dirs[-1]) if dirs else None)
    if package is None:
        result.platforms.append(PlatformCheck("qt", problems=["PySide6 (Qt for Python) is "
                                                              "not installed"]))
        result.fixes.append(f"Install it with `{pip_command('install', 'pyside6')}`.")
        return result
    result.platforms = [check_platform(n, dirs, env, system, probe)
                        for n in candidate_platforms(env, system)]
    usable = next((p for p in result.platforms if p.usable), None)
    result.ok, result.platform = usable is not None, usable.name if usable else None
    if system == "Linux":
        release = read_os_release() if os_release is None else os_release
        result.package_manager = package_manager(release)
        result.distro = distro_name(release)
    missing = [s for p in result.platforms for s in (p.missing_libraries or [])]
    result.fixes = _library_fixes(list(dict.fromkeys(missing)), result.package_manager,
                                  result.distro or system)
    displays = [p.display for p in result.platforms if p.needs_display]
    if displays and not any(displays):  # no display at all (one of two: only its libraries)
        result.fixes.append(DISPLAY_FIX)
    return result
