"""The pieces of a routing policy: what a request looks like to it, its rules, its decision.

A request is its text (every string of every message: content, content parts, tool calls and
their arguments), an estimated token count (characters / 4, rounded up: the usual rule of thumb
for English with a BPE tokenizer; no tokenizer is loaded to route) and the tags its client gave.
Parts that cannot be read as text (images, audio, files) are listed as *uninspected*: the router
keeps such a request local.

A ``Rule`` matches on estimated tokens (``min_tokens``: at least, ``max_tokens``: at most),
keywords (any of them, case-insensitive, whole words), a regular expression, or tags (any of
them); every condition it has must hold. ``EvalRules`` are the per-tag rules of an eval run's
hybrid split (``workbench.routing.hybrid``). A rule's target is ``local``, ``cloud`` or a target
spec.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workbench.errors import BadInput
from workbench.routing.hybrid import route as hybrid_route

LOCAL, CLOUD = "local", "cloud"
CHARS_PER_TOKEN = 4
MEDIA_PARTS = frozenset({"image", "image_url", "input_image", "input_audio", "audio", "file",
                         "input_file", "document", "video", "video_url"})
_SKIPPED_KEYS = frozenset({"role", "type", "id", "tool_call_id", "cache_control"})


@dataclass(frozen=True)
class RouteDecision:
    """Where one request goes and why: ``target`` (a target spec), ``local`` (it stays on this
    machine), ``reason`` (e.g. ``local; pii:email,card``), ``findings`` (the kinds of sensitive
    data found: never the data)."""

    target: str
    local: bool
    reason: str
    findings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "local": self.local, "reason": self.reason,
                "findings": list(self.findings)}


@dataclass(frozen=True)
class Request:
    """A request as the policy sees it."""

    text: str
    tokens: int
    tags: tuple[str, ...] = ()
    uninspected: tuple[str, ...] = ()  # part types that could not be read as text


def estimate_tokens(text: str) -> int:
    """Characters / 4, rounded up (documented in docs/serve.md)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _strings(value: Any, out: list[str], uninspected: list[str]) -> None:
    if isinstance(value, str):
        if value:
            out.append(value)
    elif isinstance(value, Mapping):
        kind = value.get("type")
        if isinstance(kind, str) and kind in MEDIA_PARTS:
            uninspected.append(kind)
            return
        for key, item in value.items():
            if key not in _SKIPPED_KEYS:
                _strings(item, out, uninspected)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, out, uninspected)
    elif value is not None and not isinstance(value, bool | int | float):
        out.append(json.dumps(value, default=str))


def read_request(messages: Sequence[Mapping[str, Any]], tags: Iterable[str] = ()) -> Request:
    """The text of ``messages`` (every string in them but roles and ids), its estimated
    tokens, the tags and the parts that are not text."""
    parts: list[str] = []
    uninspected: list[str] = []
    for message in messages:
        _strings(message, parts, uninspected)
    text = "\n".join(parts)
    return Request(text, estimate_tokens(text), parse_tags(tags),
                   tuple(dict.fromkeys(uninspected)))


def parse_tags(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Tags from a header value (``code, pii``) or a list: stripped, empty ones dropped, each
    once, in order."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    tags = [str(item).strip() for item in items if isinstance(item, str) and item.strip()]
    return tuple(dict.fromkeys(tags))


def _keyword_regex(keywords: Sequence[str]) -> re.Pattern[str]:
    parts = []
    for word in sorted(keywords, key=len, reverse=True):
        head = r"(?<!\w)" if word[0].isalnum() or word[0] == "_" else ""
        tail = r"(?!\w)" if word[-1].isalnum() or word[-1] == "_" else ""
        parts.append(head + re.escape(word) + tail)
    return re.compile("|".join(parts), re.IGNORECASE)


@dataclass(frozen=True)
class Match:
    """The conditions of a rule; every one given must hold."""

    min_tokens: int | None = None
    max_tokens: int | None = None
    keywords: tuple[str, ...] = ()
    regex: str | None = None
    tags: tuple[str, ...] = ()
    _keywords: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("min_tokens", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise BadInput(f"{name} must be a whole number >= 0, not {value!r}")
        keywords = tuple(k.strip() for k in self.keywords if isinstance(k, str) and k.strip())
        if len(keywords) != len(self.keywords):
            raise BadInput("keywords must be non-empty strings")
        object.__setattr__(self, "keywords", keywords)
        object.__setattr__(self, "tags", parse_tags(self.tags))
        if keywords:
            object.__setattr__(self, "_keywords", _keyword_regex(keywords))
        if self.regex is not None:
            if not isinstance(self.regex, str) or not self.regex:
                raise BadInput("regex must be a non-empty string")
            try:
                object.__setattr__(self, "_regex", re.compile(self.regex))
            except re.error as err:
                raise BadInput(f"the rule's regex {self.regex!r} is not valid: {err}") from None
        if not self.conditions():
            raise BadInput("a rule's match needs a condition: min_tokens, max_tokens, keywords, "
                           "regex or tags")

    def conditions(self) -> list[str]:
        """The conditions in words, for the reason (no prompt text in them)."""
        said = []
        if self.min_tokens is not None:
            said.append(f"tokens >= {self.min_tokens}")
        if self.max_tokens is not None:
            said.append(f"tokens <= {self.max_tokens}")
        if self.keywords:
            said.append("keyword " + "|".join(self.keywords))
        if self.regex is not None:
            said.append("regex")
        if self.tags:
            said.append("tag " + "|".join(self.tags))
        return said

    def matches(self, request: Request) -> bool:
        if self.min_tokens is not None and request.tokens < self.min_tokens:
            return False
        if self.max_tokens is not None and request.tokens > self.max_tokens:
            return False
        if self.tags and not set(self.tags) & set(request.tags):
            return False
        if self._keywords is not None and not self._keywords.search(request.text):
            return False
        return not (self._regex is not None and not self._regex.search(request.text))


class PolicyRule(Protocol):
    """A rule of the policy: the target it sends ``request`` to and why, or None."""

    def decide(self, request: Request) -> tuple[str, str] | None: ...

    def targets(self) -> list[str]: ...


@dataclass(frozen=True)
class Rule:
    """``match`` -> ``target`` (``local``, ``cloud`` or a target spec)."""

    match: Match
    target: str
    name: str = ""  # what the reason calls it; "rule N" when empty

    def decide(self, request: Request) -> tuple[str, str] | None:
        if not self.match.matches(request):
            return None
        return self.target, f"{self.name}: {' and '.join(self.match.conditions())}"

    def targets(self) -> list[str]:
        return [self.target]


@dataclass(frozen=True)
class EvalRules:
    """The per-tag rules of an eval run's hybrid split (its default is not one of them: the
    router's own default, which ``Router.from_eval_decision`` sets from it, takes the rest)."""

    rule: Mapping[str, Any]  # {"rules": [...], "default": ...} (hybrid.hybrid_rule checked it)
    source: str  # "eval run 12", "run.json"

    def decide(self, request: Request) -> tuple[str, str] | None:
        target = hybrid_route({"rules": self.rule.get("rules") or []}, request.tags)
        if target is None:
            return None
        tag = next(entry["match"]["tag"] for entry in self.rule["rules"]
                   if entry["match"]["tag"] in request.tags)
        return target, f"tag {tag} ({self.source})"

    def targets(self) -> list[str]:
        return [str(entry["target"]) for entry in self.rule.get("rules") or []]
