"""Memory planning for llama.cpp (Qt-free, llama_cpp-free): from a GGUF header to the bytes
llama.cpp will allocate, and the offload that fits a machine.

    estimate_memory(header_or_headers, n_ctx=..., n_gpu_layers=..., ...) -> MemoryPlan
    plan_offload(header, free_vram_bytes=..., free_ram_bytes=..., n_ctx=...) -> OffloadPlan
    model_params(header_or_headers) -> ModelParams     (the model numbers the plan uses)

The compute buffer is computed by rebuilding llama.cpp's graph and allocating it like
ggml-alloc (``graph.py``, ``ggml.py``); docs/memory-accuracy.md compares every figure with what
llama.cpp reports when it loads the model.
"""

from workbench.planner.hparams import LayerParams, ModelParams, model_params
from workbench.planner.memory import (
    BACKENDS,
    FIT_LABELS,
    GPU_OVERHEAD_BYTES,
    MemoryPlan,
    estimate_memory,
)
from workbench.planner.offload import OffloadPlan, plan_offload
from workbench.planner.weights import LayerWeights

__all__ = [
    "BACKENDS",
    "FIT_LABELS",
    "GPU_OVERHEAD_BYTES",
    "LayerParams",
    "LayerWeights",
    "MemoryPlan",
    "ModelParams",
    "OffloadPlan",
    "estimate_memory",
    "model_params",
    "plan_offload",
]
