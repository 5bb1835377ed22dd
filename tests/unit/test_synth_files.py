"""Writing synthetic GGUF files (F16/F32, no llama.cpp): content, determinism, memory, CLI."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections import namedtuple
from dataclasses import replace
from pathlib import Path

import gguf
import numpy as np
import pytest

import workbench.synth.build as build
from workbench import cli
from workbench.cancel import CancelToken
from workbench.errors import BadInput, RuntimeFailure
from workbench.synth import (
    ARCHITECTURES,
    SynthCancelled,
    plan_tensors,
    resolve_shape,
    synthesize,
    tiny_model,
)
from workbench.synth.chat import FAMILIES
from workbench.synth.layout import tensors_for
from workbench.synth.tokenizer import build_vocabulary
from workbench.synth.writer import write_model

F32, F16 = gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16


def _field(reader: gguf.GGUFReader, key: str):
    return reader.fields[key].contents()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_file_has_the_planned_tensors_and_metadata(arch: str, tmp_path: Path) -> None:
    result = synthesize(tmp_path / "m.gguf", arch)
    shape = resolve_shape(arch)
    family = FAMILIES[shape.family]
    reader = gguf.GGUFReader(result.path)
    written = {t.name: (tuple(int(d) for d in t.shape), t.tensor_type) for t in reader.tensors}
    planned = plan_tensors(arch)
    assert list(written) == [t.name for t in planned]
    for spec in planned:
        dims, kind = written[spec.name]
        assert dims == spec.shape
        assert kind == (F32 if spec.keeps_f32 else F16), spec.name
    assert _field(reader, "general.architecture") == arch
    assert _field(reader, f"{arch}.block_count") == shape.n_layer
    assert _field(reader, f"{arch}.embedding_length") == shape.n_embd
    assert _field(reader, "tokenizer.ggml.model") == "gpt2"
    assert _field(reader, "tokenizer.chat_template") == family.template
    tokens = _field(reader, "tokenizer.ggml.tokens")
    assert len(tokens) == shape.n_vocab
    assert tokens[_field(reader, "tokenizer.ggml.eos_token_id")] == family.eos
    assert tokens[_field(reader, "tokenizer.ggml.eot_token_id")] == family.eot
    assert _field(reader, "tokenizer.ggml.add_bos_token") == family.add_bos
    assert result.n_params == sum(t.n_elements for t in planned)
    assert result.size_bytes == result.path.stat().st_size
    assert not list(tmp_path.glob(".*partial"))


def test_weights_are_small_normals_and_norms_are_one(tmp_path: Path) -> None:
    reader = gguf.GGUFReader(synthesize(tmp_path / "m.gguf", "qwen2").path)
    tensors = {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors}
    weights = tensors["blk.0.ffn_up.weight"]
    assert 0.019 < weights.std() < 0.021 and abs(weights.mean()) < 0.001
    assert np.all(tensors["blk.1.attn_norm.weight"] == 1.0)
    assert np.all(np.isfinite(tensors["token_embd.weight"]))
    assert not np.array_equal(tensors["blk.0.attn_q.weight"], tensors["blk.1.attn_q.weight"])


def test_seed_makes_the_file_deterministic(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a.gguf", "gemma3", seed=7).path
    b = synthesize(tmp_path / "b.gguf", "gemma3", seed=7).path
    c = synthesize(tmp_path / "c.gguf", "gemma3", seed=8).path
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)


def test_f32_writes_every_tensor_as_f32(tmp_path: Path) -> None:
    result = synthesize(tmp_path / "m.gguf", "phi3", quant="f32")
    reader = gguf.GGUFReader(result.path)
    assert {t.tensor_type for t in reader.tensors} == {F32}
    assert _field(reader, "general.file_type") == 0
    assert result.quant == "F32"


def test_writer_streams_instead_of_holding_tensors(tmp_path: Path) -> None:
    # a wide llama with a small vocabulary: token_embd has 33.5M values, 64 MiB at F16
    shape = replace(resolve_shape("llama", vocab_size=8192), n_embd=4096, n_layer=1)
    family = FAMILIES[shape.family]
    vocab = build_vocabulary(shape.n_vocab, family)
    tensors = tensors_for(shape)
    tracemalloc.start()
    try:
        write_model(tmp_path / "m.gguf", shape, tensors, vocab, family)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    largest = max(t.n_elements for t in tensors) * 2
    assert largest >= 64 << 20
    assert peak < largest / 2


def test_overrides_reach_the_file(tmp_path: Path) -> None:
    result = synthesize(tmp_path / "m.gguf", "llama", layers=3, vocab_size=2000, ctx=2048)
    reader = gguf.GGUFReader(result.path)
    assert _field(reader, "llama.block_count") == 3
    assert _field(reader, "llama.context_length") == 2048
    assert len(_field(reader, "tokenizer.ggml.tokens")) == 2000
    assert (result.layers, result.vocab_size, result.context_length) == (3, 2000, 2048)


def test_not_enough_disk_space_is_a_runtime_failure(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(build.shutil, "disk_usage", lambda _path: usage(10**9, 10**9, 1 << 20))
    with pytest.raises(RuntimeFailure, match="not enough disk space"):
        synthesize(tmp_path / "m.gguf", "llama", preset="llama-3.2-1b")
    assert list(tmp_path.iterdir()) == []


def test_cancel_removes_partial_files(tmp_path: Path) -> None:
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(SynthCancelled):
        synthesize(tmp_path / "m.gguf", "llama", cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_a_token_set_while_writing_stops_it_between_chunks(tmp_path: Path) -> None:
    cancel = CancelToken()
    written: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        written.append(done)
        cancel.cancel()

    with pytest.raises(SynthCancelled):
        synthesize(tmp_path / "m.gguf", "llama", progress=progress, cancel=cancel)
    assert len(written) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"quant": "Q9_9"}, "unsupported quantisation"),
    ({"fault": "meltdown"}, "unknown fault"),
    ({"seed": -1}, "seed"),
])
def test_bad_options_are_bad_input(kwargs: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=message):
        synthesize(tmp_path / "m.gguf", "llama", **kwargs)


def test_bad_output_paths_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        synthesize(tmp_path / "missing" / "m.gguf", "llama")
    with pytest.raises(BadInput, match="is a directory"):
        synthesize(tmp_path, "llama")


def test_tiny_model_is_built_once_into_the_synth_cache(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_SYNTH_CACHE", str(tmp_path / "cache"))
    first = tiny_model("qwen2", "f16")
    assert first.parent == tmp_path / "cache"
    stamp = first.stat().st_mtime_ns
    second = tiny_model("qwen2", "F16")
    assert second == first and second.stat().st_mtime_ns == stamp
    assert tiny_model("qwen2", "F16", fault="duplicate-vocab") != first
    with pytest.raises(BadInput):
        tiny_model("nope")


# --- the CLI (only the synth command is registered, so other commands cannot interfere)

@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("synth",))

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["synth", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.parametrize("argv", [
    ["--arch", "nope"],
    ["--arch", "llama", "--preset", "nope"],
    ["--arch", "llama", "--preset", "gemma-3-1b"],
    ["--arch", "llama", "--layers", "0"],
    ["--arch", "llama", "--layers", "many"],
    ["--arch", "llama", "--quant", "Q1_X"],
    ["--arch", "llama", "--vocab", "10"],
    ["--arch", "llama", "--fault", "meltdown"],
    ["--arch", "llama", "--threads", "0"],
    [],
])
def test_cli_bad_input_exits_2(argv: list[str], run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli(str(tmp_path / "m.gguf"), *argv)
    assert code == 2
    assert err.startswith("workbench: error:") and err.count("\n") == 1
    assert not (tmp_path / "m.gguf").exists()


def test_cli_missing_output_exits_2(run_cli) -> None:
    code, _, err = run_cli("--arch", "llama")
    assert code == 2 and "output file" in err


def test_cli_json_describes_the_model(run_cli, tmp_path: Path) -> None:
    code, out, _ = run_cli(str(tmp_path / "m.gguf"), "--arch", "phi3", "--seed", "3", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["path"] == str(tmp_path / "m.gguf")
    assert (doc["arch"], doc["preset"], doc["quant"], doc["layers"]) == ("phi3", "phi3-tiny",
                                                                          "F16", 2)
    assert doc["n_params"] == sum(t.n_elements for t in plan_tensors("phi3"))
    assert doc["size_bytes"] == (tmp_path / "m.gguf").stat().st_size
    assert doc["seed"] == 3


def test_cli_preset_implies_arch_and_human_output(run_cli, tmp_path: Path) -> None:
    code, out, _ = run_cli(str(tmp_path / "m.gguf"), "--preset", "qwen2.5-0.5b", "--layers", "1",
                           "--vocab", "4096")
    assert code == 0
    assert out.startswith(f"wrote {tmp_path / 'm.gguf'}: qwen2.5-0.5b (qwen2, 1 layer,")


def test_cli_list(run_cli) -> None:
    code, out, _ = run_cli("--list", "--json")
    assert code == 0
    doc = json.loads(out)
    presets = {p["name"]: p for p in doc["presets"]}
    assert presets["qwen2.5-0.5b"]["n_params"] == 494_032_768
    assert set(doc["architectures"]) == set(ARCHITECTURES)
    code, out, _ = run_cli("--list")
    assert code == 0 and "llama-3.1-8b" in out
