"""``workbench eval SUITE``: a test suite on the user's own prompts, across targets.

    workbench eval SUITE [-t TARGET ...] [--repeat N] [--judge TARGET] [--json] [--html FILE] ...
    workbench eval --resume RUN          continue a cancelled or killed run
    workbench eval list | show RUN | export RUN -o FILE | rm RUN | diff RUN_A RUN_B
    workbench eval starters              the starter suites; run one as ``starter:NAME``

Exit codes: 0 the run completed (failed assertions are results, not errors); 1 ``--fail-under``
was not met or the run could not complete (cancelled, a target skipped); 2 a bad suite or
option (the suite's FILE:LINE and what is wrong). docs/evals.md has the details.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput
from workbench.terminal_text import terminal_safe

if TYPE_CHECKING:
    from workbench.evals.runner import EvalEvent, RunOutcome

ACTIONS = ("list", "show", "export", "rm", "diff", "starters")
EXIT_OK, EXIT_FAILED = 0, 1
CANCEL_GRACE_S = 10.0


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "eval", help="run a test suite (promptfoo's YAML format) on local models and APIs",
        description="Run SUITE (a promptfooconfig.yaml-style file; docs/evals.md) on every "
        "target: pass rates with 95%% intervals, paired differences, cost, speed and a "
        "decision. SUITE may be starter:NAME (see `workbench eval starters`). Also: eval list | "
        "show RUN | export RUN -o FILE | rm RUN | diff RUN_A RUN_B | starters.")
    parser.add_argument("words", nargs="*", metavar="SUITE | ACTION ARGS",
                        help="a suite file, or list / show RUN / export RUN / rm RUN / diff A B")
    parser.add_argument("-t", "--target", action="append", default=[], metavar="SPEC",
                        help="a target (repeatable): local:PATH (+lora:ADAPTER[@SCALE] for a "
                        "LoRA adapter), openai:MODEL, anthropic:MODEL, gemini:MODEL, "
                        "profile:NAME/MODEL; default: the suite's providers")
    parser.add_argument("--repeat", type=int, default=1, help="ask every case N times")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default: each target's own)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--judge", metavar="SPEC",
                        help="the target that grades model-graded assertions (default: the "
                        "suite's, else the first local target: nothing leaves this machine)")
    parser.add_argument("--concurrency", "-j", type=int, default=4,
                        help="cloud requests in flight at once (local models take turns)")
    parser.add_argument("--resume", type=int, metavar="RUN",
                        help="continue RUN, asking only what it is missing")
    parser.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    parser.add_argument("--markdown", metavar="FILE", help="also write a Markdown report")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="(export) the report to write: .json, .html, .xml (JUnit) or .md")
    parser.add_argument("--fail-under", metavar="RATE",
                        help="exit 1 unless every target passes at least RATE (0.8 or 80%%)")
    parser.add_argument("--bar", metavar="RATE", default="0.8",
                        help="the decision's pass-rate bar (default 0.8)")
    parser.add_argument("--volume", metavar="N", default="100k",
                        help="the decision's monthly requests (default 100k)")
    parser.add_argument("--private", action="store_true",
                        help="the data must stay on this machine (the decision uses local "
                        "targets only)")
    parser.add_argument("--offline", action="store_true",
                        help="block every non-loopback connection (cloud targets skipped)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def parse_rate(text: str, option: str) -> float:
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BadInput(f"{option} must be a rate such as 0.8 or 80%, not {text!r}") from None
    if value > 1 and not raw.endswith("%"):
        value /= 100  # "80" means 80%
    if not 0 <= value <= 1:
        raise BadInput(f"{option} must be between 0 and 1 (or 0% and 100%)")
    return value


def run(args: argparse.Namespace) -> int:
    from workbench.store.secrets import install_log_redaction

    install_log_redaction()
    words = list(args.words)
    if words and words[0] in ACTIONS:
        return _action(args, words[0], words[1:])
    if args.resume is not None:
        if words:
            raise BadInput("--resume RUN continues a stored run: give no suite with it")
        return _run_suite(args, None)
    if len(words) != 1:
        raise BadInput("give one suite file (workbench eval SUITE), --resume RUN, or one of: "
                       + ", ".join(ACTIONS))
    return _run_suite(args, Path(words[0]))


# -- running ----------------------------------------------------------------------------------
def _run_suite(args: argparse.Namespace, path: Path | None) -> int:
    from workbench.costs.breakeven import parse_amount
    from workbench.evals.runner import EvalRunner, RunOptions, resume
    from workbench.evals.suite import load_suite
    from workbench.net.offline import enable_guard, is_offline
    from workbench.store.settings import load_settings

    fail_under = parse_rate(args.fail_under, "--fail-under") if args.fail_under else None
    bar = parse_rate(args.bar, "--bar")
    volume = parse_amount(args.volume)
    for name in ("junit", "html", "markdown"):
        _check_writable(getattr(args, name))
    if args.offline or is_offline():
        enable_guard()
        print("workbench: offline mode: nothing leaves this machine (cloud targets and judges "
              "are skipped)", file=sys.stderr)
    settings = load_settings()
    printer = _Progress(quiet=args.json)
    if path is not None:
        suite = load_suite(_suite_path(path))
        options = RunOptions(targets=tuple(args.target), repeat=args.repeat,
                             temperature=args.temperature, max_tokens=args.max_tokens,
                             judge=args.judge, concurrency=args.concurrency)
        runner = EvalRunner(suite, options, on_event=printer, settings=settings)
    else:
        if args.target:
            raise BadInput("--resume uses the run's own targets: drop -t")
        runner = resume(args.resume, on_event=printer, settings=settings)
    outcome = _run_interruptible(runner)
    if outcome is None:
        return 130
    document = _document(outcome, bar=bar, volume=volume, private=args.private,
                         settings=settings)
    _write_reports(args, document)
    if args.json:
        from workbench.commands.output import emit

        emit(args, document, lambda: None)
    else:
        _print_document(document)
    return _exit_code(document, outcome, fail_under)


def _suite_path(path: Path) -> Path:
    """``starter:NAME`` is a starter suite (resources/evals); anything else a file."""
    text = str(path)
    if not text.startswith("starter:") or path.exists():
        return path
    from workbench.evals.starters import starter_suites

    name = text.split(":", 1)[1]
    starters = {s.name: s for s in starter_suites()}
    if name not in starters:
        raise BadInput(f"no starter suite {name!r}; the starters: {', '.join(starters)}")
    return starters[name].path


def _run_interruptible(runner: Any) -> RunOutcome | None:
    """Run in a thread so that Ctrl-C cancels cleanly: what was answered stays stored."""
    from workbench.cancel import CancelToken

    cancel = CancelToken()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["outcome"] = runner.run(cancel)
        except BaseException as err:  # handed to the main thread
            box["error"] = err

    thread = threading.Thread(target=work, name="eval-run", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        cancel.cancel()
        print("\nworkbench: stopping (answers so far are kept)...", file=sys.stderr)
        thread.join(CANCEL_GRACE_S)
        run_id = runner.run_id
        if run_id is not None:
            print(f"workbench: stopped; resume with: workbench eval --resume {run_id}",
                  file=sys.stderr)
        return None
    if "error" in box:
        raise box["error"]
    outcome: RunOutcome = box["outcome"]
    if outcome.cancelled:
        print(f"workbench: cancelled; resume with: workbench eval --resume {outcome.run_id}",
              file=sys.stderr)
    return outcome


class _Progress:
    """One line per answer on stderr (a line that rewrites itself on a terminal)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.lock = threading.Lock()

    def __call__(self, event: EvalEvent) -> None:
        from workbench.evals.reports import short_target

        if event.kind == "skipped":
            line = f"skipped {event.target}: {event.message}"
        elif event.kind == "status":
            line = event.message
        elif event.kind == "result" and event.result is not None:
            r = event.result
            verdict = "ERROR" if r.passed is None else ("PASS" if r.passed else "FAIL")
            eta = f", about {event.eta_s:.0f} s left" if event.eta_s is not None else ""
            line = (f"[{event.done}/{event.total}{eta}] {verdict} case {r.case_id} "
                    f"{short_target(r.target)}")
            if self.tty:
                with self.lock:
                    sys.stderr.write("\r\033[K" + terminal_safe(line))
                    sys.stderr.flush()
                return
        else:
            if self.tty:
                with self.lock:
                    sys.stderr.write("\r\033[K")
            return
        with self.lock:
            if self.tty:
                sys.stderr.write("\r\033[K")
            print(f"workbench: {terminal_safe(line)}", file=sys.stderr)


def _check_writable(name: str | None) -> None:
    if name and not Path(name).expanduser().resolve().parent.is_dir():
        raise BadInput(f"cannot write {name}: its folder does not exist")


def _document(outcome: RunOutcome, *, bar: float, volume: float, private: bool,
              settings: Any) -> dict[str, Any]:
    from workbench.evals.runner import document_of

    return document_of(outcome, bar=bar, monthly_requests=volume, private=private,
                       settings=settings)


def _write_reports(args: argparse.Namespace, document: dict[str, Any]) -> None:
    from workbench.evals import reports

    for name, writer in (("junit", reports.write_junit), ("html", reports.write_html),
                         ("markdown", reports.write_markdown)):
        path = getattr(args, name, None)
        if path:
            writer(document, Path(path).expanduser())
            print(f"workbench: wrote {terminal_safe(str(path))}", file=sys.stderr)


def _exit_code(document: dict[str, Any], outcome: RunOutcome, fail_under: float | None) -> int:
    if not outcome.complete:
        missing = "; ".join(f"{t}: {why}" for t, why in outcome.skipped.items())
        print("workbench: the run did not complete" + (f" ({terminal_safe(missing)})"
                                                       if missing else "")
              + f"; resume with: workbench eval --resume {outcome.run_id}", file=sys.stderr)
        return EXIT_FAILED
    if fail_under is not None:
        low = [t for t in document["targets"] if not t.get("skipped")
               and (t.get("pass_rate") is None or t["pass_rate"] < fail_under)]
        if low:
            names = ", ".join(terminal_safe(str(t["target"])) for t in low)
            print(f"workbench: below --fail-under {fail_under:.0%}: {names}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def _print_document(document: dict[str, Any]) -> None:
    from workbench.evals.reports import text_lines

    for line in text_lines(document):
        print(terminal_safe(line))


# -- stored runs ------------------------------------------------------------------------------
def _run_id(words: list[str], action: str, count: int = 1) -> list[int]:
    if len(words) != count:
        shape = " ".join(["RUN"] * count) if count < 2 else "RUN_A RUN_B"
        raise BadInput(f"usage: workbench eval {action} {shape}")
    try:
        return [int(w) for w in words]
    except ValueError:
        raise BadInput(f"a run is a number (see `workbench eval list`), not {words!r}") from None


def _action(args: argparse.Namespace, action: str, words: list[str]) -> int:
    from contextlib import closing

    from workbench.commands.output import emit
    from workbench.evals import store
    from workbench.store import db

    if action == "list":
        if words:
            raise BadInput("usage: workbench eval list")
        with closing(db.connect()) as connection:
            rows = store.list_runs(connection)
        emit(args, [r.to_dict() for r in rows], lambda: _print_list(rows))
        return EXIT_OK
    if action == "starters":
        from workbench.evals.starters import starter_suites

        if words:
            raise BadInput("usage: workbench eval starters")
        found = starter_suites()
        emit(args, [{"name": s.name, "title": s.title, "description": s.description,
                     "path": str(s.path)} for s in found],
             lambda: [print(terminal_safe(f"starter:{s.name:<15} {s.description}"))
                      for s in found])
        return EXIT_OK
    if action == "rm":
        (run_id,) = _run_id(words, action)
        with closing(db.connect()) as connection:
            store.delete_run(connection, run_id)
        emit(args, {"deleted": run_id}, lambda: print(f"deleted eval run {run_id}"))
        return EXIT_OK
    if action == "diff":
        return _diff(args, *_run_id(words, action, 2))
    (run_id,) = _run_id(words, action)
    from workbench.evals.runner import stored_outcome
    from workbench.store.settings import load_settings

    outcome = stored_outcome(run_id)
    document = _document(outcome, bar=parse_rate(args.bar, "--bar"),
                         volume=_volume(args), private=args.private, settings=load_settings())
    if action == "export":
        if not (args.output or args.html or args.junit or args.markdown or args.json):
            raise BadInput("usage: workbench eval export RUN -o FILE (.json, .html, .xml, .md)")
        if args.output:
            _export(document, Path(args.output).expanduser())
        _write_reports(args, document)
        if args.json:
            emit(args, document, lambda: None)
        return EXIT_OK
    emit(args, document, lambda: _print_document(document))
    return EXIT_OK


def _volume(args: argparse.Namespace) -> float:
    from workbench.costs.breakeven import parse_amount

    return parse_amount(args.volume)


def _export(document: dict[str, Any], path: Path) -> None:
    from workbench.evals import reports

    writers = {".json": reports.write_json, ".html": reports.write_html,
               ".htm": reports.write_html, ".xml": reports.write_junit,
               ".md": reports.write_markdown}
    writer = writers.get(path.suffix.lower())
    if writer is None:
        raise BadInput(f"cannot tell the format of {path.name}: use .json, .html, .xml (JUnit) "
                       "or .md")
    _check_writable(str(path))
    writer(document, path)
    print(f"workbench: wrote {terminal_safe(str(path))}", file=sys.stderr)


def _print_list(rows: list[Any]) -> None:
    if not rows:
        print("no eval runs yet (workbench eval SUITE)")
        return
    for r in rows:
        status = r.status if r.status != "running" else "running or stopped"
        print(terminal_safe(
            f"{r.id:>4}  {r.created_at[:16].replace('T', ' ')}  {status:<18} "
            f"{r.answered}/{r.total} answered, {r.passed} passed  "
            f"{r.description or r.suite_path or ''}  [{', '.join(r.targets)}]"))


def _diff(args: argparse.Namespace, run_a: int, run_b: int) -> int:
    from workbench.commands.output import emit
    from workbench.evals.diff import diff_runs
    from workbench.evals.runner import stored_outcome

    a, b = stored_outcome(run_a), stored_outcome(run_b)
    diff = diff_runs(run_a, a.targets, a.results, run_b, b.targets, b.results)
    if not diff.pairs:
        raise BadInput(f"runs {run_a} and {run_b} share no target to compare")

    def human() -> None:
        print(f"run {run_a} -> run {run_b}: "
              + ", ".join(terminal_safe(f"{x} -> {y}" if x != y else x) for x, y in diff.pairs))
        for kind, title in (("worse", "worse"), ("better", "better"), ("changed", "changed")):
            changes = diff.of_kind(kind)
            print(f"{title}: {len(changes)}")
            for change in changes:
                print(terminal_safe(f"  case {change.case_id} ({change.target_b}): "
                                    f"{change.before} -> {change.after}"))
        print(f"unchanged: {len(diff.of_kind('same'))}")
        if diff.only_a or diff.only_b:
            print(f"cases only in run {run_a}: {len(diff.only_a)}; only in run {run_b}: "
                  f"{len(diff.only_b)}")

    emit(args, diff.to_dict(), human)
    return EXIT_OK
