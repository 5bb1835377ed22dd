"""The one way Workbench reads and writes its small JSON state files (the download queue, the
library's folders/usage/header index, settings, prompt presets, repacking verdicts).

Writing: the text goes to a temporary file with a unique name in the same folder, is fsynced,
replaces the old file with ``os.replace`` (atomic), and the folder is fsynced so the rename
survives a power cut. Two processes (the GUI and a CLI run) never share a temporary file.

Reading: a missing file is the default; a file that does not parse is set aside
(``NAME.broken``) and read as the default, so the next save starts clean and the bad
copy is kept for the user; any other ``OSError`` (too many open files, permissions, ...) is
raised as a ``RuntimeFailure``: a transient error never makes a good file look empty.
A file the user edits by hand (settings, prompt presets) is read with ``read_json_document``
instead: one that does not parse stays where it is and is reported, with its line, as
``BadInput``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from workbench.errors import BadInput, RuntimeFailure


class StateFileUnreadable(RuntimeFailure, OSError):
    """A state file exists but cannot be read now (not a parse error). Also an ``OSError``, so
    code that tolerates a failing disk tolerates this too. ``reason``: the OS's words."""

    reason: str = ""


def write_text_atomic(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` atomically and durably (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def write_json_atomic(path: Path, document: Any, *, indent: int | None = 1,
                      sort_keys: bool = False) -> Path:
    """``document`` as JSON in ``path`` (atomic and durable)."""
    text = json.dumps(document, indent=indent, ensure_ascii=False, sort_keys=sort_keys) + "\n"
    return write_text_atomic(path, text)


def read_json_state(path: Path, default: Any = None) -> Any:
    """The parsed JSON in ``path``; ``default`` when it is missing or was set aside as broken.

    Raises ``StateFileUnreadable`` when the file exists but cannot be read (nothing is moved).
    """
    text = read_state_text(path)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        set_aside(path)
        return default


def read_json_document(path: Path, what: str) -> Any:
    """The parsed JSON of a file the user may edit, ``what`` naming it ("settings file");
    None when it is missing. A file that does not parse raises ``BadInput`` ("the settings
    file PATH is not valid JSON (line 3): fix or delete it") and is left alone; a file that
    cannot be read now raises ``StateFileUnreadable``."""
    text = read_state_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as err:
        line = f" (line {err.lineno})" if isinstance(err, json.JSONDecodeError) else ""
        raise BadInput(f"the {what} {path} is not valid JSON{line}: fix or delete it") from None


def read_state_text(path: Path) -> str | None:
    """The text of ``path``, None when it does not exist; other read errors raise."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return "\0"  # not text: parses badly, so the caller sets it aside
    except OSError as err:
        unreadable = StateFileUnreadable(f"cannot read {path} now ({err.strerror or err}); it "
                                         "was left as it is")
        unreadable.reason = err.strerror or str(err)
        raise unreadable from None


def set_aside(path: Path) -> Path | None:
    """Rename a broken state file to ``NAME.broken`` (kept for the user)."""
    broken = path.with_name(f"{path.name}.broken")
    with contextlib.suppress(OSError):
        os.replace(path, broken)
        return broken
    return None


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # Windows cannot open a directory; its rename is durable enough
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
