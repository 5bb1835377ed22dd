"""`workbench inspect`: the summary as JSON or a table, tensors, metadata, exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import gguf
import numpy as np
import pytest

from workbench.cli import main

TOKENS = [f"tok{i}" for i in range(500)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inspect") / "tiny-q8.gguf"
    writer = gguf.GGUFWriter(path, "qwen2")
    writer.add_name("Tiny [bold]Qwen[/bold]")  # file text is never rich markup
    writer.add_context_length(32768)
    writer.add_block_count(1)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_feed_forward_length(128)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(TOKENS)
    writer.add_array("test.small", [1, 2, 3])
    writer.add_float32("test.nan", float("nan"))
    writer.add_chat_template("{{ messages[0]['content'] }}")
    writer.add_tensor("token_embd.weight", np.zeros((500, 64 // 32 * 34), dtype=np.uint8),
                      raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["inspect", *args, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_json_summary(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, str(model))
    assert doc["architecture"] == "qwen2"
    assert doc["name"] == "Tiny [bold]Qwen[/bold]"
    assert doc["file_type"] == "Q8_0" and doc["dominant_type"] == "Q8_0"
    assert doc["tensor_types"] == {"F32": 1, "Q8_0": 1}
    assert doc["parameter_count"] == 500 * 64 + 64
    assert doc["tensor_data_size"] == 500 * 2 * 34 + 64 * 4
    assert doc["context_length"] == 32768
    assert (doc["n_layer"], doc["n_embd"], doc["n_head"], doc["n_head_kv"], doc["n_ff"]) == (
        1, 64, 4, 2, 128)
    assert doc["vocab_size"] == 500
    assert doc["has_chat_template"] is True and doc["chat_template_length"] == 28
    assert doc["file_size"] == model.stat().st_size
    assert doc["split_count"] == 1
    assert "tensors" not in doc and "metadata" not in doc
    assert all(key == key.lower() for key in doc)


def test_json_tensors_and_metadata(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, str(model), "--tensors", "--metadata")
    assert [t["name"] for t in doc["tensors"]] == ["token_embd.weight", "output_norm.weight"]
    first = doc["tensors"][0]
    assert first["type"] == "Q8_0" and first["shape"] == [64, 500]
    assert first["n_bytes"] == 500 * 2 * 34 and first["n_elements"] == 32000
    assert first["offset"] % 32 == 0
    meta = doc["metadata"]
    assert meta["tokenizer.ggml.tokens"] == {"type": "array[string]", "length": 500}
    assert meta["test.small"] == [1, 2, 3]
    assert meta["test.nan"] == "nan"
    assert meta["general.architecture"] == "qwen2"


def test_human_output(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(model), "--tensors", "--metadata"]) == 0
    out = capsys.readouterr().out
    assert "Tiny [bold]Qwen[/bold] (qwen2)" in out
    assert "32.06 K (32,064)" in out  # parameters
    assert "Q8_0" in out and "32768" in out
    assert "token_embd.weight" in out and "64 x 500" in out
    assert "[500 items]" in out


def test_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "absent.gguf"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "no such file" in lines[0]


def test_malformed_file_is_exit_2(model: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(model.read_bytes()[:1000])
    assert main(["inspect", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error:") and "malformed GGUF" in err and "truncated" in err
    assert len(err.strip().splitlines()) == 1


def test_network_failure_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["inspect", f"http://127.0.0.1:{port}/m.gguf"]) == 1
    assert "cannot connect" in capsys.readouterr().err


def test_token_flag_needs_the_variable(model: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["inspect", str(model), "--hf-token"]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err
