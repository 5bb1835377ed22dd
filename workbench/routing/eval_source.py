"""The per-tag rules of an eval run's hybrid split, from wherever the run left them: its JSON
document (a dict or a file: ``workbench eval export RUN -o run.json``), its decision, the rule
itself, or a run id read through a loader the caller passes (the evals layer sits above this
one, so the router cannot read a run by itself)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.providers.registry import parse_target
from workbench.routing.hybrid import hybrid_rule
from workbench.routing.policy import EvalRules

# An eval run's JSON document (or its decision, or the hybrid rule) by run id, e.g. the
# server's: ``lambda run_id: build_document(...)`` from workbench.evals.
RunLoader = Callable[[int], Mapping[str, Any]]
EvalSource = Mapping[str, Any] | str | Path | int


def eval_rules(source: EvalSource, *, load_run: RunLoader | None = None,
               aliases: Mapping[str, str] | None = None,
               base_dir: Path | None = None) -> tuple[EvalRules, str | None]:
    """The split's rules and its default (None: no target met the bar overall). ``aliases``
    maps a suite's target labels to target specs; a relative file name is read from
    ``base_dir``."""
    if isinstance(source, bool):
        raise BadInput("an eval run is a run number or a JSON document")
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        run_id = int(source)
        where = f"eval run {run_id}"
        if load_run is None:
            raise BadInput(f"{where}: reading a run from the database needs the evals layer's "
                           f"loader; or export it (`workbench eval export {run_id} -o "
                           f"run{run_id}.json`) and name the file")
        document: Mapping[str, Any] = load_run(run_id)
    elif isinstance(source, str | Path):
        path = Path(source).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        where = path.name
        document = read_json(path)
    elif isinstance(source, Mapping):
        where, document = "the eval decision", source
    else:
        raise BadInput(f"an eval run is a run number or a JSON document, not {source!r}")
    rule = hybrid_rule(document, where=where)
    mapping = dict(aliases or {})
    for entry in rule["rules"]:
        entry["target"] = _spec_for(entry["target"], mapping, where)
    default = rule.get("default")
    if default is not None:
        rule["default"] = default = _spec_for(default, mapping, where)
    return EvalRules(rule, where), default


def _spec_for(name: str, aliases: Mapping[str, str], where: str) -> str:
    spec = aliases.get(name, name)
    try:
        parse_target(spec)
    except BadInput:
        raise BadInput(f"{where}: {name!r} is a suite's label, not a target spec: map it to one "
                       f"with aliases ({name}: local:model.gguf)") from None
    return spec


def read_json(path: Path) -> Mapping[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"no such eval document: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise BadInput(f"{path} is not JSON (line {err.lineno})") from None
    if not isinstance(document, dict):
        raise BadInput(f"{path}: not a JSON object")
    return document
