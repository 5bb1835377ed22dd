"""`workbench search / files / pull / ls / rm` end to end, against the loopback Hub.

Real processes, real sockets, real (synthetic) GGUF files; the restart test kills a download
with SIGKILL and checks that the next run fetches only the missing bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.hub import HubEnv, split_gguf, synthetic_gguf
from workbench.gguf import read_header, summarize
from workbench.hub import cache

TINY = "alice/Tiny-Llama-GGUF"
FIT_LABELS = {"full_gpu", "partial", "cpu_only", "too_large"}


def workbench(*args: str, env: HubEnv, timeout: float = 120,
              **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=timeout, env=env.subprocess_env(**extra),
                          stdin=subprocess.DEVNULL)


def start(*args: str, env: HubEnv) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "workbench", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env.subprocess_env(), stdin=subprocess.DEVNULL)


def cli(*args: str, capsys) -> tuple[int, str, str]:
    """The CLI in this process (the environment is read at call time, so this is the same
    code path as a child process, minus the start-up)."""
    from workbench.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 23 MB model: big enough that reading its header is visibly not reading the file."""
    return synthetic_gguf(tmp_path_factory.mktemp("big") / "big.gguf", n_embd=512, vocab=1024)


@pytest.fixture
def hub(hub_env: HubEnv, tiny_model_path, big_model: Path, tmp_path: Path) -> HubEnv:
    q8 = tiny_model_path("llama", "Q8_0")
    hub_env.hub.add_repo(TINY, {"tiny-llama-Q8_0.gguf": q8,
                                "tiny-llama-Q4_K_M.gguf": tiny_model_path("llama", "Q4_K_M"),
                                "README.md": b"# tiny llama\n"},
                         downloads=1200, likes=7,
                         gguf={"total": 1705248, "architecture": "llama",
                               "context_length": 4096})
    shards = split_gguf(q8, tmp_path / "shards", "tiny-llama-Q8_0", max_tensors=8)
    hub_env.hub.add_repo("bob/Split-GGUF", {
        **{f"Q8_0/{s.name}": s for s in shards},
        "mmproj-tiny-F16.gguf": tiny_model_path("llama", "F16"),
        "big-F32.gguf": big_model}, downloads=30)
    hub_env.hub.add_repo("meta/Gated-GGUF", {"gated-Q8_0.gguf": q8}, gated="manual",
                         tokens={"hf_granted"}, downloads=5)
    return hub_env


def test_search(hub: HubEnv) -> None:
    result = workbench("search", "gguf", "--json", env=hub)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [r["repo_id"] for r in doc["results"]] == [TINY, "bob/Split-GGUF", "meta/Gated-GGUF"]
    tiny = doc["results"][0]
    assert tiny["downloads"] == 1200 and tiny["likes"] == 7 and tiny["license"] == "apache-2.0"
    assert tiny["architecture"] == "llama" and tiny["parameters"] == 1705248
    assert tiny["updated"].startswith("2025-01-02") and tiny["gated"] is False
    assert doc["results"][2]["gated"] == "manual"
    human = workbench("search", "tiny", env=hub)
    assert human.returncode == 0 and "alice/Tiny" in human.stdout and "Split" not in human.stdout


def test_files_plans_every_variant_from_remote_headers(hub: HubEnv, tiny_model_path,
                                                       big_model: Path) -> None:
    result = workbench("files", "bob/Split-GGUF", "--json", "--ctx", "1024", env=hub)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    variants = {v["name"]: v for v in doc["variants"]}
    assert set(variants) == {"Q8_0/tiny-llama-Q8_0.gguf", "big-F32.gguf",
                             "mmproj-tiny-F16.gguf"}
    split = variants["Q8_0/tiny-llama-Q8_0.gguf"]
    assert split["split_count"] == 3 and split["complete"] and len(split["files"]) == 3
    assert split["quant"] == "Q8_0"
    assert all(len(f["sha256"]) == 64 for f in split["files"])
    for name in ("Q8_0/tiny-llama-Q8_0.gguf", "big-F32.gguf"):
        plan = variants[name]["plan"]
        assert plan["error"] is None and plan["fit"] in FIT_LABELS
        assert plan["n_ctx"] == 1024
        speed = plan["speed"]
        assert (speed is not None and speed["tg_tokens_per_s"] > 0) or plan["speed_note"]
    # the memory plan comes from the real headers: the weights are the tensors' bytes
    q8 = summarize(read_header(tiny_model_path("llama", "Q8_0")))
    assert variants["Q8_0/tiny-llama-Q8_0.gguf"]["plan"]["memory"]["weights_bytes"] \
        == q8.tensor_data_size
    assert variants["big-F32.gguf"]["plan"]["memory"]["weights_bytes"] \
        == summarize(read_header(big_model)).tensor_data_size
    assert variants["mmproj-tiny-F16.gguf"]["kind"] == "mmproj"
    assert variants["mmproj-tiny-F16.gguf"]["plan"] is None
    # only the header of the 23 MB file crossed the wire
    assert hub.hub.bytes_served("bob/Split-GGUF/big-F32.gguf") < big_model.stat().st_size / 4
    assert doc["machine"]["backend"] and doc["machine"]["free_ram_bytes"] > 0
    human = workbench("files", TINY, env=hub)
    assert human.returncode == 0, human.stderr
    assert "Q4_K_M" in human.stdout and "Q8_0" in human.stdout
    assert "workbench pull" in human.stdout


def test_pull_ls_rm(hub: HubEnv, tiny_model_path, capsys) -> None:
    result = workbench("pull", TINY, "--quant", "q8_0", "--json", env=hub)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    path = Path(doc["path"])
    assert path.read_bytes() == tiny_model_path("llama", "Q8_0").read_bytes()
    assert path.is_relative_to(hub.cache_dir) and doc["fetched_bytes"] == path.stat().st_size
    code, _, err = cli("pull", TINY, capsys=capsys)
    assert code == 2 and "2 GGUF variants" in err and "Q4_K_M" in err
    code, out, _ = cli("pull", TINY, "--quant", "Q8_0", "--json", capsys=capsys)
    again = json.loads(out)
    assert code == 0 and again["files"][0]["cached"] and again["fetched_bytes"] == 0
    code, out, err = cli("pull", "bob/Split-GGUF", "--file",
                         "tiny-llama-Q8_0-00002-of-00003.gguf", capsys=capsys)
    assert code == 0, err
    assert "SHA-256 verified" in out and "[3/3]" in err

    code, out, _ = cli("ls", "--json", capsys=capsys)
    listing = json.loads(out)
    tiny = next(m for m in listing["models"] if m["path"] == str(path))
    assert tiny["architecture"] == "llama" and tiny["quant"] == "Q8_0"
    assert tiny["repo_id"] == TINY and tiny["status"] == "ok" and tiny["source"] == "hf-cache"
    shards = [m for m in listing["models"] if len(m["files"]) == 3]
    assert len(shards) == 1 and shards[0]["repo_id"] == "bob/Split-GGUF"

    code, _, err = cli("rm", tiny["id"], capsys=capsys)  # no terminal to ask on
    assert code == 2 and "--yes" in err and path.exists()
    removed = workbench("rm", tiny["id"], "--yes", "--json", env=hub)
    assert removed.returncode == 0, removed.stderr
    assert not path.exists()
    code, out, _ = cli("ls", "--json", capsys=capsys)
    assert all(m["path"] != str(path) for m in json.loads(out)["models"])
    code, out, _ = cli("ls", capsys=capsys)
    assert code == 0 and "1 model(s)" in out


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def partial_size(hub: HubEnv, sha256: str) -> int:
    try:
        return cache.incomplete_path(hub.cache_dir, TINY, sha256).stat().st_size
    except FileNotFoundError:
        return 0


def test_killed_download_resumes_without_refetching(hub: HubEnv, tiny_model_path) -> None:
    data = tiny_model_path("llama", "Q8_0").read_bytes()
    target = f"{TINY}/tiny-llama-Q8_0.gguf"
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    hub.hub.throttle(target, 250_000, times=1)
    process = start("pull", TINY, "--quant", "Q8_0", "--json", env=hub)
    try:
        wait_for(lambda: partial_size(hub, sha) >= 400_000)
    finally:
        process.kill()  # SIGKILL: no cleanup at all, like a crash or a power cut
        process.communicate(timeout=30)
    kept = partial_size(hub, sha)
    assert 400_000 <= kept < len(data)
    state = json.loads((hub.workbench_home / "data" / "downloads.json").read_text())
    assert state["jobs"][0]["state"] == "running"  # its process died with it
    first_run = len(hub.hub.content_requests(target))
    result = workbench("pull", TINY, "--quant", "Q8_0", "--json", env=hub)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["resumed_bytes"] == kept and doc["fetched_bytes"] == len(data) - kept
    [second] = hub.hub.content_requests(target)[first_run:]
    assert second.range == f"bytes={kept}-" and second.start == kept
    assert second.bytes_sent == len(data) - kept  # not one finished byte again
    assert Path(doc["path"]).read_bytes() == data
    state = json.loads((hub.workbench_home / "data" / "downloads.json").read_text())
    assert [j["state"] for j in state["jobs"]] == ["done"]


def test_ctrl_c_keeps_the_bytes(hub: HubEnv, tiny_model_path) -> None:
    data = tiny_model_path("llama", "Q8_0").read_bytes()
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    hub.hub.throttle(f"{TINY}/tiny-llama-Q8_0.gguf", 250_000, times=1)
    process = start("pull", TINY, "--quant", "Q8_0", env=hub)
    wait_for(lambda: partial_size(hub, sha) >= 200_000)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "kept; run the same command to resume" in stderr
    assert partial_size(hub, sha) >= 200_000
    state = json.loads((hub.workbench_home / "data" / "downloads.json").read_text())
    assert state["jobs"][0]["state"] == "queued"  # a restart of the app resumes it


def test_corrupt_file_is_rejected(hub: HubEnv, capsys) -> None:
    hub.hub.corrupt(f"{TINY}/tiny-llama-Q4_K_M.gguf", 1000)
    code, _, err = cli("pull", TINY, "--quant", "Q4_K_M", capsys=capsys)
    assert code == 1
    assert "corrupt" in err and "deleted" in err
    code, out, _ = cli("ls", "--json", "--source", "hf-cache", capsys=capsys)
    assert code == 0 and json.loads(out)["models"] == []


def test_gated_missing_and_offline(hub: HubEnv, capsys, monkeypatch) -> None:
    code, _, err = cli("pull", "meta/Gated-GGUF", capsys=capsys)
    assert code == 1 and "HTTP 401" in err and "HF_TOKEN" in err
    monkeypatch.setenv("HF_TOKEN", "hf_nope")
    code, _, err = cli("pull", "meta/Gated-GGUF", capsys=capsys)
    assert code == 1 and "HTTP 403" in err
    monkeypatch.setenv("HF_TOKEN", "hf_granted")
    code, out, err = cli("pull", "meta/Gated-GGUF", capsys=capsys)
    assert code == 0, err
    assert "hf_granted" not in out + err  # never printed
    monkeypatch.delenv("HF_TOKEN")
    code, _, err = cli("files", "alice/Nope-GGUF", capsys=capsys)
    assert code == 2 and "no such repository" in err
    code, _, err = cli("pull", "not a repo", capsys=capsys)
    assert code == 2 and "not a Hub repository id" in err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for args in (("search", "tiny"), ("files", TINY), ("pull", TINY, "--quant", "Q8_0")):
        code, _, err = cli(*args, capsys=capsys)
        assert code == 1 and "offline" in err and "Traceback" not in err, args
    code, out, _ = cli("ls", "--json", capsys=capsys)
    assert code == 0
    assert [m["repo_id"] for m in json.loads(out)["models"]] == ["meta/Gated-GGUF"]
    # the same from a child process: exit 1, one line
    offline = workbench("search", "tiny", env=hub)
    assert offline.returncode == 1 and offline.stderr.count("\n") == 1
    assert offline.stderr.startswith("workbench: error: offline")


def test_disk_full_before_starting(hub: HubEnv, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cache, "free_bytes", lambda path: 1 << 20)
    code, _, err = cli("pull", TINY, "--quant", "Q8_0", capsys=capsys)
    assert code == 1
    assert "not enough disk space" in err and "HF_HOME" in err
    assert hub.hub.content_requests(f"{TINY}/tiny-llama-Q8_0.gguf") == []


def test_library_sees_other_apps_offline(hub: HubEnv, tmp_path: Path, tiny_model_path) -> None:
    home = tmp_path / "home"
    lms = home / ".lmstudio/models/pub/Tiny-GGUF/tiny-Q4_K_M.gguf"
    lms.parent.mkdir(parents=True)
    lms.write_bytes(tiny_model_path("llama", "Q4_K_M").read_bytes())
    result = workbench("ls", "--json", "--source", "lmstudio", env=hub, HOME=str(home),
                       HF_HUB_OFFLINE="1")
    assert result.returncode == 0, result.stderr
    [model] = json.loads(result.stdout)["models"]
    assert model["source"] == "lmstudio" and model["quant"] == "Q4_K_M"
    assert model["path"] == str(lms) and model["architecture"] == "llama"
    assert os.path.exists(model["path"])
