"""Names a Hub server sends that become parts of paths in the cache: checked before use.

A mirror (``HF_ENDPOINT``) or a compromised server could list ``../../../../x.gguf`` as a file
name, or a "commit" or "hash" that climbs out of the cache. As huggingface_hub does, a file name
is a relative POSIX path without ``.``/``..`` parts, a commit is 40 hex digits, an LFS hash 64
and a git blob id 40; and a path built from them must resolve inside the folder it belongs to.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from workbench.hub.errors import HubError

_HEX = re.compile(r"[0-9a-fA-F]+")
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
MAX_FILENAME_CHARS = 4096


class UnsafeHubName(HubError):
    """The Hub sent a name that would be a path outside the cache (or is not a name at all)."""


def _shown(value: object) -> str:
    return repr(value)[:200]


def checked_hex(value: str | None, what: str, lengths: tuple[int, ...]) -> str:
    """``value`` if it is hex of one of ``lengths`` characters."""
    if not isinstance(value, str) or len(value) not in lengths or not _HEX.fullmatch(value):
        raise UnsafeHubName(f"the Hub sent {_shown(value)} as {what}: not "
                            f"{' or '.join(map(str, lengths))} hex digits; refused")
    return value


def checked_commit(commit: str | None) -> str:
    """A commit id: 40 hex digits (64 for SHA-256 repositories)."""
    return checked_hex(commit, "a commit id", (40, 64))


def checked_etag(etag: str | None) -> str:
    """A blob's name in the cache: an LFS SHA-256 (64 hex) or a git blob id (40 hex)."""
    return checked_hex(etag, "a file hash", (64, 40))


def checked_filename(filename: str | None) -> str:
    """A file's path in a repository: relative, ``/``-separated, no ``.``/``..``/empty parts."""
    if not isinstance(filename, str) or not filename or len(filename) > MAX_FILENAME_CHARS \
            or _BAD_CHARS.search(filename) or filename.startswith("/") \
            or re.match(r"^[A-Za-z]:", filename):
        raise UnsafeHubName(f"the Hub listed {_shown(filename)} as a file name; refused")
    parts = filename.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeHubName(f"the Hub listed {_shown(filename)} as a file name (a path outside "
                            "the repository); refused")
    return filename


def checked_revision(revision: str) -> str:
    """A branch or tag name kept under ``refs/``: no ``.``/``..``/empty parts."""
    if not revision or _BAD_CHARS.search(revision) or revision.startswith("/") or any(
            part in ("", ".", "..") for part in PurePosixPath(revision).parts):
        raise UnsafeHubName(f"{_shown(revision)} is not a usable revision name; refused")
    return revision


def inside(folder: Path, *parts: str) -> Path:
    """``folder`` joined with ``parts``; raises unless its parent folder resolves inside
    ``folder`` (the last part may itself be a link, as a snapshot's pointer is)."""
    path = folder.joinpath(*parts)
    root = os.path.realpath(folder)
    parent = os.path.realpath(path.parent)
    if os.path.commonpath([root, parent]) != root or path.name in ("", ".", ".."):
        raise UnsafeHubName(f"{_shown('/'.join(parts))} would be outside {folder}; refused")
    return path
