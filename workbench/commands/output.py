"""What every subcommand shares for its output: the ``--json`` flag and one way to print.

``--json`` prints exactly one JSON document on stdout (progress and logs go to stderr); without
it the command prints its human text. Lives here, not in workbench.cli, so the commands import
nothing from the entry point above them (the layer contract in pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def emit(args: argparse.Namespace, document: Any, human: Callable[[], object]) -> None:
    """Print ``document`` as JSON when ``--json`` was given, else call ``human()``."""
    if getattr(args, "json", False):
        from workbench.terminal_text import json_safe

        text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write(json_safe(text) + "\n")
        sys.stdout.flush()
    else:
        human()
