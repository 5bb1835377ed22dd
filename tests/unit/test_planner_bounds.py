"""The planner refuses what llama.cpp refuses before it expands anything: a 200-byte header that
claims 1e8 layers (or 1e6 experts, a negative head count, a context beyond uint32) is one clear
BadInput after a few dozen function calls and no big allocation, in every place that plans a
header (estimate, plan_offload, the CLI). Work is counted in calls, not seconds: the same on a
loaded machine as on a fast one."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from tests.helpers.gguf_bytes import ARR, I32, STR, U32, U64, build, kv, tensor
from tests.helpers.work import counted_calls
from workbench import cli
from workbench.errors import BadInput
from workbench.gguf import read_header
from workbench.planner import estimate_memory, model_params, plan_offload
from workbench.planner.limits import LLAMA_MAX_EXPERTS, LLAMA_MAX_LAYERS

# A refusal takes 30-170 calls; fewer than 513 means no loop over even the smallest claim
# refused (513 layers), and planning 512 real layers takes millions.
FEW_CALLS = 400
SMALL_BYTES = 4 << 20


def header_bytes(*extra: bytes, block_count: int = 2, count_type: int = U32) -> bytes:
    return build([kv("general.architecture", STR, "llama"),
                  kv("llama.block_count", count_type, block_count),
                  kv("llama.embedding_length", U32, 64),
                  kv("llama.attention.head_count", U32, 4), *extra],
                 [tensor("token_embd.weight", (64, 16))])  # 4096 bytes


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "claims.gguf"
    path.write_bytes(data)
    return path


def refused_quickly(call, match: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(BadInput, match=match), counted_calls() as work:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert work.calls < FEW_CALLS, f"took {work.calls} function calls"
    assert peak < SMALL_BYTES, f"allocated {peak >> 20} MiB"


@pytest.mark.parametrize("layers", [LLAMA_MAX_LAYERS + 1, 10**6, 10**8, 2**32 - 1])
def test_too_many_layers_is_refused_at_once(tmp_path: Path, layers: int) -> None:
    header = read_header(write(tmp_path, header_bytes(block_count=layers)))
    assert header.header_size < 300  # a few hundred bytes claim it
    for call in (lambda: model_params(header),
                 lambda: estimate_memory(header, n_ctx=4096),
                 lambda: plan_offload(header, free_vram_bytes=[8 << 30], free_ram_bytes=16 << 30,
                                      n_ctx=4096)):
        refused_quickly(call, r"block_count = [\d,]+, but llama.cpp loads only 1 to 512")


def test_512_layers_still_plan(tmp_path: Path) -> None:
    header = read_header(write(tmp_path, header_bytes(block_count=LLAMA_MAX_LAYERS)))
    assert model_params(header).n_layer == LLAMA_MAX_LAYERS


COUNTS = [
    (kv("llama.expert_count", U32, LLAMA_MAX_EXPERTS + 1), "expert_count"),
    (kv("llama.expert_count", U32, 10**6), "expert_count"),
    (kv("llama.expert_used_count", U32, 9), "expert_used_count"),  # more than expert_count (0)
    (kv("llama.context_length", U64, 2**40), "context_length"),
    (kv("llama.attention.key_length", I32, -1), "key_length"),
    (kv("llama.feed_forward_length", U64, 2**33), "feed_forward_length"),
    (kv("llama.attention.head_count_kv", ARR, (I32, [-4, 4])), "head_count_kv"),
    (kv("llama.nextn_predict_layers", U32, 3), "nextn_predict_layers"),
    (kv("llama.vocab_size", I32, -5), "vocabulary"),
]


@pytest.mark.parametrize("extra, match", COUNTS, ids=[f"{m}-{i}" for i, (_, m) in
                                                          enumerate(COUNTS)])
def test_other_counts_are_bounded_by_what_llama_cpp_accepts(tmp_path: Path, extra: bytes,
                                                            match: str) -> None:
    data = header_bytes(extra)
    if b"vocab_size" in extra:  # only the declared size: no tokens array, no embedding tensor
        data = build([kv("general.architecture", STR, "llama"),
                      kv("llama.block_count", U32, 2), kv("llama.embedding_length", U32, 64),
                      extra])
    header = read_header(write(tmp_path, data))
    refused_quickly(lambda: model_params(header), match)


def test_negative_block_count_is_refused(tmp_path: Path) -> None:
    header = read_header(write(tmp_path, header_bytes(block_count=-3, count_type=I32)))
    refused_quickly(lambda: model_params(header), "block_count")


def test_estimate_command_says_so_in_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    just_over = tmp_path / "just-over" / "claims.gguf"
    just_over.parent.mkdir()
    just_over.write_bytes(header_bytes(block_count=LLAMA_MAX_LAYERS + 1))
    assert cli.main(["estimate", str(just_over)]) == 2  # imports and first-use costs: paid here
    capsys.readouterr()
    with counted_calls() as just_over_work:
        assert cli.main(["estimate", str(just_over)]) == 2
    capsys.readouterr()
    path = write(tmp_path, header_bytes(block_count=10**8))
    with counted_calls() as work:
        assert cli.main(["estimate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "block_count = 100,000,000" in err
    assert "Traceback" not in err
    # the CLI's work does not grow with the claim: 10^8 layers cost what 513 do
    assert work.calls <= just_over_work.calls * 1.1 + 100, (work.calls, just_over_work.calls)
