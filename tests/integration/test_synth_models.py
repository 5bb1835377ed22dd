"""Synthetic models in the real llama.cpp (always in a child process): they load, chat with their
family's template, tokenize like the reference BPE, and the faults really abort (every weight
type: test_every_weight_type.py).

Run as a script, this module is the child: ``python test_synth_models.py MODE MODEL...``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ARCHES = ["llama", "qwen2", "gemma3", "phi3", "qwen2moe"]
ASCII_TEXTS = [
    "Hello world! The capital of France is Paris.",
    "def f(x):\n    return x * 2  # it's 42, isn't it?\n\n",
    "Numbers 1234567 and 3.14; spaces   here.",
]
UNICODE_TEXT = "ünïcödé 日本語 🙂 Ελληνικά"
MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the capital of France?"}]


def _child(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    from workbench.synth.quantizer import child_env

    return subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env())


def _child_json(*args: str) -> dict:
    result = _child(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("quant", ["F16", "Q4_K_M"])
@pytest.mark.parametrize("arch", ARCHES)
def test_loads_chats_and_tokenizes_like_the_reference(arch: str, quant: str,
                                                      tiny_model_path) -> None:
    from workbench.synth import resolve_shape
    from workbench.synth.chat import FAMILIES
    from workbench.synth.tokenizer import BPETokenizer, build_vocabulary

    shape = resolve_shape(arch)
    family = FAMILIES[shape.family]
    vocab = build_vocabulary(shape.n_vocab, family)
    doc = _child_json("chat", str(tiny_model_path(arch, quant)))

    assert doc["n_vocab"] == shape.n_vocab
    assert doc["n_layer"] == shape.n_layer
    # llama.cpp's BPE gives the same ids as the reference and decodes back to the text
    reference = BPETokenizer(vocab)
    assert doc["plain_ids"] == [reference.encode(text) for text in ASCII_TEXTS]
    assert doc["unicode_round_trip"] == UNICODE_TEXT
    # the chat template's special tokens are single CONTROL tokens, where the family puts them
    prompt_ids = doc["prompt_ids"]
    for text in family.special_texts:
        if text in doc["prompt"]:
            assert vocab.special_ids[text] in prompt_ids, text
    if family.add_bos:  # these templates start with the BOS text: it must become the BOS id
        assert doc["prompt"].startswith(family.bos)
        assert prompt_ids[0] == vocab.special_ids[family.bos]
    assert doc["bos_added"] == family.add_bos
    assert doc["eog"] == {"eos": True, "eot": True}
    # a chat completion through the model's own template generates tokens
    completion = doc["completion"]
    assert doc["chat_format"] == "chat_template.default"
    assert completion["usage"]["prompt_tokens"] == len(prompt_ids)
    # llama-cpp-python holds back partial UTF-8 and may then pass max_tokens by a few tokens
    assert 1 <= completion["usage"]["completion_tokens"] <= 6 + 6
    assert completion["choices"][0]["finish_reason"] in ("length", "stop")


def test_duplicate_vocab_fault_aborts_llama_cpp(tiny_model_path) -> None:
    model = tiny_model_path("llama", "Q8_0", fault="duplicate-vocab")
    result = _child("load", str(model))
    assert result.returncode == -signal.SIGABRT, result.stderr[-2000:]
    assert "GGML_ASSERT(id_to_token.size() == token_to_id.size())" in result.stderr


def test_quantiser_crash_becomes_a_runtime_failure(tmp_path: Path) -> None:
    from workbench.errors import RuntimeFailure
    from workbench.synth import synthesize

    with pytest.raises(RuntimeFailure, match=r"crashed \(SIGABRT\).*GGML_ASSERT"):
        synthesize(tmp_path / "m.gguf", "qwen2", quant="Q4_K_M", fault="bad-block-count")
    assert list(tmp_path.iterdir()) == []


def test_a_model_with_none_of_its_type_is_refused_in_one_line(tmp_path: Path) -> None:
    from workbench.errors import RuntimeFailure
    from workbench.synth import synthesize

    # Qwen2.5-0.5B's 896-wide rows do not fit Q4_K; with one layer the mix gives the 4864-wide
    # ffn_down Q6_K: llama.cpp would write a "Q4_K_M" file without a single Q4_K tensor
    with pytest.raises(RuntimeFailure, match=r"wrote no Q4_K tensor .*256-value blocks") as err:
        synthesize(tmp_path / "m.gguf", preset="qwen2.5-0.5b", layers=1, quant="Q4_K_M",
                   vocab_size=2048)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_quantiser_failure_is_one_clear_line(tmp_path: Path) -> None:
    from workbench.errors import RuntimeFailure
    from workbench.synth.quantizer import quantize_file

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(RuntimeFailure, match=r"status 1 .*: .*failed to load model") as err:
        quantize_file(junk, tmp_path / "out.gguf", "Q8_0")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out.gguf").exists()


def test_cli_quantiser_crash_exits_1(tmp_path: Path) -> None:
    from workbench.synth.quantizer import child_env

    result = subprocess.run(
        [sys.executable, "-m", "workbench", "synth", str(tmp_path / "m.gguf"), "--arch", "phi3",
         "--quant", "Q8_0", "--fault", "bad-block-count"],
        capture_output=True, text=True, timeout=120, env=child_env())
    assert result.returncode == 1
    assert "SIGABRT" in result.stderr and result.stderr.count("\n") == 1


# ---------------------------------------------------------------- the child process side

def _load(path: str, *, verbose: bool = False):
    import llama_cpp
    import llama_cpp.llama_cpp as low

    default_params = low.llama_model_default_params

    def safe_params():  # this CPU's weight repacking crashes on quantised models
        params = default_params()
        params.use_extra_bufts = False
        return params

    low.llama_model_default_params = safe_params
    return llama_cpp.Llama(path, n_ctx=512, n_threads=2, verbose=verbose, seed=1)


def _chat(path: str) -> dict:
    import llama_cpp

    llm = _load(path)
    vocab = llm._model.vocab
    fmt = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=llm._model.token_get_text(llm.token_eos()),
        bos_token=llm._model.token_get_text(llm.token_bos()))
    prompt = fmt(messages=MESSAGES).prompt
    prompt_ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    unicode_ids = llm.tokenize(UNICODE_TEXT.encode(), add_bos=False, special=False)
    completion = llm.create_chat_completion(messages=MESSAGES, max_tokens=6, temperature=0.8,
                                            seed=1)
    eot = llama_cpp.llama_vocab_eot(vocab)
    return {
        "n_vocab": llm.n_vocab(),
        "n_layer": llama_cpp.llama_model_n_layer(llm.model),
        "plain_ids": [llm.tokenize(t.encode(), add_bos=False, special=False)
                      for t in ASCII_TEXTS],
        "unicode_round_trip": llm.detokenize(unicode_ids).decode("utf-8"),
        "prompt": prompt,
        "prompt_ids": prompt_ids,
        "bos_added": llm.tokenize(b"hi", add_bos=True)[0] == llm.token_bos(),
        "eog": {"eos": bool(llama_cpp.llama_vocab_is_eog(vocab, llm.token_eos())),
                "eot": bool(llama_cpp.llama_vocab_is_eog(vocab, eot))},
        "chat_format": llm.chat_format,
        "completion": completion,
    }


if __name__ == "__main__":
    mode, *models = sys.argv[1:]
    os.environ.setdefault("GGML_NO_BACKTRACE", "1")
    if mode == "load":
        _load(models[0], verbose=True)
        print(json.dumps({"loaded": True}))
    elif mode == "chat":
        print(json.dumps(_chat(models[0])))
