"""Chat families: the special tokens, token ids and chat template a synthetic model carries.

Each family mirrors a real model family: its control tokens (as llama.cpp sees them: CONTROL
token type), which of them are BOS/EOS/EOT (so llama.cpp stops generating on them), whether
llama.cpp adds BOS itself, the llama.cpp pre-tokenizer name, and the real Jinja chat template.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.synth import templates

# llama.cpp token types (gguf ``tokenizer.ggml.token_type``)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class ChatFamily:
    """What a model family's tokenizer adds on top of its byte-level BPE vocabulary."""

    name: str
    pre_tokenizer: str  # tokenizer.ggml.pre: selects llama.cpp's pre-tokenizer regex
    specials: tuple[tuple[str, int], ...]  # (text, token type), placed at the end of the vocab
    bos: str | None
    eos: str
    eot: str | None
    add_bos: bool
    template: str
    eom: str | None = None
    pad: str | None = None
    unk: str | None = None

    @property
    def special_texts(self) -> tuple[str, ...]:
        return tuple(text for text, _ in self.specials)


def _control(*texts: str) -> tuple[tuple[str, int], ...]:
    return tuple((text, CONTROL) for text in texts)


_LLAMA3_SPECIALS = _control(
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
)
_CHATML_SPECIALS = _control("<|endoftext|>", "<|im_start|>", "<|im_end|>")

FAMILIES: dict[str, ChatFamily] = {
    family.name: family
    for family in (
        ChatFamily(
            name="llama-3.1", pre_tokenizer="llama-bpe", specials=_LLAMA3_SPECIALS,
            bos="<|begin_of_text|>", eos="<|eot_id|>", eot="<|eot_id|>", eom="<|eom_id|>",
            pad="<|finetune_right_pad_id|>", add_bos=True, template=templates.LLAMA_3_1,
        ),
        ChatFamily(
            name="llama-3.2", pre_tokenizer="llama-bpe", specials=_LLAMA3_SPECIALS,
            bos="<|begin_of_text|>", eos="<|eot_id|>", eot="<|eot_id|>", eom="<|eom_id|>",
            pad="<|finetune_right_pad_id|>", add_bos=True, template=templates.LLAMA_3_2,
        ),
        ChatFamily(
            name="qwen-2.5", pre_tokenizer="qwen2",
            specials=(*_CHATML_SPECIALS, ("<tool_call>", USER_DEFINED),
                      ("</tool_call>", USER_DEFINED)),
            bos="<|endoftext|>", eos="<|im_end|>", eot="<|im_end|>", pad="<|endoftext|>",
            add_bos=False, template=templates.QWEN_2_5,
        ),
        ChatFamily(
            name="qwen-1.5", pre_tokenizer="qwen2", specials=_CHATML_SPECIALS,
            bos="<|endoftext|>", eos="<|im_end|>", eot="<|im_end|>", pad="<|endoftext|>",
            add_bos=False, template=templates.QWEN_1_5,
        ),
        ChatFamily(
            name="gemma-3", pre_tokenizer="gpt-2",
            specials=(
                *_control("<pad>", "<eos>", "<bos>"), ("<unk>", UNKNOWN),
                *_control("<mask>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                          "<end_of_image>"),
            ),
            bos="<bos>", eos="<eos>", eot="<end_of_turn>", pad="<pad>", unk="<unk>",
            add_bos=True, template=templates.GEMMA_3,
        ),
        ChatFamily(
            name="phi-3.5", pre_tokenizer="gpt-2",
            specials=(
                ("<unk>", UNKNOWN), *_control("<s>", "</s>", "<|endoftext|>", "<|assistant|>",
                                              "<|system|>", "<|end|>", "<|user|>"),
            ),
            bos="<s>", eos="<|endoftext|>", eot="<|end|>", pad="<|endoftext|>", unk="<unk>",
            add_bos=False, template=templates.PHI_3_5,
        ),
    )
}
