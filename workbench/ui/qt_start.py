"""Create the QApplication without Qt's abort: if its platform plugin cannot start (a DISPLAY
whose X server is gone, a library the pre-Qt check could not see), Qt's fatal message is caught
and the process leaves with status 1 and a clear paragraph instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from workbench.hardware.gui_check import CLI_HINT


def qt_start_failure(said: list[str]) -> str:
    """The paragraph for a platform plugin that failed although the pre-Qt check passed."""
    words = f" (Qt said: {' / '.join(said)})" if said else ""
    return (f"workbench: error: Qt could not start its platform plugin{words}. `workbench "
            "doctor` shows what the desktop app needs; a DISPLAY whose X server is gone (an old "
            f"`ssh -X` session) has this effect too. {CLI_HINT}")


def print_failure(said: list[str]) -> None:
    sys.stderr.write(qt_start_failure(said) + "\n")


def create_application(on_failure: Callable[[list[str]], None] = print_failure) -> QApplication:
    """The QApplication (the existing one if there is one). If Qt cannot start, ``on_failure``
    gets Qt's messages and the process exits with status 1; Qt's warnings from a good start are
    shown on stderr afterwards."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    said: list[str] = []

    def handler(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
        if kind == QtMsgType.QtFatalMsg:
            on_failure(said)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)  # Qt aborts after a fatal message; leave first, with our words
        said.append(message.strip())

    previous = qInstallMessageHandler(handler)
    try:
        app = QApplication(sys.argv[:1])
    finally:
        qInstallMessageHandler(previous)
    for line in said:
        print(line, file=sys.stderr)
    return app
