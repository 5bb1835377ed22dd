"""The exact memory plan of loading a model with llama.cpp, from its GGUF header alone.

``estimate_memory(header, n_ctx=...)`` adds up what llama.cpp allocates when it loads a model:
the weights (placed per layer as llama.cpp places them), the KV cache, the compute buffer (its
graph rebuilt and allocated like ggml-alloc does: ``graph.py``), the output (logits) buffer and
an estimate of the GPU backend's own overhead; each split between GPU and CPU.

On the CPU backend every figure is what llama.cpp itself reports when it loads the model
("model/KV/compute/output buffer size"); docs/memory-accuracy.md has the comparison. GPU rules
(CUDA padding, the host-side compute buffer, op offload, the context's overhead) follow the
source but could not be measured here: they are estimates, and say so in ``notes``.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from workbench.errors import BadInput
from workbench.gguf import AdapterSummary, GGUFHeader
from workbench.planner import ggml
from workbench.planner.graph import EXACT_ARCHS, GraphShape, build_graph, compute_buffer_bytes
from workbench.planner.hparams import ModelParams, model_params
from workbench.planner.kvcache import cache_cells, kv_layer_bytes, recurrent_layer_bytes
from workbench.planner.weights import LayerWeights, place_adapters, place_weights

MiB = 1 << 20
Backend = Literal["cpu", "cuda", "metal", "vulkan", "rocm"]
BACKENDS = ("cpu", "cuda", "metal", "vulkan", "rocm")
KV_TYPES = {"f16": ggml.F16, "q8_0": ggml.Q8_0, "q4_0": ggml.Q4_0, "f32": ggml.F32,
            "bf16": 30}
# What a GPU backend costs before any buffer: CUDA/ROCm context, cuBLAS/hipBLAS workspaces and
# llama.cpp's memory pool. Measured contexts range from ~107 MiB (RTX 4060 Ti) to ~555 MiB
# (RTX PRO 6000); 400 MiB is an estimate in that range, not a measurement of this machine.
GPU_OVERHEAD_BYTES = {"cuda": 400 * MiB, "rocm": 400 * MiB, "vulkan": 200 * MiB, "metal": 0,
                      "cpu": 0}
COMPUTE_ALIGNMENT = {"cpu": 32, "cuda": 128, "rocm": 128, "vulkan": 64, "metal": 32}
OP_OFFLOAD_MIN_BATCH = 32  # ggml-cuda offloads CPU-weight ops for batches this large

# Where a plan puts the model, best first: every layer on the GPU, some of them, none, or it
# does not fit the free memory (only the offload planner says too_large). The words for each
# are workbench.present.fit; the recommender ranks by this order.
FIT_LABELS = ("full_gpu", "partial", "cpu_only", "too_large")
FULL_GPU, PARTIAL, CPU_ONLY, TOO_LARGE = FIT_LABELS
TOTAL_KEYS = ("weights_bytes", "kv_cache_bytes", "compute_bytes", "output_bytes",
              "overhead_bytes", "gpu_bytes", "cpu_bytes", "total_bytes")
DEVICE_KEYS = ("weights_gpu_bytes", "weights_cpu_bytes", "kv_gpu_bytes", "kv_cpu_bytes",
               "compute_gpu_bytes", "compute_cpu_bytes")


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes llama.cpp will allocate, per part and per device. Totals are properties."""

    ctx: int  # the context llama.cpp uses (n_ctx rounded up to a multiple of 256)
    n_ubatch: int
    n_seq: int
    flash_attn: bool
    kv_type: str
    backend: str
    n_layers: int  # offloadable layers as llama.cpp counts them: blocks + the output layer
    n_blocks: int  # repeating layers (block_count)
    gpu_layers: int
    n_cpu_moe: int
    weights_gpu_bytes: int
    weights_cpu_bytes: int
    repack_bytes: int  # repacked copies (allocated; with mmap on top of the mapped file)
    weights_mapped: bool  # CPU weights are memory-mapped (page cache) rather than allocated
    kv_gpu_bytes: int
    kv_cpu_bytes: int
    compute_gpu_bytes: int
    compute_cpu_bytes: int
    output_bytes: int  # logits buffer (host memory)
    overhead_bytes: int  # GPU backend context estimate (0 on the CPU)
    layers: tuple[LayerWeights, ...]
    fit: str
    exact_graph: bool  # the compute graph of this architecture is rebuilt node for node
    notes: tuple[str, ...] = field(default=())
    # of weights_gpu_bytes and weights_cpu_bytes: LoRA adapters' tensors (real allocations)
    adapter_gpu_bytes: int = 0
    adapter_cpu_bytes: int = 0

    @property
    def adapter_bytes(self) -> int:
        return self.adapter_gpu_bytes + self.adapter_cpu_bytes

    @property
    def weights_bytes(self) -> int:
        return self.weights_gpu_bytes + self.weights_cpu_bytes

    @property
    def kv_cache_bytes(self) -> int:
        return self.kv_gpu_bytes + self.kv_cpu_bytes

    @property
    def compute_bytes(self) -> int:
        return self.compute_gpu_bytes + self.compute_cpu_bytes

    @property
    def gpu_bytes(self) -> int:
        return self.weights_gpu_bytes + self.kv_gpu_bytes + self.compute_gpu_bytes + \
            self.overhead_bytes

    @property
    def cpu_bytes(self) -> int:
        return self.weights_cpu_bytes + self.kv_cpu_bytes + self.compute_cpu_bytes + \
            self.output_bytes

    @property
    def total_bytes(self) -> int:
        return self.gpu_bytes + self.cpu_bytes

    @property
    def buffers_bytes(self) -> int:
        """What llama.cpp reports as buffers (model + KV + compute + output), no overhead."""
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.output_bytes

    def totals(self, *, per_device: bool = False) -> dict[str, int]:
        """The plan's totals by part and device (``TOTAL_KEYS``), with ``per_device`` also
        each part on the GPU and on the CPU (``DEVICE_KEYS``): the ``memory`` object of
        ``workbench recommend --json`` and ``workbench files --json``."""
        keys = TOTAL_KEYS + DEVICE_KEYS if per_device else TOTAL_KEYS
        return {key: getattr(self, key) for key in keys}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_bytes": self.compute_bytes,
            "output_bytes": self.output_bytes,
            "overhead_bytes": self.overhead_bytes,
            "total_bytes": self.total_bytes,
            "gpu_bytes": self.gpu_bytes,
            "cpu_bytes": self.cpu_bytes,
        }
        for f in dataclasses.fields(self):
            if f.name == "layers":
                out["layers"] = [layer.to_dict() for layer in self.layers]
            elif f.name == "notes":
                out["notes"] = list(self.notes)
            else:
                out[f.name] = getattr(self, f.name)
        return out


def resolve_flash_attn(flash_attn: bool | str, backend: str) -> bool:
    """llama.cpp's "auto" turns flash attention on wherever the backend supports the graph;
    every backend Workbench targets does for the architectures it plans."""
    if isinstance(flash_attn, bool):
        return flash_attn
    value = str(flash_attn).lower()
    if value in ("on", "true", "1", "auto"):
        return True
    if value in ("off", "false", "0"):
        return False
    raise BadInput(f"flash attention must be on, off or auto, not {flash_attn!r}")


def _params(model: GGUFHeader | Sequence[GGUFHeader] | ModelParams) -> ModelParams:
    return model if isinstance(model, ModelParams) else model_params(model)


def estimate_memory(
    model: GGUFHeader | Sequence[GGUFHeader] | ModelParams,
    *,
    n_ctx: int,
    n_ubatch: int = 512,
    n_batch: int = 512,
    n_gpu_layers: int = 0,
    kv_type: str = "f16",
    flash_attn: bool | str = "auto",
    n_seq: int = 1,
    backend: Backend | str = "cpu",
    repack: bool = False,
    use_mmap: bool = True,
    n_cpu_moe: int = 0,
    swa_full: bool = False,
    n_gpus: int = 1,
    loras: Sequence[AdapterSummary | tuple[AdapterSummary, float]] = (),
) -> MemoryPlan:
    """What llama.cpp allocates to load ``model`` with these settings (see the module doc).

    ``n_gpu_layers`` counts like llama.cpp (-1: all; the output layer is offloaded first).
    ``swa_full=False`` (Workbench's and llama-server's default): sliding-window layers keep only
    their window; True gives them the full context (llama.cpp's C default). ``loras``: the
    LoRA adapters loaded with it, each with its scale (1 when not given): their tensors join
    the weights, on the device of the tensor each one changes, and those at a non-zero scale
    add their products to the compute graph.
    Raises ``BadInput`` for impossible settings.
    """
    p = _params(model)
    if backend not in BACKENDS:
        raise BadInput(f"unknown backend {backend!r} (use one of {', '.join(BACKENDS)})")
    if kv_type not in KV_TYPES:
        raise BadInput(f"unknown KV cache type {kv_type!r} (use f16, q8_0 or q4_0)")
    if n_ctx < 0 or n_ubatch < 1 or n_batch < 1 or n_seq < 1 or n_cpu_moe < 0:
        raise BadInput("context, batch sizes and sequences must be positive")
    n_cpu_moe = min(n_cpu_moe, p.n_layer) if p.n_expert else 0
    fa = resolve_flash_attn(flash_attn, backend)
    type_kv = KV_TYPES[kv_type]
    if not fa and ggml.is_quantized(type_kv):
        raise BadInput(f"a {kv_type} KV cache needs flash attention: llama.cpp refuses a "
                       "quantized V cache with flash attention off")
    notes: list[str] = []

    # llama-cpp-python clamps the batch sizes to the context it was asked for (llama.py:
    # n_batch = min(n_ctx, n_batch)); llama.cpp then pads the context to a multiple of 256
    requested_ctx = n_ctx or p.n_ctx_train or 4096
    n_batch_eff = min(requested_ctx, n_batch)
    n_ubatch_eff = min(n_batch_eff, n_ubatch)
    cells = cache_cells(p, n_ctx, n_seq=n_seq, n_ubatch=n_ubatch_eff, swa_full=swa_full)
    n_tokens = min(cells.n_ctx, n_ubatch_eff)

    placement = place_weights(p, n_gpu_layers=n_gpu_layers, backend=backend, repack=repack,
                              n_cpu_moe=n_cpu_moe)
    gpu = backend != "cpu"
    start = p.n_layer + 1 - placement.gpu_layers if gpu else p.n_layer + 1

    kv_gpu = kv_cpu = 0
    for il in range(p.n_layer):
        size = kv_layer_bytes(p, il, cells, type_kv, type_kv, fa) + recurrent_layer_bytes(
            p, il, n_seq)
        if gpu and il >= start:
            kv_gpu += size
        else:
            kv_cpu += size

    adapters = [(lora, 1.0) if isinstance(lora, AdapterSummary) else lora for lora in loras]
    applied = tuple((pair.base, pair.rank) for lora, scale in adapters if scale
                    for pair in lora.pairs)  # llama.cpp leaves zero-scale ones out of the graph
    shape = GraphShape(n_tokens=n_tokens, n_outputs=n_tokens, n_kv=cells.cells,
                       n_kv_swa=cells.cells_swa, flash_attn=fa, type_k=type_kv, type_v=type_kv,
                       loras=applied)
    peak = _cached(p, shape, COMPUTE_ALIGNMENT[backend], compute_buffer_bytes)
    if not gpu:
        compute_gpu, compute_cpu = 0, peak
    else:
        host = _cached(p, shape, 0, _host_compute_bytes)
        # op offload: for a big batch, a GPU runs the matrix products of weights left on the
        # CPU too, copying each weight into its compute buffer (one at a time: a new split)
        big_batch = n_tokens >= OP_OFFLOAD_MIN_BATCH
        offload_copy = placement.largest_cpu_matrix if big_batch else 0
        # every GPU gets its own compute buffer; with several GPUs and every layer offloaded,
        # llama.cpp's pipeline parallelism keeps 4 copies of the graph inputs
        per_gpu = peak + offload_copy
        if n_gpus > 1 and placement.gpu_layers == p.n_layer + 1:
            per_gpu += 3 * host
        compute_gpu = per_gpu * max(1, n_gpus)
        all_on_gpu = placement.gpu_layers == p.n_layer + 1
        compute_cpu = host if all_on_gpu or big_batch else max(host, peak)
        notes.append("GPU compute buffer: the graph's peak as on the CPU"
                     + (" plus the largest CPU weight a GPU copies for big batches (op offload)"
                        if offload_copy else "") + "; host buffer: graph inputs and embeddings")
    output = p.n_vocab * 4 * n_seq
    overhead = GPU_OVERHEAD_BYTES[backend] * max(1, n_gpus) if gpu else 0
    if gpu and overhead:
        notes.append(f"GPU overhead {overhead // MiB} MiB is an estimate of the {backend} "
                     "context and workspaces")
    exact = p.arch in EXACT_ARCHS and not p.has_recurrent
    if not exact:
        notes.append(f"compute buffer of {p.arch} approximated with a llama-style graph")
    if n_seq > 1:
        notes.append("compute buffer simulated for one sequence")
    adapter_gpu, adapter_cpu = place_adapters(p, [lora for lora, _ in adapters],
                                              n_gpu_layers=n_gpu_layers,
                                              backend=backend, n_cpu_moe=n_cpu_moe)
    weights_cpu = placement.cpu_bytes + adapter_cpu
    if repack and placement.repack_bytes and use_mmap:
        # the repacked copy comes on top of the mapped file (read while repacking: resident)
        weights_cpu += placement.repack_bytes
        notes.append("repacked CPU weights are allocated in RAM on top of the memory map")
    gpu_layers = placement.gpu_layers
    fit = fit_label(gpu_layers, p.n_layer + 1, n_cpu_moe)
    return MemoryPlan(
        ctx=cells.n_ctx, n_ubatch=n_ubatch_eff, n_seq=n_seq, flash_attn=fa, kv_type=kv_type,
        backend=backend, n_layers=p.n_layer + 1, n_blocks=p.n_layer, gpu_layers=gpu_layers,
        n_cpu_moe=n_cpu_moe,
        weights_gpu_bytes=placement.gpu_bytes + adapter_gpu, weights_cpu_bytes=weights_cpu,
        repack_bytes=placement.repack_bytes, weights_mapped=use_mmap,
        kv_gpu_bytes=kv_gpu, kv_cpu_bytes=kv_cpu,
        compute_gpu_bytes=compute_gpu, compute_cpu_bytes=compute_cpu,
        output_bytes=output, overhead_bytes=overhead, layers=placement.layers, fit=fit,
        exact_graph=exact, notes=tuple(notes), adapter_gpu_bytes=adapter_gpu,
        adapter_cpu_bytes=adapter_cpu,
    )


def fit_label(gpu_layers: int, n_layers: int, n_cpu_moe: int = 0) -> str:
    """Where ``gpu_layers`` of ``n_layers`` put the model (one of ``FIT_LABELS``)."""
    if gpu_layers >= n_layers and n_cpu_moe == 0:
        return FULL_GPU
    if gpu_layers > 0:
        return PARTIAL
    return CPU_ONLY


_CACHE_SIZE = 512
_CACHE: OrderedDict[tuple[Hashable, GraphShape, int, str], int] = OrderedDict()


def graph_key(p: ModelParams) -> tuple[Hashable, ...]:
    """What a model's compute graph depends on: every number ``graph.py`` reads, and each
    tensor's name and shape. Weight types do not change the graph's buffers (weights are
    external leafs; the ops on them give f32 results) except an i32 table for get_rows, so
    they enter only as "i32 or not": the quants of one model share one graph."""
    tensors = tuple((t.name, tuple(t.shape), t.ggml_type == ggml.I32) for t in p.tensors)
    softcap = p.metadata.get(f"{p.arch}.final_logit_softcapping")
    return (p.arch, p.n_layer, p.n_layer_nextn, p.n_embd, p.n_vocab, p.layers, p.n_swa,
            p.is_mla, p.n_expert, p.n_expert_used, p.n_ff_exp, p.n_ff_shexp, p.n_embd_r,
            p.n_embd_s, bool(softcap), tensors)


def _cached(p: ModelParams, shape: GraphShape, alignment: int, fn: Callable[..., int]) -> int:
    """Graph results depend on the model's shape and the batch shape only (not on the offload
    or the weights' types): the offload planner and the recommender ask for the same ones many
    times, for many ModelParams of one shape. A bounded LRU keyed on ``graph_key``."""
    key = (graph_key(p), shape, alignment, fn.__name__)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    try:
        value = fn(p, shape, alignment=alignment) if alignment else fn(p, shape)
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, ZeroDivisionError,
            OverflowError) as err:  # a header whose tensors do not fit its architecture
        raise BadInput(f"the model's header does not describe a graph llama.cpp could build "
                       f"({type(err).__name__}: {err})") from None
    _CACHE[key] = value
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def _host_compute_bytes(p: ModelParams, shape: GraphShape) -> int:
    """The host-side compute buffer of a GPU setup: graph inputs (assigned to the CPU and copied
    over) plus the token-embedding lookup, which runs where token_embd lives (the CPU)."""
    g = build_graph(p, shape)
    inputs = sum(t.nbytes for t in g.leafs if t.is_input)
    return inputs + p.n_embd * shape.n_tokens * 4
