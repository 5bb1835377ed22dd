"""Model shapes: the real models' hyper-parameters (presets) and a tiny test shape per architecture.

Presets are data. Each full preset copies the shape of a real model from its ``config.json``
(layers, widths, heads, vocabulary, context, RoPE, norm epsilon, tied embeddings, sliding
window, experts), so a synthetic model of that preset has the real model's exact tensor layout,
file size per quantisation, KV cache and compute buffers. Tiny presets (``<arch>-tiny``) keep
every tensor kind of the architecture at a size that builds in milliseconds; their widths are
multiples of 256 so K-quants apply to most tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from workbench.errors import BadInput

MAX_LAYERS = 512  # LLAMA_MAX_LAYERS in llama.cpp
MIN_CONTEXT = 64
MAX_VOCAB = 1 << 20


@dataclass(frozen=True)
class RopeScaling:
    """RoPE scaling as the real model has it: ``llama3`` (a rope_freqs tensor) or ``longrope``
    (Phi-3's per-dimension long/short factors)."""

    kind: str  # "llama3" | "longrope"
    original_context: int
    factor: float = 1.0  # llama3
    low_freq_factor: float = 1.0  # llama3
    high_freq_factor: float = 4.0  # llama3


@dataclass(frozen=True)
class ModelShape:
    """Everything that decides a model's tensors and hyper-parameter metadata."""

    name: str
    arch: str
    family: str  # key of workbench.synth.chat.FAMILIES
    source: str  # the real model this copies, or what the tiny shape is for
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_vocab: int
    n_ctx: int
    rope_theta: float
    norm_eps: float
    tied_embeddings: bool
    rope_scaling: RopeScaling | None = None
    sliding_window: int = 0
    swa_pattern: int = 0  # every n-th layer uses full attention (gemma3)
    rope_theta_swa: float = 0.0
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_expert: int = 0
    n_ff_shared_expert: int = 0

    @property
    def tiny(self) -> bool:
        return self.name.endswith("-tiny")

    def to_dict(self) -> dict[str, object]:
        out = {k: v for k, v in self.__dict__.items() if k != "rope_scaling"}
        out["rope_scaling"] = self.rope_scaling.__dict__ if self.rope_scaling else None
        return out


_LLAMA3_ROPE_32 = RopeScaling("llama3", original_context=8192, factor=32.0)
_LLAMA3_ROPE_8 = RopeScaling("llama3", original_context=8192, factor=8.0)

_SHAPES = (
    # --- llama (Llama 3 style: GQA, RoPE with llama3 scaling, tied or untied output)
    ModelShape("llama-3.2-1b", "llama", "llama-3.2", "meta-llama/Llama-3.2-1B-Instruct",
               n_layer=16, n_embd=2048, n_ff=8192, n_head=32, n_head_kv=8, head_dim=64,
               n_vocab=128256, n_ctx=131072, rope_theta=500000.0, norm_eps=1e-5,
               tied_embeddings=True, rope_scaling=_LLAMA3_ROPE_32),
    ModelShape("llama-3.2-3b", "llama", "llama-3.2", "meta-llama/Llama-3.2-3B-Instruct",
               n_layer=28, n_embd=3072, n_ff=8192, n_head=24, n_head_kv=8, head_dim=128,
               n_vocab=128256, n_ctx=131072, rope_theta=500000.0, norm_eps=1e-5,
               tied_embeddings=True, rope_scaling=_LLAMA3_ROPE_32),
    ModelShape("llama-3.1-8b", "llama", "llama-3.1", "meta-llama/Llama-3.1-8B-Instruct",
               n_layer=32, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8, head_dim=128,
               n_vocab=128256, n_ctx=131072, rope_theta=500000.0, norm_eps=1e-5,
               tied_embeddings=False, rope_scaling=_LLAMA3_ROPE_8),
    ModelShape("llama-tiny", "llama", "llama-3.1", "test shape: Llama 3 layout, untied output",
               n_layer=2, n_embd=256, n_ff=512, n_head=4, n_head_kv=2, head_dim=64,
               n_vocab=1024, n_ctx=4096, rope_theta=500000.0, norm_eps=1e-5,
               tied_embeddings=False,
               rope_scaling=RopeScaling("llama3", original_context=1024, factor=4.0)),
    # --- qwen2 (q/k/v biases)
    ModelShape("qwen2.5-0.5b", "qwen2", "qwen-2.5", "Qwen/Qwen2.5-0.5B-Instruct",
               n_layer=24, n_embd=896, n_ff=4864, n_head=14, n_head_kv=2, head_dim=64,
               n_vocab=151936, n_ctx=32768, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=True),
    ModelShape("qwen2.5-1.5b", "qwen2", "qwen-2.5", "Qwen/Qwen2.5-1.5B-Instruct",
               n_layer=28, n_embd=1536, n_ff=8960, n_head=12, n_head_kv=2, head_dim=128,
               n_vocab=151936, n_ctx=32768, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=True),
    ModelShape("qwen2.5-7b", "qwen2", "qwen-2.5", "Qwen/Qwen2.5-7B-Instruct",
               n_layer=28, n_embd=3584, n_ff=18944, n_head=28, n_head_kv=4, head_dim=128,
               n_vocab=152064, n_ctx=32768, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=False),
    ModelShape("qwen2-tiny", "qwen2", "qwen-2.5", "test shape: Qwen2 layout, tied output",
               n_layer=2, n_embd=256, n_ff=512, n_head=4, n_head_kv=2, head_dim=64,
               n_vocab=1024, n_ctx=4096, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=True),
    # --- gemma3 (sliding-window layers, q/k norms, post-norms, head_dim != n_embd / n_head)
    ModelShape("gemma-3-1b", "gemma3", "gemma-3", "google/gemma-3-1b-it",
               n_layer=26, n_embd=1152, n_ff=6912, n_head=4, n_head_kv=1, head_dim=256,
               n_vocab=262144, n_ctx=32768, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=True, sliding_window=512, swa_pattern=6,
               rope_theta_swa=10000.0),
    ModelShape("gemma-3-270m", "gemma3", "gemma-3", "google/gemma-3-270m-it",
               n_layer=18, n_embd=640, n_ff=2048, n_head=4, n_head_kv=1, head_dim=256,
               n_vocab=262144, n_ctx=32768, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=True, sliding_window=512, swa_pattern=6,
               rope_theta_swa=10000.0),
    ModelShape("gemma3-tiny", "gemma3", "gemma-3",
               "test shape: Gemma 3 layout, one sliding-window and one global layer",
               n_layer=2, n_embd=256, n_ff=512, n_head=2, n_head_kv=1, head_dim=256,
               n_vocab=1024, n_ctx=4096, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=True, sliding_window=128, swa_pattern=2, rope_theta_swa=10000.0),
    # --- phi3 (fused qkv and gate_up, longrope factors)
    ModelShape("phi-3.5-mini", "phi3", "phi-3.5", "microsoft/Phi-3.5-mini-instruct",
               n_layer=32, n_embd=3072, n_ff=8192, n_head=32, n_head_kv=32, head_dim=96,
               n_vocab=32064, n_ctx=131072, rope_theta=10000.0, norm_eps=1e-5,
               tied_embeddings=False, rope_scaling=RopeScaling("longrope", 4096),
               sliding_window=262144),
    ModelShape("phi3-tiny", "phi3", "phi-3.5", "test shape: Phi-3 layout, fused qkv and gate_up",
               n_layer=2, n_embd=256, n_ff=512, n_head=4, n_head_kv=4, head_dim=64,
               n_vocab=1024, n_ctx=4096, rope_theta=10000.0, norm_eps=1e-5,
               tied_embeddings=False, rope_scaling=RopeScaling("longrope", 1024)),
    # --- qwen2moe (routed experts + a gated shared expert)
    ModelShape("qwen1.5-moe-a2.7b", "qwen2moe", "qwen-1.5", "Qwen/Qwen1.5-MoE-A2.7B-Chat",
               n_layer=24, n_embd=2048, n_ff=5632, n_head=16, n_head_kv=16, head_dim=128,
               n_vocab=151936, n_ctx=8192, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=False, n_expert=60, n_expert_used=4, n_ff_expert=1408,
               n_ff_shared_expert=5632),
    ModelShape("qwen2moe-tiny", "qwen2moe", "qwen-1.5",
               "test shape: Qwen2-MoE layout, 4 experts (2 used) and a shared expert",
               n_layer=2, n_embd=256, n_ff=256, n_head=4, n_head_kv=2, head_dim=64,
               n_vocab=1024, n_ctx=4096, rope_theta=1000000.0, norm_eps=1e-6,
               tied_embeddings=False, n_expert=4, n_expert_used=2, n_ff_expert=128,
               n_ff_shared_expert=256),
)

PRESETS: dict[str, ModelShape] = {shape.name: shape for shape in _SHAPES}

# Architecture -> one-line description; its tiny preset is "<arch>-tiny".
ARCHITECTURES: dict[str, str] = {
    "llama": "Llama 3 style decoder: GQA, RoPE (llama3 scaling), tied or untied output",
    "qwen2": "Qwen2/2.5 decoder: like llama with q/k/v biases",
    "gemma3": "Gemma 3 decoder: sliding-window/global layer pattern, q/k norms, post-norms",
    "phi3": "Phi-3/3.5 decoder: fused qkv and gate_up projections, longrope",
    "qwen2moe": "Qwen1.5/Qwen2 MoE: routed experts plus a gated shared expert",
}


def tiny_preset(arch: str) -> str:
    return f"{arch}-tiny"


def resolve_shape(arch: str | None, preset: str | None = None, *, layers: int | None = None,
                  vocab_size: int | None = None, ctx: int | None = None) -> ModelShape:
    """The shape for ``arch``/``preset`` with the overrides applied; ``BadInput`` if invalid.

    ``arch`` may be None when ``preset`` is given; without a preset the arch's tiny shape is used.
    """
    if preset is not None and preset not in PRESETS:
        raise BadInput(f"unknown preset {preset!r}; choose from: {', '.join(PRESETS)}")
    if arch is None:
        if preset is None:
            raise BadInput("give an architecture (--arch) or a preset (--preset)")
        arch = PRESETS[preset].arch
    if arch not in ARCHITECTURES:
        raise BadInput(f"unknown architecture {arch!r}; choose from: {', '.join(ARCHITECTURES)}")
    shape = PRESETS[preset or tiny_preset(arch)]
    if shape.arch != arch:
        raise BadInput(f"preset {preset!r} is a {shape.arch} model, not {arch}")
    if layers is not None:
        if not 1 <= layers <= MAX_LAYERS:
            raise BadInput(f"layer count must be between 1 and {MAX_LAYERS}, not {layers}")
        shape = replace(shape, n_layer=layers)
    if vocab_size is not None:
        if not 1 <= vocab_size <= MAX_VOCAB:
            raise BadInput(f"vocabulary size must be between 1 and {MAX_VOCAB}, not {vocab_size}")
        shape = replace(shape, n_vocab=vocab_size)
    if ctx is not None:
        if not MIN_CONTEXT <= ctx <= 1 << 24:
            raise BadInput(f"context length must be between {MIN_CONTEXT} and {1 << 24}, "
                           f"not {ctx}")
        shape = replace(shape, n_ctx=ctx)
    return shape
