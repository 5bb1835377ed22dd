"""The router: for each request, the local target or a cloud one, and why (docs/serve.md).

The order, first that applies wins:

1. **Sensitive data stays local.** Every string of the request goes through the detector
   (``workbench.routing.sensitive``: e-mail, phone, card, IBAN, SSN, IP, secrets, the user's
   keywords and patterns); any finding keeps it on the local target, whatever the rules and the
   default say: ``local; pii:email,card``. It fails closed: a detector that raises keeps the
   request local (``local; detector failed: ValueError``), and so does a part it cannot read
   (an image, audio, a file: ``local; not inspected: image_url``).
2. **The rules**, in order: prompt length, keywords, regular expressions, tags, and the per-tag
   rules of an eval run's hybrid split. A rule that raises keeps the request local too.
3. **The default** (``local`` or ``cloud``).

Without a cloud target everything is local. ``cloud_allowed=False`` (offline mode) keeps a
request that would have gone to the cloud local, saying so. A decision's target is a target
spec; a rule may name one other than the two (an eval run's split can), and its ``local`` says
whether that one is on this machine (a ``local:`` model or a server on loopback).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.routing.config import read_config
from workbench.routing.eval_source import EvalSource, RunLoader, eval_rules
from workbench.routing.hybrid import targets_of
from workbench.routing.policy import (
    CLOUD,
    LOCAL,
    PolicyRule,
    Request,
    RouteDecision,
    Rule,
    read_request,
)
from workbench.routing.sensitive import BUILTIN_KINDS, Detector, Finding, kinds_of
from workbench.routing.specs import check_spec, on_this_machine
from workbench.store.settings import AppSettings

DetectFunction = Callable[[str], Sequence[Finding]]


class Router:
    """``route(messages, tags=...) -> RouteDecision`` (the order: the module docstring)."""

    def __init__(self, local: str, cloud: str | None = None, *, default: str = LOCAL,
                 rules: Iterable[PolicyRule] = (), keywords: Iterable[str] = (),
                 patterns: Iterable[str] = (), ignore: Iterable[str] = (), name: str = "",
                 detector: DetectFunction | None = None, settings: AppSettings | None = None,
                 verify_local: bool = True) -> None:
        self.name = name
        self.settings = settings
        self.local = check_spec(local, "local")
        if verify_local and not on_this_machine(self.local, settings):
            raise BadInput(f"the router's local target {self.local} does not answer on this "
                           "machine: sensitive requests go there (use local:MODEL.gguf or a "
                           "server on 127.0.0.1)")
        self.cloud = check_spec(cloud, "cloud") if cloud else None
        if default not in (LOCAL, CLOUD):
            default = check_spec(default, "default")
        self.default = default
        numbered: list[PolicyRule] = []
        for i, rule in enumerate(rules, 1):
            if isinstance(rule, Rule) and not rule.name:
                rule = dataclasses.replace(rule, name=f"rule {i}")
            for target in rule.targets():
                if target not in (LOCAL, CLOUD):
                    check_spec(target, "rule's")
            numbered.append(rule)
        self.rules = tuple(numbered)
        self.keywords = tuple(keywords)
        self.patterns = tuple(patterns)
        ignored = set(ignore)
        unknown = ignored - set(BUILTIN_KINDS)
        if unknown:
            raise BadInput(f"cannot ignore {sorted(unknown)[0]!r}: the kinds are "
                           f"{', '.join(BUILTIN_KINDS)}")
        self.kinds = tuple(k for k in BUILTIN_KINDS if k not in ignored)
        self._detect: DetectFunction = detector or Detector(
            keywords=self.keywords, patterns=self.patterns, kinds=self.kinds).first_of_each

    # -- the decision ----------------------------------------------------------------------------
    def route(self, messages: Sequence[Mapping[str, Any]], *, tags: Iterable[str] = (),
              cloud_allowed: bool = True) -> RouteDecision:
        """Where ``messages`` go (see the module). Never raises: a failure keeps them local."""
        try:
            request = read_request(messages, tags)
            findings = kinds_of(self._detect(request.text))
        except Exception as err:  # fail closed: nothing leaves when we could not look
            return self._local(f"detector failed: {type(err).__name__}")
        if findings:
            return self._local("pii:" + ",".join(findings), findings)
        if request.uninspected:
            return self._local("not inspected: " + ",".join(request.uninspected))
        try:
            target, why = self._policy(request)
            return self._resolve(target, why, cloud_allowed)
        except Exception as err:  # a broken rule: local is the safe side
            return self._local(f"rule failed: {type(err).__name__}")

    def _policy(self, request: Request) -> tuple[str, str]:
        for rule in self.rules:
            decided = rule.decide(request)
            if decided is not None:
                return decided
        return self.default, "default"

    def _local(self, why: str, findings: tuple[str, ...] = ()) -> RouteDecision:
        return RouteDecision(self.local, True, f"local; {why}", findings)

    def _resolve(self, target: str, why: str, cloud_allowed: bool) -> RouteDecision:
        if target in (LOCAL, self.local):
            return self._local(why)
        if target == CLOUD:
            if self.cloud is None:
                return self._local(f"no cloud target ({why})")
            target = self.cloud
        local = target != self.cloud and on_this_machine(target, self.settings)
        if local:
            return RouteDecision(target, True, f"local; {why}")
        if self.cloud is None:
            return self._local(f"no cloud target ({why})")
        if not cloud_allowed:
            return self._local(f"offline ({why})")
        return RouteDecision(target, False, f"cloud; {why}")

    # -- what it may route to ------------------------------------------------------------------
    def targets(self) -> list[str]:
        """Every target spec a decision can name: local first, then cloud, then the specs the
        rules and the default name."""
        names = [self.local] + ([self.cloud] if self.cloud else [])
        for rule in self.rules:
            names += [t for t in rule.targets() if t not in (LOCAL, CLOUD)]
        if self.default not in (LOCAL, CLOUD):
            names.append(self.default)
        return list(dict.fromkeys(names))

    def describe(self) -> dict[str, Any]:
        """The configuration as JSON (no secrets in it: keywords and patterns are counted)."""
        return {"name": self.name, "local": self.local, "cloud": self.cloud,
                "default": self.default, "rules": len(self.rules),
                "sensitive": {"kinds": list(self.kinds), "keywords": len(self.keywords),
                              "patterns": len(self.patterns)}}

    # -- building one ----------------------------------------------------------------------------
    @classmethod
    def from_config(cls, source: str | Path, *, load_run: RunLoader | None = None,
                    settings: AppSettings | None = None) -> Router:
        """A named router (``routers/NAME.yaml`` in the data directory) or a YAML file
        (workbench.routing.config; an ``eval: RUN_ID`` rule needs ``load_run``)."""
        config = read_config(source, load_run=load_run)
        return cls(config.local, config.cloud, default=config.default, rules=config.rules,
                   keywords=config.keywords, patterns=config.patterns, ignore=config.ignore,
                   name=config.name, settings=settings)

    @classmethod
    def from_eval_decision(cls, source: EvalSource, *,
                           local: str | None = None, cloud: str | None = None,
                           default: str | None = None, aliases: Mapping[str, str] | None = None,
                           keywords: Iterable[str] = (), patterns: Iterable[str] = (),
                           load_run: RunLoader | None = None, name: str = "",
                           settings: AppSettings | None = None) -> Router:
        """A router that applies an eval run's hybrid split: ``source`` is the run's JSON
        document (a dict or a file), its decision, the hybrid rule itself, or a run id (read
        with ``load_run``). ``local``/``cloud`` default to the split's own targets (the one on
        this machine, the first other); ``default`` to the split's default (``local`` when
        none met the bar). ``aliases`` maps a suite's target labels to target specs."""
        rules, rule_default = eval_rules(source, load_run=load_run, aliases=aliases)
        names = targets_of(rules.rule)
        if local is None:
            local = next((n for n in names if on_this_machine(n, settings)), None)
            if local is None:
                raise BadInput("the eval run's split names no target on this machine: give "
                               "the router a local target for sensitive requests")
        if cloud is None:
            cloud = next((n for n in names if n != local and not on_this_machine(n, settings)),
                         None)
        if default is None:
            default = rule_default or LOCAL
        return cls(local, cloud, default=default, rules=[rules], keywords=keywords,
                   patterns=patterns, name=name, settings=settings)


