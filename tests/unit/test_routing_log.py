"""Route decisions in SQLite and their statistics: the share kept local, the reasons, what was
spent and what sending everything to the cloud target would have cost, from measured tokens and
the shipped pricing table (gpt-4o-mini: $0.15 in / $0.60 out per 1M tokens). No prompt text is
ever stored."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from workbench.costs.pricing import load_pricing
from workbench.providers.base import AnswerResult
from workbench.providers.openai_compat import OpenAICompatTarget
from workbench.routing import log
from workbench.routing.policy import RouteDecision
from workbench.routing.router import Router
from workbench.store import db

LOCAL = "local:/models/qwen.gguf"
CLOUD = "openai:gpt-4o-mini"
IN, OUT = 0.15 / 1e6, 0.60 / 1e6  # USD per token


@pytest.fixture
def connection(tmp_path: Path):
    with contextlib.closing(db.connect(tmp_path / "w.sqlite3")) as conn:
        yield conn


@pytest.fixture
def cloud() -> OpenAICompatTarget:  # never asked anything: only its spec, provider and model
    return OpenAICompatTarget(spec=CLOUD, model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1")


def answer(spec: str, *, local: bool, prompt: int | None, completion: int | None,
           cost: float | None = None) -> AnswerResult:
    return AnswerResult(target=spec, label="router:r", provider="local" if local else "openai",
                        model="qwen.gguf" if local else "gpt-4o-mini",
                        destination="this machine" if local else "api.openai.com",
                        prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)


def test_the_migration_creates_the_table_without_a_prompt_column(connection) -> None:
    columns = {row[1] for row in connection.execute("PRAGMA table_info(route_log)")}
    assert columns == {"id", "created_at", "router", "target", "local", "reason", "findings",
                       "prompt_tokens", "completion_tokens", "cost_usd", "cloud_target",
                       "cloud_cost_usd"}
    assert connection.execute("PRAGMA user_version").fetchone()[0] == len(db.MIGRATIONS)


def test_stats_with_savings_from_the_pricing_table(connection, cloud) -> None:
    pricing = load_pricing()
    router = Router(LOCAL, CLOUD, default="cloud")
    private = router.route([{"role": "user", "content": "mail jane@example.org the notes"}])
    plain = router.route([{"role": "user", "content": "what is a monad?"}])
    assert private.local and not plain.local
    # three local answers (one with its energy priced), one cloud answer
    log.record_answer(connection, router="r", decision=private, pricing=pricing, cloud=cloud,
                      answer=answer(LOCAL, local=True, prompt=1000, completion=500))
    log.record_answer(connection, router="r", decision=private, pricing=pricing, cloud=cloud,
                      answer=answer(LOCAL, local=True, prompt=2000, completion=1000,
                                    cost=0.0001))
    log.record_answer(connection, router="r", decision=private, pricing=pricing, cloud=cloud,
                      answer=answer(LOCAL, local=True, prompt=None, completion=None))
    cloud_answer = answer(CLOUD, local=False, prompt=400, completion=100)
    log.record_answer(connection, router="r", decision=plain, pricing=pricing, cloud=cloud,
                      answer=cloud_answer)
    stats = log.stats(connection)
    assert stats.total == 4 and stats.local == 3 and stats.cloud == 1
    assert stats.local_share == pytest.approx(0.75)
    assert stats.by_reason == {"local; pii:email": 3, "cloud; default": 1}
    assert stats.by_target == {LOCAL: 3, CLOUD: 1}
    cloud_cost = 400 * IN + 100 * OUT
    assert stats.cost_usd == pytest.approx(0.0001 + cloud_cost)
    would = (1000 * IN + 500 * OUT) + (2000 * IN + 1000 * OUT) + cloud_cost
    assert stats.cloud_only_cost_usd == pytest.approx(would)
    assert stats.saved_usd == pytest.approx(would - 0.0001 - cloud_cost)
    assert stats.priced == 3 and stats.unpriced == 1  # no tokens: left out of the saving
    lines = stats.lines()
    assert lines[0] == "75% kept local: 3 of 4 requests (1 to the cloud)."
    assert "saved (over 3 requests; 1 could not be priced)" in lines[1]
    # never the prompt
    dump = "\n".join(str(tuple(row)) for row in connection.execute("SELECT * FROM route_log"))
    assert "jane" not in dump and "monad" not in dump
    assert log.recent(connection, 2)[0]["reason"] == "cloud; default"
    assert log.recent(connection)[-1]["findings"] == ["email"]


def test_without_a_cloud_target_there_is_no_saving(connection) -> None:
    decision = RouteDecision(LOCAL, True, "local; default")
    log.record_answer(connection, router="alone", decision=decision, pricing=load_pricing(),
                      cloud=None, answer=answer(LOCAL, local=True, prompt=10, completion=5))
    stats = log.stats(connection)
    assert stats.local_share == 1.0 and stats.cloud_only_cost_usd is None
    assert stats.saved_usd is None and "the saving is unknown" in stats.lines()[1]


def test_an_unknown_cloud_price_is_not_a_zero(connection) -> None:
    odd = OpenAICompatTarget(spec="openai:no-such-model", model="no-such-model",
                             base_url="http://127.0.0.1:9/v1")
    decision = RouteDecision(LOCAL, True, "local; default")
    log.record_answer(connection, router="r", decision=decision, pricing=load_pricing(),
                      cloud=odd, answer=answer(LOCAL, local=True, prompt=10, completion=5))
    assert log.stats(connection).cloud_only_cost_usd is None
    assert log.would_cost(load_pricing(), "openai", "no-such-model", 10, 5) is None
    assert log.would_cost(load_pricing(), "openai", "gpt-4o-mini", 10, None) is None


def test_since_and_router_filters(connection) -> None:
    for name in ("a", "a", "b"):
        log.record(connection, router=name, decision=RouteDecision(LOCAL, True, "local; x"))
    assert log.stats(connection).total == 3
    assert log.stats(connection, router="a").total == 2
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert log.stats(connection, since=future).total == 0
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    assert log.stats(connection, since=past).total == 3
    assert log.stats(connection, since=past.strftime("%Y-%m-%dT%H:%M:%S")).total == 3
    empty = log.stats(connection, router="nobody")
    assert empty.total == 0 and empty.local_share is None
    assert empty.lines() == ["No routed requests yet."]
