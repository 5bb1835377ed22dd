"""llama.cpp's compute graph for decoder models, rebuilt from a model's numbers (no weights).

Mirrors ``src/llama-graph.cpp`` (build_inp_embd, build_norm, build_qkv, build_attn with the KV
cache, build_attn_mha with and without flash attention, build_ffn, build_moe_ffn) and the
per-architecture graphs in ``src/models/`` (llama, qwen2, qwen2moe, qwen3, gemma3, phi3, ...):
the same tensors, created with the same sources and expanded into the graph in the same order,
so the ported allocator in ``ggml.py`` reserves the same compute buffer llama.cpp does.
Architectures without a dedicated rule use the llama-style graph with the features their
tensors show (biases, fused QKV, Q/K norms, post-norms, experts): an approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.gguf import TensorInfo
from workbench.planner import ggml
from workbench.planner.ggml import F16, F32, I32, I64, Graph, Tensor
from workbench.planner.hparams import LayerParams, ModelParams

# Architectures whose graph this module rebuilds node for node (others: llama-style approximation).
# Measured against llama.cpp: llama, qwen2, qwen2moe, gemma3, phi3 (docs/memory-accuracy.md);
# qwen3 and qwen3moe build the same graph (src/models/qwen3*.cpp).
EXACT_ARCHS = frozenset({"llama", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "gemma3", "phi3"})
# build_moe_ffn's norm_w per architecture (renormalise the selected experts' weights).
MOE_NORM_W = {"qwen2moe": False, "olmoe": False, "deepseek2": True}


@dataclass(frozen=True)
class GraphShape:
    """The worst-case batch llama.cpp reserves for, and the caches it attends over."""

    n_tokens: int
    n_outputs: int
    n_kv: int  # cells of the full-attention cache (= its size when reserving)
    n_kv_swa: int  # cells of the sliding-window cache (0 without SWA layers)
    flash_attn: bool
    type_k: int
    type_v: int
    # LoRA pairs applied (adapters at a non-zero scale): (base tensor, rank), in adapter order;
    # each adds build_lora_mm's product, scale and add after the base tensor's matrix product
    loras: tuple[tuple[str, int], ...] = ()


class _Builder:
    def __init__(self, p: ModelParams, s: GraphShape) -> None:
        self.p, self.s = p, s
        self.g = Graph()
        self._weights: dict[str, Tensor | None] = {}
        self._by_name: dict[str, TensorInfo] = {t.name: t for t in p.tensors}
        self._names: dict[int, str] = {}  # id(weight leaf) -> its tensor name
        self._loras: dict[str, list[int]] = {}
        for base, rank in s.loras:
            self._loras.setdefault(base, []).append(rank)
        self.v_trans = not s.flash_attn
        self.approximate = False
        self.n_embd_v_gqa_max = max((lp.n_embd_v_gqa for lp in p.layers), default=0)

    # -- tensors -------------------------------------------------------------------------------
    def w(self, name: str) -> Tensor | None:
        if name not in self._weights:
            info = self._by_name.get(name)
            self._weights[name] = (None if info is None else
                                   ggml.leaf(info.ggml_type, *info.shape, external=True))
            if self._weights[name] is not None:
                self._names[id(self._weights[name])] = name
        return self._weights[name]

    def need(self, name: str, *shape: int) -> Tensor:
        """A weight the llama-style graph needs; a stand-in of that shape when the model names
        its tensors differently (the graph is then an approximation)."""
        found = self.w(name)
        if found is not None:
            return found
        self.approximate = True
        return ggml.leaf(F16, *shape, external=True)

    def inp(self, type_id: int, *ne: int) -> Tensor:
        return ggml.leaf(type_id, *ne, is_input=True)

    # -- building blocks (llama-graph.cpp) ------------------------------------------------------
    def norm(self, cur: Tensor, weight: Tensor | None, bias: Tensor | None = None) -> Tensor:
        cur = ggml.rms_norm(cur)
        if weight is not None:
            cur = ggml.mul(cur, weight)
        if bias is not None:
            cur = ggml.add(cur, bias)
        return cur

    def mm(self, weight: Tensor, cur: Tensor) -> Tensor:
        """build_lora_mm: the product, plus each LoRA pair's scaled ``b @ (a @ cur)``."""
        res = ggml.mul_mat(weight, cur)
        for rank in self._loras.get(self._names.get(id(weight), ""), ()):
            a = ggml.leaf(F32, weight.ne[0], rank, external=True)
            b = ggml.leaf(F32, rank, weight.ne[1], external=True)
            res = ggml.add(res, ggml.scale(ggml.mul_mat(b, ggml.mul_mat(a, cur))))
        return res

    def qkv(self, il: int, cur: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        lp = self.p.layers[il]
        T = cur.ne[1]
        hq, hk, hv = lp.head_k, lp.head_k, lp.head_v
        wqkv = self.w(f"blk.{il}.attn_qkv.weight")
        if wqkv is not None:
            qkv = self.mm(wqkv, cur)
            b = self.w(f"blk.{il}.attn_qkv.bias")
            if b is not None:
                qkv = ggml.add(qkv, b)
            rs = ggml.row_size  # views into the fused result (offsets do not matter here)
            q = ggml.view(qkv, (hq, lp.n_head, T), (rs(qkv.type, hq), qkv.nb[1]))
            k = ggml.view(qkv, (hk, lp.n_head_kv, T), (rs(qkv.type, hk), qkv.nb[1]))
            v = ggml.view(qkv, (hv, lp.n_head_kv, T), (rs(qkv.type, hv), qkv.nb[1]))
            return q, k, v
        out = []
        for part, heads, dim in (("q", lp.n_head, hq), ("k", lp.n_head_kv, hk),
                                 ("v", lp.n_head_kv, hv)):
            t = self.mm(self.need(f"blk.{il}.attn_{part}.weight", cur.ne[0], dim * heads), cur)
            b = self.w(f"blk.{il}.attn_{part}.bias")
            if b is not None:
                t = ggml.add(t, b)
            out.append(ggml.reshape(t, dim, heads, T))
        return out[0], out[1], out[2]

    def ffn(self, cur: Tensor, up: Tensor | None, gate: Tensor | None, down: Tensor | None,
            act: str = "silu", up_b: Tensor | None = None, down_b: Tensor | None = None
            ) -> Tensor:
        tmp = self.mm(up, cur) if up is not None else cur
        if up_b is not None:
            tmp = ggml.add(tmp, up_b)
        if gate is not None:
            cur = self.mm(gate, cur)
            cur = ggml.glu(cur, tmp)
        elif act == "swiglu":
            cur = ggml.glu(tmp)
        else:
            cur = ggml.unary(tmp)
        if down is not None:
            cur = self.mm(down, cur)
        if down_b is not None:
            cur = ggml.add(cur, down_b)
        return cur

    def moe_ffn(self, cur: Tensor, il: int, norm_w: bool) -> Tensor:
        p = self.p
        n_embd, T = cur.ne[0], cur.ne[1]
        k = p.n_expert_used
        logits = self.mm(self.w(f"blk.{il}.ffn_gate_inp.weight"), cur)  # type: ignore[arg-type]
        probs = ggml.soft_max(logits)
        selected = ggml.view(ggml.argsort(probs), (k, T), (probs.ne[0] * 4,))
        probs3 = ggml.reshape(probs, 1, probs.ne[0], T)
        weights = ggml.get_rows(probs3, selected)
        if norm_w:
            weights = ggml.reshape(weights, k, T)
            total = ggml.clamp(ggml.sum_rows(weights))
            weights = ggml.div(weights, total)
            weights = ggml.reshape(weights, 1, k, T)
        self.g.expand(weights)
        cur = ggml.reshape(cur, n_embd, 1, T)
        up_exps = self.w(f"blk.{il}.ffn_up_exps.weight")
        gate_exps = self.w(f"blk.{il}.ffn_gate_exps.weight")
        gate_up = self.w(f"blk.{il}.ffn_gate_up_exps.weight")
        if gate_up is not None:
            both = ggml.mul_mat_id(gate_up, cur, selected)
            half = both.ne[0] // 2
            g = ggml.view(both, (half, both.ne[1], both.ne[2]), (both.nb[1], both.nb[2]))
            u = ggml.view(both, (half, both.ne[1], both.ne[2]), (both.nb[1], both.nb[2]))
            act = ggml.glu(g, u)
        else:
            u = ggml.mul_mat_id(up_exps, cur, selected)  # type: ignore[arg-type]
            if gate_exps is not None:
                g = ggml.mul_mat_id(gate_exps, cur, selected)
                act = ggml.glu(g, u)
            else:
                act = ggml.unary(u)
        experts = ggml.mul_mat_id(self.w(f"blk.{il}.ffn_down_exps.weight"), act,  # type: ignore[arg-type]
                                  selected)
        experts = ggml.mul(experts, weights)
        self.g.expand(experts)
        views = []
        for _ in range(k):
            v = ggml.view(experts, (n_embd, T), (experts.nb[2],))
            views.append(v)
            self.g.expand(v)
        out = views[0]
        for v in views[1:]:
            out = ggml.add(out, v)
            self.g.expand(out)
        if k == 1:
            out = ggml.cont(out)
        return out

    # -- attention with the KV cache -----------------------------------------------------------
    def attn_inputs(self) -> None:
        s, p = self.s, self.p
        T = s.n_tokens
        mask_type = F16 if s.flash_attn else F32

        def idxs() -> tuple[Tensor, Tensor]:
            k_idx = self.inp(I64, T)
            v_idx = self.inp(I64, T * (self.n_embd_v_gqa_max if self.v_trans else 1))
            return k_idx, v_idx

        self.k_idxs, self.v_idxs = idxs()
        self.kq_mask = self.inp(mask_type, s.n_kv, T)
        self.rot: dict[bool, tuple[Tensor | None, Tensor | None]] = {
            False: self._rot_inputs([lp for lp in p.layers if lp.n_head_kv and not lp.is_swa])}
        if p.has_swa:
            self.k_idxs_swa, self.v_idxs_swa = idxs()
            self.kq_mask_swa = self.inp(mask_type, s.n_kv_swa, T)
            self.rot[True] = self._rot_inputs([lp for lp in p.layers
                                               if lp.n_head_kv and lp.is_swa])

    def _rot_inputs(self, layers: list[LayerParams]) -> tuple[Tensor | None, Tensor | None]:
        """Hadamard rotation matrices llama.cpp uses with a quantized cache (attn_rot_k/v)."""
        if not layers:
            return None, None
        heads_k = {lp.head_k for lp in layers}
        heads_v = {lp.head_v for lp in layers}
        head0_k, head0_v = self.p.layers[0].head_k, self.p.layers[0].head_v
        k_rot = v_rot = None
        if len(heads_k) == 1 and ggml.is_quantized(self.s.type_k) and head0_k % 64 == 0:
            n = 64
            head = heads_k.pop()
            while head % (n * 2) == 0:
                n *= 2
            k_rot = self.inp(F32, n, n)
        if (not self.p.is_mla and len(heads_v) == 1 and ggml.is_quantized(self.s.type_v)
                and head0_v % 64 == 0):
            v_rot = self.inp(F32, 64, 64)
        return k_rot, v_rot

    @staticmethod
    def hadamard(cur: Tensor, rot: Tensor) -> Tensor:
        n = rot.ne[0]
        if cur.is_contiguous():
            res = ggml.reshape(cur, n, cur.n_elements // n)
        else:
            res = ggml.cont(cur, n, cur.n_elements // n)
        res = ggml.mul_mat(rot, res)
        return ggml.reshape(res, *cur.ne)

    def attn(self, il: int, q: Tensor, k: Tensor, v: Tensor, wo: Tensor | None,
             wo_b: Tensor | None) -> Tensor:
        p, s = self.p, self.s
        lp = p.layers[il]
        swa = lp.is_swa
        k_rot, v_rot = self.rot[swa]
        if k_rot is not None:
            q = self.hadamard(q, k_rot)
            k = self.hadamard(k, k_rot)
        if v_rot is not None:
            v = self.hadamard(v, v_rot)
        if p.has_swa:  # llm_graph_input_attn_kv_iswa expands q, k, v
            for t in (q, k, v):
                self.g.expand(t)
        else:  # the plain KV cache expands q, v, k
            for t in (q, v, k):
                self.g.expand(t)
        kv_size = s.n_kv_swa if swa else s.n_kv
        k_idxs = self.k_idxs_swa if swa else self.k_idxs
        v_idxs = self.v_idxs_swa if swa else self.v_idxs
        mask = self.kq_mask_swa if swa else self.kq_mask
        k_cache = ggml.leaf(s.type_k, lp.n_embd_k_gqa, kv_size, external=True)
        v_width = self.n_embd_v_gqa_max if self.v_trans else lp.n_embd_v_gqa
        v_cache = None if p.is_mla else ggml.leaf(s.type_v, v_width, kv_size, external=True)
        T = q.ne[2]
        # cpy_k / cpy_v
        k2 = ggml.view(k, (lp.n_embd_k_gqa, T), (k.nb[2],))
        self.g.expand(ggml.set_rows(k_cache, k2, k_idxs))
        if v_cache is not None:
            if not self.v_trans:
                v2 = ggml.view(v, (lp.n_embd_v_gqa, T), (v.nb[2],))
                self.g.expand(ggml.set_rows(v_cache, v2, v_idxs))
            else:
                if ggml.row_size(v.type, lp.n_embd_v_gqa) == v.nb[2]:
                    v2 = ggml.reshape(v, lp.n_embd_v_gqa, T)
                else:
                    v2 = ggml.cont(v, lp.n_embd_v_gqa, T)
                if lp.n_embd_v_gqa < v_width:
                    v2 = ggml.Tensor(v2.type, (v_width, T), op="PAD", src=(v2,))
                v_view = ggml.reshape(v_cache, 1, v_cache.n_elements)
                v2 = ggml.reshape(v2, 1, v2.n_elements)
                self.g.expand(ggml.set_rows(v_view, v2, v_idxs))
        # get_k / get_v
        rs = ggml.row_size
        kk = ggml.view(k_cache, (lp.head_k, lp.n_head_kv, kv_size, 1),
                       (rs(s.type_k, lp.head_k), rs(s.type_k, lp.n_embd_k_gqa),
                        rs(s.type_k, lp.n_embd_k_gqa * kv_size)))
        if v_cache is None:  # MLA: V is a view of K's first columns
            vv = ggml.view(k_cache, (lp.head_v, lp.n_head_kv, kv_size, 1),
                           (rs(s.type_k, lp.head_k), rs(s.type_k, lp.n_embd_k_gqa),
                            rs(s.type_k, lp.n_embd_k_gqa * kv_size)))
        elif not self.v_trans:
            vv = ggml.view(v_cache, (lp.head_v, lp.n_head_kv, kv_size, 1),
                           (rs(s.type_v, lp.head_v), rs(s.type_v, v_width),
                            rs(s.type_v, v_width * kv_size)))
        else:
            vv = ggml.view(v_cache, (kv_size, lp.n_head_kv, lp.head_v, 1),
                           (rs(s.type_v, kv_size * lp.head_v), rs(s.type_v, kv_size),
                            rs(s.type_v, kv_size * v_width)))
        cur = self.attn_mha(q, kk, vv, mask)
        if v_rot is not None:
            cur = self.hadamard(cur, v_rot)
        if wo is not None:
            cur = self.mm(wo, cur)
        if wo_b is not None:
            cur = ggml.add(cur, wo_b)
        return cur

    def attn_mha(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        q = ggml.view(q, q.ne, q.nb[1:])
        q = ggml.permute(q, (0, 2, 1, 3))
        k = ggml.permute(k, (0, 2, 1, 3))
        v = ggml.permute(v, (0, 2, 1, 3))
        if self.s.flash_attn:
            cur = ggml.flash_attn_ext(q, k, v, mask)
            cur = ggml.reshape(cur, cur.ne[0] * cur.ne[1], cur.ne[2] * cur.ne[3])
        else:
            kq = ggml.mul_mat(k, q)
            if self.p.arch == "gemma2":  # attention logit soft-capping
                kq = ggml.scale(ggml.unary(ggml.scale(kq)))
            kq = ggml.soft_max(kq, mask)
            kqv = ggml.mul_mat(v, kq)
            cur = ggml.permute(kqv, (0, 2, 1, 3))
            cur = ggml.cont(cur, cur.ne[0] * cur.ne[1], cur.ne[2] * cur.ne[3])
        self.g.expand(cur)
        return cur

    # -- the decoder ---------------------------------------------------------------------------
    def build(self) -> Graph:
        p, s = self.p, self.s
        arch = p.arch
        T = s.n_tokens
        tokens = self.inp(I32, T)
        embd_in = self.inp(F32, p.n_embd, T)
        inp_l = ggml.get_rows(self.need("token_embd.weight", p.n_embd, p.n_vocab), tokens)
        self.g.expand(inp_l)  # ggml_build_forward_select: the token path ...
        self.g.expand(embd_in)  # ... and the (unused) embeddings input, a leaf all the same
        if arch in ("gemma", "gemma2", "gemma3"):
            inp_l = ggml.scale(inp_l)
        pos = self.inp(I32, T)
        self.attn_inputs()
        out_ids = self.inp(I32, s.n_outputs)
        n_main = p.n_layer - p.n_layer_nextn
        residual_first = arch == "phi3"  # phi3 adds (residual, ffn_out); the others (out, res)
        for il in range(n_main):
            lp = p.layers[il]
            inp_sa = inp_l
            cur = self.norm(inp_l, self.w(f"blk.{il}.attn_norm.weight"),
                            self.w(f"blk.{il}.attn_norm.bias"))
            if lp.n_head_kv == 0 and lp.is_recurrent:
                cur = self._recurrent_stand_in(cur)
            else:
                q, k, v = self.qkv(il, cur)
                qn, kn = self.w(f"blk.{il}.attn_q_norm.weight"), self.w(
                    f"blk.{il}.attn_k_norm.weight")
                if qn is not None:
                    q = self.norm(q, qn)
                q = ggml.rope(q, pos, self.w("rope_freqs.weight"))
                if kn is not None:
                    k = self.norm(k, kn)
                k = ggml.rope(k, pos, self.w("rope_freqs.weight"))
                if arch in ("gemma2", "gemma3", "phi3"):
                    q = ggml.scale(q)
                wo = self.need(f"blk.{il}.attn_output.weight", lp.head_v * lp.n_head, p.n_embd)
                cur = self.attn(il, q, k, v, wo,
                                self.w(f"blk.{il}.attn_output.bias"))
            if il == n_main - 1:
                cur = ggml.get_rows(cur, out_ids)
                inp_sa = ggml.get_rows(inp_sa, out_ids)
            post = self.w(f"blk.{il}.post_attention_norm.weight")
            if post is not None:
                cur = self.norm(cur, post)
            ffn_inp = ggml.add(cur, inp_sa)
            cur = self.norm(ffn_inp, self.w(f"blk.{il}.ffn_norm.weight"),
                            self.w(f"blk.{il}.ffn_norm.bias"))
            cur = self._ffn_block(il, cur)
            post = self.w(f"blk.{il}.post_ffw_norm.weight")
            if post is not None:
                cur = self.norm(cur, post)
            cur = ggml.add(ffn_inp, cur) if residual_first else ggml.add(cur, ffn_inp)
            inp_l = cur
        cur = self.norm(inp_l, self.w("output_norm.weight"), self.w("output_norm.bias"))
        cur.is_output = True  # res->t_embd
        output = self.w("output.weight") or self.w("token_embd.weight")
        cur = self.mm(output, cur)  # type: ignore[arg-type]
        if self.w("output.bias") is not None:
            cur = ggml.add(cur, self.w("output.bias"))  # type: ignore[arg-type]
        if p.metadata.get(f"{arch}.final_logit_softcapping"):
            cur = ggml.scale(ggml.unary(ggml.scale(cur)))
        cur.is_output = True  # res->t_logits
        self.g.expand(cur)
        return self.g

    def _ffn_block(self, il: int, cur: Tensor) -> Tensor:
        p = self.p
        w = self.w
        if w(f"blk.{il}.ffn_gate_inp.weight") is not None and p.n_expert_used:
            out = self.moe_ffn(cur, il, MOE_NORM_W.get(p.arch, True))
            if w(f"blk.{il}.ffn_up_shexp.weight") is not None:
                sh_gate = w(f"blk.{il}.ffn_gate_inp_shexp.weight")
                sh = self.ffn(cur, w(f"blk.{il}.ffn_up_shexp.weight"),
                              w(f"blk.{il}.ffn_gate_shexp.weight"),
                              w(f"blk.{il}.ffn_down_shexp.weight"))
                if sh_gate is not None:
                    gate_inp = self.mm(sh_gate, cur)
                    sh_scale = ggml.div(ggml.unary(gate_inp), gate_inp)
                    sh = ggml.mul(sh, sh_scale)
                out = ggml.add(out, sh)
            return out
        gate = w(f"blk.{il}.ffn_gate.weight")
        up, down = w(f"blk.{il}.ffn_up.weight"), w(f"blk.{il}.ffn_down.weight")
        if up is None and down is None:
            n_ff = p.layers[il].n_ff
            if not n_ff:
                return cur
            gate = self.need(f"blk.{il}.ffn_gate.weight", p.n_embd, n_ff)
            up = self.need(f"blk.{il}.ffn_up.weight", p.n_embd, n_ff)
            down = self.need(f"blk.{il}.ffn_down.weight", n_ff, p.n_embd)
        act = "silu" if gate is not None else "swiglu"
        if p.arch in ("phi2", "gpt2", "starcoder", "bloom", "falcon") and gate is None:
            act = "gelu"
        return self.ffn(cur, up, gate, down, act, w(f"blk.{il}.ffn_up.bias"),
                        w(f"blk.{il}.ffn_down.bias"))

    def _recurrent_stand_in(self, cur: Tensor) -> Tensor:
        """Recurrent layers (no KV): approximated by their input/output projections' size."""
        return ggml.unary(cur)


def build_graph(p: ModelParams, shape: GraphShape) -> Graph:
    """The graph llama.cpp reserves for a batch of ``shape.n_tokens`` tokens."""
    return _Builder(p, shape).build()


def build_named_graph(p: ModelParams, shape: GraphShape) -> tuple[Graph, dict[int, str]]:
    """The graph, and the GGUF name of each weight leaf in it (by ``id`` of the leaf; stand-ins
    for tensors the model names differently have none)."""
    builder = _Builder(p, shape)
    return builder.build(), dict(builder._names)


def compute_buffer_bytes(p: ModelParams, shape: GraphShape, *, alignment: int = 32) -> int:
    """Bytes of the compute buffer llama.cpp reserves: the larger of the prompt (n_tokens) and
    the one-token generation graph, as ``sched_reserve`` reserves both."""
    tg_shape = GraphShape(1, 1, shape.n_kv, shape.n_kv_swa, shape.flash_attn, shape.type_k,
                          shape.type_v, shape.loras)
    try:
        pp = ggml.allocate(build_graph(p, shape), alignment)
        tg = ggml.allocate(build_graph(p, tg_shape), alignment)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, ZeroDivisionError):
        # a layout the llama-style graph cannot follow at all
        return rough_compute_bytes(p, shape)
    return max(pp, tg)


def rough_compute_bytes(p: ModelParams, shape: GraphShape) -> int:
    """The largest live set of a decoder graph, as a formula: the logits, or one layer's
    attention scores (without flash attention) or FFN activations, plus the inputs."""
    T = shape.n_tokens
    n_head = max((lp.n_head for lp in p.layers), default=0)
    n_ff = max([lp.n_ff for lp in p.layers] + [p.n_ff_exp * max(p.n_expert_used, 1)])
    logits = 4 * p.n_vocab * T + 4 * p.n_embd * T
    scores = 0 if shape.flash_attn else 4 * max(shape.n_kv, shape.n_kv_swa) * T * n_head
    ffn = 3 * 4 * n_ff * T
    mask = (2 if shape.flash_attn else 4) * shape.n_kv * T
    return max(logits, scores, ffn) + mask + 3 * 4 * p.n_embd * T
