"""How a plan's fit reads: the one table of words for the planner's fit labels.

The planner says where a model goes with one of ``workbench.planner.memory.FIT_LABELS``
(best first: ``full_gpu``, ``partial``, ``cpu_only``, ``too_large``); this module says it in
words, always in words (never colour alone):

    title     the GUI's badge and "Fit here" columns: "Fits on the GPU", "Partial offload"
    placement where the layers go for settings someone chose (the chat's memory preview), which
              may still not fit the free memory: "All layers on the GPU", "Partial offload"
    short     terminal tables and one-line verdicts: "full GPU", "partial offload"
    phrase    inside a sentence, after "it": "fits on the GPU", "runs partly on the GPU"
    style     the terminal colour shown next to the words (rich style name)
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.planner.memory import FIT_LABELS


@dataclass(frozen=True)
class FitWords:
    title: str
    placement: str
    short: str
    phrase: str
    style: str


_WORDS = (
    FitWords("Fits on the GPU", "All layers on the GPU", "full GPU", "fits on the GPU",
             "green"),
    FitWords("Partial offload", "Partial offload", "partial offload", "runs partly on the GPU",
             "yellow"),
    FitWords("CPU only", "CPU only", "CPU only", "runs on the CPU", "cyan"),
    FitWords("Does not fit", "Does not fit", "does not fit", "does not fit", "red"),
)
FIT_WORDS: dict[str, FitWords] = dict(zip(FIT_LABELS, _WORDS, strict=True))
UNKNOWN = "unknown"


def fit_words(fit: str | None) -> FitWords:
    """The words of ``fit``; an unknown label reads as itself ("unknown" when there is none)."""
    known = FIT_WORDS.get(fit or "")
    if known is not None:
        return known
    text = fit or UNKNOWN
    return FitWords(text, text, text, text, "white")


def fit_title(fit: str | None) -> str:
    return fit_words(fit).title


def fit_short(fit: str | None) -> str:
    return fit_words(fit).short
