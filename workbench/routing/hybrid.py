"""The hybrid rule an eval run's decision produces (docs/evals.md, "The decision"):

    {"rules": [{"match": {"tag": "code"}, "target": "openai:gpt-4o-mini"},
               {"match": {"tag": "pii"}, "target": "local:qwen2.5-7b-q4_k_m.gguf"}],
     "default": "local:qwen2.5-7b-q4_k_m.gguf"}

``route`` applies it to a request's tags (the first rule whose tag the request carries wins, else
``default``); ``workbench.evals.decision`` uses it to price the split, the router to route.
``hybrid_rule`` finds the rule in what an eval run leaves: the run's JSON document (``workbench
eval export RUN -o run.json``, or ``--json``), its ``decision`` object, or the rule itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workbench.errors import BadInput


def route(rule: Mapping[str, Any], tags: Sequence[str]) -> str | None:
    """The target a hybrid rule sends a request with ``tags`` to (first matching rule wins)."""
    for entry in rule.get("rules") or []:
        if entry.get("match", {}).get("tag") in tags:
            return str(entry["target"])
    default = rule.get("default")
    return None if default is None else str(default)


def hybrid_rule(document: Mapping[str, Any], *, where: str = "the eval decision") -> (
        dict[str, Any]):
    """The hybrid rule in an eval run's document, its decision or the rule itself, checked:
    BadInput when there is none (the run's targets each met the bar on every tag, or it had no
    tags) or when it is malformed."""
    if not isinstance(document, Mapping):
        raise BadInput(f"{where}: not a JSON object")
    rule: Any = document
    if "decision" in document:  # the run's document
        decision = document.get("decision")
        if not isinstance(decision, Mapping):
            raise BadInput(f"{where}: the run has no decision")
        rule = decision
    if "hybrid" in rule or "choice" in rule:  # a decision
        if rule.get("hybrid") is None:
            raise BadInput(f"{where}: the decision has no hybrid split (one target met the bar "
                           "on every tag, or the suite has no tags): route with the decision's "
                           f"choice ({rule.get('choice') or 'none'}) instead")
        rule = rule["hybrid"]
    if not isinstance(rule, Mapping) or not isinstance(rule.get("rules"), list):
        raise BadInput(f"{where}: no hybrid rule ({{\"rules\": [...], \"default\": ...}}) in it")
    checked = []
    for i, entry in enumerate(rule["rules"], 1):
        match = entry.get("match") if isinstance(entry, Mapping) else None
        tag = match.get("tag") if isinstance(match, Mapping) else None
        target = entry.get("target") if isinstance(entry, Mapping) else None
        if not isinstance(tag, str) or not tag or not isinstance(target, str) or not target:
            raise BadInput(f"{where}: rule {i} must be {{\"match\": {{\"tag\": TAG}}, "
                           "\"target\": TARGET}")
        checked.append({"match": {"tag": tag}, "target": target})
    default = rule.get("default")
    if default is not None and (not isinstance(default, str) or not default):
        raise BadInput(f"{where}: default must be a target or null")
    return {"rules": checked, "default": default}


def targets_of(rule: Mapping[str, Any]) -> list[str]:
    """Every target a hybrid rule names (rules first, then the default), each once."""
    names = [str(entry["target"]) for entry in rule.get("rules") or []]
    if rule.get("default"):
        names.append(str(rule["default"]))
    return list(dict.fromkeys(names))
