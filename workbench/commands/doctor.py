"""``workbench doctor``: explain what stands between this machine and fast local inference.

Exit status 0 even when there are warnings or errors among the findings: the command worked.
1 only when the checks themselves could not run.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from workbench.errors import RuntimeFailure

if TYPE_CHECKING:
    from rich.console import Console

    from workbench.hardware import Finding

STYLES = {"ok": "green", "info": "cyan", "warning": "yellow", "error": "red"}


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "doctor",
        help="find problems with GPUs, drivers, the llama.cpp build and memory, with fixes",
        description="Check the hardware, the llama.cpp build and what the desktop app needs "
                    "(a display, Qt's platform plugin and its system libraries) and list "
                    "findings (ok, info, warning, error), each with its fix where there is one.",
    )
    parser.add_argument("--refresh", action="store_true",
                        help="probe the llama.cpp build again instead of using the cached answer")
    parser.add_argument("--no-gui", action="store_true",
                        help="skip the GUI section (display, Qt's platform plugin and its "
                             "libraries, the bundled code font, the app's icons)")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.hardware import detect, diagnose
    from workbench.hardware.gui_doctor import gui_section

    try:
        report = detect(refresh_probe=args.refresh)
        findings = diagnose(report)
        gui = None if args.no_gui else gui_section()
    except Exception as err:
        raise RuntimeFailure(f"the checks could not run: {type(err).__name__}: {err}") from err
    every = findings + (gui.findings if gui else [])
    counts = {severity: sum(f.severity == severity for f in every) for severity in STYLES}
    document = {"findings": [f.to_dict() for f in findings], "counts": counts,
                "gui": gui.to_dict() if gui else None}
    emit(args, document, lambda: print_human(findings, gui.findings if gui else None))
    return 0


def print_human(findings: list[Finding], gui: list[Finding] | None = None) -> None:
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False, emoji=False)
    print_findings(console, findings)
    if gui is not None:
        console.print()
        console.print("GUI", style="bold")
        print_findings(console, gui)


def print_findings(console: Console, findings: list[Finding]) -> None:
    from rich.text import Text

    for finding in findings:
        line = Text()
        line.append(f"{finding.severity.upper():8}", style=f"bold {STYLES.get(finding.severity)}")
        line.append(finding.title)
        console.print(line)
        if finding.detail:
            console.print(Text(f"        {finding.detail}"))
        if finding.fix:
            console.print(Text(f"        fix: {finding.fix}", style="bold"))
