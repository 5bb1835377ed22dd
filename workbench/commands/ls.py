"""``workbench ls``: every local GGUF model (HF cache, your folders, LM Studio, Ollama, GPT4All,
Jan), read in place, with what its header says."""

from __future__ import annotations

import argparse
from typing import Any

from workbench.commands.lazy import LazyChoices


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "ls",
        help="list local GGUF models (HF cache, your folders, LM Studio, Ollama, GPT4All, Jan)",
        description="List every GGUF model on this machine: the Hugging Face cache (HF_HOME), "
                    "folders you add with --add-folder, and the model folders of LM Studio, "
                    "Ollama, GPT4All and Jan (read in place, never copied). Unfinished "
                    "downloads are marked partial, unreadable files broken.",
    )
    parser.add_argument("--source", action="append", choices=LazyChoices(_sources),
                        metavar="SOURCE", help="only this source (repeatable): %(choices)s")
    parser.add_argument("--add-folder", metavar="DIR", action="append", default=[],
                        help="add a folder to the library (remembered)")
    parser.add_argument("--remove-folder", metavar="DIR", action="append", default=[],
                        help="stop listing a folder you added")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def _sources() -> tuple[str, ...]:
    from workbench.hub.library import SOURCES  # the hub package imports httpx

    return SOURCES


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.hub import HubConfig, library

    for folder in args.add_folder:
        library.add_folder(folder)
    for folder in args.remove_folder:
        library.remove_folder(folder)
    config = HubConfig.from_env()
    models = library.scan_library(config=config, sources=args.source or library.SOURCES)
    counts: dict[str, int] = {}
    for m in models:
        counts[m.source] = counts.get(m.source, 0) + 1
    document = {"models": [m.to_dict() for m in models],
                "folders": [str(f) for f in library.folders()],
                "hf_cache": str(config.cache_dir), "counts": counts,
                "total_bytes": sum(m.size for m in models)}
    emit(args, document, lambda: print_human(document))
    return 0


def _params(n: int | None) -> str:
    from workbench.present.numbers import format_count

    return format_count(n) if n else "-"


def print_human(document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from workbench.present.numbers import format_size as _size
    from workbench.terminal_text import markup_escape as esc
    from workbench.terminal_text import rich_text

    console = Console(highlight=False, emoji=False)
    models = document["models"]
    if not models:
        console.print(f"no GGUF models found (HF cache: {esc(document['hf_cache'])}); download one "
                      "with `workbench pull REPO` or add a folder with `workbench ls "
                      "--add-folder DIR`")
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("id", no_wrap=True, min_width=10)
    table.add_column("name", overflow="fold",
                     min_width=min(28, max(len(m["name"]) for m in models)))
    for column, justify in (("quant", "left"), ("model", "left"), ("ctx", "right"),
                            ("size", "right"), ("source", "left"), ("status", "left"),
                            ("used", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    style = {"ok": "green", "partial": "yellow", "broken": "red"}
    for m in models:
        status = f"[{style.get(m['status'], 'white')}]{m['status']}[/]"
        model = " ".join(x for x in (m.get("architecture"), _params(m.get("parameters")))
                         if x and x != "-") or "-"
        table.add_row(*(rich_text(cell) for cell in (
            m["id"], m["name"], m.get("quant") or "-", model,
            str(m.get("context_length") or "-"), _size(m["size"]), m["source"])),
            status, (m.get("last_used") or "-")[:10])
    console.print(table)
    for m in models:
        if m.get("problem"):
            console.print(rich_text(f"{m['id']} {m['name']}: {m['problem']}", style="dim"))
    console.print(f"[dim]{len(models)} model(s), {_size(document['total_bytes'])}; HF cache "
                  f"{esc(document['hf_cache'])}[/dim]")
