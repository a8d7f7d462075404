"""Scores of finished episodes and pairwise preferences between policies.

An episode's score comes from the twin's state: success first, then progress (the task's dense
reward at its best, 1 on success), then speed (fewer steps to success). Two policies are
compared on the *same* episode (condition, scene, seed: same initial state and perturbation):
the automatic preference prefers the higher score; it is a tie when both fail with progress
within `tie_margin`, or both succeed in the same number of steps.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """One pairwise outcome: `outcome` is 1 if `a` is preferred, 0 if `b`, 0.5 for a tie."""

    a: str
    b: str
    outcome: float
    episode: str  # condition/scene/seed key
    source: str = "auto"  # "auto" (from progress) or "human"


def episode_key(result: dict[str, Any]) -> str:
    return f"{result['condition']}/{result.get('scene') or 'reset'}/{result['seed']}"


def auto_outcome(ra: dict[str, Any], rb: dict[str, Any], tie_margin: float = 0.02) -> float:
    """1 / 0 / 0.5 for `ra` better / worse / tied (see the module docstring)."""
    if ra["success"] != rb["success"]:
        return 1.0 if ra["success"] else 0.0
    if ra["success"]:
        sa, sb = ra["steps_to_success"] or ra["steps"], rb["steps_to_success"] or rb["steps"]
        return 0.5 if sa == sb else (1.0 if sa < sb else 0.0)
    diff = float(ra["progress"]) - float(rb["progress"])
    if abs(diff) <= tie_margin:
        return 0.5
    return 1.0 if diff > 0 else 0.0


def auto_comparisons(
    results: Iterable[dict[str, Any]], tie_margin: float = 0.02
) -> list[Comparison]:
    """Every pair of policies on every episode both ran."""
    by_episode: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in results:
        by_episode[episode_key(r)][r["policy"]] = r
    out = []
    for key in sorted(by_episode):
        group = by_episode[key]
        for a, b in itertools.combinations(sorted(group), 2):
            out.append(Comparison(a, b, auto_outcome(group[a], group[b], tie_margin), key))
    return out


@dataclass
class PolicyScore:
    policy: str
    episodes: int
    success_rate: float
    mean_progress: float
    mean_steps: float


def policy_scores(results: Sequence[dict[str, Any]]) -> dict[str, PolicyScore]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[r["policy"]].append(r)
    return {
        p: PolicyScore(
            policy=p,
            episodes=len(rs),
            success_rate=float(np.mean([r["success"] for r in rs])),
            mean_progress=float(np.mean([r["progress"] for r in rs])),
            mean_steps=float(np.mean([r["steps"] for r in rs])),
        )
        for p, rs in sorted(groups.items())
    }


def success_table(
    results: Sequence[dict[str, Any]], conditions: Sequence[str] | None = None
) -> tuple[list[str], list[str], np.ndarray]:
    """(policies, conditions, success rate matrix [policy, condition]; NaN where none ran).
    `conditions` fixes the column order (default: as first seen)."""
    policies = sorted({r["policy"] for r in results})
    seen = list(dict.fromkeys(r["condition"] for r in results))
    conditions = [c for c in conditions if c in seen] if conditions else seen
    table = np.full((len(policies), len(conditions)), np.nan)
    for i, p in enumerate(policies):
        for j, c in enumerate(conditions):
            xs = [r["success"] for r in results if r["policy"] == p and r["condition"] == c]
            if xs:
                table[i, j] = float(np.mean(xs))
    return policies, conditions, table
