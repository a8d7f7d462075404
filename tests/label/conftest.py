"""Shared fixtures: a small pair set with real WebM clips."""

from __future__ import annotations

import numpy as np
import pytest

from robolearn.label import LabelPair, PairSet, write_webm


def _frames(seed: int, n: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=3)
    frames = []
    for t in range(n):
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[:] = base
        frame[(4 * t) % 56 : (4 * t) % 56 + 8, 20:40] = 255  # a moving bar
        frames.append(frame)
    return frames


@pytest.fixture
def pair_set(tmp_path) -> PairSet:
    pairs = []
    for i in range(3):
        left = write_webm(_frames(2 * i), tmp_path / "clips" / f"p{i}_left.webm")
        right = write_webm(_frames(2 * i + 1), tmp_path / "clips" / f"p{i}_right.webm")
        pairs.append(LabelPair(f"p{i}", left, right, meta={"index": i}))
    return PairSet("Which robot does better?", pairs)
