"""A small model of ggml: tensor shapes, types and strides, the ops llama.cpp's graphs use, the
graph's node order and ggml-alloc's graph allocator.

It holds no data. Built from a model's header, it answers one question exactly the way ggml does:
how big is the compute buffer that ``ggml_gallocr`` reserves for a graph? Shapes and strides
follow ``ggml.c``; the node order follows ``ggml_build_forward_expand`` (depth-first, sources left
to right); the allocator is a port of ``ggml-alloc.c`` (in-place reuse of a parent's memory,
freeing a tensor after its last consumer, best-fit free blocks, the high-water mark).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from workbench.gguf.ggml_types import GGML_TYPES

F32, F16, Q4_0, Q8_0, I32, I64 = 0, 1, 2, 8, 26, 27
TYPE_IDS = {"f32": F32, "f16": F16, "q4_0": Q4_0, "q8_0": Q8_0, "bf16": 30}

# ggml_op_can_inplace (ggml-alloc.c)
INPLACE_OPS = frozenset({
    "FILL", "SCALE", "DIAG_MASK_ZERO", "DIAG_MASK_INF", "ADD", "ADD_ID", "ADD1", "SUB", "MUL",
    "DIV", "SQR", "SQRT", "LOG", "UNARY", "ROPE", "ROPE_BACK", "SILU_BACK", "RMS_NORM",
    "RMS_NORM_BACK", "CLAMP", "SOFT_MAX", "SOFT_MAX_BACK",
})


def block_and_size(type_id: int) -> tuple[int, int]:
    """(elements per block, bytes per block) of a ggml type."""
    if type_id in (I32,):
        return 1, 4
    if type_id == I64:
        return 1, 8
    t = GGML_TYPES[type_id]
    return t.block_size, t.type_size


def row_size(type_id: int, n: int) -> int:
    """``ggml_row_size``: bytes of ``n`` consecutive elements of a row."""
    block, size = block_and_size(type_id)
    return size * n // block


def is_quantized(type_id: int) -> bool:
    return block_and_size(type_id)[0] > 1


class Tensor:
    """One ggml tensor: type, ``ne`` (elements per dim, ne0 first) and ``nb`` (strides in bytes)."""

    __slots__ = ("external", "is_input", "is_output", "nb", "ne", "op", "src", "type",
                 "view_src")
    view_src: Tensor | None

    def __init__(self, type_id: int, ne: Sequence[int], nb: Sequence[int] | None = None, *,
                 op: str = "NONE", src: Sequence[Tensor | None] = (),
                 view_src: Tensor | None = None, external: bool = False) -> None:
        ne4 = (*(int(x) for x in ne), 1, 1, 1, 1)[:4]
        self.type = type_id
        self.ne = ne4
        self.nb = tuple(nb) if nb is not None else contiguous_strides(type_id, ne4)
        self.op = op
        self.src = tuple(src)
        # views always point at the tensor that owns the memory (ggml_new_tensor_impl)
        if view_src is not None and view_src.view_src is not None:
            view_src = view_src.view_src
        self.view_src = view_src
        self.external = external  # lives in another buffer: weights, KV cache
        self.is_input = False
        self.is_output = False

    @property
    def nbytes(self) -> int:
        """``ggml_nbytes``."""
        if any(n <= 0 for n in self.ne):
            return 0
        block, size = block_and_size(self.type)
        if block == 1:
            return size + sum((n - 1) * s for n, s in zip(self.ne, self.nb, strict=True))
        return self.ne[0] * self.nb[0] // block + sum(
            (n - 1) * s for n, s in zip(self.ne[1:], self.nb[1:], strict=True))

    @property
    def n_elements(self) -> int:
        return math.prod(self.ne)

    @property
    def is_view(self) -> bool:
        return self.view_src is not None

    def is_contiguous(self) -> bool:
        return self.nb == contiguous_strides(self.type, self.ne)

    def __repr__(self) -> str:
        return f"Tensor({self.op}, type={self.type}, ne={self.ne})"


def contiguous_strides(type_id: int, ne: Sequence[int]) -> tuple[int, int, int, int]:
    _, size = block_and_size(type_id)
    nb0 = size
    nb1 = row_size(type_id, ne[0])
    nb2 = nb1 * ne[1]
    nb3 = nb2 * ne[2]
    return nb0, nb1, nb2, nb3


# --- ops (ggml.c) -------------------------------------------------------------------------------

def new(type_id: int, *ne: int, op: str = "NONE", src: Sequence[Tensor | None] = ()) -> Tensor:
    return Tensor(type_id, ne, op=op, src=src)


def leaf(type_id: int, *ne: int, external: bool = False, is_input: bool = False) -> Tensor:
    t = Tensor(type_id, ne, external=external)
    t.is_input = is_input
    return t


def unary_like(op: str, a: Tensor, *others: Tensor | None) -> Tensor:
    """Ops whose result is ``ggml_dup_tensor(a)``: element-wise, norms, rope, softmax, scale."""
    return Tensor(a.type, a.ne, op=op, src=(a, *others))


def add(a: Tensor, b: Tensor) -> Tensor:
    return unary_like("ADD", a, b)


def mul(a: Tensor, b: Tensor) -> Tensor:
    return unary_like("MUL", a, b)


def div(a: Tensor, b: Tensor) -> Tensor:
    return unary_like("DIV", a, b)


def scale(a: Tensor) -> Tensor:
    return unary_like("SCALE", a)


def clamp(a: Tensor) -> Tensor:
    return unary_like("CLAMP", a)


def unary(a: Tensor) -> Tensor:
    """silu, gelu, tanh, sigmoid, ...: GGML_OP_UNARY."""
    return unary_like("UNARY", a)


def rms_norm(a: Tensor) -> Tensor:
    return unary_like("RMS_NORM", a)


def norm(a: Tensor) -> Tensor:
    return unary_like("NORM", a)


def rope(a: Tensor, pos: Tensor, factors: Tensor | None = None) -> Tensor:
    return unary_like("ROPE", a, pos, factors)


def soft_max(a: Tensor, mask: Tensor | None = None) -> Tensor:
    return unary_like("SOFT_MAX", a, mask)


def mul_mat(a: Tensor, b: Tensor) -> Tensor:
    return Tensor(F32, (a.ne[1], b.ne[1], b.ne[2], b.ne[3]), op="MUL_MAT", src=(a, b))


def mul_mat_id(a: Tensor, b: Tensor, ids: Tensor) -> Tensor:
    return Tensor(F32, (a.ne[1], ids.ne[0], b.ne[2], 1), op="MUL_MAT_ID", src=(a, b, ids))


def get_rows(a: Tensor, b: Tensor) -> Tensor:
    out_type = I32 if a.type == I32 else F32
    return Tensor(out_type, (a.ne[0], b.ne[0], b.ne[1], b.ne[2]), op="GET_ROWS", src=(a, b))


def glu(a: Tensor, b: Tensor | None = None) -> Tensor:
    """swiglu/geglu: split form (a, b) keeps a's shape, the fused form halves ne0."""
    ne = a.ne if b is not None else (a.ne[0] // 2, *a.ne[1:])
    return Tensor(a.type, ne, op="GLU", src=(a, b))


def cont(a: Tensor, *ne: int) -> Tensor:
    return Tensor(a.type, ne or a.ne, op="CONT", src=(a,))


def argsort(a: Tensor) -> Tensor:
    return Tensor(I32, a.ne, op="ARGSORT", src=(a,))


def sum_rows(a: Tensor) -> Tensor:
    return Tensor(a.type, (1, *a.ne[1:]), op="SUM_ROWS", src=(a,))


def flash_attn_ext(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    return Tensor(F32, (v.ne[0], q.ne[2], q.ne[1], q.ne[3]), op="FLASH_ATTN_EXT",
                  src=(q, k, v, mask))


def set_rows(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """The result is a view of the destination (the KV cache): nothing to allocate."""
    return Tensor(a.type, a.ne, a.nb, op="SET_ROWS", src=(b, c, a), view_src=a)


def view(a: Tensor, ne: Sequence[int], nb: Sequence[int] | None = None, op: str = "VIEW"
         ) -> Tensor:
    """``ggml_view_Nd``/``ggml_reshape_Nd``: ``nb`` lists the strides from nb1 on; the ones not
    given follow from the shape (contiguous when ``nb`` is None)."""
    ne4 = (*ne, 1, 1, 1, 1)[:4]
    strides: tuple[int, ...]
    if nb is None:
        strides = contiguous_strides(a.type, ne4)
    else:
        given = [a.nb[0], *nb]
        while len(given) < 4:
            given.append(given[-1] * ne4[len(given) - 1])
        strides = tuple(given[:4])
    return Tensor(a.type, ne4, strides, op=op, src=(a,), view_src=a)


def reshape(a: Tensor, *ne: int) -> Tensor:
    return view(a, ne, op="RESHAPE")


def permute(a: Tensor, axes: Sequence[int]) -> Tensor:
    ne = [0] * 4
    nb = [0] * 4
    for i, axis in enumerate(axes):
        ne[axis] = a.ne[i]
        nb[axis] = a.nb[i]
    return Tensor(a.type, ne, nb, op="PERMUTE", src=(a,), view_src=a)


def transpose(a: Tensor) -> Tensor:
    t = permute(a, (1, 0, 2, 3))
    t.op = "TRANSPOSE"
    return t


# --- graph --------------------------------------------------------------------------------------

class Graph:
    """Nodes and leafs in ``ggml_build_forward_expand`` order."""

    def __init__(self) -> None:
        self.nodes: list[Tensor] = []
        self.leafs: list[Tensor] = []
        self._visited: set[int] = set()

    def expand(self, tensor: Tensor | None) -> None:
        if tensor is None:
            return
        stack: list[tuple[Tensor, int]] = [(tensor, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                if id(node) in self._visited:
                    continue
                self._visited.add(id(node))
            srcs = node.src
            while i < len(srcs) and (srcs[i] is None or id(srcs[i]) in self._visited):
                i += 1
            if i < len(srcs):
                stack.append((node, i + 1))
                stack.append((srcs[i], 0))  # type: ignore[arg-type]
                continue
            if node.op == "NONE":
                self.leafs.append(node)
            else:
                self.nodes.append(node)


# --- ggml-alloc ---------------------------------------------------------------------------------

class _Block:
    __slots__ = ("offset", "size")

    def __init__(self, offset: int, size: int) -> None:
        self.offset = offset
        self.size = size


class DynAllocator:
    """``ggml_dyn_tallocr`` with one chunk: best-fit free blocks, the last one unbounded."""

    def __init__(self, alignment: int) -> None:
        self.alignment = alignment
        self.blocks: list[_Block] = [_Block(0, 1 << 62)]
        self.max_size = 0

    def _align(self, size: int) -> int:
        return -(-size // self.alignment) * self.alignment

    def alloc(self, size: int) -> int:
        size = self._align(size)
        best, best_size = -1, None
        for i, block in enumerate(self.blocks[:-1]):
            if block.size >= size and (best_size is None or block.size <= best_size):
                best, best_size = i, block.size
        if best == -1:
            best = len(self.blocks) - 1
        block = self.blocks[best]
        offset = block.offset
        block.offset += size
        block.size -= size
        if block.size == 0:
            del self.blocks[best]
        self.max_size = max(self.max_size, offset + size)
        return offset

    def free(self, offset: int, size: int) -> None:
        size = self._align(size)
        blocks = self.blocks
        for i, block in enumerate(blocks):
            if block.offset + block.size == offset:
                block.size += size
                if i < len(blocks) - 1 and block.offset + block.size == blocks[i + 1].offset:
                    block.size += blocks[i + 1].size
                    del blocks[i + 1]
                return
            if offset + size == block.offset:
                block.offset = offset
                block.size += size
                if i > 0 and blocks[i - 1].offset + blocks[i - 1].size == block.offset:
                    blocks[i - 1].size += block.size
                    del blocks[i]
                return
        pos = 0
        while pos < len(blocks) and blocks[pos].offset < offset:
            pos += 1
        blocks.insert(pos, _Block(offset, size))


class _Info:
    __slots__ = ("allocated", "n_children", "n_views", "offset")

    def __init__(self) -> None:
        self.n_children = 0
        self.n_views = 0
        self.allocated = False
        self.offset = 0


def _same_layout(a: Tensor, b: Tensor) -> bool:
    return a.type == b.type and a.ne == b.ne and a.nb == b.nb


def allocate(graph: Graph, alignment: int = 32,
             alloc_size: Callable[[Tensor], int] | None = None) -> int:
    """Bytes ``ggml_gallocr_reserve`` needs for ``graph`` (its buffer's high-water mark);
    ``alloc_size`` is the buffer type's get_alloc_size (default: ggml_nbytes)."""
    size_of = alloc_size or (lambda t: t.nbytes)
    info: dict[int, _Info] = {}
    dyn = DynAllocator(alignment)

    def get(t: Tensor) -> _Info:
        found = info.get(id(t))
        if found is None:
            found = info[id(t)] = _Info()
        return found

    def allocate_node(node: Tensor) -> None:
        hn = get(node)
        if node.external or hn.allocated or node.is_view:
            return
        hn.allocated = True
        if node.op in INPLACE_OPS:
            for parent in node.src:
                if parent is None:
                    continue
                p_hn = get(parent)
                if not p_hn.allocated:  # external, a view, or not ours
                    continue
                if parent.is_output:
                    continue
                if not _same_layout(node, parent):
                    continue
                if p_hn.n_children == 1 and p_hn.n_views == 0:
                    hn.offset = p_hn.offset
                    p_hn.allocated = False
                    node_size, parent_size = size_of(node), size_of(parent)
                    node_aligned = dyn._align(node_size)
                    parent_aligned = dyn._align(parent_size)
                    if parent_aligned > node_aligned:
                        dyn.free(p_hn.offset + node_aligned, parent_aligned - node_aligned)
                    return
        hn.offset = dyn.alloc(size_of(node))

    def free_node(node: Tensor) -> None:
        if node.is_output:
            return
        hn = get(node)
        dyn.free(hn.offset, size_of(node))
        hn.allocated = False

    for lf in graph.leafs:
        allocate_node(lf)
    for node in graph.nodes:
        if node.is_view and node.op != "NONE":
            get(node.view_src).n_views += 1  # type: ignore[arg-type]
        if node.is_input:
            allocate_node(node)
        for src in node.src:
            if src is None:
                continue
            get(src).n_children += 1
            if src.is_input:
                allocate_node(src)
    for node in graph.nodes:
        for parent in node.src:
            if parent is not None:
                allocate_node(parent)
        allocate_node(node)
        for parent in node.src:
            if parent is None:
                continue
            p_hn = get(parent)
            p_hn.n_children -= 1
            if p_hn.n_children == 0 and p_hn.n_views == 0:
                if parent.is_view:
                    vs = parent.view_src
                    vs_hn = get(vs)  # type: ignore[arg-type]
                    vs_hn.n_views -= 1
                    if vs_hn.n_views == 0 and vs_hn.n_children == 0 and vs_hn.allocated:
                        free_node(vs)  # type: ignore[arg-type]
                elif p_hn.allocated:
                    free_node(parent)
    return dyn.max_size
