"""``workbench bench MODEL...``: llama-bench's pp/tg tests through the Workbench worker."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from workbench.commands.output import add_json_flag, emit
from workbench.commands.run import add_lora_option, add_model_options, load_settings_from
from workbench.engine.bench import BenchResult, bench_context
from workbench.engine.bench_runner import BenchProgress, run_benchmarks
from workbench.engine.protocol import LoadedModel
from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput
from workbench.present.numbers import format_size
from workbench.terminal_text import markup_escape, rich_text, terminal_safe


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure prompt processing and generation speed (llama-bench style)",
        description="Runs llama-bench's tests in the Workbench worker: a warm-up, then "
        "N repetitions of prompt processing (pp) and generation (tg). Several models give one "
        "comparison table. --json prints one object for one model, a list for several.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="GGUF files")
    parser.add_argument("--prompt-tokens", type=int, default=512, help="pp test size (0: skip)")
    parser.add_argument("--gen-tokens", type=int, default=128, help="tg test size (0: skip)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--no-store", action="store_true", help="do not save the results")
    add_model_options(parser)
    add_lora_option(parser)
    add_json_flag(parser)
    parser.set_defaults(func=run, ctx=0)


def run(args: argparse.Namespace) -> int:
    if args.prompt_tokens < 0 or args.gen_tokens < 0 or args.prompt_tokens + args.gen_tokens == 0:
        raise BadInput("nothing to measure: give --prompt-tokens and/or --gen-tokens > 0")
    if args.repetitions < 1:
        raise BadInput("--repetitions must be at least 1")
    results = bench_all(args)
    document: Any = results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results]
    emit(args, document, lambda: _print_table(results))
    return 0


def settings_for(args: argparse.Namespace, path: str) -> LoadSettings:
    """The load settings of one model from the command's options."""
    args.model = path
    if not args.ctx:
        args.ctx = bench_context(args.prompt_tokens, args.gen_tokens)
    return load_settings_from(args)


def bench_all(args: argparse.Namespace) -> list[BenchResult]:
    """Measure every model (the core's bench runner), stored unless ``--no-store``; the
    progress on a stderr status line."""
    from workbench.engine.client import LocalEngine
    from workbench.hub.library import record_use
    from workbench.store import db

    settings = [settings_for(args, path) for path in args.models]
    console = Console(stderr=True)
    with console.status(f"loading {markup_escape(args.models[0])}") as status:

        def loaded(_index: int, info: LoadedModel) -> None:
            for note in info.notes:
                print(f"workbench: {terminal_safe(note)}", file=sys.stderr)

        def progress(step: BenchProgress) -> None:
            shown = markup_escape(step.path)
            label = {"load": "loading", "warmup": "warm-up", "pp": f"pp{args.prompt_tokens}",
                     "tg": f"tg{args.gen_tokens}"}[step.stage]
            status.update(f"{shown}: {label} {step.rep}/{args.repetitions}" if step.rep else
                          f"{shown}: {label}")

        report = run_benchmarks(
            settings, pp_tokens=args.prompt_tokens, tg_tokens=args.gen_tokens,
            repetitions=args.repetitions, connect=None if args.no_store else db.connect,
            on_progress=progress, on_loaded=loaded,
            engine_factory=lambda: LocalEngine(on_model_used=record_use))  # "last used"
    return report.results


def _fmt(mean: float | None, sd: float | None) -> str:
    return "-" if mean is None else f"{mean:.2f} ± {sd or 0:.2f}"


def _print_table(results: list[BenchResult]) -> None:
    table = Table(title="workbench bench (tok/s, mean ± sd)")
    for column in ("model", "quant", "size", "threads", "fa", "repack", "pp", "tg"):
        table.add_column(column, justify="right" if column in ("pp", "tg", "size") else "left")
    for r in results:
        size = r.model.get("model_size_bytes") or 0
        table.add_row(
            rich_text(r.model.get("name") or r.model_path), rich_text(r.model.get("quant")),
            format_size(size), str(r.settings["threads"]), r.settings["flash_attn"],
            "on" if r.settings["repack"] else "off",
            f"pp{r.pp_tokens} {_fmt(r.pp_tokens_per_s, r.pp_sd)}" if r.pp_tokens else "-",
            f"tg{r.tg_tokens} {_fmt(r.tg_tokens_per_s, r.tg_sd)}" if r.tg_tokens else "-",
        )
    Console().print(table)
