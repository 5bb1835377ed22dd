"""The defaults every path (run, chat, compare, bench) loads models with, chosen for speed, safely.

- threads: one per physical core (SMT siblings slow llama.cpp down);
- flash attention: llama.cpp's "auto" (on wherever the backend supports it; ~15% faster
  generation on CPU than llama-cpp-python's default of off, and a much smaller compute buffer);
- weight repacking: on where this CPU was probed safe for every weight type in the model, else
  off.

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


def repackable_types(path: str) -> list[str]:
    """The ggml types of a GGUF's weights that llama.cpp may repack, most parameters first.

    Every weight but the token embeddings (kept in plain CPU memory) counts: a mix such as
    IQ3_M holds Q4_K and Q6_K tensors beside its IQ3_S ones, and any of them may crash. Reading
    the headers (every shard of a split model) also validates them: a malformed file raises
    GGUFError (bad input, with the byte offset and field) before llama.cpp, which may crash on
    it, ever sees it.
    """
    from workbench.engine.repack_probe import REPACKABLE
    from workbench.gguf import read_split_headers

    elements: dict[str, int] = {}
    for header in read_split_headers(path):
        for tensor in header.tensors:
            if not tensor.name.startswith("token_embd."):
                elements[tensor.type_name] = elements.get(tensor.type_name, 0) + tensor.n_elements
    ranked = sorted(elements, key=lambda name: -elements[name])
    return [name for name in ranked if name in REPACKABLE]


def repack_decision(path: str) -> tuple[bool, str | None]:
    """On only where every repackable weight type in the file was probed safe on this CPU;
    else off, with one note naming the types and why (grouped by reason)."""
    from workbench.engine.repack_probe import repack_verdict

    unsafe: dict[str, list[str]] = {}
    for name in repackable_types(path):
        verdict = repack_verdict(name)
        if not verdict.safe:
            unsafe.setdefault(verdict.reason, []).append(verdict.quant)
    if not unsafe:
        return True, None
    parts = [f"{', '.join(names)}: {reason}" for reason, names in unsafe.items()]
    return False, "weight repacking off for " + "; for ".join(parts)


def check_loras(settings: LoadSettings) -> None:
    """Refuse LoRA adapters llama.cpp would refuse or abort on, before it sees them: a missing
    or malformed file (``GGUFError``), one that is not a LoRA adapter, or one that does not fit
    the model (``AdapterMismatch``: another architecture, a missing tensor, other widths)."""
    if not settings.loras:
        return
    from workbench.gguf import check_adapter_fits, read_adapter, read_split_headers

    base = read_split_headers(settings.model_path)
    for path, _scale in settings.loras:
        if not os.path.isfile(path):
            raise BadInput(f"no such LoRA adapter file: {path}")
        check_adapter_fits(read_adapter(path), base)


def resolve_load_settings(settings: LoadSettings) -> tuple[LoadSettings, list[str]]:
    """Fill in what the user left to Workbench; returns the settings and notes saying why.
    LoRA adapters are checked against the model here (``check_loras``)."""
    if not os.path.isfile(settings.model_path):
        raise BadInput(f"no such model file: {settings.model_path}")
    check_loras(settings)
    notes: list[str] = []
    if settings.repack is None:
        repack, note = repack_decision(settings.model_path)
        settings = dataclasses.replace(settings, repack=repack)
        if note:
            notes.append(note)
    return settings, notes
