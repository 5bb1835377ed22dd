"""The main window: pages in a stack (Chat for now), menus, shortcuts, drag-and-drop, status.

Pages are added to ``self.pages`` (a QStackedWidget); a navigation rail will switch between them
when there is more than one real page.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QStackedWidget, QWidget

from workbench.engine.client import LocalEngine
from workbench.ui import engine_bridge as states
from workbench.ui.chat_page import ChatPage
from workbench.ui.engine_bridge import EngineBridge
from workbench.ui.status_bar import StatusBar
from workbench.ui.style import app_icon

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"
DEFAULT_SIZE = (1100, 720)


def gguf_paths(urls: list[QUrl]) -> list[str]:
    """The local .gguf files among dropped URLs."""
    return [url.toLocalFile() for url in urls
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".gguf")]


class MainWindow(QMainWindow):
    def __init__(self, engine: LocalEngine | None = None, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Workbench")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings()
        self.bridge = EngineBridge(engine, self)

        self.pages = QStackedWidget(self)
        self.chat = ChatPage(self.bridge, self.pages)
        self.pages.addWidget(self.chat)
        self.setCentralWidget(self.pages)
        self.status = StatusBar(self.bridge, self)
        self.setStatusBar(self.status)
        self.chat.statusMessage.connect(lambda text: self.status.showMessage(text, 5000))
        self.chat.openRequested.connect(self.choose_model)

        self._build_actions()
        self.bridge.stateChanged.connect(self._update_actions)
        self._update_actions()
        self._restore_state()

    # -- actions ---------------------------------------------------------------------------
    def _action(self, text: str, shortcuts: list[QKeySequence] | QKeySequence | None,
                slot: object, tip: str) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcuts, list):
            action.setShortcuts(shortcuts)
        elif shortcuts is not None:
            action.setShortcut(shortcuts)
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even without a visible menu
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open model…", QKeySequence(QKeySequence.StandardKey.Open),
                                        self.choose_model, "Open a GGUF model file")
        self.new_chat_action = self._action("&New chat", QKeySequence("Ctrl+N"),
                                            self.chat.new_chat, "Start a new conversation")
        self.send_action = self._action(
            "&Send", [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")],
            lambda: self.chat.send_prompt(), "Send the message")
        self.stop_action = self._action("S&top", QKeySequence("Esc"), self.chat.stop,
                                        "Stop the answer")
        self.reload_action = self._action("&Reload model", QKeySequence("Ctrl+R"),
                                          self.chat.reload_model,
                                          "Load the current model again with the panel's settings")
        self.safe_mode_action = self._action("Reload in &safe mode", None,
                                             self.chat.retry_safe_mode,
                                             "Load the model without weight repacking, CPU only")
        self.quit_action = self._action("&Quit", QKeySequence(QKeySequence.StandardKey.Quit),
                                        self.close, "Quit Workbench")
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.reload_action)
        file_menu.addAction(self.safe_mode_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        chat_menu = self.menuBar().addMenu("&Chat")
        chat_menu.addAction(self.new_chat_action)
        chat_menu.addAction(self.send_action)
        chat_menu.addAction(self.stop_action)

    def _update_actions(self, *_args: object) -> None:
        state, busy = self.bridge.state, self.bridge.busy
        has_model = self.bridge.settings is not None
        self.open_action.setEnabled(not busy and state != states.CLOSED)
        self.stop_action.setEnabled(state == states.ANSWERING)
        self.send_action.setEnabled(state == states.READY)
        self.reload_action.setEnabled(has_model and not busy and state != states.CLOSED)
        self.safe_mode_action.setEnabled(has_model and not busy and state != states.CLOSED)

    # -- opening models --------------------------------------------------------------------
    def choose_model(self) -> None:
        start = str(self.settings.value("paths/last_model_dir", os.path.expanduser("~")))
        path, _filter = QFileDialog.getOpenFileName(self, "Open a GGUF model", start,
                                                    GGUF_FILTER)
        if path:
            self.open_model(path)

    def open_model(self, path: str) -> bool:
        """Open the model at ``path`` (loads in the background); False if it cannot start."""
        self.settings.setValue("paths/last_model_dir", os.path.dirname(os.path.abspath(path)))
        return self.chat.open_model(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and gguf_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = gguf_paths(event.mimeData().urls()) if event.mimeData().hasUrls() else []
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_model(paths[0])

    # -- state -----------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*DEFAULT_SIZE)
        self.chat.restore_state(self.settings)

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.chat.save_state(self.settings)
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self.bridge.shutdown()
        super().closeEvent(event)
