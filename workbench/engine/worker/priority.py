"""Run the worker below the app's priority when asked (before llama.cpp is imported, so that
every thread it or its libraries start inherits it)."""

from __future__ import annotations

import os
import sys

NICE_ENV = "WORKBENCH_WORKER_NICE"


def lower_priority(env: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Run below the app's priority when asked (WORKBENCH_WORKER_NICE=N, set by the GUI), so
    that the window is scheduled at once when it wakes up while llama.cpp's threads keep every
    core busy; llama.cpp still gets all the CPU time the window does not use. Threads started
    later (llama.cpp's) inherit it."""
    try:
        nice = int(env.get(NICE_ENV, "0"))
    except ValueError:
        return
    if nice <= 0:
        return
    try:
        if sys.platform == "win32":  # no os.nice
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:
            os.nice(nice)
    except OSError:
        pass  # not permitted here: run at the normal priority
