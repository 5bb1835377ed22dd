"""The pre-Qt GUI check: display, platform plugins and their libraries, distribution commands.

The plugin files are PySide6's real ones; only ldd's answer is faked (``ldd_output``, the
narrowest boundary) where a test needs a library to be missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.hardware import distro, gui_check, gui_libraries
from workbench.hardware.gui_check import CLI_HINT, NO_DISPLAY, candidate_platforms, check_gui

DEBIAN = distro.parse_os_release('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
LDD_MISSING_XCB = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /site-packages/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f4a)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f49)
"""
OS_RELEASES = {
    "apt": 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\n',
    "dnf": 'NAME="Fedora Linux"\nID=fedora\nPRETTY_NAME="Fedora Linux 41 (Workstation Edition)"\n',
    "pacman": 'NAME="Arch Linux"\nID=arch\nPRETTY_NAME="Arch Linux"\n',
    "zypper": 'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\n'
              'ID_LIKE="opensuse suse"\nPRETTY_NAME="openSUSE Tumbleweed"\n',
}
INSTALLS = {
    "apt": "sudo apt install libxcb-cursor0 libxcb-icccm4",
    "dnf": "sudo dnf install xcb-util-cursor xcb-util-wm",
    "pacman": "sudo pacman -S --needed xcb-util-cursor xcb-util-wm",
    "zypper": "sudo zypper install libxcb-cursor0 libxcb-icccm4",
}


def nothing_missing(_plugin: Path) -> list[str]:
    return []


@pytest.fixture
def ldd_says(monkeypatch: pytest.MonkeyPatch):
    """Make ldd answer ``text`` for every library (the real plugin files stay)."""
    def fake(text: str) -> None:
        monkeypatch.setattr(gui_libraries, "ldd_output", lambda _library: text)
    return fake


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distro.os, "geteuid", lambda: 1000)


def test_no_display_says_so_and_that_the_cli_works() -> None:
    check = check_gui({}, "Linux", DEBIAN, probe=nothing_missing)
    assert not check.ok and check.platform is None
    assert [p.name for p in check.platforms] == ["xcb"]
    assert check.problems == [NO_DISPLAY]
    message = check.message()
    assert "neither DISPLAY nor WAYLAND_DISPLAY is set" in message
    assert "ssh -X" in message and message.endswith(CLI_HINT)
    assert "`workbench --help`" in message and "\n" not in message


def test_a_display_and_loadable_libraries_pass() -> None:
    check = check_gui({"DISPLAY": ":0"}, "Linux", DEBIAN, probe=nothing_missing)
    assert check.ok and check.platform == "xcb"
    assert check.platforms[0].display == ":0"
    assert Path(check.platforms[0].plugin).name == "libqxcb.so"
    assert check.fixes == []


@pytest.mark.parametrize("manager", sorted(OS_RELEASES))
def test_missing_xcb_libraries_are_named_with_the_distributions_command(
        manager: str, ldd_says, as_user) -> None:
    ldd_says(LDD_MISSING_XCB)
    release = distro.parse_os_release(OS_RELEASES[manager])
    check = check_gui({"DISPLAY": ":0"}, "Linux", release)
    assert not check.ok and check.package_manager == manager
    assert check.platforms[0].missing_libraries == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    message = check.message()
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in message
    assert f"`{INSTALLS[manager]}`" in message
    assert release["PRETTY_NAME"] in message
    assert "ssh -X" not in message  # the display is there; only the libraries are missing


def test_root_gets_the_command_without_sudo(ldd_says, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distro.os, "geteuid", lambda: 0)
    ldd_says(LDD_MISSING_XCB)
    check = check_gui({"DISPLAY": ":0"}, "Linux", DEBIAN)
    assert "`apt install libxcb-cursor0 libxcb-icccm4`" in check.message()


def test_no_display_and_missing_libraries_are_both_said(ldd_says, as_user) -> None:
    ldd_says(LDD_MISSING_XCB)
    check = check_gui({}, "Linux", DEBIAN)
    assert check.problems[0] == NO_DISPLAY and "libxcb-icccm.so.4" in check.problems[1]
    message = check.message()
    assert message.index("sudo apt install") < message.index("ssh -X") < message.index(CLI_HINT)


def test_an_unknown_library_gets_the_search_command(ldd_says, as_user) -> None:
    ldd_says("\tlibxcb-cursor.so.0 => not found\n\tlibfancy.so.3 => not found\n")
    fedora = distro.parse_os_release(OS_RELEASES["dnf"])
    message = check_gui({"DISPLAY": ":0"}, "Linux", fedora).message()
    assert "`sudo dnf install xcb-util-cursor`" in message
    assert "`dnf provides 'libfancy.so.3()(64bit)'`" in message


def test_an_unknown_distribution_still_names_the_debian_packages(ldd_says) -> None:
    ldd_says(LDD_MISSING_XCB)
    release = distro.parse_os_release('NAME="Gentoo"\nID=gentoo\n')
    check = check_gui({"DISPLAY": ":0"}, "Linux", release)
    assert check.package_manager is None
    assert "(on Debian/Ubuntu: libxcb-cursor0 libxcb-icccm4)" in check.message()


def test_missing_qt_libraries_mean_a_broken_pyside6(ldd_says) -> None:
    ldd_says("\tlibQt6XcbQpa.so.6 => not found\n")
    message = check_gui({"DISPLAY": ":0"}, "Linux", DEBIAN).message()
    assert "libQt6XcbQpa.so.6" in message
    assert "-m pip install --force-reinstall pyside6" in message
    assert "apt install" not in message


def test_wayland_is_tried_first_and_xcb_is_the_fallback(ldd_says) -> None:
    ldd_says(LDD_MISSING_XCB)  # xcb's libraries missing does not matter on Wayland...
    env = {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}
    assert candidate_platforms(env, "Linux") == ["wayland", "xcb"]
    check = check_gui(env, "Linux", DEBIAN, probe=nothing_missing)
    assert check.ok and check.platform == "wayland"
    assert check.platforms[1].problems == ["DISPLAY is not set"]


def test_on_wayland_missing_libraries_are_the_fix_not_a_display(ldd_says, as_user) -> None:
    ldd_says("\tlibwayland-cursor.so.0 => not found\n")
    env = {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}
    check = check_gui(env, "Linux", DEBIAN)
    assert not check.ok
    wayland, no_display, xcb = check.problems  # libqwayland.so (-egl, -generic before 6.8)
    assert wayland.startswith("Qt's wayland platform plugin (libqwayland")
    assert wayland.endswith("needs libraries that are missing: libwayland-cursor.so.0")
    assert no_display == "DISPLAY is not set" and xcb.startswith("Qt's xcb platform plugin")
    assert check.fixes == ["Install them on Debian GNU/Linux 12 (bookworm) with: "
                           "`sudo apt install libwayland-cursor0`."]


def test_offscreen_needs_no_display() -> None:
    # the real offscreen plugin and the real ldd: the test suite itself runs on it
    check = check_gui({"QT_QPA_PLATFORM": "offscreen"}, "Linux", DEBIAN)
    assert check.ok and check.platform == "offscreen"
    assert check.platforms[0].missing_libraries == []
    assert check_gui({"QT_QPA_PLATFORM": "minimal:enable_fonts"}, "Linux", DEBIAN,
                     probe=nothing_missing).ok


def test_an_unknown_platform_name_is_a_problem() -> None:
    check = check_gui({"QT_QPA_PLATFORM": "nosuch"}, "Linux", DEBIAN, probe=nothing_missing)
    assert not check.ok
    assert "Qt has no 'nosuch' platform plugin" in check.problems[0]


def test_macos_and_windows_use_their_native_platform_without_a_display() -> None:
    assert candidate_platforms({}, "Darwin") == ["cocoa"]
    assert candidate_platforms({}, "Windows") == ["windows"]
    assert candidate_platforms({"QT_QPA_PLATFORM": "offscreen"}, "Darwin") == ["offscreen"]


def test_without_pyside6_the_install_command_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gui_check, "pyside6_dir", lambda: None)
    check = check_gui({"DISPLAY": ":0"}, "Linux", DEBIAN)
    assert not check.ok
    assert "PySide6 (Qt for Python) is not installed" in check.message()
    assert "-m pip install pyside6" in check.message()


def test_without_ldd_the_libraries_are_not_held_against_the_gui(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gui_libraries.shutil, "which", lambda _name: None)
    check = check_gui({"DISPLAY": ":0"}, "Linux", DEBIAN)
    assert check.ok and check.platforms[0].missing_libraries is None


def test_ldd_output_is_parsed_once_per_library() -> None:
    assert gui_libraries.parse_not_found(LDD_MISSING_XCB) == ["libxcb-cursor.so.0",
                                                              "libxcb-icccm.so.4"]
    assert gui_libraries.parse_not_found("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


def test_os_release_parsing_and_families() -> None:
    fields = distro.parse_os_release('# comment\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
                                     "VERSION_ID=9.4\nbroken line\n")
    assert fields == {"ID": "rocky", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.4"}
    assert distro.package_manager(fields) == "dnf"
    assert distro.package_manager({"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}) == "apt"
    assert distro.package_manager({"ID": "opensuse-slowroll"}) == "zypper"
    assert distro.package_manager({"ID": "nixos"}) is None


def test_os_release_is_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "os-release"
    path.write_text(OS_RELEASES["pacman"])
    assert distro.package_manager(distro.read_os_release(path)) == "pacman"
    assert distro.distro_name(distro.read_os_release(path)) == "Arch Linux"
