"""The real chat templates (Jinja) of the model families that synthetic models imitate.

The templates are data: ``resources/chat_templates/<family>.jinja`` (found through
``workbench.resources``, shipped in the wheel by pyproject's data-files), copied verbatim from
each model's ``tokenizer_config.json`` (via llama.cpp's ``models/templates/`` and
``tests/test-chat-template.cpp``), so a synthetic model formats chats exactly as the real model
does. This module only reads them.
"""

from __future__ import annotations

import functools

from workbench.resources import resource_path

TEMPLATE_DIR = "chat_templates"

# family (workbench.synth.chat.FAMILIES) -> the model its template is copied from
SOURCES: dict[str, str] = {
    "llama-3.1": "meta-llama/Llama-3.1-8B-Instruct",
    "llama-3.2": "meta-llama/Llama-3.2-3B-Instruct (also 1B)",
    "qwen-2.5": "Qwen/Qwen2.5-7B-Instruct (also 0.5B, 1.5B)",
    "qwen-1.5": "Qwen/Qwen1.5-MoE-A2.7B-Chat (the Qwen1.5/Qwen2 ChatML template)",
    "gemma-3": "google/gemma-3-1b-it",
    "phi-3.5": "microsoft/Phi-3.5-mini-instruct",
}


@functools.cache
def load_template(family: str) -> str:
    """The family's template, byte for byte (no newline translation)."""
    if family not in SOURCES:
        raise KeyError(f"no chat template for family {family!r}")
    return resource_path(TEMPLATE_DIR, f"{family}.jinja").read_bytes().decode("utf-8")


LLAMA_3_1 = load_template("llama-3.1")
LLAMA_3_2 = load_template("llama-3.2")
QWEN_2_5 = load_template("qwen-2.5")
QWEN_1_5 = load_template("qwen-1.5")
GEMMA_3 = load_template("gemma-3")
PHI_3_5 = load_template("phi-3.5")
