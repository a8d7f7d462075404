"""Acceptance: each task's scripted expert succeeds in >= 95% of 100 seeded episodes."""

import pytest

from robolearn.envs.rollout import run_expert


@pytest.mark.parametrize("task", ["reach", "pick_cube", "peg_insert"])
def test_expert_success_rate_over_100_seeded_episodes(task: str) -> None:
    summary = run_expert(task, episodes=100, seed=1000, progress=False)
    assert summary.success_rate >= 0.95, summary.as_dict()


def test_random_actions_rarely_succeed_at_pick_cube() -> None:
    """The success predicate is not trivially true: a random policy does not lift the cube."""
    import gymnasium as gym
    import numpy as np

    import robolearn.envs  # noqa: F401

    env = gym.make("robolearn/PandaPickCube-v0", control_hz=10)
    rng = np.random.default_rng(0)
    successes = 0
    for ep in range(3):
        env.reset(seed=ep)
        while True:
            _, _, term, trunc, info = env.step(rng.uniform(-1, 1, 7))
            if term or trunc:
                break
        successes += info["is_success"]
    env.close()
    assert successes == 0
