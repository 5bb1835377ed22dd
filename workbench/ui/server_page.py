"""The Server page: ``workbench serve`` from the GUI (docs/serve.md).

Choose the models (the library's, as the Library page lists them, plus any GGUF file), the
address, the port, the context length and the router, then Start. The server runs in this
process, in a ``BackgroundServer`` thread (``workbench.server.runner``); it is started off the
GUI thread (the catalog reads GGUF headers, the router builds its targets, the socket is bound,
then the server is waited for until it listens), and a busy port or a bad setting is a message
on the page. While it runs the page shows its address with a copy button and snippets for the
openai SDK and curl; the loaded models, read from the pool every second; a live log of the
requests (``on_record`` is called on the server's threads: a ``Relay`` carries each record to
the GUI thread); and the routing split and the saving (``workbench.routing.log.stats``, read off
the GUI thread when a routed request has been answered). Stop, or closing the window, stops the
server and every model's worker process.

The API key lives in this page's field and the running server only: it is never written to a
file, the settings or a log (it is registered for log redaction), and never put in a snippet
(they read it from ``$WORKBENCH_SERVER_API_KEY``). Text from models, files and requests (model
ids, errors) is shown as plain text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.cancel import CancelToken
from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput, WorkbenchError
from workbench.hub import LocalModel, scan_library
from workbench.present.numbers import format_bytes
from workbench.routing.config import list_routers
from workbench.server.catalog import Catalog, explicit_model
from workbench.server.config import (
    API_KEY_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    MIN_API_KEY_CHARS,
    ServerConfig,
    is_loopback,
)
from workbench.server.runner import BackgroundServer, build_state
from workbench.server.state import RECENT_REQUESTS, RequestRecord
from workbench.store.secrets import redact, remember_secret
from workbench.ui.background import BackgroundCall, Relay, TaskRunner
from workbench.ui.fonts import code_font
from workbench.ui.icons import icon
from workbench.ui.notice_banner import NoticeBanner
from workbench.ui.style import ERROR_HUE
from workbench.ui.widgets import make_primary, page_title, plain_label, plain_tip, row_table

Scanner = Callable[[], list[LocalModel]]
RouterNames = Callable[[], list[str]]

MODEL_COLUMNS = ("Model", "Loaded", "Context", "Busy", "Waiting", "Memory (planned)")
LOG_COLUMNS = ("Time", "Endpoint", "Model", "Status", "TTFT (ms)", "Tokens", "tok/s",
               "Route", "Error")
MAX_LOG_ROWS = RECENT_REQUESTS
REFRESH_MS = 1000  # the loaded-models table
STATS_DELAY_MS = 300  # routed requests in a burst: one read of the route log
STOP_TIMEOUT_S = 30.0
PATH_ROLE = Qt.ItemDataRole.UserRole
ROUTE_NONE = ""
ROUTE_CLOUD = "cloud"
ROUTER_PREFIX = "router:"
START, STOP, STATS = "start", "stop", "stats"
STOPPED, STARTING, RUNNING, STOPPING = "stopped", "starting", "running", "stopping"

LOOPBACK_NOTE = "Only this machine can reach the server."
OPEN_NOTE = (f"Other machines can reach this address: the server needs an API key (at least "
             f"{MIN_API_KEY_CHARS} characters), and will not start without one.")
KEY_NOTE = ("Clients send it as 'Authorization: Bearer KEY' (or x-api-key). It is kept only "
            "while Workbench runs: never saved, never logged, never in the snippets (they read "
            f"${API_KEY_ENV}).")


# -- what the page shows, Qt-free ---------------------------------------------------------------

def python_snippet(base_url: str, model: str, *, keyed: bool) -> str:
    """The openai SDK (Python) against ``base_url`` (it ends in /v1); with ``keyed`` the key is
    read from the environment, never written here."""
    key = f'os.environ["{API_KEY_ENV}"]' if keyed else '"none"'
    lines = [*(["import os", ""] if keyed else []),
             "from openai import OpenAI", "",
             f"client = OpenAI(base_url={json.dumps(base_url)}, api_key={key})",
             "reply = client.chat.completions.create(",
             f"    model={json.dumps(model)},",
             '    messages=[{"role": "user", "content": "Hello"}])',
             "print(reply.choices[0].message.content)"]
    if keyed:
        lines.insert(0, f"# export {API_KEY_ENV}=<the key set on the Server page>")
    return "\n".join(lines) + "\n"


def _shell_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def curl_snippet(base_url: str, model: str, *, keyed: bool) -> str:
    """curl against ``base_url``'s chat completions; the key (``keyed``) from the environment."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello"}]})
    lines = [f"curl {base_url}/chat/completions",
             '  -H "Content-Type: application/json"']
    if keyed:
        lines.append(f'  -H "Authorization: Bearer ${API_KEY_ENV}"')
    lines.append(f"  -d {_shell_quoted(body)}")
    text = " \\\n".join(lines) + "\n"
    return (f"# export {API_KEY_ENV}=<the key set on the Server page>\n" + text if keyed
            else text)


def _optional(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def record_values(record: RequestRecord) -> list[str]:
    """One request as the log table's cells (LOG_COLUMNS)."""
    endpoint = f"{record.method} {record.path}" + (" (stream)" if record.stream else "")
    tokens = ""
    if record.completion_tokens is not None or record.prompt_tokens is not None:
        tokens = f"{record.prompt_tokens or 0} + {record.completion_tokens or 0}"
    route = record.route or ""
    if route and record.router:
        route = f"{record.router}: {route}"
    return [datetime.fromtimestamp(record.at).strftime("%H:%M:%S"), endpoint, record.model or "",
            str(record.status) if record.status else "", _optional(record.ttft_ms), tokens,
            _optional(record.tokens_per_s, 1), route, (record.error or "").replace("\n", " ")]


def slot_values(state: Any) -> list[str]:
    """One model slot (``SlotState``) as the models table's cells (MODEL_COLUMNS)."""
    purpose = getattr(state, "purpose", "chat")
    name = state.id if purpose == "chat" else f"{state.id} ({purpose})"
    return [name, "yes" if state.loaded else "no", str(state.n_ctx) if state.n_ctx else "",
            "yes" if state.busy else "", str(state.waiting) if state.waiting else "",
            format_bytes(state.planned_bytes) if state.planned_bytes else ""]


@dataclasses.dataclass
class Running:
    """A started server: the server, its options (with the real port) and what it serves."""

    server: BackgroundServer
    config: ServerConfig
    models: list[str]  # the served model ids, the first ones first
    routed: list[str]  # "auto", "router:NAME"

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def example_model(self) -> str:
        if self.routed:
            return "auto" if "auto" in self.routed else self.routed[0]
        return self.models[0] if self.models else "MODEL"


def launch_server(config: ServerConfig, *, scan: Scanner | None,
                 on_record: Callable[[RequestRecord], None] | None = None,
                 database: Path | None = None) -> Running:
    """Build the server for ``config`` and start it in its thread (blocking: call it off the
    GUI thread). Anything that fails on the way is closed again before the error goes up."""
    catalog = Catalog([explicit_model(spec, scan) for spec in config.models],
                      scan=scan if config.library else None)
    state = build_state(config, catalog=catalog, on_record=on_record, database=database)
    try:
        models = [model.id for model in catalog.models()]
        server = BackgroundServer(state, config.host, config.port)
    except BaseException:
        state.close()
        raise
    state.config = dataclasses.replace(config, port=server.port)
    try:
        server.start()
    except BaseException:
        server.stop(timeout=5.0)
        raise
    return Running(server, state.config, models, sorted(state.routers))


def error_text(err: BaseException) -> str:
    """An error as one message (never a traceback; never a key)."""
    text = str(err) if isinstance(err, WorkbenchError) else f"{type(err).__name__}: {err}"
    return redact(text)


class _Serving:
    """The server of one page, shared with the thread that starts it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: Running | None = None
        self.closed = False  # the page is going: a server started now is stopped at once

    def hand_over(self, running: Running, cancel: CancelToken) -> bool:
        """The start thread: keep ``running``; False when it was cancelled (stop it)."""
        with self.lock:
            if self.closed or cancel.is_set():
                return False
            self.running = running
            return True

    def take(self) -> Running | None:
        with self.lock:
            running, self.running = self.running, None
            return running

    def close(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the server, if one runs (blocking); nothing started later is kept."""
        with self.lock:
            self.closed = True
        running = self.take()
        if running is not None:
            running.server.stop(timeout)


# -- the page -----------------------------------------------------------------------------------

def _code_view(parent: QWidget, name: str) -> QPlainTextEdit:
    view = QPlainTextEdit(parent)
    view.setReadOnly(True)
    view.setFont(code_font())
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    view.setAccessibleName(name)
    view.setMaximumHeight(view.fontMetrics().height() * 11)
    return view


def _set_row(table: QTableWidget, row: int, values: list[str], tips: dict[int, str]) -> None:
    for column, value in enumerate(values):
        item = table.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            table.setItem(row, column, item)
        if item.text() != value:
            item.setText(value)
        tip = tips.get(column)
        item.setToolTip(plain_tip(tip) if tip else "")


class ServerPage(QWidget):
    statusMessage = Signal(str)
    serverStarted = Signal(str)  # the base URL
    serverStopped = Signal()
    startFailed = Signal(str)  # the message shown
    recordShown = Signal(object)  # a RequestRecord, now at the top of the log
    statsShown = Signal(list)  # the lines of the route log's stats

    def __init__(self, parent: QWidget | None = None, *,
                 library_scanner: Scanner | None = None, load: LoadSettings | None = None,
                 database: Path | None = None, router_names: RouterNames = list_routers,
                 ) -> None:
        """``load``: the template every model is loaded with (its context is the field's);
        ``database``: the SQLite file of the route log (None: Workbench's own)."""
        super().__init__(parent)
        self._scanner = library_scanner or scan_library
        self._load = load or LoadSettings(model_path="")
        self._database = database
        self._router_names = router_names
        self._scan: BackgroundCall | None = None
        self.scanned_once = False
        self.library_paths: list[str] = []
        self.phase = STOPPED
        self.running: Running | None = None
        self.stats_lines: list[str] = []
        self._serving = _Serving()
        self._tasks = TaskRunner(self, name="workbench-serve")
        self._records = Relay(self)
        self._records.delivered.connect(self._record_arrived)
        serving = self._serving
        self.destroyed.connect(lambda *_: serving.close())  # never a server without its page

        title = page_title("Server", self)
        intro = plain_label(
            "Serve local models to other programs through the OpenAI and Anthropic APIs "
            "(what 'workbench serve' does). Models load on their first request.", self)
        intro.setWordWrap(True)
        self.banner = NoticeBanner(self)

        # models
        self.models = QListWidget(self)
        self.models.setAccessibleName("Models to serve")
        self.models.setToolTip("Ticked models are served first (the first one is the router's "
                               "local model)")
        self.serve_library = QCheckBox("Also serve every other library model", self)
        self.serve_library.setChecked(True)
        self.serve_library.setAccessibleName("Serve the whole library")
        self.serve_library.setToolTip("List every usable model of the library in /v1/models; "
                                      "each is loaded when a request names it")
        self.library_state = plain_label("", self)
        self.library_state.setWordWrap(True)
        self.library_state.setAccessibleName("Library scan state")
        self.rescan_button = QPushButton("Rescan", self)
        self.rescan_button.setAccessibleName("Scan the library for models again")
        self.rescan_button.clicked.connect(lambda: self.scan_models(force=True))
        self.add_button = QPushButton("Add file…", self)
        self.add_button.setAccessibleName("Add a GGUF file to serve")
        self.add_button.setToolTip("Serve any GGUF file, in the library or not")
        self.add_button.clicked.connect(self.choose_file)
        self.adapter_button = QPushButton("Add adapter…", self)
        self.adapter_button.setAccessibleName("Serve the selected model with a LoRA adapter")
        self.adapter_button.setToolTip("Select a model above, then choose a LoRA adapter: the "
                                       "model with the adapter is served under its own id")
        self.adapter_button.clicked.connect(self.choose_adapter)
        model_buttons = QHBoxLayout()
        model_buttons.addStretch(1)
        model_buttons.addWidget(self.rescan_button)
        model_buttons.addWidget(self.add_button)
        model_buttons.addWidget(self.adapter_button)
        model_box = QGroupBox("Models", self)
        model_layout = QVBoxLayout(model_box)
        model_layout.addWidget(self.models, 1)
        model_layout.addWidget(self.serve_library)
        model_layout.addWidget(self.library_state)
        model_layout.addLayout(model_buttons)

        # address and limits
        self.host = QLineEdit(DEFAULT_HOST, self)
        self.host.setAccessibleName("Host")
        self.host.setToolTip(f"The address to listen on: {DEFAULT_HOST} is this machine only; "
                             "0.0.0.0 is every address of this machine (needs an API key)")
        self.host.textChanged.connect(lambda *_: self._update_host_note())
        self.host_note = plain_label("", self)
        self.host_note.setWordWrap(True)
        self.host_note.setAccessibleName("Who can reach the server")
        self.port = QSpinBox(self)
        self.port.setRange(0, 65535)
        self.port.setValue(DEFAULT_PORT)
        self.port.setSpecialValueText("any free port")
        self.port.setAccessibleName("Port")
        self.port.setToolTip("The port to listen on (0: any free port)")
        self.api_key = QLineEdit(self)
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("none (this machine only)")
        self.api_key.setAccessibleName("API key")
        self.api_key.setToolTip(KEY_NOTE)
        self.api_key.textChanged.connect(lambda *_: self._update_host_note())
        self.context = QSpinBox(self)
        self.context.setRange(0, 1 << 20)
        self.context.setSingleStep(1024)
        self.context.setValue(self._load.n_ctx)
        self.context.setSuffix(" tokens")
        self.context.setSpecialValueText("the model's own")
        self.context.setAccessibleName("Context length")
        self.context.setToolTip("The context each model is loaded with (never more than it "
                                "was trained for); a request may ask for more")
        address_box = QGroupBox("Address", self)
        address_form = QFormLayout(address_box)
        address_form.addRow("Host:", self.host)
        address_form.addRow(self.host_note)
        address_form.addRow("Port:", self.port)
        address_form.addRow("API key:", self.api_key)
        address_form.addRow("Context:", self.context)

        # routing
        self.routing = QComboBox(self)
        self.routing.setAccessibleName("Routing")
        self.routing.setToolTip("Model 'auto': each request to the local model or a cloud "
                                "target (sensitive data always stays local), or a named router "
                                "(routers/NAME.yaml)")
        self.routing.currentIndexChanged.connect(lambda *_: self._update_controls())
        self.cloud = QLineEdit(self)
        self.cloud.setPlaceholderText("openai:gpt-4o-mini")
        self.cloud.setAccessibleName("Cloud target")
        self.cloud.setToolTip("Any compare target: provider:model (its key from Settings)")
        self.route_default = QComboBox(self)
        for value in ("local", "cloud"):
            self.route_default.addItem(value, value)
        self.route_default.setAccessibleName("Route default")
        self.route_default.setToolTip("Where 'auto' sends a request that no rule decides")
        self.routing_note = plain_label("", self)
        self.routing_note.setWordWrap(True)
        self.routing_note.setAccessibleName("Routing note")
        routing_box = QGroupBox("Routing", self)
        routing_form = QFormLayout(routing_box)
        routing_form.addRow("Router:", self.routing)
        routing_form.addRow("Cloud target:", self.cloud)
        routing_form.addRow("Default:", self.route_default)
        routing_form.addRow(self.routing_note)

        # start / stop
        self.start_button = make_primary(QPushButton("Start", self))
        self.start_button.setIcon(icon("run"))
        self.start_button.setAccessibleName("Start the server")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start_server())
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setAccessibleName("Stop the server")
        self.stop_button.setToolTip("Stop the server; answers under way are cut off and every "
                                    "model is unloaded")
        self.stop_button.clicked.connect(lambda: self.stop_server())
        self.state_label = plain_label("Not running.", self)
        self.state_label.setWordWrap(True)
        self.state_label.setAccessibleName("Server state")
        run_row = QHBoxLayout()
        run_row.addWidget(self.start_button)
        run_row.addWidget(self.stop_button)
        run_row.addStretch(1)
        self._setting_widgets: list[QWidget] = [
            self.models, self.serve_library, self.rescan_button, self.add_button,
            self.adapter_button, self.host,
            self.port, self.api_key, self.context, self.routing, self.cloud,
            self.route_default]

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(model_box, 1)
        left_layout.addWidget(address_box)
        left_layout.addWidget(routing_box)
        left_layout.addLayout(run_row)
        left_layout.addWidget(self.state_label)

        # running: the address and snippets
        self.url_label = plain_label("", self)
        self.url_label.setAccessibleName("Server address")
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.url_label.setFont(code_font())
        self.copy_url_button = QPushButton("Copy address", self)
        self.copy_url_button.setAccessibleName("Copy the server address")
        self.copy_url_button.clicked.connect(lambda: self.copy(self.url_label.text()))
        self.served_label = plain_label("", self)
        self.served_label.setWordWrap(True)
        self.served_label.setAccessibleName("Served models")
        self.python_view = _code_view(self, "Python snippet (openai SDK)")
        self.curl_view = _code_view(self, "curl snippet")
        self.snippets = QTabWidget(self)
        for view, label in ((self.python_view, "Python (openai)"), (self.curl_view, "curl")):
            tab = QWidget(self.snippets)
            tab_layout = QVBoxLayout(tab)
            tab_layout.setContentsMargins(4, 4, 4, 4)
            tab_layout.addWidget(view)
            copy = QPushButton("Copy", tab)
            copy.setAccessibleName(f"Copy the {label} snippet")
            copy.clicked.connect(lambda _checked=False, v=view: self.copy(v.toPlainText()))
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(copy)
            tab_layout.addLayout(row)
            self.snippets.addTab(tab, label)
        url_row = QHBoxLayout()
        url_row.addWidget(self.url_label, 1)
        url_row.addWidget(self.copy_url_button)
        self.use_box = QGroupBox("Use it", self)
        use_layout = QVBoxLayout(self.use_box)
        use_layout.addLayout(url_row)
        use_layout.addWidget(self.served_label)
        use_layout.addWidget(self.snippets)

        # running: models, requests, routing
        self.models_table = row_table(MODEL_COLUMNS, "Loaded models", self)
        self.models_table.setToolTip("The models asked for so far, read every second")
        self.log_table = row_table(LOG_COLUMNS, "Requests", self)
        self.log_table.setToolTip(f"The latest {MAX_LOG_ROWS} requests, newest first")
        self.stats_label = plain_label("", self)
        self.stats_label.setWordWrap(True)
        self.stats_label.setAccessibleName("Routing split and savings")
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        models_box = QGroupBox("Models asked for", self)
        QVBoxLayout(models_box).addWidget(self.models_table)
        log_box = QGroupBox("Requests", self)
        QVBoxLayout(log_box).addWidget(self.log_table)
        stats_box = QGroupBox("Routing so far (every routed request)", self)
        QVBoxLayout(stats_box).addWidget(self.stats_label)

        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(self.use_box)
        right.addWidget(models_box)
        right.addWidget(log_box)
        right.addWidget(stats_box)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 1)
        right.setStretchFactor(2, 3)
        right.setStretchFactor(3, 1)
        right.setChildrenCollapsible(False)

        left_scroll = QScrollArea(self)
        left_scroll.setWidget(left)
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setMinimumWidth(left.minimumSizeHint().width()
                                    + left_scroll.verticalScrollBar().sizeHint().width())
        right_scroll = QScrollArea(self)  # a small window scrolls the tables, never clips them
        right_scroll.setWidget(right)
        right_scroll.setWidgetResizable(True)
        right_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left_scroll)
        splitter.addWidget(right_scroll)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_MS)
        self.refresh_timer.timeout.connect(self.refresh_models)
        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(STATS_DELAY_MS)
        self._stats_timer.timeout.connect(self.refresh_stats)

        self.refresh_routers()
        self._update_host_note()
        self._show_running(None)
        self._update_controls()

    # -- models ------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.scan_models()
        if self.phase == STOPPED:
            self.refresh_routers()
        if not self.stats_lines:
            self.refresh_stats()

    def scan_models(self, force: bool = False) -> None:
        """List the library's models (off the GUI thread); once, unless ``force``."""
        if self._scan is not None or (self.scanned_once and not force):
            return
        self.library_state.setText("Scanning the library…")
        self.rescan_button.setEnabled(False)
        self._scan = BackgroundCall(self._scanner, self, name="workbench-serve-scan")
        self._scan.finished.connect(self._scanned)
        self._scan.failed.connect(self._scan_failed)
        self._scan.start()

    def _scanned(self, found: list[LocalModel]) -> None:
        self._scan = None
        self.scanned_once = True
        usable = [m for m in found if m.status == "ok" and not m.is_adapter]
        self.library_paths = [m.path for m in usable]
        for model in usable:
            label = " · ".join(part for part in (model.name, model.quant or "",
                                                 format_bytes(model.size)) if part)
            self.add_model_file(model.path, label=label, checked=False)
        self.library_state.setText(f"{len(usable)} library models" if usable else
                                   "No library models: use Add file…")
        self._update_controls()

    def _scan_failed(self, err: BaseException) -> None:
        self._scan = None
        self.scanned_once = True
        self.library_state.setText("Library scan failed: use Add file…")
        self.library_state.setToolTip(plain_tip(f"The library scan failed: {err}"))
        self._update_controls()

    def add_model_file(self, path: str, *, label: str | None = None,
                       checked: bool = True) -> QListWidgetItem:
        """List ``path`` (once) as a model to serve; returns its item."""
        for row in range(self.models.count()):
            item = self.models.item(row)
            if item.data(PATH_ROLE) == path:
                if checked:
                    item.setCheckState(Qt.CheckState.Checked)
                return item
        item = QListWidgetItem(label or Path(path).name)
        item.setData(PATH_ROLE, path)
        item.setToolTip(plain_tip(path))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.models.addItem(item)
        return item

    def choose_file(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        if self.phase != STOPPED:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model to serve", "",
                                              "GGUF models (*.gguf);;All files (*)")
        if not path:
            return
        from workbench.gguf import looks_like_adapter

        if looks_like_adapter(path):  # an adapter is served with a model, never alone
            self.add_adapter(path)
        else:
            self.add_model_file(path)

    def choose_adapter(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        if self.phase != STOPPED:
            return
        path, _ = QFileDialog.getOpenFileName(self, "A LoRA adapter for the selected model", "",
                                              "GGUF adapters (*.gguf);;All files (*)")
        if path:
            self.add_adapter(path)

    def add_adapter(self, adapter: str, scale: float = 1.0, *,
                    model: str | None = None) -> QListWidgetItem | None:
        """List ``model`` (default: the selected one) with the LoRA adapter at ``scale`` as a
        model of its own (``MODEL+lora:ADAPTER@SCALE``, what ``serve --model`` takes), after
        checking that the adapter fits it; None, with the reason in the banner, otherwise."""
        from workbench.engine.settings import format_lora
        from workbench.gguf import check_adapter_fits, read_adapter, read_split_headers

        if model is None:
            item = self.models.currentItem()
            model = None if item is None else str(item.data(PATH_ROLE))
        if not model or "+lora:" in model:
            self.banner.show_error("Select the model first",
                                   "A LoRA adapter is served with a model: select that model "
                                   "in the list, then add the adapter.")
            return None
        try:
            summary = read_adapter(adapter)
            check_adapter_fits(summary, read_split_headers(model))
        except WorkbenchError as err:
            self.banner.show_error("This adapter cannot be served with that model", str(err))
            return None
        self.banner.dismiss()
        label = f"{Path(model).name} + LoRA {Path(adapter).stem} ×{scale:g}"
        return self.add_model_file(f"{model}+lora:{format_lora(adapter, scale)}", label=label)

    def chosen_paths(self) -> list[str]:
        return [self.models.item(row).data(PATH_ROLE) for row in range(self.models.count())
                if self.models.item(row).checkState() == Qt.CheckState.Checked]

    # -- settings ----------------------------------------------------------------------------
    def refresh_routers(self) -> None:
        """The routing choices: none, a cloud target, each named router (routers/*.yaml)."""
        current = self.routing.currentData()
        try:
            names = self._router_names()
        except (OSError, WorkbenchError):
            names = []
        self.routing.blockSignals(True)
        self.routing.clear()
        self.routing.addItem("None", ROUTE_NONE)
        self.routing.addItem("Model 'auto': the first model or a cloud target", ROUTE_CLOUD)
        for name in names:
            self.routing.addItem(f"Named router: {name}", f"{ROUTER_PREFIX}{name}")
        index = self.routing.findData(current) if current is not None else 0
        self.routing.setCurrentIndex(max(0, index))
        self.routing.blockSignals(False)
        self._update_controls()

    def _update_host_note(self) -> None:
        host = self.host.text().strip() or DEFAULT_HOST
        self.host_note.setText(LOOPBACK_NOTE if is_loopback(host) else OPEN_NOTE)

    def config(self) -> ServerConfig:
        """The server's options from the fields; BadInput (with what to change) when they
        cannot start a server."""
        host = self.host.text().strip() or DEFAULT_HOST
        key = self.api_key.text() or None
        if not is_loopback(host) and not key:
            raise BadInput(f"{host} lets other machines reach the server: set an API key (at "
                           f"least {MIN_API_KEY_CHARS} characters), or keep {DEFAULT_HOST}.")
        if key is not None and len(key) < MIN_API_KEY_CHARS:
            raise BadInput(f"The API key must be at least {MIN_API_KEY_CHARS} characters.")
        models = tuple(self.chosen_paths())
        library = self.serve_library.isChecked()
        if not models and not (library and self.library_paths):
            raise BadInput("Choose a model to serve: tick one, or add a GGUF file with Add "
                           "file…")
        mode = str(self.routing.currentData() or ROUTE_NONE)
        cloud = router = None
        if mode == ROUTE_CLOUD:
            cloud = self.cloud.text().strip()
            if not cloud:
                raise BadInput("Name the cloud target for model 'auto' (e.g. "
                               "openai:gpt-4o-mini), or choose no routing.")
            if not models:
                raise BadInput("Model 'auto' routes between the first ticked model and the "
                               "cloud target: tick a model.")
        elif mode.startswith(ROUTER_PREFIX):
            router = mode[len(ROUTER_PREFIX):]
        load = dataclasses.replace(self._load, model_path="", n_ctx=self.context.value())
        return ServerConfig(host=host, port=self.port.value(), models=models, library=library,
                            api_key=key, load=load, cloud=cloud,
                            route_default=str(self.route_default.currentData()),
                            router=router)

    # -- start / stop ------------------------------------------------------------------------
    def start_server(self) -> bool:
        """Start the server with the fields' settings (in the background); False when it
        cannot start (the page says why)."""
        if self.phase != STOPPED:
            return False
        try:
            config = self.config()
        except WorkbenchError as err:
            self._refuse(str(err))
            return False
        if config.api_key:
            remember_secret(config.api_key)  # redacted from every log from now on
        self.banner.dismiss()
        self._set_phase(STARTING)
        self.state_label.setText(f"Starting on {config.host}:{config.port or 'any port'}…")
        scan, push, database, serving = (self._scanner, self._records.push, self._database,
                                          self._serving)

        def work(_progress: Callable[[Any], None], cancel: CancelToken) -> Running | None:
            running = launch_server(config, scan=scan, on_record=push, database=database)
            if not serving.hand_over(running, cancel):
                running.server.stop(STOP_TIMEOUT_S)
                return None
            return running

        self._tasks.run(work, key=START, on_result=self._started,
                        on_error=self._start_failed, name="workbench-serve-start")
        return True

    def _refuse(self, message: str) -> None:
        self.banner.show_error("The server was not started", message)
        self.state_label.setText("Not running.")
        self.startFailed.emit(message)

    def _started(self, running: Running | None) -> None:
        if running is None:
            return
        self.running = running
        self._set_phase(RUNNING)
        self._show_running(running)
        self.refresh_models()
        self.refresh_timer.start()
        self.refresh_stats()
        self.statusMessage.emit(f"Serving at {running.base_url}")
        self.serverStarted.emit(running.base_url)

    def _start_failed(self, err: BaseException) -> None:
        self._set_phase(STOPPED)
        self._refuse(error_text(err))

    def stop_server(self) -> bool:
        """Stop the server (in the background); False when none runs."""
        if self.phase != RUNNING:
            return False
        running = self._serving.take()
        self.running = None
        self.refresh_timer.stop()
        self._set_phase(STOPPING)
        self.state_label.setText("Stopping: answers under way are cut off, models unloaded…")
        if running is None:
            self._stopped(None)
            return True
        self._tasks.run(lambda _p, _c: running.server.stop(STOP_TIMEOUT_S), key=STOP,
                        on_result=self._stopped, on_error=self._stopped,
                        name="workbench-serve-stop")
        return True

    def _stopped(self, _result: object) -> None:
        self._set_phase(STOPPED)
        self._show_running(None)
        self.state_label.setText("Stopped; every model was unloaded.")
        self.refresh_models()
        self.statusMessage.emit("The server stopped.")
        self.serverStopped.emit()

    def shutdown(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the server and wait for it (the window is closing): no server thread and no
        model process is left."""
        self.refresh_timer.stop()
        self._stats_timer.stop()
        with self._serving.lock:
            self._serving.closed = True  # a start that ends now stops its own server
        self._records.close()
        for key in (START, STOP):
            task = self._tasks.current(key)
            if task is not None:
                task.wait(timeout)
        self._tasks.cancel_all()
        self._serving.close(timeout)
        self.running = None
        self.phase = STOPPED

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self._update_controls()

    def _update_controls(self) -> None:
        stopped = self.phase == STOPPED
        for widget in self._setting_widgets:
            widget.setEnabled(stopped)
        self.rescan_button.setEnabled(stopped and self._scan is None)
        mode = str(self.routing.currentData() or ROUTE_NONE)
        self.cloud.setEnabled(stopped and mode == ROUTE_CLOUD)
        self.route_default.setEnabled(stopped and mode == ROUTE_CLOUD)
        self.routing_note.setText({
            ROUTE_NONE: "No routing: each request names its model.",
            ROUTE_CLOUD: "Model 'auto' sends each request to the first ticked model or the "
                         "cloud target; sensitive data always stays local.",
        }.get(mode, f"Served as {mode} (and as 'auto'); its rules decide each request."))
        self.start_button.setEnabled(stopped)
        self.stop_button.setEnabled(self.phase == RUNNING)

    def _show_running(self, running: Running | None) -> None:
        self.use_box.setEnabled(running is not None)
        if running is None:
            self.url_label.setText("")
            self.served_label.setText("Start the server to see its address and snippets.")
            self.python_view.setPlainText("")
            self.curl_view.setPlainText("")
            self.copy_url_button.setEnabled(False)
            return
        config = running.config
        keyed = bool(config.api_key)
        self.url_label.setText(running.base_url)
        self.copy_url_button.setEnabled(True)
        served = ", ".join(running.models[:8]) + (
            f" and {len(running.models) - 8} more" if len(running.models) > 8 else "")
        routed = f"; routed: {', '.join(running.routed)}" if running.routed else ""
        self.served_label.setText(f"{len(running.models)} model(s): {served or 'none'}"
                                  f"{routed}. GET {running.base_url}/models lists them.")
        self.python_view.setPlainText(python_snippet(running.base_url, running.example_model,
                                                     keyed=keyed))
        self.curl_view.setPlainText(curl_snippet(running.base_url, running.example_model,
                                                 keyed=keyed))
        where = LOOPBACK_NOTE if is_loopback(config.host) else (
            f"Listening on {config.host}: other machines can reach it with the API key.")
        self.state_label.setText(f"Running on port {config.port}. {where}")

    def copy(self, text: str) -> None:
        if text:
            QApplication.clipboard().setText(text)
            self.statusMessage.emit("Copied to the clipboard.")

    # -- live figures ------------------------------------------------------------------------
    def refresh_models(self) -> None:
        """The models table from the pool (cheap: the slots' own fields)."""
        running = self.running
        states = [slot.state() for slot in running.server.state.pool.slots()] if running else []
        self.models_table.setRowCount(len(states))
        for row, state in enumerate(states):
            _set_row(self.models_table, row, slot_values(state), {0: state.id})

    def _record_arrived(self, record: RequestRecord) -> None:
        self.log_table.insertRow(0)
        values = record_values(record)
        _set_row(self.log_table, 0, values,
                 {2: values[2], 7: values[7], 8: record.error or ""})
        if record.status >= 400:
            for column in range(self.log_table.columnCount()):
                item = self.log_table.item(0, column)
                if item is not None:
                    item.setForeground(ERROR_HUE)
        while self.log_table.rowCount() > MAX_LOG_ROWS:
            self.log_table.removeRow(self.log_table.rowCount() - 1)
        if record.router and not self._stats_timer.isActive():
            self._stats_timer.start()
        self.recordShown.emit(record)

    def refresh_stats(self) -> None:
        """The route log's split and saving (read off the GUI thread)."""
        database = self._database

        def work(_progress: Callable[[Any], None], _cancel: CancelToken) -> list[str]:
            from workbench.routing import log as route_log
            from workbench.store import db

            with contextlib.closing(db.connect(database)) as connection:
                return route_log.stats(connection).lines()

        self._tasks.run(work, key=STATS, on_result=self._stats_read,
                        on_error=lambda err: self._stats_read(
                            [f"The route log could not be read: {error_text(err)}"]),
                        name="workbench-serve-stats")

    def _stats_read(self, lines: list[str]) -> None:
        self.stats_lines = list(lines)
        self.stats_label.setText("\n".join(lines))
        self.statsShown.emit(self.stats_lines)
