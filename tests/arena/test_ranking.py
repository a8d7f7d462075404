"""Scoring, automatic preferences, Bradley-Terry with bootstrap intervals, Elo."""

from __future__ import annotations

import numpy as np
import pytest

from robolearn.arena.ranking import bradley_terry, online_elo, rank
from robolearn.arena.scoring import Comparison, auto_comparisons, auto_outcome, success_table


def _result(
    policy: str, seed: int, success: bool, progress: float, steps: int, cond: str = "c"
) -> dict:
    return {
        "policy": policy, "condition": cond, "scene": None, "seed": seed, "success": success,
        "progress": progress, "steps": steps, "steps_to_success": steps if success else None,
    }  # fmt: skip


def test_auto_outcome_rules() -> None:
    win = _result("a", 0, True, 1.0, 40)
    slow = _result("b", 0, True, 1.0, 60)
    fail_far = _result("c", 0, False, 0.1, 100)
    fail_near = _result("d", 0, False, 0.6, 100)
    assert auto_outcome(win, fail_near) == 1.0 and auto_outcome(fail_near, win) == 0.0
    assert auto_outcome(win, slow) == 1.0  # same success, faster
    assert auto_outcome(fail_near, fail_far) == 1.0  # more progress
    assert auto_outcome(fail_far, _result("e", 0, False, 0.11, 100)) == 0.5  # within margin
    assert auto_outcome(win, _result("f", 0, True, 1.0, 40)) == 0.5


def test_comparisons_pair_only_the_same_episode() -> None:
    results = [
        _result("a", 0, True, 1, 40), _result("b", 0, False, 0.2, 100),
        _result("a", 1, True, 1, 40),  # b has no seed 1: no comparison there
    ]  # fmt: skip
    cmp = auto_comparisons(results)
    assert len(cmp) == 1 and (cmp[0].a, cmp[0].b, cmp[0].outcome) == ("a", "b", 1.0)
    policies, conditions, table = success_table(results)
    assert policies == ["a", "b"] and conditions == ["c"]
    np.testing.assert_allclose(table, [[1.0], [0.0]])


def _simulate(strengths: dict[str, float], games: int, seed: int) -> list[Comparison]:
    rng = np.random.default_rng(seed)
    names = sorted(strengths)
    out = []
    for _ in range(games):
        i, j = rng.choice(len(names), 2, replace=False)
        a, b = names[i], names[j]
        p = strengths[a] / (strengths[a] + strengths[b])
        out.append(Comparison(a, b, float(rng.random() < p), "e"))
    return out


def test_bradley_terry_recovers_known_strengths() -> None:
    truth = {"a": 4.0, "b": 2.0, "c": 1.0}
    cmp = _simulate(truth, 3000, 0)
    rating = bradley_terry(cmp, ["a", "b", "c"], prior_games=0.0)
    # Elo-scale differences: 400 log10(2) = 120.4 between consecutive players
    assert rating[0] - rating[1] == pytest.approx(120.4, abs=20)
    assert rating[1] - rating[2] == pytest.approx(120.4, abs=20)
    assert np.mean(rating) == pytest.approx(1000.0)


def test_perfect_separation_stays_finite_and_intervals_separate() -> None:
    cmp = [Comparison("good", "bad", 1.0, str(k)) for k in range(12)]
    cmp += [Comparison("mid", "bad", 1.0, str(k)) for k in range(12)]
    cmp += [Comparison("good", "mid", 1.0, str(k)) for k in range(12)]
    r = rank(cmp, bootstrap=200)
    assert np.all(np.isfinite(r.rating))
    assert [row["policy"] for row in r.as_rows()] == ["good", "mid", "bad"]
    assert r.separated()
    assert np.all(r.low <= r.rating + 1e-6) and np.all(r.rating <= r.high + 1e-6)


def test_coin_flips_give_overlapping_intervals() -> None:
    cmp = _simulate({"a": 1.0, "b": 1.0, "c": 1.0}, 60, 1)
    assert not rank(cmp, bootstrap=200).separated()


def test_elo_orders_like_bradley_terry() -> None:
    cmp = _simulate({"a": 4.0, "b": 2.0, "c": 1.0}, 600, 2)
    elo = online_elo(cmp, ["a", "b", "c"])
    assert elo[0] > elo[1] > elo[2]
    with pytest.raises(ValueError, match="no comparisons"):
        rank([])
