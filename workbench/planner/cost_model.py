"""Seconds a token costs on this CPU: the model's own compute graph priced by a kernel profile.

The graph is the one the memory planner rebuilds node for node (``graph.build_named_graph``):
every matrix product, attention and element-wise op llama.cpp runs for one generated token (one
column, an empty context: llama-bench's tg test) or for a 512-token prompt batch (pp512). Each
node is priced from the machine profile (``machine_profile.py``, timed by
``engine/worker/kernel_profile.py``):

- a matrix product with a weight: generation reads the weight once (bytes x seconds per byte
  plus rows x seconds per row of that weight type, repacked or plain as llama.cpp's loader
  stores it); a prompt batch costs weights x tokens x seconds per weight and token;
- flash attention: the K and V cells read (generation) or multiplied (prompt), at F16's rates;
- every other op: the bytes it reads and writes at the element-wise rate;
- every node: the fixed cost of a node (the threads meet after each op).

No calibration of the model's architecture is involved: the profile holds only kernel timings,
and the model contributes only its tensor list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from workbench.planner import ggml
from workbench.planner.graph import GraphShape, build_named_graph
from workbench.planner.hparams import ModelParams
from workbench.planner.weights import repackable

TG_KV_CELLS = 256  # llama.cpp pads the attended cells to 256: an empty context reads 256
PP_TOKENS = 512
REPACKED_SUFFIX = "+repack"  # as engine/worker/kernel_profile.py names repacked kernels
# ops that only describe memory (no kernel runs; ggml-cpu skips them)
EMPTY_OPS = frozenset({"NONE", "VIEW", "RESHAPE", "PERMUTE", "TRANSPOSE"})
MATMUL_OPS = frozenset({"MUL_MAT", "MUL_MAT_ID"})


@dataclass(frozen=True)
class KernelRates:
    """Timings of one weight type's matrix kernels (plain or repacked)."""

    gemv_s_per_byte: float
    gemv_s_per_row: float
    gemm_s_per_weight: float
    gemm_s_per_input: float = 0.0  # per input value and product (converting the batch)


@dataclass(frozen=True)
class KernelProfile:
    """This machine's kernel timings at one thread count."""

    threads: int
    kernels: Mapping[str, KernelRates]
    node_s: float
    elementwise_s_per_byte: float
    attention_s_per_mac: float  # flash attention over a prompt batch (F16 cache)

    def rates(self, type_name: str, repacked: bool) -> KernelRates | None:
        if repacked:
            found = self.kernels.get(type_name + REPACKED_SUFFIX)
            if found is not None:
                return found
        return self.kernels.get(type_name)


@dataclass(frozen=True)
class TokenCost:
    """Seconds of one graph (a token, or a prompt batch), and where they go."""

    seconds: float
    n_tokens: int
    parts: dict[str, float] = field(default_factory=dict)  # weights, output, attention, ...
    missing: tuple[str, ...] = ()  # kernels the profile lacks (priced as F16)

    @property
    def tokens_per_s(self) -> float:
        return self.n_tokens / self.seconds if self.seconds > 0 else 0.0


def _type_name(type_id: int) -> str:
    import gguf

    try:
        return gguf.GGMLQuantizationType(type_id).name
    except ValueError:
        return f"type{type_id}"


def _shape(p: ModelParams, n_tokens: int, n_kv: int) -> GraphShape:
    return GraphShape(n_tokens, 1, n_kv, n_kv if p.has_swa else 0, True, ggml.F16, ggml.F16)


def needed_kernels(p: ModelParams, repack_types: frozenset[str] = frozenset(),
                   repack_arch: str = "x86") -> set[str]:
    """The profile keys this model's matrix products use (``T`` or ``T+repack``)."""
    out = {"F16"}  # attention
    for t in p.tensors:
        if len(t.shape) < 2:
            continue
        if t.type_name in repack_types and repackable(t, repack_arch):
            out.add(t.type_name + REPACKED_SUFFIX)
        out.add(t.type_name)  # plain as well: a tied output matrix is never repacked
    return out


def graph_cost(p: ModelParams, profile: KernelProfile, *, n_tokens: int, n_kv: int,
               repack_types: frozenset[str] = frozenset(), repack_arch: str = "x86"
               ) -> TokenCost:
    """Seconds llama.cpp's CPU backend needs for one batch of ``n_tokens`` tokens."""
    graph, names = build_named_graph(p, _shape(p, n_tokens, n_kv))
    by_name = {t.name: t for t in p.tensors}
    output_name = "token_embd.weight" if p.tied_embeddings else "output.weight"
    parts = {"nodes": 0.0, "weights": 0.0, "output": 0.0, "attention": 0.0, "other": 0.0}
    missing: set[str] = set()
    f16 = profile.rates("F16", False)

    def rates_for(type_name: str, repacked: bool) -> KernelRates | None:
        found = profile.rates(type_name, repacked)
        if found is None:
            missing.add(type_name + (REPACKED_SUFFIX if repacked else ""))
            return f16
        return found

    for node in graph.nodes:
        if node.op in EMPTY_OPS:
            continue
        parts["nodes"] += profile.node_s
        if node.op in MATMUL_OPS and id(node.src[0]) in names:
            weight = node.src[0]
            assert weight is not None
            name = names[id(weight)]
            info = by_name[name]
            repacked = info.type_name in repack_types and repackable(info, repack_arch)
            rates = rates_for(info.type_name, repacked)
            if rates is None:
                continue
            share = 1.0
            if node.op == "MUL_MAT_ID" and p.n_expert:  # only the chosen experts are read
                share = min(1.0, p.n_expert_used * n_tokens / p.n_expert)
            rows = weight.ne[1] * weight.ne[2] * share
            if n_tokens == 1 or node.ne[1] == 1:  # a product with one column
                seconds = weight.nbytes * share * rates.gemv_s_per_byte + \
                    rows * rates.gemv_s_per_row
            else:
                macs = weight.ne[0] * weight.ne[1] * weight.ne[2] * node.ne[1] * (
                    p.n_expert_used / max(p.n_expert, 1) if node.op == "MUL_MAT_ID" else 1)
                inputs = weight.ne[0] * node.ne[1]
                seconds = macs * rates.gemm_s_per_weight + inputs * rates.gemm_s_per_input
            parts["output" if name == output_name else "weights"] += seconds
        elif node.op == "FLASH_ATTN_EXT" and f16 is not None:
            q, k, v = node.src[0], node.src[1], node.src[2]
            assert q is not None and k is not None and v is not None
            if q.ne[1] == 1:  # one query per head: the cells are streamed like a weight
                parts["attention"] += (k.nbytes + v.nbytes) * f16.gemv_s_per_byte
            else:
                macs = (k.ne[0] + v.ne[0]) * k.ne[1] * q.ne[1] * q.ne[2] * q.ne[3]
                parts["attention"] += macs * profile.attention_s_per_mac
        else:
            parts["other"] += _bytes_moved(node) * profile.elementwise_s_per_byte
    return TokenCost(seconds=sum(parts.values()), n_tokens=n_tokens, parts=parts,
                     missing=tuple(sorted(missing)))


def _bytes_moved(node: ggml.Tensor) -> int:
    """Bytes an element-wise op reads and writes: its result and its computed inputs (weights
    and caches only where rows of them are copied)."""
    if node.op == "GET_ROWS":  # rows of a table (the token embeddings): read and written
        return 2 * node.nbytes
    if node.op == "SET_ROWS":  # new K/V rows into the cache
        src = node.src[1]
        return 2 * (src.nbytes if src is not None else 0)
    return node.nbytes + sum(s.nbytes for s in node.src if s is not None and not s.external)


def generation_cost(p: ModelParams, profile: KernelProfile, *,
                    repack_types: frozenset[str] = frozenset(),
                    repack_arch: str = "x86") -> TokenCost:
    """One generated token from an empty context (llama-bench tg)."""
    return graph_cost(p, profile, n_tokens=1, n_kv=TG_KV_CELLS, repack_types=repack_types,
                      repack_arch=repack_arch)


def prompt_cost(p: ModelParams, profile: KernelProfile, *,
                repack_types: frozenset[str] = frozenset(), repack_arch: str = "x86"
                ) -> TokenCost:
    """One 512-token prompt batch from an empty context (llama-bench pp512)."""
    return graph_cost(p, profile, n_tokens=PP_TOKENS, n_kv=PP_TOKENS,
                      repack_types=repack_types, repack_arch=repack_arch)
