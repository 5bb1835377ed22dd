#!/usr/bin/env python3
"""Smoke test of a built bundle: the frozen app itself, not the source it came from.

    python3 packaging/smoke_test.py [dist/workbench] [--model GGUF]

Each check runs the bundle's ``workbench`` binary in a fresh WORKBENCH_HOME with offline mode on
and, where this machine allows it (``unshare -rn``), in a network namespace with no network at
all: ``--version``; ``hw --json``; ``eval starters`` and ``recommend --json`` (the shipped
resources/ and models/ are found); the app's icons draw (``doctor``'s GUI probe, offscreen);
``run`` on a tiny synthetic model (the model worker and the
repacking probe are child processes of the frozen binary); and the window, offscreen, opened and
closed again by Ctrl+C (exit status 0, no error in its log). Prints each check and its time;
exits 1 when one fails. The synthetic model is built with this checkout's ``workbench.synth``
unless ``--model`` names a GGUF file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's workbench: its version, its synthetic models
GUI_UP_S = 8.0  # how long the window runs before Ctrl+C
TIMEOUT_S = 120.0


class SmokeFailure(Exception):
    """A check of the bundle failed (the message says which and why)."""


def no_network_prefix() -> list[str]:
    """``unshare -rn`` (a user and network namespace: no network at all) where it works."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    try:
        done = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [unshare, "-rn"] if done.returncode == 0 else []


class Bundle:
    """Runs the bundle's binary in one fresh WORKBENCH_HOME, offline."""

    def __init__(self, folder: Path, home: Path) -> None:
        self.binary = folder / "workbench"
        if not self.binary.is_file():
            raise SmokeFailure(f"no bundle at {folder} (build it: packaging/build-linux.sh)")
        self.prefix = no_network_prefix()
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("PYTHON", "VIRTUAL_ENV", "WORKBENCH_"))}
        self.env.update(WORKBENCH_HOME=str(home), WORKBENCH_OFFLINE="1",
                        QT_QPA_PLATFORM="offscreen", HOME=str(home))
        self.cwd = home  # any folder: never the checkout, whose files a bundle must not need

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self.prefix, str(self.binary), *args], capture_output=True,
                              text=True, env=self.env, cwd=self.cwd, timeout=TIMEOUT_S,
                              check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise SmokeFailure(f"workbench {' '.join(args)} exited {done.returncode}: "
                               + " | ".join(tail))
        return done

    def gui(self) -> str:
        """Open the window, wait, Ctrl+C: it must close cleanly."""
        process = subprocess.Popen([*self.prefix, str(self.binary)], env=self.env, cwd=self.cwd,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(GUI_UP_S)
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise SmokeFailure(f"the window exited at once ({process.returncode}): "
                               f"{output.strip()[-400:]}")
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise SmokeFailure("the window did not close within 30 s of Ctrl+C") from None
        if process.returncode != 0:
            raise SmokeFailure(f"the window closed with status {process.returncode}: "
                               f"{output.strip()[-400:]}")
        if "Traceback" in output:
            raise SmokeFailure(f"the window printed a traceback: {output.strip()[-400:]}")
        logs = list(Path(self.env["WORKBENCH_HOME"]).rglob("workbench-gui.log"))
        if not logs:
            raise SmokeFailure("the window wrote no log (did it start?)")
        errors = [line for line in logs[0].read_text(errors="replace").splitlines()
                  if " ERROR " in line]
        if errors:
            raise SmokeFailure(f"the window's log has errors: {errors[:3]}")
        return "opened and closed on Ctrl+C, status 0, no error logged"


def tiny_model() -> Path:
    from workbench.synth import tiny_model as build  # the checkout's own synthetic models

    return build("llama", "Q8_0")


def checks(bundle: Bundle, model: Path) -> list[tuple[str, Callable[[], str]]]:
    from workbench import __version__

    def version() -> str:
        out = bundle.run("--version").stdout.strip()
        if out != f"workbench {__version__}":
            raise SmokeFailure(f"--version says {out!r}, the checkout is {__version__}")
        return out

    def hardware() -> str:
        report = json.loads(bundle.run("hw", "--json").stdout)
        if not report.get("cpu") or not report.get("ram"):
            raise SmokeFailure(f"hw --json has no cpu or ram: {sorted(report)}")
        return f"{report['cpu'].get('model', '?')}, python {report['os']['python_version']}"

    def resources() -> str:
        starters = bundle.run("eval", "starters").stdout
        if "starter:qa" not in starters.split():
            raise SmokeFailure(f"eval starters lists no 'qa' suite: {starters[:200]!r}")
        picks = json.loads(bundle.run("recommend", "--json").stdout)
        if not picks or not all(pick.get("repo") for pick in picks):
            raise SmokeFailure(f"recommend --json found no catalog models: {picks!r:.200}")
        return (f"{len(starters.splitlines())} starter suites; {len(picks)} models "
                f"recommended from the catalog, first {picks[0]['id']}")

    def run_model() -> str:
        answer = json.loads(bundle.run("run", str(model), "Hello", "--max-tokens", "8",
                                       "--temperature", "0", "--json").stdout)
        if answer.get("completion_tokens", 0) < 1 or answer.get("finish_reason") is None:
            raise SmokeFailure(f"run gave no answer: {answer}")
        return (f"{answer['completion_tokens']} tokens, "
                f"{answer.get('gen_tokens_per_s') or 0:.0f} tok/s")

    def icons() -> str:
        findings = {f["code"]: f for f in
                    json.loads(bundle.run("doctor", "--json").stdout)["gui"]["findings"]}
        found = findings.get("gui-icons")
        if found is None or found["severity"] != "ok":
            raise SmokeFailure(f"the app's icons do not draw in the bundle: {found}")
        return found["title"]

    return [("--version", version), ("hw --json", hardware), ("resources", resources),
            ("run", run_model), ("icons", icons), ("window", bundle.gui)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=ROOT / "dist" / "workbench")
    parser.add_argument("--model", type=Path, help="a GGUF file for the run check")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="workbench-smoke-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        try:
            bundle = Bundle(args.bundle.resolve(), home)
            model = args.model or tiny_model()
        except SmokeFailure as err:
            print(f"FAIL: {err}")
            return 1
        where = "no network namespace" if bundle.prefix else "offline mode (no unshare here)"
        print(f"bundle {args.bundle} ({where})")
        failed = 0
        for name, check in checks(bundle, model):
            started = time.perf_counter()
            try:
                detail = check()
            except (SmokeFailure, subprocess.TimeoutExpired, ValueError) as err:
                failed += 1
                print(f"FAIL {name}: {err}")
                continue
            print(f"ok   {name} ({time.perf_counter() - started:.2f} s): {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
