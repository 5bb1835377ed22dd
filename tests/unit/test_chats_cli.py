"""`workbench chats` over a real database in a temporary data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.store import conversations as store
from workbench.store.db import connect

METRICS = {"ttft_ms": 42.0, "prompt_tokens": 12, "prompt_eval_tokens": 12, "prompt_ms": 8.0,
           "prompt_tokens_per_s": 1500.0, "completion_tokens": 20, "gen_eval_tokens": 20,
           "gen_ms": 400.0, "gen_tokens_per_s": 50.0, "total_ms": 450.0,
           "stream_tokens_per_s": None, "load_ms": None}


@pytest.fixture
def chats(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    connection = connect()
    ids = {}
    for title, answer in (("What is 50% of 8?", "Four."), ("Name a snake_case word", "my_var")):
        conversation = store.create(connection, title=title, model_name="tiny-llama",
                                    system_prompt="Be brief.", settings={"seed": 1})
        store.append_message(connection, conversation, "user", title)
        store.append_message(connection, conversation, "assistant", answer, metrics=METRICS,
                             finish_reason="stop")
        ids[title] = conversation
    connection.close()
    return ids


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["chats", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_and_human(chats, capsys) -> None:
    code, out, _err = run(capsys, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [chats["Name a snake_case word"],
                                       chats["What is 50% of 8?"]]
    assert rows[0]["message_count"] == 2 and rows[0]["model_name"] == "tiny-llama"
    code, out, _err = run(capsys)  # no action: the list
    assert code == 0 and "What is 50% of 8?" in out and "tiny-llama" in out


def test_list_search_escapes_wildcards(chats, capsys) -> None:
    code, out, _err = run(capsys, "list", "--search", "50%", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [chats["What is 50% of 8?"]]
    code, out, _err = run(capsys, "list", "-s", "e_c", "--json")
    assert [r["id"] for r in json.loads(out)] == [chats["Name a snake_case word"]]
    code, out, _err = run(capsys, "list", "-s", "nothing like this")
    assert code == 0 and "no conversations match" in out
    code, _out, err = run(capsys, "list", "--limit", "0")
    assert code == 2 and "--limit" in err


def test_show_and_export(chats, capsys, tmp_path: Path) -> None:
    conversation = chats["What is 50% of 8?"]
    code, out, _err = run(capsys, "show", str(conversation), "--json")
    document = json.loads(out)
    assert code == 0 and document["messages"][1]["metrics"] == METRICS
    assert document["system_prompt"] == "Be brief." and document["settings"] == {"seed": 1}
    code, out, _err = run(capsys, "show", str(conversation))
    assert code == 0 and out.startswith("# What is 50% of 8?") and "Four." in out

    code, out, _err = run(capsys, "export", str(conversation))
    assert code == 0 and "50.0 tok/s · TTFT 42 ms" in out
    target = tmp_path / "out.json"
    code, out, err = run(capsys, "export", str(conversation), "--format", "json", "-o",
                         str(target))
    assert code == 0 and out == "" and str(target) in err
    assert json.loads(target.read_text(encoding="utf-8"))["id"] == conversation
    code, _out, err = run(capsys, "export", str(conversation), "-o",
                          str(tmp_path / "no-dir" / "x.md"))
    assert code == 2 and "cannot write" in err


def test_rm_and_unknown_ids(chats, capsys) -> None:
    conversation = chats["Name a snake_case word"]
    code, out, _err = run(capsys, "rm", str(conversation), "--json")
    assert code == 0 and json.loads(out) == {"deleted": conversation,
                                             "title": "Name a snake_case word"}
    code, out, _err = run(capsys, "list", "--json")
    assert [r["id"] for r in json.loads(out)] == [chats["What is 50% of 8?"]]
    for action in ("show", "rm", "export"):
        code, _out, err = run(capsys, action, str(conversation))
        assert code == 2 and f"no conversation {conversation}" in err
