"""A shared HF cache: a partial download or lock file that another user planted (a symlink to the
victim's file, or a file of theirs) is refused, never followed, never written through."""

from __future__ import annotations

import os
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.helpers.hub import HubEnv
from workbench.hub import cache
from workbench.hub.download import Downloader
from workbench.hub.errors import DownloadError
from workbench.hub.quant import RemoteFile
from workbench.hub.remote import repo_listing

REPO = "shared/Cache-GGUF"
NAME = "model-Q4_0.gguf"
CONTENT = b"GGUF" + bytes(range(256)) * 32
PRECIOUS = b"export PATH=$HOME/bin:$PATH\n"
OTHER_UID = 54321


@pytest.fixture
def listed(hub_env: HubEnv) -> RemoteFile:
    hub_env.hub.add_repo(REPO, {NAME: CONTENT})
    return repo_listing(REPO).variants[0].files[0]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim-bashrc"
    path.write_bytes(PRECIOUS)
    return path


def _plant(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def test_a_partial_download_linked_to_the_victims_file_is_refused(
        hub_env: HubEnv, listed: RemoteFile, victim: Path) -> None:
    partial = cache.incomplete_path(hub_env.cache_dir, REPO, listed.etag or "")
    _plant(partial, victim)
    with pytest.raises(DownloadError, match="symbolic link"):
        Downloader().download([listed])
    assert victim.read_bytes() == PRECIOUS
    assert partial.is_symlink()  # left for the user to see; nothing was written through it
    assert cache.partial_size(hub_env.cache_dir, listed) == 0  # never followed for progress


def test_a_lock_file_linked_to_the_victims_file_is_refused(
        hub_env: HubEnv, listed: RemoteFile, victim: Path) -> None:
    _plant(cache.lock_path(hub_env.cache_dir, REPO, listed.etag or ""), victim)
    with pytest.raises(DownloadError, match="lock file is a symbolic link"):
        Downloader().download([listed])
    assert victim.read_bytes() == PRECIOUS


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a file to another user needs root")
@pytest.mark.parametrize("which", ["partial", "lock"])
def test_another_users_partial_or_lock_file_is_refused(hub_env: HubEnv, listed: RemoteFile,
                                                       which: str) -> None:
    etag = listed.etag or ""
    path = (cache.incomplete_path if which == "partial" else cache.lock_path)(
        hub_env.cache_dir, REPO, etag)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CONTENT[:100] if which == "partial" else b"")
    os.chown(path, OTHER_UID, OTHER_UID)
    with pytest.raises(DownloadError, match=f"belongs to another user \\(uid {OTHER_UID}\\)"):
        Downloader().download([listed])
    assert path.read_bytes() == (CONTENT[:100] if which == "partial" else b"")


def test_own_partial_files_still_resume(hub_env: HubEnv, listed: RemoteFile) -> None:
    partial = cache.incomplete_path(hub_env.cache_dir, REPO, listed.etag or "")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(CONTENT[:1000])
    [done] = Downloader().download([listed])
    assert done.resumed_from == 1000 and done.blob_path.read_bytes() == CONTENT


def test_filelock_without_the_symlink_issue_is_required() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert re.search(r'"filelock>=3\.20\.1"', pyproject)
    installed = tuple(int(p) for p in version("filelock").split(".")[:3])
    assert installed >= (3, 20, 1)
