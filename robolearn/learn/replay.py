"""A ring replay buffer of transitions in numpy arrays, with dict observations; npz files (no
pickle).

Observations are kept flat by dotted key (``state``, ``images.front``: the dataset's ``obs.*``
naming without the prefix); a plain array observation is the single key ``""``. Actions are stored
as the environment takes them (the agent maps them to ``[-1, 1]``).

Batches from ``sample`` (and from ``load_demos``' buffer) look like
``{"obs": {key: array}, "next_obs": {key: array}, "action", "reward", "terminated", "truncated"}``,
the layout of `robolearn.data.sampler.TransitionSampler` without the ``obs.`` prefix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from robolearn.learn.networks import flatten_obs, flatten_space

log = logging.getLogger(__name__)

Batch = dict[str, Any]
FORMAT = "robolearn.replay"
FORMAT_VERSION = 1
_SCALARS = ("reward", "terminated", "truncated")
_SCALAR_DTYPES = {"reward": np.float32, "terminated": np.bool_, "truncated": np.bool_}


class ReplayBuffer:
    """A fixed-capacity FIFO buffer of transitions; the oldest are overwritten when full.

    ``obs`` and ``next_obs`` are stored separately (simple and exact at episode ends; twice the
    memory, which matters only for images).
    """

    def __init__(
        self, observation_space: gym.Space, action_space: gym.spaces.Box, capacity: int
    ) -> None:
        if not isinstance(action_space, gym.spaces.Box):
            raise TypeError(f"the replay buffer needs a Box action space, got {action_space}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_specs = {
            k: (tuple(s.shape), np.dtype(s.dtype))
            for k, s in flatten_space(observation_space).items()
        }
        for key, space in flatten_space(observation_space).items():
            if not isinstance(space, gym.spaces.Box):
                raise TypeError(f"observation key {key!r}: only Box leaves are stored, got {space}")
        self.obs = {k: np.zeros((self.capacity, *s), d) for k, (s, d) in self.obs_specs.items()}
        self.next_obs = {k: np.zeros_like(v) for k, v in self.obs.items()}
        self.action = np.zeros((self.capacity, *action_space.shape), np.float32)
        self.reward = np.zeros(self.capacity, np.float32)
        self.terminated = np.zeros(self.capacity, np.bool_)
        self.truncated = np.zeros(self.capacity, np.bool_)
        self.size = 0
        self.ptr = 0  # the next row written

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: Any,
        action: np.ndarray,
        reward: float,
        next_obs: Any,
        terminated: bool,
        truncated: bool,
    ) -> None:
        """Add one transition (``obs``/``next_obs`` as the env returns them)."""
        i = self.ptr
        flat, flat_next = flatten_obs(obs), flatten_obs(next_obs)
        for key in self.obs:
            self.obs[key][i] = flat[key]
            self.next_obs[key][i] = flat_next[key]
        self.action[i] = action
        self.reward[i] = reward
        self.terminated[i] = terminated
        self.truncated[i] = truncated
        self.ptr = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add_batch(self, batch: Mapping[str, Any]) -> None:
        """Add many transitions: a batch in `sample`'s layout (nested or flat obs dicts)."""
        n = len(batch["action"])
        if n > self.capacity:
            raise ValueError(f"{n} transitions do not fit a buffer of capacity {self.capacity}")
        rows = (self.ptr + np.arange(n)) % self.capacity
        flat, flat_next = flatten_obs(batch["obs"]), flatten_obs(batch["next_obs"])
        missing = sorted(set(self.obs) - set(flat))
        if missing:
            raise KeyError(f"the batch has no observation key(s) {missing}; it has {sorted(flat)}")
        for key in self.obs:
            self.obs[key][rows] = flat[key]
            self.next_obs[key][rows] = flat_next[key]
        self.action[rows] = batch["action"]
        for key in _SCALARS:
            getattr(self, key)[rows] = np.asarray(batch[key]).reshape(n)
        self.ptr = int((self.ptr + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return self.batch(rng.integers(0, self.size, size=batch_size))

    def sample_nstep(
        self, batch_size: int, rng: np.random.Generator, n: int, gamma: float
    ) -> Batch:
        """`sample` with n-step returns (`nstep_batch`)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return self.nstep_batch(rng.integers(0, self.size, size=batch_size), n, gamma)

    def nstep_batch(self, index: np.ndarray, n: int, gamma: float) -> Batch:
        """Rows ``index`` with up to ``n``-step returns: ``reward`` is
        ``sum_{k<m} gamma^k r_{t+k}``, ``next_obs``/``terminated`` those of step ``t+m-1`` and
        ``discount`` is ``gamma^m``, where ``m <= n`` stops early at an episode end (terminated
        or truncated), at the newest row, and where the next row does not continue the episode
        (its ``obs`` is not this row's ``next_obs``: another actor's batch, a new episode).
        ``n=1`` is `batch` plus ``discount = gamma``."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        index = np.asarray(index, dtype=np.int64)
        out = self.batch(index)
        scale = np.full(len(index), gamma, np.float64)
        if n == 1:
            out["discount"] = scale.astype(np.float32)
            return out
        reward = self.reward[index].astype(np.float64)
        last = index.copy()
        alive = ~(self.terminated[index] | self.truncated[index])
        keys = [k for k, (_, dtype) in self.obs_specs.items() if np.issubdtype(dtype, np.floating)]
        for _ in range(n - 1):
            nxt = (last + 1) % self.capacity
            newest = nxt == self.ptr if self.size == self.capacity else nxt >= self.size
            ok = alive & ~newest
            for key in keys:  # the next row continues this episode
                rows = np.flatnonzero(ok)
                if len(rows) == 0:
                    break
                same = np.all(
                    (self.next_obs[key][last[rows]] == self.obs[key][nxt[rows]]).reshape(
                        len(rows), -1
                    ),
                    axis=1,
                )
                ok[rows[~same]] = False
            if not ok.any():
                break
            reward[ok] += scale[ok] * self.reward[nxt[ok]]
            scale[ok] *= gamma
            last[ok] = nxt[ok]
            alive = ok & ~(self.terminated[nxt] | self.truncated[nxt])
        out["next_obs"] = {k: v[last] for k, v in self.next_obs.items()}
        out["reward"] = reward.astype(np.float32)
        out["terminated"] = self.terminated[last]
        out["truncated"] = self.truncated[last]
        out["discount"] = scale.astype(np.float32)
        return out

    def batch(self, index: np.ndarray) -> Batch:
        return {
            "obs": {k: v[index] for k, v in self.obs.items()},
            "next_obs": {k: v[index] for k, v in self.next_obs.items()},
            "action": self.action[index],
            "reward": self.reward[index],
            "terminated": self.terminated[index],
            "truncated": self.truncated[index],
        }

    def grow(self, capacity: int) -> None:
        """Enlarge the buffer to ``capacity`` rows, keeping every stored transition.

        The rows are rewritten oldest first, so sampling afterwards draws from the same set of
        transitions (in a different row order when the ring had wrapped)."""
        if capacity < self.capacity:
            raise ValueError(f"cannot shrink a buffer of {self.capacity} rows to {capacity}")
        if capacity == self.capacity:
            return
        order = np.arange(self.size)
        if self.size == self.capacity:  # wrapped: the oldest row is at ptr
            order = (self.ptr + order) % self.capacity

        def enlarged(array: np.ndarray) -> np.ndarray:
            out = np.zeros((capacity, *array.shape[1:]), array.dtype)
            out[: self.size] = array[order]
            return out

        self.obs = {k: enlarged(v) for k, v in self.obs.items()}
        self.next_obs = {k: enlarged(v) for k, v in self.next_obs.items()}
        for key in ("action", *_SCALARS):
            setattr(self, key, enlarged(getattr(self, key)))
        self.capacity = int(capacity)
        self.ptr = self.size

    # --- files ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the buffer to an ``.npz`` file (uncompressed; no pickled objects).

        Only the filled rows are written (a large, mostly empty buffer stays small on disk);
        `load` restores the full capacity with the rows in place, so sampling continues exactly.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "capacity": self.capacity,
            "size": self.size,
            "ptr": self.ptr,
            "obs_keys": list(self.obs),
            "action_low": self.action_space.low.tolist(),
            "action_high": self.action_space.high.tolist(),
        }
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
        n = self.size  # rows past the size were never written
        for i, key in enumerate(self.obs):  # keys by position: "" and dots are awkward npz names
            arrays[f"obs_{i}"] = self.obs[key][:n]
            arrays[f"next_obs_{i}"] = self.next_obs[key][:n]
        arrays.update(
            action=self.action[:n],
            reward=self.reward[:n],
            terminated=self.terminated[:n],
            truncated=self.truncated[:n],
        )
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ReplayBuffer:
        """Read a buffer written by `save` (the spaces are rebuilt from the stored arrays)."""
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
                raise ValueError(
                    f"{path}: not a {FORMAT} v{FORMAT_VERSION} file "
                    f"(format {meta.get('format')!r} v{meta.get('format_version')!r})"
                )
            keys = meta["obs_keys"]
            obs = {k: data[f"obs_{i}"] for i, k in enumerate(keys)}
            next_obs = {k: data[f"next_obs_{i}"] for i, k in enumerate(keys)}
            buffer = cls(
                _space_of(obs),
                gym.spaces.Box(
                    np.asarray(meta["action_low"], np.float32),
                    np.asarray(meta["action_high"], np.float32),
                    dtype=np.float32,
                ),
                meta["capacity"],
            )
            size = int(meta["size"])
            if len(data["action"]) != size or size > buffer.capacity:
                raise ValueError(
                    f"{path}: {len(data['action'])} stored rows, the metadata says {size} "
                    f"(capacity {buffer.capacity}); the file is damaged"
                )
            for key in obs:
                buffer.obs[key][:size] = obs[key]
                buffer.next_obs[key][:size] = next_obs[key]
            for key in ("action", *_SCALARS):
                getattr(buffer, key)[:size] = data[key]
        buffer.size, buffer.ptr = size, int(meta["ptr"])
        return buffer


def _space_of(arrays: Mapping[str, np.ndarray]) -> gym.Space:
    """A (nested) Dict space of unbounded Boxes matching stored arrays (rows are samples)."""

    def box(a: np.ndarray) -> gym.spaces.Box:
        if np.issubdtype(a.dtype, np.integer):
            info = np.iinfo(a.dtype)
            return gym.spaces.Box(info.min, info.max, a.shape[1:], a.dtype)
        return gym.spaces.Box(-np.inf, np.inf, a.shape[1:], a.dtype)

    if list(arrays) == [""]:
        return box(arrays[""])
    tree: dict[str, Any] = {}
    for key, array in arrays.items():
        *parents, leaf = key.split(".")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = box(array)

    def to_space(node: dict[str, Any]) -> gym.spaces.Dict:
        return gym.spaces.Dict(
            {k: to_space(v) if isinstance(v, dict) else v for k, v in node.items()}
        )

    return to_space(tree)


def load_demos(
    path: str | Path,
    observation_space: gym.Space,
    action_space: gym.spaces.Box,
    obs_keys: Sequence[str] | None = None,
    action_map: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ReplayBuffer:
    """All transitions of an episode store (`robolearn.data`) in a `ReplayBuffer`, in memory.

    ``action_map`` turns the stored actions (rows) into the env's layout, e.g. an action
    mode's ``from_pose`` for a policy that controls fewer axes than the recorded 7-D pose
    actions.
    ``obs_keys`` (dotted, without ``obs.``) chooses the observation keys to read, by default the
    keys of ``observation_space``; keys the dataset lacks raise a KeyError naming both sides.
    The buffer's observation space keeps only those keys.
    """
    from robolearn.data.sampler import TransitionSampler

    leaves = flatten_space(observation_space)
    keys = list(obs_keys) if obs_keys is not None else list(leaves)
    if keys == [""]:
        raise ValueError(
            "an episode store holds dict observations (obs.<key>); the env's observation is a "
            "plain array, so there is no key to match"
        )
    unknown = [k for k in keys if k not in leaves]
    if unknown:
        raise KeyError(f"observation space has no key(s) {unknown}; it has {sorted(leaves)}")
    sampler = TransitionSampler(
        path, keys=[f"obs.{k}" for k in keys] + ["action", *_SCALARS], cache_images=True
    )
    batch = sampler.batch(np.arange(len(sampler)))
    strip = len("obs.")
    flat = {
        "obs": {k[strip:]: v for k, v in batch["obs"].items()},
        "next_obs": {k[strip:]: v for k, v in batch["next_obs"].items()},
        **{k: batch[k] for k in ("action", *_SCALARS)},
    }
    if action_map is not None:
        flat["action"] = np.asarray(action_map(flat["action"]), dtype=np.float32)
    for key in keys:
        want, got = leaves[key].shape, flat["obs"][key].shape[1:]
        if tuple(want) != tuple(got):
            raise ValueError(f"{path}: obs.{key} has shape {got}, the env's space {want}")
    if tuple(flat["action"].shape[1:]) != tuple(action_space.shape):
        raise ValueError(
            f"{path}: actions have shape {flat['action'].shape[1:]}, the env's {action_space.shape}"
        )
    buffer = ReplayBuffer(_space_of(flat["obs"]), action_space, max(1, len(sampler)))
    buffer.add_batch(flat)
    log.info("loaded %d demo transitions from %s", len(buffer), path)
    if not np.all(np.isfinite(buffer.reward)):
        raise ValueError(f"{path}: rewards contain NaN or inf")
    return buffer
