"""What one model file needs on this machine: its fit, memory plan and predicted speed.

``workbench.hub.planning`` makes these from a repository's remote headers; the Discover page,
``workbench files`` and the plan-in-words of ``workbench.present.plans`` read the same typed
object (the memory is the planner's own ``MemoryPlan``, the speed its ``SpeedPrediction``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.planner.memory import MemoryPlan
    from workbench.planner.speed import SpeedPrediction

SPEED_KEYS = ("tg_tokens_per_s", "pp_tokens_per_s", "method", "kind", "device", "bound",
              "basis")


def speed_dict(speed: SpeedPrediction) -> dict[str, Any]:
    """The prediction as ``--json`` shows it in a plan (the figures and how they were got)."""
    return {key: getattr(speed, key) for key in SPEED_KEYS}


@dataclass(frozen=True)
class VariantPlan:
    """What one variant needs here. ``error`` is set (and the rest None) when its header could
    not be read; ``speed`` is None with ``speed_note`` saying why when it is not predicted."""

    name: str
    fit: str | None
    n_gpu_layers: int | None
    n_layers: int | None
    n_ctx: int | None
    memory: MemoryPlan | None
    speed: SpeedPrediction | None
    speed_note: str | None
    reason: str | None
    error: str | None = None
    free_vram_bytes: int | None = None  # the free GPU memory it was planned against (no GPU: None)
    free_ram_bytes: int | None = None  # the free RAM it was planned against

    @classmethod
    def failed(cls, name: str, error: str) -> VariantPlan:
        """A variant whose header could not be read."""
        return cls(name, None, None, None, None, None, None, None, None, error=error)

    @property
    def tg_tokens_per_s(self) -> float | None:
        """The predicted generation speed (None: not predicted)."""
        return self.speed.tg_tokens_per_s if self.speed is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The plan as ``workbench files --json`` prints it."""
        return {
            "name": self.name,
            "fit": self.fit,
            "n_gpu_layers": self.n_gpu_layers,
            "n_layers": self.n_layers,
            "n_ctx": self.n_ctx,
            "memory": None if self.memory is None else self.memory.totals(per_device=True),
            "speed": None if self.speed is None else speed_dict(self.speed),
            "speed_note": self.speed_note,
            "reason": self.reason,
            "error": self.error,
            "free_vram_bytes": self.free_vram_bytes,
            "free_ram_bytes": self.free_ram_bytes,
        }
