"""Route decisions in SQLite (the ``route_log`` table) and what they add up to.

One row per routed request: when, which router, the target and whether it stayed on this
machine, the reason (``local; pii:email``: the kinds found, never the data), the measured prompt
and completion tokens, what the answer cost, and what it would have cost on the router's cloud
target. The prompt and the answer are never stored.

``stats`` gives the split and the saving: ``cloud_only_cost_usd`` is what sending every request
to the cloud target would have cost (each request's measured tokens x the cloud target's price in
the pricing table; a request the cloud target answered counts its own cost), ``cost_usd`` what
was spent (cloud answers' cost, local answers' measured energy where it was measured, else
nothing), ``saved_usd`` the difference over the requests that could be priced (``priced``; a
request without token counts or without a cloud price is left out of the saving and counted in
``unpriced``). Local tokens are counted by the local model's tokenizer: the cloud target's own
would count the same text a little differently.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from workbench.costs.answer_cost import api_cost
from workbench.costs.pricing import PricingTable
from workbench.present.numbers import money
from workbench.providers.base import AnswerResult, Target
from workbench.routing.policy import RouteDecision


def would_cost(pricing: PricingTable, provider: str, model: str, prompt_tokens: int | None,
               completion_tokens: int | None) -> float | None:
    """USD for these tokens at ``provider``/``model``'s price, or None (no tokens, no price:
    never a made-up zero)."""
    if prompt_tokens is None or completion_tokens is None:
        return None
    price = pricing.lookup(provider, model)
    if price is None:
        return None
    return api_cost(price, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens).usd


def record(connection: sqlite3.Connection, *, router: str, decision: RouteDecision,
           prompt_tokens: int | None = None, completion_tokens: int | None = None,
           cost_usd: float | None = None, cloud_target: str | None = None,
           cloud_cost_usd: float | None = None) -> int:
    """Store one decision (committed at once); its row id."""
    with connection:
        cursor = connection.execute(
            "INSERT INTO route_log (router, target, local, reason, findings, prompt_tokens, "
            "completion_tokens, cost_usd, cloud_target, cloud_cost_usd) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (router, decision.target, int(decision.local), decision.reason,
             ",".join(decision.findings), prompt_tokens, completion_tokens, cost_usd,
             cloud_target, cloud_cost_usd))
    return int(cursor.lastrowid or 0)


def record_answer(connection: sqlite3.Connection, *, router: str, decision: RouteDecision,
                  answer: AnswerResult, cloud: Target | None, pricing: PricingTable) -> int:
    """Store a decision with its answer's measured tokens and cost (``answer.cost_usd`` when
    priced, else its tokens at its own price for a cloud answer) and the cost the cloud
    target would have had (``cloud``: the router's cloud target, None when it has none)."""
    prompt, completion = answer.prompt_tokens, answer.completion_tokens
    cost = answer.cost_usd
    if cost is None and not decision.local:
        cost = would_cost(pricing, answer.provider, answer.model, prompt, completion)
    cloud_cost = None
    if cloud is not None:
        if decision.target == cloud.spec and cost is not None:
            cloud_cost = cost
        else:
            cloud_cost = would_cost(pricing, cloud.provider, cloud.model, prompt, completion)
    return record(connection, router=router, decision=decision, prompt_tokens=prompt,
                  completion_tokens=completion, cost_usd=cost,
                  cloud_target=cloud.spec if cloud is not None else None,
                  cloud_cost_usd=cloud_cost)


@dataclass(frozen=True)
class RouteStats:
    """The split and the saving (see the module)."""

    total: int
    local_share: float | None  # None: no request yet
    by_reason: dict[str, int]
    cost_usd: float
    cloud_only_cost_usd: float | None  # None: no request could be priced on the cloud target
    saved_usd: float | None
    local: int = 0
    cloud: int = 0
    priced: int = 0  # requests in the saving
    unpriced: int = 0
    by_target: dict[str, int] = field(default_factory=dict)
    since: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The figures in sentences (``workbench serve --stats``, the Server page)."""
        if not self.total:
            return ["No routed requests yet."]
        share = f"{(self.local_share or 0.0) * 100:.0f}%"
        lines = [f"{share} kept local: {self.local} of {self.total} requests "
                 f"({self.cloud} to the cloud)."]
        if self.cloud_only_cost_usd is not None and self.saved_usd is not None:
            left = f"; {self.unpriced} could not be priced" if self.unpriced else ""
            lines.append(f"Spent {money(self.cost_usd)}; everything on the cloud target would "
                         f"have cost {money(self.cloud_only_cost_usd)}: "
                         f"{money(self.saved_usd)} saved (over {self.priced} requests{left}).")
        else:
            lines.append(f"Spent {money(self.cost_usd)}; the saving is unknown (no cloud "
                         "target, or no measured tokens and price for it).")
        for reason, count in sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {count:>6}  {reason}")
        return lines


def _since_text(since: str | datetime | None) -> str | None:
    if since is None or isinstance(since, str):
        return since
    moment = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _where(since: str | None, router: str | None) -> tuple[str, list[Any]]:
    clauses, values = [], []
    if since is not None:
        clauses.append("created_at >= ?")
        values.append(since)
    if router is not None:
        clauses.append("router = ?")
        values.append(router)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), values


def stats(connection: sqlite3.Connection, since: str | datetime | None = None, *,
          router: str | None = None) -> RouteStats:
    """The decisions since ``since`` (an ISO time in UTC, or a datetime), of one ``router``
    or all."""
    since_text = _since_text(since)
    where, values = _where(since_text, router)
    row = connection.execute(
        "SELECT COUNT(*), COALESCE(SUM(local), 0), COALESCE(SUM(cost_usd), 0.0), "
        "COUNT(cloud_cost_usd), SUM(cloud_cost_usd), "
        "SUM(CASE WHEN cloud_cost_usd IS NULL THEN NULL "
        "ELSE cloud_cost_usd - COALESCE(cost_usd, 0.0) END) "
        f"FROM route_log{where}", values).fetchone()
    total, local, spent, priced, cloud_only, saved = (row[0], row[1], row[2], row[3], row[4],
                                                      row[5])
    by_reason = {r[0]: r[1] for r in connection.execute(
        f"SELECT reason, COUNT(*) FROM route_log{where} GROUP BY reason", values)}
    by_target = {r[0]: r[1] for r in connection.execute(
        f"SELECT target, COUNT(*) FROM route_log{where} GROUP BY target", values)}
    return RouteStats(
        total=total, local_share=local / total if total else None, by_reason=by_reason,
        cost_usd=float(spent), cloud_only_cost_usd=float(cloud_only) if priced else None,
        saved_usd=float(saved) if priced else None, local=local, cloud=total - local,
        priced=priced, unpriced=total - priced, by_target=by_target, since=since_text)


def recent(connection: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """The latest decisions, newest first (for a live log)."""
    rows: Sequence[sqlite3.Row] = connection.execute(
        "SELECT created_at, router, target, local, reason, findings, prompt_tokens, "
        "completion_tokens, cost_usd, cloud_cost_usd FROM route_log ORDER BY id DESC LIMIT ?",
        (limit,)).fetchall()
    return [{"created_at": r[0], "router": r[1], "target": r[2], "local": bool(r[3]),
             "reason": r[4], "findings": [f for f in (r[5] or "").split(",") if f],
             "prompt_tokens": r[6], "completion_tokens": r[7], "cost_usd": r[8],
             "cloud_cost_usd": r[9]} for r in rows]
