"""The scripted expert as a teleoperator: exact when perfect, seeded imperfections otherwise."""

import numpy as np
import pytest

from robolearn.data.schema import ActionSource
from robolearn.teleop import (
    InterventionWrapper,
    ScriptedConfig,
    ScriptedTeleop,
    TeleopContext,
    TeleopError,
    make_teleoperator,
)


@pytest.fixture
def reach_context(make_env):
    """A fixed context on reach with the goal just ahead of the TCP: the expert moves, at
    less than full speed (so noise is not clipped)."""
    env = make_env()
    env.reset(seed=3)
    state = env.unwrapped.robot_state
    step = env.unwrapped.robot.limits.safety.max_translation_step
    return TeleopContext(state=state, objects={"goal_pos": state.ee_pos + [0.4 * step, 0, 0]})


def reads(teleop, context, n):
    return np.array([teleop.read(context).action for _ in range(n)])


def test_a_perfect_expert_acts_exactly_like_the_task_expert(make_env):
    env = make_env("robolearn/PandaPickCube-v0")
    env.reset(seed=5)
    reference = env.unwrapped.task.make_expert()
    with make_teleoperator("scripted", task="pick_cube") as teleop:
        assert teleop.needs_objects and teleop.source is ActionSource.SCRIPTED
        for _ in range(40):
            context = TeleopContext.from_env(env)
            cmd = teleop.read(context)
            expected = reference.act(context.state, dict(context.objects))
            np.testing.assert_array_equal(cmd.action, np.clip(expected, -1, 1))
            assert cmd.engaged and cmd.source is ActionSource.SCRIPTED and not cmd.events
            env.step(cmd.action)


def test_the_scripted_teleop_records_successful_demos_through_the_wrapper(make_env):
    teleop = ScriptedTeleop(ScriptedConfig(task="pick_cube", seed=0))
    env = InterventionWrapper(make_env("robolearn/PandaPickCube-v0"), teleop)
    env.reset(seed=0)
    sources = []
    while True:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        sources.append(info["action_source"])
        if terminated or truncated:
            break
    assert info["is_success"]
    assert set(sources) == {ActionSource.SCRIPTED}
    assert info["intervention_rate"] == 1.0


def test_noise_is_gaussian_on_motion_only(reach_context):
    perfect = ScriptedTeleop(ScriptedConfig(task="reach"))
    noisy = ScriptedTeleop(ScriptedConfig(task="reach", noise_std=0.1, seed=1))
    with perfect, noisy:
        clean = perfect.read(reach_context).action
        assert np.all(np.abs(clean[:6]) < 0.8)  # far from the clip, so clipping does not bias
        delta = reads(noisy, reach_context, 4000) - clean
    np.testing.assert_allclose(delta[:, :6].std(axis=0), 0.1, rtol=0.08)
    np.testing.assert_allclose(delta[:, :6].mean(axis=0), 0.0, atol=0.01)
    assert not np.any(delta[:, 6])  # the gripper is never perturbed


def test_drift_is_a_slow_bias_on_translation(reach_context):
    with ScriptedTeleop(ScriptedConfig(task="reach")) as perfect:
        clean = perfect.read(reach_context).action
    config = ScriptedConfig(task="reach", drift_std=0.02, drift_decay=0.95, seed=2)
    with ScriptedTeleop(config) as drifting:
        delta = reads(drifting, reach_context, 2000) - clean
    assert not np.any(delta[:, 3:])  # rotation and gripper untouched
    x = delta[:, 0] - delta[:, 0].mean()
    lag1 = float(np.dot(x[1:], x[:-1]) / np.dot(x, x))
    assert lag1 > 0.85  # slowly varying, unlike white noise (~0)
    # Stationary std of the AR(1) walk: drift_std / sqrt(1 - decay^2) = 0.064.
    assert 0.03 < delta[:, :3].std() < 0.12


def test_hesitations_pause_motion_but_keep_the_gripper(reach_context):
    with ScriptedTeleop(ScriptedConfig(task="reach")) as perfect:
        clean = perfect.read(reach_context).action
    config = ScriptedConfig(task="reach", hesitation_prob=0.1, hesitation_steps=(2, 4), seed=3)
    with ScriptedTeleop(config) as hesitant:
        actions = reads(hesitant, reach_context, 1000)
    paused = np.all(actions[:, :6] == 0.0, axis=1)
    moving = np.all(actions == clean, axis=1)
    assert np.all(paused | moving)
    assert np.all(actions[:, 6] == clean[6])
    # Runs of pauses: at least the shortest pause; back-to-back pauses may join.
    edges = np.flatnonzero(np.diff(np.concatenate([[0], paused.astype(int), [0]])))
    runs = edges[1::2] - edges[::2]
    assert len(runs) > 20 and runs.min() >= 2
    assert 0.15 < paused.mean() < 0.4


def test_same_seed_same_imperfect_demo_and_reset_starts_a_new_episode(reach_context):
    config = dict(task="reach", noise_std=0.2, drift_std=0.05, hesitation_prob=0.1, seed=7)
    a, b = ScriptedTeleop(ScriptedConfig(**config)), ScriptedTeleop(ScriptedConfig(**config))
    with a, b:
        np.testing.assert_array_equal(reads(a, reach_context, 50), reads(b, reach_context, 50))
        a.reset()
        b.reset()
        np.testing.assert_array_equal(reads(a, reach_context, 20), reads(b, reach_context, 20))
    other = ScriptedTeleop(ScriptedConfig(**{**config, "seed": 8}))
    with other, ScriptedTeleop(ScriptedConfig(**config)) as a:
        assert not np.array_equal(reads(a, reach_context, 20), reads(other, reach_context, 20))


def test_an_imperfect_expert_still_reaches_but_not_the_perfect_way(make_env):
    def episode(teleop):
        env = InterventionWrapper(make_env(), teleop)
        env.reset(seed=11)
        actions = []
        while True:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            actions.append(info["executed_action"])
            if terminated or truncated:
                return np.array(actions), info["is_success"]

    perfect, perfect_ok = episode(ScriptedTeleop(ScriptedConfig(task="reach")))
    config = ScriptedConfig(task="reach", noise_std=0.15, hesitation_prob=0.05, seed=4)
    imperfect, imperfect_ok = episode(ScriptedTeleop(config))
    assert perfect_ok and imperfect_ok
    assert len(imperfect) > len(perfect)


def test_the_expert_needs_privileged_state():
    with ScriptedTeleop(ScriptedConfig(task="reach")) as teleop:
        with pytest.raises(TeleopError, match="robot state and the task's objects"):
            teleop.read(None)
    with pytest.raises(TeleopError, match="not connected"):
        teleop.read(TeleopContext())


def test_an_injected_expert_is_used_and_reset_per_episode(reach_context):
    class CountingExpert:
        resets = 0

        def reset(self):
            self.resets += 1

        def act(self, state, objects):
            return np.full(7, 0.25)

    expert = CountingExpert()
    with ScriptedTeleop(ScriptedConfig(task="reach"), expert=expert) as teleop:
        assert expert.resets == 1
        np.testing.assert_array_equal(teleop.read(reach_context).action, np.full(7, 0.25))
        teleop.reset()
        assert expert.resets == 2
