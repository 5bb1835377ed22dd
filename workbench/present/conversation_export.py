"""A stored conversation as a file: a readable Markdown transcript or one JSON document.

Shared by ``workbench chats show/export`` and the Chat page's export; the store
(workbench.store.conversations) returns the data, this says it in words.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from workbench.present.numbers import format_ms, format_rate, number
from workbench.store.conversations import INTERRUPTED, Conversation


def export_json(conversation: Conversation) -> str:
    """The whole conversation as one JSON document (metrics and settings included)."""
    return json.dumps(asdict(conversation), indent=2, ensure_ascii=False) + "\n"


def _metrics_line(metrics: dict[str, Any] | None) -> str | None:
    if not metrics:
        return None
    parts = []
    if metrics.get("gen_tokens_per_s") is not None:
        parts.append(format_rate(metrics["gen_tokens_per_s"]))
    if metrics.get("ttft_ms") is not None:
        parts.append(f"TTFT {format_ms(metrics['ttft_ms'])}")
    if metrics.get("completion_tokens") is not None:
        parts.append(f"{number(metrics['completion_tokens'])} tokens")
    if metrics.get("total_ms") is not None:
        parts.append(f"total {format_ms(metrics['total_ms'])}")
    return " · ".join(parts) or None


_FINISH_NOTES = {
    "cancelled": "stopped before the end",
    "length": "cut off at the token limit",
    INTERRUPTED: "interrupted: the model process crashed",
}


def export_markdown(conversation: Conversation) -> str:
    """A readable Markdown transcript: title, model, date, system prompt, turns with metrics."""
    lines = [f"# {conversation.title}", ""]
    if conversation.model_name or conversation.model_path:
        lines.append(f"- Model: {conversation.model_name or conversation.model_path}")
    lines.append(f"- Started: {conversation.created_at.replace('T', ' ')[:16]} UTC")
    lines.append("")
    if conversation.system_prompt:
        lines += ["## System prompt", "", conversation.system_prompt, ""]
    for message in conversation.messages:
        lines += [f"## {'You' if message.role == 'user' else message.role.capitalize()}", ""]
        lines += [message.content or "*(no text)*", ""]
        notes = [text for text in (_metrics_line(message.metrics),
                                   _FINISH_NOTES.get(message.finish_reason or "")) if text]
        if notes:
            lines += [f"*{' · '.join(notes)}*", ""]
    return "\n".join(lines).rstrip() + "\n"
