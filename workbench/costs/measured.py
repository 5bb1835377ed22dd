"""What this machine measured for a local model: generation speed and power, from the stored
answers (Chat conversations, Compare runs, Bench runs), with how many answers each figure is
based on.

Models are matched by their file name (``model.gguf``), since Chat and Bench keep the path and
Compare the file name. Speed: the median of the latest ``LATEST`` figures - llama.cpp's own
generation counter for Chat, the streamed speed for Compare, llama-bench's tg for Bench.
Power: the energy Compare measured over its latest local answers / their total time.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath, PureWindowsPath

import psutil

from workbench.present.numbers import plain

LATEST = 20
SOURCES = ("Chat", "Compare", "Bench")


def model_key(path_or_name: str | None) -> str:
    """The file name of a model path (either slash), the name itself otherwise."""
    text = (path_or_name or "").strip()
    path: PurePath = PureWindowsPath(text) if "\\" in text else PurePosixPath(text)
    return path.name or text


@dataclass(frozen=True)
class Figure:
    when: str  # ISO timestamp
    source: str  # Chat | Compare | Bench
    value: float


@dataclass
class LocalMeasurement:
    """The measured figures of one local model (``key``: its file name)."""

    key: str
    speeds: list[Figure] = field(default_factory=list)  # newest first, at most LATEST
    energy_j: float = 0.0  # over the measured answers
    energy_s: float = 0.0
    energy_answers: int = 0
    energy_estimated: bool = False

    @property
    def newest(self) -> str:
        return self.speeds[0].when if self.speeds else ""

    @property
    def tokens_per_s(self) -> float | None:
        return statistics.median(f.value for f in self.speeds) if self.speeds else None

    @property
    def answers(self) -> int:
        return len(self.speeds)

    @property
    def by_source(self) -> dict[str, int]:
        counts = {s: sum(1 for f in self.speeds if f.source == s) for s in SOURCES}
        return {s: n for s, n in counts.items() if n}

    @property
    def watts(self) -> float | None:
        return self.energy_j / self.energy_s if self.energy_s > 0 else None

    def speed_basis(self) -> str:
        """``median of the latest 12 answers (Chat 8, Compare 3, Bench 1)``."""
        parts = ", ".join(f"{source} {n}" for source, n in self.by_source.items())
        if self.answers == 1:
            return f"one measured answer ({parts})"
        return f"median of the latest {self.answers} answers ({parts})"

    def power_basis(self) -> str:
        """``84.5 J over 2.30 s in 3 Compare answers (estimated)``."""
        noun = "answer" if self.energy_answers == 1 else "answers"
        return (f"{self.energy_j:,.1f} J over {self.energy_s:,.2f} s in {self.energy_answers} "
                f"Compare {noun}" + (" (estimated from CPU time)" if self.energy_estimated
                                     else ""))


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _chat_speeds(connection: sqlite3.Connection) -> list[tuple[str, Figure]]:
    rows = connection.execute(
        "SELECT c.model_path, c.model_name, m.created_at, m.metrics FROM messages m JOIN "
        "conversations c ON c.id = m.conversation_id WHERE m.role = 'assistant' AND "
        "m.metrics IS NOT NULL ORDER BY m.id DESC LIMIT ?", (LATEST * 10,)).fetchall()
    found = []
    for path, name, when, metrics in rows:
        try:
            rate = (json.loads(metrics) or {}).get("gen_tokens_per_s")
        except ValueError:
            continue
        if isinstance(rate, int | float) and rate > 0 and (path or name):
            found.append((model_key(path or name), Figure(when, "Chat", float(rate))))
    return found


def _compare_rows(connection: sqlite3.Connection) -> list[sqlite3.Row]:
    return connection.execute(
        "SELECT a.model, a.gen_tokens_per_s, a.energy_j, a.total_ms, a.result, r.created_at "
        "FROM compare_answers a JOIN compare_runs r ON r.id = a.run_id WHERE "
        "a.provider = 'local' AND a.error IS NULL ORDER BY a.id DESC LIMIT ?",
        (LATEST * 10,)).fetchall()


def _bench_speeds(connection: sqlite3.Connection) -> list[tuple[str, Figure]]:
    rows = connection.execute(
        "SELECT model_path, created_at, tg_tokens_per_s FROM bench_runs WHERE "
        "tg_tokens_per_s > 0 ORDER BY id DESC LIMIT ?", (LATEST * 10,)).fetchall()
    return [(model_key(path), Figure(when, "Bench", float(rate))) for path, when, rate in rows]


def measured_models(connection: sqlite3.Connection) -> list[LocalMeasurement]:
    """Every local model with a measured speed, the most recently measured first."""
    tables = _tables(connection)
    speeds: list[tuple[str, Figure]] = []
    if {"messages", "conversations"} <= tables:
        speeds += _chat_speeds(connection)
    if "bench_runs" in tables:
        speeds += _bench_speeds(connection)
    models: dict[str, LocalMeasurement] = {}
    if "compare_answers" in tables:
        for row in _compare_rows(connection):
            key = model_key(row["model"])
            if row["gen_tokens_per_s"] and row["gen_tokens_per_s"] > 0:
                speeds.append((key, Figure(row["created_at"], "Compare",
                                           float(row["gen_tokens_per_s"]))))
            entry = models.setdefault(key, LocalMeasurement(key))
            if row["energy_j"] and row["total_ms"] and entry.energy_answers < LATEST:
                entry.energy_j += float(row["energy_j"])
                entry.energy_s += float(row["total_ms"]) / 1000
                entry.energy_answers += 1
                method = (json.loads(row["result"]) or {}).get("energy_method") or ""
                entry.energy_estimated |= "estimate" in method
    for key, figure in sorted(speeds, key=lambda item: item[1].when, reverse=True):
        entry = models.setdefault(key, LocalMeasurement(key))
        if len(entry.speeds) < LATEST:
            entry.speeds.append(figure)
    measured = [m for m in models.values() if m.speeds]
    return sorted(measured, key=lambda m: m.newest, reverse=True)


def measurement_for(connection: sqlite3.Connection,
                    model: str | None = None) -> LocalMeasurement | None:
    """The measurement of ``model`` (a path or a file name), or of the most recently measured
    model when ``model`` is None or has none."""
    measured = measured_models(connection)
    if model:
        key = model_key(model)
        for entry in measured:
            if entry.key == key:
                return entry
    return measured[0] if measured else None


def estimated_watts(watts_per_core: float, cores: int | None = None) -> tuple[float, str]:
    """A stand-in while no energy is measured: every physical core busy at the assumed watts per
    core (the CPU-time estimate's assumption). Returns (watts, how it was estimated)."""
    cores = cores or psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    return watts_per_core * cores, (f"estimated: {cores} cores x {plain(watts_per_core)} W per "
                                    "busy core (no energy measured yet; Compare measures it)")
