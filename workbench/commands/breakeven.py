"""``workbench breakeven``: when does self-hosting beat a pay-per-token API?"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput

if TYPE_CHECKING:
    from workbench.costs.breakeven import BreakEvenResult

PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "breakeven", help="monthly cost of an API vs a self-hosted server, and the break-even "
        "volume", description="api = tokens/1e6 x price; hosting = cost per hour x 720 per "
        "server; capacity = tok/s x 720 h x 3600 x utilization. Throughput defaults to this "
        "machine's newest measurements (the latest answers of the most recently measured model "
        "in Chat, workbench compare and workbench bench). Amounts take suffixes: 50M, 2.5k, 1e9.")
    parser.add_argument("--monthly-tokens", required=True, help="tokens a month, e.g. 50M")
    price = parser.add_mutually_exclusive_group(required=True)
    price.add_argument("--api-price", help="API price in USD per 1M tokens")
    price.add_argument("--api-model", metavar="SPEC",
                       help="take the price from the pricing table, e.g. openai:gpt-4o-mini or "
                       "profile:groq/llama-3.3-70b-versatile")
    parser.add_argument("--input-share", type=float, default=0.0,
                        help="with --api-model: the share of the tokens that are prompt tokens "
                        "(blends input and output prices; default 0: output price)")
    parser.add_argument("--hosting-per-hour", required=True,
                        help="server cost in USD per hour (rental, or amortised hardware)")
    parser.add_argument("--tokens-per-s", help="server throughput (default: measured here)")
    parser.add_argument("--utilization", type=float, default=1.0,
                        help="share of the month the server is busy, 0-1 (default 1)")
    parser.add_argument("--power-watts", type=float, default=0.0,
                        help="the server's power draw, priced at --electricity-price")
    parser.add_argument("--electricity-price", type=float, metavar="USD_PER_KWH",
                        help="default: the settings (0.15 if not set)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _api_price(args: argparse.Namespace) -> tuple[float, str]:
    from workbench.costs.breakeven import parse_amount
    from workbench.costs.pricing import load_pricing
    from workbench.present.numbers import plain
    from workbench.providers.registry import parse_target
    from workbench.store.settings import load_settings

    if args.api_price is not None:
        return parse_amount(args.api_price), "given"
    if not 0 <= args.input_share <= 1:
        raise BadInput("--input-share must be between 0 and 1")
    spec = parse_target(args.api_model)
    settings = load_settings()
    if spec.kind == "local":
        raise BadInput("--api-model takes an API model (openai:..., anthropic:..., ...)")
    if spec.kind == "profile":
        from workbench.providers.profiles import get_profile

        provider = get_profile(settings, spec.profile or "").pricing_provider
    else:
        provider = PROVIDERS[spec.kind]
    table = load_pricing(overrides=settings.pricing_overrides)
    price = table.lookup(provider, spec.model)
    if price is None:
        raise BadInput(f"no price for {provider}/{spec.model} in the pricing table: give "
                       "--api-price, or add one with `workbench profiles set-price`")
    share = args.input_share
    blended = share * price.input + (1 - share) * price.output
    return blended, (f"{price.key} ({price.origin}, {price.date or 'no date'}): "
                     f"{share:.0%} input at ${plain(price.input)} + {1 - share:.0%} output at "
                     f"${plain(price.output)}")


def run(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.costs.breakeven import BreakEvenInputs, break_even, parse_amount
    from workbench.costs.measured import measurement_for
    from workbench.store import db
    from workbench.store.settings import load_settings

    api_price, price_source = _api_price(args)
    throughput_source = "given"
    if args.tokens_per_s is not None:
        tokens_per_s = parse_amount(args.tokens_per_s)
    else:
        with db.connect() as connection:
            measured = measurement_for(connection)
        if measured is None or measured.tokens_per_s is None:
            raise BadInput("no measured throughput on this machine yet: give --tokens-per-s, "
                           "or run `workbench bench MODEL` first")
        tokens_per_s = measured.tokens_per_s
        throughput_source = f"measured here: {measured.key}, {measured.speed_basis()}"
    electricity = args.electricity_price
    if electricity is None:
        electricity = load_settings().electricity_price
    inputs = BreakEvenInputs(
        monthly_tokens=parse_amount(args.monthly_tokens), api_usd_per_1m=api_price,
        hosting_usd_per_hour=parse_amount(args.hosting_per_hour), tokens_per_s=tokens_per_s,
        utilization=args.utilization, power_watts=args.power_watts,
        electricity_usd_per_kwh=electricity if args.power_watts else 0.0)
    result = break_even(inputs)
    notes = []
    if throughput_source != "given":
        notes.append("throughput measured on this machine for one request at a time; a server "
                     "batching many requests (vLLM, llama-server -np) serves several times more")
    document = {**result.to_dict(), "api_price_source": price_source,
                "throughput_source": throughput_source, "notes": notes}
    emit(args, document, lambda: _print(result, price_source, throughput_source, notes))
    return 0


def _print(result: BreakEvenResult, price_source: str, throughput_source: str,
           notes: list[str]) -> None:
    from workbench.present.numbers import format_rate, money, number

    i = result.inputs
    servers = f"{result.servers_needed} server{'s' if result.servers_needed > 1 else ''}"
    lines = [
        f"API:          {money(result.api_monthly_usd)} a month "
        f"({money(i.api_usd_per_1m)} per 1M tokens; {price_source})",
        f"Self-hosted:  {money(result.hosting_monthly_usd)} a month "
        f"({servers} at {money(i.cost_per_hour)} an hour)",
        f"Capacity:     {number(result.capacity_tokens_per_month)} tokens a month per server "
        f"({format_rate(i.tokens_per_s)}, {i.utilization:.0%} busy; {throughput_source})",
        f"At capacity:  {money(result.self_host_usd_per_1m_at_capacity)} per 1M tokens",
        f"Break-even:   {number(result.break_even_tokens_per_month)} tokens a month"
        + ("" if result.break_even_reachable else " (more than one server can make)"),
        "",
        result.verdict,
    ]
    print("\n".join(lines))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
