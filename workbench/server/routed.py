"""The router behind the server: model ids ``auto`` and ``router:NAME`` (docs/serve.md).

A routed request is decided by ``workbench.routing.Router`` (sensitive data stays local, then
the rules, then the default). Where the decision names a ``local:`` model, the answer comes from
the server's own model pool, like any request for that model; any other target (the cloud one,
or a server on loopback) is a provider target, answered in a thread of its own. Either way the
answer says where it went (the ``x-workbench-route`` header, the ``workbench_route`` field) and
the decision is logged in SQLite (``route_log``: never the prompt) with its measured tokens,
its cost and what it would have cost on the cloud target.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.costs.pricing import PricingTable
from workbench.engine.client import ChatResult
from workbench.engine.metrics import AnswerMetrics
from workbench.engine.settings import Sampling
from workbench.errors import BadInput, WorkbenchError
from workbench.providers.base import AnswerResult, Params, Target
from workbench.providers.local import LORA_SEP, lora_suffix
from workbench.routing.policy import RouteDecision
from workbench.routing.router import Router
from workbench.server.catalog import Catalog, ServedModel, explicit_model
from workbench.server.errors import APIError
from workbench.server.generation import Generation
from workbench.store.settings import AppSettings

log = logging.getLogger("workbench.server")

AUTO = "auto"
ROUTER_PREFIX = "router:"
CLOUD_MAX_TOKENS = 4096  # a routed request that set no max_tokens: the cloud answer's cap
MAX_PROVIDER_REQUESTS = 16  # routed requests answered by provider targets at once (then 429)


def header_value(text: str) -> str:
    """``text`` as an HTTP header value: printable ASCII only (others escaped), one line."""
    safe = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(ch if 32 <= ord(ch) < 127 else " " for ch in safe)[:500]


@dataclass
class ServedRouter:
    """One routed model id: its router, the pool models and provider targets it routes to."""

    id: str
    router: Router
    models: dict[str, ServedModel]  # local:PATH spec -> the served model (the pool answers)
    targets: dict[str, Target]  # any other spec -> its provider target
    description: str = ""

    @property
    def cloud(self) -> Target | None:
        spec = self.router.cloud
        return self.targets.get(spec) if spec else None

    @property
    def placeholder(self) -> ServedModel:
        """What a routed request's ``Ask`` names before the decision (its id is the router's)."""
        return ServedModel(id=self.id, path="", files=(), library_id=self.id, name=self.id,
                           source="router", context_length=None, created=0)

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": 0, "owned_by": "workbench",
                "workbench": {"router": self.router.describe(),
                              "description": self.description}}

    def close(self) -> None:
        for target in self.targets.values():
            with contextlib.suppress(Exception):
                target.close()


def _local_path(spec: str) -> str | None:
    """The file of a ``local:PATH`` spec with its LoRA adapters (``PATH+lora:ADAPTER@SCALE``,
    as ``--model`` takes it), or None for any other spec."""
    from workbench.providers.registry import parse_target

    parsed = parse_target(spec)
    if parsed.kind != "local":
        return None
    loras = [(os.path.expanduser(path), scale) for path, scale in parsed.loras]
    return os.path.expanduser(parsed.model) + lora_suffix(loras)


def _served(catalog: Catalog, path: str) -> ServedModel:
    """The catalog's model for ``path`` (with its adapters), added as an explicit one when it
    is not served yet."""
    if LORA_SEP in path:
        wanted = explicit_model(path, None)
        for model in catalog.cached():
            if model.key == wanted.key:
                return model
        return catalog.add(wanted)
    real = os.path.realpath(path)
    for model in catalog.cached():
        if os.path.realpath(model.path) == real and not model.loras:
            return model
    return catalog.add(explicit_model(path, None))


def _build(served_id: str, router: Router, catalog: Catalog, settings: AppSettings,
           description: str = "") -> ServedRouter:
    from workbench.providers.registry import build_target

    models: dict[str, ServedModel] = {}
    targets: dict[str, Target] = {}
    try:
        for spec in router.targets():
            path = _local_path(spec)
            if path is not None:
                models[spec] = _served(catalog, path)
            else:
                targets[spec] = build_target(spec, settings=settings)
    except WorkbenchError:
        for target in targets.values():
            with contextlib.suppress(Exception):
                target.close()
        raise
    return ServedRouter(served_id, router, models, targets, description)


def build_routers(*, cloud: str | None, route_default: str, router: str | None,
                  local_models: list[str], catalog: Catalog,
                  settings: AppSettings | None = None) -> dict[str, ServedRouter]:
    """The routed ids: ``auto`` for ``--cloud`` (the first ``--model`` answers locally) and
    ``router:NAME`` for ``--router`` (also ``auto`` when there is no ``--cloud``)."""
    settings = settings or AppSettings()
    routers: dict[str, ServedRouter] = {}
    if cloud:
        if not local_models or not catalog.explicit:
            raise BadInput("--cloud needs a --model: the local model that answers sensitive "
                           "requests (and, by --route-default local, the rest)")
        first = catalog.explicit[0]  # the first --model (a file or a library id)
        local = first.path + lora_suffix(first.loras)
        routers[AUTO] = _build(AUTO, Router(f"local:{local}", cloud, default=route_default,
                                            name=AUTO, settings=settings),
                               catalog, settings, f"local {first.id} or {cloud}")
    if router:
        from workbench.evals.runner import run_document

        named = Router.from_config(router, load_run=run_document, settings=settings)
        served = _build(f"{ROUTER_PREFIX}{named.name}", named, catalog, settings)
        routers[served.id] = served
        routers.setdefault(AUTO, served)
    return routers


# -- a routed answer from a provider target -----------------------------------------------------
def params_for(sampling: Sampling, *, max_tokens_given: bool) -> Params:
    """The provider request for ``sampling`` (llama.cpp's own knobs, top_k, min_p and the
    repeat penalty, have no API equivalent and are not sent)."""
    return Params(max_tokens=sampling.max_tokens if max_tokens_given else CLOUD_MAX_TOKENS,
                  temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed,
                  stop=tuple(sampling.stop),
                  json_schema=json.loads(sampling.json_schema) if sampling.json_schema
                  else None)


def chat_result(answer: AnswerResult) -> ChatResult:
    """A provider's answer in the shape the pool's answers have (its measured figures)."""
    prompt = answer.prompt_tokens or 0
    completion = answer.completion_tokens or 0
    finish = answer.finish_reason if answer.finish_reason in ("stop", "length",
                                                               "cancelled") else "stop"
    metrics = AnswerMetrics(
        ttft_ms=answer.ttft_ms, prompt_tokens=prompt,
        prompt_eval_tokens=prompt - (answer.cached_prompt_tokens or 0), prompt_ms=0.0,
        prompt_tokens_per_s=None, completion_tokens=completion, gen_eval_tokens=completion,
        gen_ms=0.0, gen_tokens_per_s=answer.gen_tokens_per_s, total_ms=answer.total_ms or 0.0,
        stream_tokens_per_s=answer.gen_tokens_per_s)
    return ChatResult(answer.text, finish, metrics)


class ProviderRunner:
    """Answers routed requests on provider targets, each in its own thread (bounded)."""

    def __init__(self, limit: int = MAX_PROVIDER_REQUESTS) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self.limit = limit

    def submit(self, target: Target, messages: list[dict[str, str]], params: Params,
               sink: Generation) -> None:
        if not self._slots.acquire(blocking=False):
            raise APIError(429, f"{self.limit} routed requests are being answered by other "
                           "targets already; retry in a few seconds", code="queue_full",
                           headers={"Retry-After": "5"})
        thread = threading.Thread(target=self._answer, args=(target, messages, params, sink),
                                  name=f"routed to {target.spec}", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            self._slots.release()
            raise

    def _answer(self, target: Target, messages: list[dict[str, str]], params: Params,
                sink: Generation) -> None:
        try:
            answer = target.stream(messages, params,
                                   on_delta=lambda text, _tokens: sink.delta(text, 1),
                                   cancel=sink.cancel)
            if answer.error and answer.finish_reason != "cancelled":
                sink.fail(APIError(502, f"the routed target {target.spec} failed: "
                                   f"{answer.error}", code="upstream_error"))
            else:
                sink.done(chat_result(answer), None)
        except Exception as err:  # never the thread's end without an answer
            log.exception("routed answer on %s failed", target.spec)
            sink.fail(APIError(502, f"the routed target {target.spec} failed: "
                               f"{type(err).__name__}: {err}", code="upstream_error"))
        finally:
            self._slots.release()


# -- the log ------------------------------------------------------------------------------------
@dataclass
class RouteLog:
    """Writes each routed request's decision to ``route_log`` (workbench.routing.log)."""

    pricing: PricingTable
    database: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def write(self, served: ServedRouter, decision: RouteDecision, *,
              prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """Store one decision; a log that fails never fails the request (it says so)."""
        from workbench.routing import log as route_log
        from workbench.store import db

        answered = served.targets.get(decision.target)
        cost = None
        if answered is not None and not decision.local:
            cost = route_log.would_cost(self.pricing, answered.provider, answered.model,
                                        prompt_tokens, completion_tokens)
        cloud = served.cloud
        cloud_cost = None
        if cloud is not None:
            cloud_cost = cost if decision.target == cloud.spec else route_log.would_cost(
                self.pricing, cloud.provider, cloud.model, prompt_tokens, completion_tokens)
        try:
            with self._lock, contextlib.closing(db.connect(self.database)) as connection:
                route_log.record(connection, router=served.id, decision=decision,
                                 prompt_tokens=prompt_tokens,
                                 completion_tokens=completion_tokens, cost_usd=cost,
                                 cloud_target=cloud.spec if cloud is not None else None,
                                 cloud_cost_usd=cloud_cost)
        except Exception as err:
            log.warning("the route log could not be written: %s", err)


def decide(served: ServedRouter, messages: list[dict[str, str]], tags: tuple[str, ...],
           ) -> RouteDecision:
    """The decision for one request (offline mode keeps it local)."""
    from workbench.net.offline import is_offline

    return served.router.route(messages, tags=tags, cloud_allowed=not is_offline())
