"""The router hook: model ids "auto" and "router:NAME" (workbench.routing)."""

from __future__ import annotations

from typing import Any

from workbench.errors import BadInput


def load_router(spec: str) -> Any:
    raise BadInput("routing is not available yet")
