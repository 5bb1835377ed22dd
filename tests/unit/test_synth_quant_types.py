"""The weight-type table (workbench.synth.quant_types) against the readers that name types: the
GGUF reader's ggml types and file types, Hub file names, and ``--quant`` parsing."""

from __future__ import annotations

import pytest

from workbench.errors import BadInput
from workbench.gguf.ggml_types import FILE_TYPE_NAMES, GGML_TYPES
from workbench.hub.quant import quant_from_name
from workbench.synth import QUANT_TYPES
from workbench.synth.build import normalize_quant
from workbench.synth.quant_types import QUANTS, file_type_label

# The list of tensor types llama.cpp 0.3.36 loads, plus Q1_0, Q2_0 and NVFP4.
EVERY_TENSOR_TYPE = {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K",
                     "Q4_K", "Q5_K", "Q6_K", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S",
                     "IQ3_XXS", "IQ3_S", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4", "Q1_0",
                     "Q2_0", "NVFP4"}
MIXES = {"Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "IQ2_M",
         "IQ3_XS", "IQ3_M"}


def test_every_type_and_mix_can_be_synthesised() -> None:
    assert {q.tensor_type for q in QUANTS.values()} == EVERY_TENSOR_TYPE
    assert set(QUANTS) >= (EVERY_TENSOR_TYPE - {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "IQ3_S"}) | MIXES
    assert set(QUANT_TYPES) == set(QUANTS)
    for name in QUANTS:
        assert normalize_quant(name.lower()) == name


def test_unknown_quant_is_one_line_naming_the_choices() -> None:
    with pytest.raises(BadInput, match=r"unsupported quantisation 'Q9_9'; choose from: F32, ") as e:
        normalize_quant("Q9_9")
    assert "\n" not in str(e.value) and "IQ1_S" in str(e.value)


def test_the_gguf_reader_knows_every_type_and_file_type() -> None:
    assert {kind.name for kind in GGML_TYPES.values()} >= EVERY_TENSOR_TYPE
    for spec in QUANTS.values():
        assert file_type_label(spec) in FILE_TYPE_NAMES.values()


@pytest.mark.parametrize("quant", [*QUANTS, "MXFP4_MOE", "UD-IQ1_S", "UD-Q4_K_XL"])
def test_hub_file_names_state_every_type(quant: str) -> None:
    for name in (f"Model-{quant}.gguf", f"model.{quant.lower()}.gguf",
                 f"SmolLM2-135M-Instruct.{quant}.gguf", f"{quant}/model-00001-of-00002.gguf"):
        assert quant_from_name(name) == quant, name
