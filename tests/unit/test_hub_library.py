"""The library: fake LM Studio / Ollama / GPT4All / Jan layouts and the HF cache, in a temporary
home, with real (synthetic) GGUF files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.helpers.hub import HubEnv, split_gguf, synthetic_gguf
from workbench.errors import BadInput
from workbench.gguf import read_header, summarize
from workbench.hub import library
from workbench.hub.apps import HomeEnv, ollama_name
from workbench.hub.download import Downloader
from workbench.hub.errors import LibraryError, NetworkError, NotFoundError
from workbench.hub.queue import DownloadQueue
from workbench.hub.remote import repo_listing


@pytest.fixture(scope="module")
def ggufs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ggufs")
    return {name: synthetic_gguf(folder / f"{name}.gguf", n_embd=32 + 16 * i, seed=i,
                                 name=f"model {name}")
            for i, name in enumerate(("a", "b", "c", "d", "e", "f", "g"))}


def put(path: Path, source: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source.read_bytes())
    return path


def ollama_blob(root: Path, source: Path) -> str:
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    put(root / "blobs" / f"sha256-{digest}", source)
    return f"sha256:{digest}"


def ollama_manifest(root: Path, name: str, model_digest: str) -> None:
    path, tag = name.split(":")
    where = path.split("/")
    if len(where) == 1:
        where = ["registry.ollama.ai", "library", *where]
    path = root / "manifests" / Path(*where) / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "0" * 64, "size": 10},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": model_digest,
             "size": 1},
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64,
             "size": 5},
        ]}), encoding="utf-8")


@pytest.fixture
def apps_home(tmp_path: Path, ggufs: dict[str, Path]) -> HomeEnv:
    """A home directory holding every app's layout (Linux paths); not WORKBENCH_HOME, which is
    hub_env's."""
    home = tmp_path / "home"
    # LM Studio: the default folder, and a downloadsFolder from its settings
    put(home / ".lmstudio/models/lmstudio-community/Tiny-GGUF/tiny-Q4_K_M.gguf", ggufs["a"])
    elsewhere = tmp_path / "big-disk" / "lms"
    put(elsewhere / "bartowski/Other-GGUF/other-Q8_0.gguf", ggufs["b"])
    (home / ".lmstudio/settings.json").write_text(json.dumps({"downloadsFolder": str(elsewhere)}))
    # Ollama: two tags of one blob, another registry, a missing blob, a non-GGUF blob
    root = home / ".ollama/models"
    digest = ollama_blob(root, ggufs["c"])
    ollama_manifest(root, "tinyllama:latest", digest)
    ollama_manifest(root, "tinyllama:1b", digest)
    ollama_manifest(root, "hf.co/bartowski/Some-GGUF:Q4_K_M", ollama_blob(root, ggufs["d"]))
    ollama_manifest(root, "ghost:7b", "sha256:" + "9" * 64)
    not_gguf = tmp_path / "safetensors.bin"
    not_gguf.write_bytes(b"\x00" * 64)
    ollama_manifest(root, "newengine:1b", ollama_blob(root, not_gguf))
    # GPT4All: a model and an unfinished download
    gpt4all = home / ".local/share/nomic.ai/GPT4All"
    put(gpt4all / "orca-mini-3b.Q4_0.gguf", ggufs["e"])
    (gpt4all / "incomplete-mistral-7b.Q4_0.gguf").write_bytes(b"GGUF\x03\x00")
    # Jan: model.yml with model_path relative to the data folder; a legacy ~/jan model
    jan = home / ".local/share/Jan/data"
    put(jan / "llamacpp/models/unsloth/Qwen-Q4_K_M/model.gguf", ggufs["f"])
    (jan / "llamacpp/models/unsloth/Qwen-Q4_K_M/model.yml").write_text(
        "model_path: llamacpp/models/unsloth/Qwen-Q4_K_M/model.gguf\nname: Qwen Q4\n"
        "size_bytes: 1\n", encoding="utf-8")
    (jan / "llamacpp/models/gone/model.yml").parent.mkdir(parents=True)
    (jan / "llamacpp/models/gone/model.yml").write_text(
        "model_path: llamacpp/models/gone/model.gguf\n", encoding="utf-8")
    put(home / "jan/models/old-model/old.Q2_K.gguf", ggufs["g"])
    return HomeEnv(home=home, environ={}, platform="linux", root=tmp_path / "root")


def by_name(models: list[library.LocalModel]) -> dict[str, library.LocalModel]:
    return {m.name: m for m in models}


def test_every_app_layout_is_found_in_place(hub_env: HubEnv, apps_home: HomeEnv,
                                            ggufs: dict[str, Path]) -> None:
    models = library.scan_library(env=apps_home)
    found = by_name(models)
    assert set(found) == {
        "tiny-Q4_K_M", "other-Q8_0",  # LM Studio
        "tinyllama:1b", "hf.co/bartowski/Some-GGUF:Q4_K_M", "ghost:7b",  # Ollama
        "orca-mini-3b.Q4_0", "mistral-7b.Q4_0",  # GPT4All
        "Qwen Q4", "gone", "old.Q2_K",  # Jan
    }
    lms = found["tiny-Q4_K_M"]
    assert lms.source == "lmstudio" and lms.repo_id == "lmstudio-community/Tiny-GGUF"
    assert lms.path == str(apps_home.home / ".lmstudio/models/lmstudio-community/Tiny-GGUF/"
                                       "tiny-Q4_K_M.gguf")  # in place, not copied
    assert found["other-Q8_0"].source == "lmstudio"
    # what the header says
    summary = summarize(read_header(ggufs["a"]))
    assert lms.architecture == "llama" and lms.parameters == summary.parameter_count
    assert lms.context_length == 2048 and lms.model_name == "model a"
    assert lms.size == ggufs["a"].stat().st_size and lms.status == "ok"
    assert lms.quant == "F32"  # general.file_type wins over the file name
    ollama = found["tinyllama:1b"]
    assert ollama.source == "ollama" and ollama.aliases == ["tinyllama:latest"]
    assert Path(ollama.path).parent.name == "blobs" and not ollama.deletable
    assert found["ghost:7b"].status == "broken" and "missing blob" in found["ghost:7b"].problem
    assert not any("newengine" in m.name for m in models)  # not a GGUF
    assert found["mistral-7b.Q4_0"].status == "partial"
    assert found["orca-mini-3b.Q4_0"].source == "gpt4all"
    assert found["Qwen Q4"].source == "jan" and found["Qwen Q4"].detail == "unsloth/Qwen-Q4_K_M"
    assert found["gone"].status == "broken"
    assert found["old.Q2_K"].source == "jan" and found["old.Q2_K"].status == "ok"


def test_macos_and_windows_locations(hub_env: HubEnv, tmp_path: Path,
                                     ggufs: dict[str, Path]) -> None:
    home = tmp_path / "mac"
    put(home / "Library/Application Support/nomic.ai/GPT4All/m.Q4_0.gguf", ggufs["a"])
    put(home / "Library/Application Support/Jan/data/llamacpp/models/x/model.gguf", ggufs["b"])
    appdata = tmp_path / "AppData"
    put(appdata / "Local/nomic.ai/GPT4All/w.Q8_0.gguf", ggufs["c"])
    mac = library.scan_library(env=HomeEnv(home, {}, "darwin", tmp_path / "root"),
                               sources=["gpt4all", "jan"])
    assert {(m.source, m.name) for m in mac} == {("gpt4all", "m.Q4_0"), ("jan", "model")}
    win = library.scan_library(env=HomeEnv(tmp_path / "winhome",
                                           {"LOCALAPPDATA": str(appdata / "Local")}, "win32",
                                           tmp_path / "root"), sources=["gpt4all"])
    assert [m.name for m in win] == ["w.Q8_0"]


def test_ollama_names() -> None:
    assert ollama_name(("registry.ollama.ai", "library", "llama3.2", "1b")) == "llama3.2:1b"
    assert ollama_name(("registry.ollama.ai", "me", "m", "latest")) == "me/m:latest"
    assert ollama_name(("hf.co", "bartowski", "X-GGUF", "Q4_K_M")) == \
        "hf.co/bartowski/X-GGUF:Q4_K_M"


def test_user_folders_splits_and_broken_files(hub_env: HubEnv, tmp_path: Path,
                                              ggufs: dict[str, Path], apps_home: HomeEnv) -> None:
    folder = tmp_path / "my-models"
    shards = split_gguf(ggufs["b"], folder / "split", "big-F32", max_tensors=6)
    assert len(shards) >= 3
    truncated = folder / "cut-Q4_0.gguf"
    truncated.write_bytes(ggufs["a"].read_bytes()[:5000])
    (folder / "lonely-00002-of-00002.gguf").write_bytes(ggufs["c"].read_bytes())
    # the LM Studio file again, through a folder the user added: listed once
    library.add_folder(folder)
    library.add_folder(apps_home.home / ".lmstudio/models")
    assert library.folders() == [folder.resolve(), (apps_home.home / ".lmstudio/models").resolve()]
    models = library.scan_library(env=apps_home, sources=["folder", "lmstudio"])
    found = by_name(models)
    split = found["big-F32"]
    assert split.files == [str(s) for s in shards] and split.status == "ok"
    assert split.size == sum(s.stat().st_size for s in shards)
    assert split.parameters == summarize(read_header(ggufs["b"])).parameter_count
    assert found["cut-Q4_0"].status == "broken" and "truncated" in found["cut-Q4_0"].problem
    assert found["lonely"].status == "broken" and "1 of 2 shards" in found["lonely"].problem
    tiny = [m for m in models if m.name == "tiny-Q4_K_M"]
    assert len(tiny) == 1 and tiny[0].source == "lmstudio"
    assert "folder:tiny-Q4_K_M" in tiny[0].aliases
    assert library.remove_folder(folder) and not library.remove_folder(folder)
    with pytest.raises(BadInput, match="not a folder"):
        library.add_folder(tmp_path / "nope")


def test_hf_cache_models_partials_and_dangling_links(hub_env: HubEnv,
                                                     ggufs: dict[str, Path],
                                                     apps_home: HomeEnv) -> None:
    hub_env.hub.add_repo("org/Lib-GGUF", {"lib-Q8_0.gguf": ggufs["a"],
                                          "lib-Q4_0.gguf": ggufs["b"],
                                          "lib-Q2_K.gguf": ggufs["c"]})
    variants = {v.quant: v for v in repo_listing("org/Lib-GGUF").variants}
    [done] = Downloader().download(variants["Q8_0"].files)
    # an unfinished download, known to the queue
    hub_env.hub.cut_after("org/Lib-GGUF/lib-Q4_0.gguf", 3000, times=1)
    hub_env.hub.cut_after("org/Lib-GGUF/lib-Q4_0.gguf", 0, times=None)
    queue = DownloadQueue(downloader_factory=lambda: Downloader(max_retries=0))
    job = queue.add("org/Lib-GGUF", variants["Q4_0"].files, name="lib-Q4_0.gguf")
    with pytest.raises(NetworkError):
        queue.run(job.id)
    # a snapshot link whose blob was deleted behind the cache's back
    [q2] = Downloader().download(variants["Q2_K"].files)
    q2.blob_path.unlink()
    models = by_name(library.scan_library(env=apps_home, sources=["hf-cache"]))
    ok = models["lib-Q8_0"]
    assert ok.source == "hf-cache" and ok.repo_id == "org/Lib-GGUF"
    assert ok.path == str(done.path) and ok.status == "ok" and ok.architecture == "llama"
    partial = models["lib-Q4_0"]
    assert partial.status == "partial" and "3000 of" in partial.problem
    assert models["lib-Q2_K"].status == "broken"
    assert "missing blob" in models["lib-Q2_K"].problem


def test_last_used_and_header_index(hub_env: HubEnv, apps_home: HomeEnv, monkeypatch) -> None:
    from workbench.store import db

    first = by_name(library.scan_library(env=apps_home, sources=["lmstudio"]))["tiny-Q4_K_M"]
    assert first.last_used is None
    connection = db.connect()  # a benchmark run of the file counts as a use
    with connection:
        connection.execute(
            "INSERT INTO bench_runs (created_at, model_path, pp_tokens, tg_tokens, repetitions,"
            " settings, machine) VALUES ('2023-05-06T07:08:09.000Z', ?, 512, 128, 5, '{}', '{}')",
            (first.path,))
    connection.close()
    bench = by_name(library.scan_library(env=apps_home, sources=["lmstudio"]))["tiny-Q4_K_M"]
    assert bench.last_used == "2023-05-06T07:08:09+00:00"
    library.record_use(first.path, when=1_700_000_000.0)  # a later load

    def no_reads(files: object) -> dict[str, object]:
        raise AssertionError("the header should come from the index")

    monkeypatch.setattr(library, "_summarize", no_reads)
    again = by_name(library.scan_library(env=apps_home, sources=["lmstudio"]))["tiny-Q4_K_M"]
    assert again.last_used == "2023-11-14T22:13:20+00:00"
    assert again.parameters == first.parameters
    # a changed file is read again
    os.utime(first.path, ns=(1, 1))
    with pytest.raises(AssertionError, match="from the index"):
        library.scan_library(env=apps_home, sources=["lmstudio"])


def test_find_model(hub_env: HubEnv, apps_home: HomeEnv) -> None:
    models = library.scan_library(env=apps_home)
    tiny = by_name(models)["tiny-Q4_K_M"]
    assert library.find_model(tiny.id, models) is tiny
    assert library.find_model(tiny.id[:6], models) is tiny
    assert library.find_model("tiny-Q4_K_M", models) is tiny
    assert library.find_model(tiny.path, models) is tiny
    assert library.find_model("tinyllama:latest", models).name == "tinyllama:1b"
    with pytest.raises(NotFoundError, match="no local model matches"):
        library.find_model("nothing-like-it", models)
    duplicate = library.LocalModel(**{**tiny.to_dict(), "id": "0000000000", "path": "/x"})
    with pytest.raises(BadInput, match="matches 2 models"):
        library.find_model("tiny-Q4_K_M", [*models, duplicate])


def test_delete(hub_env: HubEnv, apps_home: HomeEnv, ggufs: dict[str, Path]) -> None:
    from huggingface_hub import try_to_load_from_cache

    hub_env.hub.add_repo("org/Del-GGUF", {"del-Q8_0.gguf": ggufs["a"],
                                          "del-Q4_0.gguf": ggufs["b"]})
    variants = {v.quant: v for v in repo_listing("org/Del-GGUF").variants}
    Downloader().download(variants["Q8_0"].files)
    Downloader().download(variants["Q4_0"].files)
    models = by_name(library.scan_library(env=apps_home))
    deleted = library.delete_model(models["del-Q8_0"])
    assert any(d.endswith("del-Q8_0.gguf") for d in deleted)
    assert any("/blobs/" in d for d in deleted)
    assert try_to_load_from_cache("org/Del-GGUF", "del-Q8_0.gguf",
                                  cache_dir=hub_env.cache_dir) is None
    repo = hub_env.cache_dir / "models--org--Del-GGUF"
    assert repo.exists()  # the other file is still there
    library.delete_model(by_name(library.scan_library(env=apps_home))["del-Q4_0"])
    assert not repo.exists()  # nothing left: the repo folder goes too
    # plain files in an app's folder are deleted; Ollama's and Jan's are theirs
    lms = models["tiny-Q4_K_M"]
    library.delete_model(lms)
    assert not Path(lms.path).exists()
    with pytest.raises(LibraryError, match=r"`ollama rm tinyllama:1b`"):
        library.delete_model(models["tinyllama:1b"])
    assert Path(models["tinyllama:1b"].path).exists()
    with pytest.raises(LibraryError, match="managed by Jan"):
        library.delete_model(models["Qwen Q4"])


def test_reveal_command() -> None:
    assert library.reveal_command("/m/a.gguf", "darwin") == ["open", "-R", "/m/a.gguf"]
    assert library.reveal_command(r"C:\m\a.gguf", "win32") == ["explorer", r"/select,C:\m\a.gguf"]
    assert library.reveal_command("/m/a.gguf", "linux") == ["xdg-open", "/m"]
    with pytest.raises(NotFoundError):
        library.reveal("/no/such/file.gguf")
