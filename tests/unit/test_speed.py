"""Speed preview without running a model: profiles, the fit, the cache, stored-run override."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from workbench.engine import bench_runs
from workbench.engine.bench import BenchResult
from workbench.errors import BadInput, RuntimeFailure
from workbench.gguf import read_header
from workbench.hardware.model import GpuInfo
from workbench.planner import calibration as cal
from workbench.planner import speed
from workbench.planner.catalog import load_catalog, synthetic_header
from workbench.planner.synthetic import preset_header
from workbench.store import db

pytestmark = pytest.mark.usefixtures("home")  # a fresh WORKBENCH_HOME (tests/conftest.py)


def profile_of(entry_id: str, quant: str) -> speed.WeightProfile:
    entry = load_catalog().get(entry_id)
    f = entry.file(quant)
    assert f is not None
    return speed.weight_profile(synthetic_header(entry, f))


def a_calibration(profile: speed.WeightProfile, *, overhead: float = 0.004,
                  spb: float = 5e-11) -> cal.Calibration:
    """A calibration of ``profile``'s widths with known lines (as if measured): the fixed cost
    is an overhead plus reading the output matrix."""
    out = profile.output_bytes
    fixed = overhead + spb * out
    points = tuple(cal.CalibrationPoint(layers=n, layer_bytes=n * 10**7, layer_params=n * 10**7,
                                        output_bytes=out, tg_s=fixed + spb * n * 10**7,
                                        pp_s=1e-4 + 1e-11 * n * 10**7) for n in (2, 8))
    widths = cal.widths_of(profile)
    return cal.Calibration(
        key=cal.calibration_key(profile.arch, profile.quant, widths),
        machine=cal.machine_identity(),
        llama_version=cal.llama_version(), arch=profile.arch, quant=profile.quant,
        preset="test", widths=widths, points=points, tg_fixed_s=fixed, tg_s_per_byte=spb,
        pp_fixed_s=1e-4, pp_s_per_param=1e-11, created_at=time.time())


def test_profile_reads_layers_output_and_scales_experts() -> None:
    dense = profile_of("llama-3.1-8b-instruct", "Q4_K_M")
    assert (dense.arch, dense.quant, dense.n_layer, dense.n_vocab) == ("llama", "Q4_K_M", 32,
                                                                       128256)
    assert dense.output_bytes == 4096 * 128256 // 256 * 210  # Q6_K: 210 bytes a 256-block
    assert dense.bytes_per_token == sum(dense.layer_bytes) + dense.output_bytes
    assert dense.bytes_per_token < dense.weights_bytes  # the embedding table is not read whole
    moe = profile_of("qwen3-30b-a3b", "Q8_0")
    experts = 48 * 3 * 2048 * 768 * 128 * 34 // 32  # Q8_0 expert bytes of the whole model
    assert sum(moe.layer_bytes) < moe.weights_bytes - experts * 0.9  # only 8 of 128 are read
    assert moe.n_expert_used == 8


def test_profile_of_a_real_header(tmp_path: Path) -> None:
    from workbench.synth import synthesize

    path = synthesize(tmp_path / "m.gguf", "qwen2", quant="F16").path
    p = speed.weight_profile(read_header(path))
    assert p.n_layer == 2 and p.quant == "F16" and p.n_vocab == 1024
    assert p.output_bytes == 256 * 1024 * 2  # tied embeddings: token_embd is the output


def test_fit_recovers_the_lines_and_refuses_noise() -> None:
    points = [cal.CalibrationPoint(n, n * 1000, n * 500, 10, 0.002 + 3e-6 * n * 1000,
                                   1e-4 + 2e-8 * n * 500) for n in (2, 4, 8)]
    tg_a, tg_b, pp_a, pp_b = cal.fit(points)
    assert tg_a == pytest.approx(0.002) and tg_b == pytest.approx(3e-6)
    assert pp_a == pytest.approx(1e-4) and pp_b == pytest.approx(2e-8)
    noisy = [dataclasses.replace(points[0], tg_s=0.01), dataclasses.replace(points[2], tg_s=0.005)]
    with pytest.raises(RuntimeFailure, match="too noisy"):
        cal.fit(noisy)
    with pytest.raises(BadInput):
        cal.fit_line([1.0, 1.0], [2.0, 3.0])


def test_calibrated_prediction_follows_the_line_and_the_bandwidth_bound() -> None:
    prof = profile_of("qwen2.5-0.5b-instruct", "Q4_K_M")
    c = a_calibration(prof)
    cal.store(c)
    fast_memory = speed.Predictor(bandwidth_gbps=1000.0, use_stored_runs=False)
    p = fast_memory.predict(prof)
    expected = c.tg_fixed_s + c.tg_s_per_byte * sum(prof.layer_bytes)
    assert p.method == "calibrated" and p.bound == "compute" and p.device == "cpu"
    assert p.tg_tokens_per_s == pytest.approx(1 / expected)
    assert p.pp_tokens_per_s == pytest.approx(1 / (1e-4 + 1e-11 * sum(prof.layer_params)))
    slow_memory = speed.Predictor(bandwidth_gbps=1.0, use_stored_runs=False).predict(prof)
    assert slow_memory.bound == "bandwidth"  # never faster than reading at copy bandwidth
    assert slow_memory.tg_tokens_per_s == pytest.approx(1e9 / prof.bytes_per_token)
    uncalibrated = profile_of("qwen2.5-0.5b-instruct", "Q8_0")
    guess = speed.Predictor(bandwidth_gbps=1.0, use_stored_runs=False).predict(uncalibrated)
    assert guess.method == "bandwidth" and guess.tg_tokens_per_s == pytest.approx(
        1e9 * speed.CPU_BANDWIDTH_EFFICIENCY / uncalibrated.bytes_per_token)


def test_a_negative_fixed_cost_counts_as_none_and_the_output_matrix_is_still_read() -> None:
    """Noise can fit a line with a negative fixed cost: the prediction takes none, and reads
    the output matrix at the line's seconds per byte at least."""
    prof = profile_of("qwen2.5-0.5b-instruct", "Q4_K_M")
    c = dataclasses.replace(a_calibration(prof), tg_fixed_s=-0.001, pp_fixed_s=-1e-4)
    cal.store(c)
    p = speed.Predictor(bandwidth_gbps=1000.0, use_stored_runs=False).predict(prof)
    assert p.method == "calibrated" and p.bound == "compute"
    assert p.tg_tokens_per_s == pytest.approx(
        1 / (c.tg_s_per_byte * (sum(prof.layer_bytes) + prof.output_bytes)))
    assert p.pp_tokens_per_s == pytest.approx(1 / (c.pp_s_per_param * sum(prof.layer_params)))


def test_other_widths_are_scaled_from_a_cached_calibration() -> None:
    small = profile_of("qwen2.5-0.5b-instruct", "Q4_K_M")
    big = profile_of("qwen2.5-7b-instruct", "Q4_K_M")
    c = a_calibration(small)
    cal.store(c)
    p = speed.Predictor(bandwidth_gbps=1000.0, use_stored_runs=False).predict(big)
    assert p.method == "scaled" and "scaled" in p.basis
    t = c.tg_overhead_s + c.tg_s_per_byte * big.bytes_per_token
    assert p.tg_tokens_per_s == pytest.approx(1 / t)
    other_quant = profile_of("qwen2.5-7b-instruct", "Q8_0")
    q8 = speed.Predictor(bandwidth_gbps=20.0, use_stored_runs=False).predict(other_quant)
    assert q8.method == "bandwidth" and q8.calibration_key is None


def test_calibrations_of_another_machine_are_not_used() -> None:
    prof = profile_of("qwen2.5-0.5b-instruct", "Q4_K_M")
    c = a_calibration(prof)
    cal.store(dataclasses.replace(c, machine={**c.machine, "cpu": "another CPU"}))
    p = speed.Predictor(bandwidth_gbps=20.0, use_stored_runs=False).predict(prof)
    assert p.method == "bandwidth"


def test_calibrate_reuses_the_cache_without_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored calibration under the plan's key comes back as is (no build, no worker)."""
    prof = profile_of("qwen2.5-0.5b-instruct", "Q4_K_M")
    plan = cal.plan_for(prof)
    assert plan.exact and plan.preset == "qwen2.5-0.5b" and plan.vocab_size == 151936
    widths = cal.widths_of(speed.weight_profile(preset_header(
        plan.preset, layers=1, quant="Q8_0", vocab_size=plan.vocab_size)))
    stored = dataclasses.replace(a_calibration(prof), key=cal.calibration_key(
        plan.arch, plan.quant, widths), created_at=123.0)
    cal.store(stored)
    measuring: list[str] = []
    monkeypatch.setattr(cal, "calibrate_plan", lambda *a, **k: measuring.append("plan"))
    monkeypatch.setattr(cal, "build_models", lambda *a, **k: measuring.append("build"))
    monkeypatch.setattr(cal, "measure", lambda *a, **k: measuring.append("measure"))
    again = cal.calibrate(plan)
    assert again == stored and measuring == []
    assert not (cal.paths.cache_dir() / "calibration").exists()  # nothing was built
    on_disk = json.loads(cal.cache_path().read_text())
    assert list(on_disk["calibrations"]) == [stored.key]


def test_plans_pick_exact_widths_or_an_affordable_relative() -> None:
    exact = cal.plan_for(profile_of("llama-3.2-1b-instruct", "Q4_K_M"))
    assert exact.exact and exact.preset == "llama-3.2-1b" and exact.layers[-1] == 2
    assert max(exact.layers) > 2
    big = cal.plan_for(profile_of("qwen2.5-72b-instruct", "Q4_K_M"))
    assert not big.exact and big.arch == "qwen2"
    moe = cal.plan_for(profile_of("qwen3-30b-a3b", "Q4_K_M"))
    assert not moe.exact and moe.arch in ("qwen2", "llama")
    for plan in (exact, big, moe):
        assert cal._model_params(plan.preset, plan.built_layers, plan.vocab_size) <= \
            cal.BUDGET_PARAMS


def test_gpu_prediction_is_bandwidth_bound_and_labelled() -> None:
    prof = profile_of("llama-3.1-8b-instruct", "Q4_K_M")
    gpu = GpuInfo(vendor="nvidia", name="RTX 4090", index=0, source="nvml",
                  memory_bandwidth_gbps=1008.0)
    pred = speed.Predictor(bandwidth_gbps=20.0, use_stored_runs=False)
    full = pred.predict(prof, gpu=gpu, n_gpu_layers=-1)
    assert full.device == "gpu" and full.method == "bandwidth" and "GPU bandwidth" in full.basis
    assert full.tg_tokens_per_s == pytest.approx(
        1008e9 * speed.GPU_BANDWIDTH_EFFICIENCY / prof.bytes_per_token)
    assert full.pp_tokens_per_s is None
    half = pred.predict(prof, gpu=gpu, n_gpu_layers=17)
    assert half.device == "partial" and half.details["cpu_layers"] == 16
    assert full.tg_tokens_per_s > half.tg_tokens_per_s > pred.predict(prof).tg_tokens_per_s
    unknown = pred.predict(prof, gpu=dataclasses.replace(gpu, memory_bandwidth_gbps=None),
                           n_gpu_layers=-1)
    assert unknown.tg_tokens_per_s is None and "unknown" in unknown.basis


def _save_run(conn, prof: speed.WeightProfile, tg: float, *, cpu: str | None = None,
              gpu_layers: int = 0, path: str = "/models/x.gguf") -> int:
    machine = cal.machine_identity()
    result = BenchResult(
        model_path=path, pp_tokens=512, tg_tokens=128, repetitions=5,
        pp_tokens_per_s=100.0, pp_sd=1.0, tg_tokens_per_s=tg, tg_sd=0.1,
        settings={"gpu_layers": gpu_layers},
        model={"name": prof.name, "architecture": prof.arch, "quant": prof.quant,
               "n_params": prof.n_params, "model_size_bytes": prof.weights_bytes})
    return bench_runs.save(conn, result, {"cpu": cpu or machine["cpu"],
                                          "logical_cores": machine["logical_cores"]})


def test_stored_bench_runs_override_the_prediction(tmp_path: Path) -> None:
    prof = profile_of("llama-3.2-1b-instruct", "Q4_K_M")
    conn = db.connect(tmp_path / "runs.sqlite3")
    _save_run(conn, prof, 999.0, cpu="some other CPU")  # another machine: ignored
    _save_run(conn, prof, 888.0, gpu_layers=17)  # other settings: ignored
    run_id = _save_run(conn, prof, 12.5)
    p = speed.Predictor(bandwidth_gbps=20.0, connection=conn).predict(prof)
    assert p.method == "measured" and p.measured_run_id == run_id
    assert p.tg_tokens_per_s == 12.5 and p.pp_tokens_per_s == 100.0
    other = profile_of("llama-3.2-1b-instruct", "Q8_0")
    assert speed.Predictor(bandwidth_gbps=20.0, connection=conn).predict(other).method \
        == "bandwidth"
    by_path = speed.Predictor(bandwidth_gbps=20.0, connection=conn).predict(
        other, model_path="/models/x.gguf")
    assert by_path.method == "measured"  # the same file, whatever its numbers say


def test_truncate_layers_keeps_the_first_blocks(tmp_path: Path) -> None:
    from workbench.synth import synthesize

    src = synthesize(tmp_path / "src.gguf", "llama", quant="F16", layers=3).path
    dst = cal.truncate_layers(src, tmp_path / "dst.gguf", 1)
    h = read_header(dst)
    assert h.get("{arch}.block_count") == 1
    names = {t.name for t in h.tensors}
    assert "blk.0.attn_q.weight" in names and not any(n.startswith("blk.1.") for n in names)
    assert "output.weight" in names and h.get("tokenizer.ggml.tokens") is not None
    with pytest.raises(BadInput):
        cal.truncate_layers(src, tmp_path / "bad.gguf", 4)


def test_bandwidth_is_measured_once_per_machine() -> None:
    first = cal.machine_bandwidth()
    assert first > 0.1
    path = cal.paths.data_dir() / "memory-bandwidth.json"
    raw = json.loads(path.read_text())
    raw["gbps"] = 42.0
    path.write_text(json.dumps(raw))
    assert cal.machine_bandwidth() == 42.0


def test_speed_preview_of_a_file_and_a_catalog_entry(tmp_path: Path) -> None:
    from workbench.synth import synthesize

    path = synthesize(tmp_path / "m.gguf", "llama", quant="F16").path
    profile, prediction = speed.speed_preview(str(path))
    assert profile.arch == "llama" and prediction.tg_tokens_per_s
    assert prediction.method == "bandwidth"  # nothing calibrated in this home
    profile, prediction = speed.speed_preview("qwen2.5-7b-instruct", quant="Q8_0")
    assert profile.quant == "Q8_0" and profile.n_layer == 28
    with pytest.raises(BadInput, match="has no IQ4_XS file"):
        speed.speed_preview("qwen2.5-7b-instruct", quant="IQ4_XS")


def test_reference_plan_is_one_affordable_model_per_quant() -> None:
    plans = {q: cal.reference_plan(q) for q in ("Q4_K_M", "Q8_0", "IQ4_XS")}
    assert {p.preset for p in plans.values()} == {cal.REFERENCE_PRESET}
    assert all(not p.exact and p.layers[-1] == cal.LOW_LAYERS for p in plans.values())
    assert plans["Q8_0"].quant == "Q8_0"


def test_disturbed_measurements_are_recognised_and_merged() -> None:
    clean = [cal.CalibrationPoint(2, 10, 10, 5, 0.010, 0.001, (0.010, 0.0102), (0.001, 0.00101)),
             cal.CalibrationPoint(8, 40, 40, 5, 0.020, 0.004, (0.020, 0.0201), (0.004, 0.00402))]
    assert cal.settled(clean)
    spoilt = [clean[0], dataclasses.replace(clean[1], tg_s=0.02, tg_samples=(0.02, 0.09))]
    assert not cal.settled(spoilt)
    inverted = [clean[0], dataclasses.replace(clean[1], tg_s=0.009, tg_samples=(0.009, 0.0091))]
    assert not cal.settled(inverted)
    merged = cal.merge_points(spoilt, [dataclasses.replace(clean[1], tg_s=0.019,
                                                     tg_samples=(0.019, 0.0195))])
    assert merged[0].tg_s == 0.019 and len(merged[0].tg_samples) == 4
