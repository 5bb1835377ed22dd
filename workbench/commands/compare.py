"""``workbench compare "PROMPT" --target ... --target ...``: one prompt, several targets, side by
side, with the same metrics for each. Also ``--vote RUN CHOICE`` and ``--scores``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput, WorkbenchError
from workbench.terminal_text import markup_escape, rich_text, terminal_safe

if TYPE_CHECKING:  # imported by the handler: the providers and the store are not needed to start
    from collections.abc import Callable

    from workbench.compare import store as compare_store
    from workbench.compare.runner import CompareEvent
    from workbench.providers.base import AnswerResult, Target

IDENTITY = ("target", "label", "provider", "model", "destination")


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag
    from workbench.commands.run import add_chat_format_option, add_model_options

    parser = subparsers.add_parser(
        "compare",
        help="send one prompt to 1-4 targets at once and compare answers, speed and cost",
        description="Targets: local:PATH (a GGUF file; local:PATH+lora:ADAPTER[@SCALE] with "
        "a LoRA adapter, repeatable), openai:MODEL, anthropic:MODEL, "
        "gemini:MODEL, profile:NAME/MODEL (see `workbench profiles list`). Keys come from the "
        "environment (OPENAI_API_KEY, ...) or the OS keyring (`workbench keys set`). Before "
        "anything is sent, the command says where each prompt goes. --json prints a list with "
        "one object per target.",
    )
    parser.add_argument("prompt", nargs="?", help="the user message ('-' reads stdin)")
    parser.add_argument("--target", "-t", action="append", default=[], metavar="SPEC",
                        help="a target (repeat for up to 4)")
    parser.add_argument("--system", help="a system prompt (sent to every target)")
    add_chat_format_option(parser, "local models")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default: each provider's own)")
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--blind", action="store_true",
                        help="hide which target wrote which answer until you vote")
    parser.add_argument("--no-save", action="store_true", help="do not store the run")
    parser.add_argument("--export", metavar="FILE", help="also write the results (.json, .md)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds without data before a cloud request fails")
    parser.add_argument("--electricity-price", type=float, metavar="USD_PER_KWH",
                        help="price local energy at this rate (default: the settings)")
    parser.add_argument("--offline", action="store_true",
                        help="block every non-loopback connection (cloud targets unavailable)")
    parser.add_argument("--vote", nargs=2, metavar=("RUN", "CHOICE"),
                        help="vote on a stored run: the best answer's letter, or 'tie'")
    parser.add_argument("--show", type=int, metavar="RUN", help="show a stored run")
    parser.add_argument("--scores", action="store_true",
                        help="win/tie/loss tally and Bradley-Terry ratings of all votes")
    add_model_options(parser)
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.compare import store as compare_store
    from workbench.store import db
    from workbench.store.secrets import install_log_redaction

    install_log_redaction()
    if args.scores:
        return _scores(args)
    if args.vote:
        return _vote(args)
    if args.show is not None:
        with db.connect() as connection:
            stored = compare_store.load_run(connection, args.show)
        if args.export:
            _export(Path(args.export), stored)
        return _show(args, stored)
    return _compare(args)


# -- running a comparison ---------------------------------------------------------------------
def _compare(args: argparse.Namespace) -> int:
    from workbench.commands.run import load_settings_from
    from workbench.compare import store as compare_store
    from workbench.compare.runner import MAX_TARGETS, CompareSession, build_messages
    from workbench.costs.pricing import load_pricing
    from workbench.evals.runner import run_document
    from workbench.hub.library import record_use
    from workbench.net.offline import enable_guard, is_offline
    from workbench.providers.base import Params, Target, failed_result
    from workbench.providers.registry import parse_target
    from workbench.routing.targets import build_any_target
    from workbench.store import db
    from workbench.store.settings import load_settings

    if not args.prompt:
        raise BadInput("give a prompt (or --vote / --show / --scores)")
    if not args.target:
        raise BadInput("give at least one --target (e.g. --target local:model.gguf "
                       "--target openai:gpt-4o-mini)")
    if len(args.target) > MAX_TARGETS:
        raise BadInput(f"compare at most {MAX_TARGETS} targets at once")
    if args.blind and args.no_save:
        raise BadInput("blind runs are stored so that you can vote on them: drop --no-save")
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    messages = build_messages(prompt, args.system)
    params = Params(max_tokens=args.max_tokens, temperature=args.temperature,
                    top_p=args.top_p, seed=args.seed)
    settings = load_settings()
    if args.electricity_price is not None:
        if args.electricity_price < 0:
            raise BadInput("--electricity-price must be >= 0")
        settings.electricity_usd_per_kwh = args.electricity_price
    if args.offline or is_offline():
        enable_guard()
        print("workbench: offline mode: nothing leaves this machine (cloud targets are "
              "unavailable)", file=sys.stderr)
    pricing = load_pricing(overrides=settings.pricing_overrides)
    specs = [parse_target(text) for text in args.target]
    built: list[Target | AnswerResult] = []
    for spec in specs:
        try:
            load = None
            if spec.kind == "local":
                load = load_settings_from(argparse.Namespace(**{**vars(args),
                                                                "model": spec.model}))
            built.append(build_any_target(spec, settings=settings, load=load,
                                          timeout_s=args.timeout, chat_format=args.chat_format,
                                          on_model_used=record_use, load_run=run_document))
        except WorkbenchError as err:
            built.append(failed_result(spec.text, err, label=spec.text))
    targets = [t for t in built if isinstance(t, Target)]
    _announce(targets, args.blind)
    results: list[AnswerResult] = []
    try:
        if targets:
            session = CompareSession(targets, messages, params,
                                     on_event=_progress_printer(targets, args.blind),
                                     pricing=pricing, settings=settings)
            answers = iter(session.run())
        else:
            answers = iter(())
        results = [next(answers) if isinstance(t, Target) else t for t in built]
    finally:
        for target in targets:
            target.close()
    run_id = None
    if not args.no_save:
        with db.connect() as connection:
            run_id = compare_store.save_run(connection, prompt=prompt, system=args.system,
                                            params=params, results=results, blind=args.blind)
            stored = compare_store.load_run(connection, run_id)
    else:
        order = compare_store.blind_order(len(results)) if args.blind else list(
            range(len(results)))
        stored = compare_store.StoredRun(0, "", prompt, args.system, params, args.blind, order,
                                         results, None)
    if args.export:
        _export(Path(args.export), stored)
    if args.blind and not args.json and run_id is not None and sys.stdin.isatty():
        _print_run(stored)
        choice = _ask_vote(stored)
        if choice:
            with db.connect() as connection:
                stored = compare_store.record_vote(connection, run_id, choice)
    return _show(args, stored)


def _announce(targets: list[Target], blind: bool) -> None:
    """Say where the prompt goes before anything is sent (privacy)."""
    lines = []
    for target in targets:
        where = target.destination
        name = "a target" if blind else target.label
        lines.append(f"  {terminal_safe(name)} -> {terminal_safe(where)}" + (
            "  (leaves this machine)"
                                                 if target.leaves_machine else ""))
    if lines:
        print("workbench: sending the prompt to:\n" + "\n".join(sorted(lines) if blind else
                                                             lines), file=sys.stderr)


def _progress_printer(targets: list[Target], blind: bool) -> Callable[[CompareEvent], None]:
    from workbench.store.secrets import redact

    lock = threading.Lock()
    chars = [0] * len(targets)

    def on_event(event: CompareEvent) -> None:
        name = f"#{event.index + 1}" if blind else terminal_safe(targets[event.index].label)
        with lock:
            if event.kind == "delta":
                chars[event.index] += len(event.text)
            elif event.kind == "status":
                print(f"workbench: {name}: {terminal_safe(redact(event.text))}", file=sys.stderr)
            elif event.kind == "done" and event.result is not None:
                state = "failed" if event.result.error else (event.result.finish_reason or "done")
                print(f"workbench: {name}: {state} ({chars[event.index]} characters)",
                      file=sys.stderr)

    return on_event


# -- output -----------------------------------------------------------------------------------
def _document(run: compare_store.StoredRun) -> list[dict[str, Any]]:
    from workbench.store.secrets import redact

    rows = []
    for letter, result in run.displayed():
        doc = {k: (redact(v) if isinstance(v, str) else v) for k, v in result.to_dict().items()}
        doc.update({"run_id": run.id or None, "answer": letter, "blind": run.blind,
                    "revealed": run.revealed, "vote": run.vote})
        if not run.revealed:
            keep = {"text", "run_id", "answer", "blind", "revealed", "vote", "finish_reason"}
            failed = doc["error"] is not None
            doc = {k: (v if k in keep else None) for k, v in doc.items()}
            doc["error"] = "this answer failed (details after the vote)" if failed else None
        rows.append(doc)
    if run.revealed:  # back in the order the targets were given
        rows.sort(key=lambda d: run.position_of(d["answer"]))
    return rows


def _show(args: argparse.Namespace, run: compare_store.StoredRun) -> int:
    from workbench.commands.output import emit

    emit(args, _document(run), lambda: _print_run(run))
    return 0 if any(a.ok for a in run.answers) else 1


def _fmt(value: Any, unit: str) -> str:
    """A table cell in the unit its row names (workbench.present.numbers)."""
    from workbench.present.numbers import in_unit

    return in_unit(value, unit)


def _print_run(run: compare_store.StoredRun) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from workbench.present.metrics import METRICS
    from workbench.store.secrets import redact

    console = Console(highlight=False, emoji=False)
    for letter, result in run.displayed():
        title = f"Answer {letter}" if not run.revealed else (
            f"{letter}: {markup_escape(result.label)}  "
            f"[dim]({markup_escape(result.destination)})[/dim]")
        body = rich_text(result.text) if result.text else Text("(no text)", style="dim")
        if result.error:
            body.append("\n\n")
            body.append_text(rich_text("this answer failed" if not run.revealed
                                       else redact(result.error), style="red"))
        console.print(Panel(body, title=title, title_align="left"))
    if not run.revealed:
        console.print(f"Blind run {run.id}: vote with `workbench compare --vote {run.id} "
                      f"LETTER` (or `tie`) to reveal the names and the figures.")
        return
    table = Table(title=f"Run {run.id}" if run.id else None)
    table.add_column("")
    for letter, result in run.displayed():
        table.add_column(rich_text(f"{letter}: {result.label}"), justify="right")
    for metric in METRICS:
        table.add_row(f"{metric.label} ({metric.unit})",
                      *[_fmt(getattr(r, metric.key), metric.unit) for _, r in run.displayed()])
    table.add_row("finish", *[rich_text(r.finish_reason) for _, r in run.displayed()])
    console.print(table)
    for letter, result in run.displayed():
        for line in [result.cost_note, result.energy_note, *result.notes]:
            if line:
                console.print(rich_text(f"{letter}: {redact(line)}", style="dim"))
    if run.vote:
        console.print(rich_text(f"Your vote: {run.vote}"))


def _ask_vote(run: compare_store.StoredRun) -> str | None:
    letters = "/".join(letter for letter, _ in run.displayed())
    while True:
        try:
            answer = input(f"Which answer is best? [{letters}/tie, Enter: skip] ").strip()
        except EOFError:
            return None
        if not answer:
            return None
        try:
            if answer.lower() != "tie":
                run.position_of(answer)
            return answer
        except BadInput as err:
            print(err, file=sys.stderr)


def _export(path: Path, run: compare_store.StoredRun) -> None:
    from workbench.present.metrics import METRICS
    from workbench.store.secrets import redact

    document = _document(run)
    if path.suffix.lower() == ".md":
        lines = [f"# Comparison{f' {run.id}' if run.id else ''}", "", "## Prompt", "",
                 redact(run.prompt), ""]
        for row in document:
            name = row["label"] or f"Answer {row['answer']}"
            lines += [f"## {name}", "", row["text"] or "(no text)", ""]
            if row["error"]:
                lines += [f"Error: {row['error']}", ""]
        if run.revealed:
            lines += ["| metric | " + " | ".join(r["label"] for r in document) + " |",
                      "|---|" + "---|" * len(document)]
            for metric in METRICS:
                lines.append(f"| {metric.label} ({metric.unit}) | " + " | ".join(
                    _fmt(r[metric.key], metric.unit) for r in document) + " |")
        text = "\n".join(lines) + "\n"
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    path.write_text(redact(text), encoding="utf-8")
    print(f"workbench: wrote {path}", file=sys.stderr)


# -- votes and scores -------------------------------------------------------------------------
def _vote(args: argparse.Namespace) -> int:
    from workbench.compare import store as compare_store
    from workbench.store import db

    run_text, choice = args.vote
    try:
        run_id = int(run_text)
    except ValueError:
        raise BadInput(f"--vote RUN CHOICE: RUN is a run number, not {run_text!r}") from None
    with db.connect() as connection:
        run = compare_store.record_vote(connection, run_id, choice)
    return _show(args, run)


def _scores(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.compare import store as compare_store
    from workbench.store import db

    with db.connect() as connection:
        rows = compare_store.scoreboard(connection)

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        if not rows:
            print("no votes yet: run `workbench compare --blind ...` and vote")
            return
        table = Table(title="Blind votes")
        for column in ("target", "rating", "wins", "ties", "losses"):
            table.add_column(column, justify="left" if column == "target" else "right")
        for row in rows:
            table.add_row(rich_text(row["name"]), f"{row['rating']:.0f}", str(row["wins"]),
                          str(row["ties"]), str(row["losses"]))
        Console().print(table)
        print("rating: Bradley-Terry on the Elo scale (1000 = average of these targets)")

    emit(args, rows, human)
    return 0
