"""``workbench chats``: the stored Chat conversations: list (or search), show, export, rm."""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.terminal_text import rich_text, terminal_safe


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "chats", help="the conversations kept by the Chat page: list, show, export, delete",
        description="Conversations are kept in the Workbench database (in the data "
        "directory). Without an action, lists them.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION",
                                    parser_class=type(parser))
    listing = actions.add_parser("list", help="the conversations, most recent first")
    listing.add_argument("-s", "--search", metavar="TEXT",
                         help="only those whose title or messages contain TEXT")
    listing.add_argument("-n", "--limit", type=int, metavar="N", help="at most N of them")
    add_json_flag(listing)
    listing.set_defaults(func=_list)
    show = actions.add_parser("show", help="one conversation, with its messages and metrics")
    show.add_argument("id", type=int)
    add_json_flag(show)
    show.set_defaults(func=_show)
    export = actions.add_parser("export", help="write a conversation as Markdown or JSON")
    export.add_argument("id", type=int)
    export.add_argument("--format", choices=("md", "json"), default="md",
                        help="md (readable, the default) or json (everything, metrics too)")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="write to FILE instead of standard output")
    export.set_defaults(func=_export)
    remove = actions.add_parser("rm", help="delete a conversation and its messages")
    remove.add_argument("id", type=int)
    add_json_flag(remove)
    remove.set_defaults(func=_remove)
    parser.set_defaults(func=lambda args: _list(args))


def _connect() -> sqlite3.Connection:
    from workbench.store.db import connect

    return connect()


def _list(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.store import conversations as store

    limit = getattr(args, "limit", None)
    if limit is not None and limit < 1:
        raise BadInput("--limit must be at least 1")
    with closing(_connect()) as connection:
        summaries = store.search(connection, getattr(args, "search", None) or "", limit=limit)
    rows = [dataclasses.asdict(summary) for summary in summaries]

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        if not rows:
            console.print("no conversations match" if getattr(args, "search", None)
                          else "no conversations yet (the Chat page keeps what you send)")
            return
        table = Table(show_header=True, header_style="bold")
        table.add_column("id", justify="right", no_wrap=True)
        table.add_column("title", overflow="fold")
        table.add_column("model", overflow="fold")
        table.add_column("messages", justify="right")
        table.add_column("changed (UTC)", no_wrap=True)
        for row in rows:
            table.add_row(str(row["id"]), rich_text(row["title"]),
                          rich_text(row["model_name"] or "-"),
                          str(row["message_count"]), row["updated_at"].replace("T", " ")[:16])
        console.print(table)

    emit(args, rows, human)
    return 0


def _show(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.present.conversation_export import export_markdown
    from workbench.store import conversations as store

    with closing(_connect()) as connection:
        conversation = store.get(connection, args.id)
    emit(args, dataclasses.asdict(conversation),
         lambda: sys.stdout.write(terminal_safe(export_markdown(conversation))))
    return 0


def _export(args: argparse.Namespace) -> int:
    from workbench.present.conversation_export import export_json, export_markdown
    from workbench.store import conversations as store

    with closing(_connect()) as connection:
        conversation = store.get(connection, args.id)
    text = (export_json(conversation) if args.format == "json"
            else export_markdown(conversation))
    if not args.output:  # the exact text into a pipe or file; controls made visible on a terminal
        sys.stdout.write(terminal_safe(text) if sys.stdout.isatty() else text)
        return 0
    target = Path(args.output)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as err:
        raise BadInput(f"cannot write {target}: {err.strerror or err}") from err
    print(f"workbench: wrote conversation {conversation.id} to {target}", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.store import conversations as store

    with closing(_connect()) as connection:
        title = store.get(connection, args.id).title
        store.delete(connection, args.id)
    emit(args, {"deleted": args.id, "title": title},
         lambda: print(f"workbench: deleted conversation {args.id} ({terminal_safe(title)})",
                       file=sys.stderr))
    return 0
