"""The defaults every path (run, chat, compare, bench) loads models with, chosen for speed, safely.

- threads: one per physical core (SMT siblings slow llama.cpp down);
- flash attention: llama.cpp's "auto" (on wherever the backend supports it; ~15% faster
  generation on CPU than llama-cpp-python's default of off, and a much smaller compute buffer);
- weight repacking: on where this CPU was probed safe for the model's quant type, else off.

This is the load policy: it sits above the client. ``LocalEngine.load`` takes resolved
settings and never calls it; every caller resolves first, through one function::

    engine.load(*resolve_load_settings(settings))   # (settings, notes)

(callers: engine.bench.measure, providers.local, planner.calibration, commands.run, the GUI's
EngineBridge). The header check it does first means a malformed file is refused before
llama.cpp, which may crash on it, ever sees it.
"""

from __future__ import annotations

import dataclasses
import os

from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput


def model_quant(path: str) -> str | None:
    """The quant type that dominates a GGUF's weights, from its header.

    Reading the header also validates it: a malformed file raises GGUFError (bad input, with
    the byte offset and field) before llama.cpp, which may crash on it, ever sees it.
    """
    from workbench.gguf import read_header, summarize

    summary = summarize(read_header(path))
    return summary.dominant_type or summary.file_type


def resolve_load_settings(settings: LoadSettings) -> tuple[LoadSettings, list[str]]:
    """Fill in what the user left to Workbench; returns the settings and notes saying why."""
    if not os.path.isfile(settings.model_path):
        raise BadInput(f"no such model file: {settings.model_path}")
    notes: list[str] = []
    if settings.repack is None:
        quant = model_quant(settings.model_path)
        if quant is None:
            settings = dataclasses.replace(settings, repack=False)
        else:
            from workbench.engine.repack_probe import repack_verdict

            verdict = repack_verdict(quant)
            settings = dataclasses.replace(settings, repack=verdict.safe)
            if not verdict.safe:
                notes.append(f"weight repacking off for {verdict.quant}: {verdict.reason}")
    return settings, notes
