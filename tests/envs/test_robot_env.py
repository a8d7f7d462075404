import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from robolearn.envs import ENV_IDS


@pytest.mark.parametrize("env_id", sorted(ENV_IDS.values()))
def test_env_passes_gymnasium_checker(env_id: str) -> None:
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_env_with_cameras_passes_checker_and_renders_images() -> None:
    env = gym.make("robolearn/PandaPickCube-v0", cameras=["front", "wrist"], image_size=(64, 64))
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    for cam in ("front", "wrist"):
        img = obs["images"][cam]
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        assert img.std() > 5.0  # a real picture, not a blank frame
    env.close()


def _rollout(seed: int, steps: int = 30) -> tuple[np.ndarray, np.ndarray]:
    env = gym.make("robolearn/PandaPickCube-v0")
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    states, rewards = [obs["state"]], []
    for _ in range(steps):
        obs, reward, term, trunc, _ = env.step(rng.uniform(-1, 1, 7))
        states.append(obs["state"])
        rewards.append(reward)
        if term or trunc:
            break
    env.close()
    return np.array(states), np.array(rewards)


def test_same_seed_gives_identical_trajectories() -> None:
    a_states, a_rewards = _rollout(seed=7)
    b_states, b_rewards = _rollout(seed=7)
    np.testing.assert_array_equal(a_states, b_states)
    np.testing.assert_array_equal(a_rewards, b_rewards)
    c_states, _ = _rollout(seed=8)
    assert not np.array_equal(a_states[0], c_states[0])


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full(7, np.nan), "NaN or inf"),
        (np.array([0, 0, 0, 0, 0, np.inf, 0.0]), "NaN or inf"),
        (np.zeros(6), r"shape \(7,\)"),
        (np.zeros((7, 1)), r"shape \(7,\)"),
        ("left", "numeric|shape"),
    ],
)
def test_bad_actions_raise_and_do_not_move_the_arm(bad: object, match: str) -> None:
    env = gym.make("robolearn/PandaReach-v0")
    env.reset(seed=0)
    before = env.unwrapped.robot.observe().ee_pos
    with pytest.raises(ValueError, match=match):
        env.step(bad)
    env.unwrapped.robot.advance(0.2)
    after = env.unwrapped.robot.observe().ee_pos
    assert np.linalg.norm(after - before) < 5e-4
    env.close()


def test_out_of_range_actions_are_clipped_to_the_safety_step() -> None:
    env = gym.make("robolearn/PandaReach-v0")
    env.reset(seed=0)
    base = env.unwrapped
    before = base.robot_state.ee_pos.copy()
    env.step(np.array([1e6, 0, 0, 0, 0, 0, 0.0]))
    moved = base.robot_state.ee_pos - before
    assert 0.005 < moved[0] <= 0.0105
    env.close()


def test_control_rate_slower_than_the_watchdog_is_refused() -> None:
    with pytest.raises(ValueError, match="watchdog"):
        gym.make("robolearn/PandaReach-v0", control_hz=2.0)


def test_unknown_task_name_is_refused() -> None:
    from robolearn.envs.robot_env import make_twin_env

    with pytest.raises(KeyError, match="unknown task"):
        make_twin_env("juggle")


def test_info_carries_reward_terms_and_terminated_truncated_apart() -> None:
    env = gym.make("robolearn/PandaReach-v0", control_hz=10, reward_type="dense")
    env.reset(seed=3)
    _, reward, term, trunc, info = env.step(np.zeros(7))
    assert "goal_distance" in info["reward_terms"]
    assert reward == pytest.approx(info["dense_reward"])
    assert not term and not trunc
    steps = 1
    while not (term or trunc):
        _, _, term, trunc, info = env.step(np.zeros(7))  # standing still never succeeds
        steps += 1
    assert trunc and not term
    assert steps == env.unwrapped.max_episode_steps
    env.close()


def test_safety_stop_ends_the_episode_and_reset_recovers() -> None:
    """A latched e-stop (here: joint 4 teleported past its lower limit, as a wild exploration
    action can do) truncates the episode with the reason in info instead of raising; the arm
    does not move while stopped; reset() recovers and the next episode runs normally."""
    import mujoco

    env = gym.make("robolearn/PandaPickCube-v0")
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    robot = base.robot
    robot.data.qpos[3] = robot.limits.arm.joint_lower[3] - 0.05
    mujoco.mj_forward(robot.model, robot.data)
    robot.mark_state_changed()
    q_before = robot.observe().q.copy()
    obs, reward, terminated, truncated, info = env.step(np.ones(7, np.float32))
    assert truncated and not terminated
    assert "joint(s) 4 past their limits" in info["safety_stop"]
    assert np.allclose(robot.observe().q, q_before)  # no command reached the arm
    env.reset(seed=1)
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(np.zeros(7, np.float32))
        assert "safety_stop" not in info and not truncated
    env.close()
