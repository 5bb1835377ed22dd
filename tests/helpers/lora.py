"""Synthetic LoRA adapters for the tests' synthetic base models (``workbench.synth``).

``adapter_for(base, out)`` writes a random adapter that changes the tiny llama's greedy answer at
scale 1 (the tensors of ``STRONG_TARGETS``, rank 4); ``mismatched(base, out)`` one that does
not fit it (lora_a twice as wide as the base's rows)."""

from __future__ import annotations

from pathlib import Path

from workbench.synth import write_lora_adapter

STRONG_TARGETS = ("attn_q", "attn_v", "ffn_down", "output")


def adapter_for(base: Path, out: Path, *, seed: int = 1, rank: int = 4) -> Path:
    """A rank-``rank`` adapter for ``base`` at ``out`` that changes its answers."""
    return write_lora_adapter(out, base, rank=rank, targets=STRONG_TARGETS, seed=seed)


def mismatched(base: Path, out: Path) -> Path:
    """An adapter of other widths than ``base``'s: the fit check refuses it."""
    return write_lora_adapter(out, base, mismatch="width")
