"""Names from a Hub server (file names, the commit, the LFS hash) never become paths outside the
cache: a mirror listing ``../../../../x.gguf`` cannot replace a file of the user's with a link."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.hub_server import HubFile
from tests.helpers.hub import HubEnv
from workbench import cli
from workbench.hub import cache
from workbench.hub.names import UnsafeHubName, checked_filename
from workbench.hub.remote import repo_listing

REPO = "mirror/Evil-GGUF"
PRECIOUS = b"the user's own file\n"
CONTENT = b"GGUF" + b"\0" * 4096  # an LFS-sized file


def _seed_blob(hub_env: HubEnv, data: bytes) -> Path:
    """The file's bytes already in this repo's blobs (an earlier download): a pull links them."""
    blob = hub_env.cache_dir / cache.repo_folder_name(REPO) / "blobs" / \
        hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    return blob


def test_a_file_name_that_climbs_out_of_the_cache_is_refused(
        hub_env: HubEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "victim-Q4_0.gguf"
    victim.write_bytes(PRECIOUS)
    # snapshots/<commit>/ is four folders below HF_HOME/hub: five ".." reach tmp_path
    hub_env.hub.add_repo(REPO, {"../../../../../victim-Q4_0.gguf": CONTENT})
    _seed_blob(hub_env, CONTENT)
    code = cli.main(["pull", REPO, "--quant", "Q4_0"])
    err = capsys.readouterr().err
    assert victim.read_bytes() == PRECIOUS and not victim.is_symlink()
    assert code != 0 and "refused" in err and "Traceback" not in err
    with pytest.raises(UnsafeHubName, match="file name"):
        repo_listing(REPO)


@dataclass
class _LyingFile(HubFile):
    lie: str = ""

    @property
    def sha256(self) -> str:
        return self.lie


@pytest.mark.parametrize("field, value", [
    ("commit", "../../../../../escape"),
    ("commit", "not-hex"),
    ("sha256", "../../../escaped"),
    ("sha256", "ab" * 20),  # hex, but a SHA-1's length
])
def test_a_commit_or_hash_that_is_not_hex_of_its_length_is_refused(
        hub_env: HubEnv, field: str, value: str) -> None:
    repo = hub_env.hub.add_repo(REPO, {"model-Q4_0.gguf": CONTENT})
    if field == "commit":
        repo.commit = value
    else:
        repo.files["model-Q4_0.gguf"] = _LyingFile("model-Q4_0.gguf", CONTENT, True, lie=value)
    with pytest.raises(UnsafeHubName, match="refused"):
        repo_listing(REPO)


@pytest.mark.parametrize("name", ["../x.gguf", "a/../../x.gguf", "/etc/passwd", "a//b.gguf",
                                  "./x.gguf", "a\\..\\x.gguf", "C:x.gguf", "x\0.gguf", ""])
def test_file_names_are_checked_like_huggingface_hub(name: str) -> None:
    with pytest.raises(UnsafeHubName):
        checked_filename(name)


def test_good_names_still_work(tmp_path: Path) -> None:
    commit = "a" * 40
    path = cache.pointer_path(tmp_path, "o/n", commit, "sub/dir/model-Q4_0.gguf")
    assert path == tmp_path / "models--o--n" / "snapshots" / commit / "sub/dir/model-Q4_0.gguf"


def test_a_snapshot_folder_linked_outside_the_cache_is_refused(tmp_path: Path) -> None:
    commit = "b" * 40
    snapshot = tmp_path / "cache" / "models--o--n" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "sub").symlink_to(tmp_path)  # planted by someone sharing the cache
    with pytest.raises(UnsafeHubName, match="outside"):
        cache.pointer_path(tmp_path / "cache", "o/n", commit, "sub/model.gguf")
