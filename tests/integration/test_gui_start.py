"""``workbench`` where the GUI cannot start: a real child process, a cleaned environment; the
answer is our paragraph and exit status 1, never Qt's abort, and Qt is never imported.

The unloadable plugin is real too: a copy of PySide6's offscreen plugin in a folder where its
Qt libraries (found through ``$ORIGIN/../../lib``) are not, so the real ldd cannot resolve them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.hardware.gui_check import CLI_HINT, NO_DISPLAY, pyside6_dir

QT_ABORT = ("Could not load the Qt platform plugin", "This application failed to start",
            "Aborted", "Traceback")
QT_IMPORTED = ("import sys; from workbench.cli import main; code = main(['gui']); "
               "print(code, 'PySide6' in sys.modules, 'shiboken6' in sys.modules)")


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without a display or a Qt platform choice (as over SSH)."""
    dropped = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "QT_QPA_PLATFORM_PLUGIN_PATH",
               "QT_PLUGIN_PATH", "XDG_SESSION_TYPE", "XDG_RUNTIME_DIR")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["WORKBENCH_HOME"] = str(tmp_path / "home")
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def assert_no_qt_abort(stderr: str) -> None:
    assert not [text for text in QT_ABORT if text in stderr], stderr


@pytest.fixture
def unloadable_plugin(tmp_path: Path) -> Path:
    """A real platform plugin whose Qt libraries cannot be found: the folder to point Qt at."""
    package = pyside6_dir()
    assert package is not None
    real = package / "Qt" / "plugins" / "platforms" / "libqoffscreen.so"
    if not real.is_file() or shutil.which("ldd") is None:
        pytest.skip("needs PySide6's Linux offscreen plugin and ldd")
    folder = tmp_path / "plugins" / "platforms"
    folder.mkdir(parents=True)
    shutil.copy(real, folder / real.name)
    ldd = subprocess.run(["ldd", str(folder / real.name)], capture_output=True, text=True,
                         check=False)
    if "libQt6Gui.so.6 => not found" not in ldd.stdout:
        pytest.skip("this machine has a system Qt 6 that resolves the copy's libraries")
    return folder


def test_no_display_is_explained_and_qt_never_starts(tmp_path: Path) -> None:
    done = run(["-m", "workbench"], clean_env(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("workbench: error: the desktop app cannot start here: ")
    assert NO_DISPLAY in done.stderr and CLI_HINT in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # one paragraph
    assert_no_qt_abort(done.stderr)
    imported = run(["-c", QT_IMPORTED], clean_env(tmp_path))
    assert imported.stdout.split() == ["1", "False", "False"]


def test_an_unloadable_plugin_library_is_named(tmp_path: Path, unloadable_plugin: Path) -> None:
    env = clean_env(tmp_path, QT_QPA_PLATFORM="offscreen",
                    QT_QPA_PLATFORM_PLUGIN_PATH=str(unloadable_plugin))
    done = run(["-m", "workbench", "gui"], env)
    assert done.returncode == 1
    assert "offscreen platform plugin (libqoffscreen.so) needs libraries that are missing: " \
           in done.stderr
    assert "libQt6Gui.so.6" in done.stderr
    assert "-m pip install --force-reinstall pyside6" in done.stderr
    assert_no_qt_abort(done.stderr)
    imported = run(["-c", QT_IMPORTED], env)
    assert imported.stdout.split() == ["1", "False", "False"]


def test_offscreen_still_needs_no_display(tmp_path: Path) -> None:
    code = ("from workbench.hardware.gui_check import check_gui; c = check_gui(); "
            "print(c.ok, c.platform)")
    done = run(["-c", code], clean_env(tmp_path, QT_QPA_PLATFORM="offscreen"))
    assert done.stdout.split() == ["True", "offscreen"], done.stderr


def test_a_platform_qt_cannot_start_is_our_paragraph_not_qts_abort(tmp_path: Path) -> None:
    # past the pre-Qt check (called directly): Qt's fatal error is turned into exit status 1
    code = "from workbench.ui.qt_start import create_application; create_application()"
    done = run(["-c", code], clean_env(tmp_path, QT_QPA_PLATFORM="nosuchplatform"))
    assert done.returncode == 1
    assert done.stderr.startswith("workbench: error: Qt could not start its platform plugin")
    assert '"nosuchplatform"' in done.stderr and CLI_HINT in done.stderr
    assert_no_qt_abort(done.stderr.replace("Could not find the Qt platform plugin", ""))


def test_doctor_has_a_gui_section_without_a_display(tmp_path: Path) -> None:
    done = run(["-m", "workbench", "doctor", "--json"], clean_env(tmp_path))
    assert done.returncode == 0, done.stderr
    gui = json.loads(done.stdout)["gui"]
    codes = {f["code"]: f for f in gui["findings"]}
    assert codes["gui-cannot-start"]["severity"] == "error"
    assert NO_DISPLAY in codes["gui-cannot-start"]["detail"]
    assert gui["check"]["ok"] is False and gui["check"]["platforms"][0]["name"] == "xcb"
    # Qt itself, read offscreen: its version, the bundled font in use, the app's icons
    assert gui["qt"]["platform"] == "offscreen" and gui["qt"]["qt_version"].startswith("6.")
    assert gui["qt"]["code_font"]["resolved"] == "JetBrains Mono"
    assert codes["gui-code-font"]["severity"] == "ok"
    assert codes["gui-icons"]["severity"] == "ok", codes["gui-icons"]  # every glyph draws
    human = run(["-m", "workbench", "doctor"], clean_env(tmp_path))
    assert "\nGUI\n" in human.stdout and "The desktop app cannot start here" in human.stdout
    assert "Code font: JetBrains Mono" in human.stdout


def test_doctor_reports_a_platform_that_passes_the_check_but_qt_cannot_start(
        tmp_path: Path) -> None:
    # eglfs needs no display, so the pre-Qt check passes; on a machine without a usable
    # DRM/EGL device (a VM, CI) Qt's start fails: the doctor names it in Qt's words
    done = run(["-m", "workbench", "doctor", "--json"],
               clean_env(tmp_path, QT_QPA_PLATFORM="eglfs"))
    gui = json.loads(done.stdout)["gui"]
    if gui["qt"]["platform"] == "eglfs":
        pytest.skip("eglfs starts on this machine")
    [failed] = [f for f in gui["findings"] if f["code"] == "gui-qt-failed"]
    assert failed["severity"] == "error" and failed["detail"].startswith("Qt said: ")
    assert "gui-platform" not in [f["code"] for f in gui["findings"]]
    assert gui["qt"]["platform"] == "offscreen"  # the rest read offscreen
    started = run(["-m", "workbench"], clean_env(tmp_path, QT_QPA_PLATFORM="eglfs"))
    assert started.returncode == 1
    assert started.stderr.startswith("workbench: error: Qt could not start its platform plugin")
    assert_no_qt_abort(started.stderr)


def test_doctor_on_offscreen_reports_a_startable_gui(tmp_path: Path) -> None:
    done = run(["-m", "workbench", "doctor", "--json"],
               clean_env(tmp_path, QT_QPA_PLATFORM="offscreen"))
    gui = json.loads(done.stdout)["gui"]
    assert gui["check"]["ok"] is True
    assert [f["code"] for f in gui["findings"]][:2] == ["gui-platform", "gui-qt"]
    assert gui["qt"]["platform"] == "offscreen"
    no_gui = json.loads(run(["-m", "workbench", "doctor", "--json", "--no-gui"],
                            clean_env(tmp_path)).stdout)
    assert no_gui["gui"] is None
