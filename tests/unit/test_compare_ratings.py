"""Win/tie/loss tallies and Bradley-Terry ratings."""

from __future__ import annotations

import math

import pytest

from workbench.compare.ratings import LOSS, TIE, WIN, Outcome, bradley_terry, tally


def test_tally() -> None:
    table = tally([Outcome("a", "b", WIN), Outcome("a", "c", TIE), Outcome("b", "c", LOSS)])
    assert (table["a"].wins, table["a"].ties, table["a"].losses) == (1, 1, 0)
    assert (table["b"].wins, table["b"].losses) == (0, 2)
    assert (table["c"].wins, table["c"].ties, table["c"].games) == (1, 1, 2)
    with pytest.raises(ValueError):
        tally([Outcome("a", "b", "draw")])


def test_two_players_match_the_closed_form() -> None:
    # 3 wins to 1: the maximum-likelihood strength ratio is exactly 3
    outcomes = [Outcome("a", "b", WIN)] * 3 + [Outcome("a", "b", LOSS)]
    ratings = bradley_terry(outcomes, prior=0)
    assert ratings["a"] - ratings["b"] == pytest.approx(400 * math.log10(3), abs=0.01)
    assert (ratings["a"] + ratings["b"]) / 2 == pytest.approx(1000)


def test_ties_count_half_and_are_symmetric() -> None:
    ratings = bradley_terry([Outcome("a", "b", TIE)] * 4, prior=0)
    assert ratings["a"] == pytest.approx(ratings["b"])


def test_order_follows_strength_and_the_prior_keeps_the_undefeated_finite() -> None:
    outcomes = ([Outcome("top", "mid", WIN)] * 4 + [Outcome("mid", "low", WIN)] * 4
                + [Outcome("top", "low", WIN)] * 2)
    ratings = bradley_terry(outcomes)
    assert ratings["top"] > ratings["mid"] > ratings["low"]
    assert all(math.isfinite(r) for r in ratings.values())
    assert ratings["top"] - ratings["low"] < 1500
    # more prior, more shrinkage toward the average
    assert bradley_terry(outcomes, prior=10)["top"] < ratings["top"]


def test_nothing_to_rate() -> None:
    assert bradley_terry([]) == {}
