"""LoRA adapters in targets (``local:M.gguf+lora:A.gguf@0.8``): parsing, the text round trip, the
checks before anything loads, suite providers, short names; the paired adapter sentence of an
eval report (from hand-built results) in every report format; ``serve --model M+lora:A``'s
catalog and memory plan; ``estimate --lora`` and the speed preview's adapter bytes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.helpers.lora import adapter_for, mismatched
from tests.unit.test_eval_summary import local_results, make_suite
from workbench.cli import main
from workbench.engine.settings import LoadSettings, format_lora, parse_lora
from workbench.errors import BadInput
from workbench.evals import reports
from workbench.evals.model import SuiteError
from workbench.evals.stats import paired_difference
from workbench.evals.suite_targets import map_provider
from workbench.evals.summary import summarize
from workbench.gguf import read_adapter, read_header
from workbench.planner.speed import Predictor, adapter_read_bytes, weight_profile
from workbench.providers.local import LocalTarget
from workbench.providers.registry import TargetSpec, build_target, parse_target
from workbench.server.catalog import Catalog, explicit_model
from workbench.server.models import ModelPool
from workbench.synth import synthesize

pytestmark = pytest.mark.usefixtures("home")  # estimate's speed preview caches the bandwidth


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lora-targets") / "llama-tiny-f16.gguf"
    synthesize(path, "llama", quant="F16")
    return path


# -- the spec ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "model", "loras"), [
    ("local:m.gguf", "m.gguf", ()),
    ("local:m.gguf+lora:a.gguf", "m.gguf", (("a.gguf", 1.0),)),
    ("local:/x/m.gguf+lora:a.gguf@0.8+lora:dir/b.gguf@-1.5", "/x/m.gguf",
     (("a.gguf", 0.8), ("dir/b.gguf", -1.5))),
    ("local:my model+x.gguf+lora:a@b.gguf@2", "my model+x.gguf", (("a@b.gguf", 2.0),)),
])
def test_a_local_target_with_adapters_parses_and_round_trips(
        text: str, model: str, loras: tuple[tuple[str, float], ...]) -> None:
    spec = parse_target(text)
    assert (spec.kind, spec.model, spec.loras) == ("local", model, loras)
    assert parse_target(spec.text) == spec
    assert spec.base == TargetSpec("local", model)


def test_the_text_keeps_a_scale_that_is_not_one() -> None:
    assert parse_target("local:m.gguf+lora:a.gguf@1").text == "local:m.gguf+lora:a.gguf"
    assert parse_target("local:m.gguf+lora:a.gguf@0.80").text == "local:m.gguf+lora:a.gguf@0.8"
    assert format_lora("a@v2.gguf", 1.0) == "a@v2.gguf@1"  # read back as the path, scale 1
    assert parse_lora(format_lora("a@v2.gguf", 1.0)) == ("a@v2.gguf", 1.0)


@pytest.mark.parametrize(("text", "message"), [
    ("local:m.gguf+lora:", "the adapter file is missing after '\\+lora:'"),
    ("local:m.gguf+lora:a.gguf@much", "LoRA adapter a.gguf@much: the scale after '@' must be "
                                      "a number"),
    ("local:m.gguf+lora:a.gguf@nan", "must be a finite number"),
    ("local:+lora:a.gguf", "the model file is missing"),
    ("nope:m.gguf", "local:PATH\\[\\+lora:ADAPTER\\[@SCALE\\]\\]"),
])
def test_bad_adapter_specs(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_target(text)


def test_build_target_loads_the_adapters(base: Path, tmp_path: Path) -> None:
    adapter = adapter_for(base, tmp_path / "my-adapter.gguf")
    target = build_target(f"local:{base}+lora:{adapter}@0.8")
    assert isinstance(target, LocalTarget)
    assert target.load_settings.loras == ((str(adapter), 0.8),)
    assert target.load_settings.model_path == str(base)
    assert target.spec == f"local:{base}+lora:{adapter}@0.8"
    assert target.model == "llama-tiny-f16.gguf+lora:my-adapter.gguf@0.8"
    assert target.label == "local/llama-tiny-f16.gguf+lora:my-adapter.gguf@0.8"
    assert target.provider == "local" and not target.leaves_machine
    plain = build_target(f"local:{base}")
    assert isinstance(plain, LocalTarget) and plain.load_settings.loras == ()


def test_build_target_refuses_a_missing_or_misfit_adapter_before_loading(
        base: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"no such LoRA adapter file: .*none\.gguf"):
        build_target(f"local:{base}+lora:{tmp_path / 'none.gguf'}")
    wide = mismatched(base, tmp_path / "wide.gguf")
    with pytest.raises(BadInput, match="does not fit the model"):
        build_target(f"local:{base}+lora:{wide}@0.5")
    with pytest.raises(BadInput, match="not a usable LoRA adapter"):
        build_target(f"local:{base}+lora:{base}")  # a model, not an adapter


def test_a_suite_provider_with_adapters_resolves_their_paths(tmp_path: Path) -> None:
    target = map_provider("local:models/m.gguf+lora:loras/a.gguf@0.8", line=3,
                          source="suite.yaml", base_dir=tmp_path)
    assert target.spec == f"local:{tmp_path}/models/m.gguf+lora:{tmp_path}/loras/a.gguf@0.8"
    with pytest.raises(SuiteError, match="must be a number"):
        map_provider("local:m.gguf+lora:a.gguf@x", line=3, source="suite.yaml",
                     base_dir=tmp_path)


def test_short_names_name_the_adapter() -> None:
    assert (reports.short_target("local:/m/SmolLM2.gguf+lora:/l/my-adapter.gguf@0.8")
            == "local:SmolLM2.gguf+lora:my-adapter.gguf@0.8")
    assert reports.short_target("local:/m/SmolLM2.gguf") == "local:SmolLM2.gguf"


# -- the paired adapter sentence -----------------------------------------------------------------
BASE = "local:/models/base.gguf"
ADAPTED = "local:/models/base.gguf+lora:/loras/a.gguf@0.8"


def adapter_document(base_pattern: str, adapted_pattern: str, *, base_tps: float = 50.0,
                     adapted_tps: float = 40.0, order: tuple[str, str] = (BASE, ADAPTED),
                     ) -> dict[str, object]:
    results = local_results(BASE, base_pattern, gen_tokens_per_s=base_tps)
    results += local_results(ADAPTED, adapted_pattern, gen_tokens_per_s=adapted_tps)
    suite = make_suite(len(base_pattern))
    summary = summarize(suite, results, list(order))
    return reports.build_document(run_id=3, suite=suite, targets=list(order), results=results,
                                  summary=summary, decision=None, skipped={}, judge=None,
                                  judge_usage={}, complete=True)


def test_the_adapter_adds_points_and_costs_speed() -> None:
    base, adapted = "PPPPFFFFFF", "PPPPPPPFFF"  # 40% -> 70%
    document = adapter_document(base, adapted)
    (comparison,) = document["comparisons"]  # type: ignore[misc]
    effect = comparison["adapter"]
    expected = paired_difference([c == "P" for c in base], [c == "P" for c in adapted])
    assert effect["adapter"] == ADAPTED and effect["base"] == BASE and effect["adapters"] == 1
    assert effect["points"] == pytest.approx(0.3) and effect["n"] == 10
    assert (effect["low"], effect["high"]) == pytest.approx((expected.low, expected.high))
    assert effect["speed_cost"] == pytest.approx(0.2)
    interval = f"{expected.low * 100:+.1f}..{expected.high * 100:+.1f}"
    assert effect["text"] == (f"{ADAPTED}: the adapter adds 30.0 points on this suite (95% "
                              f"interval {interval}) over {BASE}, costs 20% of generation "
                              "speed (40.0 against 50.0 tok/s)")
    json.dumps(document)
    # the same seen the other way round (the adapter listed first): the same effect
    flipped = adapter_document(base, adapted, order=(ADAPTED, BASE))
    (other,) = flipped["comparisons"]  # type: ignore[misc]
    assert other["a"] == ADAPTED and other["adapter"]["text"] == effect["text"]


def test_an_adapter_that_loses_points_and_one_measured_faster() -> None:
    document = adapter_document("PPPPPPPPFF", "PPPPPFFFFF", base_tps=40.0, adapted_tps=42.0)
    text = document["comparisons"][0]["adapter"]["text"]  # type: ignore[index]
    assert "the adapter loses 30.0 points on this suite (95% interval -" in text
    assert "costs no generation speed (5% faster as measured: 42.0 against 40.0 tok/s)" in text


def test_no_adapter_sentence_for_other_pairs() -> None:
    results = local_results("local:/m/q4.gguf", "PPFF") + local_results("local:/m/q8.gguf",
                                                                        "PPPF")
    results += local_results("local:/m/q8.gguf+lora:/a.gguf", "PPPP")  # the other file's
    targets = ["local:/m/q4.gguf", "local:/m/q8.gguf", "local:/m/q8.gguf+lora:/a.gguf"]
    summary = summarize(make_suite(4), results, targets)
    effects = {(c.a, c.b): c.adapter for c in summary.comparisons}
    assert effects[("local:/m/q4.gguf", "local:/m/q8.gguf")] is None
    assert effects[("local:/m/q4.gguf", "local:/m/q8.gguf+lora:/a.gguf")] is None
    adapter = effects[("local:/m/q8.gguf", "local:/m/q8.gguf+lora:/a.gguf")]
    assert adapter is not None and adapter.points == pytest.approx(0.25)


def test_every_report_says_the_adapter_sentence(tmp_path: Path) -> None:
    document = adapter_document("PPPPFFFFFF", "PPPPPPPFFF")
    text = "\n".join(reports.text_lines(document))
    assert ("local:base.gguf+lora:a.gguf@0.8: the adapter adds 30.0 points on this suite"
            in text)  # the terminal's short names
    assert "over local:base.gguf, costs 20% of generation speed" in text
    markdown = reports.render_markdown(document)
    assert f"- {ADAPTED}: the adapter adds 30.0 points" in markdown
    page = reports.render_html(document)
    assert f"<li>{ADAPTED}: the adapter adds 30.0 points" in page
    stored = json.loads(reports.write_json(document, tmp_path / "run.json").read_text())
    assert "the adapter adds 30.0 points" in stored["comparisons"][0]["adapter"]["text"]
    assert [t["spec"] for t in stored["targets"]] == [BASE, ADAPTED]


# -- serve: the catalog --------------------------------------------------------------------------
def test_the_catalog_serves_the_base_with_an_adapter_as_a_model_of_its_own(
        base: Path, tmp_path: Path) -> None:
    adapter = adapter_for(base, tmp_path / "my-adapter.gguf")
    combined = explicit_model(f"{base}+lora:{adapter}@0.8", None)
    assert combined.id == "llama-tiny-f16.gguf+lora:my-adapter.gguf@0.8"
    assert combined.loras == ((str(adapter.resolve()), 0.8),)
    assert combined.path == str(base.resolve())
    catalog = Catalog([explicit_model(str(base), None), combined,
                       explicit_model(f"{base}+lora:{adapter}@0.8", None)])  # listed once
    assert [m.id for m in catalog.models()] == ["llama-tiny-f16.gguf", combined.id]
    assert catalog.find(combined.id) == combined
    assert catalog.find("llama-tiny-f16") is not None and not catalog.find("llama-tiny-f16").loras
    assert combined.to_openai()["workbench"]["loras"] == [  # type: ignore[index]
        {"path": str(adapter.resolve()), "scale": 0.8}]


def test_serve_refuses_a_misfit_adapter_at_start(base: Path, tmp_path: Path) -> None:
    wide = mismatched(base, tmp_path / "wide.gguf")
    with pytest.raises(BadInput, match=r"--model .*wide\.gguf: LoRA adapter .* does not fit"):
        explicit_model(f"{base}+lora:{wide}", None)
    with pytest.raises(BadInput, match="no such LoRA adapter file"):
        explicit_model(f"{base}+lora:{tmp_path / 'none.gguf'}@0.5", None)
    with pytest.raises(BadInput, match="must be a number"):
        explicit_model(f"{base}+lora:{wide}@x", None)


def test_the_pool_plans_the_adapter_and_loads_it(base: Path, tmp_path: Path) -> None:
    adapter = adapter_for(base, tmp_path / "a.gguf")
    plain, combined = (explicit_model(str(base), None),
                       explicit_model(f"{base}+lora:{adapter}", None))
    pool = ModelPool(LoadSettings("", n_ctx=256))
    try:
        settings = LoadSettings(base.as_posix(), n_ctx=256)
        with_adapter = dataclasses.replace(settings, loras=combined.loras)
        assert (pool.plan_bytes(combined, with_adapter) - pool.plan_bytes(plain, settings)
                >= read_adapter(adapter).tensor_data_size)
        assert pool.slot(plain) is not pool.slot(combined)  # a worker each
    finally:
        pool.close()


# -- estimate and the speed preview --------------------------------------------------------------
def test_estimate_plans_the_adapter(base: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    adapter = adapter_for(base, tmp_path / "a.gguf")
    size = read_adapter(adapter).tensor_data_size
    assert main(["estimate", str(base), "--ctx", "256", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["estimate", str(base), "--ctx", "256", "--lora", f"{adapter}@0.8",
                 "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["adapter_cpu_bytes"] == size and planned["adapter_gpu_bytes"] == 0
    assert planned["weights_cpu_bytes"] == plain["weights_cpu_bytes"] + size
    assert planned["loras"] == [{"path": str(adapter), "scale": 0.8, "rank": 4,
                                 "targets": ["attn_q", "attn_v", "ffn_down", "output"],
                                 "bytes": size}]
    assert planned["predicted_gen_tokens_per_s"] < plain["predicted_gen_tokens_per_s"]
    assert "LoRA adapters read" in planned["speed_note"]
    assert main(["estimate", str(base), "--ctx", "256", "--lora", str(adapter)]) == 0
    out = capsys.readouterr().out
    assert "of which LoRA adapters" in out and "LoRA adapter a.gguf at scale 1" in out
    assert main(["estimate", str(base), "--lora", str(mismatched(base, tmp_path / "w.gguf"))]) == 2
    assert "does not fit the model" in capsys.readouterr().err


def test_the_speed_preview_reads_the_adapter_bytes_where_they_are(base: Path,
                                                                  tmp_path: Path) -> None:
    header = read_header(base)
    adapter = read_adapter(adapter_for(base, tmp_path / "a.gguf"))
    assert adapter_read_bytes(header, [(adapter, 0.0)], n_gpu_layers=0, backend="cpu") == (0, 0)
    cpu = adapter_read_bytes(header, [(adapter, 1.0)], n_gpu_layers=0, backend="cpu")
    assert cpu[0] == 0 and cpu[1] >= adapter.tensor_data_size
    gpu = adapter_read_bytes(header, [(adapter, 1.0)], n_gpu_layers=-1, backend="cuda")
    assert gpu[1] == 0 and gpu[0] >= adapter.tensor_data_size
    predictor = Predictor(bandwidth_gbps=10.0, use_stored_runs=False)
    profile = weight_profile(header)
    plain = predictor.predict(profile)
    adapted = predictor.predict(profile, adapter_bytes=cpu)
    assert plain.tg_tokens_per_s and adapted.tg_tokens_per_s
    assert adapted.details["bytes_per_token"] == plain.details["bytes_per_token"] + cpu[1]
    assert adapted.tg_tokens_per_s < plain.tg_tokens_per_s
