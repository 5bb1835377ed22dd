"""A memory plan in words: where the layers go, what each device holds, the predicted speed.

The one home of every sentence and table cell that says what a plan means, read by the GUI
(the Discover page, the Start page's pick, the chat's memory preview) and the CLI
(``workbench estimate``, ``files``, ``recommend``):

    layers_words      "all 29 layers on the GPU", "12 of 29 layers on the GPU", ...
    device_parts/text what one device holds: "weights 1.2 GiB · KV cache 256.0 MiB = ..."
    plan_words        a variant's plan (Discover's detail panel)
    fit_text, gpu_layers_text, memory_text, speed_text   a variant's table cells
    recommendation_row, quality_note                      a recommendation's table cells
    recommendation_memory_words, speed_words              the Start page's pick
    preview_summary, delta_words                          the chat's memory preview
    memory_verdict                                        ``workbench estimate``'s last line

Fit labels read as ``workbench.present.fit`` says; bytes as ``workbench.present.numbers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.planner.memory import CPU_ONLY, FULL_GPU, PARTIAL, TOO_LARGE, MemoryPlan
from workbench.planner.variant_plan import VariantPlan
from workbench.present.fit import fit_words
from workbench.present.numbers import format_bytes, format_size

if TYPE_CHECKING:
    from workbench.planner.recommend import Recommendation

NOT_PREDICTED = "not predicted"


# -- pieces --------------------------------------------------------------------------------
def layers_words(fit: str | None, n_gpu_layers: int | None, n_layers: int | None) -> str:
    """Where the layers go: "all 29 layers on the GPU", "12 of 29 layers on the GPU",
    "every layer on the CPU", "no room for the layers" (does not fit)."""
    n, total = n_gpu_layers or 0, n_layers or 0
    if fit == FULL_GPU:
        return f"all {total} layers on the GPU"
    if fit == PARTIAL:
        return f"{n} of {total} layers on the GPU"
    if fit == CPU_ONLY:
        return "every layer on the CPU"
    return "no room for the layers"


@dataclass(frozen=True)
class SpeedKindWords:
    """How a speed figure of one kind (planner.speed.SpeedPrediction.kind) reads everywhere."""

    mark: str  # before the figure in a cell
    tag: str  # after it in a cell
    label: str  # the detail panel's label
    sentence: str  # the Start page's words; {tg} is the figure
    judged: str  # "Why this one: of the catalog models {judged} to ..."
    meaning: str  # what the figure is, in full (the CLI's speed line)


SPEED_WORDS = {
    "measured": SpeedKindWords(
        "", " (measured)", "Measured generation speed",
        "{tg} tokens/s generation (measured here)", "predicted",
        "measured: a stored benchmark of this very file on this machine"),
    "predicted": SpeedKindWords(
        "≈ ", "", "Predicted generation speed", "≈ {tg} tokens/s generation (predicted)",
        "predicted", "predicted from this CPU's kernel profile or a calibration of it"),
    "upper bound": SpeedKindWords(
        "≤ ", " (upper bound)", "Generation speed, upper bound (not a prediction)",
        "at most {tg} tokens/s generation (an upper bound from the memory bandwidth, not a "
        "prediction: often much slower on a CPU)", "estimated, by an upper bound,",
        "an upper bound, not a prediction: the bytes a token reads over this machine's memory "
        "bandwidth; llama.cpp is often much slower on a CPU (--profile measures this CPU in "
        "seconds for a prediction)"),
    "rough": SpeedKindWords(
        "~", " (rough)", "Generation speed, rough estimate",
        "roughly {tg} tokens/s generation (an assumed share of the GPU's bandwidth)",
        "roughly estimated", "a rough estimate: an assumed share of the GPU's memory bandwidth"),
}


def speed_kind_words(kind: str) -> SpeedKindWords:
    """The words for ``kind``; an unknown kind reads as a prediction."""
    return SPEED_WORDS.get(kind, SPEED_WORDS["predicted"])


def predicted_speed(tokens_per_s: float | None, unit: str = "tok/s",
                    kind: str = "predicted") -> str | None:
    """A speed preview's figure marked with what it is (planner.speed.SpeedPrediction.kind):
    ``≈ 37.2 tok/s`` predicted, ``≤ 159.2 tok/s (upper bound)``, ``~52.0 tok/s (rough)``,
    ``37.2 tok/s (measured)``; None when not predicted."""
    if not tokens_per_s:
        return None
    words = speed_kind_words(kind)
    return f"{words.mark}{tokens_per_s:.1f} {unit}{words.tag}"


def signed_bytes(n: int) -> str:
    """A change in memory: ``+256.0 MiB``, ``−1.0 GiB``."""
    return ("+" if n > 0 else "−") + format_bytes(abs(n))


def device_parts(plan: MemoryPlan, device: str) -> list[tuple[str, int]]:
    """(part, bytes) on one device ("gpu" or "cpu"), in the memory bars' order."""
    if device == "gpu":
        return [("weights", plan.weights_gpu_bytes), ("KV cache", plan.kv_gpu_bytes),
                ("compute", plan.compute_gpu_bytes), ("GPU runtime (est.)", plan.overhead_bytes)]
    return [("weights", plan.weights_cpu_bytes), ("KV cache", plan.kv_cpu_bytes),
            ("compute", plan.compute_cpu_bytes), ("output", plan.output_bytes)]


def parts_text(parts: Sequence[tuple[str, int]], free: int | None) -> str:
    """``weights 1.2 GiB · KV cache 256.0 MiB = 1.4 GiB of 7.0 GiB free``."""
    shown = " · ".join(f"{name} {format_bytes(n)}" for name, n in parts if n)
    against = f" of {format_bytes(free)} free" if free is not None else " (free memory unknown)"
    return f"{shown or 'nothing'} = {format_bytes(sum(n for _, n in parts))}{against}"


def device_text(plan: MemoryPlan, device: str, free: int | None) -> str:
    """What one device holds, against its free memory."""
    return parts_text(device_parts(plan, device), free)


# -- a variant of a repository (Discover, ``workbench files``) -----------------------------
def fit_text(plan: VariantPlan | None) -> str:
    """The "Fit here" cell: "Fits on the GPU, context 4096", "Partial offload (12 of 29
    layers), context 4096", "unknown: <why>"."""
    if plan is None:
        return ""
    if plan.error:
        return f"unknown: {plan.error}"
    text = fit_words(plan.fit).title
    if plan.fit == PARTIAL and plan.n_gpu_layers is not None and plan.n_layers:
        text += f" ({plan.n_gpu_layers} of {plan.n_layers} layers)"
    if plan.n_ctx:
        text += f", context {plan.n_ctx}"
    return text


def fit_badge(plan: VariantPlan | None, *, planning: bool = False) -> str:
    """The fit badge of the selected file."""
    if plan is None:
        return "planning…" if planning else "not planned"
    return "unknown" if plan.error else fit_words(plan.fit).title


def gpu_layers_text(plan: VariantPlan | None) -> str:
    """The plan's offload as a count: "all 29/29", "12/29", "CPU only"."""
    if plan is None or plan.error or plan.fit is None:
        return ""
    if plan.fit == TOO_LARGE:
        return "none (does not fit)"
    n, total = plan.n_gpu_layers or 0, plan.n_layers
    if plan.fit == CPU_ONLY or n <= 0:
        return "CPU only"
    if total and n >= total:
        return f"all {total}/{total}"
    return f"{n}/{total}" if total else str(n)


def memory_text(plan: VariantPlan | None) -> str:
    if plan is None or plan.memory is None:
        return ""
    return format_bytes(plan.memory.total_bytes)


def speed_text(plan: VariantPlan | None) -> str:
    """The predicted generation speed, else why it is not predicted."""
    if plan is None:
        return ""
    kind = plan.speed.kind if plan.speed is not None else "predicted"
    return predicted_speed(plan.tg_tokens_per_s, kind=kind) or plan.speed_note or ""


def speed_detail(plan: VariantPlan) -> str:
    """The detail panel's speed line, with how the figure was obtained."""
    speed = speed_text(plan)
    if plan.speed is not None and plan.tg_tokens_per_s:
        basis = plan.speed.basis or plan.speed.method or ""
        label = speed_kind_words(plan.speed.kind).label
        speed = f"{label}: {speed}" + (f" ({basis})" if basis else "")
    return speed or "Speed not predicted."


def plan_words(plan: VariantPlan) -> str:
    """Where the file goes and why, in words."""
    if plan.error:
        return f"Cannot plan this file: {plan.error}"
    if plan.fit == PARTIAL:
        text = f"{layers_words(plan.fit, plan.n_gpu_layers, plan.n_layers)}, the rest on the CPU"
    elif plan.fit in (FULL_GPU, CPU_ONLY):
        text = layers_words(plan.fit, plan.n_gpu_layers, plan.n_layers)
    else:
        text = "does not fit this machine's free memory"
    text = text[0].upper() + text[1:]
    if plan.n_ctx:
        text += f", context {plan.n_ctx:,} tokens"
    text += "."
    if plan.reason:
        text += f" The planner: {plan.reason.rstrip('.')}."
    return text


def variant_memory_cell(plan: VariantPlan) -> str:
    """``workbench files``' memory cell: "1.52 GiB (1.20 GiB GPU)"."""
    if plan.memory is None:
        return "-"
    text = format_size(plan.memory.total_bytes)
    if plan.memory.gpu_bytes:
        text += f" ({format_size(plan.memory.gpu_bytes)} GPU)"
    return text


def variant_fit_cell(plan: VariantPlan | None) -> tuple[str, str]:
    """``workbench files``' fit cell and its colour: ("partial offload (12/29 layers)",
    "yellow")."""
    if plan is None:
        return "-", "white"
    if plan.error:
        return "header not read", "red"
    words = fit_words(plan.fit)
    text = words.short
    if plan.fit == PARTIAL:
        text += f" ({plan.n_gpu_layers}/{plan.n_layers} layers)"
    return text, words.style


# -- a recommendation (Discover's list, the Start page's pick) ------------------------------
def quality_note(rec: Recommendation) -> str:
    if rec.quality is None:
        return "no published score"
    if rec.expected_quality is not None:
        return (f"{rec.quality.metric} {rec.expected_quality:g} expected at {rec.file.quant} "
                f"({rec.quality.score:g} unquantized)")
    return f"{rec.quality.metric} {rec.quality.score:g} (not comparable)"


def recommendation_row(rec: Recommendation) -> tuple[str, ...]:
    """Discover's recommendation row: model, quant, size, fit, speed, licence, quality."""
    fit = fit_words(rec.fit).title
    if rec.fit == PARTIAL:
        fit += f" ({rec.n_gpu_layers} of {rec.n_layers} layers)"
    speed = (predicted_speed(rec.speed.tg_tokens_per_s, kind=rec.speed.kind) or rec.speed.basis
             or NOT_PREDICTED)
    return (rec.entry.name, rec.file.quant, format_bytes(rec.file.size_bytes), fit, speed,
            rec.entry.licence, quality_note(rec))


def recommendation_memory_words(rec: Recommendation) -> str:
    """Where the model goes and how much memory it takes, in words."""
    memory = rec.memory
    total = format_bytes(memory.total_bytes)
    if rec.fit == FULL_GPU:
        text = f"{fit_words(rec.fit).phrase} (all {rec.n_layers} layers): {total} in all"
    elif rec.fit == PARTIAL:
        text = (f"{layers_words(rec.fit, rec.n_gpu_layers, rec.n_layers)} "
                f"({format_bytes(memory.gpu_bytes)}), the rest in RAM "
                f"({format_bytes(memory.cpu_bytes)})")
    elif rec.fit == CPU_ONLY:
        text = f"{fit_words(rec.fit).phrase}: needs {total} of RAM"
    else:
        text = f"{fit_words(rec.fit).phrase}: needs {total}"
    return f"{text}, with a context of {rec.n_ctx:,} tokens"


def speed_words(rec: Recommendation) -> str:
    tg = rec.speed.tg_tokens_per_s
    if tg is None:
        return rec.speed.basis or NOT_PREDICTED
    return speed_kind_words(rec.speed.kind).sentence.format(tg=f"{tg:.1f}")


# -- settings someone chose (the chat's memory preview) ------------------------------------
def preview_summary(plan: MemoryPlan, fits: bool | None, *, free_ram: int | None,
                    free_vram: int | None) -> str:
    """"Partial offload: 12 of 29 layers on the GPU, context 4096: fits in free memory"."""
    where = fit_words(plan.fit).placement
    if plan.fit == PARTIAL:
        where += f": {layers_words(plan.fit, plan.gpu_layers, plan.n_layers)}"
    elif plan.fit == FULL_GPU:
        where += f" ({plan.gpu_layers} of {plan.n_layers})"
    if fits is None:
        verdict = "free memory unknown"
    elif fits:
        verdict = "fits in free memory"
    else:
        short = []
        if free_ram is not None and plan.cpu_bytes > free_ram:
            short.append(f"{format_bytes(plan.cpu_bytes - free_ram)} more RAM")
        if plan.backend != "cpu" and free_vram is not None and plan.gpu_bytes > free_vram:
            short.append(f"{format_bytes(plan.gpu_bytes - free_vram)} more GPU memory")
        verdict = "does not fit: needs " + " and ".join(short)
    return f"{where}, context {plan.ctx}: {verdict}"


def delta_words(new: MemoryPlan, old: MemoryPlan) -> str:
    """The change of ``new`` against the loaded model's ``old`` plan."""
    changes = []
    for name, attr in (("KV cache", "kv_cache_bytes"), ("compute", "compute_bytes"),
                       ("weights on the GPU", "weights_gpu_bytes"), ("GPU total", "gpu_bytes"),
                       ("RAM total", "cpu_bytes")):
        diff = getattr(new, attr) - getattr(old, attr)
        if diff:
            changes.append(f"{signed_bytes(diff)} {name}")
    if not changes:
        return "Same memory as the loaded model; reload to apply."
    return ", ".join(changes) + " vs now; reload to apply."


# -- ``workbench estimate`` ----------------------------------------------------------------
def memory_verdict(plan: MemoryPlan, reason: str | None = None) -> str:
    """One line: where the model runs and what it needs (``reason``: the offload planner's,
    when it chose the GPU layers and context)."""
    gpu, cpu = format_size(plan.gpu_bytes), format_size(plan.cpu_bytes)
    text = fit_words(plan.fit).short
    layers = layers_words(plan.fit, plan.gpu_layers, plan.n_layers)
    if plan.fit == FULL_GPU:
        line = f"{text}: {layers}, {gpu} of GPU memory and {cpu} of RAM"
    elif plan.fit == PARTIAL:
        n_moe = plan.n_cpu_moe
        moe = (f", experts of {n_moe} layer{'s' if n_moe > 1 else ''} on the CPU"
               if n_moe else "")
        line = f"{text}: {layers}{moe}, {gpu} of GPU memory and {cpu} of RAM"
    elif plan.fit == CPU_ONLY:
        line = f"{text}: {cpu} of RAM"
    else:
        line = f"{text}: needs {format_size(plan.total_bytes)}"
    if reason is not None:
        line += f" at ctx {plan.ctx} ({reason})"
    return line
