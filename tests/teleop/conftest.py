import gymnasium as gym
import pytest

import robolearn.envs  # noqa: F401 - registers the env ids


@pytest.fixture
def make_env():
    """gym.make for a test; every env made is closed afterwards."""
    envs = []

    def make(env_id: str = "robolearn/PandaReach-v0", **kwargs):
        env = gym.make(env_id, **kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()
