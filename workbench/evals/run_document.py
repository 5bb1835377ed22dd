"""A run's JSON document (what ``eval export`` writes): results, summary and decision.

Also the loader a router's ``eval: RUN_ID`` rule reads a stored run with
(``workbench.routing.eval_source.RunLoader``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.evals.runner import RunOutcome, stored_outcome
from workbench.store.settings import AppSettings

DEFAULT_BAR = 0.8  # `workbench eval --bar`'s default
DEFAULT_MONTHLY_REQUESTS = 100_000.0  # `--volume`'s default


def document_of(outcome: RunOutcome, *, bar: float = DEFAULT_BAR,
                monthly_requests: float = DEFAULT_MONTHLY_REQUESTS, private: bool = False,
                settings: AppSettings | None = None) -> dict[str, Any]:
    """The document of ``outcome`` with the decision at ``bar`` and ``monthly_requests``."""
    from workbench.evals.decision import decide
    from workbench.evals.reports import build_document
    from workbench.evals.summary import summarize

    summary = summarize(outcome.suite, outcome.results, outcome.targets)
    decision = decide(summary, bar=bar, monthly_requests=monthly_requests, private=private,
                      settings=settings)
    return build_document(run_id=outcome.run_id, suite=outcome.suite, targets=outcome.targets,
                          results=outcome.results, summary=summary, decision=decision,
                          skipped=outcome.skipped, judge=outcome.judge,
                          judge_usage=outcome.judge_usage, complete=outcome.complete)


def run_document(run_id: int, *, database: Path | None = None,
                 settings: AppSettings | None = None) -> dict[str, Any]:
    """Stored run ``run_id``'s document at the default bar and volume (BadInput: no such run)."""
    return document_of(stored_outcome(run_id, database=database), settings=settings)
