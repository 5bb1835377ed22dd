"""What the request handlers share: the options, the models, the pool, the request log."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.server.catalog import Catalog
from workbench.server.config import ServerConfig
from workbench.server.models import ModelPool
from workbench.server.routed import ProviderRunner, RouteLog, ServedRouter

log = logging.getLogger("workbench.server")
RECENT_REQUESTS = 200


@dataclass
class RequestRecord:
    """One request, for the log (stderr, the GUI): where it went and how fast it was."""

    at: float  # time.time() when it arrived
    method: str
    path: str
    status: int = 0
    model: str | None = None
    stream: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None  # arrival -> first answer text written
    total_ms: float | None = None
    tokens_per_s: float | None = None  # the model's streaming rate (worker clock)
    finish_reason: str | None = None
    route: str | None = None  # the routed request's reason: "local; pii:email", "cloud; default"
    router: str | None = None  # the routed model id asked for ("auto", "router:NAME")
    error: str | None = None
    started: float = field(default_factory=time.monotonic, repr=False)
    decision: Any = field(default=None, repr=False)  # the RouteDecision (for the route log)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("started")
        data.pop("decision")
        return data

    def line(self) -> str:
        parts = [f"{self.method} {self.path}", str(self.status)]
        if self.model:
            parts.append(self.model)
        if self.route:
            parts.append(f"{self.router or 'routed'}: {self.route}")
        if self.ttft_ms is not None:
            parts.append(f"TTFT {self.ttft_ms:.0f} ms")
        if self.completion_tokens is not None:
            parts.append(f"{self.prompt_tokens or 0}+{self.completion_tokens} tok")
        if self.tokens_per_s:
            parts.append(f"{self.tokens_per_s:.1f} tok/s")
        if self.total_ms is not None:
            parts.append(f"{self.total_ms / 1000:.2f} s")
        if self.error:
            parts.append(self.error[:200])
        return "  ".join(parts)


@dataclass
class ServerState:
    config: ServerConfig
    catalog: Catalog
    pool: ModelPool
    routers: dict[str, ServedRouter] = field(default_factory=dict)  # "auto", "router:NAME"
    providers: ProviderRunner = field(default_factory=ProviderRunner)
    route_log: RouteLog | None = None
    on_record: Callable[[RequestRecord], None] | None = None
    recent: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=RECENT_REQUESTS))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, record: RequestRecord) -> None:
        record.total_ms = record.total_ms if record.total_ms is not None else round(
            (time.monotonic() - record.started) * 1000.0, 1)
        with self._lock:
            self.recent.append(record)
        if (record.decision is not None and self.route_log is not None and record.router
                and record.status == 200):  # answered: its tokens are known
            served = self.routers.get(record.router)
            if served is not None:
                self.route_log.write(served, record.decision,
                                     prompt_tokens=record.prompt_tokens,
                                     completion_tokens=record.completion_tokens)
        if self.on_record is not None:
            try:
                self.on_record(record)
            except Exception:  # a log that fails never fails a request
                log.exception("the request log failed")

    def close(self) -> int:
        """Stop every model and close the routers' targets; how many models were loaded."""
        loaded = self.pool.close()
        for served in self.routers.values():
            served.close()
        return loaded
