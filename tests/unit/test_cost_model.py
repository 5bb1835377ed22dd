"""The per-token cost model: a model's own llama.cpp graph priced by a kernel profile.

Rates here are made up (round numbers), so every part of a token's cost can be worked out by
hand from the model's tensor list; what real kernels cost on this CPU is
tests/integration/test_machine_profile.py's, and how close the sum comes to a real bench is
tests/benchmarks/bench_profile_accuracy.py's (docs/speed-accuracy.md).
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from workbench.planner import calibration as cal
from workbench.planner import cost_model, machine_profile, speed
from workbench.planner.hparams import model_params
from workbench.planner.synthetic import preset_header

pytestmark = pytest.mark.usefixtures("home")  # a fresh WORKBENCH_HOME (tests/conftest.py)

SPB = 1e-10  # seconds per weight byte in a matrix-vector product
SPW = 2e-11  # seconds per weight and token in a matrix-matrix product


def rates(spb: float = SPB, per_row: float = 0.0, spw: float = SPW) -> cost_model.KernelRates:
    return cost_model.KernelRates(gemv_s_per_byte=spb, gemv_s_per_row=per_row,
                                  gemm_s_per_weight=spw, gemm_s_per_input=0.0)


def a_profile(**kernels: cost_model.KernelRates) -> cost_model.KernelProfile:
    return cost_model.KernelProfile(threads=2, kernels=kernels or {"F16": rates(),
                                                                    "Q8_0": rates()},
                                    node_s=1e-6, elementwise_s_per_byte=1e-11,
                                    attention_s_per_mac=1e-11)


def params(preset: str = "qwen2.5-0.5b", quant: str = "Q8_0", layers: int = 2):
    return model_params(preset_header(preset, layers=layers, quant=quant, vocab_size=4096))


def layer_matrices(p) -> list:
    """The weights the layers multiply by (a MoE's shared-expert gate is a vector)."""
    return [t for t in p.tensors if t.name.startswith("blk.") and "norm" not in t.name
            and not t.name.endswith(".bias")]


def test_generation_reads_every_layer_matrix_once_and_the_output_apart() -> None:
    p = params()
    cost = cost_model.generation_cost(p, a_profile())
    assert p.tied_embeddings  # Qwen2.5-0.5B: the output layer is the embedding table
    embd = next(t for t in p.tensors if t.name == "token_embd.weight")
    assert cost.parts["weights"] == pytest.approx(sum(t.n_bytes for t in layer_matrices(p)) * SPB)
    assert cost.parts["output"] == pytest.approx(embd.n_bytes * SPB)
    assert cost.parts["attention"] > 0 and cost.parts["nodes"] > 0 and cost.parts["other"] > 0
    assert cost.seconds == pytest.approx(sum(cost.parts.values()))
    assert cost.n_tokens == 1 and cost.tokens_per_s == pytest.approx(1 / cost.seconds)
    assert cost.missing == ()


def test_doubling_a_rate_doubles_only_its_part() -> None:
    p = params()
    base = cost_model.generation_cost(p, a_profile())
    slower = cost_model.generation_cost(p, a_profile(F16=rates(), Q8_0=rates(spb=2 * SPB)))
    assert slower.parts["weights"] == pytest.approx(2 * base.parts["weights"])
    assert slower.parts["output"] == pytest.approx(2 * base.parts["output"])
    assert slower.parts["attention"] == pytest.approx(base.parts["attention"])  # F16 rates
    per_row = cost_model.generation_cost(p, a_profile(F16=rates(), Q8_0=rates(per_row=1e-8)))
    rows = sum(t.shape[1] if len(t.shape) > 1 else 1 for t in layer_matrices(p))
    assert per_row.parts["weights"] - base.parts["weights"] == pytest.approx(rows * 1e-8)


def test_a_prompt_batch_multiplies_every_weight_by_every_token() -> None:
    p = params()
    cost = cost_model.prompt_cost(p, a_profile())
    last = f"blk.{p.n_layer - 1}."
    # llama.cpp keeps only the tokens whose logits are wanted (the last) after the last
    # layer's attention: its FFN runs on one token
    batched = [t for t in layer_matrices(p) if not t.name.startswith(last)
               or t.name.split(".")[2].startswith("attn_")]
    one_token = [t for t in layer_matrices(p) if t not in batched]
    assert one_token
    expected = (sum(t.n_elements for t in batched) * cost_model.PP_TOKENS * SPW
                + sum(t.n_bytes for t in one_token) * SPB)
    assert cost.n_tokens == cost_model.PP_TOKENS
    assert cost.parts["weights"] == pytest.approx(expected)
    # only the last token's logits are computed in a prompt batch: one row of the output
    embd = next(t for t in p.tensors if t.name == "token_embd.weight")
    assert cost.parts["output"] == pytest.approx(embd.n_bytes * SPB)
    assert cost.parts["attention"] > 0


def test_a_kernel_the_profile_lacks_is_priced_as_f16_and_named() -> None:
    p = params(quant="Q4_0")
    assert cost_model.needed_kernels(p) == {"F16", "Q4_0"}
    cost = cost_model.generation_cost(p, a_profile(F16=rates(spb=3 * SPB)))
    assert cost.missing == ("Q4_0",)
    assert cost.parts["weights"] == pytest.approx(
        sum(t.n_bytes for t in layer_matrices(p)) * 3 * SPB)


def test_repacked_matrices_use_the_repacked_kernels() -> None:
    p = params(quant="Q4_0")
    repack = frozenset({"Q4_0"})
    assert cost_model.needed_kernels(p, repack, "x86") == {"F16", "Q4_0", "Q4_0+repack"}
    profile = a_profile(**{"F16": rates(), "Q4_0": rates(), "Q4_0+repack": rates(spb=SPB / 2)})
    plain = cost_model.generation_cost(p, profile)
    packed = cost_model.generation_cost(p, profile, repack_types=repack, repack_arch="x86")
    assert packed.parts["weights"] == pytest.approx(plain.parts["weights"] / 2)
    assert packed.parts["output"] == pytest.approx(plain.parts["output"])  # tied: never repacked


def test_experts_are_read_in_the_share_the_router_picks() -> None:
    p = params("qwen1.5-moe-a2.7b", "Q8_0", layers=1)
    cost = cost_model.generation_cost(p, a_profile())
    experts = [t for t in layer_matrices(p) if "_exps." in t.name]
    dense = [t for t in layer_matrices(p) if "_exps." not in t.name]
    assert experts and p.n_expert > p.n_expert_used
    share = p.n_expert_used / p.n_expert
    expected = (sum(t.n_bytes for t in dense) + share * sum(t.n_bytes for t in experts)) * SPB
    assert cost.parts["weights"] == pytest.approx(expected)


def stored_profile(threads: int, kernels: dict[str, cost_model.KernelRates]) -> None:
    """A machine profile as ``machine_profile`` keeps it (as if measured here)."""
    entry = {"identity": machine_profile.identity(threads),
             "kernels": {k: dataclasses.asdict(v) for k, v in kernels.items()}, "skipped": {},
             "node_s": 1e-6, "elementwise_s_per_byte": 1e-11, "attention_s_per_mac": 1e-11,
             "measured_at": time.time()}
    path = machine_profile.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"profiles": [entry]}), encoding="utf-8")


def test_the_preview_is_a_prediction_once_a_profile_covers_the_model() -> None:
    header = preset_header("qwen2.5-0.5b", layers=2, quant="Q8_0", vocab_size=4096)
    profile = speed.weight_profile(header)
    predictor = speed.Predictor(bandwidth_gbps=10.0, use_stored_runs=False, threads=2)
    bound = predictor.predict(profile, headers=header)
    assert (bound.method, bound.kind) == ("bandwidth", "upper bound")
    stored_profile(2, {"F16": rates(), "Q8_0": rates()})
    found = predictor.predict(profile, headers=header)
    assert (found.method, found.kind) == ("profiled", "predicted")
    expected = cost_model.generation_cost(model_params(header),
                                          machine_profile.cached_profile(2, {"Q8_0"}))
    assert found.tg_tokens_per_s == pytest.approx(1 / expected.seconds)
    assert "kernel profile (2 threads" in found.basis
    assert found.details["profile"]["tg_ms"]["weights"] > 0
    # a profile for other threads, or without the model's weight type, is not used
    assert speed.Predictor(bandwidth_gbps=10.0, use_stored_runs=False, threads=1).predict(
        profile, headers=header).method == "bandwidth"
    stored_profile(2, {"F16": rates()})
    assert predictor.predict(profile, headers=header).method == "bandwidth"


def test_an_exact_calibration_still_wins_over_the_profile() -> None:
    header = preset_header("qwen2.5-0.5b", layers=2, quant="Q8_0", vocab_size=4096)
    profile = speed.weight_profile(header)
    stored_profile(2, {"F16": rates(), "Q8_0": rates()})
    widths = cal.widths_of(profile)
    points = tuple(cal.CalibrationPoint(layers=n, layer_bytes=n * 10**7, layer_params=n * 10**7,
                                        output_bytes=profile.output_bytes, tg_s=0.01 * n,
                                        pp_s=0.1 * n) for n in (2, 8))
    cal.store(cal.Calibration(
        key=cal.calibration_key(profile.arch, profile.quant, widths),
        machine=cal.machine_identity(), llama_version=cal.llama_version(), arch=profile.arch,
        quant=profile.quant, preset="test", widths=widths, points=points, tg_fixed_s=0.001,
        tg_s_per_byte=1e-10, pp_fixed_s=1e-4, pp_s_per_param=1e-11, created_at=time.time()))
    found = speed.Predictor(bandwidth_gbps=10.0, use_stored_runs=False, threads=2).predict(
        profile, headers=header)
    assert found.method == "calibrated"


def test_a_broken_profile_file_is_no_profile() -> None:
    path = machine_profile.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    for text in ("{not json", json.dumps({"profiles": [{"identity": "x"}]}),
                 json.dumps({"profiles": [{"identity": machine_profile.identity(2),
                                           "kernels": {"F16": {"gemv_s_per_byte": "fast"}}}]})):
        path.write_text(text, encoding="utf-8")
        assert machine_profile.cached_profile(2, {"F16"}) is None
