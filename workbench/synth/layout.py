"""Tensor layout and hyper-parameter metadata of each architecture, as llama.cpp loads them.

The rules follow ``load_arch_tensors``/``load_arch_hparams`` in llama.cpp's
``src/models/<arch>.cpp`` (vendored in llama-cpp-python 0.3.36). Shapes are in GGUF/ggml order:
``shape[0]`` is the row length (ne0), as llama.cpp and GGUF readers print them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from workbench.synth.presets import ModelShape, resolve_shape


class TensorSpec(NamedTuple):
    """One tensor of the model: its GGUF name and ggml shape (ne0 first)."""

    name: str
    shape: tuple[int, ...]

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def keeps_f32(self) -> bool:
        """Vectors (norms, biases, rope factors) and MoE routers stay F32, as converters do."""
        return len(self.shape) == 1 or ".ffn_gate_inp." in self.name


def plan_tensors(arch: str | None, preset: str | None = None, layers: int | None = None, *,
                 vocab_size: int | None = None) -> list[TensorSpec]:
    """The tensors (name, shape) a synthetic model of this arch/preset has, without writing any.

    Useful for memory planning: sizes follow from the shapes and the quantisation.
    """
    return tensors_for(resolve_shape(arch, preset, layers=layers, vocab_size=vocab_size))


def tensors_for(s: ModelShape) -> list[TensorSpec]:
    E, V = s.n_embd, s.n_vocab
    q_dim, kv_dim = s.n_head * s.head_dim, s.n_head_kv * s.head_dim
    out = [TensorSpec("token_embd.weight", (E, V))]
    if s.rope_scaling and s.rope_scaling.kind == "llama3":
        out.append(TensorSpec("rope_freqs.weight", (s.head_dim // 2,)))
    if s.rope_scaling and s.rope_scaling.kind == "longrope":
        out.append(TensorSpec("rope_factors_long.weight", (s.head_dim // 2,)))
        out.append(TensorSpec("rope_factors_short.weight", (s.head_dim // 2,)))
    for i in range(s.n_layer):
        def t(name: str, *shape: int, i: int = i) -> TensorSpec:
            return TensorSpec(f"blk.{i}.{name}", shape)

        out.append(t("attn_norm.weight", E))
        if s.arch == "phi3":
            out.append(t("attn_qkv.weight", E, q_dim + 2 * kv_dim))
        else:
            out += [t("attn_q.weight", E, q_dim), t("attn_k.weight", E, kv_dim),
                    t("attn_v.weight", E, kv_dim)]
        if s.arch in ("qwen2", "qwen2moe"):
            out += [t("attn_q.bias", q_dim), t("attn_k.bias", kv_dim), t("attn_v.bias", kv_dim)]
        out.append(t("attn_output.weight", q_dim, E))
        if s.arch == "gemma3":
            out += [t("attn_q_norm.weight", s.head_dim), t("attn_k_norm.weight", s.head_dim),
                    t("post_attention_norm.weight", E)]
        out.append(t("ffn_norm.weight", E))
        if s.n_expert:
            X, F, S = s.n_expert, s.n_ff_expert, s.n_ff_shared_expert
            out += [t("ffn_gate_inp.weight", E, X), t("ffn_gate_exps.weight", E, F, X),
                    t("ffn_up_exps.weight", E, F, X), t("ffn_down_exps.weight", F, E, X),
                    t("ffn_gate_inp_shexp.weight", E), t("ffn_gate_shexp.weight", E, S),
                    t("ffn_up_shexp.weight", E, S), t("ffn_down_shexp.weight", S, E)]
        elif s.arch == "phi3":
            out += [t("ffn_up.weight", E, 2 * s.n_ff), t("ffn_down.weight", s.n_ff, E)]
        else:
            out += [t("ffn_gate.weight", E, s.n_ff), t("ffn_up.weight", E, s.n_ff),
                    t("ffn_down.weight", s.n_ff, E)]
        if s.arch == "gemma3":
            out.append(t("post_ffw_norm.weight", E))
    out.append(TensorSpec("output_norm.weight", (E,)))
    if not s.tied_embeddings:
        out.append(TensorSpec("output.weight", (E, V)))
    return out


def count_parameters(tensors: list[TensorSpec]) -> int:
    return sum(t.n_elements for t in tensors)


def hparams(s: ModelShape) -> list[tuple[str, object, str]]:
    """The architecture metadata as (key, value, gguf type) - ``{arch}.*`` keys llama.cpp reads."""
    a = s.arch
    kv: list[tuple[str, object, str]] = [
        (f"{a}.context_length", s.n_ctx, "u32"),
        (f"{a}.embedding_length", s.n_embd, "u32"),
        (f"{a}.block_count", s.n_layer, "u32"),
        (f"{a}.feed_forward_length", s.n_ff, "u32"),
        (f"{a}.attention.head_count", s.n_head, "u32"),
        (f"{a}.attention.head_count_kv", s.n_head_kv, "u32"),
        (f"{a}.attention.key_length", s.head_dim, "u32"),
        (f"{a}.attention.value_length", s.head_dim, "u32"),
        (f"{a}.attention.layer_norm_rms_epsilon", s.norm_eps, "f32"),
        (f"{a}.rope.freq_base", s.rope_theta, "f32"),
        (f"{a}.rope.dimension_count", s.head_dim, "u32"),
        (f"{a}.vocab_size", s.n_vocab, "u32"),
    ]
    if s.rope_scaling and s.rope_scaling.kind == "longrope":
        scale = s.n_ctx / s.rope_scaling.original_context
        attn_factor = (math.sqrt(1 + math.log(scale) / math.log(s.rope_scaling.original_context))
                       if scale > 1 else 1.0)
        kv += [(f"{a}.rope.scaling.attn_factor", attn_factor, "f32"),
               (f"{a}.rope.scaling.original_context_length", s.rope_scaling.original_context,
                "u32")]
    if s.sliding_window:
        kv.append((f"{a}.attention.sliding_window", s.sliding_window, "u32"))
    if s.swa_pattern:
        kv.append((f"{a}.attention.sliding_window_pattern", s.swa_pattern, "u32"))
    if s.rope_theta_swa:
        kv.append((f"{a}.rope.freq_base_swa", s.rope_theta_swa, "f32"))
    if s.n_expert:
        kv += [(f"{a}.expert_count", s.n_expert, "u32"),
               (f"{a}.expert_used_count", s.n_expert_used, "u32"),
               (f"{a}.expert_feed_forward_length", s.n_ff_expert, "u32"),
               (f"{a}.expert_shared_feed_forward_length", s.n_ff_shared_expert, "u32")]
    return kv


def rope_values(s: ModelShape, name: str) -> list[float]:
    """Contents of the rope_freqs / rope_factors_* tensors (computed as llama.cpp's converter
    does for llama3 scaling; a smooth ramp up to the context ratio for longrope)."""
    rs = s.rope_scaling
    assert rs is not None
    n = s.head_dim // 2
    if name == "rope_freqs.weight":
        low_wavelen = rs.original_context / rs.low_freq_factor
        high_wavelen = rs.original_context / rs.high_freq_factor
        factors = []
        for k in range(n):
            freq = 1.0 / (s.rope_theta ** (2 * k / s.head_dim))
            wavelen = 2 * math.pi / freq
            if wavelen < high_wavelen:
                factors.append(1.0)
            elif wavelen > low_wavelen:
                factors.append(rs.factor)
            else:
                smooth = ((rs.original_context / wavelen - rs.low_freq_factor)
                          / (rs.high_freq_factor - rs.low_freq_factor))
                factors.append(1 / ((1 - smooth) / rs.factor + smooth))
        return factors
    if name == "rope_factors_short.weight":
        return [1.0] * n
    scale = max(s.n_ctx / rs.original_context, 1.0)
    return [scale ** (k / max(n - 1, 1)) for k in range(n)]
