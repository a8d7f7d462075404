"""Shared fixtures: reach demos from the scripted expert and a small Lipschitz BC policy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from robolearn.certify.bc import BCConfig, expert_demos, train_bc
from robolearn.certify.policy import CertifiablePolicy


@pytest.fixture(scope="session")
def reach_demos() -> tuple[np.ndarray, np.ndarray]:
    return expert_demos("reach", episodes=12, seed=0, action_noise=0.1)


@pytest.fixture(scope="session")
def reach_bc(reach_demos: tuple[np.ndarray, np.ndarray]) -> tuple[torch.nn.Module, dict]:
    torch.set_num_threads(1)
    obs, actions = reach_demos
    return train_bc(obs, actions, BCConfig(lipschitz=20.0, hidden_dims=(64, 64), steps=600))


@pytest.fixture(scope="session")
def reach_policy(reach_bc: tuple[torch.nn.Module, dict]) -> CertifiablePolicy:
    return CertifiablePolicy(reach_bc[0])


@pytest.fixture(scope="session")
def reach_env() -> gym.Env:
    import robolearn.envs  # noqa: F401

    env = gym.make("robolearn/PandaReach-v0")
    yield env
    env.close()
