"""A process killed in the middle of a database migration leaves the database as it was: the next
start migrates again and the user's data is there."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from workbench.store import db

REPO_ROOT = Path(__file__).resolve().parents[2]

# Migrates a database and is SIGKILLed by SQLite's authorizer while the statement that creates
# ``table`` is prepared: after the statements before it, before ``PRAGMA user_version``.
KILLED_MIGRATION = """
    import os, signal, sqlite3, sys
    from pathlib import Path
    from workbench.store import db
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        def authorizer(action, name, *rest):
            if action == sqlite3.SQLITE_CREATE_TABLE and name == sys.argv[2]:
                os.kill(os.getpid(), signal.SIGKILL)
            return sqlite3.SQLITE_OK
        connection.set_authorizer(authorizer)
        return connection

    sqlite3.connect = connect
    db.connect(Path(sys.argv[1]))
    """


def _killed_migration(path: Path, table: str) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_MIGRATION), str(path),
                             table], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr


@pytest.mark.parametrize("table", ["compare_answers", "messages"])
def test_a_kill_between_create_statements_leaves_a_database_that_opens(tmp_path: Path,
                                                                        table: str) -> None:
    path = tmp_path / "workbench.sqlite3"
    with closing(sqlite3.connect(path)) as first:  # a user's data from the first version
        first.executescript(db.MIGRATIONS[0] + "PRAGMA user_version = 1;")
        first.execute("INSERT INTO bench_runs (model_path, pp_tokens, tg_tokens, repetitions, "
                      "settings, machine) VALUES ('m.gguf', 1, 1, 1, '{}', 'x')")
        first.commit()
    _killed_migration(path, table)
    with closing(db.connect(path)) as connection:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        assert version == len(db.MIGRATIONS)
        assert connection.execute("SELECT model_path FROM bench_runs").fetchall()[0][0] == \
            "m.gguf"
        for name in ("compare_runs", "compare_answers", "conversations", "messages"):
            connection.execute(f"SELECT count(*) FROM {name}")


def test_each_migration_is_one_transaction_with_its_version(tmp_path: Path) -> None:
    path = tmp_path / "workbench.sqlite3"
    _killed_migration(path, "compare_answers")
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1  # migration 1 committed
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "bench_runs" in tables and "compare_runs" not in tables  # migration 2: nothing


def test_a_database_that_cannot_be_upgraded_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "workbench.sqlite3"
    with closing(sqlite3.connect(path)) as raw:  # a table in the way, at version 0
        raw.execute("CREATE TABLE bench_runs (x)")
        raw.commit()
    with pytest.raises(Exception) as caught:
        db.connect(path)
    assert type(caught.value).__name__ == "RuntimeFailure"
    assert "could not be upgraded" in str(caught.value) and str(path) in str(caught.value)
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 0


def test_statements_split_like_sqlite(tmp_path: Path) -> None:
    for script in db.MIGRATIONS:
        with closing(sqlite3.connect(":memory:")) as a, closing(sqlite3.connect(":memory:")) as b:
            a.executescript(script)
            for statement in db.statements(script):
                b.execute(statement)
            dump = [r for r in a.execute("SELECT sql FROM sqlite_master ORDER BY name")]
            assert dump == [r for r in b.execute("SELECT sql FROM sqlite_master ORDER BY name")]
