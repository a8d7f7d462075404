"""Human pairwise preferences through the labelling page (`robolearn.label`).

`export_pairs` writes a pair manifest of rollout videos: two policies on the same episode
(condition, scene, seed), shown left/right in a random order so labellers cannot tell which
policy is which. Serve it with `robolearn label serve <out>/pairs.json`; the page appends
answers to `<out>/pairs.labels.jsonl`. `human_comparisons` turns those answers back into
`Comparison`s (left/right/equal; skips are dropped) for the same Bradley-Terry ranking.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.arena.runner import load_results
from robolearn.arena.scoring import Comparison, episode_key

log = logging.getLogger(__name__)

QUESTION = "Which robot does the task better (succeeds, or gets closer to succeeding)?"
PAIRS_FILE = "pairs.json"
LABELS_FILE = "pairs.labels.jsonl"


def export_pairs(out_dir: str | Path, *, question: str = QUESTION, seed: int = 0) -> Path:
    """Write `<out>/pairs.json` (the labelling page's manifest) from the kept videos."""
    from robolearn.label import LabelPair, PairSet

    out = Path(out_dir)
    by_episode: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in load_results(out):
        if r.get("video"):
            by_episode[episode_key(r)][r["policy"]] = r
    rng = np.random.default_rng(seed)
    pairs = []
    for key in sorted(by_episode):
        group = by_episode[key]
        for a, b in itertools.combinations(sorted(group), 2):
            swap = bool(rng.integers(2))
            left, right = (b, a) if swap else (a, b)
            pairs.append(
                LabelPair(
                    pair_id=f"{key}|{a}|{b}",
                    left=out / group[left]["video"],
                    right=out / group[right]["video"],
                    meta={"episode": key, "left_policy": left, "right_policy": right},
                )
            )
    if not pairs:
        raise ValueError(f"{out}: no episode has videos of two policies (run with --videos >= 1)")
    order = rng.permutation(len(pairs))
    return PairSet(question=question, pairs=[pairs[i] for i in order]).save(out / PAIRS_FILE)


def human_comparisons(out_dir: str | Path, labels: str | Path | None = None) -> list[Comparison]:
    """Comparisons from the label log (default `<out>/pairs.labels.jsonl`; empty if absent)."""
    from robolearn.label import LabelLog, PairSet

    out = Path(out_dir)
    manifest = out / PAIRS_FILE
    path = Path(labels) if labels else out / LABELS_FILE
    if not manifest.is_file() or not path.is_file():
        return []
    pairs = PairSet.load(manifest).by_id()
    comparisons = []
    for pair_id, record in sorted(LabelLog(path).latest().items()):
        pair = pairs.get(pair_id)
        if pair is None:
            log.warning("label for unknown pair %s ignored", pair_id)
            continue
        if record.choice == "skip":
            continue
        outcome = {"left": 1.0, "right": 0.0, "equal": 0.5}[record.choice]
        comparisons.append(
            Comparison(
                a=pair.meta["left_policy"],
                b=pair.meta["right_policy"],
                outcome=outcome,
                episode=pair.meta["episode"],
                source="human",
            )
        )
    return comparisons
