"""Accuracy proof of the memory plan: estimated vs what llama.cpp reports allocating.

For every synthetic architecture, a model in the shape of its smallest real preset (cut to a
few layers, so the compute buffers are realistic: real widths and vocabularies), quantised to
Q8_0, is loaded by the real llama.cpp (in Workbench's worker, CPU backend) at
ctx {512, 4096, 32768} x flash attention {on, off} x KV cache {f16, q8_0}. llama.cpp's
"model/KV/compute/output buffer size" lines are the ground truth; the estimate comes from the
GGUF header alone (workbench.planner.estimate_memory).

    python tests/benchmarks/bench_memory_accuracy.py [--markdown docs/memory-accuracy.md]

Targets: median absolute error of the total <= 3 %, worst <= 5 %. Models are built once into
<cache>/bench-memory (about 3.5 GB on disk, ~4 minutes on 2 cores the first time).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbench.errors import BadInput  # noqa: E402

MiB = 1 << 20
MODELS = [  # (architecture, preset, layers): the smallest real preset of each architecture
    ("llama", "llama-3.2-1b", 2),
    ("qwen2", "qwen2.5-0.5b", 2),
    ("gemma3", "gemma-3-1b", 6),  # 6 layers: five sliding-window layers and one global
    ("phi3", "phi-3.5-mini", 2),
    ("qwen2moe", "qwen1.5-moe-a2.7b", 2),
]
CONTEXTS = (512, 4096, 32768)
FLASH = ("on", "off")
KV_TYPES = ("f16", "q8_0")
QUANT = "Q8_0"
PARTS = ("model", "kv", "compute", "output")
TARGET_MEDIAN, TARGET_WORST = 3.0, 5.0


@dataclass
class Row:
    arch: str
    preset: str
    ctx: int
    fa: str
    kv: str
    reported: dict[str, float] | None  # MiB per part; None: llama.cpp refused
    estimated: dict[str, float] | None
    refused_by_both: bool = False

    @property
    def error_pct(self) -> float | None:
        if not self.reported or not self.estimated:
            return None
        real = sum(self.reported.values())
        return 100.0 * (sum(self.estimated.values()) - real) / real


def build_models(directory: Path) -> dict[str, Path]:
    from workbench.synth import synthesize

    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for arch, preset, layers in MODELS:
        path = directory / f"{preset}-L{layers}-{QUANT.lower()}.gguf"
        if not path.exists():
            print(f"building {path.name} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            synthesize(path, arch, preset=preset, layers=layers, quant=QUANT, seed=0)
            print(f"  {path.stat().st_size / MiB:.0f} MiB in {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)
        paths[preset] = path
    return paths


def reported_buffers(engine, settings) -> dict[str, float]:
    """Load; the engine's load info carries llama.cpp's buffer sizes (MiB per part)."""
    from workbench.engine.defaults import resolve_load_settings

    info = engine.load(*resolve_load_settings(settings))
    engine.unload()
    sizes = info.buffers
    return {part: sizes.get(part, 0.0) for part in PARTS}


def measure(paths: dict[str, Path]) -> list[Row]:
    from workbench.engine.client import LocalEngine
    from workbench.engine.errors import ModelRejected
    from workbench.engine.settings import LoadSettings
    from workbench.gguf import read_header
    from workbench.planner import estimate_memory

    rows = []
    for arch, preset, _layers in MODELS:
        path = paths[preset]
        header = read_header(path)
        with LocalEngine() as engine:
            for ctx in CONTEXTS:
                for fa in FLASH:
                    for kv in KV_TYPES:
                        try:
                            plan = estimate_memory(header, n_ctx=ctx, flash_attn=fa,
                                                   kv_type=kv)
                            estimated = {"model": plan.weights_bytes / MiB,
                                         "kv": plan.kv_cache_bytes / MiB,
                                         "compute": plan.compute_bytes / MiB,
                                         "output": plan.output_bytes / MiB}
                        except BadInput:
                            estimated = None
                        try:
                            reported = reported_buffers(engine, LoadSettings(
                                str(path), n_ctx=ctx, flash_attn=fa, kv_type=kv, repack=False))
                        except ModelRejected:
                            reported = None
                        row = Row(arch, preset, ctx, fa, kv, reported, estimated,
                                  refused_by_both=reported is None and estimated is None)
                        rows.append(row)
                        print(f"{preset:20s} ctx {ctx:6d} fa {fa:3s} kv {kv:5s} "
                              + (f"error {row.error_pct:+.3f} %" if row.error_pct is not None
                                 else "refused" if row.refused_by_both else "MISMATCH"),
                              file=sys.stderr, flush=True)
    return rows


def summary(rows: list[Row]) -> dict[str, object]:
    errors = [abs(r.error_pct) for r in rows if r.error_pct is not None]
    return {
        "compared": len(errors),
        "refused_by_both": sum(r.refused_by_both for r in rows),
        "disagreements": sum(1 for r in rows if r.error_pct is None and not r.refused_by_both),
        "median_abs_error_pct": statistics.median(errors) if errors else None,
        "worst_abs_error_pct": max(errors) if errors else None,
    }


def machine() -> dict[str, object]:
    from workbench.hardware import detect_cpu, detect_ram

    cpu = detect_cpu()
    ram = detect_ram()
    try:
        from importlib.metadata import version

        llama_version = version("llama-cpp-python")
    except Exception:
        llama_version = None
    return {"cpu": cpu.model, "physical_cores": cpu.physical_cores,
            "logical_cores": cpu.logical_cores,
            "ram_gib": round((ram.total_bytes or 0) / (1 << 30), 1),
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "llama_cpp_python": llama_version}


def print_table(rows: list[Row], stats: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Estimated vs reported by llama.cpp (MiB, CPU backend)")
    for col in ("model", "ctx", "FA", "KV", "weights", "KV cache", "compute", "output",
                "reported", "estimated", "error"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        if r.reported and r.estimated:
            table.add_row(r.preset, str(r.ctx), r.fa, r.kv,
                          *(f"{r.reported[p]:.2f}" for p in PARTS),
                          f"{sum(r.reported.values()):.2f}", f"{sum(r.estimated.values()):.2f}",
                          f"{r.error_pct:+.3f} %")
        else:
            text = "both refuse" if r.refused_by_both else "DISAGREE"
            table.add_row(r.preset, str(r.ctx), r.fa, r.kv, text, "", "", "", "", "", "")
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    console.print(table)
    console.print("both refuse: llama.cpp needs flash attention for a quantized V cache, and "
                  "the estimator says so too")
    console.print(f"median |error| {stats['median_abs_error_pct']:.4f} %  "
                  f"(target {TARGET_MEDIAN} %), worst |error| "
                  f"{stats['worst_abs_error_pct']:.4f} % (target {TARGET_WORST} %), "
                  f"{stats['compared']} settings compared")


def markdown(rows: list[Row], stats: dict[str, object], info: dict[str, object],
             seconds: float) -> str:
    lines = [
        "| model (preset, layers) | ctx | FA | KV | weights | KV cache | compute | output "
        "| reported total | estimated total | error |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    layers = {preset: n for _, preset, n in MODELS}
    for r in rows:
        name = f"{r.preset}, {layers[r.preset]}"
        if r.reported and r.estimated:
            lines.append(
                f"| {name} | {r.ctx} | {r.fa} | {r.kv} | "
                + " | ".join(f"{r.reported[p]:.2f}" for p in PARTS)
                + f" | {sum(r.reported.values()):.2f} | {sum(r.estimated.values()):.2f} | "
                f"{r.error_pct:+.3f} % |")
        else:
            lines.append(f"| {name} | {r.ctx} | {r.fa} | {r.kv} | refused by llama.cpp and "
                         "by the estimator (quantized V needs flash attention) | | | | | | |")
    lines += [
        "",
        f"- settings compared: {stats['compared']} (plus {stats['refused_by_both']} that "
        "llama.cpp and the estimator both refuse)",
        f"- median absolute error of the total: **{stats['median_abs_error_pct']:.4f} %** "
        f"(target {TARGET_MEDIAN} %)",
        f"- worst absolute error of the total: **{stats['worst_abs_error_pct']:.4f} %** "
        f"(target {TARGET_WORST} %)",
        f"- machine: {info['cpu']}, {info['physical_cores']} physical / "
        f"{info['logical_cores']} logical cores, {info['ram_gib']} GiB RAM, {info['os']}, "
        f"Python {info['python']}, llama-cpp-python {info['llama_cpp_python']}",
        f"- run time: {seconds:.0f} s (models already built)",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, help="where to build/keep the models")
    parser.add_argument("--markdown", type=Path, help="write the results table (Markdown)")
    parser.add_argument("--json", type=Path, help="write every row as JSON")
    args = parser.parse_args()
    from workbench import paths

    directory = args.models_dir or paths.cache_dir() / "bench-memory"
    model_paths = build_models(directory)
    started = time.monotonic()
    rows = measure(model_paths)
    seconds = time.monotonic() - started
    stats = summary(rows)
    info = machine()
    print_table(rows, stats)
    if args.markdown:
        args.markdown.write_text(markdown(rows, stats, info, seconds))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "summary": stats,
                                         "rows": [r.__dict__ for r in rows]}, indent=2))
    ok = (stats["disagreements"] == 0 and stats["median_abs_error_pct"] is not None
          and stats["median_abs_error_pct"] <= TARGET_MEDIAN
          and stats["worst_abs_error_pct"] <= TARGET_WORST)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
