"""The Linux bundle, built once by packaging/build-linux.sh (real PyInstaller) and tried as a
user would: its smoke test (the frozen binary offline, with no network where ``unshare`` works),
a run from another folder after a move, the user's files in the same platformdirs places as a
pip install, and the desktop entry installed and removed again in a temporary XDG_DATA_HOME."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench import __version__
from workbench.synth import tiny_model
from workbench.ui.app import APPLICATION

ROOT = Path(__file__).resolve().parents[2]
ICON_SIZES = {*(f"{n}x{n}" for n in (16, 22, 24, 32, 48, 64, 128, 256, 512)), "scalable"}

pytestmark = pytest.mark.slow


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without Python's or Workbench's variables (a user's shell)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "VIRTUAL_ENV", "WORKBENCH_", "XDG_"))}
    env.update(QT_QPA_PLATFORM="offscreen", WORKBENCH_OFFLINE="1", **extra)
    return env


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("bundle")
    done = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build-linux.sh")], cwd=ROOT, capture_output=True,
        text=True, timeout=900, check=False,
        env={**os.environ, "PYTHON": sys.executable, "SMOKE": "0", "DIST": str(out / "dist"),
             "WORK": str(out / "work")})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    shutil.rmtree(out / "work", ignore_errors=True)
    yield out / "dist" / "workbench"


def test_the_frozen_app_passes_its_smoke_test(bundle: Path) -> None:
    model = tiny_model("llama", "Q8_0")
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "smoke_test.py"),
                           str(bundle), "--model", str(model)],
                          capture_output=True, text=True, timeout=600, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    checks = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert checks == ["--version", "hw", "resources", "run", "icons", "window"]


def test_the_bundle_runs_from_any_folder_and_keeps_files_where_a_pip_install_does(
        bundle: Path, tmp_path: Path) -> None:
    moved = tmp_path / "somewhere else" / "Workbench app"
    moved.parent.mkdir()
    bundle.rename(moved)
    try:
        model = tiny_model("llama", "Q8_0")
        made: dict[str, set[str]] = {}
        for name, binary in (("frozen", moved / "workbench"),
                             ("pip", Path(sys.executable).with_name("workbench"))):
            home = tmp_path / f"home-{name}"
            home.mkdir()
            env = _clean_env(HOME=str(home))
            version = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                                     env=env, cwd=home, timeout=120, check=False)
            assert version.stdout.strip() == f"workbench {__version__}", version.stderr
            answer = subprocess.run([str(binary), "run", str(model), "Hi", "--max-tokens", "4",
                                     "--temperature", "0", "--json"], capture_output=True,
                                    text=True, env=env, cwd=home, timeout=300, check=False)
            assert answer.returncode == 0, answer.stderr[-2000:]
            made[name] = {str(path.relative_to(home)) for path in home.rglob("*")
                          if path.is_file()}
        assert made["frozen"], "the frozen app wrote nothing under HOME"
        assert made["frozen"] == made["pip"]  # the same platformdirs places, file for file
    finally:
        moved.rename(bundle)


def _desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    assert parser.sections() == ["Desktop Entry"]
    return parser["Desktop Entry"]


def test_the_desktop_entry_installs_starts_the_bundle_and_uninstalls(
        bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "xdg-data"
    env = _clean_env(HOME=str(tmp_path), XDG_DATA_HOME=str(data))
    subprocess.run(["bash", str(bundle / "install-desktop.sh")], env=env, check=True,
                   capture_output=True, timeout=60)
    entry_file = data / "applications" / "workbench.desktop"
    entry = _desktop_entry(entry_file)
    assert entry["Type"] == "Application" and entry["Name"] == "Workbench"
    assert entry["Exec"] == f'"{bundle}/workbench" gui %f'
    assert entry["TryExec"] == f"{bundle}/workbench" and entry["Icon"] == "workbench"
    # Qt's xcb plugin sets WM_CLASS's class to the application's name: the launcher matches it
    assert entry["StartupWMClass"] == APPLICATION
    assert entry["Categories"].endswith(";") and entry["Terminal"] == "false"
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(entry_file)], check=True, timeout=30)
    icons = data / "icons" / "hicolor"
    assert {path.parent.parent.name for path in icons.rglob("workbench.*")} == ICON_SIZES
    # what the menu runs: the Exec line's binary, offline, answers
    binary = entry["Exec"].split('"')[1]
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.stdout.strip() == f"workbench {__version__}"
    subprocess.run(["bash", str(bundle / "uninstall-desktop.sh")], env=env, check=True,
                   capture_output=True, timeout=60)
    assert not entry_file.exists() and not list(icons.rglob("workbench.*"))


def test_a_bundle_path_a_desktop_entry_cannot_hold_is_refused(bundle: Path,
                                                              tmp_path: Path) -> None:
    odd = tmp_path / 'with "quotes" and $dollars'
    odd.mkdir()
    (odd / "workbench").symlink_to(bundle / "workbench")
    shutil.copy(bundle / "install-desktop.sh", odd)
    data = tmp_path / "xdg-data"
    done = subprocess.run(["bash", str(odd / "install-desktop.sh")], capture_output=True,
                          text=True, env=_clean_env(HOME=str(tmp_path), XDG_DATA_HOME=str(data)),
                          timeout=60, check=False)
    assert done.returncode == 1 and "cannot hold" in done.stderr
    assert not (data / "applications").exists()
