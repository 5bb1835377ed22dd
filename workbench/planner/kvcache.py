"""KV cache (and recurrent state) sizes, with llama.cpp's exact rules.

- n_ctx is padded to a multiple of 256 (llama_context: ``GGML_PAD(n_ctx, 256)``); with several
  sequences and a per-sequence cache (kv_unified = false, the default) each sequence's share is
  padded again;
- per attention layer the cache holds K (``n_embd_head_k * n_head_kv`` values a cell) and V
  (the same with the V head size; none for MLA); without flash attention V is stored transposed
  and every layer is as wide as the widest (``n_embd_v_gqa_max``);
- bytes are ggml row sizes: f16 2 bytes a value, q8_0 34/32, q4_0 18/32;
- sliding-window layers: llama.cpp's C API default (``swa_full = true``, which
  llama-cpp-python inherits) gives them the full context; with ``swa_full = false`` (llama-server,
  llama-cli) they hold ``pad256(min(n_ctx_seq, n_swa * n_seq + n_ubatch))`` cells
  (src/llama-kv-cache-iswa.cpp);
- recurrent layers hold ``(n_embd_r + n_embd_s)`` f32 values per sequence instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.planner.ggml import row_size
from workbench.planner.hparams import ModelParams

CTX_PAD = 256


def pad(n: int, multiple: int = CTX_PAD) -> int:
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class CacheCells:
    """How many cells each cache holds and how many streams (sequences with their own cache)."""

    n_ctx: int  # the context llama.cpp uses (padded)
    cells: int  # cells per stream of the full-attention cache
    cells_swa: int  # cells per stream of the sliding-window cache
    n_stream: int


def cache_cells(p: ModelParams, n_ctx: int, *, n_seq: int = 1, n_ubatch: int = 512,
                swa_full: bool = False, kv_unified: bool = False) -> CacheCells:
    """The cache geometry llama.cpp creates for a requested context (0: the trained one)."""
    n_ctx = pad(n_ctx or p.n_ctx_train or 4096)
    n_seq = max(1, n_seq)
    if kv_unified:
        per_seq, n_stream = n_ctx, 1
    else:
        per_seq, n_stream = pad(n_ctx // n_seq), n_seq
        n_ctx = per_seq * n_seq
    n_ubatch = min(n_ubatch, n_ctx)
    if p.has_swa and not swa_full:
        swa = pad(min(per_seq, p.n_swa * (n_seq if kv_unified else 1) + n_ubatch))
    else:
        swa = per_seq if p.has_swa else 0
    return CacheCells(n_ctx, per_seq, swa, n_stream)


def kv_layer_bytes(p: ModelParams, il: int, cells: CacheCells, type_k: int, type_v: int,
                   flash_attn: bool) -> int:
    """Bytes of layer ``il``'s K and V cache (0 for layers without one)."""
    lp = p.layers[il]
    if lp.is_recurrent or lp.n_head_kv == 0 or il >= p.n_layer - p.n_layer_nextn:
        return 0
    n = (cells.cells_swa if lp.is_swa else cells.cells) * cells.n_stream
    k = row_size(type_k, lp.n_embd_k_gqa) * n
    if p.is_mla:
        return k
    v_width = lp.n_embd_v_gqa if flash_attn else max(x.n_embd_v_gqa for x in p.layers)
    return k + row_size(type_v, v_width) * n


def recurrent_layer_bytes(p: ModelParams, il: int, n_seq: int = 1) -> int:
    """Bytes of a recurrent layer's state (conv/shift + ssm/wkv, f32) for ``n_seq`` sequences."""
    if not p.layers[il].is_recurrent:
        return 0
    return (p.n_embd_r + p.n_embd_s) * 4 * max(1, n_seq)
