"""ReplayBuffer: ring semantics, dict observations, npz files without pickle, demos from a store."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from robolearn.learn.replay import ReplayBuffer, load_demos
from robolearn.paths import asset_dir

SPACE = gym.spaces.Dict(
    {
        "state": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
        "images": gym.spaces.Dict({"front": gym.spaces.Box(0, 255, (2, 2, 3), np.uint8)}),
    }
)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def _obs(i: int) -> dict:
    return {
        "state": np.full(3, i, np.float32),
        "images": {"front": np.full((2, 2, 3), i % 256, np.uint8)},
    }


def test_add_sample_and_wrap_around():
    buffer = ReplayBuffer(SPACE, ACT, capacity=4)
    assert set(buffer.obs) == {"state", "images.front"}
    for i in range(6):
        buffer.add(_obs(i), np.full(2, i / 10), float(i), _obs(i + 1), i == 5, False)
    assert len(buffer) == 4 and buffer.ptr == 2
    # rows 0, 1 were overwritten by transitions 4, 5
    assert sorted(buffer.reward.tolist()) == [2.0, 3.0, 4.0, 5.0]
    batch = buffer.sample(64, np.random.default_rng(0))
    assert batch["obs"]["state"].shape == (64, 3)
    assert batch["obs"]["images.front"].dtype == np.uint8
    np.testing.assert_array_equal(batch["next_obs"]["state"][:, 0], batch["reward"] + 1)
    np.testing.assert_allclose(batch["action"][:, 0], batch["reward"] / 10, rtol=1e-6)
    assert batch["terminated"].dtype == np.bool_
    assert batch["terminated"].sum() == np.sum(batch["reward"] == 5.0)


def test_add_batch_matches_add():
    a, b = ReplayBuffer(SPACE, ACT, 8), ReplayBuffer(SPACE, ACT, 8)
    rows = [(_obs(i), np.full(2, 0.1 * i), float(i), _obs(i + 1), False, i == 2) for i in range(3)]
    for row in rows:
        a.add(*row)
    b.add_batch(
        {
            "obs": {
                "state": np.stack([r[0]["state"] for r in rows]),
                "images.front": np.stack([r[0]["images"]["front"] for r in rows]),
            },
            "next_obs": {
                "state": np.stack([r[3]["state"] for r in rows]),
                "images": {"front": np.stack([r[3]["images"]["front"] for r in rows])},
            },
            "action": np.stack([r[1] for r in rows]),
            "reward": [r[2] for r in rows],
            "terminated": [r[4] for r in rows],
            "truncated": [r[5] for r in rows],
        }
    )
    ia, ib = a.batch(np.arange(3)), b.batch(np.arange(3))
    for key in ("action", "reward", "terminated", "truncated"):
        np.testing.assert_array_equal(ia[key], ib[key])
    for key in ia["obs"]:
        np.testing.assert_array_equal(ia["obs"][key], ib["obs"][key])
        np.testing.assert_array_equal(ia["next_obs"][key], ib["next_obs"][key])


def test_sample_empty_and_bad_capacity():
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(SPACE, ACT, 2).sample(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(SPACE, ACT, 0)


def test_save_load_round_trip_without_pickle(tmp_path):
    buffer = ReplayBuffer(SPACE, ACT, 5)
    for i in range(7):
        buffer.add(_obs(i), np.full(2, 0.5), float(i), _obs(i + 1), False, i == 6)
    path = buffer.save(tmp_path / "buffer")
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert all(data[k].dtype != object for k in data.files)
    loaded = ReplayBuffer.load(path)
    assert (loaded.size, loaded.ptr, loaded.capacity) == (buffer.size, buffer.ptr, 5)
    for key in buffer.obs:
        np.testing.assert_array_equal(loaded.obs[key], buffer.obs[key])
        np.testing.assert_array_equal(loaded.next_obs[key], buffer.next_obs[key])
    np.testing.assert_array_equal(loaded.reward, buffer.reward)
    np.testing.assert_array_equal(loaded.truncated, buffer.truncated)
    loaded.add(_obs(9), np.zeros(2), 9.0, _obs(10), True, False)  # still usable
    assert loaded.reward[buffer.ptr] == 9.0


def test_save_load_plain_box_observations(tmp_path):
    box = gym.spaces.Box(-1, 1, (4,), np.float32)
    buffer = ReplayBuffer(box, ACT, 3)
    buffer.add(np.ones(4), np.zeros(2), 1.0, np.zeros(4), False, False)
    loaded = ReplayBuffer.load(buffer.save(tmp_path / "b.npz"))
    np.testing.assert_array_equal(loaded.sample(2, np.random.default_rng(0))["obs"][""], 1.0)


def test_load_demos_from_the_sample_dataset():
    path = asset_dir("datasets") / "sample_pick_cube"
    space = gym.spaces.Dict(
        {
            "state": gym.spaces.Box(-np.inf, np.inf, (35,), np.float32),
            "images": gym.spaces.Dict({"front": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}),
        }
    )
    act = gym.spaces.Box(-1, 1, (7,), np.float32)
    demos = load_demos(path, space, act, obs_keys=["state"])  # images not read
    assert len(demos) == 169 and list(demos.obs) == ["state"]
    batch = demos.batch(np.arange(len(demos)))
    # next_obs of step t is obs of step t + 1 inside an episode
    np.testing.assert_array_equal(batch["next_obs"]["state"][0], batch["obs"]["state"][1])
    assert batch["terminated"].sum() + batch["truncated"].sum() == 4  # 4 episodes end
    with pytest.raises(KeyError, match="no key"):
        load_demos(path, space, act, obs_keys=["nope"])
    with pytest.raises(ValueError, match="actions"):
        load_demos(path, space, gym.spaces.Box(-1, 1, (3,), np.float32), obs_keys=["state"])
