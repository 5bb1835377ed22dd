"""GGUF file names on the Hub: quant types, split sets, variants, choosing one."""

from __future__ import annotations

import pytest

from workbench.errors import BadInput
from workbench.hub.quant import (
    RemoteFile,
    group_variants,
    quant_from_name,
    select_variant,
    split_info,
)
from workbench.present.numbers import format_size


@pytest.mark.parametrize(("name", "quant"), [
    ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
    ("mistral-7b-instruct-v0.2.Q5_K_S.gguf", "Q5_K_S"),
    ("Qwen2.5-7B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
    ("Qwen3-30B-A3B-UD-Q4_K_XL-00001-of-00002.gguf", "UD-Q4_K_XL"),
    ("gemma-3-4b-it-BF16.gguf", "BF16"),
    ("ggml-model-f16.gguf", "F16"),
    ("phi-2.fp16.gguf", "F16"),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
    ("model-q4_0_4_4.gguf", "Q4_0_4_4"),
    ("Q8_0/DeepSeek-R1-Q8_0-00001-of-00015.gguf", "Q8_0"),
    ("Q6_K/model-00001-of-00002.gguf", "Q6_K"),  # the folder says it
    ("tinyllama.gguf", None),
    ("Qwen2.5-Coder-7B.gguf", None),  # "Qwen2" is not a quant type
])
def test_quant_from_name(name: str, quant: str | None) -> None:
    assert quant_from_name(name) == quant


def test_split_info() -> None:
    assert split_info("dir/model-Q8_0-00002-of-00003.gguf") == ("dir/model-Q8_0", 2, 3)
    assert split_info("model-Q8_0.gguf") is None
    assert split_info("model-00004-of-00003.gguf") is None


def rf(path: str, size: int) -> RemoteFile:
    return RemoteFile("o/r", path, size, "a" * 64, "b" * 40, "main", "c" * 40)


def test_variants_group_splits_and_sort_by_size() -> None:
    files = [
        rf("README.md", 10),
        rf("m-Q8_0.gguf", 800),
        rf("Q2_K/m-Q2_K-00002-of-00002.gguf", 100),
        rf("Q2_K/m-Q2_K-00001-of-00002.gguf", 150),
        rf("big-F16-00001-of-00003.gguf", 1000),
        rf("big-F16-00003-of-00003.gguf", 1000),  # shard 2 missing
        rf("mmproj-model-f16.gguf", 50),
    ]
    variants = group_variants(files)
    assert [v.name for v in variants] == ["Q2_K/m-Q2_K.gguf", "m-Q8_0.gguf", "big-F16.gguf",
                                         "mmproj-model-f16.gguf"]
    split = variants[0]
    assert [f.path for f in split.files] == ["Q2_K/m-Q2_K-00001-of-00002.gguf",
                                             "Q2_K/m-Q2_K-00002-of-00002.gguf"]
    assert split.size == 250 and split.split_count == 2 and split.complete
    assert split.quant == "Q2_K"
    assert not variants[2].complete and variants[2].split_count == 3
    assert variants[3].kind == "mmproj" and variants[0].kind == "model"


def test_select_variant() -> None:
    variants = group_variants([rf("m-Q8_0.gguf", 8), rf("m-Q4_K_M.gguf", 4),
                               rf("x-Q4_0-00001-of-00002.gguf", 2),
                               rf("x-Q4_0-00002-of-00002.gguf", 2),
                               rf("mmproj-F16.gguf", 1)])
    assert select_variant(variants, quant="q4_k_m").name == "m-Q4_K_M.gguf"
    # any shard's name selects the whole set
    assert select_variant(variants, filename="x-Q4_0-00002-of-00002.gguf").split_count == 2
    with pytest.raises(BadInput, match=r"3 GGUF variants: .*Q4_K_M.*--quant or --file"):
        select_variant(variants)
    with pytest.raises(BadInput, match="no IQ2_XS file; quant types here"):
        select_variant(variants, quant="IQ2_XS")
    with pytest.raises(BadInput, match="no file named"):
        select_variant(variants, filename="nope.gguf")
    assert select_variant(variants[:1]).name == variants[0].name


def test_format_size() -> None:
    assert format_size(3 << 30) == "3.00 GiB"
    assert format_size(1536 << 10) == "1.5 MiB"
    assert format_size(10) == "10 bytes"
