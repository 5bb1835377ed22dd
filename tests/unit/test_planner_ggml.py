"""The ggml model: shapes, node order, and the port of ggml-alloc's graph allocator."""

from __future__ import annotations

from workbench.planner import ggml
from workbench.planner.ggml import F16, F32, Q8_0, DynAllocator, Graph

MiB = 1 << 20


def _inp(*ne: int) -> ggml.Tensor:
    return ggml.leaf(F32, *ne, is_input=True)


def _weight(*ne: int) -> ggml.Tensor:
    return ggml.leaf(Q8_0, *ne, external=True)


def test_shapes_and_sizes() -> None:
    w = _weight(4096, 1024)
    x = _inp(4096, 512)
    y = ggml.mul_mat(w, x)
    assert y.ne == (1024, 512, 1, 1) and y.type == F32 and y.nbytes == 1024 * 512 * 4
    assert w.nbytes == 4096 * 1024 // 32 * 34
    p = ggml.permute(ggml.reshape(y, 64, 16, 512), (0, 2, 1, 3))
    assert p.ne == (64, 512, 16, 1) and not p.is_contiguous() and p.view_src is y
    assert ggml.cont(p).is_contiguous()


def test_node_order_is_depth_first() -> None:
    a = _inp(8)
    b = ggml.unary(a)
    c = ggml.unary(a)
    d = ggml.add(b, c)
    g = Graph()
    g.expand(d)
    assert g.nodes == [b, c, d] and g.leafs == [a]


def _alloc(*outputs: ggml.Tensor) -> int:
    g = Graph()
    for t in outputs:
        g.expand(t)
    return ggml.allocate(g)


def test_in_place_ops_reuse_their_parent() -> None:
    x = _inp(MiB // 4)  # 1 MiB of f32
    y = ggml.mul_mat(_weight(MiB // 4, MiB // 4), x)  # 1 MiB, a new tensor
    z = ggml.scale(ggml.unary(y))  # in place twice
    z.is_output = True
    assert _alloc(z) == 2 * MiB


def test_a_parent_with_other_consumers_is_not_overwritten() -> None:
    w = _weight(MiB // 4, MiB // 4)

    def peak(second_use: bool) -> int:
        x = _inp(MiB // 4)  # 1 MiB at 0, freed once y is computed
        y = ggml.mul_mat(w, x)  # at 1 MiB
        s = ggml.unary(y)  # in place over y, unless y is still needed
        t = ggml.mul_mat(w, s)
        return _alloc(ggml.add(t, y) if second_use else t)

    assert peak(second_use=False) == 2 * MiB
    assert peak(second_use=True) == 3 * MiB


def test_freed_memory_is_reused() -> None:
    x = _inp(MiB // 4)  # [0, 1)
    w = _weight(MiB // 4, MiB // 4)
    big = ggml.mul_mat(_weight(MiB // 4, 4 * MiB // 4), x)  # [1, 5); x is freed
    part = ggml.cont(ggml.view(big, (MiB // 4,)))  # x's hole [0, 1); big dies with the view
    small = ggml.mul_mat(w, part)  # best fit: big's hole at 1
    after = ggml.mul_mat(w, small)  # part's hole at 0
    assert _alloc(after) == 5 * MiB  # never more than x/part and big at once


def test_outputs_are_never_freed() -> None:
    w = _weight(MiB // 4, MiB // 4)

    def peak(keep: bool) -> int:
        x = _inp(MiB // 4)  # [0, 1), freed after a
        a = ggml.mul_mat(w, x)  # [1, 2)
        a.is_output = keep
        b = ggml.mul_mat(w, a)  # x's hole [0, 1)
        c = ggml.mul_mat(w, b)  # a's block when a is freed, else a new one
        return _alloc(ggml.mul_mat(w, c))

    assert peak(keep=False) == 2 * MiB
    assert peak(keep=True) == 3 * MiB


def test_dyn_allocator_best_fit_and_merging() -> None:
    dyn = DynAllocator(32)
    a, b, c = dyn.alloc(100), dyn.alloc(1000), dyn.alloc(100)
    assert (a, b, c) == (0, 128, 1152)
    dyn.free(b, 1000)
    assert dyn.alloc(500) == 128  # best fit inside the hole
    dyn.free(a, 100)
    dyn.free(128, 500)
    assert dyn.alloc(1100) == 0  # merged free blocks: a + the hole
    assert dyn.max_size == 1152 + 128


def test_flash_attention_mask_is_f16() -> None:
    from workbench.planner.graph import GraphShape, build_graph
    from workbench.planner.hparams import model_params
    from workbench.planner.synthetic import preset_header

    p = model_params(preset_header("qwen2.5-0.5b", layers=1))
    for fa, mask_type in ((True, F16), (False, F32)):
        g = build_graph(p, GraphShape(512, 512, 4096, 0, fa, F16, F16))
        masks = [t for t in g.leafs if t.is_input and t.ne[:2] == (4096, 512)]
        assert len(masks) == 1 and masks[0].type == mask_type
