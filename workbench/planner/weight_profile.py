"""What one token of a model reads: bytes and parameters per layer and the output matrix, from
its GGUF header(s). The speed prediction (speed.py) and the calibration (calibration.py) both
use it; it lives apart so that neither has to import the other to get it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from workbench.gguf import GGUFArray, GGUFHeader, summarize

_BLOCK = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True)
class WeightProfile:
    """What one token of a model reads: bytes and parameters per layer, the output matrix."""

    name: str
    arch: str
    quant: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_vocab: int
    n_expert: int
    n_expert_used: int
    layer_bytes: tuple[int, ...]  # experts scaled to the ones a token uses
    layer_params: tuple[int, ...]
    output_bytes: int
    output_params: int
    n_params: int
    weights_bytes: int

    @property
    def bytes_per_token(self) -> int:
        return sum(self.layer_bytes) + self.output_bytes

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["layer_bytes"] = sum(self.layer_bytes)
        out["layer_params"] = sum(self.layer_params)
        return out


def weight_profile(headers: GGUFHeader | Sequence[GGUFHeader]) -> WeightProfile:
    """The per-token reads of a model from its header(s)."""
    shards = (headers,) if isinstance(headers, GGUFHeader) else tuple(headers)
    first = shards[0]
    summary = summarize(shards)
    arch = summary.architecture or "unknown"

    def num(value: Any, default: int = 0) -> int:
        if isinstance(value, GGUFArray):
            values = [int(v) for v in value]
            return max(values) if values else default
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, tuple):
            return max(value) if value else default
        return default

    n_layer = summary.n_layer or 0
    n_expert = summary.n_expert or 0
    used = summary.n_expert_used or 0
    share = used / n_expert if n_expert and used else 1.0
    layer_bytes = [0] * n_layer
    layer_params = [0] * n_layer
    output = embd = None
    for shard in shards:
        for t in shard.tensors:
            match = _BLOCK.match(t.name)
            if match:
                il = int(match.group(1))
                if il < n_layer:
                    k = share if "_exps" in t.name else 1.0
                    layer_bytes[il] += int(t.n_bytes * k)
                    layer_params[il] += int(t.n_elements * k)
            elif t.name == "output.weight":
                output = t
            elif t.name == "token_embd.weight":
                embd = t
    out = output or embd
    n_head = num(summary.n_head)
    n_embd = summary.n_embd or 0
    head_dim = summary.key_length or (n_embd // n_head if n_head else 0)
    n_ff = num(summary.n_ff) or num(first.get("{arch}.expert_feed_forward_length"))
    return WeightProfile(
        name=summary.name or first.source, arch=arch,
        quant=(summary.file_type or summary.dominant_type or "unknown").upper(),
        n_layer=n_layer, n_embd=n_embd, n_ff=n_ff, n_head=n_head,
        n_head_kv=num(summary.n_head_kv), head_dim=head_dim,
        n_vocab=summary.vocab_size or 0, n_expert=n_expert, n_expert_used=used,
        layer_bytes=tuple(layer_bytes), layer_params=tuple(layer_params),
        output_bytes=out.n_bytes if out else 0, output_params=out.n_elements if out else 0,
        n_params=summary.parameter_count, weights_bytes=summary.tensor_data_size,
    )
