"""What llama.cpp itself reports for a load, for the tests that check the planner against it."""

from __future__ import annotations

from workbench.engine.client import LocalEngine
from workbench.engine.defaults import resolve_load_settings
from workbench.engine.settings import LoadSettings

MiB = 1 << 20


def reported_buffers(engine: LocalEngine, settings: LoadSettings) -> dict[str, float]:
    """Load; the engine's load info carries llama.cpp's buffer sizes (MiB per part)."""
    info = engine.load(*resolve_load_settings(settings))
    engine.unload()
    return info.buffers
