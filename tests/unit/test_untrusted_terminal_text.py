"""Untrusted text in the CLI (model answers, chat titles, GGUF metadata and errors, Hub names) is
never rich markup and never terminal control; ``--json`` keeps it exact."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest

from tests.helpers.gguf_bytes import STR, U32, build, kv, tensor
from workbench import cli
from workbench.commands import run as run_command
from workbench.commands import search as search_command
from workbench.compare import store as compare_store
from workbench.providers.base import AnswerResult, Params
from workbench.store import conversations, db
from workbench.terminal_text import json_safe, terminal_safe

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # writes the clipboard
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # a spoofed link
TITLE = "\x1b]0;pwned\x07"  # changes the window title
HIDDEN = "\x1b[8mhidden\x1b[0m\rover"  # invisible text, then a carriage-return overwrite
C1_CSI = "\x9b2J"  # the 8-bit CSI: clears the screen on some terminals
BIDI = "abc\u202edcba"
HOSTILE = f"[/INST] x[i] = y[b] [bold red]loud[/] {OSC52}{OSC8}{TITLE}{HIDDEN}{C1_CSI}{BIDI}"


def assert_inert(output: str) -> None:
    """No escape or control character but newline/tab reaches the terminal."""
    bad = [c for c in output if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
           or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
    assert not bad, f"control characters reached the terminal: {bad!r}"


@pytest.fixture
def home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fresh WORKBENCH_HOME of tests/conftest.py, and a wide terminal."""
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that rich does not wrap the text
    return home


def test_terminal_safe_makes_every_control_visible_and_keeps_lines() -> None:
    text = terminal_safe(f"line 1\r\n\tline 2 {OSC52} {C1_CSI} {BIDI}")
    assert_inert(text)
    assert text.startswith("line 1\n\tline 2 \\x1b]52;c;")
    assert "\\x9b2J" in text and "\\u202e" in text


def test_json_safe_is_the_same_data() -> None:
    document = {"text": HOSTILE}
    dumped = json_safe(json.dumps(document, ensure_ascii=False))
    assert_inert(dumped)
    assert json.loads(dumped) == document


def test_chats_list_and_show_print_hostile_titles_as_they_are(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with closing(db.connect()) as connection:
        chat = conversations.create(connection, title=HOSTILE, model_name="m[/b]")
        conversations.append_message(connection, chat, "assistant", f"answer {OSC52}")
    assert cli.main(["chats", "list"]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert "[/INST] x[i] = y[b] [bold red]loud[/]" in out and "m[/b]" in out
    assert cli.main(["chats", "show", str(chat)]) == 0
    assert_inert(capsys.readouterr().out)
    assert cli.main(["chats", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert json.loads(out)[0]["title"] == conversations.make_title(HOSTILE)  # exact


@pytest.mark.parametrize("blind", [True, False])
def test_compare_panels_print_hostile_answers(home: Path, blind: bool,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    answers = [AnswerResult(target=f"local:[b]{i}", label=f"local [red]{i}[/red]",
                            provider="local", model="m", destination="this machine",
                            text=HOSTILE, finish_reason="stop",
                            error=None if i else f"provider said [/x] {TITLE}")
               for i in range(2)]
    with closing(db.connect()) as connection:
        run_id = compare_store.save_run(connection, prompt="p", system=None,
                                        params=Params(max_tokens=4), results=answers,
                                        blind=blind)
    assert cli.main(["compare", "--show", str(run_id)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "MarkupError" not in captured.err
    assert_inert(captured.out)
    assert captured.out.count("[/INST] x[i] = y[b] [bold red]loud[/]") == 2
    if not blind:
        assert "local [red]1[/red]" in captured.out
        assert "provider said [/x]" in captured.out
    assert cli.main(["compare", "--show", str(run_id), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["text"] for r in rows] == [HOSTILE, HOSTILE]  # --json is exact


def test_ls_prints_hostile_file_names_and_errors(home: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / f"[red]x[i]{OSC52}.gguf").write_bytes(b"GGUF" + b"\xff" * 64)
    assert cli.main(["ls", "--source", "folder", "--add-folder", str(folder)]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert "[red]x[i]" in out


def test_inspect_metadata_shows_hostile_values_inert(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hostile.gguf"
    path.write_bytes(build([kv("general.architecture", STR, "llama"),
                            kv("general.name", STR, f"[b]name{OSC52}"),
                            kv("llama.block_count", U32, 1),
                            kv("general.description", STR, HOSTILE)],
                           [tensor("token_embd.weight", (8, 4))]))
    assert cli.main(["inspect", str(path), "--metadata"]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert "[b]name" in out
    assert cli.main(["inspect", str(path), "--metadata", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["general.description"] == HOSTILE


def test_run_streams_model_output_inert(capsys: pytest.CaptureFixture[str]) -> None:
    for chunk in ("a", "\x1b", "]52;c;eA==", "\x07", " x[i]\n", "\x9b"):  # split sequences
        run_command._write_stdout(chunk)
    out = capsys.readouterr().out
    assert_inert(out)
    assert out.startswith("a\\x1b]52;c;eA==\\x07 x[i]\n")


def test_search_results_print_hostile_names(home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    search_command.print_human({
        "query": "[b]q", "endpoint": "http://127.0.0.1:1", "sort": "downloads",
        "results": [{"repo_id": f"evil/[/INST]{OSC8}", "downloads": 1, "likes": 2,
                     "architecture": "llama[/]", "license": f"mit{TITLE}", "gated": None}]})
    out = capsys.readouterr().out
    assert_inert(out)
    assert "evil/[/INST]" in out and "llama[/]" in out


def test_error_lines_are_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / f"no{OSC52}.gguf"
    assert cli.main(["inspect", str(missing)]) == 2
    err = capsys.readouterr().err
    assert_inert(err)
    assert err.startswith("workbench: error:") and err.count("\n") == 1
