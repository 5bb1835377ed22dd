"""The SQLite database and its schema migrations (one file in the data directory)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from workbench import paths

# Each entry migrates from version i to i + 1; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE bench_runs (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        model_path TEXT NOT NULL,
        model_name TEXT,
        architecture TEXT,
        quant TEXT,
        size_bytes INTEGER,
        n_params INTEGER,
        pp_tokens INTEGER NOT NULL,
        tg_tokens INTEGER NOT NULL,
        repetitions INTEGER NOT NULL,
        pp_tokens_per_s REAL,
        pp_sd REAL,
        tg_tokens_per_s REAL,
        tg_sd REAL,
        settings TEXT NOT NULL,
        machine TEXT NOT NULL
    );
    CREATE INDEX bench_runs_model ON bench_runs (architecture, quant);
    """,
    # compare runs (workbench.compare.store): one prompt to several targets, answers, votes
    """
    CREATE TABLE compare_runs (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        prompt TEXT NOT NULL,
        system TEXT,
        params TEXT NOT NULL,
        blind INTEGER NOT NULL DEFAULT 0,
        display_order TEXT NOT NULL
    );
    CREATE TABLE compare_answers (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES compare_runs (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        target TEXT NOT NULL,
        label TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        destination TEXT,
        text TEXT NOT NULL,
        finish_reason TEXT,
        error TEXT,
        error_kind TEXT,
        ttft_ms REAL,
        total_ms REAL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        gen_tokens_per_s REAL,
        cost_usd REAL,
        energy_j REAL,
        result TEXT NOT NULL,
        UNIQUE (run_id, position)
    );
    CREATE INDEX compare_answers_label ON compare_answers (label);
    CREATE TABLE compare_votes (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL UNIQUE REFERENCES compare_runs (id) ON DELETE CASCADE,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        winner_position INTEGER
    );
    """,
    # chat conversations (workbench.store.conversations)
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        model_path TEXT,
        model_name TEXT,
        system_prompt TEXT,
        settings TEXT NOT NULL DEFAULT '{}',
        activity INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX conversations_activity ON conversations (activity);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        metrics TEXT,
        finish_reason TEXT,
        UNIQUE (conversation_id, position)
    );
    """,
)

_lock = threading.Lock()


def database_path() -> Path:
    return paths.data_dir() / "workbench.sqlite3"


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Open (and migrate) the database; rows come back as sqlite3.Row."""
    connection = sqlite3.connect(path or database_path(), timeout=10)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    with _lock:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        for index in range(version, len(MIGRATIONS)):
            with connection:
                connection.executescript(MIGRATIONS[index])
                connection.execute(f"PRAGMA user_version = {index + 1}")
    return connection
