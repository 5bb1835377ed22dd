"""Stored benchmark runs: what this machine measured, for comparisons and the speed preview."""

from __future__ import annotations

import json
import platform
import sqlite3
from collections.abc import Iterable
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


def machine_facts() -> dict[str, Any]:
    """What a stored run records about this machine (the speed preview matches on it)."""
    from workbench.hardware.cpu import detect_cpu

    cpu = detect_cpu()
    return {"cpu": cpu.model, "logical_cores": cpu.logical_cores,
            "physical_cores": cpu.physical_cores, "os": platform.platform()}


def save_all(connection: sqlite3.Connection, results: Iterable[BenchResult],
             machine: dict[str, Any] | None = None) -> list[int]:
    """Store finished results (``machine`` defaults to this machine); returns their run ids."""
    facts = machine if machine is not None else machine_facts()
    return [save(connection, result, facts) for result in results]


def all_runs(connection: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every stored run, newest first."""
    return recent(connection, limit=-1)  # SQLite: a negative LIMIT means no limit


def delete(connection: sqlite3.Connection, run_ids: Iterable[int]) -> int:
    """Remove stored runs by id; returns how many were removed."""
    ids = [int(i) for i in run_ids]
    if not ids:
        return 0
    with connection:
        cursor = connection.execute(
            f"DELETE FROM bench_runs WHERE id IN ({', '.join('?' for _ in ids)})", ids)
    return cursor.rowcount
