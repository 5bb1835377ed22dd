"""Stored benchmark runs: what this machine measured, for comparisons and the speed preview."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from workbench.engine.bench import BenchResult


def save(connection: sqlite3.Connection, result: BenchResult, machine: dict[str, Any]) -> int:
    model = result.model
    with connection:
        cursor = connection.execute(
            """INSERT INTO bench_runs (model_path, model_name, architecture, quant, size_bytes,
               n_params, pp_tokens, tg_tokens, repetitions, pp_tokens_per_s, pp_sd,
               tg_tokens_per_s, tg_sd, settings, machine)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (result.model_path, model.get("name"), model.get("architecture"), model.get("quant"),
             model.get("model_size_bytes"), model.get("n_params"), result.pp_tokens,
             result.tg_tokens, result.repetitions, result.pp_tokens_per_s, result.pp_sd,
             result.tg_tokens_per_s, result.tg_sd, json.dumps(result.settings),
             json.dumps(machine)),
        )
    return int(cursor.lastrowid or 0)


def recent(connection: sqlite3.Connection, *, architecture: str | None = None,
           quant: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    query = "SELECT * FROM bench_runs WHERE 1=1"
    args: list[Any] = []
    if architecture:
        query += " AND architecture = ?"
        args.append(architecture)
    if quant:
        query += " AND quant = ?"
        args.append(quant)
    query += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    rows = connection.execute(query, args).fetchall()
    return [{**dict(row), "settings": json.loads(row["settings"]),
             "machine": json.loads(row["machine"])} for row in rows]
