"""Prompts for the chat formats that do not come from the GGUF: llama.cpp's built-in templates
and completion mode (raw text, continued as written). Runs inside the worker process."""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp

from workbench.errors import BadInput

# Workbench's name -> (llama.cpp's built-in template name, the text that ends a turn).
BUILTIN: dict[str, tuple[str, tuple[str, ...]]] = {
    "chatml": ("chatml", ("<|im_end|>",)),
    "llama-3": ("llama3", ("<|eot_id|>",)),
    "gemma": ("gemma", ("<end_of_turn>",)),
    "mistral": ("mistral-v3", ("</s>", "[INST]")),
    "phi-3": ("phi3", ("<|end|>",)),
}


def builtin_prompt(name: str, messages: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """``messages`` in llama.cpp's built-in template ``name``; returns (prompt, stop strings)."""
    template, stops = BUILTIN[name]
    keep = [(str(m.get("role", "user")).encode(), str(m.get("content") or "").encode())
            for m in messages]
    chat = (llama_cpp.llama_chat_message * len(keep))(
        *(llama_cpp.llama_chat_message(role=role, content=content) for role, content in keep))
    size = 2 * sum(len(role) + len(content) for role, content in keep) + 4096
    for _ in range(2):
        buffer = ctypes.create_string_buffer(size)
        needed = llama_cpp.llama_chat_apply_template(template.encode(), chat, len(keep), True,
                                                     buffer, size)
        if needed < 0:
            raise BadInput(f"llama.cpp cannot format this conversation as {name}")
        if needed <= size:
            return buffer.raw[:needed].decode("utf-8", errors="replace"), list(stops)
        size = needed
    raise BadInput(f"llama.cpp cannot format this conversation as {name}")


def completion_prompt(messages: list[dict[str, Any]]) -> str:
    """Completion mode: the conversation's texts joined as one document, to be continued.

    A system prompt leads, separated by a blank line; the turns follow each other as written
    (an answer continues the text it was given, the next message continues the answer).
    """
    system = [str(m.get("content") or "") for m in messages if m.get("role") == "system"]
    turns = [str(m.get("content") or "") for m in messages if m.get("role") != "system"]
    lead = "".join(f"{text}\n\n" for text in system if text)
    return lead + "".join(turns)
