"""The error types every layer raises; the CLI maps them to exit codes, the GUI to messages.

A ``WorkbenchError`` always carries a message a person can act on. Its ``exit_code`` follows the
CLI convention: 2 for bad input (missing file, malformed GGUF, bad option), 1 for a runtime
failure (model crashed, download failed, ...).
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every expected failure. ``str(err)`` is one clear line for the user."""

    exit_code = 1


class BadInput(WorkbenchError):
    """The user gave something unusable: a missing file, a bad option, a malformed model."""

    exit_code = 2


class RuntimeFailure(WorkbenchError):
    """Something went wrong while doing the work: a crash, a failed download, a timeout."""

    exit_code = 1
