"""A scripted labeller: prefers the segment with the larger ground-truth return, with noise.

As in the scripted teachers of preference-based RL benchmarks (B-Pref, Lee et al. 2021,
https://arxiv.org/abs/2111.03026): ``equal_margin`` answers "equal" when returns differ by less
than that (relative to the return range of the segments labelled), and ``flip_rate`` flips a
fraction of the other answers (the "mistake" teacher) - the label noise of the experiments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robolearn.preference.data import PreferencePair
from robolearn.preference.segments import SegmentData, SegmentRef


@dataclass(frozen=True, kw_only=True)
class ScriptedLabellerConfig:
    flip_rate: float = 0.0  # probability of flipping a strict preference
    equal_margin: float = 0.0  # "equal" below this fraction of the return range
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.flip_rate <= 1.0:
            raise ValueError(f"flip_rate must be in [0, 1], got {self.flip_rate}")
        if self.equal_margin < 0:
            raise ValueError(f"equal_margin must be >= 0, got {self.equal_margin}")


def label_returns(
    returns_a: np.ndarray, returns_b: np.ndarray, config: ScriptedLabellerConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (P(a preferred) in {0, 0.5, 1}) and the noise-free labels for return pairs."""
    returns_a, returns_b = np.asarray(returns_a, float), np.asarray(returns_b, float)
    scale = float(np.ptp(np.concatenate([returns_a, returns_b]))) or 1.0
    diff = returns_a - returns_b
    truth = np.where(diff > 0, 1.0, 0.0)
    truth[np.abs(diff) <= config.equal_margin * scale] = 0.5
    rng = np.random.default_rng(config.seed)
    flip = (rng.random(len(truth)) < config.flip_rate) & (truth != 0.5)
    return np.where(flip, 1.0 - truth, truth), truth


def scripted_labels(
    data: SegmentData,
    pairs: list[tuple[int, int]],
    config: ScriptedLabellerConfig,
) -> list[PreferencePair]:
    """Label ``pairs`` of indices into ``data`` from its ground-truth returns."""
    returns = data.true_returns()
    ia = np.array([i for i, _ in pairs], dtype=int)
    ib = np.array([j for _, j in pairs], dtype=int)
    labels, _ = label_returns(returns[ia], returns[ib], config)
    name = f"scripted(flip={config.flip_rate:g})"
    refs: list[SegmentRef] = data.refs
    return [
        PreferencePair(refs[i], refs[j], float(y), labeller=name)
        for i, j, y in zip(ia, ib, labels, strict=True)
    ]


def random_pairs(n_segments: int, n_pairs: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``n_pairs`` pairs of distinct segment indices."""
    if n_segments < 2:
        raise ValueError("need at least two segments to make pairs")
    a = rng.integers(0, n_segments, n_pairs)
    b = (a + rng.integers(1, n_segments, n_pairs)) % n_segments
    return list(zip(a.tolist(), b.tolist(), strict=True))
