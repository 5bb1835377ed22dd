"""The curated catalog: schema, known quant types, sizes and sources, and what follows from it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import BadInput
from workbench.planner import catalog as cat
from workbench.planner.hparams import model_params
from workbench.planner.memory import estimate_memory

MODELS = Path(cat.__file__).resolve().parents[2] / "models"


def raw_catalog() -> tuple[dict[str, Any], dict[str, Any]]:
    families = {p.name: json.loads(p.read_text()) for p in sorted(MODELS.glob("*.json"))
                if p.name != cat.QUANT_LOSS_FILE}
    losses = json.loads((MODELS / cat.QUANT_LOSS_FILE).read_text())
    return families, losses


@pytest.fixture(scope="module")
def catalog() -> cat.Catalog:
    return cat.load_catalog(MODELS)


def test_the_shipped_catalog_is_valid(catalog: cat.Catalog) -> None:
    families, losses = raw_catalog()
    assert cat.validate(families, losses) == []
    assert len(catalog.entries) >= 25
    for entry in catalog.entries:
        assert entry.files and all(f.size_bytes > 0 for f in entry.files)
        assert all(f.quant in cat.FTYPE_BASE and catalog.loss(f.quant) for f in entry.files)
        assert entry.quality is not None or entry.notes  # a score, or a note saying why not
        if entry.quality:
            assert entry.quality.source and entry.quality.date[:2] == "20"


def test_the_catalog_covers_the_families_people_ask_about(catalog: cat.Catalog) -> None:
    ids = {e.id for e in catalog.entries}
    wanted = {
        "llama-3.1-8b-instruct", "llama-3.2-1b-instruct", "llama-3.2-3b-instruct",
        "llama-3.3-70b-instruct", "qwen2.5-0.5b-instruct", "qwen2.5-7b-instruct",
        "qwen2.5-72b-instruct", "qwen2.5-coder-7b-instruct", "qwen3-8b",
        "mistral-7b-instruct-v0.3", "mistral-nemo-instruct-2407",
        "mistral-small-24b-instruct-2501", "mixtral-8x7b-instruct-v0.1", "gemma-2-9b-it",
        "gemma-3-27b-it", "phi-3.5-mini-instruct", "phi-4", "deepseek-r1-distill-qwen-1.5b",
        "deepseek-r1-distill-qwen-32b", "deepseek-r1-distill-llama-70b",
        "olmo-2-1124-7b-instruct",
    }
    assert wanted <= ids


@pytest.mark.parametrize(("entry_id", "billions"), [
    # parameter counts on the model cards / Qwen2.5 blog
    ("qwen2.5-0.5b-instruct", 0.49), ("qwen2.5-7b-instruct", 7.61),
    ("qwen2.5-14b-instruct", 14.7), ("qwen2.5-72b-instruct", 72.7),
    ("llama-3.1-8b-instruct", 8.03), ("llama-3.3-70b-instruct", 70.6),
    ("llama-3.2-1b-instruct", 1.24), ("phi-3.5-mini-instruct", 3.82), ("phi-4", 14.7),
    ("mistral-nemo-instruct-2407", 12.2), ("mistral-small-24b-instruct-2501", 23.6),
    ("mixtral-8x7b-instruct-v0.1", 46.7), ("gemma-2-9b-it", 9.24), ("qwen3-30b-a3b", 30.5),
])
def test_parameter_counts_match_the_model_cards(catalog: cat.Catalog, entry_id: str,
                                                billions: float) -> None:
    assert catalog.get(entry_id).n_params / 1e9 == pytest.approx(billions, rel=0.01)


def test_computed_sizes_agree_with_the_listed_ones(catalog: cat.Catalog) -> None:
    """The quant-mix rules reproduce every size the Hub lists within 2% (the header is extra)."""
    listed = [(e, f) for e in catalog.entries for f in e.files if not f.computed]
    assert len(listed) >= 20
    for entry, f in listed:
        computed = cat.computed_file_size(entry.architecture, f.quant)
        assert 0.98 <= f.size_bytes / computed <= 1.02, (entry.id, f.quant)


def test_quant_mix_follows_llama_cpp_rules() -> None:
    a = cat.Architecture("llama", 32, 4096, 32, 8, 128, 14336, 128256, False)
    types = {t.name: ty for t, ty in cat.tensor_types(a, "Q4_K_M")}
    assert types["output.weight"] == "Q6_K" and types["token_embd.weight"] == "Q4_K"
    assert types["blk.0.attn_v.weight"] == "Q6_K"  # use_more_bits: the first eighth
    assert types["blk.5.attn_v.weight"] == "Q4_K" and types["blk.6.ffn_down.weight"] == "Q6_K"
    assert types["blk.0.attn_norm.weight"] == "F32"
    tied = cat.Architecture("qwen2", 24, 896, 14, 2, 64, 4864, 151936, True)
    types = {t.name: ty for t, ty in cat.tensor_types(tied, "Q4_K_M")}
    assert "output.weight" not in types
    assert types["token_embd.weight"] == "Q8_0"  # tied + 896 % 256 != 0: Q8_0, not Q6_K
    assert types["blk.3.ffn_up.weight"] == "Q5_0"  # Q4_K cannot take rows of 896
    assert types["blk.3.ffn_down.weight"] == "Q4_K"  # rows of 4864 = 19 x 256


def test_quant_loss_grows_as_bits_shrink(catalog: cat.Catalog) -> None:
    order = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"]
    klds = [catalog.loss(q).kld for q in order]  # type: ignore[union-attr]
    assert klds == sorted(klds)
    assert "tools/perplexity/README.md" in catalog.loss_source


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e["files"][0].update(quant="Q4_K_XL"), "unknown quant type"),
    (lambda e: e["files"][0].update(size_bytes=-5), "size must be a positive integer"),
    (lambda e: e["files"][0].update(size_bytes=e["files"][0]["size_bytes"] * 2), "far from"),
    (lambda e: e["quality"].update(source=""), "quality score"),
    (lambda e: e.update(quality=None), "no quality score and no note"),
    (lambda e: e.update(n_params=e["n_params"] + 10**9), "differs from the architecture"),
    (lambda e: e.update(tasks=["chat", "poetry"]), "unknown tasks"),
    (lambda e: e["architecture"].update(n_head_kv=5), "multiple of n_head_kv"),
    (lambda e: e.update(repo="not a repo"), "owner/name"),
    (lambda e: e.pop("licence"), "missing licence"),
])
def test_the_validator_catches_bad_entries(mutate: Any, message: str) -> None:
    families, losses = raw_catalog()
    families = copy.deepcopy(families)
    entry = families["qwen.json"]["entries"][0]
    entry.pop("notes", None)
    mutate(entry)
    problems = cat.validate(families, losses)
    assert any(message in p for p in problems), problems


def test_duplicate_ids_and_a_broken_directory_are_rejected(tmp_path: Path) -> None:
    families, losses = raw_catalog()
    families["qwen.json"]["entries"].append(copy.deepcopy(families["qwen.json"]["entries"][0]))
    assert any("duplicate id" in p for p in cat.validate(families, losses))
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / cat.QUANT_LOSS_FILE).write_text(json.dumps(losses))
    with pytest.raises(BadInput, match="not valid JSON"):
        cat.load_catalog(tmp_path)
    with pytest.raises(BadInput, match="not found"):
        cat.load_catalog(tmp_path / "missing")


def test_synthetic_header_feeds_the_memory_planner(catalog: cat.Catalog) -> None:
    entry = catalog.get("llama-3.1-8b-instruct")
    f = entry.file("Q4_K_M")
    assert f is not None
    header = cat.synthetic_header(entry, f)
    p = model_params(header)
    assert (p.n_layer, p.n_embd, p.n_vocab, p.n_ctx_train) == (32, 4096, 128256, 131072)
    assert p.layers[0].n_head_kv == 8 and not p.tied_embeddings
    assert header.tensor_data_size == pytest.approx(f.size_bytes, rel=0.01)
    plan = estimate_memory(header, n_ctx=4096)
    assert plan.kv_cache_bytes == 32 * 2 * 4096 * 1024 * 2  # layers x (K+V) x ctx x 1024 x f16
    assert plan.weights_bytes == pytest.approx(f.size_bytes, rel=0.01)
    gemma = catalog.get("gemma-3-27b-it")
    gp = model_params(cat.synthetic_header(gemma, gemma.files[0]))
    assert gp.has_swa and gp.n_swa == 1024 and gp.tied_embeddings


def test_moe_entries_keep_their_experts(catalog: cat.Catalog) -> None:
    entry = catalog.get("qwen3-30b-a3b")
    header = cat.synthetic_header(entry, entry.files[0])
    p = model_params(header)
    assert (p.n_expert, p.n_expert_used, p.n_ff_exp) == (128, 8, 768)
    assert header.tensor("blk.0.ffn_up_exps.weight").shape == (2048, 768, 128)  # type: ignore


def test_urls_honour_hf_endpoint(catalog: cat.Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = catalog.get("llama-3.3-70b-instruct")
    split = entry.file("Q8_0")
    assert split is not None and len(split.parts) == 2
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert entry.url(split) == ("http://127.0.0.1:9/bartowski/Llama-3.3-70B-Instruct-GGUF/"
                                "resolve/main/" + split.parts[0])
    monkeypatch.delenv("HF_ENDPOINT")
    assert entry.url(entry.files[0]).startswith("https://huggingface.co/bartowski/")


def test_task_filter(catalog: cat.Catalog) -> None:
    code = catalog.for_task("code")
    assert code and all("code" in e.tasks for e in code)
    assert "qwen2.5-coder-32b-instruct" in {e.id for e in code}
    with pytest.raises(BadInput, match="unknown task"):
        catalog.for_task("poetry")
