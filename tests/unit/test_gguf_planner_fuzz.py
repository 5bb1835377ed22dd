"""Random GGUF headers through the reader and the planner together (hypothesis, bounded): never a
crash, a hang or a big allocation; every rejection is one clear line (a BadInput).

No clock: a hang is the suite's per-test timeout (pyproject.toml), and what the planner may do
with a hostile claim is bounded in calls and bytes by tests/unit/test_planner_bounds.py."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.gguf_bytes import (
    ARR,
    F32,
    I32,
    I64,
    STR,
    U32,
    U64,
    build,
    kv,
    tensor,
)
from workbench.errors import BadInput
from workbench.gguf import read_header
from workbench.planner import estimate_memory, model_params, plan_offload

ARCHS = ["llama", "qwen2", "gemma3", "gemma2", "mamba", "rwkv6", "jamba", "qwen3moe", "gpt-oss",
         "deepseek2", "phi3", "nonsense"]
KEYS = ["block_count", "embedding_length", "context_length", "feed_forward_length",
        "attention.head_count", "attention.head_count_kv", "attention.key_length",
        "attention.value_length", "attention.sliding_window", "expert_count",
        "expert_used_count", "expert_feed_forward_length", "nextn_predict_layers",
        "ssm.conv_kernel", "ssm.inner_size", "ssm.state_size", "wkv.head_size",
        "full_attention_interval", "attention.sliding_window_pattern", "vocab_size"]
TENSORS = ["token_embd.weight", "output.weight", "output_norm.weight", "blk.0.attn_q.weight",
           "blk.0.attn_k.weight", "blk.0.ffn_up_exps.weight", "blk.1.ffn_gate_inp.weight",
           "blk.99999.attn_v.weight"]
PEAK_BYTES = 64 << 20

counts = st.one_of(st.integers(0, 8), st.integers(-2**31, 2**31 - 1),
                   st.sampled_from([0, 1, 512, 513, 1024, 1025, 2**32 - 1, 10**8]))
scalar = st.one_of(
    st.tuples(st.just(U32), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(I32), st.integers(-2**31, 2**31 - 1)),
    st.tuples(st.just(U64), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(I64), st.integers(-2**63, 2**63 - 1)),
    st.tuples(st.just(F32), st.floats(width=32, allow_nan=True)),
    st.tuples(st.just(STR), st.text(max_size=8)),
    st.tuples(st.just(ARR), st.tuples(st.just(I32), st.lists(st.integers(-5, 2**20),
                                                             max_size=12))),
)


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    arch = draw(st.sampled_from(ARCHS))
    kvs = [kv("general.architecture", STR, arch),
           kv(f"{arch}.block_count", U32, draw(st.integers(0, 2**32 - 1) | st.integers(0, 6))),
           kv(f"{arch}.embedding_length", U32, draw(st.integers(0, 4096)))]
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=8, unique=True)):
        value_type, value = draw(scalar)
        kvs.append(kv(f"{arch}.{key}", value_type, value))
    if draw(st.booleans()):
        kvs.append(kv("tokenizer.ggml.tokens", ARR, (STR, ["a"] * draw(st.integers(0, 40)))))
    tensors = []
    offset = 0
    for name in draw(st.lists(st.sampled_from(TENSORS), max_size=5, unique=True)):
        shape = tuple(draw(st.lists(st.integers(1, 64), min_size=1, max_size=3)))
        tensors.append(tensor(name, shape, offset=offset))
        size = 4
        for dim in shape:
            size *= dim
        offset += -(-size // 32) * 32
    data = build(kvs, tensors, data_size=offset + 64)
    for position, byte in draw(st.lists(st.tuples(st.integers(0, len(data) - 1),
                                                  st.integers(0, 255)), max_size=3)):
        data = data[:position] + bytes([byte]) + data[position + 1:]
    return data


def _one_clear_line(err: BaseException) -> None:
    text = str(err)
    assert text and "\n" not in text and len(text) < 600, text


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=headers(), ctx=st.sampled_from([0, 512, 4096, 2**20]))
def test_random_headers_never_crash_hang_or_hog(tmp_path: Path, data: bytes, ctx: int) -> None:
    path = tmp_path / "fuzz.gguf"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        header = read_header(path)
        params = model_params(header)
        estimate_memory(params, n_ctx=ctx)
        plan_offload(params, free_vram_bytes=[8 << 30], free_ram_bytes=16 << 30, n_ctx=ctx)
    except BadInput as err:  # GGUFError is one too
        _one_clear_line(err)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{peak >> 20} MiB"


def test_the_strategy_reaches_the_planner(tmp_path: Path) -> None:
    """Some generated headers are good enough to be planned (the test is not only rejections)."""
    planned = []

    @settings(max_examples=60, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(data=headers())
    def attempt(data: bytes) -> None:
        path = tmp_path / "reach.gguf"
        path.write_bytes(data)
        try:
            estimate_memory(read_header(path), n_ctx=512)
            planned.append(True)
        except BadInput:
            pass

    attempt()
    assert planned
