"""Start the desktop app: ``run_app(model)`` is what ``workbench`` (no command) calls."""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from workbench import __version__
from workbench.net.offline import set_offline
from workbench.paths import log_dir
from workbench.store.secrets import redact
from workbench.ui.collector import GuiThreadCollector
from workbench.ui.engine_bridge import shutdown_all
from workbench.ui.fonts import register_bundled_fonts
from workbench.ui.qt_start import create_application
from workbench.ui.style import app_icon

log = logging.getLogger("workbench.ui")

ORGANIZATION = "Workbench"
APPLICATION = "Workbench"
LOG_FILE = "workbench-gui.log"


def configure_application(app: QCoreApplication) -> None:
    """Names QSettings uses for the per-user settings location; the bundled code font (a
    QGuiApplication only, before any widget is made)."""
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    if isinstance(app, QGuiApplication):
        register_bundled_fonts()
    if isinstance(app, QApplication):
        app.setWindowIcon(app_icon())
        app.setDesktopFileName("workbench")


def setup_logging() -> str:
    """Log to a file in the log directory (and stderr); returns the file's path."""
    from workbench.store.secrets import add_redaction, install_log_redaction

    path = log_dir() / LOG_FILE
    root = logging.getLogger("workbench")
    if not any(isinstance(h, logging.FileHandler) for h in root.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(add_redaction(handler))  # keys and tokens never reach the file
        root.setLevel(logging.INFO)
    install_log_redaction()
    return str(path)


def make_excepthook(
    parent: Callable[[], QWidget | None], log_path: str | None = None
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    """An excepthook that logs an unexpected error and shows it in a dialog, never a crash."""
    showing = False

    def hook(kind: type[BaseException], error: BaseException,
             tb: TracebackType | None) -> None:
        nonlocal showing
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        log.error("unexpected error", exc_info=(kind, error, tb))
        if showing or QApplication.instance() is None:
            return
        showing = True
        try:
            box = QMessageBox(parent())
            box.setIcon(QMessageBox.Icon.Critical)
            box.setWindowTitle("Workbench: unexpected error")
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setText(redact(f"Something went wrong: {kind.__name__}: {error}"))
            where = f" The details are also in {log_path}." if log_path else ""
            box.setInformativeText(f"The window keeps running.{where}")
            box.setDetailedText(redact("".join(traceback.format_exception(kind, error, tb))))
            box.exec()
        finally:
            showing = False

    return hook


def run_app(model: str | None = None) -> int:
    """Create the application and the main window, open ``model`` if given, run until closed."""
    app = create_application()  # first: a platform that cannot start fails fast and clearly
    configure_application(app)
    from workbench.ui.main_window import MainWindow  # after QApplication exists

    log_path = setup_logging()
    window = MainWindow(welcome_if_empty=model is None)  # no models yet: the Start page
    if window.status.offline:  # the settings or WORKBENCH_OFFLINE ask for offline mode
        set_offline(True)
    previous_hook = sys.excepthook
    sys.excepthook = make_excepthook(lambda: window, log_path)
    # Let Ctrl+C in the terminal close the window: Python handles signals only while it runs,
    # so wake it up regularly.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    waker = QTimer()
    waker.timeout.connect(lambda: None)
    waker.start(250)
    collector = GuiThreadCollector(app).start()  # Qt objects are never freed off their thread
    window.show()
    if model:
        QTimer.singleShot(0, lambda: window.open_model(model))
    try:
        return int(app.exec())
    finally:
        shutdown_all()
        waker.stop()
        collector.stop()
        sys.excepthook = previous_hook
        signal.signal(signal.SIGINT, signal.default_int_handler)
