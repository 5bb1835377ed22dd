"""The offload planner: context first, then layers (MoE: experts first), margins, fit labels."""

from __future__ import annotations

import pytest

from workbench.errors import BadInput
from workbench.planner import estimate_memory, model_params, plan_offload
from workbench.planner.synthetic import preset_header

GiB = 1 << 30


@pytest.fixture(scope="module")
def llama8b():
    return model_params(preset_header("llama-3.1-8b", quant="Q8_0"))


def _gpu(p, ngl: int, ctx: int, **kw) -> int:
    return estimate_memory(p, n_ctx=ctx, n_gpu_layers=ngl, backend="cuda", **kw).gpu_bytes


def test_everything_fits(llama8b) -> None:
    plan = plan_offload(llama8b, free_vram_bytes=24 * GiB, free_ram_bytes=32 * GiB, n_ctx=8192)
    assert plan.fit == "full_gpu" and plan.plan.fit == "full_gpu"
    assert plan.n_gpu_layers == 33 and plan.n_ctx == 8192 and plan.n_cpu_moe == 0
    assert plan.plan.gpu_bytes <= 23 * GiB


def test_context_shrinks_before_layers(llama8b) -> None:
    # full offload fits at 8192 but not at 32768
    vram = _gpu(llama8b, -1, 16384) + GiB  # the 1 GiB margin
    plan = plan_offload(llama8b, free_vram_bytes=vram, free_ram_bytes=32 * GiB, n_ctx=32768)
    assert plan.fit == "full_gpu"
    assert plan.n_gpu_layers == 33
    assert plan.n_ctx == 16384  # the largest multiple of 256 that fits
    assert _gpu(llama8b, -1, plan.n_ctx + 256) > vram - GiB
    assert plan.steps and "context reduced" in plan.steps[-1]


def test_layers_go_when_the_context_floor_is_reached(llama8b) -> None:
    vram = 6 * GiB
    plan = plan_offload(llama8b, free_vram_bytes=vram, free_ram_bytes=32 * GiB, n_ctx=32768)
    assert plan.fit == "partial"
    assert plan.n_ctx == 4096  # the floor
    assert 0 < plan.n_gpu_layers < 33
    assert plan.plan.gpu_bytes <= vram - GiB
    assert _gpu(llama8b, plan.n_gpu_layers + 1, 4096) > vram - GiB  # one more does not fit
    assert plan.plan.gpu_layers == plan.n_gpu_layers


def test_wanted_context_below_the_floor_is_kept(llama8b) -> None:
    plan = plan_offload(llama8b, free_vram_bytes=6 * GiB, free_ram_bytes=32 * GiB, n_ctx=2048)
    assert plan.n_ctx == 2048


def test_margin_is_left_free(llama8b) -> None:
    full = _gpu(llama8b, -1, 8192)
    fits = plan_offload(llama8b, free_vram_bytes=full + GiB, free_ram_bytes=32 * GiB,
                        n_ctx=8192)
    assert fits.fit == "full_gpu" and fits.n_ctx == 8192
    short = plan_offload(llama8b, free_vram_bytes=full + GiB - 1, free_ram_bytes=32 * GiB,
                         n_ctx=8192)
    assert short.n_ctx < 8192
    none = plan_offload(llama8b, free_vram_bytes=full, free_ram_bytes=32 * GiB, n_ctx=8192,
                        margin_bytes=0)
    assert none.fit == "full_gpu" and none.n_ctx == 8192


def test_moe_keeps_experts_on_the_cpu_before_dropping_layers() -> None:
    p = model_params(preset_header("qwen1.5-moe-a2.7b", quant="Q8_0"))
    plan = plan_offload(p, free_vram_bytes=6 * GiB, free_ram_bytes=32 * GiB, n_ctx=8192)
    assert plan.fit == "partial"
    assert plan.n_gpu_layers == p.n_layer + 1  # every layer's dense weights on the GPU
    assert 0 < plan.n_cpu_moe < p.n_layer
    assert plan.plan.gpu_bytes <= 5 * GiB
    fewer = estimate_memory(p, n_ctx=plan.n_ctx, n_gpu_layers=-1, backend="cuda",
                            n_cpu_moe=plan.n_cpu_moe - 1)
    assert fewer.gpu_bytes > 5 * GiB


def test_no_gpu_is_cpu_only(llama8b) -> None:
    for vram in (None, [], 0):
        plan = plan_offload(llama8b, free_vram_bytes=vram, free_ram_bytes=32 * GiB, n_ctx=8192)
        assert plan.fit == "cpu_only" and plan.n_gpu_layers == 0
        assert plan.plan.gpu_bytes == 0 and plan.plan.backend == "cpu"


def test_a_gpu_too_small_for_anything_is_cpu_only(llama8b) -> None:
    plan = plan_offload(llama8b, free_vram_bytes=GiB + 200 * (1 << 20),
                        free_ram_bytes=32 * GiB, n_ctx=8192)
    assert plan.fit == "cpu_only"
    assert plan.n_ctx == 8192  # without the GPU the wanted context is planned on the CPU


def test_too_large(llama8b) -> None:
    plan = plan_offload(llama8b, free_vram_bytes=None, free_ram_bytes=4 * GiB, n_ctx=8192)
    assert plan.fit == "too_large" and plan.plan.fit == "too_large"
    partial = plan_offload(llama8b, free_vram_bytes=4 * GiB, free_ram_bytes=2 * GiB,
                           n_ctx=8192)
    assert partial.fit == "too_large"


def test_cpu_only_shrinks_the_context_to_fit_the_ram(llama8b) -> None:
    ram = estimate_memory(llama8b, n_ctx=8192).cpu_bytes + GiB
    plan = plan_offload(llama8b, free_vram_bytes=None, free_ram_bytes=ram, n_ctx=32768)
    assert plan.fit == "cpu_only" and plan.n_ctx == 8192


def test_several_gpus_share_the_layers(llama8b) -> None:
    one = plan_offload(llama8b, free_vram_bytes=7 * GiB, free_ram_bytes=32 * GiB, n_ctx=4096)
    two = plan_offload(llama8b, free_vram_bytes=[7 * GiB, 7 * GiB], free_ram_bytes=32 * GiB,
                       n_ctx=4096)
    assert one.fit == "partial"
    assert two.n_gpu_layers > one.n_gpu_layers


def test_bad_input(llama8b) -> None:
    with pytest.raises(BadInput):
        plan_offload(llama8b, free_vram_bytes=-1, free_ram_bytes=GiB, n_ctx=4096)
    with pytest.raises(BadInput):
        plan_offload(llama8b, free_vram_bytes=GiB, free_ram_bytes=GiB, n_ctx=4096,
                     n_gpu_layers=3)
