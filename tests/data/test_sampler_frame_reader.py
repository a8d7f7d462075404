"""The sampler's direct chunk-file image reader returns exactly what zarr returns."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from robolearn.data import sampler as sampler_module
from robolearn.data.sampler import TransitionSampler, WindowSampler, _FrameReader
from robolearn.data.schema import FieldSpec
from robolearn.data.store import EpisodeMeta, EpisodeStore

IMAGE = (12, 10, 3)


def _make(path: Path) -> None:
    rng = np.random.default_rng(0)
    schema = {
        "obs.state": FieldSpec((4,), "<f4"),
        "obs.images.front": FieldSpec(IMAGE, "|u1"),
        "obs.depth": FieldSpec((6, 5), "<f4"),  # multi-dimensional, not an image: in memory
        "action": FieldSpec((2,), "<f4"),
        "reward": FieldSpec((), "<f4"),
        "terminated": FieldSpec((), "|b1"),
        "truncated": FieldSpec((), "|b1"),
        "action_source": FieldSpec((), "|u1"),
    }
    with EpisodeStore.create(path, schema) as store:
        for e, n in enumerate((7, 1, 12, 5)):
            images = rng.integers(0, 255, (n, *IMAGE), dtype=np.uint8)
            images[n // 2] = 0  # equals the fill value: zarr writes no chunk file for it
            steps = {
                "obs.state": rng.normal(size=(n, 4)).astype(np.float32),
                "obs.images.front": images,
                "obs.depth": rng.normal(size=(n, 6, 5)).astype(np.float32),
                "action": rng.normal(size=(n, 2)).astype(np.float32),
                "reward": rng.normal(size=n).astype(np.float32),
                "terminated": np.zeros(n, bool),
                "truncated": np.zeros(n, bool),
                "action_source": np.zeros(n, np.uint8),
            }
            final = {"obs.images.front": np.full(IMAGE, 10 + e, np.uint8)}
            store.append(steps, EpisodeMeta(task="t", success=True), final)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("frames") / "ds"
    _make(path)
    return path


def test_reader_is_used_and_matches_zarr(dataset) -> None:
    sampler = TransitionSampler(dataset)
    view = sampler.view
    view._ensure_open()
    assert set(view._readers) == {"obs.images.front"}
    assert set(view._final_readers) == {"obs.images.front"}
    array = view._store.array("obs.images.front")
    rows = np.array([3, 0, 3, view.n_steps - 1, 1, 8, 8, 14])  # repeats, unsorted, fill chunks
    np.testing.assert_array_equal(view._readers["obs.images.front"].read(rows), array.oindex[rows])
    episodes = np.array([2, 0, 1, 3, 3])
    np.testing.assert_array_equal(
        view.finals("obs.images.front", episodes),
        view._store.final_array("obs.images.front").oindex[episodes],
    )


def test_batches_equal_the_zarr_path(dataset, monkeypatch) -> None:
    fast = TransitionSampler(dataset)
    index = np.random.default_rng(1).integers(0, len(fast), 300)
    index[:4] = [0, 6, 7, len(fast) - 1]  # episode ends take the final observation
    got = fast.batch(index)
    monkeypatch.setattr(_FrameReader, "supports", staticmethod(lambda array: False))
    slow = TransitionSampler(dataset)
    want = slow.batch(index)
    assert not slow.view._readers
    for part in ("obs", "next_obs"):
        for key in want[part]:
            np.testing.assert_array_equal(got[part][key], want[part][key], err_msg=key)
    for key in ("action", "reward", "episode"):
        np.testing.assert_array_equal(got[key], want[key])
    cached = TransitionSampler(dataset, cache_images=True).batch(index)
    np.testing.assert_array_equal(
        cached["next_obs"]["obs.images.front"], got["next_obs"]["obs.images.front"]
    )


def test_window_sampler_reads_frames(dataset) -> None:
    windows = WindowSampler(dataset, horizon=3, keys=["obs.images.front", "action"])
    batch = windows.batch(np.arange(len(windows)))
    with EpisodeStore.open(dataset) as store:
        frames = store.array("obs.images.front")[: store.n_steps]
    assert batch["obs.images.front"].shape == (len(windows), 3, *IMAGE)
    np.testing.assert_array_equal(batch["obs.images.front"][0], frames[0:3])


def test_sampler_pickles_without_the_pool(dataset) -> None:
    sampler = TransitionSampler(dataset)
    sampler.sample(4, np.random.default_rng(0))
    clone = pickle.loads(pickle.dumps(sampler))
    index = np.arange(5)
    np.testing.assert_array_equal(
        clone.batch(index)["obs"]["obs.images.front"],
        sampler.batch(index)["obs"]["obs.images.front"],
    )


def test_unknown_layout_falls_back_to_zarr(dataset, monkeypatch) -> None:
    def broken(self, array, pool):
        raise ValueError("unexpected chunk key layout")

    monkeypatch.setattr(_FrameReader, "__init__", broken)
    sampler = TransitionSampler(dataset)
    batch = sampler.batch(np.arange(6))
    assert not sampler.view._readers
    with EpisodeStore.open(dataset) as store:
        np.testing.assert_array_equal(
            batch["obs"]["obs.images.front"], store.array("obs.images.front")[:6]
        )
    assert sampler_module.READ_THREADS >= 1
