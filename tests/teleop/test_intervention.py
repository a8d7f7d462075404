"""SERL intervention semantics: who acts each step, what ran, and the intervention rate."""

import os
import pty
import select
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from robolearn.data.schema import ActionSource
from robolearn.teleop import (
    InterventionWrapper,
    KeyboardConfig,
    KeyboardTeleop,
    ScriptedConfig,
    ScriptedTeleop,
    TeleopCommand,
    Teleoperator,
    TeleopEvent,
)


class PlannedHuman(Teleoperator):
    """A 'human' who grabs the device on planned steps of each episode (step 0 = first step)."""

    def __init__(self, plan=None, events=None) -> None:
        self.plan = {i: np.asarray(a, dtype=float) for i, a in (plan or {}).items()}
        self.events = events or {}
        self.step = 0
        self.connected = False
        self.contexts = []

    @property
    def is_connected(self) -> bool:
        return self.connected

    def connect(self) -> None:
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def reset(self) -> None:
        self.step = 0

    def read(self, context=None):
        self.contexts.append(context)
        i, self.step = self.step, self.step + 1
        events = self.events.get(i, set())
        if i in self.plan:
            return TeleopCommand(self.plan[i], engaged=True, events=events)
        if events:
            return TeleopCommand(np.zeros(7), engaged=False, events=events)
        return None


def run_episode(env, policy_actions, seed):
    env.reset(seed=seed)
    infos = []
    for action in policy_actions:
        _, _, terminated, truncated, info = env.step(action)
        infos.append(info)
        if terminated or truncated:
            break
    return infos


def test_engaged_steps_run_the_human_action_and_the_rest_the_policy(make_env):
    rng = np.random.default_rng(0)
    policy = rng.uniform(-0.3, 0.3, size=(50, 7)).astype(np.float32)
    policy[:, 6] = -1.0
    human_steps = {0: 0.1, 1: 0.2, 2: -0.3, 10: 0.4, 11: -1.0}
    plan = {i: [v, -v, 0.5 * v, 0, 0, v, 1.0] for i, v in human_steps.items()}
    human = PlannedHuman(plan, events={11: {TeleopEvent.SUCCESS}, 20: {TeleopEvent.DISCARD}})
    env = InterventionWrapper(make_env(), human)
    infos = run_episode(env, policy, seed=1)

    assert len(infos) == 50  # random small motions do not reach the goal: truncated
    for i, info in enumerate(infos):
        intervened = i in plan
        expected = np.float32(plan[i]) if intervened else policy[i]
        np.testing.assert_array_equal(info["executed_action"], expected)
        assert info["executed_action"].dtype == np.float32
        assert info["intervened"] is intervened
        assert info["action_source"] == (ActionSource.HUMAN if intervened else ActionSource.POLICY)
        assert info["teleop_events"] == tuple(human.events.get(i, ()))
        assert ("intervention_rate" in info) is (i == len(infos) - 1)
    assert infos[-1]["intervention_rate"] == 5 / 50
    assert infos[-1]["episode_interventions"] == 5
    assert env.intervention_rate == 0.1 and env.episode_steps == 50

    # What ran is what a plain env given the executed actions does.
    plain = make_env()
    plain.reset(seed=1)
    obs = None
    for info in infos:
        obs, *_ = plain.step(info["executed_action"])
    final_obs = env.unwrapped._observation(env.unwrapped.robot_state, env.unwrapped.objects())
    np.testing.assert_array_equal(obs["state"], final_obs["state"])


def test_the_teleop_sees_the_robot_state_and_the_last_executed_action(make_env):
    human = PlannedHuman({1: [0.5, 0, 0, 0, 0, 0, 1.0]})
    env = InterventionWrapper(make_env(), human)
    env.reset(seed=0)
    policy = np.array([0, 0.2, 0, 0, 0, 0, -1.0], dtype=np.float32)
    states = []
    for _ in range(3):
        states.append(env.unwrapped.robot_state)
        env.step(policy)
    contexts = human.contexts
    assert [c.state for c in contexts] == states
    assert contexts[0].last_action is None
    np.testing.assert_array_equal(contexts[1].last_action, policy)
    np.testing.assert_array_equal(contexts[2].last_action, [0.5, 0, 0, 0, 0, 0, 1.0])
    assert all(c.objects is None for c in contexts)  # no privileged state for humans


def test_a_new_episode_resets_the_counters_and_the_teleop(make_env):
    human = PlannedHuman({0: [0.3, 0, 0, 0, 0, 0, -1.0]})
    env = InterventionWrapper(make_env(), human)
    for _ in range(2):
        env.reset(seed=2)
        assert env.intervention_rate == 0.0 and env.episode_steps == 0
        _, _, _, _, info = env.step(np.zeros(7, dtype=np.float32))
        assert info["intervened"]  # step 0 of every episode
        env.step(np.zeros(7, dtype=np.float32))
        assert env.intervention_rate == 0.5


def test_policy_actions_are_recorded_as_executed_clipped(make_env):
    env = InterventionWrapper(make_env(), PlannedHuman())
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([2.0, -3.0, 0.5, 0, 0, 0, 1.0]))
    np.testing.assert_array_equal(info["executed_action"], [1.0, -1.0, 0.5, 0, 0, 0, 1.0])
    assert info["action_source"] == ActionSource.POLICY and not info["intervened"]


def test_a_wrapper_deadband_ignores_tiny_motions_but_not_gripper_presses(make_env):
    plan = {
        0: [0.05, 0, 0, 0, 0, 0, -1.0],  # a tremor on the device
        1: [0, 0, 0, 0, 0.3, 0, -1.0],  # a real rotation
        2: [0, 0, 0, 0, 0, 0, 1.0],  # gripper press: closes while the robot's is open
        3: [0, 0, 0, 0, 0, 0, 1.0],  # still closed: nothing new
    }
    policy = np.array([0, 0, 0.1, 0, 0, 0, -1.0], dtype=np.float32)
    strict_env = InterventionWrapper(make_env(), PlannedHuman(plan), deadband=0.1)
    strict = run_episode(strict_env, [policy] * 4, seed=0)
    assert [i["intervened"] for i in strict] == [False, True, True, False]
    trusting = run_episode(InterventionWrapper(make_env(), PlannedHuman(plan)), [policy] * 4, 0)
    assert [i["intervened"] for i in trusting] == [True] * 4
    with pytest.raises(ValueError, match="deadband"):
        InterventionWrapper(make_env(), PlannedHuman(), deadband=1.5)


def test_pure_teleoperation_holds_still_when_the_operator_lets_go(make_env):
    env = InterventionWrapper(make_env(), PlannedHuman({0: [0, 0, 0, 0, 0, 0, 1.0]}))
    env.reset(seed=0)
    np.testing.assert_array_equal(env.hold_action(), np.zeros(7))
    env.step(env.hold_action())  # the operator closes the gripper
    _, _, _, _, info = env.step(env.hold_action())  # and lets go: the grasp is kept
    np.testing.assert_array_equal(info["executed_action"], [0, 0, 0, 0, 0, 0, 1.0])
    assert info["action_source"] == ActionSource.POLICY


def test_the_wrapper_connects_and_closes_only_a_teleop_it_opened(make_env):
    owned = PlannedHuman()
    env = InterventionWrapper(make_env(), owned)
    env.reset(seed=0)
    assert owned.is_connected
    env.close()
    assert not owned.is_connected

    callers = PlannedHuman()
    callers.connect()
    env = InterventionWrapper(make_env(), callers)
    env.reset(seed=0)
    env.close()
    assert callers.is_connected


@pytest.mark.parametrize("who", ["human", "scripted"])
def test_the_wrapper_passes_the_gymnasium_env_checker(make_env, who):
    if who == "human":  # engaged on the step the checker takes, hands-off after
        teleop = PlannedHuman({0: [0.2, 0, 0, 0, 0, 0, 1.0]})
    else:
        teleop = ScriptedTeleop(ScriptedConfig(task="reach"))
    env = InterventionWrapper(make_env(), teleop)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version.*")
        warnings.filterwarnings("ignore", message=".*observation space m.* value is .*infinity")
        check_env(env, skip_render_check=True)
    if who == "human":
        assert teleop.contexts  # the checker's steps went through the teleop


def test_keys_typed_in_a_terminal_take_over_from_the_policy(make_env):
    master, slave = pty.openpty()
    clock = [0.0]
    keyboard = KeyboardTeleop(KeyboardConfig(tty=os.ttyname(slave)), clock=lambda: clock[0])
    try:
        env = InterventionWrapper(make_env(), keyboard)
        env.reset(seed=0)  # connects the keyboard: cbreak mode from here
        policy = np.array([0, 0.3, 0, 0, 0, 0, -1.0], dtype=np.float32)
        _, _, _, _, info = env.step(policy)
        assert not info["intervened"]
        os.write(master, b"r")  # up
        select.select([slave], [], [], 2.0)
        _, _, _, _, info = env.step(policy)
        assert info["intervened"] and info["action_source"] == ActionSource.HUMAN
        np.testing.assert_array_equal(info["executed_action"], [0, 0, 0.5, 0, 0, 0, -1.0])
        clock[0] += 1.0  # key released long ago
        _, _, _, _, info = env.step(policy)
        assert not info["intervened"]
        env.close()
        assert not keyboard.is_connected
    finally:
        os.close(master)
        os.close(slave)
