"""The main window: a navigation rail and the pages in a stack, menus, shortcuts (Ctrl+1..9
and Ctrl+0 go to the pages in rail order), drag-and-drop, the status bar; its layout is
restored on start.

With ``welcome_if_empty`` (what the app does) the library is scanned on start and, when it
holds no model, the window opens on the Start page (the three steps of a first start).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QSettings, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from workbench.engine.client import LocalEngine
from workbench.engine.settings import LoadSettings
from workbench.net.offline import NetworkState, network_state, set_offline
from workbench.planner.recommend import Recommendation
from workbench.ui import engine_bridge as states
from workbench.ui.bench_page import BenchPage
from workbench.ui.chat_page import ChatPage
from workbench.ui.compare_page import ComparePage
from workbench.ui.costs_page import CostsPage
from workbench.ui.discover_page import DiscoverPage, Planner
from workbench.ui.downloads import DownloadsController, DownloadsPage, running_summary
from workbench.ui.engine_bridge import EngineBridge
from workbench.ui.evals_page import EvalsPage
from workbench.ui.hardware_page import Detector, HardwarePage
from workbench.ui.icons import icon
from workbench.ui.library_page import LibraryPage, Scanner
from workbench.ui.nav_rail import NavRail
from workbench.ui.server_page import ServerPage
from workbench.ui.settings_page import SettingsPage
from workbench.ui.status_bar import StatusBar
from workbench.ui.style import app_icon
from workbench.ui.theme import apply_theme, keep_style
from workbench.ui.welcome_page import NetworkCheck, Recommender, WelcomePage

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"
DEFAULT_SIZE = (1100, 720)
DEFAULT_PAGE = "chat"
MAX_PAGE_SHORTCUTS = 10  # Ctrl+1..9, then Ctrl+0


def gguf_paths(urls: list[QUrl]) -> list[str]:
    """The local .gguf files among dropped URLs."""
    return [url.toLocalFile() for url in urls
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".gguf")]


class MainWindow(QMainWindow):
    def __init__(self, engine: LocalEngine | None = None, settings: QSettings | None = None,
                 parent: QWidget | None = None, *, hardware_detector: Detector | None = None,
                 library_scanner: Scanner | None = None, planner: Planner | None = None,
                 downloads: DownloadsController | None = None,
                 recommender: Recommender | None = None,
                 network_check: NetworkCheck | None = None,
                 welcome_if_empty: bool = False,
                 discover_recommender: Callable[[], list[Recommendation]] | None = None,
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Workbench")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings()
        # the palette first: pages built after it start in its colours. The stylesheet comes
        # once every page is built: while it is set, each widget added to a layout is polished
        # by it again (with its children), which made building the window take 3x as long.
        theme = apply_theme(str(self.settings.value("ui/theme", "system")), stylesheet=False)
        self.bridge = EngineBridge(engine, self)
        self.status = StatusBar(self.bridge, self)
        self.setStatusBar(self.status)
        self.status.set_network(network_state())

        central = QWidget(self)
        self.rail = NavRail(central)
        self.pages = QStackedWidget(central)
        self.page_widgets: dict[str, QWidget] = {}
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.rail)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.hardware = HardwarePage(hardware_detector, self.pages)
        self.downloads = downloads or DownloadsController(parent=self)
        self.discover = DiscoverPage(self.downloads, self.pages, planner=planner,
                                     recommender=discover_recommender,
                                     offline=self.status.offline)
        self.downloads_page = DownloadsPage(self.downloads, self.pages)
        self.library = LibraryPage(library_scanner, self.pages)
        self.chat = ChatPage(self.bridge, self.pages)
        self.compare = ComparePage(self._loaded_model_settings, self.pages)
        self.evals = EvalsPage(self.pages, library_scanner=library_scanner)
        self.costs = CostsPage(self.pages, loaded_model=self._loaded_model_settings)
        self.bench = BenchPage(self.pages, library_scanner=library_scanner)
        self.server_page = ServerPage(self.pages, library_scanner=library_scanner)
        self.settings_page = SettingsPage(self.pages)
        self.welcome = WelcomePage(self.downloads, self.pages, detector=hardware_detector,
                                   scanner=library_scanner, recommender=recommender,
                                   network_check=network_check, offline=self.status.offline)
        self.add_page("start", "Start", self.welcome, icon("start"),
                      "Getting started: this machine, the best model for it, its download")
        self.add_page("hardware", "Hardware", self.hardware,
                      icon("hardware"),
                      "GPUs, CPU, memory and what llama.cpp can use")
        self.add_page("discover", "Discover", self.discover,
                      icon("discover"),
                      "Search Hugging Face for GGUF models that fit this machine")
        self.add_page("downloads", "Downloads", self.downloads_page,
                      icon("downloads"), "Running and finished downloads")
        self.add_page("library", "Library", self.library, icon("library"),
                      "The GGUF models on this machine")
        self.add_page("chat", "Chat", self.chat, icon("chat"),
                      "Chat with the loaded model")
        self.add_page("compare", "Compare", self.compare,
                      icon("compare"),
                      "One prompt to 2-4 models side by side: answers, speed and cost")
        self.add_page("evals", "Evals", self.evals, icon("evals"),
                      "Test suites on your own prompts: pass rates, cost and the decision")
        self.add_page("server", "Server", self.server_page,
                      icon("server"),
                      "Serve local models to other programs (OpenAI and Anthropic APIs)")
        self.add_page("bench", "Benchmarks", self.bench,
                      icon("bench"),
                      "Measure prompt and generation speed of models on this machine")
        self.add_page("costs", "Costs", self.costs, icon("costs"),
                      "When does self-hosting beat a pay-per-token API?")
        self.add_page("settings", "Settings", self.settings_page,
                      icon("settings"),
                      "API keys, endpoint profiles, prices, offline mode, electricity price")
        self.settings_page.offlineChanged.connect(self.apply_offline)
        self.settings_page.themeChosen.connect(self.set_theme)
        self.settings_page.foldersChanged.connect(self._folders_changed)
        self.settings_page.set_theme(theme)
        self.rail.pageChosen.connect(self.show_page)
        for page in (self.welcome, self.chat, self.hardware, self.discover, self.downloads_page,
                     self.library, self.compare, self.evals, self.server_page, self.bench,
                     self.costs, self.settings_page):
            page.statusMessage.connect(lambda text: self.status.showMessage(text, 5000))
        self.chat.openRequested.connect(self.choose_model)
        self.library.openRequested.connect(self._open_from_library)
        self.library.openAdapterRequested.connect(self._open_adapter_from_library)
        self.welcome.openRequested.connect(self._open_from_library)
        self.welcome.openFileRequested.connect(self.choose_model)
        self.welcome.pageRequested.connect(self.show_page)
        self.hardware.detected.connect(self.welcome.set_hardware)
        self.downloads.jobsChanged.connect(self._downloads_changed)

        self._build_actions()
        self.bridge.stateChanged.connect(self._update_actions)
        self._update_actions()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            keep_style(app)
        self._restore_state()
        if welcome_if_empty:
            self.welcome.libraryScanned.connect(self._first_scan)
            self.welcome.scan()

    # -- pages -----------------------------------------------------------------------------
    def add_page(self, key: str, title: str, page: QWidget, page_icon: QIcon, tip: str) -> None:
        """Add ``page`` to the stack and the rail (in rail order)."""
        page.setObjectName(f"page-{key}")
        self.page_widgets[key] = page
        self.pages.addWidget(page)
        self.rail.add_page(key, title, page_icon, tip)

    def show_page(self, key: str) -> bool:
        page = self.page_widgets.get(key)
        if page is None:
            return False
        self.pages.setCurrentWidget(page)
        if self.rail.current_key() != key:
            self.rail.select(key)
        return True

    def current_page(self) -> str | None:
        return self.rail.current_key()

    def _loaded_model_settings(self) -> LoadSettings | None:
        """The chat's loaded model and the settings it was loaded with (Compare reuses them)."""
        return self.bridge.settings if self.bridge.info else None

    def apply_offline(self, state: NetworkState | bool | None = None) -> None:
        """Turn this process's socket guard on or off and show the state everywhere.

        The state is ``network_state()`` (a bare bool from the Settings switch is re-read, so
        the environment and a broken settings file still count)."""
        if not isinstance(state, NetworkState):
            state = network_state()
        set_offline(state.offline)
        self.status.set_network(state)
        self.welcome.set_offline(state.offline)
        self.discover.set_offline(state.offline)

    def set_theme(self, choice: str) -> None:
        """Light, dark or the system's colours (kept for the next start)."""
        choice = apply_theme(choice)
        self.settings.setValue("ui/theme", choice)
        self.settings_page.set_theme(choice)

    def _folders_changed(self) -> None:
        self.library.scanned_once = False  # the Library scans again when it is shown next
        self.evals.targets.scanned_once = False
        self.server_page.scanned_once = False

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
                                        "Stop the answer, or cancel loading a model")
        self.reload_action = self._action("&Reload model", QKeySequence("Ctrl+R"),
                                          self.chat.reload_model,
                                          "Load the current model again with the panel's settings")
        self.safe_mode_action = self._action("Reload in &safe mode", None,
                                             self.chat.retry_safe_mode,
                                             "Load the model without weight repacking, CPU only")
        self.quit_action = self._action("&Quit", QKeySequence(QKeySequence.StandardKey.Quit),
                                        self.close, "Quit Workbench")
        self.page_actions: list[QAction] = []
        for number, key in enumerate(self.rail.keys()[:MAX_PAGE_SHORTCUTS], start=1):
            title = self.rail.item(number - 1).text()
            digit = number % 10
            action = self._action(f"&{digit} {title}", QKeySequence(f"Ctrl+{digit}"),
                                  lambda _checked=False, k=key: self.show_page(k),
                                  f"Go to the {title} page")
            self.page_actions.append(action)
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
        chat_menu.addSeparator()
        for action in (self.chat.regenerate_action, self.chat.edit_action,
                       self.chat.search_action, self.chat.sidebar_action,
                       self.chat.panel_action):
            chat_menu.addAction(action)
        go_menu = self.menuBar().addMenu("&Go")
        for action in self.page_actions:
            go_menu.addAction(action)
        self.getting_started_action = self._action(
            "&Getting started", None, lambda: self.show_page("start"),
            "The three steps to a first model: this machine, a pick, its download")
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.getting_started_action)

    def _update_actions(self, *_args: object) -> None:
        state, busy = self.bridge.state, self.bridge.busy
        has_model = self.bridge.settings is not None
        self.open_action.setEnabled(not busy and state != states.CLOSED)
        self.stop_action.setEnabled(state in (states.ANSWERING, states.LOADING))
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

    def _downloads_changed(self, jobs: list) -> None:
        self.status.set_download(running_summary(jobs))
        if any(job.state == "done" for job in jobs) and self.library.scanned_once:
            self.library.scanned_once = False  # rescan when the Library is shown next

    def _first_scan(self, models: list) -> None:
        """On start: open on the Start page when the library is empty and nothing else has
        happened yet (no page chosen, no model opened)."""
        self.welcome.libraryScanned.disconnect(self._first_scan)
        untouched = self.current_page() == self._restored_page and self.bridge.settings is None
        if not models and untouched:
            self.show_page("start")

    def _open_from_library(self, path: str) -> None:
        self.show_page("chat")
        self.open_model(path)

    def _open_adapter_from_library(self, model_path: str, adapter_path: str) -> None:
        self.show_page("chat")
        self.settings.setValue("paths/last_model_dir",
                               os.path.dirname(os.path.abspath(model_path)))
        self.chat.open_with_adapter(model_path, adapter_path)

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
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        page = str(self.settings.value("window/page", DEFAULT_PAGE))
        if not self.show_page(page):
            self.show_page(DEFAULT_PAGE)
        self._restored_page = self.current_page()
        self.chat.restore_state(self.settings)

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/page", self.current_page() or DEFAULT_PAGE)
        self.chat.save_state(self.settings)
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self.compare.shutdown()
        self.evals.shutdown()
        self.bench.shutdown()
        self.server_page.shutdown()
        self.downloads.shutdown()
        self.bridge.shutdown()
        super().closeEvent(event)
