"""The episode store: zarr v3, time-major arrays plus episode boundaries.

Layout (diffusion_policy's replay-buffer convention, plus metadata):

    <root>/zarr.json            attrs: format, format_version, schema, created
    <root>/data/<key>           (total_steps, *shape) per-step arrays
    <root>/final/<obs key>      (n_episodes, *shape) each episode's last next-observation
    <root>/meta/episode_ends    (n_episodes,) int64 cumulative step counts
    <root>/meta/zarr.json       attrs["episodes"]: one metadata dict per committed episode

Crash safety: an episode is written beyond the committed length (images stream there as they
arrive) and becomes visible only when the `meta` attributes, one file replaced atomically by
zarr's local store, list it. Readers ignore anything past the committed episodes; a writer that
opens the store trims such leftovers first. One writer at a time (an exclusive file lock).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle

from robolearn import __version__
from robolearn.data.schema import (
    FORMAT,
    FORMAT_VERSION,
    REQUIRED_KEYS,
    FieldSpec,
    Schema,
    SchemaError,
    check_episode,
)

log = logging.getLogger(__name__)

LOWDIM_CHUNK_BYTES = 1 << 20  # about a megabyte per chunk of low-dimensional data
IMAGE_GROW = 256  # rows reserved at a time while images stream in
LOCK_FILE = ".write.lock"


class StoreError(RuntimeError):
    """The dataset cannot be opened or is damaged; the message says where."""


@dataclass
class EpisodeMeta:
    """Per-episode metadata (the per-step action source lives in the `action_source` key)."""

    task: str
    success: bool
    operator: str = "unknown"
    backend: str = "twin"  # twin | franka
    calibration_id: str = "none"
    seed: int | None = None
    control_hz: float = 10.0
    notes: str = ""
    episode_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    recorded_at: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )
    length: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(raw: dict[str, Any]) -> EpisodeMeta:
        known = {f for f in EpisodeMeta.__dataclass_fields__}
        return EpisodeMeta(**{k: v for k, v in raw.items() if k in known})


def _compressor(spec: FieldSpec) -> BloscCodec:
    """Lossless either way. Images: lz4hc without shuffling (about 6x on rendered frames and
    ~30 us to decode, against 4x and ~170 us for zstd+bitshuffle); floats: zstd+bitshuffle."""
    if spec.is_image:
        return BloscCodec(cname="lz4hc", clevel=5, shuffle=BloscShuffle.noshuffle)
    return BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.bitshuffle)


def _chunks(spec: FieldSpec) -> tuple[int, ...]:
    if spec.is_image:
        return (1, *spec.shape)  # one frame per chunk
    row_bytes = max(1, int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(spec.dtype).itemsize)
    return (max(1, LOWDIM_CHUNK_BYTES // row_bytes), *spec.shape)


class EpisodeStore:
    """A dataset of episodes on disk. Use `create`/`open`; close (or `with`) to release the lock."""

    def __init__(self, path: Path, root: zarr.Group, writable: bool) -> None:
        self.path = path
        self.root = root
        self.writable = writable
        self._lock_fd: int | None = None
        attrs = dict(root.attrs)
        if attrs.get("format") != FORMAT:
            raise StoreError(
                f"{path}: not a robolearn episode dataset (format {attrs.get('format')!r})"
            )
        version = attrs.get("format_version")
        if version != FORMAT_VERSION:
            raise StoreError(
                f"{path}: format_version {version!r} is not supported (this robolearn reads"
                f" {FORMAT_VERSION}); convert it or upgrade robolearn"
            )
        self.schema: Schema = {k: FieldSpec.from_json(v) for k, v in attrs["schema"].items()}
        self._data = {k: root[f"data/{k}"] for k in self.schema}
        self._final = {k: root[f"final/{k}"] for k in self.schema if k.startswith("obs.")}
        self._ends_array = root["meta/episode_ends"]
        self._meta_group = root["meta"]
        self._load_committed()

    # --- opening ------------------------------------------------------------------------------
    @classmethod
    def create(
        cls, path: str | Path, schema: Schema, attrs: dict[str, Any] | None = None
    ) -> EpisodeStore:
        """Create an empty dataset with `schema` (see `robolearn.data.schema`)."""
        path = Path(path)
        missing = [k for k in REQUIRED_KEYS if k not in schema]
        if missing:
            raise SchemaError(f"{path}: schema lacks required key(s) {', '.join(missing)}")
        if path.exists() and any(path.iterdir()):
            raise StoreError(f"{path} exists and is not empty; open it to append")
        root = zarr.open_group(str(path), mode="w", zarr_format=3)
        root.attrs.update(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "schema": {k: v.to_json() for k, v in schema.items()},
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "robolearn_version": __version__,
                **(attrs or {}),
            }
        )
        for key, spec in schema.items():
            root.create_array(
                f"data/{key}", shape=(0, *spec.shape), chunks=_chunks(spec), dtype=spec.dtype,
                compressors=_compressor(spec), fill_value=0,
            )  # fmt: skip
            if key.startswith("obs."):
                root.create_array(
                    f"final/{key}", shape=(0, *spec.shape), chunks=(1, *spec.shape),
                    dtype=spec.dtype, compressors=_compressor(spec), fill_value=0,
                )  # fmt: skip
        root.create_array("meta/episode_ends", shape=(0,), chunks=(1 << 16,), dtype="int64")
        root["meta"].attrs["episodes"] = []
        store = cls(path, root, writable=True)
        store._acquire_lock()
        return store

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> EpisodeStore:
        """Open for reading (`"r"`) or appending (`"a"`, takes the writer lock)."""
        path = Path(path)
        if mode not in ("r", "a"):
            raise ValueError(f"mode must be 'r' or 'a', got {mode!r}")
        if not (path / "zarr.json").is_file():
            raise StoreError(f"{path}: no dataset here (zarr.json missing)")
        try:
            root = zarr.open_group(str(path), mode="r" if mode == "r" else "r+", zarr_format=3)
        except Exception as err:  # noqa: BLE001 - zarr raises many kinds
            raise StoreError(f"{path}: cannot open the dataset: {err}") from err
        store = cls(path, root, writable=mode == "a")
        if store.writable:
            store._acquire_lock()
            store._trim_uncommitted()
        return store

    @classmethod
    def open_or_create(cls, path: str | Path, schema: Schema, **attrs: Any) -> EpisodeStore:
        path = Path(path)
        if (path / "zarr.json").is_file():
            store = cls.open(path, mode="a")
            if store.schema != schema:
                store.close()
                raise SchemaError(f"{path}: existing schema differs from the data being recorded")
            return store
        return cls.create(path, schema, attrs)

    def _acquire_lock(self) -> None:
        fd = os.open(self.path / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"{self.path} is open for writing by another process") from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("EpisodeStore holds open handles; pass its path to worker processes")

    # --- committed state ----------------------------------------------------------------------
    def _load_committed(self) -> None:
        episodes = self._meta_group.attrs.get("episodes", [])
        self._meta = [EpisodeMeta.from_json(e) for e in episodes]
        n = len(self._meta)
        ends = np.asarray(self._ends_array[:n], dtype=np.int64) if n else np.zeros(0, np.int64)
        if len(ends) != n or (n and (np.any(np.diff(ends) <= 0) or ends[0] <= 0)):
            raise StoreError(f"{self.path}: meta/episode_ends is inconsistent with the metadata")
        self._ends = ends

    def _trim_uncommitted(self) -> None:
        steps, n = self.n_steps, self.n_episodes
        trimmed = []
        for key, arr in self._data.items():
            if arr.shape[0] != steps:
                trimmed.append(key)
                arr.resize((steps, *arr.shape[1:]))
        for key, arr in self._final.items():
            if arr.shape[0] != n:
                trimmed.append(f"final/{key}")
                arr.resize((n, *arr.shape[1:]))
        if self._ends_array.shape[0] != n:
            self._ends_array.resize((n,))
        if trimmed:
            log.warning(
                "%s: dropped an uncommitted (interrupted) episode from %s", self.path, trimmed
            )

    @property
    def n_episodes(self) -> int:
        return len(self._meta)

    @property
    def n_steps(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    @property
    def episode_ends(self) -> np.ndarray:
        return self._ends.copy()

    @property
    def keys(self) -> list[str]:
        return list(self.schema)

    def episode_meta(self, index: int) -> EpisodeMeta:
        return self._meta[self._check_index(index)]

    def episode_range(self, index: int) -> tuple[int, int]:
        i = self._check_index(index)
        start = int(self._ends[i - 1]) if i > 0 else 0
        return start, int(self._ends[i])

    def _check_index(self, index: int) -> int:
        n = self.n_episodes
        if not -n <= index < n:
            raise IndexError(f"episode {index} out of range: {self.path} has {n} episodes")
        return index % n

    def episode(self, index: int, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """All steps of one episode (plus `final.<key>` next-observations)."""
        start, end = self.episode_range(index)
        out = {k: self._data[k][start:end] for k in (keys or self.schema)}
        i = self._check_index(index)
        for k, arr in self._final.items():
            if keys is None or k in keys:
                out[f"final.{k}"] = arr[i]
        return out

    def array(self, key: str) -> zarr.Array:
        """The whole committed-or-not zarr array of a key (slice it to `n_steps`)."""
        return self._data[key]

    def final_array(self, key: str) -> zarr.Array:
        return self._final[key]

    def __len__(self) -> int:
        return self.n_episodes

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(self.n_episodes):
            yield self.episode(i)

    # --- writing ------------------------------------------------------------------------------
    def _require_writable(self) -> None:
        if not self.writable or self._lock_fd is None:
            raise StoreError(f"{self.path} is open read-only; open it with mode='a'")

    def begin_episode(self) -> EpisodeWriter:
        """Stream one episode step by step; nothing is visible until `commit()`."""
        self._require_writable()
        return EpisodeWriter(self)

    def append(
        self,
        steps: dict[str, np.ndarray],
        meta: EpisodeMeta,
        final_obs: dict[str, np.ndarray] | None = None,
    ) -> int:
        """Append a whole episode (time-major arrays); returns its index."""
        writer = self.begin_episode()
        writer.add_steps(steps)
        return writer.commit(meta, final_obs)

    def _commit(
        self,
        length: int,
        lowdim: dict[str, np.ndarray],
        final_obs: dict[str, np.ndarray],
        meta: EpisodeMeta,
    ) -> int:
        start, n = self.n_steps, self.n_episodes
        end = start + length
        for key, arr in self._data.items():
            if key in lowdim:
                arr.resize((end, *arr.shape[1:]))
                arr[start:end] = lowdim[key]
            elif arr.shape[0] != end:
                arr.resize((end, *arr.shape[1:]))
        for key, arr in self._final.items():
            arr.resize((n + 1, *arr.shape[1:]))
            arr[n] = final_obs[key]
        self._ends_array.resize((n + 1,))
        self._ends_array[n] = end
        meta.length = length
        episodes = [m.to_json() for m in self._meta] + [meta.to_json()]
        # The commit point: one atomic replace of meta/zarr.json.
        self._meta_group.attrs["episodes"] = episodes
        self._meta.append(meta)
        self._ends = np.append(self._ends, end)
        self._invalidate_stats()
        return n

    # --- delete and merge ---------------------------------------------------------------------
    def delete(self, indices: Iterable[int]) -> None:
        """Remove episodes by rewriting the dataset next to itself and swapping it in."""
        self._require_writable()
        drop = {self._check_index(i) for i in indices}
        keep = [i for i in range(self.n_episodes) if i not in drop]
        tmp = self.path.with_name(self.path.name + f".rewrite-{uuid.uuid4().hex[:8]}")
        with EpisodeStore.create(tmp, self.schema, self._user_attrs()) as out:
            for i in keep:
                ep = self.episode(i)
                final = {k[len("final.") :]: v for k, v in ep.items() if k.startswith("final.")}
                steps = {k: v for k, v in ep.items() if not k.startswith("final.")}
                out.append(steps, self._meta[i], final)
        self.close()
        _swap_directories(tmp, self.path)
        reopened = zarr.open_group(str(self.path), mode="r+", zarr_format=3)
        self.__init__(self.path, reopened, writable=True)  # type: ignore[misc]
        self._acquire_lock()

    def merge(self, other: EpisodeStore) -> int:
        """Append all episodes of `other` (same schema); returns how many were added."""
        self._require_writable()
        if other.schema != self.schema:
            diff = sorted(
                k for k in set(other.schema) | set(self.schema)
                if other.schema.get(k) != self.schema.get(k)
            )  # fmt: skip
            raise SchemaError(
                f"cannot merge {other.path} into {self.path}: schemas differ in key(s) {diff}"
            )
        for i in range(other.n_episodes):
            ep = other.episode(i)
            final = {k[len("final.") :]: v for k, v in ep.items() if k.startswith("final.")}
            steps = {k: v for k, v in ep.items() if not k.startswith("final.")}
            self.append(steps, EpisodeMeta.from_json(other.episode_meta(i).to_json()), final)
        return other.n_episodes

    def _user_attrs(self) -> dict[str, Any]:
        skip = {"format", "format_version", "schema", "created", "robolearn_version", "stats"}
        return {k: v for k, v in self.root.attrs.items() if k not in skip}

    # --- statistics ---------------------------------------------------------------------------
    def _invalidate_stats(self) -> None:
        if "stats" in self.root.attrs:
            attrs = dict(self.root.attrs)
            attrs.pop("stats")
            self.root.attrs.put(attrs)

    def stats(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, list[float]]]:
        """Mean, std, min, max per low-dimensional key over committed steps (cached)."""
        wanted = [k for k in (keys or self.schema) if not self.schema[k].is_image]
        cached = dict(self.root.attrs.get("stats", {}))
        missing = [k for k in wanted if k not in cached or cached[k].get("n") != self.n_steps]
        for key in missing:
            data = np.asarray(self._data[key][: self.n_steps], dtype=np.float64)
            if data.size == 0:
                continue
            cached[key] = {
                "mean": data.mean(axis=0).tolist(),
                "std": data.std(axis=0).tolist(),
                "min": data.min(axis=0).tolist(),
                "max": data.max(axis=0).tolist(),
                "n": self.n_steps,
            }
        if missing and self.writable:
            self.root.attrs["stats"] = cached
        return {k: cached[k] for k in wanted if k in cached}

    # --- inspection ---------------------------------------------------------------------------
    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def info(self) -> dict[str, Any]:
        successes = sum(1 for m in self._meta if m.success)
        return {
            "path": str(self.path),
            "format_version": FORMAT_VERSION,
            "episodes": self.n_episodes,
            "steps": self.n_steps,
            "success_rate": successes / self.n_episodes if self.n_episodes else 0.0,
            "tasks": sorted({m.task for m in self._meta}),
            "keys": {k: {"shape": list(v.shape), "dtype": v.dtype} for k, v in self.schema.items()},
            "size_on_disk_bytes": self.size_on_disk(),
        }

    def validate(self) -> list[str]:
        """Read every committed chunk; return problems naming the episode and key (empty: OK)."""
        problems: list[str] = []
        steps = self.n_steps
        for key, arr in self._data.items():
            if arr.shape[0] < steps:
                problems.append(f"key '{key}': {arr.shape[0]} rows but {steps} committed steps")
                continue
            rows = arr.chunks[0]
            for start in range(0, steps, rows):
                stop = min(start + rows, steps)
                try:
                    block = arr[start:stop]
                    if block.dtype.kind == "f" and not np.all(np.isfinite(block)):
                        raise ValueError("non-finite values")
                except Exception as err:  # noqa: BLE001 - any decode failure is a finding
                    eps = self._episodes_in(start, stop)
                    problems.append(
                        f"episode(s) {eps}, key '{key}', steps {start}-{stop - 1}: {err}"
                    )
        for key, arr in self._final.items():
            for i in range(self.n_episodes):
                try:
                    arr[i]
                except Exception as err:  # noqa: BLE001
                    problems.append(f"episode {i}, key 'final/{key}': {err}")
        return problems

    def _episodes_in(self, start: int, stop: int) -> list[int]:
        first = int(np.searchsorted(self._ends, start, side="right"))
        last = int(np.searchsorted(self._ends, stop - 1, side="right"))
        return list(range(first, last + 1))


class EpisodeWriter:
    """Collects one episode. Images stream to disk past the committed length as they arrive;
    low-dimensional data is kept in memory until `commit()`."""

    def __init__(self, store: EpisodeStore) -> None:
        self.store = store
        self._start = store.n_steps
        self._length = 0
        self._lowdim: dict[str, list[np.ndarray]] = {
            k: [] for k, s in store.schema.items() if not s.is_image
        }
        self._images = [k for k, s in store.schema.items() if s.is_image]
        self._capacity = {k: store.array(k).shape[0] for k in self._images}
        self._done = False

    def __len__(self) -> int:
        return self._length

    def add_step(self, step: dict[str, np.ndarray]) -> None:
        batch = {k: np.asarray(v)[None] for k, v in step.items()}
        self.add_steps(batch)

    def add_steps(self, steps: dict[str, np.ndarray]) -> None:
        if self._done:
            raise StoreError("this episode was already committed or discarded")
        where = f"episode {self.store.n_episodes} (being recorded), step {self._length}"
        n, arrays = check_episode(self.store.schema, steps, where)
        for key in self._lowdim:
            self._lowdim[key].append(arrays[key])
        row = self._start + self._length
        for key in self._images:
            arr = self.store.array(key)
            need = row + n
            if self._capacity[key] < need:
                self._capacity[key] = need + IMAGE_GROW
                arr.resize((self._capacity[key], *arr.shape[1:]))
            arr[row : row + n] = arrays[key]
        self._length += n

    def commit(self, meta: EpisodeMeta, final_obs: dict[str, np.ndarray] | None = None) -> int:
        """Make the episode visible; returns its index."""
        if self._done:
            raise StoreError("this episode was already committed or discarded")
        if self._length == 0:
            raise SchemaError("cannot commit an empty episode")
        lowdim = {k: np.concatenate(v) for k, v in self._lowdim.items()}
        final: dict[str, np.ndarray] = {}
        for key in self.store._final:  # noqa: SLF001 - same module
            if final_obs is not None and key in final_obs:
                value = np.asarray(final_obs[key], dtype=self.store.schema[key].dtype)
                if value.shape != self.store.schema[key].shape:
                    raise SchemaError(
                        f"episode {self.store.n_episodes}, final observation '{key}':"
                        f" shape {value.shape}, schema {self.store.schema[key].shape}"
                    )
                final[key] = value
            elif key in lowdim:
                final[key] = lowdim[key][-1]
            else:
                final[key] = self.store.array(key)[self._start + self._length - 1]
        self._done = True
        return self.store._commit(self._length, lowdim, final, meta)  # noqa: SLF001

    def discard(self) -> None:
        """Drop the episode; streamed frames are trimmed at the next commit or open."""
        self._done = True


def _swap_directories(new: Path, old: Path) -> None:
    """Replace `old` by `new`; a crash in between leaves `<old>.old` for `recover_swap`."""
    backup = old.with_name(old.name + ".old")
    if backup.exists():
        shutil.rmtree(backup)
    os.replace(old, backup)
    os.replace(new, old)
    shutil.rmtree(backup)


def recover_swap(path: str | Path) -> bool:
    """Finish an interrupted delete: restore `<path>.old` if `path` is missing."""
    path = Path(path)
    backup = path.with_name(path.name + ".old")
    if not path.exists() and backup.exists():
        os.replace(backup, path)
        return True
    return False


def read_json_attrs(path: str | Path) -> dict[str, Any]:
    """The dataset's root attributes without zarr (quick inspection)."""
    return json.loads((Path(path) / "zarr.json").read_text()).get("attributes", {})
