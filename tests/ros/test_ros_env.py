"""`RosRobotEnv` against a twin bridge in another process."""

from __future__ import annotations

import numpy as np
import pytest

from robolearn.envs.ros_env import RosRobotEnv
from robolearn.ros.client import StaleDataError
from tests.ros.conftest import start_bridge, stop


@pytest.fixture(scope="module")
def reach_bridge():
    proc = start_bridge("task:=reach", "publish_hz:=200.0", "seed:=5")
    yield proc
    stop(proc)


def test_scripted_expert_succeeds_through_the_ros_env(reach_bridge) -> None:
    env = RosRobotEnv("reach", control_hz=10.0, max_age=1.0, connect_timeout=60.0)
    try:
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        expert = env.task.make_expert()
        info = {}
        for _ in range(env.max_episode_steps):
            action = expert.act(env.client.state(), env.client.objects())
            obs, reward, terminated, truncated, info = env.step(action)
            assert env.observation_space.contains(obs)
            if terminated or truncated:
                break
        assert terminated and info["is_success"] and reward == 1.0
        with pytest.raises(ValueError, match="NaN"):
            env.step(np.full(7, np.nan))
    finally:
        env.close()


def test_stale_streams_raise_instead_of_acting_on_old_data() -> None:
    # Its own namespace: the module's other bridge keeps publishing on the default topics.
    proc = start_bridge("task:=reach", "publish_hz:=100.0", namespace="/doomed")
    env = RosRobotEnv(
        "reach", namespace="/doomed", control_hz=10.0, max_age=0.5, connect_timeout=60.0
    )
    try:
        env.reset(seed=0)
        env.step(np.zeros(7))
        stop(proc)  # the bridge goes away
        with pytest.raises(StaleDataError, match="old"):
            for _ in range(20):
                env.step(np.zeros(7))
    finally:
        stop(proc)
        env.close()
