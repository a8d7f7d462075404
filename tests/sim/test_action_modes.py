"""Action modes: a policy that controls fewer axes than the 7-D pose action (position: 4-D,
position_yaw: 5-D) gets the held axes steered back tool-down, through the same bounded step;
operator and expert pose actions map into the mode and back."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import robolearn.envs  # noqa: F401 - registers the ids
from robolearn.robot.safety import DOWN_QUAT
from robolearn.robot.transforms import quat_conj, quat_mul, quat_to_rotvec
from robolearn.sim.tasks.actions import ACTION_MODES, make_action_mode


def _tilt(quat: np.ndarray) -> float:
    """Angle (rad) between the TCP's orientation and tool-down at the home yaw."""
    return float(np.linalg.norm(quat_to_rotvec(quat_mul(quat, quat_conj(DOWN_QUAT)))))


@pytest.mark.parametrize("name", ACTION_MODES.names())
def test_from_pose_inverts_embed(name: str) -> None:
    mode = make_action_mode(name)
    action = np.linspace(-1, 1, mode.dim).astype(np.float32)
    assert np.array_equal(mode.from_pose(mode.embed(action)), action)
    assert mode.embed(action).shape == (7,) and len(mode.labels) == mode.dim


def _worst_tilt(name: str, actions: np.ndarray) -> float:
    env = gym.make("robolearn/PandaReach-v0", action_mode=name)
    assert env.action_space.shape == actions.shape[1:]
    env.reset(seed=3)
    worst = 0.0
    for action in actions:
        env.step(action)
        worst = max(worst, _tilt(env.unwrapped.robot_state.ee_quat))
    env.close()
    return worst


def test_position_mode_holds_the_tool_down_under_random_actions() -> None:
    """Random 4-D actions for a whole episode: the TCP stays within a few degrees of tool-down;
    the 7-D pose mode, asked to roll, tilts to the safety layer's cone (the hold is the
    mode's doing)."""
    rng = np.random.default_rng(0)
    assert _worst_tilt("position", rng.uniform(-1, 1, (40, 4)).astype(np.float32)) < np.radians(3)
    roll = np.tile(np.array([0, 0, 0, 1, 0, 0, -1], np.float32), (10, 1))
    assert _worst_tilt("pose", roll) > np.radians(5)  # up to the safety layer's tilt cone


def test_position_yaw_mode_turns_about_z_only() -> None:
    env = gym.make("robolearn/PandaReach-v0", action_mode="position_yaw")
    env.reset(seed=0)
    for _ in range(10):  # full yaw rate, no translation, gripper open
        env.step(np.array([0, 0, 0, 1.0, -1.0], np.float32))
    quat = env.unwrapped.robot_state.ee_quat
    rot = quat_to_rotvec(quat_mul(quat, quat_conj(DOWN_QUAT)))
    env.close()
    assert abs(rot[2]) > np.radians(4)  # it turned about the base z axis (as pose mode's yaw)
    assert np.linalg.norm(rot[:2]) < np.radians(0.5)  # and stayed tool-down


def test_wrong_action_size_for_the_mode_is_refused() -> None:
    env = gym.make("robolearn/PandaPickCube-v0", action_mode="position")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        env.step(np.zeros(7, np.float32))
    env.close()


def test_the_expert_still_picks_in_position_mode() -> None:
    """The scripted expert's pose actions, projected onto the 4-D mode (no yaw alignment),
    still grasp and lift the cube: the mode can express the task."""
    from robolearn.learn.train import collect_expert_demos

    env = gym.make("robolearn/PandaPickCube-v0", action_mode="position")
    demos = collect_expert_demos(env, 5, seed=100, successful_only=False)
    env.close()
    assert demos.action.shape[1] == 4
    assert demos.reward[: len(demos)].sum() == 5  # every episode ended lifted
