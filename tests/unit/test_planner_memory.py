"""The memory plan's rules, against figures computed by hand and figures llama.cpp printed.

Headers come from real models' shapes (workbench.synth presets) without any file, so these
tests take milliseconds. The live comparison with llama.cpp is tests/integration/test_planner*.
"""

from __future__ import annotations

import pytest

from workbench.errors import BadInput
from workbench.gguf import GGUFHeader, TensorInfo
from workbench.planner import estimate_memory, model_params
from workbench.planner.ggml import Q4_0, Q8_0, row_size
from workbench.planner.synthetic import preset_header
from workbench.planner.weights import gpu_tensor_bytes, place_weights, tensor_layer

GiB = 1 << 30
MiB = 1 << 20


@pytest.fixture(scope="module")
def llama8b() -> GGUFHeader:
    return preset_header("llama-3.1-8b", quant="Q8_0")


# --- KV cache -----------------------------------------------------------------------------------

def test_llama31_8b_kv_f16_at_8192_is_exactly_one_gib(llama8b: GGUFHeader) -> None:
    # 32 layers x 8 KV heads x 128 x (K + V) x 2 bytes x 8192 cells
    plan = estimate_memory(llama8b, n_ctx=8192, kv_type="f16")
    assert plan.kv_cache_bytes == GiB
    assert plan.ctx == 8192


@pytest.mark.parametrize(("kv_type", "expected"), [
    ("q8_0", 34 * (GiB // 2) // 32),  # 34 bytes per block of 32 values
    ("q4_0", 18 * (GiB // 2) // 32),
])
def test_quantized_kv_uses_exact_row_sizes(llama8b: GGUFHeader, kv_type: str,
                                           expected: int) -> None:
    plan = estimate_memory(llama8b, n_ctx=8192, kv_type=kv_type, flash_attn=True)
    assert plan.kv_cache_bytes == expected
    assert row_size(Q8_0, 32) == 34 and row_size(Q4_0, 32) == 18


def test_context_is_padded_to_256(llama8b: GGUFHeader) -> None:
    plan = estimate_memory(llama8b, n_ctx=8000)
    assert plan.ctx == 8192
    assert plan.kv_cache_bytes == GiB


def test_quantized_v_without_flash_attention_is_refused(llama8b: GGUFHeader) -> None:
    with pytest.raises(BadInput, match="flash attention"):
        estimate_memory(llama8b, n_ctx=4096, kv_type="q8_0", flash_attn=False)


def test_gemma3_sliding_window_layers() -> None:
    # gemma-3-1b: 26 layers, every 6th global (5, 11, 17, 23), window 512; K+V of one cell of
    # one layer: 1 KV head x 256 x 2 x 2 bytes = 1 KiB
    header = preset_header("gemma-3-1b", quant="Q8_0")
    params = model_params(header)
    assert [il for il, lp in enumerate(params.layers) if not lp.is_swa] == [5, 11, 17, 23]
    small = estimate_memory(header, n_ctx=32768, n_ubatch=512, swa_full=False)
    # SWA layers hold pad256(min(n_ctx, n_swa + n_ubatch)) = 1024 cells
    assert small.kv_cache_bytes == 4 * 32768 * 1024 + 22 * 1024 * 1024
    full = estimate_memory(header, n_ctx=32768, swa_full=True)  # llama-cpp-python's default
    assert full.kv_cache_bytes == 26 * 32768 * 1024
    tiny_batch = estimate_memory(header, n_ctx=32768, n_ubatch=128, swa_full=False)
    assert tiny_batch.kv_cache_bytes == 4 * 32768 * 1024 + 22 * 768 * 1024  # pad256(640)


def _header(arch: str, metadata: dict[str, object], tensors: list[TensorInfo]) -> GGUFHeader:
    meta = {"general.architecture": arch, **{f"{arch}.{k}": v for k, v in metadata.items()}}
    return GGUFHeader(source="test", version=3, metadata=meta, tensors=tuple(tensors),
                      alignment=32, data_offset=0, file_size=0, header_size=0)


def _f32(name: str, *shape: int) -> TensorInfo:
    n = 1
    for d in shape:
        n *= d
    return TensorInfo(name, shape, 0, "F32", 0, n * 4, n)


def test_mla_cache_holds_k_only() -> None:
    header = _header("deepseek2", {
        "block_count": 2, "embedding_length": 512, "attention.head_count": 4,
        "attention.head_count_kv": 1, "attention.key_length": 576,
        "attention.value_length": 512, "attention.key_length_mla": 192,
        "attention.value_length_mla": 128, "vocab_size": 1000, "context_length": 4096,
    }, [_f32("token_embd.weight", 512, 1000)])
    params = model_params(header)
    assert params.is_mla
    from workbench.planner.kvcache import cache_cells, kv_layer_bytes
    cells = cache_cells(params, 4096)
    assert kv_layer_bytes(params, 0, cells, 1, 1, True) == 576 * 2 * 4096


def test_recurrent_layers_hold_fixed_state() -> None:
    header = _header("mamba", {
        "block_count": 2, "embedding_length": 768, "ssm.conv_kernel": 4,
        "ssm.inner_size": 1536, "ssm.state_size": 16, "vocab_size": 1000,
        "context_length": 4096,
    }, [_f32("token_embd.weight", 768, 1000)])
    params = model_params(header)
    from workbench.planner.kvcache import cache_cells, kv_layer_bytes, recurrent_layer_bytes
    per_layer = ((4 - 1) * 1536 + 16 * 1536) * 4
    assert recurrent_layer_bytes(params, 0) == per_layer
    assert kv_layer_bytes(params, 0, cache_cells(params, 65536), 1, 1, True) == 0


# --- weights: placement, tied embeddings, CUDA padding ------------------------------------------

def test_one_gpu_layer_is_the_output_layer_not_the_last_block(llama8b: GGUFHeader) -> None:
    params = model_params(llama8b)
    placed = {layer.name: layer for layer in place_weights(params, n_gpu_layers=1,
                                                            backend="cuda").layers}
    assert placed["output"].device == "gpu"
    assert placed["blk.31"].device == "cpu"
    assert placed["input"].device == "cpu"
    two = {layer.name: layer for layer in place_weights(params, n_gpu_layers=2,
                                                         backend="cuda").layers}
    assert two["blk.31"].device == "gpu" and two["blk.30"].device == "cpu"


def test_all_layers_still_keep_token_embd_on_the_cpu(llama8b: GGUFHeader) -> None:
    plan = estimate_memory(llama8b, n_ctx=4096, n_gpu_layers=-1, backend="cuda")
    embd = next(t for t in llama8b.tensors if t.name == "token_embd.weight")
    assert plan.gpu_layers == plan.n_layers == 33
    assert plan.weights_cpu_bytes == embd.n_bytes
    assert plan.fit == "full_gpu"
    assert plan.kv_cpu_bytes == 0 and plan.kv_gpu_bytes == GiB // 2


def test_gpu_layers_on_the_cpu_backend_stay_on_the_cpu(llama8b: GGUFHeader) -> None:
    plan = estimate_memory(llama8b, n_ctx=4096, n_gpu_layers=-1, backend="cpu")
    assert plan.gpu_bytes == 0 and plan.gpu_layers == 0 and plan.fit == "cpu_only"


def test_tied_embeddings_copy_token_embd_to_the_gpu() -> None:
    header = preset_header("llama-3.2-1b", quant="Q8_0")  # tied: no output.weight
    params = model_params(header)
    assert params.tied_embeddings
    embd = params.tensor("token_embd.weight")
    norm = params.tensor("output_norm.weight")
    assert embd is not None and norm is not None
    plan = estimate_memory(header, n_ctx=4096, n_gpu_layers=1, backend="cuda")
    assert plan.weights_gpu_bytes == gpu_tensor_bytes(embd, "cuda") + gpu_tensor_bytes(norm,
                                                                                        "cuda")
    cpu_tensors = sum(t.n_bytes for t in header.tensors if t.name != "output_norm.weight")
    assert plan.weights_cpu_bytes == cpu_tensors


def test_cuda_pads_quantized_rows_to_512() -> None:
    q4k = TensorInfo("blk.0.attn_q.weight", (896, 896), 12, "Q4_K", 0, 896 * 896 // 256 * 144,
                     896 * 896)
    # 896 % 512 = 384: one partial row of 128 values more = 128/256 blocks of 144 bytes = 72
    expected = q4k.n_bytes + 72
    assert gpu_tensor_bytes(q4k, "cuda") == -(-expected // 128) * 128
    assert gpu_tensor_bytes(q4k, "rocm") == gpu_tensor_bytes(q4k, "cuda")
    assert gpu_tensor_bytes(q4k, "metal") == -(-q4k.n_bytes // 32) * 32
    aligned = TensorInfo("x", (4096, 4096), 12, "Q4_K", 0, 4096 * 16 * 144, 4096 * 4096)
    assert gpu_tensor_bytes(aligned, "cuda") == aligned.n_bytes
    f16 = TensorInfo("x", (896, 896), 1, "F16", 0, 896 * 896 * 2, 896 * 896)
    assert gpu_tensor_bytes(f16, "cuda") == f16.n_bytes


def test_tensor_layers() -> None:
    assert tensor_layer("token_embd.weight", 32) == -1
    assert tensor_layer("blk.7.ffn_up.weight", 32) == 7
    assert tensor_layer("output.weight", 32) == 32
    assert tensor_layer("output_norm.weight", 32) == 32


def test_experts_of_the_first_layers_stay_on_the_cpu() -> None:
    header = preset_header("qwen1.5-moe-a2.7b", quant="Q8_0", layers=4)
    params = model_params(header)
    full = estimate_memory(header, n_ctx=4096, n_gpu_layers=-1, backend="cuda")
    kept = estimate_memory(header, n_ctx=4096, n_gpu_layers=-1, backend="cuda", n_cpu_moe=2)
    experts = sum(t.n_bytes for t in params.tensors
                  if t.name.startswith(("blk.0.", "blk.1.")) and "_exps" in t.name)
    assert kept.weights_cpu_bytes - full.weights_cpu_bytes == experts
    assert kept.fit == "partial" and full.fit == "full_gpu"


# --- compute and output buffers: llama.cpp 0.3.36's own figures ---------------------------------

# Reported by llama.cpp ("CPU compute buffer size", MiB) when loading synthetic models of these
# shapes on this machine (tests/benchmarks/bench_memory_accuracy.py measures them again).
MEASURED = [
    ("qwen2.5-0.5b", 2, 32768, False, "f16", 969.26),
    ("qwen2.5-0.5b", 2, 4096, True, "q8_0", 302.00),
    ("llama-3.2-1b", 2, 32768, False, "f16", 2134.01),
    ("llama-3.2-1b", 2, 4096, True, "q8_0", 262.50),
    ("phi-3.5-mini", 2, 32768, True, "f16", 98.01),
    ("gemma-3-1b", 6, 32768, True, "q8_0", 518.75),
    ("qwen1.5-moe-a2.7b", 2, 512, True, "q8_0", 329.34),
    ("qwen1.5-moe-a2.7b", 2, 32768, False, "f16", 1128.25),
]


@pytest.mark.parametrize(("preset", "layers", "ctx", "fa", "kv", "mib"), MEASURED)
def test_compute_buffer_matches_llama_cpp(preset: str, layers: int, ctx: int, fa: bool,
                                          kv: str, mib: float) -> None:
    plan = estimate_memory(preset_header(preset, layers=layers), n_ctx=ctx, flash_attn=fa,
                           kv_type=kv)
    assert plan.compute_bytes / MiB == pytest.approx(mib, abs=0.006)
    assert plan.exact_graph


def test_attention_scores_grow_with_context_only_without_flash_attention(
        llama8b: GGUFHeader) -> None:
    on = [estimate_memory(llama8b, n_ctx=c, flash_attn=True).compute_bytes for c in (4096, 32768)]
    off = [estimate_memory(llama8b, n_ctx=c, flash_attn=False).compute_bytes
           for c in (4096, 32768)]
    assert on[1] - on[0] < 64 * MiB
    # kq: 4 bytes x n_kv x n_ubatch x n_head, for the extra 28672 cells
    assert off[1] - off[0] >= 4 * 28672 * 512 * 32


def test_output_buffer_is_one_row_of_logits(llama8b: GGUFHeader) -> None:
    assert estimate_memory(llama8b, n_ctx=4096).output_bytes == 128256 * 4


def test_gpu_overhead_and_split(llama8b: GGUFHeader) -> None:
    plan = estimate_memory(llama8b, n_ctx=4096, n_gpu_layers=-1, backend="cuda")
    assert 300 * MiB <= plan.overhead_bytes <= 500 * MiB
    assert plan.gpu_bytes == (plan.weights_gpu_bytes + plan.kv_gpu_bytes +
                              plan.compute_gpu_bytes + plan.overhead_bytes)
    assert plan.total_bytes == plan.gpu_bytes + plan.cpu_bytes
    d = plan.to_dict()
    for key in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "output_bytes",
                "overhead_bytes", "total_bytes", "gpu_bytes", "cpu_bytes", "gpu_layers",
                "n_layers", "ctx", "fit", "layers"):
        assert key in d
    assert len(d["layers"]) == 34  # input, 32 blocks, output


def test_repacked_weights_come_on_top_of_the_map() -> None:
    header = preset_header("llama-3.2-1b", quant="Q4_0", layers=2)
    plain = estimate_memory(header, n_ctx=512)
    packed = estimate_memory(header, n_ctx=512, repack=True)
    assert packed.repack_bytes > 0
    assert packed.weights_cpu_bytes == plain.weights_cpu_bytes + packed.repack_bytes


def test_unknown_layouts_still_get_a_plan() -> None:
    # an architecture without a graph rule and without the usual tensor names
    header = _header("mamba", {
        "block_count": 2, "embedding_length": 768, "ssm.conv_kernel": 4,
        "ssm.inner_size": 1536, "ssm.state_size": 16, "vocab_size": 1000,
        "context_length": 4096,
    }, [_f32("token_embd.weight", 768, 1000), _f32("blk.0.ssm_in.weight", 768, 3072)])
    plan = estimate_memory(header, n_ctx=4096)
    assert not plan.exact_graph
    assert plan.compute_bytes >= 4 * 1000 * 512  # at least the logits
    assert plan.kv_cache_bytes == 2 * ((4 - 1) * 1536 + 16 * 1536) * 4
    assert any("approximated" in note for note in plan.notes)
