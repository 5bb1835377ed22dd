"""Keys and tokens never reach a log file, a traceback, an error line or the model process:
redacted by known value (API keys, the HF token) and by pattern (sk-, sk-ant-, sk-or-, AIza,
hf_, gsk_, Bearer), in every handler the app installs."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from workbench import cli
from workbench.engine.client import LocalEngine
from workbench.hub.auth import resolve_token
from workbench.store.secrets import Secret, install_log_redaction, redact
from workbench.ui.app import setup_logging

KNOWN = "plain-value-0123456789"  # no pattern matches it: only knowing it redacts it
HF = "hf_" + "A1b2C3d4" * 5
PATTERNS = ["sk-" + "a" * 40, "sk-proj-" + "Zx9_" * 10, "sk-ant-api03-" + "q" * 40,
            "sk-or-v1-" + "0f" * 32, "AIza" + "S" * 35, HF, "gsk_" + "k" * 40,
            "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"]


@pytest.fixture
def gui_log(home: Path):
    """The GUI's log file, as the app sets it up (removed again after the test)."""
    logger = logging.getLogger("workbench")
    before = list(logger.handlers)
    path = Path(setup_logging())
    yield path
    for handler in logger.handlers[:]:
        if handler not in before:
            logger.removeHandler(handler)
            handler.close()


def _fail_with(secret: str) -> None:
    raise RuntimeError(f"the server rejected {secret}")


def test_the_gui_log_file_never_holds_a_key_or_token(gui_log: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    Secret(KNOWN)
    monkeypatch.setenv("HF_TOKEN", "hf-token-without-pattern-42")
    resolve_token()  # the HF token is registered like a key
    log = logging.getLogger("workbench.test")
    log.error("request failed for %s and %s", KNOWN, "hf-token-without-pattern-42")
    for secret in PATTERNS:
        log.warning("provider said: %s", secret)
        try:
            _fail_with(secret)
        except RuntimeError:
            log.exception("unexpected error")  # a traceback with the key in it
    text = gui_log.read_text(encoding="utf-8")
    assert "Traceback" in text and "the server rejected" in text
    for secret in [KNOWN, "hf-token-without-pattern-42", *PATTERNS]:
        assert secret.removeprefix("Bearer ") not in text, secret


def test_every_handler_gets_the_filter_and_tracebacks_are_redacted() -> None:
    Secret(KNOWN)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_log_redaction()
        try:
            _fail_with(KNOWN)
        except RuntimeError:
            logging.getLogger("elsewhere").error("boom", exc_info=True)
    finally:
        root.removeHandler(handler)
    assert "the server rejected [redacted]" in stream.getvalue()
    assert KNOWN not in stream.getvalue()


@pytest.mark.parametrize("secret", PATTERNS)
def test_key_shapes_are_redacted_without_being_known(secret: str) -> None:
    assert secret.removeprefix("Bearer ") not in redact(f"Authorization: {secret}, then more")


@pytest.mark.parametrize("text", ["a risk-assessment-framework-for-large-teams",
                                  "task-management-system-overview", "hf_hub_download(repo)",
                                  "the word Bearer alone"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_errors_and_debug_tracebacks_on_stderr_are_redacted(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KNOWN)
    assert cli.main(["--debug", "inspect", f"/nonexistent/{KNOWN}-{PATTERNS[0]}.gguf"]) == 2
    err = capsys.readouterr().err
    assert "workbench: error:" in err and "[redacted]" in err
    assert KNOWN not in err and PATTERNS[0] not in err


def test_the_model_process_gets_no_keys_or_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"OPENAI_API_KEY": KNOWN, "ANTHROPIC_API_KEY": PATTERNS[2], "HF_TOKEN": HF,
               "HUGGING_FACE_HUB_TOKEN": HF, "SOMEVENDOR_API_KEY": "v" * 20}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WORKBENCH_HARMLESS", "kept")
    with LocalEngine() as engine:
        engine.start()
        environ = Path(f"/proc/{engine.pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    assert "WORKBENCH_HARMLESS" in names
    assert not names & set(secrets), names & set(secrets)
    assert not any(value.encode() in item for item in environ for value in secrets.values())
