"""``workbench search QUERY``: GGUF repositories on the Hugging Face Hub."""

from __future__ import annotations

import argparse
from typing import Any

from workbench.commands.lazy import LazyChoices
from workbench.errors import BadInput


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "search",
        help="search the Hugging Face Hub for GGUF models",
        description="List GGUF repositories on the Hugging Face Hub whose name contains QUERY "
                    "(HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are honoured). See a "
                    "repository's files and what fits this machine with `workbench files REPO`.",
    )
    parser.add_argument("query", metavar="QUERY", help="text in the repository name")
    parser.add_argument("--limit", type=int, default=20, metavar="N",
                        help="at most N results (default: 20)")
    parser.add_argument("--sort", choices=LazyChoices(_sorts), default="downloads",
                        metavar="ORDER", help="order: %(choices)s (default: downloads)")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def _sorts() -> tuple[str, ...]:
    from workbench.hub.remote import SORTS  # the hub client imports httpx

    return tuple(SORTS)


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.hub import HubConfig, search_models

    if not 1 <= args.limit <= 1000:
        raise BadInput("--limit must be between 1 and 1000")
    config = HubConfig.from_env()
    results = search_models(args.query, limit=args.limit, sort=args.sort, config=config)
    document = {"query": args.query, "endpoint": config.endpoint, "sort": args.sort,
                "results": [r.to_dict() for r in results]}
    emit(args, document, lambda: print_human(document))
    return 0


def _count(n: int | None) -> str:
    from workbench.present.numbers import format_count

    return "-" if n is None else format_count(n)


def print_human(document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from workbench.terminal_text import markup_escape, rich_text

    console = Console(highlight=False, emoji=False)
    results = document["results"]
    if not results:
        console.print(rich_text(f"no GGUF repositories match {document['query']!r}"))
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("repository", overflow="fold", min_width=max(
        len(r["repo_id"]) for r in results) if len(results) < 50 else None)
    for column, justify in (("downloads", "right"), ("likes", "right"), ("updated", "left"),
                            ("params", "right"), ("arch", "left"), ("access", "left"),
                            ("licence", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in results:
        n = r.get("parameters")
        params = _count(n) if n else "-"
        gated = r.get("gated")
        access = f"gated ({gated})" if gated else "open"
        table.add_row(*(rich_text(cell) for cell in (
            r["repo_id"], _count(r.get("downloads")), _count(r.get("likes")),
            (r.get("updated") or "-")[:10], params, r.get("architecture") or "-",
            access, r.get("license") or "-")))
    console.print(table)
    console.print(f"[dim]{len(results)} result(s) from {markup_escape(document['endpoint'])}; "
                  "see the files "
                  "of one with `workbench files REPO`[/dim]")
