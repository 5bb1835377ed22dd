"""Rented GPU server presets (resources/gpu_rental.json): GPUs needed and dollars per GPU-hour,
as ranges, each with its source and date."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.present.numbers import money
from workbench.resources import resource_path

RENTAL_FILE = "gpu_rental.json"


@dataclass(frozen=True)
class RentalPreset:
    id: str
    name: str
    gpus: tuple[int, int]  # fewest, most
    usd_per_gpu_hour: tuple[float, float]  # low, high
    source: str
    date: str

    @property
    def usd_per_hour_range(self) -> tuple[float, float]:
        """The whole server an hour: fewest GPUs at the low price, most at the high one."""
        return (self.gpus[0] * self.usd_per_gpu_hour[0], self.gpus[1] * self.usd_per_gpu_hour[1])

    @property
    def usd_per_hour(self) -> float:
        """Where the page starts: the middle GPU count at the middle price."""
        gpus = (self.gpus[0] + self.gpus[1]) / 2
        return gpus * (self.usd_per_gpu_hour[0] + self.usd_per_gpu_hour[1]) / 2

    def describe(self) -> str:
        """``70B model on 2-4 GPUs: $1.00-2.00 an hour each (source, date)``."""
        low, high = self.usd_per_gpu_hour
        price = money(low) if low == high else f"{money(low)}-{money(high).lstrip('$')}"
        each = " each" if self.gpus[1] > 1 else ""
        return f"{self.name}: {price} an hour{each} ({self.source}, {self.date})"


def _pair(row: dict[str, Any], name: str, where: str) -> tuple[float, float]:
    value = row.get(name)
    if (not isinstance(value, list) or len(value) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in value)
            or value[0] > value[1]):
        raise BadInput(f"{where}: '{name}' must be [low, high], two numbers >= 0")
    return float(value[0]), float(value[1])


def load_rental_presets(path: Path | None = None) -> list[RentalPreset]:
    path = path or resource_path(RENTAL_FILE)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BadInput(f"the GPU rental presets {path} cannot be read: {err}") from None
    presets = []
    for index, row in enumerate(document.get("presets") or []):
        where = f"{path.name} preset {index}"
        if not row.get("name") or not row.get("source") or not row.get("date"):
            raise BadInput(f"{where}: a preset needs a name, a source and a date")
        low, high = _pair(row, "gpus", where)
        presets.append(RentalPreset(str(row.get("id") or index), str(row["name"]),
                                    (int(low), int(high)), _pair(row, "usd_per_gpu_hour", where),
                                    str(row["source"]), str(row["date"])))
    return presets
