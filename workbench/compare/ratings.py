"""Win/tie/loss tallies and Bradley-Terry ratings from pairwise outcomes.

Bradley-Terry: P(i beats j) = p_i / (p_i + p_j). Strengths are fitted by Hunter's (2004) MM
iteration, a tie counting as half a win for each side. ``prior`` adds that many virtual ties
against an average player for every contestant, which keeps undefeated or winless contestants
finite (0 disables it). Ratings are on the Elo scale: 400 * log10(p_i / geometric mean) + 1000.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

WIN, TIE, LOSS = "win", "tie", "loss"


@dataclass(frozen=True)
class Outcome:
    a: str
    b: str
    result: str  # for a: "win" | "tie" | "loss"


@dataclass
class Tally:
    name: str
    wins: int = 0
    ties: int = 0
    losses: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.ties + self.losses


def tally(outcomes: Iterable[Outcome]) -> dict[str, Tally]:
    table: dict[str, Tally] = {}
    for o in outcomes:
        a = table.setdefault(o.a, Tally(o.a))
        b = table.setdefault(o.b, Tally(o.b))
        if o.result == WIN:
            a.wins += 1
            b.losses += 1
        elif o.result == LOSS:
            a.losses += 1
            b.wins += 1
        elif o.result == TIE:
            a.ties += 1
            b.ties += 1
        else:
            raise ValueError(f"unknown outcome {o.result!r}")
    return table


_VIRTUAL = "\x00average"


def bradley_terry(outcomes: Iterable[Outcome], *, prior: float = 1.0, iterations: int = 1000,
                  tolerance: float = 1e-10) -> dict[str, float]:
    """Elo-scaled Bradley-Terry ratings of everyone in ``outcomes``."""
    wins: dict[tuple[str, str], float] = {}
    names: set[str] = set()

    def add(winner: str, loser: str, amount: float) -> None:
        wins[(winner, loser)] = wins.get((winner, loser), 0.0) + amount

    for o in outcomes:
        names.update((o.a, o.b))
        if o.result == WIN:
            add(o.a, o.b, 1.0)
        elif o.result == LOSS:
            add(o.b, o.a, 1.0)
        elif o.result == TIE:
            add(o.a, o.b, 0.5)
            add(o.b, o.a, 0.5)
        else:
            raise ValueError(f"unknown outcome {o.result!r}")
    if not names:
        return {}
    players = sorted(names)
    if prior > 0:
        for name in players:
            add(name, _VIRTUAL, prior / 2)
            add(_VIRTUAL, name, prior / 2)
        players.append(_VIRTUAL)
    strength = dict.fromkeys(players, 1.0)
    total_wins = {p: sum(w for (i, _), w in wins.items() if i == p) for p in players}
    games: dict[tuple[str, str], float] = {}
    for (i, j), w in wins.items():
        key = (i, j) if i < j else (j, i)
        games[key] = games.get(key, 0.0) + w
    for _ in range(iterations):
        updated: dict[str, float] = {}
        for p in players:
            denominator = 0.0
            for (i, j), n in games.items():
                if p in (i, j):
                    other = j if p == i else i
                    denominator += n / (strength[p] + strength[other])
            updated[p] = total_wins[p] / denominator if denominator > 0 else strength[p]
        # a player with no wins and no prior would go to 0: keep it tiny instead
        updated = {p: max(v, 1e-12) for p, v in updated.items()}
        mean = math.exp(sum(math.log(v) for v in updated.values()) / len(updated))
        updated = {p: v / mean for p, v in updated.items()}
        change = max(abs(math.log(updated[p] / strength[p])) for p in players)
        strength = updated
        if change < tolerance:
            break
    real = [p for p in players if p != _VIRTUAL]
    mean = math.exp(sum(math.log(strength[p]) for p in real) / len(real))
    return {p: 1000 + 400 * math.log10(strength[p] / mean) for p in real}
