"""Build any target, routers included: ``build_any_target("router:NAME")`` or any other spec.

``workbench.providers.registry.build_target`` builds every other kind; it cannot build a router,
which sits a layer above it (a router's targets are providers' targets), so the places that
build targets for compare and evals call this instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from workbench.errors import WorkbenchError
from workbench.providers.base import Target
from workbench.providers.registry import TargetSpec, build_target, parse_target
from workbench.routing.eval_source import RunLoader
from workbench.routing.router import Router
from workbench.routing.target import RouteCallback, RouterTarget
from workbench.store.settings import AppSettings


def build_router_target(name: str, *, settings: AppSettings | None = None,
                        load_run: RunLoader | None = None, on_route: RouteCallback | None = None,
                        build: Callable[[str], Target] | None = None,
                        **kwargs: Any) -> RouterTarget:
    """Router ``name`` (``routers/NAME.yaml`` or a YAML file's path) with its targets built
    (``build``, else ``build_target`` with ``settings`` and ``kwargs``). BadInput/MissingKey
    as ``build_target`` raises them: a router whose cloud target has no key is not built."""
    router = Router.from_config(name, load_run=load_run, settings=settings)

    def default_build(spec: str) -> Target:
        return build_target(spec, settings=settings, **kwargs)

    make = build or default_build
    built: dict[str, Target] = {}
    try:
        for spec in router.targets():
            built[spec] = make(spec)
    except WorkbenchError:
        for target in built.values():
            with contextlib.suppress(Exception):
                target.close()
        raise
    return RouterTarget(router, built, spec=f"router:{name}", on_route=on_route)


def build_any_target(spec: TargetSpec | str, *, load_run: RunLoader | None = None,
                     on_route: RouteCallback | None = None, **kwargs: Any) -> Target:
    """``build_target(spec, **kwargs)``, or for ``router:NAME`` a RouterTarget whose targets are
    built with the same ``kwargs`` (``settings``, ``timeout_s``, ``chat_format``, ...; a
    ``load`` meant for one local model is not passed on)."""
    parsed = parse_target(spec) if isinstance(spec, str) else spec
    if parsed.kind != "router":
        return build_target(parsed, **kwargs)
    kwargs.pop("load", None)
    return build_router_target(parsed.model, load_run=load_run, on_route=on_route, **kwargs)
