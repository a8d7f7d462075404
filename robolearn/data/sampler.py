"""Samplers over an episode store for learning: random transitions and fixed-length windows.

Both are map-style datasets (`len`, `__getitem__`) that also draw whole batches with
`sample(batch_size, rng)`. They hold only the dataset path when pickled and open the store
lazily in each process, so they are safe in `torch.utils.data.DataLoader` workers. Low-
dimensional keys are loaded into memory once; images are read from disk per batch unless
`cache_images=True`.

Images are stored one frame per chunk. Reading a random batch through zarr's API costs about a
millisecond of Python and asyncio overhead per chunk, so frames are read by `_FrameReader`:
the chunk files are read and Blosc-decoded straight into the batch array by a small thread pool
(file reads and Blosc release the GIL). It checks the array's metadata and falls back to zarr
for any layout it does not know.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numcodecs.blosc
import numpy as np
import zarr
from zarr.codecs import BloscCodec, BytesCodec
from zarr.core.chunk_key_encodings import DefaultChunkKeyEncoding
from zarr.storage import LocalStore

from robolearn.data.store import EpisodeStore

log = logging.getLogger(__name__)

READ_THREADS = min(4, os.cpu_count() or 1)
FRAMES_PER_TASK = 32  # frames one pool task reads; fewer tasks, less executor overhead


class _FrameReader:
    """Reads rows of a one-row-per-chunk zarr v3 array (LocalStore; Blosc or no compression)
    directly from the chunk files into a numpy array, in a thread pool."""

    def __init__(self, array: zarr.Array, pool: ThreadPoolExecutor) -> None:
        self.array = array
        self.pool = pool
        meta = array.metadata
        self.root = Path(array.store_path.store.root) / array.store_path.path
        self.row_shape = tuple(array.shape[1:])
        self.dtype = np.dtype(array.dtype)
        self.fill = meta.fill_value
        self.compressed = isinstance(meta.codecs[-1], BloscCodec)
        # The default encoding names chunk (i, 0, 0, 0) "c/i/0/0/0"; checked on one row.
        sep = meta.chunk_key_encoding.separator
        self._prefix = f"{self.root}{os.sep}c{sep}"
        self._suffix = f"{sep}0" * len(self.row_shape)
        if self._path(7) != str(self.root / meta.encode_chunk_key((7, *[0] * len(self.row_shape)))):
            raise ValueError(f"{self.root}: unexpected chunk key layout")
        self._max_bytes = self.dtype.itemsize * int(np.prod(self.row_shape)) + 1024

    def _path(self, row: int) -> str:
        return f"{self._prefix}{row}{self._suffix}"

    @staticmethod
    def supports(array: zarr.Array) -> bool:
        meta = array.metadata
        if getattr(meta, "zarr_format", None) != 3 or not isinstance(
            array.store_path.store, LocalStore
        ):
            return False
        codecs = tuple(meta.codecs)
        if not codecs or not isinstance(codecs[0], BytesCodec) or len(codecs) > 2:
            return False
        if len(codecs) == 2 and not isinstance(codecs[1], BloscCodec):
            return False
        dtype = np.dtype(array.dtype)
        if dtype.itemsize > 1 and dtype.byteorder not in ("=", "<", "|"):
            return False
        if dtype.itemsize > 1 and codecs[0].endian not in (None, "little"):
            return False
        return (
            isinstance(meta.chunk_key_encoding, DefaultChunkKeyEncoding)
            and tuple(array.chunks) == (1, *array.shape[1:])
            and dtype.kind in "biuf"
        )

    def read(self, rows: np.ndarray) -> np.ndarray:
        """`rows` (sorted or not, repeats allowed) as an array (len(rows), *row_shape)."""
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        tasks = [
            (rows[i : i + FRAMES_PER_TASK], out[i : i + FRAMES_PER_TASK])
            for i in range(0, len(rows), FRAMES_PER_TASK)
        ]
        if len(tasks) == 1:
            self._read_into(*tasks[0])
        else:
            for done in self.pool.map(lambda t: self._read_into(*t), tasks):
                del done
        return out

    def _read_into(self, rows: np.ndarray, out: np.ndarray) -> None:
        for j, row in enumerate(rows.tolist()):
            try:
                fd = os.open(self._path(row), os.O_RDONLY)
            except FileNotFoundError:
                out[j] = self.fill  # zarr writes no chunk that equals the fill value
                continue
            try:
                raw = os.read(fd, self._max_bytes)  # a chunk is at most raw size + Blosc header
            finally:
                os.close(fd)
            target = out[j].reshape(-1).view(np.uint8)
            if self.compressed:
                numcodecs.blosc.decompress(raw, target)
            else:
                target[:] = np.frombuffer(raw, np.uint8)


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
        self._readers: dict[str, _FrameReader] = {}
        self._final_readers: dict[str, _FrameReader] = {}
        self._pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="robolearn-read")
        for key in self.keys:
            if key in self.image_keys and not self.cache_images:
                self._add_reader(self._readers, key, self._store.array(key))
                if key.startswith("obs."):
                    self._add_reader(self._final_readers, key, self._store.final_array(key))
                continue
            self._memory[key] = np.asarray(self._store.array(key)[: self.n_steps])
            if key.startswith("obs."):
                self._final[key] = np.asarray(self._store.final_array(key)[: len(self.ends)])
        self._pid = os.getpid()

    def _add_reader(self, readers: dict[str, _FrameReader], key: str, array: zarr.Array) -> None:
        try:
            if _FrameReader.supports(array):
                readers[key] = _FrameReader(array, self._pool)
                return
        except (AttributeError, TypeError, ValueError) as err:  # a zarr version we don't know
            log.debug("%s: %s: %s", self.path, key, err)
        log.info("%s: reading %s through zarr (unknown chunk layout)", self.path, key)

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        state["_pid"] = None
        return state

    def rows(self, key: str, index: np.ndarray) -> np.ndarray:
        self._ensure_open()
        if key in self._memory:
            return self._memory[key][index]
        if key in self._readers:
            return self._readers[key].read(index)
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
        if key in self._final_readers:
            return self._final_readers[key].read(episodes)
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
            both = v.rows(key, np.concatenate([index, nxt]))  # one read: the pool sees it all
            obs[key], following = both[: len(index)], both[len(index) :]
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
