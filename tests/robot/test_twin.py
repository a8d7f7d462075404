"""TwinRobot: the MuJoCo twin behind the Robot interface, with its safety layer in the loop."""

from __future__ import annotations

import numpy as np
import pytest

from robolearn.robot.base import make_robot
from robolearn.robot.safety import EStopError, UnsafeCommandError
from robolearn.robot.transforms import quat_angle, quat_mul, rotvec_to_quat
from robolearn.robot.twin import NotConnectedError, TwinRobot
from robolearn.robot.types import CartesianTarget, GripperCommand, RobotState

POLICY_DT = 0.01  # 100 Hz command stream


@pytest.fixture(scope="module")
def twin():
    robot = make_robot("twin", scene="pick_cube")
    robot.connect()
    yield robot
    robot.close()


@pytest.fixture
def robot(twin) -> TwinRobot:
    twin.reset()
    return twin


def speed(state: RobotState) -> float:
    return float(np.linalg.norm(state.ee_twist[:3]))


def stream(robot: TwinRobot, goal: CartesianTarget, seconds: float) -> None:
    """Send the same goal at 100 Hz for `seconds` (each send is reference-limited)."""
    for _ in range(round(seconds / POLICY_DT)):
        robot.command(goal)
        robot.advance(POLICY_DT)


def offset(state: RobotState, dpos, rotvec=(0.0, 0.0, 0.0), *, world: bool = False):
    """A target displaced from `state`; `rotvec` in the tool frame (or the world frame)."""
    rot = rotvec_to_quat(np.asarray(rotvec, dtype=float))
    quat = quat_mul(rot, state.ee_quat) if world else quat_mul(state.ee_quat, rot)
    return CartesianTarget(state.ee_pos + np.asarray(dpos, dtype=float), quat)


def test_observe_shapes_and_units(robot):
    state = robot.observe()
    for name, size in [("q", 7), ("dq", 7), ("tau_ext", 7), ("ee_pos", 3), ("ee_quat", 4)]:
        value = getattr(state, name)
        assert value.shape == (size,) and value.dtype == np.float64, name
    assert state.ee_twist.shape == (6,) and state.ee_wrench.shape == (6,)
    assert state.as_vector().shape == (28,)
    assert np.all(np.isfinite(state.as_vector()))
    assert np.linalg.norm(state.ee_quat) == pytest.approx(1.0, abs=1e-12)
    assert isinstance(state.gripper_width, float) and isinstance(state.timestamp, float)
    assert state.gripper_width == pytest.approx(robot.limits.gripper.max_width)
    assert state.timestamp == 0.0
    np.testing.assert_array_equal(state.q, robot.limits.arm.home_joint_positions)
    # Home puts the TCP at about (0.45, 0, 0.30), pointing down, inside the box.
    np.testing.assert_allclose(state.ee_pos, [0.45, 0.0, 0.30], atol=5e-3)
    assert quat_angle(state.ee_quat, robot.safety.nominal_quat) < 0.01
    robot.advance(0.05)
    assert robot.observe().timestamp == pytest.approx(0.05)


def test_holds_still_without_commands(robot):
    before = robot.observe()
    robot.advance(1.0)
    after = robot.observe()
    assert np.linalg.norm(after.ee_pos - before.ee_pos) < 1e-4
    assert speed(after) < 1e-4


def test_tracks_a_sequence_of_targets(robot):
    home = robot.observe()
    goals = [
        offset(home, [0.10, 0.0, 0.0]),
        offset(home, [0.10, 0.12, -0.10], [0.0, 0.0, 0.3]),
        offset(home, [-0.12, -0.15, 0.08], [0.15, 0.0, 0.0], world=True),
        offset(home, [0.0, 0.0, -0.2]),
    ]
    for goal in goals:
        stream(robot, goal, 3.5)  # 0.35 m at ~0.2 m/s, then settling
        state = robot.observe()
        assert np.linalg.norm(state.ee_pos - goal.position) < 2e-3
        assert quat_angle(state.ee_quat, goal.quat) < 0.01
        assert speed(state) < 2e-3


def test_each_step_is_reference_limited(robot):
    home = robot.observe()
    applied = robot.command(offset(home, [0.3, 0.0, 0.0], [0.0, 0.0, 1.0]))
    s = robot.limits.safety
    assert np.linalg.norm(applied.position - home.ee_pos) == pytest.approx(s.max_translation_step)
    assert quat_angle(applied.quat, home.ee_quat) == pytest.approx(s.max_rotation_step)


def test_target_outside_the_box_stops_at_the_wall(robot):
    home = robot.observe()
    box_max = robot.safety.box_max
    stream(robot, CartesianTarget(np.array([0.45, 0.0, 5.0]), home.ee_quat), 2.0)
    state = robot.observe()
    assert state.ee_pos[2] == pytest.approx(box_max[2], abs=2e-3)


def test_watchdog_holds_after_the_stream_stops(robot):
    home = robot.observe()
    stream(robot, offset(home, [0.3, 0.15, -0.15]), 0.3)
    moving = robot.observe()
    assert speed(moving) > 0.1  # the arm is under way when the stream stops
    last_command = moving.timestamp
    timeout = robot.limits.safety.watchdog_timeout
    target_before = robot._target.copy()
    robot.advance(timeout - 0.01)
    np.testing.assert_array_equal(robot._target, target_before)  # not yet stale
    assert not robot.safety.holding
    robot.advance(0.02)
    hold = robot._target.copy()
    assert robot.safety.holding
    assert not np.array_equal(hold, target_before)  # the hold replaced the last target
    # Once still, the arm rests at the held pose and stays there.
    robot.advance(last_command + timeout + 1.0 - robot.time)
    settled = robot.observe()
    assert speed(settled) < 1e-3
    for _ in range(50):
        robot.advance(POLICY_DT)
        state = robot.observe()
        assert speed(state) < 1e-3
    np.testing.assert_array_equal(robot._target, hold)
    assert np.linalg.norm(state.ee_pos - hold[:3]) < 1e-3
    # A fresh command takes over again.
    stream(robot, offset(state, [0.0, 0.0, 0.05]), 1.5)
    assert np.linalg.norm(robot.observe().ee_pos - (state.ee_pos + [0, 0, 0.05])) < 2e-3


@pytest.mark.parametrize(
    "bad",
    [
        CartesianTarget(np.array([np.nan, 0.0, 0.3]), np.array([0.0, 1.0, 0.0, 0.0])),
        CartesianTarget(np.array([0.45, 0.0, 0.3]), np.array([np.inf, 0.0, 0.0, 0.0])),
        CartesianTarget(np.array([0.45, 0.0]), np.array([0.0, 1.0, 0.0, 0.0])),
        CartesianTarget(np.array([0.45, 0.0, 0.3]), np.array([0.0, 3.0, 0.0, 0.0])),
    ],
)
def test_malformed_target_raises_and_the_arm_stays(robot, bad):
    before = robot.observe()
    target_before = robot._target.copy()
    with pytest.raises(UnsafeCommandError):
        robot.command(bad)
    np.testing.assert_array_equal(robot._target, target_before)
    robot.advance(0.5)
    after = robot.observe()
    assert np.linalg.norm(after.ee_pos - before.ee_pos) < 5e-4
    assert not robot.safety.estopped


def test_estop_refuses_commands_until_recover(robot):
    home = robot.observe()
    robot.safety.estop("test")
    with pytest.raises(EStopError, match="test"):
        robot.command(offset(home, [0.005, 0.0, 0.0]))
    with pytest.raises(EStopError):
        robot.gripper(GripperCommand(0.0))
    robot.advance(0.2)
    assert np.linalg.norm(robot.observe().ee_pos - home.ee_pos) < 5e-4
    robot.recover()
    assert not robot.safety.estopped
    robot.command(offset(home, [0.005, 0.0, 0.0]))
    robot.gripper(GripperCommand(0.0))


def test_never_applies_a_non_finite_torque(robot):
    before = robot.observe()
    robot._target[:] = np.nan  # a corrupted target that bypassed the safety layer
    for _ in range(500):
        robot.advance(0.001)
        assert np.all(np.isfinite(robot.data.ctrl))
        assert np.all(np.isfinite(robot.data.qpos)) and np.all(np.isfinite(robot.data.qvel))
    assert robot.safety.estopped
    assert "non-finite torque" in robot.safety.estop_reason
    after = robot.observe()
    assert np.linalg.norm(after.ee_pos - before.ee_pos) < 5e-3  # braked, did not fly off
    with pytest.raises(EStopError):
        robot.command(CartesianTarget(before.ee_pos, before.ee_quat))
    robot.recover()
    assert np.all(np.isfinite(robot._target))
    robot.command(CartesianTarget(before.ee_pos, before.ee_quat))
    robot.advance(0.5)
    assert np.linalg.norm(robot.observe().ee_pos - before.ee_pos) < 2e-3


def test_joint_past_its_limit_latches_the_estop_on_the_next_command(robot):
    q = robot.limits.arm.home_joint_positions.copy()
    q[0] = robot.limits.arm.joint_upper[0] + 0.01
    robot.data.qpos[0] = q[0]
    robot.mark_state_changed()  # MjData edited by hand
    with pytest.raises(EStopError, match="joint\\(s\\) 1 past their limits"):
        robot.command(CartesianTarget(robot.observe().ee_pos, robot.observe().ee_quat))


@pytest.mark.parametrize("width", [0.0, 0.02, 0.05])
def test_gripper_closes_and_opens(robot, width):
    max_width = robot.limits.gripper.max_width
    robot.gripper(GripperCommand(width))
    robot.advance(1.0)
    assert robot.observe().gripper_width == pytest.approx(width, abs=3e-3)
    robot.gripper(GripperCommand(1.0))  # clipped to max_width
    robot.advance(1.0)
    assert robot.observe().gripper_width == pytest.approx(max_width, abs=3e-3)


def test_non_finite_gripper_command_raises(robot):
    with pytest.raises(UnsafeCommandError):
        robot.gripper(GripperCommand(float("nan")))
    robot.advance(0.5)
    assert robot.observe().gripper_width == pytest.approx(robot.limits.gripper.max_width, abs=3e-3)


def _rollout(robot: TwinRobot, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(150):
        state = robot.observe()
        target = offset(state, rng.normal(0.0, 0.01, 3), rng.normal(0.0, 0.05, 3))
        robot.command(target)
        if k % 50 == 0:
            robot.gripper(GripperCommand(float(rng.uniform(0.0, 0.08))))
        robot.advance(POLICY_DT)
        d = robot.data
        rows.append(np.concatenate([d.qpos, d.qvel, d.ctrl, [d.time]]))
    return np.array(rows)


def _stop_and_wait(robot: TwinRobot, chunks: int) -> np.ndarray:
    """Move, stop commanding, let 1 s pass in `chunks` advance() calls (observing after each);
    return the final state and target."""
    home = robot.observe()
    stream(robot, offset(home, [0.2, 0.1, -0.1]), 0.3)
    robot.command(offset(home, [0.2, 0.1, -0.1]))  # the last command; observe() just ran
    for _ in range(chunks):
        robot.advance(1.0 / chunks)
        robot.observe()
    assert robot.safety.holding
    d = robot.data
    return np.concatenate([d.qpos, d.qvel, d.ctrl, robot._target, [d.time]])


@pytest.fixture(scope="module")
def per_tick_reference(twin) -> np.ndarray:
    twin.reset()
    return _stop_and_wait(twin, 1000)  # the watchdog checked at every 1 kHz tick


@pytest.mark.parametrize("chunks", [1, 8, 40, 100])
def test_advance_in_one_call_equals_advance_in_pieces(robot, per_tick_reference, chunks):
    # The watchdog expires inside the 1 s: however advance() is called, the hold must engage at
    # the same tick, on the pose measured then, as with a check at every tick.
    np.testing.assert_array_equal(_stop_and_wait(robot, chunks), per_tick_reference)


def test_same_seed_same_commands_same_trajectory():
    runs = []
    for _ in range(2):
        with make_robot("twin", scene="pick_cube") as robot:
            runs.append(_rollout(robot, seed=7))
    assert runs[0].shape == (150, runs[0].shape[1])
    np.testing.assert_array_equal(runs[0], runs[1])  # bitwise
    assert np.ptp(runs[0][:, 0]) > 1e-3  # the arm did move


def test_reset_replays_bitwise(robot):
    first = _rollout(robot, seed=3)
    robot.reset()
    np.testing.assert_array_equal(_rollout(robot, seed=3), first)


def test_reset_returns_home(robot):
    home = robot.observe()
    robot.gripper(GripperCommand(0.0))
    stream(robot, offset(home, [0.1, -0.1, -0.1], [0.0, 0.0, 0.3]), 1.0)
    robot.safety.estop("before reset")
    state = robot.reset()
    np.testing.assert_array_equal(state.q, robot.limits.arm.home_joint_positions)
    np.testing.assert_array_equal(state.dq, np.zeros(7))
    np.testing.assert_allclose(state.ee_pos, home.ee_pos, atol=1e-12)
    assert quat_angle(state.ee_quat, home.ee_quat) < 1e-9
    assert state.gripper_width == pytest.approx(robot.limits.gripper.max_width)
    assert state.timestamp == 0.0
    assert not robot.safety.estopped
    # ... and holds it.
    robot.advance(0.5)
    assert np.linalg.norm(robot.observe().ee_pos - home.ee_pos) < 1e-4


def test_reset_to_given_joints_and_bad_joints(robot):
    q = robot.limits.arm.home_joint_positions + 0.1
    np.testing.assert_array_equal(robot.reset(q).q, q)
    with pytest.raises(UnsafeCommandError):
        robot.reset([0.0] * 6)
    with pytest.raises(UnsafeCommandError):
        robot.reset([np.nan] * 7)


@pytest.mark.parametrize("seconds", [-0.1, float("nan"), float("inf")])
def test_advance_rejects_bad_durations(robot, seconds):
    with pytest.raises(ValueError):
        robot.advance(seconds)


def test_context_manager_closes():
    with make_robot("twin") as robot:
        assert isinstance(robot, TwinRobot)
        robot.observe()
    with pytest.raises(NotConnectedError):
        robot.observe()
    with pytest.raises(NotConnectedError):
        robot.command(CartesianTarget(np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0])))
    with pytest.raises(NotConnectedError):
        robot.advance(0.01)


def test_not_connected_before_connect():
    robot = make_robot("twin")
    with pytest.raises(NotConnectedError, match="connect"):
        robot.observe()


def test_reset_refuses_joint_positions_past_the_limits() -> None:
    from robolearn.robot.base import make_robot
    from robolearn.robot.safety import UnsafeCommandError

    with make_robot("twin") as robot:
        q = robot.limits.arm.home_joint_positions.copy()
        q[3] = 0.5  # joint 4 must stay below -0.0698
        with pytest.raises(UnsafeCommandError, match="outside the joint limits"):
            robot.reset(q)
