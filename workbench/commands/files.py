"""``workbench files REPO``: a repository's GGUF variants, with fit, memory and speed here."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput

if TYPE_CHECKING:
    from workbench.planner.variant_plan import VariantPlan


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "files",
        help="list a Hub repository's GGUF files and what fits this machine",
        description="List the GGUF files of a Hugging Face repository grouped by quant type "
                    "(split files as one entry), with the SHA-256 the download will be checked "
                    "against, and for each: whether it fits this machine (full GPU, partial "
                    "offload, CPU only, too large), the memory plan and the predicted speed. "
                    "Only the remote headers are read (HTTP range requests), never the weights.",
    )
    parser.add_argument("repo", metavar="REPO", help="a repository id, e.g. owner/name-GGUF")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    parser.add_argument("--ctx", type=int, default=4096, metavar="N",
                        help="context length to plan for (default: 4096)")
    parser.add_argument("--quant", metavar="Q",
                        help="plan only this quant type (the others are listed, not planned)")
    parser.add_argument("--no-plan", action="store_true",
                        help="list the files only (no header reads, no planning)")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.hub import HubConfig, plan_variants, repo_listing, resolve_token
    from workbench.hub.planning import budget_to_dict, machine_budget

    if not 256 <= args.ctx <= 1 << 24:
        raise BadInput("--ctx must be between 256 and 16777216")
    config = HubConfig.from_env()
    token = resolve_token()
    listing = repo_listing(args.repo, revision=args.revision, config=config, token=token)
    document = listing.to_dict()
    document["endpoint"] = config.endpoint
    plans: dict[str, Any] = {}
    if not args.no_plan and listing.variants:
        budget = machine_budget()
        document["machine"] = budget_to_dict(budget)
        document["ctx"] = args.ctx
        progress = None if args.json or not sys.stderr.isatty() else \
            (lambda msg: print(msg, file=sys.stderr))
        wanted = [v for v in listing.variants
                  if not args.quant or (v.quant or "").upper() == args.quant.upper()]
        if args.quant and not wanted:
            from workbench.hub.quant import describe

            raise BadInput(f"no {args.quant.upper()} variant; quant types here: "
                           f"{describe(listing.variants)}")
        plans = plan_variants(wanted, ctx=args.ctx, budget=budget, config=config,
                              token=token, progress=progress)
    for variant in document["variants"]:
        plan = plans.get(variant["name"])
        variant["plan"] = plan.to_dict() if plan is not None else None
    emit(args, document, lambda: print_human(document, plans))
    return 0


def _gib(n: int | None) -> str:
    from workbench.present.numbers import format_size

    return "-" if n is None else format_size(n)


def fit_text(plan: VariantPlan | None) -> str:
    from workbench.present.plans import variant_fit_cell

    text, style = variant_fit_cell(plan)
    return text if plan is None else f"[{style}]{text}[/{style}]"


def print_human(document: dict[str, Any], plans: dict[str, VariantPlan] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from workbench.present.plans import speed_text, variant_memory_cell
    from workbench.terminal_text import markup_escape as esc

    console = Console(highlight=False, emoji=False)
    gated = document.get("gated")
    console.print(f"[bold]{esc(document['repo_id'])}[/bold] @ {esc(document['revision'])} "
                  f"({esc((document.get('commit') or '?')[:10])}), licence "
                  f"{esc(document.get('license') or '?')}"
                  f"{', gated: ' + esc(gated) if gated else ''}")
    machine = document.get("machine")
    if machine:
        vram = ", ".join(_gib(v) for v in machine["free_vram_bytes"]) or "none"
        console.print(f"[dim]this machine: backend {esc(machine['backend'])}, free GPU memory "
                      f"{vram}, free RAM {_gib(machine['free_ram_bytes'])}; ctx "
                      f"{document.get('ctx')}[/dim]")
    if not document["variants"]:
        console.print("no .gguf files in this repository")
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("variant", overflow="fold")
    for column, justify in (("quant", "left"), ("size", "right"), ("files", "right"),
                            ("fit here", "left"), ("memory", "right"), ("gen tok/s", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    plans = plans or {}
    notes = []
    for v in document["variants"]:
        plan = plans.get(v["name"])
        memory = "-"
        speed = "-"
        if plan is not None and not plan.error:
            memory = variant_memory_cell(plan)
            if plan.tg_tokens_per_s:
                speed = speed_text(plan)  # marked: predicted, upper bound, rough, measured
        elif plan is not None:
            notes.append(f"{v['name']}: {plan.error}")
        name = esc(v["name"]) + ("" if v["complete"] else " [red](incomplete)[/red]")
        kind = " [dim](vision projector)[/dim]" if v["kind"] == "mmproj" else ""
        table.add_row(name + kind, esc(v.get("quant") or "-"), _gib(v.get("size")),
                      str(v["split_count"]), fit_text(plan), memory, speed)
    console.print(table)
    for note in notes:
        console.print(f"[dim]note: {esc(note)}[/dim]")
    speeds = [p.speed_note for p in plans.values() if p.speed_note]
    if speeds:
        console.print(f"[dim]speed: {esc(speeds[0])}[/dim]")
    console.print("[dim]download one with `workbench pull REPO --quant Q` or "
                  "`--file NAME`[/dim]")
