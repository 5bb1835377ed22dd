"""The Hugging Face cache layout, shared with every other HF tool.

    <cache>/models--<owner>--<name>/
        blobs/<sha256>                 the file's bytes (LFS files are named by their SHA-256)
        blobs/<sha256>.incomplete      a download in progress (Workbench's; resumable)
        refs/<revision>                the commit a branch or tag pointed to
        snapshots/<commit>/<path>      a relative symlink to ../../blobs/<sha256>
    <cache>/.locks/models--<owner>--<name>/<sha256>.lock

huggingface_hub (``hf_hub_download``, ``try_to_load_from_cache``, ``scan_cache_dir``) finds the
files Workbench downloads, and Workbench finds theirs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO

from workbench.hub.errors import DownloadError
from workbench.hub.names import (
    checked_commit,
    checked_etag,
    checked_filename,
    checked_revision,
    inside,
)
from workbench.hub.quant import RemoteFile
from workbench.store.state_file import write_text_atomic

INCOMPLETE_SUFFIX = ".incomplete"


def repo_folder_name(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def repo_dir(cache_dir: Path, repo_id: str) -> Path:
    return cache_dir / repo_folder_name(repo_id)


def repo_id_from_folder(name: str) -> str | None:
    """``models--owner--name`` -> ``owner/name`` (None for datasets, spaces, other folders)."""
    if not name.startswith("models--"):
        return None
    return name[len("models--"):].replace("--", "/")


# Every name below comes from the Hub: each is checked (workbench.hub.names) before it is a path.
def blob_path(cache_dir: Path, repo_id: str, etag: str) -> Path:
    return repo_dir(cache_dir, repo_id) / "blobs" / checked_etag(etag)


def incomplete_path(cache_dir: Path, repo_id: str, etag: str) -> Path:
    return repo_dir(cache_dir, repo_id) / "blobs" / f"{checked_etag(etag)}{INCOMPLETE_SUFFIX}"


def pointer_path(cache_dir: Path, repo_id: str, commit: str, filename: str) -> Path:
    snapshot = repo_dir(cache_dir, repo_id) / "snapshots" / checked_commit(commit)
    return inside(snapshot, *checked_filename(filename).split("/"))


def lock_path(cache_dir: Path, repo_id: str, etag: str) -> Path:
    """The same lock file huggingface_hub takes for this blob."""
    return cache_dir / ".locks" / repo_folder_name(repo_id) / f"{checked_etag(etag)}.lock"


def link_pointer(blob: Path, pointer: Path) -> None:
    """Make ``pointer`` a relative symlink to ``blob`` (a hard link, then a copy, where the
    file system has no symlinks)."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)
        return
    except OSError:
        pass
    try:
        os.link(blob, pointer)
    except OSError:
        shutil.copyfile(blob, pointer)


def write_ref(cache_dir: Path, repo_id: str, revision: str, commit: str) -> None:
    """Remember which commit ``revision`` (a branch or tag) resolved to."""
    if revision == commit:
        return
    ref = inside(repo_dir(cache_dir, repo_id) / "refs", *checked_revision(revision).split("/"))
    checked_commit(commit)
    ref.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if ref.read_text(encoding="utf-8") == commit:
            return
    write_text_atomic(ref, commit)


def cached_path(cache_dir: Path, file: RemoteFile) -> Path | None:
    """The snapshot path of ``file`` if its complete bytes are in the cache (linking the
    snapshot to an existing blob when only the blob is there), else None."""
    etag = file.etag
    if file.commit:
        pointer = pointer_path(cache_dir, file.repo_id, file.commit, file.path)
        if pointer.is_file() and (file.size is None or pointer.stat().st_size == file.size):
            return pointer
    if etag is None:
        return None
    blob = blob_path(cache_dir, file.repo_id, etag)
    if not blob.is_file() or (file.size is not None and blob.stat().st_size != file.size):
        return None
    if not file.commit:
        return blob
    pointer = pointer_path(cache_dir, file.repo_id, file.commit, file.path)
    link_pointer(blob, pointer)
    return pointer


def partial_size(cache_dir: Path, file: RemoteFile) -> int:
    """Bytes of ``file`` already downloaded (its ``.incomplete`` blob), 0 if none (or if it
    is not a plain file of this user's: never followed)."""
    if file.etag is None:
        return 0
    try:
        info = own_file(incomplete_path(cache_dir, file.repo_id, file.etag), "partial download")
    except (OSError, DownloadError):
        return 0
    return info.st_size if info is not None else 0


# -- files other users may plant in a shared cache ------------------------------------------------
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def own_file(path: Path, what: str) -> os.stat_result | None:
    """``lstat`` of ``path`` (None when it does not exist); ``DownloadError`` when it is a
    symlink, not a regular file, or another user's (a shared cache: never follow, never
    write into someone else's file)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    _check_own(info, path, what)
    return info


def _check_own(info: os.stat_result, path: Path, what: str) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise DownloadError(f"{path}: the {what} is a symbolic link (planted in a shared "
                            "cache?); refusing to use it")
    if not stat.S_ISREG(info.st_mode):
        raise DownloadError(f"{path}: the {what} is not a regular file; refusing to use it")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise DownloadError(f"{path}: the {what} belongs to another user (uid {info.st_uid}); "
                            "refusing to use it: delete it or use your own HF_HOME")


def open_own_file(path: Path, what: str, *, append: bool) -> BinaryIO:
    """Open ``path`` for appending (created if missing) or reading, never through a symlink,
    and only if it is this user's regular file."""
    flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT if append else os.O_RDONLY) | _NOFOLLOW | \
        _CLOEXEC | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as err:
        if path.is_symlink():
            raise DownloadError(f"{path}: the {what} is a symbolic link (planted in a shared "
                                "cache?); refusing to use it") from None
        raise err
    try:
        _check_own(os.fstat(fd), path, what)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "ab" if append else "rb")


def free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0
