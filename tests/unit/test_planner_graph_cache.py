"""The planner's compute-graph cache: keyed on the model's shape, bounded, results unchanged."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workbench.planner import estimate_memory, memory, model_params
from workbench.planner.graph import GraphShape, compute_buffer_bytes
from workbench.planner.synthetic import preset_header


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts real graph computations; the cache starts empty and is emptied afterwards."""
    calls: list[int] = []

    @functools.wraps(compute_buffer_bytes)
    def counting(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        return compute_buffer_bytes(*args, **kwargs)

    memory._CACHE.clear()
    monkeypatch.setattr(memory, "compute_buffer_bytes", counting)
    yield calls
    memory._CACHE.clear()


def test_equal_shapes_share_one_computation(counted: list[int]) -> None:
    q8 = model_params(preset_header("qwen2.5-0.5b", layers=2, quant="Q8_0"))
    q4 = model_params(preset_header("qwen2.5-0.5b", layers=2, quant="Q4_0"))
    again = model_params(preset_header("qwen2.5-0.5b", layers=2, quant="Q8_0"))
    assert q8 is not again and q8 is not q4
    assert memory.graph_key(q8) == memory.graph_key(again) == memory.graph_key(q4)
    plans = [estimate_memory(p, n_ctx=4096) for p in (q8, q4, again)]
    assert len(counted) == 1
    assert len({plan.compute_bytes for plan in plans}) == 1


def test_cached_figure_is_the_computed_one(counted: list[int]) -> None:
    p = model_params(preset_header("llama-3.2-1b", layers=2, quant="Q4_0"))
    cached = estimate_memory(p, n_ctx=2048, flash_attn=False).compute_bytes
    shape = GraphShape(n_tokens=512, n_outputs=512, n_kv=2048, n_kv_swa=0, flash_attn=False,
                       type_k=1, type_v=1)
    assert cached == compute_buffer_bytes(p, shape, alignment=32)


def test_different_shapes_are_computed_apart(counted: list[int]) -> None:
    two = model_params(preset_header("qwen2.5-0.5b", layers=2))
    three = model_params(preset_header("qwen2.5-0.5b", layers=3))
    assert memory.graph_key(two) != memory.graph_key(three)
    a, b = (estimate_memory(p, n_ctx=1024).compute_bytes for p in (two, three))
    estimate_memory(two, n_ctx=2048)  # another batch shape: another graph
    assert len(counted) == 3
    assert a > 0 and b > 0


def test_cache_is_a_bounded_lru(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_CACHE_SIZE", 2)
    memory._CACHE.clear()
    p = model_params(preset_header("qwen2.5-0.5b", layers=1))
    calls: list[GraphShape] = []

    def fn(params: Any, shape: GraphShape) -> int:
        calls.append(shape)
        return shape.n_tokens

    def shape(n: int) -> GraphShape:
        return GraphShape(n, n, 256, 0, True, 1, 1)

    get: Callable[[int], int] = lambda n: memory._cached(p, shape(n), 0, fn)  # noqa: E731
    assert [get(1), get(2), get(1), get(3)] == [1, 2, 1, 3]  # 3 evicts 2, the least used
    assert len(memory._CACHE) == 2
    get(1)
    assert len(calls) == 3
    get(2)
    assert len(calls) == 4
    memory._CACHE.clear()
