"""The Compare page on real targets: a tiny local model and the loopback Anthropic/OpenAI
fakes; keys in an in-memory keyring (never the OS keyring)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from tests.fakes import anthropic_sse, openai_faults
from workbench.compare import store as compare_store
from workbench.engine.settings import LoadSettings
from workbench.present.metrics import tooltip
from workbench.store import db
from workbench.store.secrets import set_api_key
from workbench.ui.compare_page import ComparePage

RUN_TIMEOUT_MS = 60_000
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture
def keys(memory_keyring, monkeypatch):
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    set_api_key("anthropic", "sk-ant-test-55aa11")
    set_api_key("openai", "sk-test-openai-77bb22")
    return memory_keyring


@pytest.fixture
def anthropic(monkeypatch):
    with anthropic_sse.server(anthropic_sse.ok(["Hello", " from", " the", " fake."],
                                               delay=0.02)) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        yield srv


@pytest.fixture
def page(qtbot):
    widget = ComparePage()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    return widget


def test_local_and_anthropic_stream_side_by_side(qtbot, page: ComparePage, keys, anthropic,
                                                 llama_tiny: Path) -> None:
    page.pickers[0].set_target("local", str(llama_tiny))
    page.pickers[1].set_target("anthropic", "claude-test")
    page.prompt.setPlainText("Say hello.")
    page.max_tokens.setValue(8)
    main = threading.current_thread()
    seen_threads: list[bool] = []
    handle = page._on_event  # the comparison's progress (status lines, finished answers)

    def on_event(payload: object) -> None:
        seen_threads.append(threading.current_thread() is main)
        handle(payload)

    page._on_event = on_event  # type: ignore[method-assign]
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        assert page.run()
        assert not page.send_bar.isVisible()  # loopback and local: nothing leaves
        assert page.running
    assert seen_threads and all(seen_threads)  # events were handled on the GUI thread
    local, cloud = page.panes[0].result, page.panes[1].result
    assert local is not None and local.ok and local.provider == "local"
    assert local.completion_tokens and local.gen_tokens_per_s
    assert cloud is not None and cloud.ok, (cloud.error, cloud.notes)
    assert cloud.text == "Hello from the fake."
    assert page.panes[1].text.toPlainText() == "Hello from the fake."
    assert page.panes[0].text.toPlainText() == local.text
    assert page.panes[1].header.text() == "B: anthropic/claude-test"
    ttft = page.panes[1].figures["ttft_ms"]
    assert ttft.text().startswith("TTFT ") and ttft.toolTip() == tooltip("ttft_ms")
    assert page.panes[0].figures["energy_j"].toolTip() == tooltip("energy_j")
    assert any(len(series.points()) for series in page.chart.series)  # the chart got points
    run_id = blocker.args[0]
    assert run_id > 0 and page.history.count() >= 1
    with contextlib.closing(db.connect()) as connection:
        stored = compare_store.load_run(connection, run_id)
    assert [a.target for a in stored.answers] == [f"local:{llama_tiny}",
                                                  "anthropic:claude-test"]


def test_blind_run_hides_names_until_the_vote(qtbot, page: ComparePage, keys,
                                              anthropic) -> None:
    page.pickers[0].set_target("anthropic", "claude-one")
    page.pickers[1].set_target("anthropic", "claude-two")
    page.blind_box.setChecked(True)
    page.prompt.setPlainText("Which is better?")
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        page.run()
    assert [p.header.text() for p in page.panes[:2]] == ["Answer A", "Answer B"]
    assert page.vote_bar.isVisible()
    for pane in page.panes[:2]:  # cost and energy would tell local from cloud: after the vote
        assert pane.figures["cost_usd"].text() == "cost: after the vote"
        assert pane.figures["energy_j"].text() == "energy: after the vote"
    page.vote_buttons["A"].click()
    assert "after the vote" not in page.panes[0].figures["cost_usd"].text()
    winner = page.panes[0].header.text()
    assert winner.startswith("A: anthropic/claude-") and winner.endswith("(winner)")
    assert not page.vote_bar.isVisible()
    with contextlib.closing(db.connect()) as connection:
        assert compare_store.load_run(connection, blocker.args[0]).vote == "A"


def test_each_pane_shows_its_own_error(qtbot, page: ComparePage, keys, anthropic,
                                       monkeypatch) -> None:
    with openai_faults.server(openai_faults.status(401, "bad key")) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url + "/v1")
        page.pickers[0].set_target("openai", "gpt-test")
        page.pickers[1].set_target("anthropic", "claude-test")
        page.prompt.setPlainText("Hello?")
        with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS):
            page.run()
    failed = page.panes[0].result
    assert failed is not None and not failed.ok and failed.error_kind
    assert page.panes[0].error.isVisible() and failed.error in page.panes[0].error.text()
    assert not page.panes[1].error.isVisible() and page.panes[1].result.ok


def test_a_target_without_a_model_fails_in_its_pane(qtbot, page: ComparePage, keys,
                                                    anthropic) -> None:
    page.pickers[0].set_target("loaded")  # nothing is loaded
    page.pickers[1].set_target("anthropic", "claude-test")
    page.prompt.setPlainText("Hello?")
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS):
        page.run()
    assert page.panes[0].error.isVisible()
    assert "no model is loaded" in page.panes[0].error.text()
    assert page.panes[1].result is not None and page.panes[1].result.ok


def test_privacy_bar_names_the_providers_before_sending(qtbot, page: ComparePage, keys,
                                                        monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.com/v1")
    page.pickers[0].set_target("openai", "gpt-test")
    page.pickers[1].set_target("anthropic", "claude-test")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    page.prompt.setPlainText("Secret plans")
    assert page.run()
    assert page.send_bar.isVisible() and not page.running
    text = page.send_text.text()
    assert "openai/gpt-test → api.example.com" in text and "api.anthropic.com" in text
    page.cancel_send.click()
    assert not page.send_bar.isVisible() and not page.running


def test_the_loaded_model_target_loads_with_the_chats_settings(qtbot, keys, anthropic,
                                                               llama_tiny: Path) -> None:
    chat = LoadSettings(str(llama_tiny), n_ctx=512, n_batch=128, n_ubatch=128, repack=False)
    page = ComparePage(lambda: chat)
    qtbot.addWidget(page)
    page.count.setValue(2)
    page.pickers[0].set_target("loaded")
    page.pickers[1].set_target("anthropic", "claude-test")
    page.prompt.setPlainText("Hi")
    page.max_tokens.setValue(4)
    seen_at_close: list = []  # the page closes its targets (off the GUI thread) once it is done
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS):
        assert page.run()
        loaded = page.targets[0]
        close = loaded.close
        loaded.close = lambda: (seen_at_close.append(loaded.load_info), close())
    assert loaded.load_settings.n_ctx == 512 and loaded.load_settings.n_ubatch == 128
    qtbot.waitUntil(lambda: bool(seen_at_close), timeout=RUN_TIMEOUT_MS)
    info = seen_at_close[0]
    assert info is not None and info.n_ctx == 512  # llama.cpp's own
    assert LoadSettings(str(llama_tiny)).n_ctx != 512  # not the defaults
    assert page.panes[0].result is not None and page.panes[0].result.ok


def test_the_loaded_model_target_still_takes_a_path(qtbot, llama_tiny: Path) -> None:
    page = ComparePage(lambda: str(llama_tiny))
    qtbot.addWidget(page)
    page.pickers[0].set_target("loaded")
    assert page.pickers[0].spec().model == str(llama_tiny)
    assert page.pickers[0].load_settings() is None  # the defaults apply
    page.pickers[1].set_target("local", str(llama_tiny))
    assert page.pickers[1].load_settings() is None


def test_blind_errors_name_no_target_until_the_vote(qtbot, page: ComparePage, keys, anthropic,
                                                    monkeypatch) -> None:
    with openai_faults.server(openai_faults.status(401, "bad key for gpt-secret")) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url + "/v1")
        page.pickers[0].set_target("openai", "gpt-secret")
        page.pickers[1].set_target("anthropic", "claude-test")
        page.blind_box.setChecked(True)
        page.prompt.setPlainText("Hello?")
        with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS):
            page.run()
    failed = next(p for p in page.panes[:2] if p.result is not None and not p.result.ok)
    assert failed.result.error and "gpt-secret" in failed.result.error
    shown = failed.error.text()
    assert failed.error.isVisible() and shown.startswith("this target failed: auth")
    assert "gpt-secret" not in shown and "openai" not in shown.lower()
    assert "127.0.0.1" not in shown and failed.header.text().startswith("Answer ")
    failed.show_status("openai/gpt-secret rate limit reached (429); retrying", hidden=True)
    assert "gpt-secret" not in failed.status.text()
    page.vote_buttons["A"].click()  # the vote reveals the names and the full error
    assert failed.error.isVisible() and failed.result.error in failed.error.text()
    assert "gpt-secret" in failed.error.text()


def test_a_router_answers_in_a_pane_and_says_where_it_went(qtbot, page: ComparePage, keys,
                                                           home: Path, monkeypatch) -> None:
    from workbench.routing.config import routers_dir

    here = openai_faults.server(openai_faults.ok(["local", " says", " hi"]))
    cloud = openai_faults.server(openai_faults.ok(["cloud", " says", " hi"]))
    with here, cloud:
        monkeypatch.setenv("OPENAI_BASE_URL", cloud.url + "/v1")
        (routers_dir() / "private.yaml").write_text(
            f"local: openai:local-model@{here.url}/v1\ncloud: openai:gpt-4o-mini\n"
            "default: cloud\n", encoding="utf-8")
        page.count.setValue(2)
        page.pickers[0].set_target("router", "private")
        page.pickers[1].set_target("router", "private")
        for prompt, says, route in (("Mail jane.doe@example.org the plan.", "local says hi",
                                     "local; pii:email"),
                                    ("What is the capital of France?", "cloud says hi",
                                     "cloud; default")):
            page.prompt.setPlainText(prompt)
            with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS):
                assert page.run()
                if page.send_bar.isVisible():
                    page.send_button.click()
            pane = page.panes[0]
            assert pane.result is not None and pane.result.ok, pane.result.error
            assert pane.result.text == says and pane.result.label == "router:private"
            assert pane.status.text().endswith(f"routed: {route}")
        assert len([r for r in cloud.requests if r.path.endswith("/chat/completions")]) == 2


def test_temperature_and_seed_reach_every_target(qtbot, page: ComparePage, keys, anthropic,
                                                 llama_tiny: Path) -> None:
    assert page.params().temperature is None and page.params().seed is None  # providers' own
    assert page.temperature.text() == "default temperature"
    page.pickers[0].set_target("local", str(llama_tiny))
    page.pickers[1].set_target("anthropic", "claude-test")
    page.prompt.setPlainText("Say hello.")
    page.max_tokens.setValue(6)
    page.temperature.setValue(0.3)
    page.seed.setValue(7)
    assert page.params().temperature == 0.3 and page.params().seed == 7
    texts = []
    for _ in range(2):
        with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS):
            assert page.run()
        local = page.panes[0].result
        assert local is not None and local.ok
        texts.append(local.text)
    assert texts[0] == texts[1]  # one seed, one answer
    sent = [request.body for request in anthropic.requests if request.method == "POST"]
    assert sent and all(body["temperature"] == 0.3 for body in sent)

    page.temperature.setValue(page.temperature.minimum())
    with qtbot.waitSignal(page.runFinished, timeout=RUN_TIMEOUT_MS):
        assert page.run()
    last = [request.body for request in anthropic.requests if request.method == "POST"][-1]
    assert "temperature" not in last  # the default is sent as nothing
