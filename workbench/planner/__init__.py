"""Memory planning for llama.cpp (Qt-free, llama_cpp-free): from a GGUF header to the bytes
llama.cpp will allocate, and the offload that fits a machine.

    estimate_memory(header_or_headers, n_ctx=..., n_gpu_layers=..., ...) -> MemoryPlan
    plan_offload(header, free_vram_bytes=..., free_ram_bytes=..., n_ctx=...) -> OffloadPlan
    model_params(header_or_headers) -> ModelParams     (the model numbers the plan uses)

The compute buffer is computed by rebuilding llama.cpp's graph and allocating it like
ggml-alloc (``graph.py``, ``ggml.py``); docs/memory-accuracy.md compares every figure with what
llama.cpp reports when it loads the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.lazy_exports import lazy_exports

if TYPE_CHECKING:
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

# Loaded on first use (PEP 562): the planner imports the GGUF reader (numpy, gguf), and the
# command line imports light planner modules (workbench.planner.defaults) at every start.
_EXPORTS = {
    "LayerParams": "hparams", "ModelParams": "hparams", "model_params": "hparams",
    "BACKENDS": "memory", "FIT_LABELS": "memory", "GPU_OVERHEAD_BYTES": "memory",
    "MemoryPlan": "memory", "estimate_memory": "memory",
    "OffloadPlan": "offload", "plan_offload": "offload",
    "LayerWeights": "weights",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
