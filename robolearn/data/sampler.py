"""Samplers over an episode store for learning: random transitions and fixed-length windows.

Both are map-style datasets (`len`, `__getitem__`) that also draw whole batches with
`sample(batch_size, rng)`. They hold only the dataset path when pickled and open the store
lazily in each process, so they are safe in `torch.utils.data.DataLoader` workers. Low-
dimensional keys are loaded into memory once; images are read from disk per batch unless
`cache_images=True`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.data.store import EpisodeStore


class _StoreView:
    def __init__(self, path: str | Path, keys: list[str] | None, cache_images: bool) -> None:
        self.path = str(path)
        self.wanted = keys
        self.cache_images = cache_images
        self._pid: int | None = None
        with EpisodeStore.open(self.path) as store:
            self.keys = list(keys or store.keys)
            unknown = sorted(set(self.keys) - set(store.keys))
            if unknown:
                raise KeyError(f"{self.path}: no key(s) {', '.join(unknown)}; has {store.keys}")
            self.ends = store.episode_ends
            self.n_steps = store.n_steps
            self.image_keys = [k for k in self.keys if store.schema[k].is_image]
        if self.n_steps == 0:
            raise ValueError(f"{self.path}: the dataset has no episodes")
        self.starts = np.concatenate([[0], self.ends[:-1]])

    def _ensure_open(self) -> None:
        if self._pid == os.getpid():
            return
        self._store = EpisodeStore.open(self.path)
        self._memory: dict[str, np.ndarray] = {}
        self._final: dict[str, np.ndarray] = {}
        for key in self.keys:
            if key in self.image_keys and not self.cache_images:
                continue
            self._memory[key] = np.asarray(self._store.array(key)[: self.n_steps])
            if key.startswith("obs."):
                self._final[key] = np.asarray(self._store.final_array(key)[: len(self.ends)])
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        state["_pid"] = None
        return state

    def rows(self, key: str, index: np.ndarray) -> np.ndarray:
        self._ensure_open()
        if key in self._memory:
            return self._memory[key][index]
        order = np.argsort(index, kind="stable")
        unique, inverse = np.unique(index[order], return_inverse=True)
        block = self._store.array(key).oindex[unique]
        out = np.empty((len(index), *block.shape[1:]), dtype=block.dtype)
        out[order] = block[inverse]
        return out

    def finals(self, key: str, episodes: np.ndarray) -> np.ndarray:
        self._ensure_open()
        if key in self._final:
            return self._final[key][episodes]
        return np.stack([self._store.final_array(key)[int(e)] for e in episodes])

    def episode_of(self, index: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ends, index, side="right")


class TransitionSampler:
    """Random transitions `(obs, action, reward, next_obs, terminated, truncated)`.

    `obs`/`next_obs` are dicts of the `obs.*` keys; the last step of an episode takes its
    next observation from the episode's stored final observation.
    """

    def __init__(
        self, path: str | Path, keys: list[str] | None = None, cache_images: bool = False
    ) -> None:
        self.view = _StoreView(path, keys, cache_images)
        self.obs_keys = [k for k in self.view.keys if k.startswith("obs.")]

    def __len__(self) -> int:
        return self.view.n_steps

    def __getitem__(self, index: int) -> dict[str, Any]:
        batch = self.batch(np.array([index]))
        return _unbatch(batch)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, Any]:
        return self.batch(rng.integers(0, self.view.n_steps, size=batch_size))

    def batch(self, index: np.ndarray) -> dict[str, Any]:
        v = self.view
        index = np.asarray(index, dtype=np.int64)
        if np.any(index < 0) or np.any(index >= v.n_steps):
            raise IndexError(f"transition index out of range [0, {v.n_steps})")
        episode = v.episode_of(index)
        last = index + 1 >= v.ends[episode]
        nxt = np.where(last, index, index + 1)
        obs, next_obs = {}, {}
        for key in self.obs_keys:
            obs[key] = v.rows(key, index)
            following = v.rows(key, nxt)
            if np.any(last):
                following[last] = v.finals(key, episode[last])
            next_obs[key] = following
        out: dict[str, Any] = {"obs": obs, "next_obs": next_obs, "episode": episode}
        for key in v.keys:
            if not key.startswith("obs."):
                out[key] = v.rows(key, index)
        return out


class WindowSampler:
    """Fixed-length windows of `horizon` steps, padded by repeating the edge steps.

    Windows start from `pad_before` steps before an episode's first step to `pad_after` steps
    past its last; `pad_mask` marks the padded positions (True = real data).
    """

    def __init__(
        self,
        path: str | Path,
        horizon: int,
        keys: list[str] | None = None,
        pad_before: int = 0,
        pad_after: int = 0,
        cache_images: bool = False,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.view = _StoreView(path, keys, cache_images)
        self.horizon = horizon
        starts, episodes = [], []
        for e, (s, end) in enumerate(zip(self.view.starts, self.view.ends, strict=True)):
            first, last = s - pad_before, end - horizon + pad_after
            if last < first:
                continue  # episode shorter than the window even with padding
            starts.extend(range(first, last + 1))
            episodes.extend([e] * (last - first + 1))
        self.window_starts = np.asarray(starts, dtype=np.int64)
        self.window_episodes = np.asarray(episodes, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.window_starts)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _unbatch(self.batch(np.array([index])))

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, Any]:
        return self.batch(rng.integers(0, len(self), size=batch_size))

    def batch(self, index: np.ndarray) -> dict[str, Any]:
        v = self.view
        start = self.window_starts[index]
        episode = self.window_episodes[index]
        steps = start[:, None] + np.arange(self.horizon)[None, :]
        lo = v.starts[episode][:, None]
        hi = v.ends[episode][:, None] - 1
        mask = (steps >= lo) & (steps <= hi)
        clipped = np.clip(steps, lo, hi)
        flat = clipped.ravel()
        out: dict[str, Any] = {"pad_mask": mask, "episode": episode}
        for key in v.keys:
            rows = v.rows(key, flat)
            out[key] = rows.reshape(*clipped.shape, *rows.shape[1:])
        return out


def _unbatch(batch: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in batch.items():
        out[key] = _unbatch(value) if isinstance(value, dict) else value[0]
    return out
