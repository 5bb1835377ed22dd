"""Time from `workbench` (the app, no command) to its first painted window.

Each round starts a fresh process of this file in probe mode: it runs the app's own
``run_app()`` with an event filter that notes the first paint of the main window, writes the
wall-clock time of that paint and quits. The parent measures from just before it started the
process (interpreter start and every import included) to that paint. Fresh WORKBENCH_HOME
(empty library: the Start page), offline, QT_QPA_PLATFORM=offscreen unless a display is set.

    python tests/benchmarks/bench_first_window.py [--rounds 9] [--profile]

``--profile`` runs one probe under cProfile and prints the 25 costliest calls (cumulative).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def probe() -> None:
    """Probe mode (in the child): run the app until its window's first paint."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.ui import app as app_module

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and watched.isWindow():
                print(f"painted {time.time():.6f}", flush=True)
                QApplication.instance().removeEventFilter(self)
                QTimer.singleShot(0, QApplication.closeAllWindows)
            return False

    watcher = FirstPaint()
    real_configure = app_module.configure_application

    def configure(app: object) -> None:
        real_configure(app)
        app.installEventFilter(watcher)

    app_module.configure_application = configure
    app_module.run_app()


def one_round(env: dict[str, str], profile: bool = False) -> float:
    args = [sys.executable]
    if profile:
        args += ["-m", "cProfile", "-s", "cumulative"]
    args += [str(Path(__file__).resolve()), "--probe"]
    started = time.time()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    if profile:
        print("\n".join(done.stdout.splitlines()[:45]))
    line = next(li for li in done.stdout.splitlines() if li.startswith("painted "))
    return float(line.split()[1]) - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe()
        return 0
    with tempfile.TemporaryDirectory() as home:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PYTHON", "WORKBENCH_"))}
        env.update(WORKBENCH_HOME=home, WORKBENCH_OFFLINE="1", PYTHONPATH=str(ROOT))
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            env["QT_QPA_PLATFORM"] = "offscreen"
        one_round(env)  # a warm-up: the page cache, the first-start files in the home
        if args.profile:
            one_round(env, profile=True)
            return 0
        times = [one_round(env) for _ in range(args.rounds)]
        print(f"first window: median {statistics.median(times):.3f} s "
              f"(range {min(times):.3f}-{max(times):.3f}, n={len(times)}; "
              f"platform {env.get('QT_QPA_PLATFORM', 'display')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
