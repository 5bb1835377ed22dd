"""Where llama.cpp puts each weight, and what it costs there (src/llama-model.cpp load_tensors).

- With ``n_gpu_layers = ngl`` the layers ``il >= n_layer + 1 - ngl`` go to the GPU, counting the
  output layer as layer ``n_layer``: it is offloaded FIRST (ngl = 1 puts the output layer, not the
  last block, on the GPU). The input layer (token_embd) always stays on the CPU.
- Tied embeddings (no output.weight): the output layer uses token_embd; on the GPU that is a
  second copy, while the CPU keeps token_embd for the lookup.
- CUDA/ROCm pad every quantized tensor by one partial row, ``row_size(type, 512 - ne0 % 512)``
  (MATRIX_ROW_PADDING, ggml-cuda.cu), and align each tensor to 128 bytes.
- CPU weights are memory-mapped (page cache) unless ``use_mmap`` is off; weights repacked for the
  CPU (CPU_REPACK) are real allocations.
- ``n_cpu_moe = N`` keeps the expert tensors of the first N layers on the CPU (--n-cpu-moe).
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.gguf import AdapterSummary, TensorInfo
from workbench.planner.ggml import is_quantized, row_size
from workbench.planner.hparams import ModelParams

MATRIX_ROW_PADDING = 512
CPU_TENSOR_ALIGNMENT = 32  # TENSOR_ALIGNMENT: the CPU buffer type's alignment
GPU_TENSOR_ALIGNMENT = {"cuda": 128, "rocm": 128, "vulkan": 64, "metal": 32}
PADDED_BACKENDS = frozenset({"cuda", "rocm"})
INPUT_TENSORS = ("token_embd.", "token_types.", "position_embd.", "token_embd_norm.")
_BLOCK = re.compile(r"^blk\.(\d+)\.")
_EXPERTS = re.compile(r"\.ffn_(up|down|gate_up|gate)_(ch|)exps\b")

# ggml types the CPU backend repacks (ggml-cpu/repack.cpp) per instruction set: x86 (AVX2) and
# ARM (NEON with dotprod/i8mm). Names as in the gguf package.
REPACK_TYPES = {
    "x86": frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}),
    "arm": frozenset({"Q4_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "MXFP4", "Q8_0", "Q1_0"}),
}


@dataclass(frozen=True)
class LayerWeights:
    """One layer's weights: ``index`` -1 is the input layer, ``n_layer`` the output layer."""

    index: int
    name: str
    device: str  # "gpu" | "cpu"
    bytes: int  # on its device (GPU padding included)
    cpu_bytes: int  # tensors of this layer that stay on the CPU (input layer, experts kept back)
    gpu_bytes: int

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "name": self.name, "device": self.device,
                "bytes": self.bytes, "gpu_bytes": self.gpu_bytes, "cpu_bytes": self.cpu_bytes}


@dataclass(frozen=True)
class WeightPlacement:
    layers: tuple[LayerWeights, ...]
    gpu_bytes: int
    cpu_bytes: int
    repack_bytes: int  # of cpu_bytes: repacked copies (real allocations)
    largest_cpu_matrix: int  # biggest CPU weight a GPU would copy for a big batch (op_offload)
    gpu_layers: int


def tensor_layer(name: str, n_layer: int) -> int:
    """-1 for the input layer, 0..n_layer-1 for blocks, n_layer for the output layer."""
    match = _BLOCK.match(name)
    if match:
        return int(match.group(1))
    if name.startswith(INPUT_TENSORS):
        return -1
    if name.startswith(("rope_freqs.", "rope_factors_")):
        return 0  # created with layer 0 (and duplicated per buffer type: a few hundred bytes)
    return n_layer


def gpu_tensor_bytes(t: TensorInfo, backend: str) -> int:
    """Bytes a weight takes in a GPU buffer (CUDA/ROCm padding, buffer alignment)."""
    size = t.n_bytes
    if backend in PADDED_BACKENDS and t.shape and is_quantized(t.ggml_type):
        ne0 = t.shape[0]
        if ne0 % MATRIX_ROW_PADDING:
            size += row_size(t.ggml_type, MATRIX_ROW_PADDING - ne0 % MATRIX_ROW_PADDING)
    align = GPU_TENSOR_ALIGNMENT.get(backend, 32)
    return -(-size // align) * align


def cpu_arch() -> str:
    machine = platform.machine().lower()
    return "arm" if machine.startswith(("arm", "aarch64")) else "x86"


def repackable(t: TensorInfo, arch: str) -> bool:
    """Would the CPU backend repack this weight (a matrix of a repackable type, rows % 8)?"""
    if t.name.startswith(INPUT_TENSORS) or len(t.shape) < 2:
        return False
    rows_multiple = 8 if arch == "x86" else 4
    return t.type_name in REPACK_TYPES[arch] and t.shape[1] % rows_multiple == 0


def gpu_layer_start(n_layer: int, n_gpu_layers: int) -> int:
    """``i_gpu_start``: the first layer index on the GPU (n_layer means only the output)."""
    ngl = n_layer + 1 if n_gpu_layers < 0 else n_gpu_layers
    return max(n_layer + 1 - ngl, 0)


def place_weights(p: ModelParams, *, n_gpu_layers: int, backend: str, repack: bool = False,
                  n_cpu_moe: int = 0, repack_arch: str | None = None) -> WeightPlacement:
    """Assign every tensor to the CPU or the GPU as llama.cpp does; sizes per layer."""
    n_layer = p.n_layer
    gpu = backend != "cpu"
    start = gpu_layer_start(n_layer, n_gpu_layers) if gpu else n_layer + 1
    arch = repack_arch or cpu_arch()
    per_layer: dict[int, list[int]] = {}  # index -> [gpu_bytes, cpu_bytes]
    repack_bytes = 0
    largest_cpu = 0
    tied_output = gpu and start <= n_layer and p.tied_embeddings
    for t in p.tensors:
        il = tensor_layer(t.name, n_layer)
        on_gpu = gpu and il >= start
        if il >= 0 and il < n_cpu_moe and _EXPERTS.search(t.name):
            on_gpu = False
        slot = per_layer.setdefault(il, [0, 0])
        if on_gpu:
            slot[0] += gpu_tensor_bytes(t, backend)
        else:
            slot[1] += t.n_bytes
            if repack and repackable(t, arch):
                repack_bytes += t.n_bytes
            if il >= 0 and len(t.shape) >= 2:
                largest_cpu = max(largest_cpu, t.n_bytes)
        if tied_output and t.name == "token_embd.weight":
            out = per_layer.setdefault(n_layer, [0, 0])
            out[0] += gpu_tensor_bytes(t, backend)
    if not gpu or start > n_layer:
        # the output matrix is a CPU weight too (tied: token_embd is the output matrix)
        out_name = "token_embd.weight" if p.tied_embeddings else "output.weight"
        out_t = p.tensor(out_name)
        if out_t is not None:
            largest_cpu = max(largest_cpu, out_t.n_bytes)
    layers = []
    for il in sorted(per_layer):
        gpu_b, cpu_b = per_layer[il]
        name = "input" if il == -1 else "output" if il == n_layer else f"blk.{il}"
        device = "gpu" if gpu_b and (il >= start) else "cpu"
        layers.append(LayerWeights(il, name, device, gpu_b + cpu_b, cpu_b, gpu_b))
    gpu_layers = 0 if not gpu else min(n_layer + 1, n_layer + 1 - start)
    return WeightPlacement(
        layers=tuple(layers),
        gpu_bytes=sum(layer.gpu_bytes for layer in layers),
        cpu_bytes=sum(layer.cpu_bytes for layer in layers),
        repack_bytes=repack_bytes,
        largest_cpu_matrix=largest_cpu,
        gpu_layers=gpu_layers,
    )


def place_adapters(p: ModelParams, adapters: Sequence[AdapterSummary], *, n_gpu_layers: int,
                   backend: str, n_cpu_moe: int = 0) -> tuple[int, int]:
    """(GPU, CPU) bytes of LoRA adapters' tensors. llama.cpp puts each pair in the buffer type
    of the base tensor it changes, the plain CPU buffer where that one was repacked
    (llama_adapter_lora_init_impl), each tensor aligned to its buffer's alignment; they are
    real allocations (read from the file, never memory-mapped)."""
    n_layer = p.n_layer
    gpu = backend != "cpu"
    start = gpu_layer_start(n_layer, n_gpu_layers) if gpu else n_layer + 1
    gpu_bytes = cpu_bytes = 0
    for adapter in adapters:
        for pair in adapter.pairs:
            il = tensor_layer(pair.base, n_layer)
            on_gpu = gpu and il >= start
            if il >= 0 and il < n_cpu_moe and _EXPERTS.search(pair.base):
                on_gpu = False
            for half in (pair.a, pair.b):
                if on_gpu:
                    gpu_bytes += gpu_tensor_bytes(half, backend)
                else:
                    cpu_bytes += -(-half.n_bytes // CPU_TENSOR_ALIGNMENT) * CPU_TENSOR_ALIGNMENT
    return gpu_bytes, cpu_bytes
