"""Presets and tensor plans: real models' tensor counts, parameter counts and shapes."""

from __future__ import annotations

import gguf
import pytest

from workbench.errors import BadInput
from workbench.synth import ARCHITECTURES, PRESETS, count_parameters, plan_tensors, resolve_shape
from workbench.synth.layout import tensors_for
from workbench.synth.writer import tensor_nbytes

# (preset, tensors in the real GGUF, parameters of the real model + rope factor tensors)
REAL_MODELS = [
    ("llama-3.2-1b", 147, 1_235_814_400 + 32),  # + rope_freqs (head_dim / 2)
    ("llama-3.2-3b", 255, 3_212_749_824 + 64),
    ("llama-3.1-8b", 292, 8_030_261_248 + 64),
    ("qwen2.5-0.5b", 290, 494_032_768),
    ("qwen2.5-1.5b", 338, 1_543_714_304),
    ("qwen2.5-7b", 339, 7_615_616_512),
    ("gemma-3-1b", 340, 999_885_952),
    ("phi-3.5-mini", 197, 3_821_079_552 + 2 * 48),  # + rope_factors_long/short
    ("qwen1.5-moe-a2.7b", 411, 14_315_784_192),
]


@pytest.mark.parametrize(("preset", "n_tensors", "n_params"), REAL_MODELS)
def test_full_presets_match_the_real_models(preset: str, n_tensors: int, n_params: int) -> None:
    tensors = plan_tensors(None, preset)
    assert len(tensors) == n_tensors
    assert count_parameters(tensors) == n_params
    assert len({t.name for t in tensors}) == n_tensors


def test_known_shapes_of_qwen_and_llama() -> None:
    qwen = dict(plan_tensors("qwen2", "qwen2.5-0.5b"))
    assert qwen["token_embd.weight"] == (896, 151936)
    assert qwen["blk.0.attn_k.weight"] == (896, 128)  # 2 KV heads x 64
    assert qwen["blk.23.attn_q.bias"] == (896,)
    assert qwen["blk.0.ffn_down.weight"] == (4864, 896)
    assert "output.weight" not in qwen  # tied embeddings
    llama = dict(plan_tensors("llama", "llama-3.1-8b"))
    assert llama["output.weight"] == (4096, 128256)
    assert llama["blk.31.attn_v.weight"] == (4096, 1024)
    assert llama["rope_freqs.weight"] == (64,)


def test_architecture_specific_tensors() -> None:
    gemma = dict(plan_tensors("gemma3", "gemma-3-1b"))
    assert gemma["blk.0.attn_q.weight"] == (1152, 1024)  # 4 heads x 256 != n_embd
    assert gemma["blk.0.attn_output.weight"] == (1024, 1152)
    assert gemma["blk.0.attn_q_norm.weight"] == (256,)
    assert "blk.25.post_ffw_norm.weight" in gemma
    phi = dict(plan_tensors("phi3", "phi-3.5-mini"))
    assert phi["blk.0.attn_qkv.weight"] == (3072, 3 * 3072)
    assert phi["blk.0.ffn_up.weight"] == (3072, 2 * 8192)
    assert "blk.0.ffn_gate.weight" not in phi and "blk.0.attn_q.weight" not in phi
    moe = dict(plan_tensors("qwen2moe", "qwen1.5-moe-a2.7b"))
    assert moe["blk.0.ffn_gate_exps.weight"] == (2048, 1408, 60)
    assert moe["blk.0.ffn_down_exps.weight"] == (1408, 2048, 60)
    assert moe["blk.0.ffn_gate_inp_shexp.weight"] == (2048,)
    assert moe["blk.0.ffn_up_shexp.weight"] == (2048, 5632)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_tensor_name_is_known_to_gguf_for_its_arch(preset: str) -> None:
    shape = PRESETS[preset]
    arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == shape.arch)
    allowed = {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[arch]}
    for spec in tensors_for(shape):
        base = spec.name.rsplit(".", 1)[0]
        if base.startswith("blk."):
            base = "blk.{bid}." + base.split(".", 2)[2]
        assert base in allowed, spec.name


def test_layers_override_cuts_layers_and_keeps_the_shape() -> None:
    full = dict(plan_tensors("llama", "llama-3.2-1b"))
    cut = dict(plan_tensors("llama", "llama-3.2-1b", layers=2))
    assert {name for name in cut if name.startswith("blk.")} == {
        name for name in full if name.startswith(("blk.0.", "blk.1."))}
    assert all(full[name] == shape for name, shape in cut.items())
    assert resolve_shape("llama", "llama-3.2-1b", layers=2).n_layer == 2


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_tiny_models_are_small_and_mostly_k_quant_friendly(arch: str) -> None:
    tensors = plan_tensors(arch)
    assert resolve_shape(arch).n_layer == 2
    assert sum(tensor_nbytes(t, "F16") for t in tensors) < 4.5 * 2**20
    matrices = [t for t in tensors if len(t.shape) > 1]
    assert sum(t.shape[0] % 256 == 0 for t in matrices) >= 0.8 * len(matrices)


@pytest.mark.parametrize("shape", list(PRESETS.values()), ids=list(PRESETS))
def test_presets_are_consistent(shape) -> None:
    assert shape.n_head % shape.n_head_kv == 0
    assert shape.head_dim % 2 == 0
    assert shape.name.endswith("-tiny") or shape.n_vocab >= 32000
    assert (shape.n_expert > 0) == (shape.arch == "qwen2moe")
    assert (shape.sliding_window > 0 and shape.swa_pattern > 0) == (shape.arch == "gemma3")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"arch": "gpt9"}, "unknown architecture"),
    ({"arch": "llama", "preset": "nope"}, "unknown preset"),
    ({"arch": "llama", "preset": "qwen2.5-0.5b"}, "is a qwen2 model"),
    ({"arch": None}, "give an architecture"),
    ({"arch": "llama", "layers": 0}, "layer count"),
    ({"arch": "llama", "layers": 513}, "layer count"),
    ({"arch": "llama", "vocab_size": 0}, "vocabulary size"),
    ({"arch": "llama", "ctx": 8}, "context length"),
])
def test_bad_shapes_are_bad_input(kwargs: dict, message: str) -> None:
    arch = kwargs.pop("arch")
    with pytest.raises(BadInput, match=message):
        resolve_shape(arch, **kwargs)


def test_preset_alone_implies_its_arch() -> None:
    assert resolve_shape(None, "gemma-3-1b").arch == "gemma3"
