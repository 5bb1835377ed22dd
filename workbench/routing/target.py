"""A router as an answer target (``router:NAME``), so that compare and evals can score a policy.

``stream(messages)`` routes the messages (``Router.route``), then streams from the chosen
target. The result is the chosen target's: its spec (``target``), model, provider (so it is
priced as what answered), destination, tokens and timings; its ``label`` stays the router's
(what compare's ratings and an eval run's results are kept under), and its first note says the
route: ``routed: local; pii:email``. Offline mode keeps every request local (the router then
never leaves this machine, so offline runs keep it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from workbench.cancel import CancelToken
from workbench.net.offline import is_offline
from workbench.providers.base import (
    AnswerResult,
    DeltaCallback,
    Message,
    Params,
    StatusCallback,
    Target,
)
from workbench.routing.policy import RouteDecision
from workbench.routing.router import Router

ROUTED_NOTE = "routed: "
RouteCallback = Callable[[RouteDecision, AnswerResult], None]


def route_of(answer: AnswerResult) -> str | None:
    """The route a RouterTarget's answer took (its reason, ``local; pii:email``), or None."""
    for note in answer.notes:
        if note.startswith(ROUTED_NOTE):
            return note[len(ROUTED_NOTE):]
    return None


def kept_local_share(answers: Iterable[AnswerResult]) -> float | None:
    """The share of routed answers that stayed local (None: none was routed)."""
    routes = [r for r in (route_of(a) for a in answers) if r is not None]
    if not routes:
        return None
    return sum(1 for r in routes if r.startswith("local;")) / len(routes)


class RouterTarget(Target):
    """``router`` in front of its targets (``targets``: spec -> built target, one for each of
    ``router.targets()``; closed with this one)."""

    def __init__(self, router: Router, targets: Mapping[str, Target], *, spec: str | None = None,
                 on_route: RouteCallback | None = None) -> None:
        missing = [name for name in router.targets() if name not in targets]
        if missing:
            raise ValueError(f"no built target for {', '.join(missing)}")
        self.router = router
        self.targets = dict(targets)
        self.spec = spec or f"router:{router.name or 'router'}"
        self.label = self.spec
        self.provider = "router"
        self.model = router.name or "router"
        self.on_route = on_route
        self.tags: tuple[str, ...] = ()  # tags for every request (stream(tags=...) adds its own)
        self._lock = threading.Lock()
        self.routed_local = 0
        self.routed_cloud = 0

    @property
    def local_target(self) -> Target:
        return self.targets[self.router.local]

    @property
    def cloud_target(self) -> Target | None:
        return self.targets[self.router.cloud] if self.router.cloud else None

    @property
    def destination(self) -> str:
        cloud = self.cloud_target
        here = self.local_target.destination
        if cloud is None or is_offline():
            return here
        return f"{here} or {cloud.destination}"

    @property
    def leaves_machine(self) -> bool:
        """True when some request may go to another machine (never in offline mode)."""
        if is_offline():
            return False
        return any(t.leaves_machine for t in self.targets.values())

    def stream(self, messages: Sequence[Message], params: Params | None = None,
               on_delta: DeltaCallback | None = None, cancel: CancelToken | None = None,
               on_status: StatusCallback | None = None, *,
               tags: Iterable[str] = ()) -> AnswerResult:
        """Route, then answer on the chosen target (see the module); ``tags``: the request's."""
        decision = self.router.route(list(messages), tags=(*self.tags, *tags),
                                     cloud_allowed=not is_offline())
        chosen = self.targets[decision.target]
        if chosen.leaves_machine and is_offline():  # a rule's own spec: routed by name
            decision = RouteDecision(self.router.local, True,
                                     f"local; offline ({decision.reason})", decision.findings)
            chosen = self.local_target
        with self._lock:
            if decision.local:
                self.routed_local += 1
            else:
                self.routed_cloud += 1
        answer = chosen.stream(messages, params, on_delta, cancel, on_status)
        result = dataclasses.replace(answer, label=self.label,
                                     notes=[ROUTED_NOTE + decision.reason, *answer.notes])
        if self.on_route is not None:
            with contextlib.suppress(Exception):  # a broken listener must not lose the answer
                self.on_route(decision, result)
        return result

    def _stream(self, messages: list[Message], params: Params, delta: DeltaCallback,
                cancel: CancelToken, result: AnswerResult, status: StatusCallback) -> None:
        raise NotImplementedError("RouterTarget.stream routes and delegates")  # pragma: no cover

    def close(self) -> None:
        for target in self.targets.values():
            with contextlib.suppress(Exception):
                target.close()

    def describe(self) -> dict[str, Any]:
        return {**self.router.describe(), "spec": self.spec, "routed_local": self.routed_local,
                "routed_cloud": self.routed_cloud}
