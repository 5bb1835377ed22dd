"""Chat conversations in a real SQLite file: round trip, order, cascade, search, export."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.engine.metrics import AnswerMetrics
from workbench.errors import BadInput
from workbench.present.conversation_export import export_json, export_markdown
from workbench.store import conversations as store
from workbench.store.db import connect

METRICS = AnswerMetrics(ttft_ms=42.0, prompt_tokens=12, prompt_eval_tokens=12, prompt_ms=8.0,
                        prompt_tokens_per_s=1500.0, completion_tokens=20, gen_eval_tokens=20,
                        gen_ms=400.0, gen_tokens_per_s=50.0, total_ms=450.0).to_dict()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "test.sqlite3")
    yield connection
    connection.close()


def _chat(db: sqlite3.Connection, question: str, answer: str, **kwargs) -> int:
    conversation = store.create(db, title=question, **kwargs)
    store.append_message(db, conversation, "user", question)
    store.append_message(db, conversation, "assistant", answer, metrics=METRICS,
                         finish_reason="stop")
    return conversation


def test_round_trip_keeps_everything(db: sqlite3.Connection) -> None:
    conversation = _chat(db, "What is GGUF?", "A file format.", model_path="/m/tiny.gguf",
                         model_name="tiny", system_prompt="Be brief.",
                         settings={"temperature": 0.2, "seed": 7})
    loaded = store.get(db, conversation)
    assert (loaded.title, loaded.model_path, loaded.model_name) == (
        "What is GGUF?", "/m/tiny.gguf", "tiny")
    assert loaded.system_prompt == "Be brief."
    assert loaded.settings == {"temperature": 0.2, "seed": 7}
    assert [(m.position, m.role, m.content) for m in loaded.messages] == [
        (0, "user", "What is GGUF?"), (1, "assistant", "A file format.")]
    answer = loaded.messages[1]
    assert answer.finish_reason == "stop" and answer.metrics == METRICS
    assert AnswerMetrics.from_dict(answer.metrics).gen_tokens_per_s == 50.0
    assert loaded.messages[0].metrics is None and loaded.messages[0].finish_reason is None

    store.update(db, conversation, system_prompt="Be verbose.", settings={"seed": 8})
    again = store.get(db, conversation)
    assert again.system_prompt == "Be verbose." and again.settings == {"seed": 8}
    assert again.model_name == "tiny"  # not given: kept


def test_unicode_survives(db: sqlite3.Connection) -> None:
    text = "Ünïcödé ✓ — 日本語のテキスト 🚀 «quotes» \u200b"
    conversation = _chat(db, text, "ответ 😀")
    loaded = store.get(db, conversation)
    assert loaded.messages[0].content == text and loaded.messages[1].content == "ответ 😀"
    assert "日本語" in export_markdown(loaded)
    assert json.loads(export_json(loaded))["messages"][0]["content"] == text
    assert [s.id for s in store.search(db, "日本語")] == [conversation]


def test_titles_are_trimmed_at_a_word_boundary() -> None:
    long = "Please explain in detail how the key value cache grows with the context length"
    title = store.make_title(long)
    assert title.endswith("…") and len(title) <= store.TITLE_CHARS + 1
    assert long.startswith(title[:-1]) and long[len(title) - 1] == " "
    assert store.make_title("  two\n lines  ") == "two lines"
    assert store.make_title("") == store.DEFAULT_TITLE
    assert store.make_title("x" * 100) == "x" * 60 + "…"  # no space: hard cut


def test_list_is_newest_first_with_count_and_snippet(db: sqlite3.Connection) -> None:
    first = _chat(db, "first question", "first answer")
    second = _chat(db, "second question", "second answer")
    assert [s.id for s in store.list_conversations(db)] == [second, first]
    store.append_message(db, first, "user", "a later message in the first one")
    listed = store.list_conversations(db)
    assert [s.id for s in listed] == [first, second]  # the changed one moves up
    assert listed[0].message_count == 3 and listed[1].message_count == 2
    assert listed[0].snippet == "a later message in the first one"
    assert [s.id for s in store.list_conversations(db, limit=1)] == [first]


def test_rename_and_its_validation(db: sqlite3.Connection) -> None:
    conversation = _chat(db, "old", "answer")
    assert store.rename(db, conversation, "  New   name ") == "New name"
    assert store.get(db, conversation).title == "New name"
    with pytest.raises(BadInput):
        store.rename(db, conversation, "   ")
    with pytest.raises(store.ConversationNotFound):
        store.rename(db, 9999, "x")


def test_delete_cascades_to_messages(db: sqlite3.Connection) -> None:
    kept = _chat(db, "keep me", "ok")
    gone = _chat(db, "delete me", "ok")
    store.delete(db, gone)
    assert db.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?",
                      (gone,)).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2
    assert [s.id for s in store.list_conversations(db)] == [kept]
    with pytest.raises(store.ConversationNotFound):
        store.get(db, gone)
    with pytest.raises(store.ConversationNotFound):
        store.append_message(db, gone, "user", "too late")


def test_truncate_after_drops_the_tail(db: sqlite3.Connection) -> None:
    conversation = _chat(db, "q1", "a1")
    store.append_message(db, conversation, "user", "q2")
    store.append_message(db, conversation, "assistant", "a2")
    assert store.truncate_after(db, conversation, 1) == 2
    assert [m.content for m in store.get(db, conversation).messages] == ["q1", "a1"]
    added = store.append_message(db, conversation, "user", "q2 edited")
    assert added.position == 2  # positions continue without a gap
    assert store.truncate_after(db, conversation, -1) == 3
    assert store.get(db, conversation).messages == []


def test_search_covers_titles_and_text_and_escapes_wildcards(db: sqlite3.Connection) -> None:
    percent = _chat(db, "discount", "It is 100% off.")
    underscore = _chat(db, "names", "Call snake_case_names here.")
    plain = _chat(db, "Plain title", "nothing special: 1000 offers, snakeXcase")
    assert [s.id for s in store.search(db, "%")] == [percent]
    assert [s.id for s in store.search(db, "100%")] == [percent]
    assert [s.id for s in store.search(db, "e_c")] == [underscore]  # "_" is not "any char"
    assert [s.id for s in store.search(db, "plain TITLE")] == [plain]  # titles, any case
    assert store.search(db, "\\") == []
    assert {s.id for s in store.search(db, "  ")} == {percent, underscore, plain}
    hit = store.search(db, "snake_case")[0]
    assert "snake_case" in hit.snippet


def test_search_snippet_centres_on_the_match(db: sqlite3.Connection) -> None:
    text = "filler " * 40 + "needle in the middle " + "filler " * 40
    conversation = _chat(db, "hay", text)
    hit = store.search(db, "needle")[0]
    assert hit.id == conversation
    assert "needle" in hit.snippet and hit.snippet.startswith("…")
    assert len(hit.snippet) <= store.SNIPPET_CHARS + 2


def test_export_markdown_is_readable(db: sqlite3.Connection) -> None:
    conversation = _chat(db, "What is 2+2?", "**Four.**", model_name="tiny-llama",
                         system_prompt="Answer with one word.")
    store.append_message(db, conversation, "user", "And 3+3?")
    store.append_message(db, conversation, "assistant", "Si", finish_reason="interrupted")
    markdown = export_markdown(store.get(db, conversation))
    lines = markdown.splitlines()
    assert lines[0] == "# What is 2+2?"
    assert "- Model: tiny-llama" in lines
    assert any(line.startswith("- Started: ") and line.endswith(" UTC") for line in lines)
    assert markdown.index("## System prompt") < markdown.index("Answer with one word.")
    assert markdown.index("What is 2+2?\n") < markdown.index("**Four.**") \
        < markdown.index("And 3+3?") < markdown.index("Si")
    assert "*50.0 tok/s · TTFT 42 ms · 20 tokens · total 450 ms*" in lines
    assert "*interrupted: the model process crashed*" in lines


def test_export_json_carries_metrics_and_settings(db: sqlite3.Connection) -> None:
    conversation = _chat(db, "hi", "hello", settings={"temperature": 0.5})
    document = json.loads(export_json(store.get(db, conversation)))
    assert document["id"] == conversation and document["title"] == "hi"
    assert document["settings"] == {"temperature": 0.5}
    assert document["messages"][1]["metrics"] == METRICS
    assert document["messages"][1]["finish_reason"] == "stop"


def test_a_long_conversation_uses_the_indexes(db: sqlite3.Connection) -> None:
    conversation = store.create(db, title="long")
    with db:  # one transaction: the test is about the reads, not 10k fsyncs
        db.executemany(
            "INSERT INTO messages (conversation_id, position, role, content) VALUES (?, ?, ?, ?)",
            [(conversation, i, "user" if i % 2 == 0 else "assistant", f"message {i}")
             for i in range(10_000)])
    added = store.append_message(db, conversation, "user", "the last one")
    assert added.position == 10_000
    loaded = store.get(db, conversation)
    assert len(loaded.messages) == 10_001
    assert [m.position for m in loaded.messages] == list(range(10_001))
    summary = store.list_conversations(db)[0]
    assert summary.message_count == 10_001 and summary.snippet == "the last one"

    def plan(sql: str, *args: object) -> str:
        return " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", args))

    # reading one conversation's messages is an index search, never a scan of the table
    messages_plan = plan("SELECT * FROM messages WHERE conversation_id = ? ORDER BY position",
                         conversation)
    assert "USING INDEX" in messages_plan and "TEMP B-TREE" not in messages_plan
    last_plan = plan("SELECT COALESCE(MAX(position), -1) + 1 FROM messages "
                     "WHERE conversation_id = ?", conversation)
    assert "SCAN messages" not in last_plan
