"""The main window: a navigation rail and the pages in a stack, menus, shortcuts (Ctrl+1..9
and Ctrl+0 go to the pages in rail order), drag-and-drop, the status bar; its layout is
restored on start.

With ``welcome_if_empty`` (what the app does) the library is scanned on start and, when it
holds no model, the window opens on the Start page (the three steps of a first start).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from workbench.net.offline import NetworkState, network_state, set_offline
from workbench.ui import engine_bridge as states
from workbench.ui.chat_page import ChatPage
from workbench.ui.downloads import DownloadsController, DownloadsPage, running_summary
from workbench.ui.engine_bridge import EngineBridge
from workbench.ui.icons import icon
from workbench.ui.nav_rail import NavRail
from workbench.ui.status_bar import StatusBar
from workbench.ui.style import app_icon
from workbench.ui.theme import apply_theme, keep_style
from workbench.ui.welcome_page import NetworkCheck, Recommender, WelcomePage

if TYPE_CHECKING:  # the other pages' modules are imported when each is first shown
    from workbench.engine.client import LocalEngine
    from workbench.engine.settings import LoadSettings
    from workbench.planner.recommend import Recommendation
    from workbench.ui.bench_page import BenchPage
    from workbench.ui.compare_page import ComparePage
    from workbench.ui.costs_page import CostsPage
    from workbench.ui.discover_page import DiscoverPage, Planner
    from workbench.ui.evals_page import EvalsPage
    from workbench.ui.hardware_page import Detector, HardwarePage
    from workbench.ui.library_page import LibraryPage, Scanner
    from workbench.ui.server_page import ServerPage
    from workbench.ui.settings_page import SettingsPage

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"
DEFAULT_SIZE = (1100, 720)
DEFAULT_PAGE = "chat"
MAX_PAGE_SHORTCUTS = 10  # Ctrl+1..9, then Ctrl+0


def gguf_paths(urls: list[QUrl]) -> list[str]:
    """The local .gguf files among dropped URLs."""
    return [url.toLocalFile() for url in urls
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".gguf")]


PageT = TypeVar("PageT", bound=QWidget)


class PageAttribute(Generic[PageT]):
    """A window attribute that is its page, built on first access (``window.compare``)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, window: MainWindow, owner: type | None = None) -> PageT:
        return window.page(self.key)  # type: ignore[return-value]


@dataclass(frozen=True)
class PageEntry:
    """One row of the rail: its page is built by ``build`` on its first visit."""

    key: str
    title: str
    icon: str
    tip: str
    build: Callable[[QWidget], QWidget]


class MainWindow(QMainWindow):
    """The window. Start and Chat are built with it; every other page (and its module, with
    what it imports) is built the first time it is shown or asked for (``page(key)``, or its
    attribute, ``window.compare``), so the first window does not wait for twelve pages."""

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
        # once the window is built: while it is set, each widget added to a layout is polished
        # by it again (with its children), which made building the window take 3x as long.
        self._theme = apply_theme(str(self.settings.value("ui/theme", "system")),
                                  stylesheet=False)
        self.bridge = EngineBridge(engine, self)
        self.status = StatusBar(self.bridge, self)
        self.setStatusBar(self.status)
        self.status.set_network(network_state())

        central = QWidget(self)
        self.rail = NavRail(central)
        self.pages = QStackedWidget(central)
        self.page_widgets: dict[str, QWidget] = {}  # the pages built so far
        self._entries: dict[str, PageEntry] = {}
        self._slots: dict[str, QWidget] = {}  # an empty widget where a page is not built yet
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.rail)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.downloads = downloads or DownloadsController(parent=self)
        self.chat = ChatPage(self.bridge, self.pages)
        self.welcome = WelcomePage(self.downloads, self.pages, detector=hardware_detector,
                                   scanner=library_scanner, recommender=recommender,
                                   network_check=network_check, offline=self.status.offline)
        for entry in self._page_table(hardware_detector, library_scanner, planner,
                                      discover_recommender):
            self.add_page(entry)
        self.chat.openRequested.connect(self.choose_model)
        self.welcome.openRequested.connect(self._open_from_library)
        self.welcome.openFileRequested.connect(self.choose_model)
        self.welcome.pageRequested.connect(self.show_page)
        self.rail.pageChosen.connect(self.show_page)
        self.downloads.jobsChanged.connect(self._downloads_changed)

        self._build_actions()
        self.bridge.stateChanged.connect(self._update_actions)
        self._update_actions()
        self._restore_state()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            keep_style(app)
        if welcome_if_empty:
            self.welcome.libraryScanned.connect(self._first_scan)
            self.welcome.scan()

    def _page_table(self, detector: Detector | None, scanner: Scanner | None,
                    planner: Planner | None,
                    recommender: Callable[[], list[Recommendation]] | None) -> list[PageEntry]:
        """Every page in rail order, with how to build it."""

        def hardware(parent: QWidget) -> QWidget:
            from workbench.ui.hardware_page import HardwarePage

            page = HardwarePage(detector, parent)
            page.detected.connect(self.welcome.set_hardware)
            return page

        def discover(parent: QWidget) -> QWidget:
            from workbench.ui.discover_page import DiscoverPage

            return DiscoverPage(self.downloads, parent, planner=planner, recommender=recommender,
                                offline=self.status.offline)

        def library(parent: QWidget) -> QWidget:
            from workbench.ui.library_page import LibraryPage

            page = LibraryPage(scanner, parent)
            page.openRequested.connect(self._open_from_library)
            page.openAdapterRequested.connect(self._open_adapter_from_library)
            return page

        def compare(parent: QWidget) -> QWidget:
            from workbench.ui.compare_page import ComparePage

            return ComparePage(self._loaded_model_settings, parent)

        def evals(parent: QWidget) -> QWidget:
            from workbench.ui.evals_page import EvalsPage

            return EvalsPage(parent, library_scanner=scanner)

        def server(parent: QWidget) -> QWidget:
            from workbench.ui.server_page import ServerPage

            return ServerPage(parent, library_scanner=scanner)

        def bench(parent: QWidget) -> QWidget:
            from workbench.ui.bench_page import BenchPage

            return BenchPage(parent, library_scanner=scanner)

        def costs(parent: QWidget) -> QWidget:
            from workbench.ui.costs_page import CostsPage

            return CostsPage(parent, loaded_model=self._loaded_model_settings)

        def settings(parent: QWidget) -> QWidget:
            from workbench.ui.settings_page import SettingsPage

            page = SettingsPage(parent)
            page.offlineChanged.connect(self.apply_offline)
            page.themeChosen.connect(self.set_theme)
            page.foldersChanged.connect(self._folders_changed)
            page.set_theme(self._theme)
            return page

        def built(page: QWidget) -> Callable[[QWidget], QWidget]:
            return lambda _parent: page

        return [
            PageEntry("start", "Start", "start",
                      "Getting started: this machine, the best model for it, its download",
                      built(self.welcome)),
            PageEntry("hardware", "Hardware", "hardware",
                      "GPUs, CPU, memory and what llama.cpp can use", hardware),
            PageEntry("discover", "Discover", "discover",
                      "Search Hugging Face for GGUF models that fit this machine", discover),
            PageEntry("downloads", "Downloads", "downloads", "Running and finished downloads",
                      lambda parent: DownloadsPage(self.downloads, parent)),
            PageEntry("library", "Library", "library", "The GGUF models on this machine",
                      library),
            PageEntry("chat", "Chat", "chat", "Chat with the loaded model", built(self.chat)),
            PageEntry("compare", "Compare", "compare",
                      "One prompt to 2-4 models side by side: answers, speed and cost", compare),
            PageEntry("evals", "Evals", "evals",
                      "Test suites on your own prompts: pass rates, cost and the decision",
                      evals),
            PageEntry("server", "Server", "server",
                      "Serve local models to other programs (OpenAI and Anthropic APIs)", server),
            PageEntry("bench", "Benchmarks", "bench",
                      "Measure prompt and generation speed of models on this machine", bench),
            PageEntry("costs", "Costs", "costs",
                      "When does self-hosting beat a pay-per-token API?", costs),
            PageEntry("settings", "Settings", "settings",
                      "API keys, endpoint profiles, prices, offline mode, electricity price",
                      settings),
        ]

    # -- pages -----------------------------------------------------------------------------
    def add_page(self, entry: PageEntry) -> None:
        """Add a row to the rail and its place to the stack (in rail order); the Start and
        Chat pages go in at once, the others when first shown."""
        self._entries[entry.key] = entry
        self.rail.add_page(entry.key, entry.title, icon(entry.icon), entry.tip)
        if entry.key in ("start", "chat"):
            self._place(entry.key, entry.build(self.pages))
        else:
            slot = QWidget(self.pages)
            slot.setObjectName(f"unbuilt-{entry.key}")
            self._slots[entry.key] = slot
            self.pages.addWidget(slot)

    def _place(self, key: str, page: QWidget) -> None:
        page.setObjectName(f"page-{key}")
        self.page_widgets[key] = page
        slot = self._slots.pop(key, None)
        if slot is None:
            self.pages.addWidget(page)
        else:
            self.pages.insertWidget(self.pages.indexOf(slot), page)
            self.pages.removeWidget(slot)
            slot.deleteLater()
        message = getattr(page, "statusMessage", None)
        if message is not None:
            message.connect(lambda text: self.status.showMessage(text, 5000))

    def page(self, key: str) -> QWidget:
        """The page for ``key``, built now if it was not yet (KeyError: no such page)."""
        page = self.page_widgets.get(key)
        if page is None:
            entry = self._entries[key]
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                page = entry.build(self.pages)
            finally:
                QApplication.restoreOverrideCursor()
            self._place(key, page)
        return page

    def built(self, key: str) -> QWidget | None:
        """The page for ``key`` if it has been built, else None (nothing is built)."""
        return self.page_widgets.get(key)

    # each page by name; asking for one builds it
    hardware: PageAttribute[HardwarePage] = PageAttribute("hardware")
    discover: PageAttribute[DiscoverPage] = PageAttribute("discover")
    downloads_page: PageAttribute[DownloadsPage] = PageAttribute("downloads")
    library: PageAttribute[LibraryPage] = PageAttribute("library")
    compare: PageAttribute[ComparePage] = PageAttribute("compare")
    evals: PageAttribute[EvalsPage] = PageAttribute("evals")
    server_page: PageAttribute[ServerPage] = PageAttribute("server")
    bench: PageAttribute[BenchPage] = PageAttribute("bench")
    costs: PageAttribute[CostsPage] = PageAttribute("costs")
    settings_page: PageAttribute[SettingsPage] = PageAttribute("settings")

    def show_page(self, key: str) -> bool:
        if key not in self._entries:
            return False
        self.pages.setCurrentWidget(self.page(key))
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
        discover = self.built("discover")
        if discover is not None:
            discover.set_offline(state.offline)  # type: ignore[attr-defined]

    def set_theme(self, choice: str) -> None:
        """Light, dark or the system's colours (kept for the next start)."""
        self._theme = apply_theme(choice)
        self.settings.setValue("ui/theme", self._theme)
        settings_page = self.built("settings")
        if settings_page is not None:
            settings_page.set_theme(self._theme)  # type: ignore[attr-defined]

    def _folders_changed(self) -> None:
        """Pages that listed the model folders scan again when shown next."""
        for key in ("library", "server"):
            page = self.built(key)
            if page is not None:
                page.scanned_once = False  # type: ignore[attr-defined]
        evals = self.built("evals")
        if evals is not None:
            evals.targets.scanned_once = False  # type: ignore[attr-defined]

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
        library = self.built("library")
        if any(job.state == "done" for job in jobs) and library is not None:
            library.scanned_once = False  # type: ignore[attr-defined]  # rescan when shown next

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
        for key in ("compare", "evals", "bench", "server"):
            page = self.built(key)
            if page is not None:
                page.shutdown()  # type: ignore[attr-defined]
        self.downloads.shutdown()
        self.bridge.shutdown()
        super().closeEvent(event)
