"""`workbench compare` end to end against loopback fakes of the cloud APIs: the JSON document,
storage, blind mode and votes, exports, offline mode, the privacy notice - and no key anywhere
in the data directory, exports or output afterwards."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.fakes import anthropic_sse, openai_faults
from workbench.cli import main
from workbench.net import offline
from workbench.store import secrets

OPENAI_KEY = "sk-cli-openai-key-a1b2c3d4e5"
ANTHROPIC_KEY = "sk-ant-cli-key-f6e7d8c9b0"
REQUIRED = {"target", "text", "ttft_ms", "prompt_tokens", "completion_tokens",
            "gen_tokens_per_s", "total_ms", "cost_usd", "energy_j", "error"}


@pytest.fixture
def env(home: Path, memory_keyring, tmp_path: Path, monkeypatch):
    for names in secrets.ENV_VARS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    with openai_faults.server() as openai_srv, anthropic_sse.server() as anthropic_srv:
        monkeypatch.setenv("OPENAI_BASE_URL", openai_srv.url + "/v1")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_srv.url)
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        yield {"home": home, "openai": openai_srv, "anthropic": anthropic_srv,
               "keyring": memory_keyring, "tmp": tmp_path}
    offline.disable_guard()


def compare(capsys, *args: str) -> tuple[int, object, str]:
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args else out), err


def test_json_document_one_object_per_target(env, capsys) -> None:
    secrets.set_api_key("anthropic", ANTHROPIC_KEY)  # from the (throwaway) keyring
    code, doc, err = compare(capsys, "Say hi", "-t", "openai:gpt-4o-mini", "-t",
                             "anthropic:claude-haiku-4-5", "-t", "gemini:gemini-2.5-flash",
                             "--system", "Be brief.", "--max-tokens", "32", "--json")
    assert code == 0, err
    assert [d["target"] for d in doc] == ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5",
                                          "gemini:gemini-2.5-flash"]
    for row in doc:
        assert row.keys() >= REQUIRED
    openai_row, anthropic_row, gemini_row = doc
    assert openai_row["error"] is None and openai_row["text"] == "".join(openai_faults.PIECES)
    assert openai_row["prompt_tokens"] == 11 and openai_row["cost_usd"] > 0
    assert openai_row["energy_j"] is None
    assert anthropic_row["error"] is None and anthropic_row["completion_tokens"] == 4
    # no Gemini key: that pane fails with instructions, the others are untouched
    assert gemini_row["error_kind"] == "no_key" and "GEMINI_API_KEY" in gemini_row["error"]
    assert gemini_row["text"] == ""
    # the user is told where the prompt goes before it is sent
    assert "sending the prompt to" in err and "openai/gpt-4o-mini ->" in err
    run_id = openai_row["run_id"]
    code, shown, _ = compare(capsys, "--show", str(run_id), "--json")
    assert code == 0 and [d["text"] for d in shown] == [d["text"] for d in doc]
    sent = env["openai"].requests[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


def test_blind_mode_hides_names_until_the_vote(env, capsys) -> None:
    secrets.set_api_key("anthropic", ANTHROPIC_KEY)
    code, doc, err = compare(capsys, "Which is better?", "-t", "openai:gpt-4o-mini", "-t",
                             "anthropic:claude-haiku-4-5", "--blind", "--json")
    assert code == 0
    assert all(d["target"] is None and d["label"] is None and d["ttft_ms"] is None
               for d in doc)
    assert sorted(d["answer"] for d in doc) == ["A", "B"]
    assert "openai" not in err and "anthropic" not in err  # the progress lines hide names too
    run_id = doc[0]["run_id"]
    openai_letter = next(d["answer"] for d in doc
                         if d["text"] == "".join(openai_faults.PIECES))
    code, revealed, _ = compare(capsys, "--vote", str(run_id), openai_letter, "--json")
    assert code == 0 and all(d["revealed"] for d in revealed)
    assert {d["target"] for d in revealed} == {"openai:gpt-4o-mini",
                                               "anthropic:claude-haiku-4-5"}
    code, scores, _ = compare(capsys, "--scores", "--json")
    assert scores[0]["name"] == "openai/gpt-4o-mini" and scores[0]["wins"] == 1
    assert scores[1]["losses"] == 1


def test_exports_and_the_human_table(env, capsys) -> None:
    md = env["tmp"] / "out.md"
    code, out, _ = compare(capsys, "Hello", "-t", "openai:gpt-4o-mini", "-t",
                           "openai:gpt-4.1-nano", "--export", str(md))
    assert code == 0
    assert "TTFT (ms)" in out and "cost ($)" in out and "openai/gpt-4o-mini" in out
    text = md.read_text()
    assert "## openai/gpt-4o-mini" in text and "| TTFT (ms) |" in text
    exported = env["tmp"] / "out.json"
    code, _, _ = compare(capsys, "Hello", "-t", "openai:gpt-4o-mini", "--no-save", "--export",
                         str(exported), "--json")
    rows = json.loads(exported.read_text())
    assert code == 0 and rows[0]["run_id"] is None and rows[0]["text"]


def test_offline_mode_blocks_cloud_targets_but_not_loopback(env, capsys, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")  # the real api.openai.com: must never be contacted
    secrets.set_api_key("anthropic", ANTHROPIC_KEY)  # the loopback fake
    code, doc, err = compare(capsys, "Hi", "-t", "openai:gpt-4o-mini", "-t",
                             "anthropic:claude-haiku-4-5", "--offline", "--json")
    assert code == 0
    assert "offline mode" in err
    assert doc[0]["error_kind"] == "offline" and "api.openai.com" in doc[0]["error"]
    assert doc[1]["error"] is None and doc[1]["text"]
    assert offline.guard_active()


def test_faults_stay_in_their_pane(env, capsys) -> None:
    env["openai"].script(openai_faults.midstream_error(("Half", " way"), "boom"))
    env["anthropic"].script(anthropic_sse.status(529, "overloaded_error", "Overloaded"),
                            anthropic_sse.status(529, "overloaded_error", "Overloaded"),
                            anthropic_sse.status(529, "overloaded_error", "Overloaded"))
    secrets.set_api_key("anthropic", ANTHROPIC_KEY)
    code, doc, _ = compare(capsys, "Hi", "-t", "openai:gpt-4o-mini", "-t",
                           "anthropic:claude-haiku-4-5", "--json")
    assert code == 1  # every pane failed
    assert doc[0]["text"] == "Half way" and doc[0]["error_kind"] == "stream"
    assert doc[1]["error_kind"] == "overloaded" and doc[1]["retries"] == 2


def test_no_key_anywhere_after_a_run(env, capsys, monkeypatch) -> None:
    """Settings, SQLite, logs, exports and output are scanned for the keys after a run in which
    the server even echoes the key back in an error."""
    secrets.set_api_key("anthropic", ANTHROPIC_KEY)
    export = env["tmp"] / "export.json"
    export_md = env["tmp"] / "export.md"
    echo = openai_faults.status(401, f"Incorrect API key provided: {OPENAI_KEY}")
    with openai_faults.server(echo) as echo_srv:
        assert main(["profiles", "add", "echo", echo_srv.url + "/v1"]) == 0
        secrets.set_api_key("echo", OPENAI_KEY)  # the same key, from the keyring this time
        assert main(["profiles", "set-price", "openai/gpt-4o-mini", "--input", "1",
                     "--output", "2"]) == 0
        code = main(["compare", "Hi", "-t", "openai:gpt-4o-mini", "-t", "anthropic:claude-x",
                     "-t", "profile:echo/m", "--export", str(export), "--json"])
        out, err = capsys.readouterr()
        assert echo_srv.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert code == 0
    run_id = json.loads(out)[0]["run_id"]
    assert "[redacted]" in json.loads(out)[2]["error"]
    main(["compare", "--show", str(run_id), "--export", str(export_md)])
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no vote prompt
    main(["compare", "Hi", "-t", "openai:gpt-4o-mini", "--blind"])  # human output
    out2, err2 = capsys.readouterr()
    files = [p for p in env["home"].rglob("*") if p.is_file()] + [export, export_md]
    assert any(p.name == "workbench.sqlite3" for p in files)
    assert any(p.name == "settings.json" for p in files)
    for blob in [out, err, out2, err2, *(p.read_bytes().decode("utf-8", "replace")
                                         for p in files)]:
        assert OPENAI_KEY not in blob and ANTHROPIC_KEY not in blob
    assert env["keyring"].store[("workbench", "anthropic")] == ANTHROPIC_KEY
