"""LoRA adapters in GGUF: the summary, the fit check against a base model (before llama.cpp
sees anything), malformed and hostile adapters, the load settings, ``inspect`` and ``--lora``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.gguf_bytes import F32, STR, U32, build, kv, tensor
from workbench.cli import main
from workbench.engine.defaults import check_loras, resolve_load_settings
from workbench.engine.protocol import LoadRequest, ModelInfo, Request
from workbench.engine.settings import LoadSettings, parse_lora
from workbench.errors import BadInput
from workbench.gguf import (
    AdapterMismatch,
    GGUFError,
    check_adapter_fits,
    read_adapter,
    read_header,
)
from workbench.planner import estimate_memory
from workbench.synth import synthesize, write_lora_adapter

RANK = 4


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llama at F16 (written directly: no quantiser, no llama.cpp)."""
    path = tmp_path_factory.mktemp("lora") / "llama-tiny-f16.gguf"
    synthesize(path, "llama", quant="F16")
    return path


@pytest.fixture
def adapter(base: Path, tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "lora.gguf", **kwargs: object) -> Path:
        return write_lora_adapter(tmp_path / name, base, **kwargs)  # type: ignore[arg-type]

    return make


def test_summary_of_a_synthetic_adapter(base: Path, adapter: Callable[..., Path]) -> None:
    path = adapter(rank=RANK, alpha=8.0, targets=("attn_q", "attn_v", "ffn_down"))
    summary = read_adapter(path)
    assert summary.architecture == "llama" and summary.alpha == 8.0
    assert summary.rank == RANK and summary.ranks == (RANK,)
    assert summary.targets == ("attn_q", "attn_v", "ffn_down")
    assert len(summary.pairs) == 2 * 3  # 2 layers x 3 kinds
    base_header = read_header(base)
    for pair in summary.pairs:
        n_in, n_out = base_header.tensor(pair.base).shape  # type: ignore[union-attr]
        assert pair.a_shape == (n_in, RANK) and pair.b_shape == (RANK, n_out)
        assert pair.n_bytes == 4 * RANK * (n_in + n_out)  # F32
    assert summary.tensor_data_size == sum(p.n_bytes for p in summary.pairs)
    assert summary.tensor_types == {"F32": 12}
    assert summary.scale_factor(1.0, summary.pairs[0]) == 2.0  # alpha / rank
    check_adapter_fits(summary, base_header)  # fits: no error
    document = summary.to_dict()
    assert document["kind"] == "lora-adapter" and document["rank"] == RANK
    json.dumps(document)


def test_f16_adapter_and_default_alpha(adapter: Callable[..., Path]) -> None:
    summary = read_adapter(adapter(dtype="F16", rank=8))
    assert summary.tensor_types == {"F16": 8} and summary.alpha == 8.0
    assert summary.pairs[0].n_bytes == 2 * 8 * (256 + 256)


@pytest.mark.parametrize(("mismatch", "expected"), [
    ("arch", "it is for qwen2, the model is llama"),
    ("width", "'blk.0.attn_q.weight' is [256, 256] in the model, the adapter's pair is "
              "[512, 4] and [4, 256] (expected [256, 4] and [4, 256]"),
    ("missing-tensor", "the model has no tensor 'blk.2.attn_q.weight'"),
])
def test_mismatched_adapters_are_refused_before_loading(base: Path, adapter: Callable[..., Path],
                                                        mismatch: str, expected: str) -> None:
    path = adapter(mismatch=mismatch)
    with pytest.raises(AdapterMismatch, match="does not fit the model") as err:
        check_adapter_fits(read_adapter(path), read_header(base))
    assert expected in str(err.value)
    # the load policy every caller goes through refuses it, before any worker sees it
    with pytest.raises(AdapterMismatch):
        resolve_load_settings(LoadSettings(str(base), loras=((str(path), 1.0),)))


def test_missing_adapter_file(base: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such LoRA adapter file"):
        check_loras(LoadSettings(str(base), loras=((str(tmp_path / "nope.gguf"), 1.0),)))


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    return path


A = tensor("blk.0.attn_q.weight.lora_a", (256, 4))
B = tensor("blk.0.attn_q.weight.lora_b", (4, 256), offset=4096)
DATA = bytes(4096 * 2)
GOOD_KEYS = [kv("general.architecture", STR, "llama"), kv("general.type", STR, "adapter"),
             kv("adapter.type", STR, "lora"), kv("adapter.lora.alpha", F32, 4.0)]


def _adapter_bytes(keys: list[bytes], tensors: list[bytes] = (A, B), data: bytes = DATA) -> bytes:
    return build(keys, list(tensors)) + data  # type: ignore[arg-type]


def test_the_byte_builder_makes_a_valid_adapter(tmp_path: Path, base: Path) -> None:
    summary = read_adapter(_write(tmp_path, _adapter_bytes(GOOD_KEYS)))
    assert summary.rank == 4 and summary.alpha == 4.0
    check_adapter_fits(summary, read_header(base))


@pytest.mark.parametrize(("keys", "tensors", "message"), [
    (GOOD_KEYS[:1], (A, B), "no general.type"),
    ([GOOD_KEYS[0], kv("general.type", STR, "model")], (A, B), "general.type is 'model'"),
    ([GOOD_KEYS[0], kv("general.type", U32, 1)], (A, B), "general.type must be a string"),
    (GOOD_KEYS[:2], (A, B), "no adapter.type"),
    ([*GOOD_KEYS[:2], kv("adapter.type", STR, "cvec")], (A, B), "adapter.type is 'cvec'"),
    ([*GOOD_KEYS[1:3]], (A, B), "no general.architecture"),
    # llama.cpp's gguf_get_val_f32 would abort on a uint32 alpha: refused here first
    ([*GOOD_KEYS[:3], kv("adapter.lora.alpha", U32, 4)], (A, B), "alpha must be a float32"),
    ([*GOOD_KEYS[:3], kv("adapter.lora.alpha", F32, float("nan"))], (A, B), "alpha is nan"),
    (GOOD_KEYS, (A,), "'blk.0.attn_q.weight.lora_b' is missing"),
    (GOOD_KEYS, (tensor("blk.0.attn_q.weight", (256, 4)),), "neither a .lora_a nor"),
    (GOOD_KEYS, (A, tensor("blk.0.attn_q.weight.lora_b", (8, 256), offset=4096)),
     "must be lora_a's rank 4"),
    (GOOD_KEYS, (tensor("blk.0.attn_q.weight.lora_a", (256, 4), ggml_type=2),
                 tensor("blk.0.attn_q.weight.lora_b", (4, 256), offset=576)),
     "is Q4_0; LoRA tensors must be one of"),
    (GOOD_KEYS, (), "holds no LoRA tensors"),
])
def test_malformed_adapters_are_clear_errors(tmp_path: Path, keys: list[bytes],
                                             tensors: tuple[bytes, ...], message: str) -> None:
    with pytest.raises(GGUFError, match="not a usable LoRA adapter") as err:
        read_adapter(_write(tmp_path, _adapter_bytes(keys, tensors)))
    assert message in str(err.value)


def test_corrupt_adapter_files_are_gguf_errors(tmp_path: Path, adapter: Callable[..., Path],
                                               base: Path) -> None:
    good = adapter().read_bytes()
    truncated = _write(tmp_path, good[:len(good) // 2])
    with pytest.raises(GGUFError, match="truncated"):
        read_adapter(truncated)
    garbage = _write(tmp_path, np.random.default_rng(0).bytes(4096))
    with pytest.raises(GGUFError, match="not a GGUF file"):
        read_adapter(garbage)
    with pytest.raises(GGUFError):
        check_loras(LoadSettings(str(base), loras=((str(garbage), 1.0),)))


def test_a_model_is_not_an_adapter(base: Path) -> None:
    with pytest.raises(GGUFError, match=r"general\.type"):
        read_adapter(base)


# -- load settings and the protocol ------------------------------------------------------------

def test_load_settings_carry_loras_through_json() -> None:
    settings = LoadSettings("m.gguf", loras=(("a.gguf", 1.0), ("b.gguf", 0.5)))
    assert LoadSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    from_lists = LoadSettings.from_dict({"model_path": "m.gguf", "loras": [["a.gguf", 1]]})
    assert from_lists.loras == (("a.gguf", 1.0),)
    hash(from_lists)
    request = Request.from_json(json.loads(LoadRequest(id=1, settings=settings).encode()))
    assert isinstance(request, LoadRequest) and request.settings == settings
    info = ModelInfo.from_json({**ModelInfo(
        "m", "llama", None, 1, 1, 1, 1, 1, False, 1.0, 1, False, "auto", "f16", 0, False, "x",
        loras=(("a.gguf", 0.0),)).to_json()})
    assert info.loras == (("a.gguf", 0.0),)


@pytest.mark.parametrize(("loras", "message"), [
    ([["a.gguf", float("inf")]], "must be finite"),
    ([["a.gguf", float("nan")]], "must be finite"),
    ([["a.gguf", "1"]], "must be a number"),
    ([["a.gguf"]], "a \\[path, scale\\] pair"),
    ([["", 1.0]], "non-empty string"),
    ("a.gguf", "a list of"),
])
def test_bad_lora_settings(loras: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        LoadSettings("m.gguf", loras=loras)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("a.gguf", ("a.gguf", 1.0)), ("a.gguf@0", ("a.gguf", 0.0)),
    ("dir/a.gguf@-0.5", ("dir/a.gguf", -0.5)), ("x@y/a.gguf@2", ("x@y/a.gguf", 2.0)),
])
def test_parse_lora(text: str, expected: tuple[str, float]) -> None:
    assert parse_lora(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("a.gguf@much", "must be a number"), ("a.gguf@inf", "finite"), ("@1", "before '@'"),
])
def test_parse_lora_refuses(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_lora(text)


def test_parse_lora_takes_a_file_name_with_an_at(tmp_path: Path) -> None:
    path = tmp_path / "adapter@v2.gguf"
    path.write_bytes(b"")
    assert parse_lora(str(path)) == (str(path), 1.0)


# -- the CLI -------------------------------------------------------------------------------------

def test_inspect_an_adapter(adapter: Callable[..., Path],
                            capsys: pytest.CaptureFixture[str]) -> None:
    path = adapter(rank=RANK, alpha=8.0)
    assert main(["inspect", str(path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "lora-adapter" and document["architecture"] == "llama"
    assert document["rank"] == RANK and document["alpha"] == 8.0
    assert document["targets"] == ["attn_q", "attn_v"] and len(document["pairs"]) == 4
    # F32 pairs on attn_q [256, 256] and attn_v [256, 128] in each of 2 layers
    assert document["tensor_data_size"] == 2 * 4 * RANK * ((256 + 256) + (256 + 128))
    assert main(["inspect", str(path), "--tensors"]) == 0
    out = capsys.readouterr().out
    assert "GGUF LoRA adapter" in out and "attn_q, attn_v" in out
    assert "blk.0.attn_q.weight.lora_a" in out  # the tensor table


def test_run_refuses_a_mismatched_adapter_before_loading(
        base: Path, adapter: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = adapter(mismatch="width")
    assert main(["run", str(base), "hi", "--lora", f"{path}@0.5"]) == 2
    err = capsys.readouterr().err
    assert "does not fit the model" in err and "other widths" in err
    assert main(["run", str(base), "hi", "--lora", f"{path}@lots"]) == 2
    assert "must be a number" in capsys.readouterr().err
    assert main(["run", str(base), "hi", "--lora", str(path.with_name("none.gguf"))]) == 2
    assert "no such LoRA adapter file" in capsys.readouterr().err


# -- the memory plan -----------------------------------------------------------------------------

def test_plan_counts_the_adapter_weights(base: Path, adapter: Callable[..., Path]) -> None:
    header = read_header(base)
    summary = read_adapter(adapter(targets=("attn_q", "attn_v", "output")))
    plain = estimate_memory(header, n_ctx=1024)
    plan = estimate_memory(header, n_ctx=1024, loras=[summary])
    assert plan.adapter_cpu_bytes == summary.tensor_data_size and plan.adapter_gpu_bytes == 0
    assert plan.weights_cpu_bytes == plain.weights_cpu_bytes + summary.tensor_data_size
    # with every layer on a GPU the adapter's pairs go there too (CUDA aligns to 128 bytes)
    gpu = estimate_memory(header, n_ctx=1024, loras=[summary], backend="cuda", n_gpu_layers=-1)
    assert gpu.adapter_gpu_bytes == summary.tensor_data_size and gpu.adapter_cpu_bytes == 0
    # only the output layer offloaded: its pair on the GPU, the blocks' on the CPU
    one = estimate_memory(header, n_ctx=1024, loras=[summary], backend="cuda", n_gpu_layers=1)
    output = next(p for p in summary.pairs if p.base == "output.weight")
    assert one.adapter_gpu_bytes == output.n_bytes
    assert one.adapter_cpu_bytes == summary.tensor_data_size - output.n_bytes


def test_an_adapter_is_told_from_a_model_by_its_first_bytes(base: Path,
                                                           adapter: Callable[..., Path]) -> None:
    from workbench.gguf import looks_like_adapter

    assert looks_like_adapter(str(adapter(rank=RANK, alpha=8.0)))
    assert not looks_like_adapter(str(base))
    assert not looks_like_adapter(str(base.parent / "no-such-file.gguf"))
