"""The ``workbench`` command: no argument opens the GUI, subcommands do everything else.

Conventions every subcommand follows:
- ``--json`` prints exactly one JSON document on stdout (progress and logs go to stderr);
- exit codes: 0 success, 1 runtime failure, 2 bad input;
- an error is one clear line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from workbench import __version__
from workbench.commands.output import add_json_flag, emit
from workbench.errors import BadInput, WorkbenchError
from workbench.terminal_text import terminal_safe

__all__ = ["COMMAND_MODULES", "add_json_flag", "build_parser", "emit", "main"]

# Each module in workbench.commands defines ``register(subparsers)``; order is the help order.
COMMAND_MODULES = ("run", "bench", "inspect", "synth", "hw", "doctor", "estimate", "recommend",
                   "search", "files", "pull", "ls", "rm", "compare", "breakeven", "keys",
                   "profiles", "chats", "eval", "serve")

EXIT_OK, EXIT_RUNTIME, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises BadInput instead of printing usage and exiting by itself."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="workbench",
        description="Local-inference workbench. With no command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and worker logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    gui = subparsers.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("model", nargs="?", help="a GGUF file to open at start")
    gui.set_defaults(func=_run_gui)
    for name in COMMAND_MODULES:
        importlib.import_module(f"workbench.commands.{name}").register(subparsers)
    return parser


def _apply_offline_mode() -> None:
    """Offline mode (``network_state()``: the settings, WORKBENCH_OFFLINE, HF_HUB_OFFLINE)
    guards every command: no connection leaves this machine, whatever the command does. A
    settings file that cannot be used keeps it on (fail safe) and is named on stderr."""
    from workbench.net.offline import enable_guard, network_state

    state = network_state()
    if state.settings_problem:
        print(f"workbench: warning: {terminal_safe(state.settings_problem)}", file=sys.stderr)
    if state.offline:
        enable_guard()


def _run_gui(args: argparse.Namespace) -> int:
    """Open the desktop app, after checking (without Qt) that it can start here."""
    from workbench.errors import RuntimeFailure
    from workbench.hardware.gui_check import check_gui

    check = check_gui()
    if not check.ok:  # said in plain words, before Qt could abort with its own text
        raise RuntimeFailure(check.message())
    from workbench.ui.app import run_app

    exit_code: int = run_app(model=getattr(args, "model", None))  # (ui is not type-checked)
    return exit_code


def _shown(err: BaseException) -> str:
    """An error's text for stderr: keys redacted, terminal controls made visible."""
    from workbench.store.secrets import redact

    return terminal_safe(redact(str(err)))


def _print_traceback() -> None:
    from workbench.store.secrets import redact

    print(terminal_safe(redact(traceback.format_exc())), end="", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    from workbench.store.secrets import install_log_redaction

    install_log_redaction()  # keys and tokens never reach a log line, a traceback included
    try:
        parser = build_parser()
        if not [a for a in argv if a != "--debug"]:
            argv = [*argv, "gui"]
        args = parser.parse_args(argv)
        _apply_offline_mode()
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_BAD_INPUT
        return int(args.func(args) or 0)
    except WorkbenchError as err:
        if debug:
            _print_traceback()
        print(f"workbench: error: {_shown(err)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as err:  # the last line of defence: never a bare traceback
        if debug:
            _print_traceback()
        print(f"workbench: internal error: {type(err).__name__}: {_shown(err)} (run "
              "with --debug for details)", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
