"""Rankings from pairwise comparisons: Bradley-Terry with bootstrap confidence intervals, and
Elo alongside for comparison.

Bradley-Terry (Bradley & Terry, 1952): P(i beats j) = p_i / (p_i + p_j), fitted by maximum
likelihood (Newton's method on ln p; Hunter, "MM algorithms for generalized Bradley-Terry
models", Ann. Statist. 2004, https://doi.org/10.1214/aos/1079120141, gives the likelihood and
an MM alternative), ties counted as half a win each. A policy that wins every comparison has
no finite maximum-likelihood strength, so every policy also plays `prior_games` virtual games
against a reference of strength 1, winning half (a Beta-like prior that keeps strengths
finite). Strengths are reported on the Elo scale, 400 log10(p) + 1000, geometric mean fixed at
1000 (as Chatbot Arena does). Confidence intervals: percentile bootstrap over comparisons
(resampled with replacement), as in RobotArena.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robolearn.arena.scoring import Comparison

ELO_SCALE = 400.0
ELO_BASE = 1000.0


def _arrays(comparisons: Sequence[Comparison], index: dict[str, int]) -> tuple[np.ndarray, ...]:
    ia = np.array([index[c.a] for c in comparisons], dtype=np.intp)
    ib = np.array([index[c.b] for c in comparisons], dtype=np.intp)
    out = np.array([c.outcome for c in comparisons], dtype=np.float64)
    return ia, ib, out


def _fit(
    ia: np.ndarray,
    ib: np.ndarray,
    outcome: np.ndarray,
    weight: np.ndarray,
    n: int,
    prior_games: float,
    iterations: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    """Newton's method on theta = ln p for weighted comparisons; returns log10 p, mean zero.

    The virtual games against the reference (theta = 0) make the log-likelihood strictly
    concave, so Newton converges in a few steps from theta = 0."""
    wins = np.zeros((n, n))  # wins[i, j]: (half-)wins of i over j
    np.add.at(wins, (ia, ib), weight * outcome)
    np.add.at(wins, (ib, ia), weight * (1.0 - outcome))
    games = wins + wins.T
    w = wins.sum(axis=1) + prior_games / 2.0
    theta = np.zeros(n)
    for _ in range(iterations):
        sig = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))  # P(i beats j)
        sig0 = 1.0 / (1.0 + np.exp(-theta))  # P(i beats the reference)
        grad = w - (games * sig).sum(axis=1) - prior_games * sig0
        curv = games * sig * (1.0 - sig)
        hess = curv - np.diag(curv.sum(axis=1) + prior_games * sig0 * (1.0 - sig0))
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]  # singular without a prior
        theta -= step
        if np.max(np.abs(step)) < tol:
            break
    logp = theta / np.log(10.0)
    return logp - logp.mean()


def bradley_terry(
    comparisons: Sequence[Comparison],
    players: Sequence[str],
    *,
    prior_games: float = 1.0,
) -> np.ndarray:
    """Strengths on the Elo scale (geometric mean 1000), in the order of `players`."""
    index = {p: k for k, p in enumerate(players)}
    ia, ib, out = _arrays(comparisons, index)
    logp = _fit(ia, ib, out, np.ones(len(out)), len(players), prior_games)
    return ELO_SCALE * logp + ELO_BASE


@dataclass
class Ranking:
    players: list[str]
    rating: np.ndarray  # Bradley-Terry, Elo scale
    low: np.ndarray  # bootstrap percentile interval
    high: np.ndarray
    elo: np.ndarray  # online Elo, mean over shuffled orders
    confidence: float

    def order(self) -> list[int]:
        return list(np.argsort(-self.rating))

    def as_rows(self) -> list[dict[str, float | str | int]]:
        return [
            {
                "rank": r + 1,
                "policy": self.players[i],
                "bt_rating": float(self.rating[i]),
                "ci_low": float(self.low[i]),
                "ci_high": float(self.high[i]),
                "elo": float(self.elo[i]),
            }
            for r, i in enumerate(self.order())
        ]

    def separated(self) -> bool:
        """True when consecutive policies' intervals do not overlap."""
        idx = self.order()
        return all(self.low[a] > self.high[b] for a, b in zip(idx, idx[1:], strict=False))


def online_elo(
    comparisons: Sequence[Comparison],
    players: Sequence[str],
    *,
    k: float = 16.0,
    shuffles: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """Classic sequential Elo updates, averaged over random orders of the comparisons (Elo
    depends on the order; the average removes that arbitrariness)."""
    index = {p: i for i, p in enumerate(players)}
    rng = np.random.default_rng(seed)
    total = np.zeros(len(players))
    for _ in range(shuffles):
        r = np.full(len(players), ELO_BASE)
        for c_idx in rng.permutation(len(comparisons)):
            c = comparisons[c_idx]
            i, j = index[c.a], index[c.b]
            expected = 1.0 / (1.0 + 10 ** ((r[j] - r[i]) / ELO_SCALE))
            r[i] += k * (c.outcome - expected)
            r[j] -= k * (c.outcome - expected)
        total += r
    return total / shuffles


def rank(
    comparisons: Sequence[Comparison],
    players: Sequence[str] | None = None,
    *,
    bootstrap: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
    prior_games: float = 1.0,
) -> Ranking:
    """Bradley-Terry ratings with percentile-bootstrap intervals, and Elo for comparison."""
    if not comparisons:
        raise ValueError("no comparisons to rank: run episodes of at least two policies first")
    players = (
        list(players)
        if players is not None
        else sorted({c.a for c in comparisons} | {c.b for c in comparisons})
    )
    rating = bradley_terry(comparisons, players, prior_games=prior_games)
    rng = np.random.default_rng(seed)
    ia, ib, out = _arrays(comparisons, {p: k for k, p in enumerate(players)})
    samples = np.empty((bootstrap, len(players)))
    n = len(comparisons)
    for b in range(bootstrap):
        weight = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        samples[b] = ELO_SCALE * _fit(ia, ib, out, weight, len(players), prior_games) + ELO_BASE
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha], axis=0)
    return Ranking(
        players=players,
        rating=rating,
        low=low,
        high=high,
        elo=online_elo(comparisons, players, seed=seed),
        confidence=confidence,
    )
