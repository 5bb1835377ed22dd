"""``workbench recommend``: the catalog models this machine runs, best first."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput

if TYPE_CHECKING:
    from workbench.hardware import HardwareReport
    from workbench.planner.recommend import Recommendation


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag
    from workbench.planner.defaults import DEFAULT_MIN_TOKENS_PER_S, TASKS

    parser = subparsers.add_parser(
        "recommend",
        help="rank the curated models for this machine (fit, speed, quality)",
        description="For every model of the curated catalog (models/) and each of its quant "
                    "files: the memory plan on this machine's GPUs and RAM, the predicted "
                    "generation speed and the expected quality (published MMLU-Pro less the "
                    "quant type's measured loss). Usable (>= the speed floor) first, then "
                    "full GPU > partial offload > CPU only, then quality. Works offline.",
    )
    parser.add_argument("--task", choices=TASKS, help="only models tagged for this task")
    parser.add_argument("--ctx", type=int, default=4096, help="context length to plan for")
    parser.add_argument("--limit", type=int, default=None, help="show at most N models")
    parser.add_argument("--min-tps", type=float, default=DEFAULT_MIN_TOKENS_PER_S,
                        help="usable-speed floor in generated tok/s (default %(default)s)")
    parser.add_argument("--kv-type", default="f16", choices=("f16", "q8_0", "q4_0"),
                        help="KV cache type to plan with")
    parser.add_argument("--all-quants", action="store_true",
                        help="list every quant file, not only each model's best")
    parser.add_argument("--include-too-large", action="store_true",
                        help="also list files that do not fit (last)")
    parser.add_argument("--calibrate", action="store_true",
                        help="measure a speed calibration for each quant type that has none "
                             "yet (under a minute each on a quiet machine; cached afterwards)")
    parser.add_argument("--profile", action="store_true",
                        help="measure this CPU's kernel profile for the weight types the "
                             "catalog uses, if not stored yet (a few seconds per type, once)")
    parser.add_argument("--online", action="store_true",
                        help="read the best files' real headers from the Hub (HF_ENDPOINT) "
                             "with range requests and plan with them")
    parser.add_argument("--hardware", metavar="FILE",
                        help="plan for the machine described by this `workbench hw --json` file")
    parser.add_argument("--no-probe", action="store_true",
                        help="do not probe the llama.cpp build (GPUs are assumed usable)")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from rich.console import Console

    from workbench.commands.output import emit
    from workbench.planner.recommend import recommend
    from workbench.planner.speed import Predictor

    report = _hardware(args)
    console = Console(stderr=True)
    with console.status("planning") as status:
        if args.profile:
            status.update("measuring this CPU's kernel profile (once)")
        predictor = Predictor(calibrate_missing=args.calibrate, reference_only=True,
                              progress=lambda m: status.update(f"calibrating: {m}"),
                              profile_missing=args.profile)
        recs = recommend(report, task=args.task, ctx=args.ctx, min_tokens_per_s=args.min_tps,
                         limit=args.limit, per_entry=not args.all_quants,
                         include_too_large=args.include_too_large, kv_type=args.kv_type,
                         predictor=predictor, online=args.online,
                         progress=lambda m: status.update(m))
    emit(args, [r.to_dict() for r in recs], lambda: print_table(recs, report, args))
    return 0


def _hardware(args: argparse.Namespace) -> HardwareReport:
    from workbench.hardware import detect
    from workbench.planner.recommend import hardware_from_dict

    if args.hardware:
        try:
            data = json.loads(Path(args.hardware).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise BadInput(f"cannot read the hardware description {args.hardware}: {err}") \
                from None
        return hardware_from_dict(data)
    return detect(probe_llama=not args.no_probe)


def _gib(n: int | None) -> str:
    from workbench.present.numbers import in_unit

    return "-" if n is None else in_unit(n, "GiB")


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def print_table(recs: list[Recommendation], report: HardwareReport,
                args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from workbench.present.fit import fit_words
    from workbench.terminal_text import rich_text

    console = Console(file=sys.stdout, highlight=False, emoji=False)
    gpus = ", ".join(f"{g.name or g.vendor} ({_gib(g.vram_total_bytes)} GiB)"
                     for g in report.gpus) or "no GPU"
    ram = _gib(report.ram.total_bytes)
    title = (f"Models for this machine: {gpus}, {ram} GiB RAM; context {args.ctx}"
             + (f", task {args.task}" if args.task else ""))
    table = Table(title=rich_text(title), title_justify="left")
    for name, justify in (("#", "right"), ("model", "left"), ("quant", "left"),
                          ("file GiB", "right"), ("fit", "left"), ("GPU layers", "right"),
                          ("memory GiB (weights+KV+compute)", "right"),
                          ("gen tok/s", "right"), ("prompt tok/s", "right"),
                          ("quality", "right"), ("licence", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, r in enumerate(recs, 1):
        fit = fit_words(r.fit)
        m = r.memory
        memory = (f"{_gib(m.total_bytes)} ({_gib(m.weights_bytes)}+"
                  f"{_gib(m.kv_cache_bytes)}+{_gib(m.compute_bytes)})")
        quality = "-"
        if r.expected_quality is not None:
            quality = f"{r.expected_quality:.1f} MMLU-Pro"
        elif r.quality is not None:
            quality = f"({r.quality.score:g} {r.quality.metric})"
        speed = _rate(r.speed.tg_tokens_per_s)
        if r.speed.tg_tokens_per_s is not None:  # what the figure is, plainly
            speed = ({"upper bound": "≤ ", "rough": "~"}.get(r.speed.kind, "") + speed
                     + f" {r.speed.kind}")
        style = None if r.usable else "dim"
        table.add_row(
            str(i), rich_text(r.entry.name), rich_text(r.file.quant),
            _gib(r.file.size_bytes) + ("*" if r.file.computed else ""),
            Text(fit.short, style=fit.style), f"{r.n_gpu_layers}/{r.n_layers}", memory, speed,
            _rate(r.speed.pp_tokens_per_s), quality, rich_text(r.entry.licence), style=style)
    console.print(table)
    console.print(
        "fit: full GPU > partial offload > CPU only. Dimmed rows are below the "
        f"{args.min_tps:g} tok/s floor. * size computed from the architecture. Speed: "
        "measured (workbench bench), predicted (the model's graph priced by this CPU's "
        "kernel profile, or a synthetic-model calibration, exact or scaled), upper bound (no "
        "profile: bytes per token / memory bandwidth, not a prediction; llama.cpp is often "
        "much slower; `--profile` measures this CPU in seconds), rough (a GPU: 60% of its "
        "bandwidth assumed). "
        "Quality: published MMLU-Pro less the quant type's measured loss; other metrics in "
        "brackets are not compared.", style="dim")
