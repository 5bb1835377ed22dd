"""The GGUF header reader on real files written by gguf.GGUFWriter, checked against GGUFReader."""

from __future__ import annotations

import math
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFValueType

from workbench.errors import BadInput
from workbench.gguf import (
    GGUFArray,
    GGUFError,
    GGUFSourceError,
    read_header,
    read_split_headers,
    split_sources,
    summarize,
)

N_VOCAB = 300
TOKENS = [f"tok{i}" for i in range(N_VOCAB - 3)] + ["héllo", "日本", ""]
MERGES = [f"t o{i}" for i in range(40)]


def _q(type_: GGMLQuantizationType, rows: int, cols: int) -> np.ndarray:
    """Random bytes shaped as a quantized (rows x cols) tensor, as GGUFWriter wants them."""
    block, size = gguf.GGML_QUANT_SIZES[type_]
    rng = np.random.default_rng(rows * cols)
    return rng.integers(0, 256, size=(rows, cols // block * size), dtype=np.uint8)


def write_model(path: Path, *, alignment: int | None = None, with_output: bool = True) -> dict:
    """A tiny llama-shaped model with realistic metadata; returns what was written."""
    writer = gguf.GGUFWriter(path, "llama")
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    writer.add_name("Tiny Test Llama")
    writer.add_context_length(8192)
    writer.add_embedding_length(256)
    writer.add_block_count(2)
    writer.add_feed_forward_length(512)
    writer.add_head_count(8)
    writer.add_head_count_kv([2, 4])
    writer.add_key_length(32)
    writer.add_value_length(32)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(500000.0)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(TOKENS)
    writer.add_token_types([1] * (N_VOCAB - 1) + [3])
    writer.add_token_scores([float(-i) for i in range(N_VOCAB)])
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(1)
    writer.add_add_bos_token(True)
    writer.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    writer.add_uint64("test.big", 2**63 + 5)
    writer.add_int8("test.neg", -7)
    writer.add_float64("test.pi", math.pi)
    writer.add_array("test.nested", [[1, 2], [3], [4, 5, 6]])
    tensors = {
        "token_embd.weight": (_q(GGMLQuantizationType.Q4_K, N_VOCAB, 256),
                              GGMLQuantizationType.Q4_K),
        "output_norm.weight": (np.ones(256, dtype=np.float32), None),
    }
    for layer in range(2):
        tensors[f"blk.{layer}.attn_norm.weight"] = (np.ones(256, dtype=np.float32), None)
        tensors[f"blk.{layer}.attn_q.weight"] = (_q(GGMLQuantizationType.Q4_K, 256, 256),
                                                 GGMLQuantizationType.Q4_K)
        tensors[f"blk.{layer}.attn_k.weight"] = (np.zeros((64, 256), dtype=np.float16), None)
        tensors[f"blk.{layer}.ffn_down.weight"] = (_q(GGMLQuantizationType.Q6_K, 256, 512),
                                                   GGMLQuantizationType.Q6_K)
        tensors[f"blk.{layer}.attn_v.weight"] = (_q(GGMLQuantizationType.Q8_0, 64, 256),
                                                 GGMLQuantizationType.Q8_0)
        tensors[f"blk.{layer}.ffn_up.weight"] = (_q(GGMLQuantizationType.Q4_K, 512, 256),
                                                 GGMLQuantizationType.Q4_K)
    if with_output:
        tensors["output.weight"] = (_q(GGMLQuantizationType.Q6_K, N_VOCAB, 256),
                                    GGMLQuantizationType.Q6_K)
    for name, (data, raw_dtype) in tensors.items():
        writer.add_tensor(name, data, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_model(path)
    return path


def test_metadata_round_trip(model_path: Path) -> None:
    header = read_header(model_path)
    meta = header.metadata
    assert header.version == 3
    assert header.source == str(model_path)
    assert meta["general.architecture"] == "llama"
    assert meta["general.name"] == "Tiny Test Llama"
    assert meta["llama.context_length"] == 8192
    assert meta["llama.attention.head_count_kv"] == [2, 4]
    assert meta["tokenizer.ggml.tokens"] == TOKENS
    assert meta["tokenizer.ggml.tokens"][-2] == "日本"
    assert meta["tokenizer.ggml.merges"] == MERGES
    assert meta["tokenizer.ggml.scores"] == [float(-i) for i in range(N_VOCAB)]
    assert meta["tokenizer.ggml.add_bos_token"] is True
    assert meta["test.big"] == 2**63 + 5
    assert meta["test.neg"] == -7
    assert meta["test.pi"] == math.pi
    assert meta["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)
    nested = meta["test.nested"]
    assert isinstance(nested, GGUFArray) and nested.tolist() == [[1, 2], [3], [4, 5, 6]]
    assert header.metadata_types["test.big"] == GGUFValueType.UINT64
    assert header.metadata_types["tokenizer.ggml.tokens"] == GGUFValueType.ARRAY
    assert meta["tokenizer.ggml.tokens"].element_type == GGUFValueType.STRING


def test_matches_gguf_reader(model_path: Path) -> None:
    header = read_header(model_path)
    reference = gguf.GGUFReader(model_path)
    fields = {k: f for k, f in reference.fields.items() if not k.startswith("GGUF.")}
    assert list(header.metadata) == list(fields)
    for key, field in fields.items():
        assert header.metadata_types[key] == field.types[0], key
        if key == "test.nested":  # GGUFReader.contents() does not do nested arrays
            continue
        value = header.metadata[key]
        expected = field.contents()
        if isinstance(value, float):
            assert value == pytest.approx(expected, rel=1e-7), key
        else:
            assert value == expected, key

    assert len(header.tensors) == len(reference.tensors)
    for mine, theirs in zip(header.tensors, reference.tensors, strict=True):
        assert mine.name == theirs.name
        assert mine.shape == tuple(int(d) for d in theirs.shape)
        assert mine.ggml_type == theirs.tensor_type
        assert mine.type_name == theirs.tensor_type.name
        assert mine.offset == theirs.data_offset
        assert mine.n_bytes == theirs.n_bytes
        assert mine.n_elements == theirs.n_elements


def test_tensor_infos_match_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    written = write_model(path)
    header = read_header(path)
    assert [t.name for t in header.tensors] == list(written)
    raw = path.read_bytes()
    for info in header.tensors:
        data, raw_dtype = written[info.name]
        assert info.n_bytes == data.nbytes
        assert raw[info.offset:info.offset + info.n_bytes] == data.tobytes()
        assert info.offset % header.alignment == 0
        if raw_dtype is None:
            assert info.shape == tuple(reversed(data.shape))
        else:
            block, size = gguf.GGML_QUANT_SIZES[raw_dtype]
            assert info.shape == (data.shape[1] // size * block, data.shape[0])
    assert header.alignment == 32
    assert header.data_offset == -(-header.header_size // 32) * 32
    assert header.file_size == path.stat().st_size
    assert header.tensors[0].offset == header.data_offset


def test_custom_alignment(tmp_path: Path) -> None:
    path = tmp_path / "aligned.gguf"
    write_model(path, alignment=256)
    header = read_header(path)
    assert header.alignment == 256
    assert header.data_offset % 256 == 0
    assert all(t.offset % 256 == 0 for t in header.tensors)
    assert [t.offset for t in header.tensors] == [
        t.data_offset for t in gguf.GGUFReader(path).tensors]


def test_only_header_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_token_list(TOKENS)
    writer.add_tensor("big.weight", np.zeros((1024, 1024 * 5), dtype=np.float32))  # 20 MiB
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    header = read_header(path)
    assert header.tensors[0].n_bytes == 20 * 1024 * 1024
    assert header.bytes_read == 2 * 1024 * 1024  # the first window, not the weights


def test_header_larger_than_limit(tmp_path: Path) -> None:
    path = tmp_path / "vocab.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_token_list([f"token-number-{i}" for i in range(200_000)])  # ~5 MiB of strings
    writer.add_tensor("x.weight", np.zeros(32, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    header = read_header(path)  # the window doubles 2 -> 4 -> 8 MiB
    assert len(header.metadata["tokenizer.ggml.tokens"]) == 200_000
    assert header.metadata["tokenizer.ggml.tokens"][199_999] == "token-number-199999"
    with pytest.raises(GGUFError, match="max_header_bytes"):
        read_header(path, max_header_bytes=1024 * 1024)


def test_vocab_only_file_without_tensors(tmp_path: Path) -> None:
    path = tmp_path / "vocab-only.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_token_list(TOKENS)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    header = read_header(path)
    assert header.tensors == ()
    assert header.data_offset == header.header_size == path.stat().st_size
    summary = summarize(header)
    assert summary.parameter_count == 0 and summary.bits_per_weight is None
    assert summary.vocab_size == N_VOCAB


def test_summary(model_path: Path) -> None:
    header = read_header(model_path)
    summary = summarize(header)
    reference = gguf.GGUFReader(model_path)
    assert summary.architecture == "llama"
    assert summary.name == "Tiny Test Llama"
    assert summary.parameter_count == sum(int(t.n_elements) for t in reference.tensors)
    assert summary.tensor_count == 15
    assert summary.tensor_data_size == sum(int(t.n_bytes) for t in reference.tensors)
    assert summary.bits_per_weight == pytest.approx(
        summary.tensor_data_size * 8 / summary.parameter_count)
    assert summary.file_type == "Q4_K_M"
    assert summary.dominant_type == "Q4_K"  # the type holding the most elements
    assert summary.tensor_types == {"F16": 2, "F32": 3, "Q4_K": 5, "Q6_K": 3, "Q8_0": 2}
    assert summary.context_length == 8192
    assert (summary.n_layer, summary.n_embd, summary.n_head, summary.n_ff) == (2, 256, 8, 512)
    assert summary.n_head_kv == (2, 4)
    assert (summary.key_length, summary.value_length) == (32, 32)
    assert summary.vocab_size == N_VOCAB
    assert summary.tokenizer_model == "gpt2"
    assert summary.n_expert is None and summary.sliding_window is None
    assert summary.has_chat_template
    assert summary.chat_template_length == len(
        "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert summary.file_size == model_path.stat().st_size
    assert summary.split_count == 1
    document = summary.to_dict()
    assert document["n_head_kv"] == [2, 4]


def test_vocab_size_from_tensor_when_no_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "no-tok.gguf"
    writer = gguf.GGUFWriter(path, "qwen2")
    writer.add_head_count(4)
    writer.add_tensor("token_embd.weight", np.zeros((1234, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    summary = summarize(read_header(path))
    assert summary.vocab_size == 1234
    assert summary.n_head == summary.n_head_kv == 4  # llama.cpp's default for head_count_kv
    assert summary.file_type is None
    assert summary.dominant_type == "F16"


def test_split_model(tmp_path: Path) -> None:
    writer = gguf.GGUFWriter(tmp_path / "split.gguf", "llama", split_max_tensors=2)
    writer.add_block_count(3)
    writer.add_token_list(TOKENS)
    for i in range(5):
        writer.add_tensor(f"blk.{i}.w", np.full((32, 8), i, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"split-0000{i}-of-00003.gguf" for i in (1, 2, 3)]

    second = tmp_path / names[1]
    assert split_sources(second) == [str(tmp_path / n) for n in names]
    headers = read_split_headers(second)
    assert [h.metadata["split.no"] for h in headers] == [0, 1, 2]
    assert [t.name for h in headers for t in h.tensors] == [f"blk.{i}.w" for i in range(5)]
    summary = summarize(headers)
    assert summary.split_count == 3
    assert summary.parameter_count == 5 * 32 * 8
    assert summary.file_size == sum((tmp_path / n).stat().st_size for n in names)
    assert summary.vocab_size == N_VOCAB

    (tmp_path / names[2]).unlink()
    with pytest.raises(GGUFSourceError, match="no such file"):
        read_split_headers(tmp_path / names[0])


def test_split_names() -> None:
    url = "https://hf.co/org/repo/resolve/main/q4/Model-Q4_K_M-00002-of-00004.gguf?download=1"
    siblings = split_sources(url)
    assert siblings is not None and len(siblings) == 4
    assert siblings[0] == ("https://hf.co/org/repo/resolve/main/q4/Model-Q4_K_M-00001-of-00004.gguf"
                           "?download=1")
    assert split_sources("model.gguf") is None
    assert split_sources("model-00005-of-00004.gguf") is None


def test_split_number_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "m-00001-of-00001.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_uint16("split.no", 3)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    with pytest.raises(GGUFError, match=r"split\.no is 3"):
        read_split_headers(path)


@pytest.mark.parametrize("make", ["missing", "directory", "empty", "text"])
def test_bad_sources(tmp_path: Path, make: str) -> None:
    path = tmp_path / "model.gguf"
    if make == "directory":
        path.mkdir()
    elif make == "empty":
        path.write_bytes(b"")
    elif make == "text":
        path.write_text("not a model at all")
    with pytest.raises(BadInput) as caught:
        read_header(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    expected = {"missing": "no such file", "directory": "is a directory",
                "empty": "truncated", "text": "not a GGUF file"}[make]
    assert expected in message


def test_array_behaves_like_a_sequence(model_path: Path) -> None:
    tokens = read_header(model_path).metadata["tokenizer.ggml.tokens"]
    assert len(tokens) == N_VOCAB
    assert tokens[0] == "tok0" and tokens[-1] == "" and tokens[-3] == "héllo"
    assert tokens[1:3] == ["tok1", "tok2"]
    assert list(tokens) == TOKENS and tokens.tolist() == TOKENS
    assert tokens == tuple(TOKENS) and tokens != TOKENS[:-1] and tokens != "tok0"
    assert tokens.type_name == "array[string]"
    with pytest.raises(IndexError):
        tokens[N_VOCAB]
    assert "len=300" in repr(tokens)
