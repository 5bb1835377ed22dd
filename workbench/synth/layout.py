"""The one tensor layout of each architecture, as llama.cpp loads it.

Both the synthesiser (``tensors_for(ModelShape)``: the tensors it writes) and the planner and
catalog (``workbench.planner.catalog.plan_tensors``: the tensors a file of a catalogued model
holds) take their tensors from ``layout_tensors(ArchShape)``: the numbers that decide a model's
tensors. The rules follow ``load_arch_tensors`` in llama.cpp's ``src/models/<arch>.cpp``
(vendored in llama-cpp-python 0.3.36); the names are llama-arch.cpp's (gguf-py's
``TENSOR_NAMES``/``MODEL_TENSORS``). Shapes are in GGUF/ggml order: ``shape[0]`` is the row
length (ne0), as llama.cpp and GGUF readers print them.

Also here: the hyper-parameter metadata (``hparams``) and the RoPE factor tensors' contents
(``rope_values``) that the synthesiser writes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

from workbench.synth.presets import ModelShape, resolve_shape

# Every architecture the layout knows (the synthesiser builds those in presets.ARCHITECTURES).
LAYOUT_ARCHS = ("llama", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3",
                "olmo2")
MOE_ARCHS = ("qwen2moe", "qwen3moe")  # every layer has routed experts
ROPE_KINDS = ("", "llama3", "longrope")
# Roles of the tensors that stay F32 (vectors and MoE routers), as converters write them.
F32_ROLES = frozenset({"norm", "bias", "router", "rope"})


@dataclass(frozen=True)
class ArchShape:
    """The numbers that decide a model's tensors (and nothing else: no context, no RoPE base).

    ``rope`` is the RoPE scaling kind that adds factor tensors: ``"llama3"`` (rope_freqs) or
    ``"longrope"`` (rope_factors_long/short); ``""`` adds none. A qwen2moe shared expert is
    ``n_ff_shared_expert`` wide (llama.cpp: ``n_ff`` when the key is missing).
    """

    arch: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    tied_embeddings: bool
    n_expert: int = 0
    n_ff_expert: int = 0
    n_ff_shared_expert: int = 0
    rope: str = ""

    @property
    def q_dim(self) -> int:
        return self.n_head * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_head_kv * self.head_dim


class TensorSpec(NamedTuple):
    """One tensor of the model: its GGUF name and ggml shape (ne0 first).

    ``role`` and ``layer`` follow from the name, as llama.cpp's quantiser reads them.
    """

    name: str
    shape: tuple[int, ...]

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def layer(self) -> int:
        """The block index (``blk.<i>.``), or -1 for a model-wide tensor."""
        if self.name.startswith("blk."):
            return int(self.name.split(".", 2)[1])
        return -1

    @property
    def role(self) -> str:
        """What the tensor does: ``norm``, ``bias``, ``router`` (MoE gates), ``rope`` (RoPE
        factors), else its llama.cpp kind (``token_embd``, ``output``, ``attn_q``, ``attn_qkv``,
        ``attn_output``, ``ffn_gate``, ``ffn_down_exps``, ``ffn_up_shexp``, ...)."""
        return _role(self.name)

    @property
    def keeps_f32(self) -> bool:
        """Vectors (norms, biases, rope factors) and MoE routers stay F32, as converters do."""
        return self.role in F32_ROLES


@functools.lru_cache(maxsize=4096)
def _role(name: str) -> str:
    stem, _, suffix = name.rpartition(".")
    kind = stem.split(".", 2)[2] if stem.startswith("blk.") else stem
    if suffix == "bias":
        return "bias"
    if kind.startswith("ffn_gate_inp"):
        return "router"
    if kind.startswith("rope_"):
        return "rope"
    if kind.endswith("norm"):
        return "norm"
    return kind


def layout_of(s: ModelShape) -> ArchShape:
    """The tensor-deciding numbers of a synthesiser shape."""
    return ArchShape(
        arch=s.arch, n_layer=s.n_layer, n_embd=s.n_embd, n_head=s.n_head, n_head_kv=s.n_head_kv,
        head_dim=s.head_dim, n_ff=s.n_ff, n_vocab=s.n_vocab, tied_embeddings=s.tied_embeddings,
        n_expert=s.n_expert, n_ff_expert=s.n_ff_expert, n_ff_shared_expert=s.n_ff_shared_expert,
        rope=s.rope_scaling.kind if s.rope_scaling else "")


def plan_tensors(arch: str | None, preset: str | None = None, layers: int | None = None, *,
                 vocab_size: int | None = None) -> list[TensorSpec]:
    """The tensors (name, shape) a synthetic model of this arch/preset has, without writing any.

    Useful for memory planning: sizes follow from the shapes and the quantisation.
    """
    return tensors_for(resolve_shape(arch, preset, layers=layers, vocab_size=vocab_size))


def tensors_for(s: ModelShape) -> list[TensorSpec]:
    """The tensors of a synthesiser shape, in the order they are written."""
    return list(layout_tensors(layout_of(s)))


@functools.lru_cache(maxsize=256)
def layout_tensors(s: ArchShape) -> tuple[TensorSpec, ...]:
    """The tensors llama.cpp loads for a model with these numbers, in llama.cpp's naming."""
    if s.arch not in LAYOUT_ARCHS:
        raise ValueError(f"no tensor layout for architecture {s.arch!r}")
    if s.rope not in ROPE_KINDS:
        raise ValueError(f"unknown RoPE scaling kind {s.rope!r}")
    if s.arch in MOE_ARCHS and not s.n_expert:
        raise ValueError(f"{s.arch} needs experts (llama.cpp refuses n_expert = 0)")
    E, V, F = s.n_embd, s.n_vocab, s.n_ff
    q_dim, kv_dim, arch = s.q_dim, s.kv_dim, s.arch
    post_norms = arch in ("gemma2", "gemma3", "olmo2")
    pre_norms = arch != "olmo2"  # olmo2 normalises after attention and FFN only
    out = [TensorSpec("token_embd.weight", (E, V))]
    if s.rope == "llama3":
        out.append(TensorSpec("rope_freqs.weight", (s.head_dim // 2,)))
    elif s.rope == "longrope":
        out.append(TensorSpec("rope_factors_long.weight", (s.head_dim // 2,)))
        out.append(TensorSpec("rope_factors_short.weight", (s.head_dim // 2,)))
    for i in range(s.n_layer):
        def t(name: str, *shape: int, i: int = i) -> TensorSpec:
            return TensorSpec(f"blk.{i}.{name}", shape)

        if pre_norms:
            out.append(t("attn_norm.weight", E))
        if arch == "phi3":
            out.append(t("attn_qkv.weight", E, q_dim + 2 * kv_dim))
        else:
            out += [t("attn_q.weight", E, q_dim), t("attn_k.weight", E, kv_dim),
                    t("attn_v.weight", E, kv_dim)]
        if arch in ("qwen2", "qwen2moe"):
            out += [t("attn_q.bias", q_dim), t("attn_k.bias", kv_dim), t("attn_v.bias", kv_dim)]
        out.append(t("attn_output.weight", q_dim, E))
        if arch in ("qwen3", "qwen3moe", "gemma3"):  # per-head q/k norms
            out += [t("attn_q_norm.weight", s.head_dim), t("attn_k_norm.weight", s.head_dim)]
        elif arch == "olmo2":  # q/k norms over the whole projection
            out += [t("attn_q_norm.weight", q_dim), t("attn_k_norm.weight", kv_dim)]
        if post_norms:
            out.append(t("post_attention_norm.weight", E))
        if pre_norms:
            out.append(t("ffn_norm.weight", E))
        if s.n_expert:
            X, Fe = s.n_expert, s.n_ff_expert
            out += [t("ffn_gate_inp.weight", E, X), t("ffn_gate_exps.weight", E, Fe, X),
                    t("ffn_up_exps.weight", E, Fe, X), t("ffn_down_exps.weight", Fe, E, X)]
            if arch == "qwen2moe":  # a gated shared expert beside the routed ones
                S = s.n_ff_shared_expert or F
                out += [t("ffn_gate_inp_shexp.weight", E), t("ffn_gate_shexp.weight", E, S),
                        t("ffn_up_shexp.weight", E, S), t("ffn_down_shexp.weight", S, E)]
        elif arch == "phi3":
            out += [t("ffn_up.weight", E, 2 * F), t("ffn_down.weight", F, E)]
        else:
            out += [t("ffn_gate.weight", E, F), t("ffn_up.weight", E, F),
                    t("ffn_down.weight", F, E)]
        if post_norms:
            out.append(t("post_ffw_norm.weight", E))
    out.append(TensorSpec("output_norm.weight", (E,)))
    if not s.tied_embeddings:
        out.append(TensorSpec("output.weight", (E, V)))
    return tuple(out)


def count_parameters(tensors: list[TensorSpec] | tuple[TensorSpec, ...]) -> int:
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
