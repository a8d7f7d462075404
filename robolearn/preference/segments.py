"""Segments of recorded episodes: references into a dataset, their data, their features.

A segment is ``steps [start, end)`` of one episode, named by the episode's ``episode_id`` (stable
when episodes are deleted or merged) plus its index at labelling time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from robolearn.data.store import EpisodeStore

DENSE_REWARD_KEY = "reward_dense"  # ground truth for scripted labels, when the dataset has it


class SegmentError(ValueError):
    """A segment does not fit its dataset; the message names it."""


@dataclass(frozen=True)
class SegmentRef:
    """Steps ``[start, end)`` of episode ``episode`` (id ``episode_id``) of a dataset."""

    episode_id: str
    episode: int
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(raw: dict[str, Any]) -> SegmentRef:
        return SegmentRef(
            str(raw["episode_id"]), int(raw["episode"]), int(raw["start"]), int(raw["end"])
        )


def resolve(store: EpisodeStore, ref: SegmentRef) -> int:
    """The episode index of ``ref`` in ``store`` now (found by id if episodes moved)."""
    if (
        0 <= ref.episode < store.n_episodes
        and store.episode_meta(ref.episode).episode_id == ref.episode_id
    ):
        return ref.episode
    for i in range(store.n_episodes):
        if store.episode_meta(i).episode_id == ref.episode_id:
            return i
    raise SegmentError(f"{store.path}: no episode {ref.episode_id} (was index {ref.episode})")


def sample_segments(
    store: EpisodeStore, n: int, length: int, rng: np.random.Generator
) -> list[SegmentRef]:
    """``n`` segments of ``length`` steps, episodes drawn uniformly, start uniform within them."""
    lengths = np.diff(np.concatenate([[0], store.episode_ends]))
    eligible = np.flatnonzero(lengths >= length)
    if len(eligible) == 0:
        raise SegmentError(
            f"{store.path}: no episode has {length} steps (longest {lengths.max(initial=0)});"
            " choose a shorter --segment-length"
        )
    out = []
    for _ in range(n):
        i = int(rng.choice(eligible))
        start = int(rng.integers(0, lengths[i] - length + 1))
        out.append(SegmentRef(store.episode_meta(i).episode_id, i, start, start + length))
    return out


class SegmentData:
    """Per-step arrays of many segments of one dataset, read once (low-dimensional keys)."""

    def __init__(self, store: EpisodeStore, refs: list[SegmentRef]) -> None:
        if not refs:
            raise SegmentError("no segments")
        lengths = {r.length for r in refs}
        if len(lengths) != 1:
            raise SegmentError(f"segments must have one length, got {sorted(lengths)}")
        self.refs = list(refs)
        self.length = lengths.pop()
        keys = ["obs.state", "action", "reward"]
        if DENSE_REWARD_KEY in store.schema:
            keys.append(DENSE_REWARD_KEY)
        cache: dict[int, dict[str, np.ndarray]] = {}
        arrays: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        self.tasks: list[str] = []  # each segment's task (its episode's metadata)
        for ref in refs:
            i = resolve(store, ref)
            if i not in cache:
                cache[i] = store.episode(i, keys=keys)
            self.tasks.append(store.episode_meta(i).task)
            ep = cache[i]
            if ref.end > len(ep["action"]):
                raise SegmentError(
                    f"segment {ref} ends past its episode ({len(ep['action'])} steps)"
                )
            for k in keys:
                arrays[k].append(np.asarray(ep[k][ref.start : ref.end]))
        self.states = np.stack(arrays["obs.state"]).astype(np.float32)  # (n, L, D)
        self.actions = np.stack(arrays["action"]).astype(np.float32)  # (n, L, A)
        self.rewards = np.stack(arrays["reward"]).astype(np.float32)  # (n, L) sparse
        self.true_rewards = (
            np.stack(arrays[DENSE_REWARD_KEY]).astype(np.float32)
            if DENSE_REWARD_KEY in arrays
            else self.rewards
        )

    def __len__(self) -> int:
        return len(self.refs)

    def true_returns(self) -> np.ndarray:
        """Ground-truth return of each segment (dense reward if recorded, else sparse)."""
        return self.true_rewards.sum(axis=1)
