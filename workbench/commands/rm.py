"""``workbench rm MODEL``: delete a local model (asks first unless --yes)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.errors import BadInput


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "rm",
        help="delete a local model (by id, name or path from `workbench ls`)",
        description="Delete a model's files (all shards). In the Hugging Face cache the blob "
                    "and every snapshot link to it go. Ollama's and Jan's models are left to "
                    "those apps (the message says how to remove them there).",
    )
    parser.add_argument("model", metavar="MODEL", help="an id, name or path from `workbench ls`")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.hub import HubConfig, library
    from workbench.hub.errors import LibraryError
    from workbench.terminal_text import terminal_safe

    config = HubConfig.from_env()
    model = library.find_model(args.model, library.scan_library(config=config))
    if not model.deletable:
        raise LibraryError(f"{model.name}: {model.delete_note or 'cannot be deleted here'}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise BadInput(f"refusing to delete {model.name} without confirmation: pass --yes")
        from workbench.present.numbers import format_size

        size = format_size(model.size)
        answer = input(terminal_safe(f"Delete {model.name} ({size}, {model.source}: "
                                     f"{model.path})? {model.delete_note or ''} [y/N] "))
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1
    deleted = library.delete_model(model, config=config)
    document = {"model": model.to_dict(), "deleted": deleted}
    emit(args, document,
         lambda: print(terminal_safe(f"deleted {model.name} ({len(deleted)} file(s) and "
                                     "links)")))
    return 0
