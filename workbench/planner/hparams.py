"""The model numbers the memory plan needs, read from GGUF header(s) as llama.cpp reads them.

Follows ``llama_model_base::load_hparams`` (src/llama-model.cpp) and the per-architecture
``load_arch_hparams``: per-layer head counts, head sizes (full and sliding-window layers), the
sliding-window pattern, experts, MLA (K-only cache), recurrent layers and their state sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import BadInput
from workbench.gguf import GGUFArray, GGUFHeader, TensorInfo
from workbench.planner.limits import (
    LLAMA_MAX_EXPERTS,
    LLAMA_MAX_LAYERS,
    MAX_VOCAB,
    UINT32_MAX,
    bounded,
    bounded_all,
)

# Architectures whose every layer is recurrent (llm_arch_is_recurrent, src/llama-arch.cpp).
RECURRENT_ARCHS = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})
# Hybrid architectures: some layers recurrent, some attention (llm_arch_is_hybrid).
HYBRID_ARCHS = frozenset({
    "jamba", "falcon-h1", "plamo2", "granitehybrid", "lfm2", "lfm2moe", "nemotron_h",
    "nemotron_h_moe", "qwen3next", "kimi-linear", "qwen35", "qwen35moe", "minimax-01",
})
# Sliding-window defaults: arch -> (pattern, dense_first, needs the sliding_window key > 0).
# From load_swa_pattern()/set_swa_pattern() calls in src/models/*.cpp. Architectures that are
# not listed ignore a sliding_window key (llama, qwen2, phi3, ...: llama.cpp attends fully).
SWA_DEFAULTS: dict[str, tuple[int, bool, bool]] = {
    "gemma2": (2, False, False),
    "gemma3": (6, False, True),
    "gemma3n": (5, False, False),
    "gemma-embedding": (6, False, False),
    "cohere2": (4, False, False),
    "llama4": (4, False, True),
    "gpt-oss": (2, False, False),
    "exaone4": (4, False, True),
    "exaone-moe": (4, False, False),
    "olmo2": (4, False, True),
    "afmoe": (4, False, True),
    "smallthinker": (4, True, True),
    "plamo3": (8, False, True),
}


@dataclass(frozen=True)
class LayerParams:
    """One repeating layer: attention geometry (0 heads: no KV cache) and whether it is SWA."""

    n_head: int
    n_head_kv: int
    head_k: int  # n_embd_head_k for this layer
    head_v: int
    is_swa: bool
    is_recurrent: bool
    n_ff: int

    @property
    def n_embd_k_gqa(self) -> int:
        return self.head_k * self.n_head_kv

    @property
    def n_embd_v_gqa(self) -> int:
        return self.head_v * self.n_head_kv


@dataclass(frozen=True)
class ModelParams:
    """What llama.cpp derives from a model's header, for planning its memory."""

    arch: str
    n_layer: int  # repeating layers (block_count)
    n_layer_nextn: int
    n_embd: int
    n_vocab: int
    n_ctx_train: int
    layers: tuple[LayerParams, ...]
    n_swa: int
    is_mla: bool
    n_expert: int
    n_expert_used: int
    n_ff_exp: int
    n_ff_shexp: int
    n_embd_r: int  # recurrent conv/shift state per sequence (f32 elements)
    n_embd_s: int  # recurrent ssm/wkv state per sequence (f32 elements)
    tensors: tuple[TensorInfo, ...] = field(repr=False)
    metadata: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def has_swa(self) -> bool:
        return any(layer.is_swa for layer in self.layers)

    @property
    def has_recurrent(self) -> bool:
        return any(layer.is_recurrent for layer in self.layers)

    @property
    def tied_embeddings(self) -> bool:
        return not any(t.name == "output.weight" for t in self.tensors)

    def tensor(self, name: str) -> TensorInfo | None:
        for t in self.tensors:
            if t.name == name:
                return t
        return None

    def has_tensor(self, name: str) -> bool:
        return self.tensor(name) is not None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _per_layer(value: Any, n_layer: int, default: int) -> list[int]:
    """``get_key_or_arr``: an int for every layer, or one value per layer."""
    if isinstance(value, GGUFArray):
        if len(value) != n_layer:  # checked before a long array is expanded
            raise BadInput(f"per-layer array has {len(value)} values for {n_layer} layers")
        items = [_int(v) for v in value]
        if any(v is None for v in items):
            raise BadInput("a per-layer array holds something other than integers")
        return items  # type: ignore[return-value]
    number = _int(value)
    return [default if number is None else number] * n_layer


def _bool_array(value: Any, n_layer: int) -> list[bool] | None:
    if isinstance(value, GGUFArray) and len(value) == n_layer:
        return [bool(v) for v in value]
    return None


def model_params(headers: GGUFHeader | Sequence[GGUFHeader]) -> ModelParams:
    """Read a model's numbers from its header (or every shard's). ``BadInput`` if unusable."""
    shards = (headers,) if isinstance(headers, GGUFHeader) else tuple(headers)
    if not shards:
        raise BadInput("no GGUF header given")
    first = shards[0]
    arch = first.architecture
    if not arch:
        raise BadInput(f"{first.source}: general.architecture is missing; not a model file")
    tensors = tuple(t for shard in shards for t in shard.tensors)

    def get(key: str, default: Any = None) -> Any:
        return first.metadata.get(f"{arch}.{key}", default)

    def count(key: str, high: int = UINT32_MAX, low: int = 0) -> int:
        """A count from the header (0 when absent), within what llama.cpp loads."""
        return bounded(first.source, f"{arch}.{key}", _int(get(key)) or 0, high=high, low=low)

    def per_layer(key: str, high: int = UINT32_MAX) -> list[int]:
        return bounded_all(first.source, f"{arch}.{key}", _per_layer(get(key), n_layer_all, 0),
                           high=high)

    if not _int(get("block_count")) or not _int(get("embedding_length")):
        raise BadInput(f"{first.source}: {arch}.block_count / embedding_length missing")
    n_layer_all = count("block_count", LLAMA_MAX_LAYERS, low=1)
    n_embd = count("embedding_length", low=1)
    n_layer_nextn = count("nextn_predict_layers", n_layer_all)
    n_head = per_layer("attention.head_count")
    n_head_kv = n_head if get("attention.head_count_kv") is None else \
        per_layer("attention.head_count_kv")
    n_ff = per_layer("feed_forward_length")
    head0 = n_head[0] if n_head and n_head[0] else 0
    head_k = count("attention.key_length") or (n_embd // head0 if head0 else 0)
    head_v = count("attention.value_length") or (n_embd // head0 if head0 else 0)
    head_k_swa = count("attention.key_length_swa") or head_k
    head_v_swa = count("attention.value_length_swa") or head_v
    is_mla = bool(count("attention.key_length_mla") and count("attention.value_length_mla"))

    n_swa = count("attention.sliding_window")
    is_swa = _swa_layers(arch, get("attention.sliding_window_pattern"), n_swa, n_layer_all,
                         n_layer_nextn)
    if not any(is_swa):
        n_swa = 0

    is_recr = _recurrent_layers(arch, n_head_kv, get("full_attention_interval"), n_layer_all)

    layers = tuple(
        LayerParams(
            n_head=n_head[il],
            n_head_kv=0 if is_recr[il] else n_head_kv[il],
            head_k=head_k_swa if is_swa[il] else head_k,
            head_v=head_v_swa if is_swa[il] else head_v,
            is_swa=is_swa[il],
            is_recurrent=is_recr[il],
            n_ff=n_ff[il],
        )
        for il in range(n_layer_all)
    )
    n_vocab = bounded(first.source, "the vocabulary size", _vocab_size(first, tensors),
                      high=MAX_VOCAB, low=1)
    n_expert = count("expert_count", LLAMA_MAX_EXPERTS)
    n_expert_used = max(per_layer("expert_used_count", n_expert)) \
        if get("expert_used_count") is not None else 0
    for key in ("context_length", "expert_feed_forward_length",
                "expert_shared_feed_forward_length", "attention.sliding_window_pattern",
                "full_attention_interval", "wkv.head_size", "token_shift_count",
                "ssm.conv_kernel", "ssm.inner_size", "ssm.state_size", "ssm.group_count",
                "shortconv.l_cache"):
        if not isinstance(get(key), GGUFArray):
            count(key)
    n_embd_r, n_embd_s = _recurrent_state(arch, get, n_embd, head0)
    return ModelParams(
        arch=arch,
        n_layer=n_layer_all,
        n_layer_nextn=n_layer_nextn,
        n_embd=n_embd,
        n_vocab=n_vocab,
        n_ctx_train=_int(get("context_length")) or 0,
        layers=layers,
        n_swa=n_swa,
        is_mla=is_mla,
        n_expert=n_expert,
        n_expert_used=n_expert_used,
        n_ff_exp=_int(get("expert_feed_forward_length")) or 0,
        n_ff_shexp=_int(get("expert_shared_feed_forward_length")) or 0,
        n_embd_r=n_embd_r,
        n_embd_s=n_embd_s,
        tensors=tensors,
        metadata=first.metadata,
    )


def _swa_layers(arch: str, pattern: Any, n_swa: int, n_layer: int, n_nextn: int) -> list[bool]:
    defaults = SWA_DEFAULTS.get(arch)
    if defaults is None:
        return [False] * n_layer
    n_pattern, dense_first, needs_key = defaults
    if needs_key and n_swa <= 0:
        return [False] * n_layer
    explicit = _bool_array(pattern, n_layer)
    if explicit is not None:
        return explicit
    if _int(pattern) is not None:
        n_pattern = _int(pattern)  # type: ignore[assignment]
    n_main = n_layer - n_nextn
    out = []
    for il in range(n_layer):
        if il >= n_main:
            out.append(False)
        elif dense_first:
            out.append(n_pattern == 0 or il % n_pattern != 0)
        else:
            out.append(n_pattern == 0 or il % n_pattern < n_pattern - 1)
    return out


def _recurrent_layers(arch: str, n_head_kv: list[int], interval: Any, n_layer: int) -> list[bool]:
    if arch in RECURRENT_ARCHS:
        return [True] * n_layer
    if arch not in HYBRID_ARCHS:
        return [False] * n_layer
    step = _int(interval)
    if step:
        return [(il + 1) % step != 0 for il in range(n_layer)]
    return [kv == 0 for kv in n_head_kv]


def _recurrent_state(arch: str, get: Any, n_embd: int, n_head: int) -> tuple[int, int]:
    """``n_embd_r()`` and ``n_embd_s()`` (src/llama-hparams.cpp), in f32 elements per sequence."""
    wkv = _int(get("wkv.head_size")) or 0
    if wkv:
        shift = _int(get("token_shift_count")) or 2
        return shift * n_embd, n_embd * wkv
    conv = _int(get("ssm.conv_kernel")) or 0
    inner = _int(get("ssm.inner_size")) or 0
    state = _int(get("ssm.state_size")) or 0
    groups = _int(get("ssm.group_count")) or 0
    shortconv = _int(get("shortconv.l_cache")) or 0
    if shortconv:
        return n_embd * (shortconv - 1), 0
    n_conv = (conv - 1 if conv > 0 else 0) * (inner + 2 * groups * state)
    return n_conv, state * inner


def _vocab_size(header: GGUFHeader, tensors: Sequence[TensorInfo]) -> int:
    tokens = header.metadata.get("tokenizer.ggml.tokens")
    if isinstance(tokens, GGUFArray):
        return len(tokens)
    declared = _int(header.get("{arch}.vocab_size"))
    if declared:
        return declared
    for t in tensors:
        if t.name in ("token_embd.weight", "output.weight") and len(t.shape) >= 2:
            return t.shape[1]
    raise BadInput(f"{header.source}: cannot tell the vocabulary size")
