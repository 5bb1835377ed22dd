"""The Server page: a real server started from the page (in this process, on a free port) with
the real SmolLM2 model, real requests through httpx and the openai SDK to the address the page
shows, the request log, the loaded models, Stop and the window's close (the port closed, no
thread or model process left); refusals (another host without a key, a busy port) shown on the
page; snippets that never hold the key; the router's settings passed through to the route
column and the routing split (a loopback stand-in for the cloud target)."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from tests.fakes import openai_faults
from workbench.engine.settings import LoadSettings
from workbench.net import offline
from workbench.server.state import RequestRecord
from workbench.store import secrets
from workbench.ui.main_window import MainWindow
from workbench.ui.server_page import (
    LOG_COLUMNS,
    MODEL_COLUMNS,
    OPEN_NOTE,
    ServerPage,
    curl_snippet,
    python_snippet,
)

pytestmark = pytest.mark.usefixtures("home", "memory_keyring")

START_MS = 30_000
ANSWER_MS = 60_000
KEY = "test-server-key-5e1f9a"
HOSTILE = '<img src="file:///etc/passwd"><b style="color:red">Official update</b><a href="x">'
# no repacking probe (a child process) before a load; a small context loads fast
LOAD = LoadSettings(model_path="", n_ctx=512, repack=False)


def _page(qtbot, *models: Path) -> ServerPage:
    page = ServerPage(library_scanner=lambda: [], load=LOAD)
    qtbot.addWidget(page)
    page.resize(1300, 900)
    page.show()
    qtbot.waitUntil(lambda: page.scanned_once, timeout=10_000)
    page.serve_library.setChecked(False)
    page.port.setValue(0)  # any free port
    for model in models:
        page.add_model_file(str(model))
    return page


def _start(qtbot, page: ServerPage) -> str:
    with qtbot.waitSignal(page.serverStarted, timeout=START_MS) as blocker:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        # the click returned before the server listens: starting runs off the GUI thread
        assert page.phase == "starting" and not page.start_button.isEnabled()
        assert not page.host.isEnabled() and not page.models.isEnabled()
    assert page.phase == "running" and page.stop_button.isEnabled()
    return blocker.args[0]


def _column(page: ServerPage, table, name: str, row: int = 0) -> str:
    columns = LOG_COLUMNS if table is page.log_table else MODEL_COLUMNS
    item = table.item(row, columns.index(name))
    return item.text() if item is not None else ""


def _port_open(url: str) -> bool:
    port = httpx.URL(url).port
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_request_to_the_shown_address_is_logged_and_the_stop_closes_the_port(
        qtbot, smollm2: Path) -> None:
    page = _page(qtbot, smollm2)
    url = _start(qtbot, page)
    assert url == page.url_label.text()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert httpx.URL(url).port not in (0, None)
    assert "Only this machine" in page.state_label.text()
    # the snippets name the real address and the served model
    model = smollm2.name
    for view in (page.python_view, page.curl_view):
        assert url in view.toPlainText() and f'"{model}"' in view.toPlainText()
    assert 'api_key="none"' in page.python_view.toPlainText()
    assert "Authorization" not in page.curl_view.toPlainText()
    qtbot.mouseClick(page.copy_url_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == url

    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello."}], max_tokens=6,
        temperature=0)
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    qtbot.waitUntil(lambda: page.log_table.rowCount() >= 1, timeout=5_000)
    assert _column(page, page.log_table, "Endpoint") == "POST /v1/chat/completions"
    assert _column(page, page.log_table, "Model") == model
    assert _column(page, page.log_table, "Status") == "200"
    assert _column(page, page.log_table, "Tokens") == (
        f"{reply.usage.prompt_tokens} + {reply.usage.completion_tokens}")
    assert float(_column(page, page.log_table, "TTFT (ms)")) > 0
    assert float(_column(page, page.log_table, "tok/s")) > 0
    assert _column(page, page.log_table, "Route") == ""  # no router: it went nowhere else
    # a streamed request, by httpx: newest first in the log
    with httpx.stream("POST", f"{url}/chat/completions", timeout=60, json={
            "model": model, "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 4, "stream": True}) as response:
        assert response.status_code == 200
        assert any("[DONE]" in line for line in response.iter_lines())
    qtbot.waitUntil(lambda: page.log_table.rowCount() >= 2, timeout=5_000)
    assert _column(page, page.log_table, "Endpoint") == "POST /v1/chat/completions (stream)"
    assert _column(page, page.log_table, "Endpoint", row=1) == "POST /v1/chat/completions"
    # a refused request shows its error
    assert httpx.post(f"{url}/chat/completions", json={"model": "no-such-model"},
                      timeout=10).status_code >= 400
    qtbot.waitUntil(lambda: page.log_table.rowCount() >= 3, timeout=5_000)
    assert _column(page, page.log_table, "Error")

    # the models table (refreshed every second) shows the model loaded
    qtbot.waitUntil(lambda: _column(page, page.models_table, "Loaded") == "yes"
                    and _column(page, page.models_table, "Busy") == "", timeout=5_000)
    assert _column(page, page.models_table, "Model") == model
    assert _column(page, page.models_table, "Context") == "512"
    running = page.running
    assert running is not None
    slot = running.server.state.pool.slots()[0]
    pid = slot.engine.pid if slot.engine is not None else None
    assert pid is not None and not _ended(pid)

    with qtbot.waitSignal(page.serverStopped, timeout=START_MS):
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
        assert page.phase == "stopping"
    assert page.phase == "stopped" and page.start_button.isEnabled()
    assert not _port_open(url)
    assert running.server._thread is not None and not running.server._thread.is_alive()
    qtbot.waitUntil(lambda: _ended(pid), timeout=10_000)  # the model's worker process ended
    assert page.url_label.text() == "" and page.models_table.rowCount() == 0
    assert page.log_table.rowCount() == 3  # the log stays for reading


def test_another_host_needs_a_key_and_the_page_says_so(qtbot, smollm2: Path) -> None:
    page = _page(qtbot, smollm2)
    assert "Only this machine" in page.host_note.text()
    page.host.setText("0.0.0.0")
    assert page.host_note.text() == OPEN_NOTE
    with qtbot.waitSignal(page.startFailed) as blocker:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert "API key" in blocker.args[0]
    assert page.banner.isVisible() and "API key" in page.banner.message.text()
    assert page.phase == "stopped" and page.running is None and page.start_button.isEnabled()
    page.api_key.setText("short")
    assert not page.start_server()
    assert "at least 8 characters" in page.banner.message.text()
    assert page.api_key.echoMode() == page.api_key.EchoMode.Password
    # nothing ticked, no library: nothing to serve
    page.host.setText("127.0.0.1")
    page.api_key.clear()
    page.models.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert not page.start_server()
    assert "Choose a model" in page.banner.message.text()


def test_a_busy_port_is_a_message_on_the_page(qtbot, smollm2: Path) -> None:
    page = _page(qtbot, smollm2)
    with contextlib.closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        page.port.setValue(taken.getsockname()[1])
        with qtbot.waitSignal(page.startFailed, timeout=START_MS) as blocker:
            assert page.start_server()
    message = blocker.args[0]
    assert "in use" in message and str(page.port.value()) in message
    assert "Traceback" not in message
    assert page.banner.isVisible() and page.banner.message.text() == message
    assert page.phase == "stopped" and page.running is None and page.start_button.isEnabled()


def test_a_key_protects_the_server_and_never_shows(qtbot, smollm2: Path, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    page = _page(qtbot, smollm2)
    page.api_key.setText(KEY)
    url = _start(qtbot, page)
    python, curl = page.python_view.toPlainText(), page.curl_view.toPlainText()
    assert url in python and url in curl
    assert KEY not in python and KEY not in curl
    assert 'os.environ["WORKBENCH_SERVER_API_KEY"]' in python
    assert '"Authorization: Bearer $WORKBENCH_SERVER_API_KEY"' in curl
    assert httpx.get(f"{url}/models", timeout=10).status_code == 401
    listed = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["data"]] == [smollm2.name]
    page.shutdown()
    assert not _port_open(url)
    # the key was written nowhere: no file of this test, no log record
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert KEY.encode() not in path.read_bytes(), path
    assert all(KEY not in record.getMessage() for record in caplog.records)


def test_snippets_quote_the_model_and_hold_no_key() -> None:
    url = "http://192.168.1.5:8080/v1"
    model = "it's \"odd\".gguf"
    python = python_snippet(url, model, keyed=True)
    compile(python, "snippet", "exec")  # valid Python
    assert url in python and '"it\'s \\"odd\\".gguf"' in python
    curl = curl_snippet(url, model, keyed=False)
    assert curl.startswith(f"curl {url}/chat/completions \\\n")
    assert "'\\''" in curl  # the quote in the model id is shell-quoted
    assert "Authorization" not in curl and "WORKBENCH_SERVER_API_KEY" not in curl


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[openai_faults.FakeServer]:
    """A loopback stand-in for openai:gpt-4o-mini (tests/fakes/openai_faults.py)."""
    for names in secrets.ENV_VARS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    stand_in = openai_faults.server(openai_faults.ok(["cloud", " says", " hi"],
                                                     prompt_tokens=20, completion_tokens=3))
    with stand_in:
        monkeypatch.setenv("OPENAI_BASE_URL", stand_in.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-server-page-test-0a1b2c3d4e")
        yield stand_in
    offline.disable_guard()


def test_the_router_settings_reach_the_server_and_the_route_shows(
        qtbot, smollm2: Path, cloud: openai_faults.FakeServer) -> None:
    page = _page(qtbot, smollm2)
    qtbot.waitUntil(lambda: page.stats_lines == ["No routed requests yet."], timeout=5_000)
    page.routing.setCurrentIndex(page.routing.findData("cloud"))
    assert page.cloud.isEnabled() and page.route_default.isEnabled()
    page.cloud.setText("openai:gpt-4o-mini")
    page.route_default.setCurrentIndex(page.route_default.findData("cloud"))
    config = page.config()
    assert (config.cloud, config.route_default, config.router) == (
        "openai:gpt-4o-mini", "cloud", None)
    url = _start(qtbot, page)
    assert '"auto"' in page.python_view.toPlainText()
    assert "routed: auto" in page.served_label.text()
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
    with qtbot.waitSignal(page.statsShown, timeout=10_000,
                          check_params_cb=lambda lines: "0 of 1" in lines[0]) as blocker:
        reply = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "What is the capital of "
                                     "France?"}], max_tokens=8)
    assert reply.choices[0].message.content == "cloud says hi"
    assert _column(page, page.log_table, "Route") == "auto: cloud; default"
    assert _column(page, page.log_table, "Tokens") == "20 + 3"
    assert blocker.args[0][0] == "0% kept local: 0 of 1 requests (1 to the cloud)."
    assert page.stats_label.text().startswith("0% kept local")
    assert page.models_table.rowCount() == 0  # the local model was never asked for
    page.shutdown()
    assert not _port_open(url)


def test_cloud_routing_needs_a_target_and_a_local_model(qtbot, smollm2: Path) -> None:
    page = _page(qtbot, smollm2)
    page.routing.setCurrentIndex(page.routing.findData("cloud"))
    assert not page.start_server()
    assert "cloud target" in page.banner.message.text()
    page.cloud.setText("openai:gpt-4o-mini")
    page.models.item(0).setCheckState(Qt.CheckState.Unchecked)
    page.serve_library.setChecked(True)
    page.library_paths = [str(smollm2)]
    assert not page.start_server()
    assert "tick a model" in page.banner.message.text()


def test_named_routers_are_offered(qtbot) -> None:
    page = ServerPage(library_scanner=lambda: [], router_names=lambda: ["private", "cheap"])
    qtbot.addWidget(page)
    page.add_model_file("/models/m.gguf")
    page.serve_library.setChecked(False)
    page.routing.setCurrentIndex(page.routing.findData("router:cheap"))
    assert not page.cloud.isEnabled()
    config = page.config()
    assert (config.router, config.cloud) == ("cheap", None)


def test_untrusted_text_is_plain(qtbot) -> None:
    from tests.gui.test_plain_text_labels import assert_plain, shown_tooltip

    page = ServerPage(library_scanner=lambda: [])
    qtbot.addWidget(page)
    page._record_arrived(RequestRecord(at=time.time(), method="POST",
                                       path="/v1/chat/completions", status=400,
                                       model=HOSTILE, error=HOSTILE))
    model_item = page.log_table.item(0, LOG_COLUMNS.index("Model"))
    error_item = page.log_table.item(0, LOG_COLUMNS.index("Error"))
    assert model_item.text() == HOSTILE and error_item.text() == HOSTILE
    assert shown_tooltip(error_item.toolTip()) == HOSTILE
    assert shown_tooltip(model_item.toolTip()) == HOSTILE
    for label in (page.state_label, page.served_label, page.url_label, page.stats_label,
                  page.host_note, page.library_state, page.routing_note):
        label.setText(HOSTILE)
        assert_plain(label)
    page.banner.show_error("x", HOSTILE)
    assert_plain(page.banner.message)


def test_the_window_lists_the_page_and_its_close_stops_the_server(
        qtbot, settings: QSettings, smollm2: Path) -> None:
    win = MainWindow(settings=settings, library_scanner=lambda: [],
                     network_check=lambda: "no network in this test")
    qtbot.addWidget(win)
    win.show()
    keys = win.rail.keys()
    assert keys.index("server") == keys.index("evals") + 1
    win.show_page("server")
    page = win.server_page
    qtbot.waitUntil(lambda: page.scanned_once, timeout=10_000)
    page.serve_library.setChecked(False)
    page.port.setValue(0)
    page.add_model_file(str(smollm2))
    page.context.setValue(512)
    url = _start(qtbot, page)
    assert "Serving at" in win.status.currentMessage()
    reply = httpx.post(f"{url}/chat/completions", timeout=60, json={
        "model": smollm2.name, "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 2})
    assert reply.status_code == 200
    running = page.running
    assert running is not None
    pid = running.server.state.pool.slots()[0].engine.pid
    win.close()
    assert not _port_open(url)
    assert not running.server._thread.is_alive()
    assert _ended(pid)
