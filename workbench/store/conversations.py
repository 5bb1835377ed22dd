"""Chat conversations in SQLite: create, list, search, rename, delete, messages.

A conversation keeps the model it was held with, its system prompt and its sampling settings;
its messages are numbered by ``position`` (0, 1, ...). Answers carry their metrics (the
``AnswerMetrics.to_dict()`` document) and finish reason: ``stop``, ``length``, ``cancelled``,
or ``interrupted`` (the model process crashed; the text is what arrived before the crash).
Search is a case-insensitive (ASCII) ``LIKE`` over titles and message text, wildcards escaped.
The exports (Markdown, JSON) are in workbench.present.conversation_export: this returns data.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.errors import BadInput

TITLE_CHARS = 60
SNIPPET_CHARS = 80
INTERRUPTED = "interrupted"
DEFAULT_TITLE = "New chat"
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
# "activity" orders the list: a counter, because two changes can share a timestamp
_TOUCH = (f"updated_at = {_NOW},"
          " activity = (SELECT COALESCE(MAX(activity), 0) + 1 FROM conversations)")


class ConversationNotFound(BadInput):
    """No conversation with that id."""


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    position: int
    role: str
    content: str
    created_at: str
    metrics: dict[str, Any] | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Summary:
    """A conversation as listed: no messages, their count and a snippet."""

    id: int
    title: str
    created_at: str
    updated_at: str
    model_path: str | None
    model_name: str | None
    message_count: int
    snippet: str


@dataclass
class Conversation:
    id: int
    title: str
    created_at: str
    updated_at: str
    model_path: str | None = None
    model_name: str | None = None
    system_prompt: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)


def make_title(text: str, limit: int = TITLE_CHARS) -> str:
    """The first line-worth of ``text``, cut at a word boundary near ``limit`` characters."""
    words = " ".join(text.split())
    if not words:
        return DEFAULT_TITLE
    if len(words) <= limit:
        return words
    cut = words[:limit + 1].rsplit(" ", 1)[0] if " " in words[:limit + 1] else words[:limit]
    return cut.rstrip(" .,;:") + "…"


def snippet(text: str, limit: int = SNIPPET_CHARS, around: str | None = None) -> str:
    """``text`` on one line, at most ``limit`` characters, centred on ``around`` if it occurs."""
    flat = " ".join(text.split())
    start = 0
    if around:
        found = flat.lower().find(around.lower())
        if found > limit // 2:
            start = found - limit // 3
    piece = flat[start:start + limit]
    return ("…" if start else "") + piece + ("…" if start + limit < len(flat) else "")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _not_found(conversation_id: int) -> ConversationNotFound:
    return ConversationNotFound(f"there is no conversation {conversation_id} "
                                "(`workbench chats list` shows them)")


def _require(connection: sqlite3.Connection, conversation_id: int) -> None:
    row = connection.execute("SELECT 1 FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()
    if row is None:
        raise _not_found(conversation_id)


def create(connection: sqlite3.Connection, *, title: str | None = None,
           model_path: str | None = None, model_name: str | None = None,
           system_prompt: str | None = None, settings: dict[str, Any] | None = None) -> int:
    """A new, empty conversation; returns its id."""
    with connection:
        cursor = connection.execute(
            "INSERT INTO conversations (title, model_path, model_name, system_prompt, settings,"
            " activity) VALUES (?, ?, ?, ?, ?,"
            " (SELECT COALESCE(MAX(activity), 0) + 1 FROM conversations))",
            (make_title(title or ""), model_path, model_name, system_prompt or None,
             json.dumps(settings or {})))
    return int(cursor.lastrowid or 0)


def update(connection: sqlite3.Connection, conversation_id: int, *,
           model_path: str | None = None, model_name: str | None = None,
           system_prompt: str | None = None, settings: dict[str, Any] | None = None) -> None:
    """Record the model, system prompt and settings the conversation goes on with."""
    _require(connection, conversation_id)
    with connection:
        connection.execute(
            f"UPDATE conversations SET model_path = COALESCE(?, model_path),"
            f" model_name = COALESCE(?, model_name), system_prompt = ?,"
            f" settings = COALESCE(?, settings), {_TOUCH} WHERE id = ?",
            (model_path, model_name, system_prompt or None,
             json.dumps(settings) if settings is not None else None, conversation_id))


def _summaries(connection: sqlite3.Connection, where: str, args: tuple[Any, ...],
               limit: int | None) -> list[Summary]:
    rows = connection.execute(
        f"""SELECT c.id, c.title, c.created_at, c.updated_at, c.model_path, c.model_name,
               (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count,
               (SELECT m.content FROM messages m WHERE m.conversation_id = c.id
                ORDER BY m.position DESC LIMIT 1) AS last_text
            FROM conversations c {where}
            ORDER BY c.activity DESC, c.id DESC LIMIT ?""",
        (*args, -1 if limit is None else limit)).fetchall()
    return [Summary(row["id"], row["title"], row["created_at"], row["updated_at"],
                    row["model_path"], row["model_name"], row["message_count"],
                    snippet(row["last_text"] or "")) for row in rows]


def list_conversations(connection: sqlite3.Connection, *,
                       limit: int | None = None) -> list[Summary]:
    """Conversations, most recently changed first."""
    return _summaries(connection, "", (), limit)


def search(connection: sqlite3.Connection, query: str, *,
           limit: int | None = None) -> list[Summary]:
    """Conversations whose title or any message contains ``query`` (newest first); the snippet
    shows the first matching message around the match. An empty query lists everything."""
    query = query.strip()
    if not query:
        return list_conversations(connection, limit=limit)
    pattern = f"%{_escape_like(query)}%"
    found = _summaries(
        connection,
        "WHERE c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m"
        " WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\')",
        (pattern, pattern), limit)
    result = []
    for summary in found:
        row = connection.execute(
            "SELECT content FROM messages WHERE conversation_id = ? AND content LIKE ?"
            " ESCAPE '\\' ORDER BY position LIMIT 1", (summary.id, pattern)).fetchone()
        text = snippet(row["content"], around=query) if row is not None else summary.snippet
        result.append(Summary(**{**asdict(summary), "snippet": text}))
    return result


def _message(row: sqlite3.Row) -> Message:
    return Message(row["id"], row["conversation_id"], row["position"], row["role"],
                   row["content"], row["created_at"],
                   json.loads(row["metrics"]) if row["metrics"] else None, row["finish_reason"])


def get(connection: sqlite3.Connection, conversation_id: int) -> Conversation:
    """The conversation with its messages in order; ConversationNotFound if there is none."""
    row = connection.execute("SELECT * FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()
    if row is None:
        raise _not_found(conversation_id)
    rows = connection.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY position",
                              (conversation_id,)).fetchall()
    return Conversation(row["id"], row["title"], row["created_at"], row["updated_at"],
                        row["model_path"], row["model_name"], row["system_prompt"],
                        json.loads(row["settings"] or "{}"), [_message(r) for r in rows])


def rename(connection: sqlite3.Connection, conversation_id: int, title: str) -> str:
    """Give the conversation a new title (spaces collapsed, not empty); returns it."""
    clean = " ".join(title.split())
    if not clean:
        raise BadInput("a conversation title cannot be empty")
    _require(connection, conversation_id)
    with connection:
        connection.execute("UPDATE conversations SET title = ? WHERE id = ?",
                           (clean, conversation_id))
    return clean


def delete(connection: sqlite3.Connection, conversation_id: int) -> None:
    """Delete the conversation and (by cascade) its messages."""
    _require(connection, conversation_id)
    with connection:
        connection.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))


def append_message(connection: sqlite3.Connection, conversation_id: int, role: str,
                   content: str, *, metrics: dict[str, Any] | None = None,
                   finish_reason: str | None = None) -> Message:
    """Add a message after the last one; the conversation moves to the top of the list."""
    _require(connection, conversation_id)
    with connection:
        position = connection.execute(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id = ?",
            (conversation_id,)).fetchone()[0]
        cursor = connection.execute(
            "INSERT INTO messages (conversation_id, position, role, content, metrics,"
            " finish_reason) VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, position, role, content,
             json.dumps(metrics) if metrics is not None else None, finish_reason))
        connection.execute(f"UPDATE conversations SET {_TOUCH} WHERE id = ?",
                           (conversation_id,))
        row = connection.execute("SELECT * FROM messages WHERE id = ?",
                                 (cursor.lastrowid,)).fetchone()
    return _message(row)


def truncate_after(connection: sqlite3.Connection, conversation_id: int, position: int) -> int:
    """Delete the messages after ``position`` (-1: all of them); returns how many went."""
    _require(connection, conversation_id)
    with connection:
        cursor = connection.execute(
            "DELETE FROM messages WHERE conversation_id = ? AND position > ?",
            (conversation_id, position))
        connection.execute(f"UPDATE conversations SET {_TOUCH} WHERE id = ?",
                           (conversation_id,))
    return cursor.rowcount
