"""Plans in words (workbench.present.plans and .fit): one wording for the Discover page, the
Start page, the chat's memory preview and the CLI, read from typed plans; the --json form of a
plan keeps its keys. Qt-free."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from workbench.planner.memory import FIT_LABELS, MemoryPlan
from workbench.planner.speed import SpeedPrediction
from workbench.planner.variant_plan import VariantPlan
from workbench.present import plans
from workbench.present.fit import FIT_WORDS, fit_short, fit_title, fit_words
from workbench.present.numbers import format_bytes

MiB, GiB = 1 << 20, 1 << 30


def memory_plan(**changes: object) -> MemoryPlan:
    plan = MemoryPlan(
        ctx=4096, n_ubatch=512, n_seq=1, flash_attn=True, kv_type="f16", backend="cuda",
        n_layers=29, n_blocks=28, gpu_layers=29, n_cpu_moe=0,
        weights_gpu_bytes=900 * MiB, weights_cpu_bytes=100 * MiB, repack_bytes=0,
        weights_mapped=True, kv_gpu_bytes=224 * MiB, kv_cpu_bytes=0,
        compute_gpu_bytes=300 * MiB, compute_cpu_bytes=12 * MiB, output_bytes=1 * MiB,
        overhead_bytes=400 * MiB, layers=(), fit="full_gpu", exact_graph=True)
    return dataclasses.replace(plan, **changes)  # type: ignore[arg-type]


SPEED = SpeedPrediction(42.25, 900.0, "bandwidth", "gpu", "bandwidth", "bandwidth 100 GB/s")


def variant(fit: str = "full_gpu", n_gpu: int = 29, **changes: object) -> VariantPlan:
    plan = VariantPlan("m-Q8_0.gguf", fit, n_gpu, 29, 4096, memory_plan(fit=fit,
                       gpu_layers=n_gpu), SPEED, None, "all layers fit", free_vram_bytes=8 * GiB,
                       free_ram_bytes=16 * GiB)
    return dataclasses.replace(plan, **changes)  # type: ignore[arg-type]


def test_every_fit_label_has_its_words() -> None:
    assert tuple(FIT_WORDS) == FIT_LABELS
    assert fit_title("full_gpu") == "Fits on the GPU" and fit_short("partial") == "partial offload"
    assert fit_words("cpu_only").phrase == "runs on the CPU"
    assert fit_words("too_large").style == "red"
    assert fit_title(None) == "unknown" and fit_title("odd") == "odd"  # never blank


def test_layers_words() -> None:
    assert plans.layers_words("full_gpu", 29, 29) == "all 29 layers on the GPU"
    assert plans.layers_words("partial", 12, 29) == "12 of 29 layers on the GPU"
    assert plans.layers_words("cpu_only", 0, 29) == "every layer on the CPU"


def test_a_variant_plan_reads_the_same_in_cells_and_words() -> None:
    full = variant()
    assert plans.fit_text(full) == "Fits on the GPU, context 4096"
    assert plans.gpu_layers_text(full) == "all 29/29"
    assert plans.memory_text(full) == format_bytes(memory_plan().total_bytes)
    assert plans.speed_text(full) == "~42.2 tok/s (rough)"  # a GPU's assumed bandwidth share
    assert plans.speed_detail(full) == ("Generation speed, rough estimate: ~42.2 tok/s (rough) "
                                        "(bandwidth 100 GB/s)")
    assert plans.plan_words(full) == ("All 29 layers on the GPU, context 4,096 tokens. "
                                      "The planner: all layers fit.")
    partial = variant("partial", 12)
    assert plans.fit_text(partial) == "Partial offload (12 of 29 layers), context 4096"
    assert plans.gpu_layers_text(partial) == "12/29"
    assert plans.plan_words(partial).startswith("12 of 29 layers on the GPU, the rest on the CPU")
    assert plans.variant_fit_cell(partial) == ("partial offload (12/29 layers)", "yellow")
    cpu = variant("cpu_only", 0, speed=None, speed_note="not predicted: no bandwidth")
    assert plans.gpu_layers_text(cpu) == "CPU only" and plans.fit_badge(cpu) == "CPU only"
    assert plans.speed_text(cpu) == "not predicted: no bandwidth"
    assert plans.speed_detail(cpu) == "not predicted: no bandwidth"
    failed = VariantPlan.failed("x.gguf", "HTTP 404")
    assert plans.fit_text(failed) == "unknown: HTTP 404" and plans.fit_badge(failed) == "unknown"
    assert plans.plan_words(failed) == "Cannot plan this file: HTTP 404"
    assert plans.variant_fit_cell(failed) == ("header not read", "red")
    assert plans.fit_badge(None, planning=True) == "planning…"


def test_device_parts_and_text_add_up_to_the_device_totals() -> None:
    mp = memory_plan()
    for device, total in (("gpu", mp.gpu_bytes), ("cpu", mp.cpu_bytes)):
        assert sum(n for _, n in plans.device_parts(mp, device)) == total
    assert plans.device_text(mp, "gpu", 8 * GiB) == (
        "weights 900.0 MiB · KV cache 224.0 MiB · compute 300.0 MiB · GPU runtime (est.) "
        f"400.0 MiB = {format_bytes(mp.gpu_bytes)} of 8.0 GiB free")
    assert plans.device_text(mp, "cpu", None).endswith("(free memory unknown)")


def test_the_memory_preview_summary_and_delta() -> None:
    partial = memory_plan(fit="partial", gpu_layers=1, n_layers=3, ctx=1024)
    assert plans.preview_summary(partial, True, free_ram=GiB, free_vram=GiB) == (
        "Partial offload: 1 of 3 layers on the GPU, context 1024: fits in free memory")
    cpu = memory_plan(fit="cpu_only", gpu_layers=0, backend="cpu")
    short = plans.preview_summary(cpu, False, free_ram=100 * MiB, free_vram=None)
    assert short.startswith("CPU only, context 4096: does not fit: needs ")
    assert short.endswith(f"{format_bytes(cpu.cpu_bytes - 100 * MiB)} more RAM")
    bigger = dataclasses.replace(partial, kv_gpu_bytes=partial.kv_gpu_bytes + 256 * MiB)
    assert plans.delta_words(bigger, partial) == (
        "+256.0 MiB KV cache, +256.0 MiB GPU total vs now; reload to apply.")
    assert plans.delta_words(partial, partial).startswith("Same memory")


def test_the_estimate_verdict() -> None:
    partial = memory_plan(fit="partial", gpu_layers=1, n_layers=3, n_cpu_moe=2)
    line = plans.memory_verdict(partial)
    assert line.startswith("partial offload: 1 of 3 layers on the GPU, experts of 2 layers on "
                           "the CPU, ")
    assert plans.memory_verdict(memory_plan(), "fits").endswith(" at ctx 4096 (fits)")
    assert plans.memory_verdict(memory_plan(fit="too_large")).startswith("does not fit: needs ")


def test_a_recommendation_in_words() -> None:
    rec: Any = SimpleNamespace(  # the fields of a Recommendation that the words read
        fit="partial", n_gpu_layers=5, n_layers=9, n_ctx=4096, memory=memory_plan(),
        speed=SPEED, quality=None, expected_quality=None,
        entry=SimpleNamespace(name="Tiny", licence="mit"),
        file=SimpleNamespace(quant="Q8_0", size_bytes=GiB))
    assert plans.recommendation_row(rec) == (
        "Tiny", "Q8_0", "1.0 GiB", "Partial offload (5 of 9 layers)", "~42.2 tok/s (rough)", "mit",
        "no published score")
    words = plans.recommendation_memory_words(rec)
    assert words.startswith("5 of 9 layers on the GPU (") and words.endswith(
        ", with a context of 4,096 tokens")
    cpu: Any = SimpleNamespace(**{**vars(rec), "fit": "cpu_only"})
    assert plans.recommendation_memory_words(cpu).startswith("runs on the CPU: needs ")
    assert plans.speed_words(rec) == ("roughly 42.2 tokens/s generation (an assumed share of "
                                      "the GPU's bandwidth)")


@pytest.mark.parametrize(("method", "device", "cell", "label", "words"), [
    ("measured", "cpu", "30.0 tok/s (measured)", "Measured generation speed",
     "30.0 tokens/s generation (measured here)"),
    ("calibrated", "cpu", "≈ 30.0 tok/s", "Predicted generation speed",
     "≈ 30.0 tokens/s generation (predicted)"),
    ("scaled", "cpu", "≈ 30.0 tok/s", "Predicted generation speed",
     "≈ 30.0 tokens/s generation (predicted)"),
    ("bandwidth", "cpu", "≤ 30.0 tok/s (upper bound)",
     "Generation speed, upper bound (not a prediction)",
     "at most 30.0 tokens/s generation (an upper bound from the memory bandwidth, not a "
     "prediction: often much slower on a CPU)"),
])
def test_every_surface_says_what_kind_of_figure_a_speed_is(method: str, device: str, cell: str,
                                                           label: str, words: str) -> None:
    speed = SpeedPrediction(30.0, 300.0, method, device, None, "how")
    plan = dataclasses.replace(variant(), speed=speed)
    assert plans.speed_text(plan) == cell
    assert plans.speed_detail(plan) == f"{label}: {cell} (how)"
    rec: Any = SimpleNamespace(speed=speed)
    assert plans.speed_words(rec) == words
    assert speed.to_dict()["kind"] == speed.kind


def test_the_json_form_of_a_variant_plan_keeps_its_keys() -> None:
    doc = json.loads(json.dumps(variant().to_dict()))
    assert list(doc) == ["name", "fit", "n_gpu_layers", "n_layers", "n_ctx", "memory", "speed",
                         "speed_note", "reason", "error", "free_vram_bytes", "free_ram_bytes"]
    assert list(doc["memory"]) == [
        "weights_bytes", "kv_cache_bytes", "compute_bytes", "output_bytes", "overhead_bytes",
        "gpu_bytes", "cpu_bytes", "total_bytes", "weights_gpu_bytes", "weights_cpu_bytes",
        "kv_gpu_bytes", "kv_cpu_bytes", "compute_gpu_bytes", "compute_cpu_bytes"]
    assert doc["memory"]["gpu_bytes"] == memory_plan().gpu_bytes
    assert doc["speed"] == {"tg_tokens_per_s": 42.25, "pp_tokens_per_s": 900.0,
                            "method": "bandwidth", "device": "gpu", "bound": "bandwidth",
                            "basis": "bandwidth 100 GB/s", "kind": "rough"}
    failed = VariantPlan.failed("x", "bad").to_dict()
    assert failed["memory"] is None and failed["speed"] is None and failed["error"] == "bad"


@pytest.mark.parametrize("module", ["plans", "fit", "numbers", "metrics"])
def test_the_presentation_layer_needs_no_qt(module: str) -> None:
    code = (f"import sys, workbench.present.{module}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
