from __future__ import annotations

import numpy as np
import pytest

from robolearn.data.schema import schema_from_arrays
from robolearn.data.store import EpisodeMeta, EpisodeStore


def make_episode(seed: int, length: int | None = None, image: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = length or int(rng.integers(4, 12))
    return {
        "obs.state": rng.normal(size=(n, 5)).astype(np.float32),
        "obs.images.front": rng.integers(0, 255, (n, image, image, 3), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (n, 7)).astype(np.float32),
        "reward": rng.normal(size=n).astype(np.float32),
        "terminated": np.zeros(n, bool),
        "truncated": np.zeros(n, bool),
        "action_source": np.full(n, 2, np.uint8),
    }


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "ds"
    with EpisodeStore.create(path, schema_from_arrays(make_episode(0))) as store:
        for i in range(4):
            store.append(make_episode(i), EpisodeMeta(task="t", success=i % 2 == 0, seed=i))
    return path
