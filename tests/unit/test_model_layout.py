"""One model-layout engine: the synthesiser, the presets' planner headers and the catalog take
their tensors from workbench.synth.layout, and their headers from one builder."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import gguf
import pytest
from gguf.constants import GGUF_DEFAULT_ALIGNMENT

from workbench.gguf.parser import DEFAULT_ALIGNMENT
from workbench.planner import catalog as cat
from workbench.planner import synthetic
from workbench.resources import resource_path
from workbench.synth import PRESETS, plan_tensors
from workbench.synth import templates as tmpl
from workbench.synth.chat import FAMILIES
from workbench.synth.layout import (
    LAYOUT_ARCHS,
    ArchShape,
    TensorSpec,
    layout_of,
    layout_tensors,
    tensors_for,
)


@pytest.fixture(scope="module")
def catalog() -> cat.Catalog:
    return cat.load_catalog()


def _twins(catalog: cat.Catalog) -> list[tuple[str, cat.CatalogEntry]]:
    """(preset, catalog entry) pairs with the same numbers (the catalog knows no RoPE scaling)."""
    by_layout = {e.architecture.layout: e for e in catalog.entries}
    out = []
    for name, shape in PRESETS.items():
        entry = by_layout.get(replace(layout_of(shape), rope=""))
        if entry is not None:
            out.append((name, entry))
    return out


def _same_layout_without_rope(preset: str) -> list[TensorSpec]:
    return [t for t in tensors_for(PRESETS[preset]) if t.role != "rope"]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_synthesiser_and_the_planner_header_have_the_same_tensors(preset: str) -> None:
    shape = PRESETS[preset]
    written = tensors_for(shape)  # what synthesize() writes
    assert written == list(layout_tensors(layout_of(shape))) == plan_tensors(None, preset)
    header = synthetic.preset_header(preset, quant="Q8_0")
    assert [(t.name, t.shape) for t in header.tensors] == [(t.name, t.shape) for t in written]


def test_the_catalog_and_the_presets_share_the_layout(catalog: cat.Catalog) -> None:
    twins = _twins(catalog)
    assert {p for p, _ in twins} >= {"llama-3.2-1b", "llama-3.1-8b", "qwen2.5-0.5b",
                                     "qwen2.5-7b", "phi-3.5-mini"}
    for preset, entry in twins:
        assert cat.plan_tensors(entry.architecture) == _same_layout_without_rope(preset)
        assert cat.count_parameters(entry.architecture) == sum(
            t.n_elements for t in _same_layout_without_rope(preset))


@pytest.mark.parametrize("quant", ["Q4_K_M", "Q8_0", "Q3_K_M", "F16"])
def test_the_catalog_and_preset_headers_come_from_one_builder(catalog: cat.Catalog,
                                                             quant: str) -> None:
    """Same numbers and the same type policy: identical tensor infos, offsets included."""
    preset, entry = next((p, e) for p, e in _twins(catalog) if p == "qwen2.5-0.5b")
    a = entry.architecture
    computed = cat.QuantFile(quant, f"x-{quant}.gguf", cat.computed_file_size(a, quant),
                             "computed")
    from_catalog = cat.synthetic_header(entry, computed)
    from_preset = synthetic.preset_header(
        preset, types=synthetic.quantiser_types(a.layout, quant))
    assert from_catalog.tensors == from_preset.tensors
    assert from_catalog.alignment == from_preset.alignment == synthetic.ALIGNMENT
    assert from_catalog.data_offset == from_preset.data_offset == 0
    assert from_catalog.file_size == from_preset.file_size == computed.size_bytes


def test_the_uniform_policy_is_the_presets_default() -> None:
    shape = PRESETS["llama-3.2-1b"]
    policy = synthetic.uniform_types("Q4_0")
    direct = synthetic.build_header(tensors_for(shape), policy, {}, source="x")
    assert synthetic.preset_header("llama-3.2-1b", quant="Q4_0").tensors == direct.tensors
    types = {t.name: t.type_name for t in direct.tensors}
    assert types["rope_freqs.weight"] == types["blk.0.attn_norm.weight"] == "F32"
    assert types["blk.0.attn_q.weight"] == "Q4_0"


def test_a_catalog_header_is_rescaled_to_the_listed_size(catalog: cat.Catalog) -> None:
    listed = [(e, f) for e in catalog.entries for f in e.files if not f.computed]
    assert listed
    for entry, f in listed:
        header = cat.synthetic_header(entry, f)
        padded_data = sum(synthetic.padded(t.n_bytes) for t in header.tensors)
        assert header.file_size == max(f.size_bytes, padded_data)
        assert header.tensor_data_size == pytest.approx(f.size_bytes, rel=0.01)
        assert header.data_offset == header.header_size >= 0
        assert header.tensors[0].offset == header.data_offset  # offsets are absolute
        last = header.tensors[-1]
        assert synthetic.padded(last.offset + last.n_bytes) == header.file_size


def test_one_alignment_constant_the_gguf_default() -> None:
    assert synthetic.ALIGNMENT == GGUF_DEFAULT_ALIGNMENT == DEFAULT_ALIGNMENT == 32
    assert cat.ALIGNMENT is synthetic.ALIGNMENT


MOE_ONLY = ("qwen2moe", "qwen3moe")


def _every_variant(arch: str) -> list[ArchShape]:
    """Tied and untied, dense and MoE where the arch has them, its RoPE factor tensors."""
    base = ArchShape(arch, 2, 256, 4, 2, 64, 512, 1024, arch == "gemma2")  # gemma2: always tied
    moe = replace(base, n_expert=4, n_ff_expert=128, n_ff_shared_expert=256)
    rope = {"llama": "llama3", "phi3": "longrope"}.get(arch)
    variants = [] if arch in MOE_ONLY else [base, replace(base, tied_embeddings=True)]
    if arch in (*MOE_ONLY, "llama"):  # llama: Mixtral
        variants.append(moe)
    if rope:
        variants.append(replace(base, rope=rope))
    return variants


@pytest.mark.parametrize("arch", LAYOUT_ARCHS)
def test_every_layout_name_is_one_llama_cpp_knows_for_its_arch(arch: str) -> None:
    """gguf-py's MODEL_TENSORS mirrors llama-arch.cpp's per-architecture tensor lists."""
    model_arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == arch)
    allowed = {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[model_arch]}
    for shape in _every_variant(arch):
        tensors = layout_tensors(shape)
        assert len({t.name for t in tensors}) == len(tensors)
        for spec in tensors:
            base = spec.name.rsplit(".", 1)[0]
            if base.startswith("blk."):
                base = "blk.{bid}." + base.split(".", 2)[2]
            assert base in allowed, (arch, spec.name)


@pytest.mark.parametrize("arch", MOE_ONLY)
def test_a_moe_only_arch_needs_experts(arch: str) -> None:
    with pytest.raises(ValueError, match="experts"):
        layout_tensors(ArchShape(arch, 1, 256, 4, 2, 64, 512, 1024, False))


def test_the_union_knows_what_each_side_knew() -> None:
    def names(shape: ArchShape) -> dict[str, tuple[int, ...]]:
        return {t.name: t.shape for t in layout_tensors(shape)}

    olmo2 = names(ArchShape("olmo2", 2, 4096, 32, 8, 128, 11008, 1000, False))
    assert olmo2["blk.0.attn_q_norm.weight"] == (4096,) and olmo2["blk.0.attn_k_norm.weight"] == (
        1024,)
    assert "blk.0.attn_norm.weight" not in olmo2 and "blk.0.ffn_norm.weight" not in olmo2
    assert "blk.1.post_attention_norm.weight" in olmo2 and "blk.1.post_ffw_norm.weight" in olmo2
    qwen3 = names(ArchShape("qwen3", 2, 4096, 32, 8, 128, 12288, 1000, False))
    assert qwen3["blk.0.attn_q_norm.weight"] == (128,) and "blk.0.attn_q.bias" not in qwen3
    gemma2 = names(ArchShape("gemma2", 2, 3584, 16, 8, 256, 14336, 1000, True))
    assert "blk.0.post_ffw_norm.weight" in gemma2 and "blk.0.attn_q_norm.weight" not in gemma2
    moe = names(layout_of(PRESETS["qwen1.5-moe-a2.7b"]))
    assert moe["blk.0.ffn_gate_inp_shexp.weight"] == (2048,)
    qwen3moe = names(ArchShape("qwen3moe", 2, 2048, 32, 4, 128, 6144, 1000, False, 128, 768))
    assert "blk.0.ffn_up_exps.weight" in qwen3moe
    assert not any("shexp" in n for n in qwen3moe)  # no shared expert outside qwen2moe
    assert "rope_freqs.weight" in names(layout_of(PRESETS["llama-3.1-8b"]))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_roles_keep_the_f32_rule_and_the_layer(preset: str) -> None:
    for t in tensors_for(PRESETS[preset]):
        assert t.keeps_f32 == (len(t.shape) == 1 or ".ffn_gate_inp." in t.name), t.name
        assert t.layer == (int(t.name.split(".")[1]) if t.name.startswith("blk.") else -1)


def test_roles_are_the_quantisers_kinds() -> None:
    roles = {t.name: t.role for t in tensors_for(PRESETS["qwen1.5-moe-a2.7b"])}
    assert roles["blk.0.attn_q.bias"] == "bias" and roles["blk.0.ffn_norm.weight"] == "norm"
    assert roles["blk.0.ffn_gate_inp.weight"] == roles["blk.0.ffn_gate_inp_shexp.weight"] == (
        "router")
    assert roles["blk.0.ffn_down_exps.weight"] == "ffn_down_exps"
    assert roles["blk.0.ffn_up_shexp.weight"] == "ffn_up_shexp"
    assert roles["token_embd.weight"] == "token_embd" and roles["output.weight"] == "output"
    phi = {t.name: t.role for t in tensors_for(PRESETS["phi-3.5-mini"])}
    assert phi["rope_factors_long.weight"] == "rope" and phi["blk.3.attn_qkv.weight"] == "attn_qkv"


def test_an_unknown_arch_has_no_layout() -> None:
    with pytest.raises(ValueError, match="no tensor layout"):
        layout_tensors(ArchShape("gpt9", 1, 8, 1, 1, 8, 8, 8, True))


# SHA-256 of each template as it was when it lived in synth/templates.py (a moved file must not
# change by a byte: editors like to add a final newline).
TEMPLATE_SHA256 = {
    "llama-3.1": "e10ca381b1ccc5cf9db52e371f3b6651576caee0a630b452e2816b2d404d4b65",
    "llama-3.2": "5816fce10444e03c2e9ee1ef8a4a1ea61ae7e69e438613f3b17b69d0426223a4",
    "qwen-2.5": "cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f",
    "qwen-1.5": "7c0cc400db493cfc546224cbd626ef46495c4b19103042eb5518f06bf7f1e26d",
    "gemma-3": "d2f96210400e38149e26e01918a408c3f2ad3d4bd87c44e8dcf8e1a611a98535",
    "phi-3.5": "78d976a442bcde2f0be15aafbb8e3050e1104f86732266f68403251b89982a90",
}


def test_chat_templates_are_resources_loaded_byte_for_byte() -> None:
    folder = resource_path(tmpl.TEMPLATE_DIR)
    assert {p.stem for p in folder.glob("*.jinja")} == set(FAMILIES) == set(tmpl.SOURCES)
    for family, chat_family in FAMILIES.items():
        text = tmpl.load_template(family)
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == TEMPLATE_SHA256[family]
        assert chat_family.template == text
    assert tmpl.load_template("llama-3.1") == tmpl.LLAMA_3_1
    with pytest.raises(KeyError):
        tmpl.load_template("gpt-9")
