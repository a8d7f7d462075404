"""The ``device`` option: ``auto`` is CUDA when present and the CPU otherwise; a missing CUDA is
an error, not a silent fall-back; the agent's networks, generator and actions live where asked.
(On a machine with a GPU the same tests cover the CUDA path.)"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from robolearn.learn.device import resolve_device
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

OBS = gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)
ACT = gym.spaces.Box(-2.0, 2.0, (3,), np.float32)


def test_auto_follows_cuda_availability():
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="use auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_an_error():
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_agent_acts_and_updates_on_its_device(device):
    config = RLPDConfig(hidden_dims=(16, 16), batch_size=8, utd_ratio=2, seed=0)
    agent = RLPDAgent(OBS, ACT, config, device=device)
    want = resolve_device(device)
    assert {p.device.type for p in agent.critic.parameters()} == {want.type}
    assert agent.generator.device.type == want.type
    agent.fit_observation_stats(np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32))
    action = agent.act(np.zeros(6, np.float32))
    assert isinstance(action, np.ndarray) and action.shape == (3,) and np.all(np.abs(action) <= 2)
    rng = np.random.default_rng(1)

    def batch(n: int) -> dict:
        return {
            "obs": rng.normal(size=(n, 6)).astype(np.float32),
            "next_obs": rng.normal(size=(n, 6)).astype(np.float32),
            "action": rng.uniform(-2, 2, (n, 3)).astype(np.float32),
            "reward": rng.uniform(size=n).astype(np.float32),
            "terminated": np.zeros(n, bool),
            "discount": np.full(n, 0.9, np.float32),
        }

    metrics = agent.update(batch(8), batch(8))  # utd 2 x (4 online + 4 demo rows)
    assert np.isfinite(metrics["critic_loss"]) and "bc_loss" in metrics
    assert agent.critic_steps == 2 and agent.actor_steps == 1
