"""A model's key figures from its GGUF header(s), for people (`workbench inspect`) and planners."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.gguf.ggml_types import file_type_name
from workbench.gguf.model import GGUFArray, GGUFHeader, TensorInfo

NO_TEMPLATE_NOTICE = "no chat template: this looks like a base model; it continues text"

PerLayer = int | tuple[int, ...]


@dataclass(frozen=True)
class ModelSummary:
    """What a model is, from its header. Sizes in bytes; None where the header does not say.

    ``n_head``, ``n_head_kv`` and ``n_ff`` are a tuple when the file gives one value per layer.
    ``parameter_count`` counts every tensor element; ``bits_per_weight`` is tensor bytes * 8 /
    parameter_count (as llama.cpp prints it). ``tensor_types`` counts tensors per ggml type;
    ``dominant_type`` is the ggml type holding most parameters; ``file_type`` is the name of
    ``general.file_type`` (e.g. ``Q4_K_M``).
    """

    source: str
    architecture: str | None
    name: str | None
    gguf_version: int
    file_type: str | None
    dominant_type: str | None
    tensor_types: dict[str, int]
    parameter_count: int
    tensor_count: int
    context_length: int | None
    n_layer: int | None
    n_embd: int | None
    n_head: PerLayer | None
    n_head_kv: PerLayer | None
    n_ff: PerLayer | None
    key_length: int | None
    value_length: int | None
    vocab_size: int | None
    tokenizer_model: str | None
    n_expert: int | None
    n_expert_used: int | None
    sliding_window: int | None
    has_chat_template: bool
    chat_template_length: int
    file_size: int
    tensor_data_size: int
    header_size: int
    bits_per_weight: float | None
    split_count: int

    @property
    def notices(self) -> list[str]:
        """What a user should know before chatting with this file."""
        return [] if self.has_chat_template else [NO_TEMPLATE_NOTICE]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain dict, tuples as lists, plus the notices."""
        return {"notices": self.notices} | {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _per_layer(value: Any) -> PerLayer | None:
    """An int, or a tuple of ints for a per-layer array (None if neither)."""
    if isinstance(value, GGUFArray):
        items = tuple(value)
        if items and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            return items
        return None
    return _int(value)


def summarize(headers: GGUFHeader | Sequence[GGUFHeader]) -> ModelSummary:
    """Summarize one header, or all shards of a split model (metadata from the first shard)."""
    shards = (headers,) if isinstance(headers, GGUFHeader) else tuple(headers)
    if not shards:
        raise ValueError("summarize() needs at least one header")
    first = shards[0]
    tensors = [t for shard in shards for t in shard.tensors]

    def get(key: str) -> Any:
        return first.get(key)

    arch = first.architecture
    params = sum(t.n_elements for t in tensors)
    data_size = sum(t.n_bytes for t in tensors)
    elements_by_type: Counter[str] = Counter()
    for t in tensors:
        elements_by_type[t.type_name] += t.n_elements
    dominant = max(elements_by_type, key=lambda k: elements_by_type[k], default=None)
    file_type = _int(get("general.file_type"))
    template = get("tokenizer.chat_template")
    n_head = _per_layer(get("{arch}.attention.head_count"))
    n_head_kv = _per_layer(get("{arch}.attention.head_count_kv"))
    name = get("general.name")

    return ModelSummary(
        source=first.source,
        architecture=arch,
        name=name if isinstance(name, str) else None,
        gguf_version=first.version,
        file_type=file_type_name(file_type) if file_type is not None else None,
        dominant_type=dominant,
        tensor_types=dict(sorted(Counter(t.type_name for t in tensors).items())),
        parameter_count=params,
        tensor_count=len(tensors),
        context_length=_int(get("{arch}.context_length")),
        n_layer=_int(get("{arch}.block_count")),
        n_embd=_int(get("{arch}.embedding_length")),
        n_head=n_head,
        n_head_kv=n_head_kv if n_head_kv is not None else n_head,  # llama.cpp's default
        n_ff=_per_layer(get("{arch}.feed_forward_length")),
        key_length=_int(get("{arch}.attention.key_length")),
        value_length=_int(get("{arch}.attention.value_length")),
        vocab_size=_vocab_size(first, tensors),
        tokenizer_model=_str(get("tokenizer.ggml.model")),
        n_expert=_int(get("{arch}.expert_count")),
        n_expert_used=_int(get("{arch}.expert_used_count")),
        sliding_window=_int(get("{arch}.attention.sliding_window")),
        has_chat_template=isinstance(template, str),
        chat_template_length=len(template) if isinstance(template, str) else 0,
        file_size=sum(shard.file_size for shard in shards),
        tensor_data_size=data_size,
        header_size=sum(shard.header_size for shard in shards),
        bits_per_weight=data_size * 8 / params if params else None,
        split_count=len(shards),
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _vocab_size(header: GGUFHeader, tensors: Sequence[TensorInfo]) -> int | None:
    """Tokens in the vocabulary, else ``{arch}.vocab_size``, else the embedding's rows."""
    tokens = header.get("tokenizer.ggml.tokens")
    if isinstance(tokens, GGUFArray):
        return len(tokens)
    declared = _int(header.get("{arch}.vocab_size"))
    if declared is not None:
        return declared
    for name in ("token_embd.weight", "output.weight"):
        for t in tensors:
            if t.name == name and len(t.shape) == 2:
                return t.shape[1]
    return None
