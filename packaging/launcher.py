"""The frozen app's entry point (PyInstaller runs this file as the bundle's ``workbench``).

A bundle has no Python to start child processes with, so the app's own ``[sys.executable, "-m",
MODULE, ...]`` (the model worker, the repacking and GPU probes, the quantizer) reaches this
binary: ``-m MODULE ARGS`` runs that module as ``__main__``, as ``python -m`` does. Anything
else is the ``workbench`` command (the desktop app when no command is given).
"""

from __future__ import annotations

import multiprocessing
import runpy
import sys


def main() -> int:
    multiprocessing.freeze_support()
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    from workbench.cli import main as workbench_main

    return workbench_main()


if __name__ == "__main__":
    sys.exit(main())
