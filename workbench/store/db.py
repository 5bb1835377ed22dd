"""The SQLite database and its schema migrations (one file in the data directory).

Each migration runs in one transaction with its ``PRAGMA user_version``: a process killed in the
middle of one leaves the database as it was before it, and the next start migrates again.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from workbench import paths
from workbench.errors import RuntimeFailure

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
    # eval runs (workbench.evals.store): a suite x targets x repeats, every answer as it arrives
    """
    CREATE TABLE eval_runs (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        finished_at TEXT,
        description TEXT NOT NULL,
        suite_path TEXT,
        suite_sha256 TEXT NOT NULL,
        suite_text TEXT NOT NULL,
        options TEXT NOT NULL,
        targets TEXT NOT NULL,
        total INTEGER NOT NULL,
        status TEXT NOT NULL,
        judge TEXT,
        judge_usage TEXT NOT NULL DEFAULT '{}',
        skipped TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE eval_results (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
        case_id TEXT NOT NULL,
        target TEXT NOT NULL,
        repeat INTEGER NOT NULL,
        passed INTEGER,
        score REAL,
        error TEXT,
        result TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (run_id, case_id, target, repeat)
    );
    """,
    # route decisions (workbench.routing.log): where each request went and why, its tokens and
    # cost, and what it would have cost on the cloud target; never the prompt text
    """
    CREATE TABLE route_log (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        router TEXT NOT NULL,
        target TEXT NOT NULL,
        local INTEGER NOT NULL,
        reason TEXT NOT NULL,
        findings TEXT NOT NULL DEFAULT '',
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost_usd REAL,
        cloud_target TEXT,
        cloud_cost_usd REAL
    );
    CREATE INDEX route_log_time ON route_log (created_at);
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
        try:
            migrate(connection)
        except sqlite3.Error as err:
            connection.close()
            raise RuntimeFailure(f"the database {path or database_path()} could not be "
                                 f"upgraded ({err}); it was left as it was") from None
    return connection


def migrate(connection: sqlite3.Connection) -> None:
    """Apply the missing migrations, each in one ``BEGIN IMMEDIATE`` transaction that also
    sets ``user_version`` (re-read inside it: another process may have migrated first)."""
    previous = connection.isolation_level
    connection.isolation_level = None  # the transactions below are explicit
    try:
        while True:
            connection.execute("BEGIN IMMEDIATE")
            try:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version >= len(MIGRATIONS):
                    connection.execute("ROLLBACK")
                    return
                for statement in statements(MIGRATIONS[version]):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {version + 1}")
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
    finally:
        connection.isolation_level = previous


def statements(script: str) -> list[str]:
    """The complete SQL statements of ``script`` (``executescript`` would commit each)."""
    out: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    if pending.strip():
        raise sqlite3.ProgrammingError(f"an incomplete statement in a migration: {pending!r}")
    return out
