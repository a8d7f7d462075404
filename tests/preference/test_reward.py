"""Reward learning from preferences: RRL beats plain Bradley-Terry under 30% flipped labels;
the learned reward saves, loads, wraps an env and relabels a dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robolearn.preference.labeller import ScriptedLabellerConfig, label_returns, random_pairs
from robolearn.preference.reward import (
    LearnedReward,
    LearnedRewardWrapper,
    PreferenceBatchData,
    RewardModelConfig,
    preference_accuracy,
    train_reward_model,
)


def synthetic_task(seed: int, flip: float, n_seg: int = 200, n_pairs: int = 400):
    """Segments of 8 steps of 4-d states (+ 2-d actions that do not matter); the true reward
    is tanh(s0) + 0.5 s1; training labels are flipped at ``flip``; test labels are clean."""
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(n_seg, 8, 4)).astype(np.float32)
    actions = rng.normal(size=(n_seg, 8, 2)).astype(np.float32)
    returns = (np.tanh(states[..., 0]) + 0.5 * states[..., 1]).sum(axis=1)
    pairs = np.array(random_pairs(n_seg, n_pairs, rng))
    labels, _ = label_returns(
        returns[pairs[:, 0]],
        returns[pairs[:, 1]],
        ScriptedLabellerConfig(flip_rate=flip, seed=seed),
    )
    test = np.array(random_pairs(n_seg, 2000, rng))
    _, truth = label_returns(returns[test[:, 0]], returns[test[:, 1]], ScriptedLabellerConfig())
    return PreferenceBatchData(states, actions, pairs, labels), test, truth


def test_rrl_beats_bradley_terry_with_30_percent_flipped_labels():
    torch.set_num_threads(1)
    acc = {"bt": [], "rrl": []}
    for seed in range(3):
        data, test, truth = synthetic_task(seed, flip=0.3)
        for kind in acc:
            model, _ = train_reward_model(data, RewardModelConfig(type=kind, epochs=60, seed=seed))
            acc[kind].append(preference_accuracy(model, data.states, data.actions, test, truth))
    bt, rrl = float(np.mean(acc["bt"])), float(np.mean(acc["rrl"]))
    print(
        f"30% flipped labels, held-out accuracy: BT {acc['bt']} mean {bt:.3f};"
        f" RRL {acc['rrl']} mean {rrl:.3f}"
    )
    assert bt > 0.6  # both learned something
    assert rrl > bt


def test_learned_reward_round_trip_and_uses(tmp_path):
    torch.set_num_threads(1)
    data, test, truth = synthetic_task(0, flip=0.0, n_pairs=200)
    model, _ = train_reward_model(data, RewardModelConfig(type="rrl", epochs=20, ensemble=2))
    acc = preference_accuracy(model, data.states, data.actions, test, truth)
    assert acc > 0.75, acc  # learned on clean labels
    path = model.save(tmp_path / "reward.safetensors")
    loaded = LearnedReward.load(path)
    mu, sd = model.predict(data.states[:3], data.actions[:3])
    mu2, sd2 = loaded.predict(data.states[:3], data.actions[:3])
    assert np.allclose(mu, mu2) and np.allclose(sd, sd2) and np.all(sd > 0)
    with pytest.raises(ValueError, match="trained on 4-d states"):
        loaded(np.zeros((1, 5)), np.zeros((1, 2)))

    import gymnasium as gym

    class Toy(gym.Env):
        observation_space = gym.spaces.Dict({"state": gym.spaces.Box(-5, 5, (4,), np.float32)})
        action_space = gym.spaces.Box(-1, 1, (2,), np.float32)

        def reset(self, *, seed=None, options=None):  # noqa: ANN001, ANN202
            super().reset(seed=seed)
            self.s = np.zeros(4, np.float32)
            return {"state": self.s.copy()}, {}

        def step(self, action):  # noqa: ANN001, ANN202
            self.s = self.s + 0.5
            return {"state": self.s.copy()}, 7.0, False, False, {}

    env = LearnedRewardWrapper(Toy(), loaded, scale=2.0)
    env.reset(seed=0)
    _, reward, *_, info = env.step(np.zeros(2, np.float32))
    assert info["true_reward"] == 7.0
    expected = 2.0 * loaded(np.zeros((1, 4)), np.zeros((1, 2)))[0]  # reward of (s_t, a_t)
    assert reward == pytest.approx(float(expected), rel=1e-5)
