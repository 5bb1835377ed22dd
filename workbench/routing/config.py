"""Named router configurations: ``routers/NAME.yaml`` in the Workbench data directory.

    # routers/private.yaml
    description: the local model for everything private or short; long ones to the API
    local: local:~/models/qwen2.5-7b-instruct-q4_k_m.gguf    # required: sensitive data goes here
    cloud: openai:gpt-4o-mini                               # optional: without it all is local
    default: local                                          # local | cloud
    sensitive:                                              # on top of the built-in detectors
      keywords: [Project Falcon, internal only]
      patterns: ['ACME-\\d{6}']
      ignore: [ip]                                          # built-in kinds not to detect
    rules:                                                  # in order, the first match wins
      - match: {min_tokens: 2000}
        target: cloud
      - name: maths
        match: {keywords: [prove, derive]}
        target: cloud
      - match: {regex: '```'}
        target: local
      - match: {tags: [code]}
        target: cloud
      - eval: 12                  # an eval run's hybrid split: a run id or its JSON document
        aliases: {qwen: local:~/models/qwen.gguf}    # suite labels -> target specs (optional)

Unknown keys are refused (a typo must not silently drop a rule). docs/serve.md, "The router".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench import paths
from workbench.errors import BadInput
from workbench.routing.eval_source import RunLoader, eval_rules
from workbench.routing.policy import CLOUD, LOCAL, Match, PolicyRule, Rule

ROUTERS_DIR = "routers"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TOP_KEYS = {"description", "local", "cloud", "default", "sensitive", "rules"}
_SENSITIVE_KEYS = {"keywords", "patterns", "ignore"}
_MATCH_KEYS = {"min_tokens", "max_tokens", "keywords", "regex", "tags", "tag"}


@dataclass
class RouterConfig:
    """A router configuration as read (``Router.from_config`` builds the router)."""

    name: str
    local: str
    cloud: str | None = None
    default: str = LOCAL
    description: str = ""
    rules: list[PolicyRule] = field(default_factory=list)
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    path: Path | None = None


def routers_dir() -> Path:
    """Where named routers live (created on demand)."""
    folder = paths.data_dir() / ROUTERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def is_name(text: str) -> bool:
    return bool(_NAME.fullmatch(text)) and not text.endswith((".yaml", ".yml"))


def config_path(source: str | Path) -> Path:
    """The file of router ``source``: a name (``routers/NAME.yaml``) or a path to a YAML file."""
    if isinstance(source, str) and is_name(source):
        folder = routers_dir()
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{source}{suffix}"
            if candidate.is_file():
                return candidate
        known = ", ".join(list_routers()) or "none yet"
        raise BadInput(f"no router named {source!r} (known: {known}); write "
                       f"{folder / (source + '.yaml')} (docs/serve.md, \"The router\")")
    path = Path(source).expanduser()
    if not path.is_file():
        raise BadInput(f"no such router configuration: {path}")
    return path


def list_routers() -> list[str]:
    """The names of the routers in the data directory."""
    folder = paths.data_dir() / ROUTERS_DIR
    if not folder.is_dir():
        return []
    names = {p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()}
    return sorted(n for n in names if _NAME.fullmatch(n))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BadInput(f"{where} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(data) - known, key=str)
    if extra:
        raise BadInput(f"{where}: unknown key {extra[0]!r} (known: {', '.join(sorted(known))})")


def _target(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{where} must be local, cloud or a target spec")
    return value.strip()


def _rule(entry: Any, i: int, where: str, load_run: RunLoader | None,
          base_dir: Path) -> PolicyRule:
    here = f"{where}: rule {i}"
    if not isinstance(entry, Mapping):
        raise BadInput(f"{here} must be a mapping (match + target, or eval)")
    if "eval" in entry:
        _unknown(entry, {"eval", "aliases"}, here)
        aliases = entry.get("aliases") or {}
        if not isinstance(aliases, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
            raise BadInput(f"{here}: aliases must map suite labels to target specs")
        source = entry["eval"]
        if not isinstance(source, int | str) or isinstance(source, bool):
            raise BadInput(f"{here}: eval is a run number or a JSON document's path")
        rules, _default = eval_rules(source, load_run=load_run, aliases=dict(aliases),
                                     base_dir=base_dir)
        return rules
    _unknown(entry, {"name", "match", "target"}, here)
    match = entry.get("match")
    if not isinstance(match, Mapping):
        raise BadInput(f"{here}: match must be a mapping ({', '.join(sorted(_MATCH_KEYS))})")
    _unknown(match, _MATCH_KEYS, f"{here}: match")
    regex = match.get("regex")
    if regex is not None and not isinstance(regex, str):
        raise BadInput(f"{here}: regex must be a string")
    name = entry.get("name") or ""
    if not isinstance(name, str):
        raise BadInput(f"{here}: name must be a string")
    try:
        condition = Match(min_tokens=match.get("min_tokens"),
                          max_tokens=match.get("max_tokens"),
                          keywords=_strings(match.get("keywords"), f"{here}: keywords"),
                          regex=regex,
                          tags=_strings(match.get("tags"), f"{here}: tags")
                          + _strings(match.get("tag"), f"{here}: tag"))
    except BadInput as err:
        raise BadInput(f"{here}: {err}") from None
    return Rule(condition, _target(entry.get("target"), f"{here}: target"), name.strip())


def parse_config(data: Any, *, name: str, where: str, load_run: RunLoader | None = None,
                 base_dir: Path | None = None) -> RouterConfig:
    """A configuration from its parsed YAML (see the module)."""
    if not isinstance(data, Mapping):
        raise BadInput(f"{where}: a router configuration is a mapping (local, cloud, default, "
                       "sensitive, rules)")
    _unknown(data, _TOP_KEYS, where)
    if "local" not in data:
        raise BadInput(f"{where}: local is required (the target that answers sensitive "
                       "requests, e.g. local:model.gguf)")
    cloud = data.get("cloud")
    default = data.get("default", LOCAL)
    if default not in (LOCAL, CLOUD):
        raise BadInput(f"{where}: default must be local or cloud, not {default!r}")
    sensitive = data.get("sensitive") or {}
    if not isinstance(sensitive, Mapping):
        raise BadInput(f"{where}: sensitive must be a mapping (keywords, patterns, ignore)")
    _unknown(sensitive, _SENSITIVE_KEYS, f"{where}: sensitive")
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        raise BadInput(f"{where}: rules must be a list")
    description = data.get("description") or ""
    return RouterConfig(
        name=name, local=_target(data["local"], f"{where}: local"),
        cloud=_target(cloud, f"{where}: cloud") if cloud is not None else None,
        default=default, description=str(description),
        rules=[_rule(entry, i, where, load_run, base_dir or Path.cwd())
               for i, entry in enumerate(rules, 1)],
        keywords=_strings(sensitive.get("keywords"), f"{where}: sensitive.keywords"),
        patterns=_strings(sensitive.get("patterns"), f"{where}: sensitive.patterns"),
        ignore=_strings(sensitive.get("ignore"), f"{where}: sensitive.ignore"))


def read_config(source: str | Path, *, load_run: RunLoader | None = None) -> RouterConfig:
    """Router ``source`` (a name or a YAML file's path), read and checked."""
    path = config_path(source)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read {path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise BadInput(f"{path} is not valid YAML{line}") from None
    config = parse_config(data, name=path.stem, where=path.name, load_run=load_run,
                          base_dir=path.parent)
    config.path = path
    return config
