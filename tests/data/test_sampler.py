from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from robolearn.data.sampler import TransitionSampler, WindowSampler
from robolearn.data.store import EpisodeStore
from tests.data.conftest import make_episode


def test_transitions_pair_obs_with_the_next_step_and_the_final_obs(store_path: Path) -> None:
    sampler = TransitionSampler(store_path)
    with EpisodeStore.open(store_path) as store:
        ends = store.episode_ends
    assert len(sampler) == ends[-1]
    batch = sampler.batch(np.arange(len(sampler)))
    flat = {k: np.concatenate([make_episode(i)[k] for i in range(4)]) for k in make_episode(0)}
    np.testing.assert_array_equal(batch["obs"]["obs.state"], flat["obs.state"])
    np.testing.assert_array_equal(batch["obs"]["obs.images.front"], flat["obs.images.front"])
    np.testing.assert_array_equal(batch["action"], flat["action"])
    for t in range(len(sampler)):
        last = t + 1 in ends
        expected = flat["obs.state"][t] if last else flat["obs.state"][t + 1]
        np.testing.assert_array_equal(batch["next_obs"]["obs.state"][t], expected)


def test_random_batches_have_the_right_shapes(store_path: Path) -> None:
    sampler = TransitionSampler(store_path)
    batch = sampler.sample(64, np.random.default_rng(0))
    assert batch["obs"]["obs.images.front"].shape == (64, 8, 8, 3)
    assert batch["next_obs"]["obs.state"].shape == (64, 5)
    assert batch["action"].shape == (64, 7)


def test_windows_pad_by_repeating_edges(store_path: Path) -> None:
    sampler = WindowSampler(store_path, horizon=4, pad_before=1, pad_after=2)
    first = sampler[0]
    ep0 = make_episode(0)["obs.state"]
    np.testing.assert_array_equal(first["obs.state"], np.stack([ep0[0], ep0[0], ep0[1], ep0[2]]))
    assert first["pad_mask"].tolist() == [False, True, True, True]
    assert all(w["obs.images.front"].shape == (4, 8, 8, 3) for w in (sampler[i] for i in range(3)))


def test_samplers_survive_pickling_and_dataloader_workers(store_path: Path) -> None:
    torch = __import__("torch")
    sampler = TransitionSampler(store_path)
    clone = pickle.loads(pickle.dumps(sampler))
    np.testing.assert_array_equal(clone[3]["action"], sampler[3]["action"])
    loader = torch.utils.data.DataLoader(
        WindowSampler(store_path, horizon=3), batch_size=4, num_workers=2, shuffle=True
    )
    n = 0
    for batch in loader:
        assert batch["action"].shape[1:] == (3, 7)
        n += batch["action"].shape[0]
    assert n == len(WindowSampler(store_path, horizon=3))
