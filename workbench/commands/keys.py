"""``workbench keys``: API keys in the OS keyring (list shows where each comes from, never the
value; set reads the key from a hidden prompt or stdin, never from the command line)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from workbench.errors import BadInput


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "keys", help="manage API keys (stored in the OS keyring, never in files)",
        description="Keys are looked up in the environment first (OPENAI_API_KEY, "
        "ANTHROPIC_API_KEY, GEMINI_API_KEY, ...), then in the OS keyring. Names: openai, "
        "anthropic, gemini, and profile names (openrouter, groq, ...).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION",
                                    parser_class=type(parser))
    listing = actions.add_parser("list", help="which keys are set, and where from")
    add_json_flag(listing)
    listing.set_defaults(func=_list)
    setter = actions.add_parser("set", help="store a key (prompted, or read from stdin)")
    setter.add_argument("name", help="openai, anthropic, gemini or a profile name")
    setter.add_argument("--stdin", action="store_true", help="read the key from stdin")
    setter.set_defaults(func=_set)
    deleter = actions.add_parser("delete", help="remove a key from the keyring")
    deleter.add_argument("name")
    deleter.set_defaults(func=_delete)
    parser.set_defaults(func=lambda args: _list(args))


def _names() -> list[str]:
    from workbench.providers.profiles import all_profiles
    from workbench.store.settings import load_settings

    names = ["openai", "anthropic", "gemini"]
    try:
        profiles = all_profiles(load_settings())
    except BadInput:
        profiles = {}
    for profile in profiles.values():
        if profile.key not in names:
            names.append(profile.key)
    return names


def _list(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.store import secrets

    rows: list[dict[str, Any]] = [{"name": name, "source": secrets.key_status(name),
             "env_vars": list(secrets.env_vars_for(name))} for name in _names()]

    def human() -> None:
        for row in rows:
            where = row["source"] or "not set"
            print(f"{row['name']:<14} {where:<24} (env: {', '.join(row['env_vars'])})")

    emit(args, rows, human)
    return 0


def _set(args: argparse.Namespace) -> int:
    from workbench.store import secrets

    if args.stdin or not sys.stdin.isatty():
        value = sys.stdin.readline()
    else:
        value = getpass.getpass(f"API key for {args.name} (input hidden): ")
    secrets.set_api_key(args.name, value)
    print(f"workbench: stored the key for {args.name} in the OS keyring", file=sys.stderr)
    return 0


def _delete(args: argparse.Namespace) -> int:
    from workbench.store import secrets

    if secrets.delete_api_key(args.name):
        print(f"workbench: removed the key for {args.name}", file=sys.stderr)
        return 0
    raise BadInput(f"no key for {args.name} in the OS keyring")
