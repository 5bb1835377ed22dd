"""``workbench profiles``: saved OpenAI-compatible endpoints, and the prices Workbench uses."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.commands.output import add_json_flag, emit
from workbench.costs.pricing import load_pricing, price_from_row
from workbench.errors import BadInput
from workbench.providers.profiles import (
    PRESETS,
    SELF_HOSTED,
    Profile,
    all_profiles,
    remove_profile,
    save_profile,
)
from workbench.store.secrets import key_status
from workbench.store.settings import load_settings, save_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "profiles", help="OpenAI-compatible endpoints (OpenRouter, Groq, vLLM, Ollama...) and "
        "prices", description="Use a profile as a target with profile:NAME/MODEL. Presets: "
        + ", ".join(sorted(PRESETS)) + ". Keys are never stored in a profile: "
        "`workbench keys set NAME`.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    listing = actions.add_parser("list", help="presets and saved profiles")
    add_json_flag(listing)
    listing.set_defaults(func=_list)
    add = actions.add_parser("add", help="save a profile (or replace one)")
    add.add_argument("name")
    add.add_argument("base_url", help="e.g. http://127.0.0.1:8000/v1")
    add.add_argument("--pricing-provider", default=SELF_HOSTED,
                     help="whose prices apply (a provider in the pricing table; default: "
                     "self-hosted, i.e. not priced per token)")
    add.add_argument("--no-key", action="store_true", help="the endpoint needs no API key")
    add.add_argument("--key-name", help="keyring name of its key (default: the profile name)")
    add.add_argument("--no-stream-usage", action="store_true",
                     help="do not send stream_options (for endpoints that reject it)")
    add.add_argument("--description", default="")
    add.set_defaults(func=_add)
    remove = actions.add_parser("remove", help="delete a saved profile")
    remove.add_argument("name")
    remove.set_defaults(func=_remove)
    prices = actions.add_parser("prices", help="the pricing table, with your overrides")
    prices.add_argument("--provider", help="only this provider")
    add_json_flag(prices)
    prices.set_defaults(func=_prices)
    set_price = actions.add_parser("set-price", help="override or add a price (USD per 1M)")
    set_price.add_argument("model", metavar="PROVIDER/MODEL")
    set_price.add_argument("--input", type=float, required=True)
    set_price.add_argument("--output", type=float, required=True)
    set_price.add_argument("--cached-input", type=float)
    set_price.add_argument("--cache-write", type=float)
    set_price.set_defaults(func=_set_price)
    unset_price = actions.add_parser("unset-price", help="drop a price override")
    unset_price.add_argument("model", metavar="PROVIDER/MODEL")
    unset_price.set_defaults(func=_unset_price)
    parser.set_defaults(func=lambda args: _list(args))


def _list(args: argparse.Namespace) -> int:
    profiles = all_profiles(load_settings())
    rows = [{"name": p.name, "base_url": p.base_url, "pricing_provider": p.pricing_provider,
             "requires_key": p.requires_key, "key": key_status(p.key) if p.requires_key else None,
             "on_this_machine": p.is_local, "preset": p.preset and p.name not in
             load_settings().profiles, "description": p.description}
            for p in profiles.values()]

    def human() -> None:
        for row in rows:
            key = (row["key"] or "no key set") if row["requires_key"] else "no key needed"
            where = "this machine" if row["on_this_machine"] else "remote"
            print(f"{row['name']:<14} {row['base_url']:<44} {where:<13} {key}")

    emit(args, rows, human)
    return 0


def _add(args: argparse.Namespace) -> int:
    settings = load_settings()
    profile = Profile(args.name, args.base_url, args.pricing_provider,
                      requires_key=not args.no_key, key_name=args.key_name,
                      stream_usage=not args.no_stream_usage, description=args.description)
    save_profile(settings, profile)
    path = save_settings(settings)
    print(f"workbench: saved profile {profile.name} in {path}", file=sys.stderr)
    if profile.requires_key and not key_status(profile.key):
        print(f"workbench: set its key with `workbench keys set {profile.key}`",
              file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not remove_profile(settings, args.name):
        raise BadInput(f"no saved profile named {args.name!r}"
                       + (" (presets cannot be removed)" if args.name in PRESETS else ""))
    save_settings(settings)
    return 0


def _prices(args: argparse.Namespace) -> int:
    settings = load_settings()
    table = load_pricing(overrides=settings.pricing_overrides)
    rows = [p.to_dict() for p in table.all()
            if not args.provider or p.provider == args.provider.lower()]

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        from workbench.present.numbers import plain

        grid = Table(title=f"USD per 1M tokens (table of {table.updated}; check the sources)")
        for column in ("provider", "model", "input", "cached", "output", "date / origin"):
            grid.add_column(column, justify="right" if column in (
                "input", "cached", "output") else "left")
        for row in rows:
            cached = "" if row["cached_input"] is None else plain(row["cached_input"])
            origin = "your override" if row["origin"] == "override" else row["date"]
            grid.add_row(row["provider"], row["model"], plain(row["input"]), cached,
                         plain(row["output"]), origin)
        Console().print(grid)

    emit(args, rows, human)
    return 0


def _split(model: str) -> tuple[str, str]:
    provider, _, name = model.partition("/")
    if not provider or not name:
        raise BadInput(f"use PROVIDER/MODEL (e.g. openai/gpt-4o-mini), not {model!r}")
    return provider.lower(), name


def _set_price(args: argparse.Namespace) -> int:
    provider, name = _split(args.model)
    row = {"input": args.input, "output": args.output}
    if args.cached_input is not None:
        row["cached_input"] = args.cached_input
    if args.cache_write is not None:
        row["cache_write"] = args.cache_write
    price_from_row({"provider": provider, "model": name, **row}, origin="override")  # validate
    settings = load_settings()
    settings.pricing_overrides[f"{provider}/{name}"] = row
    save_settings(settings)
    return 0


def _unset_price(args: argparse.Namespace) -> int:
    provider, name = _split(args.model)
    settings = load_settings()
    if settings.pricing_overrides.pop(f"{provider}/{name}", None) is None:
        raise BadInput(f"no price override for {provider}/{name}")
    save_settings(settings)
    return 0
