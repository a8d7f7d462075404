"""FrankaRobot against the pylibfranka-shaped fake whose robot is the twin's physics at 1 kHz.

The fake (`robolearn.robot.fake_franka`) free-runs here: a torque control runs lock-step with
the backend's 1 kHz thread as fast as it goes, the robot's own loop (async position control,
idle hold, gripper) at 5x real time. `advance()` waits for robot time, so the tests read the
same in robot seconds as on hardware.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from robolearn.robot import fake_franka
from robolearn.robot.base import make_robot
from robolearn.robot.franka import (
    TWIN_TCP_IN_FLANGE,
    FrankaConfig,
    FrankaError,
    FrankaRobot,
    FrankaUnavailableError,
    NotConnectedError,
)
from robolearn.robot.limits import load_limits
from robolearn.robot.safety import EStopError, UnsafeCommandError
from robolearn.robot.transforms import mat_to_quat, quat_angle, quat_mul, rotvec_to_quat
from robolearn.robot.types import CartesianTarget, GripperCommand
from robolearn.sim.scene import TCP_SITE

FAKE = "robolearn.robot.fake_franka"
IP = "192.0.2.10"  # TEST-NET-1: never a real robot
MODES = ["async", "torque"]
# TCP at (0.45, 0, 0.44): 1 cm under the workspace box's top.
HIGH_Q = [0.0, -0.3502, 0.0, -2.1722, 0.0, 1.8234, 0.7854]


@pytest.fixture(scope="module")
def cell():
    served = fake_franka.serve(IP)
    yield served
    served.shutdown()


@pytest.fixture
def make(cell):
    robots: list[FrankaRobot] = []

    def _make(**overrides) -> FrankaRobot:
        overrides.setdefault("realtime", False)
        robot = FrankaRobot(FrankaConfig(fci_ip=IP, driver=FAKE, **overrides))
        robot.connect()
        robots.append(robot)
        return robot

    yield _make
    for robot in robots:
        robot.close()
    cell.restart()


def calls(cell, name: str) -> int:
    return cell.calls.get(name, 0)


def stream(robot: FrankaRobot, target: CartesianTarget, commands: int, dt: float = 0.1) -> None:
    """A 10 Hz policy: send the same target `commands` times."""
    for _ in range(commands):
        robot.command(target)
        robot.advance(dt)


def wait_for(robot: FrankaRobot, predicate, seconds: float) -> None:
    """Advance robot time in 50 ms steps until `predicate(state)` or `seconds` passed."""
    for _ in range(round(seconds / 0.05)):
        if predicate(robot.observe()):
            return
        robot.advance(0.05)
    assert predicate(robot.observe())


# --- the fake and the real pylibfranka ---------------------------------------------------------
def _public(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def _fake_instances() -> dict[str, object]:
    """Value types built with defaults: their fields are instance attributes in the fake."""
    f = fake_franka
    handler = f.AsyncPositionControlHandler
    return {
        "RobotState": f.RobotState(),
        "GripperState": f.GripperState(),
        "Duration": f.Duration(),
        "Errors": f.Errors(),
        "Torques": f.Torques([0.0] * 7),
        "JointPositions": f.JointPositions([0.0] * 7),
        "JointVelocities": f.JointVelocities([0.0] * 7),
        "CartesianPose": f.CartesianPose([0.0] * 16),
        "CartesianVelocities": f.CartesianVelocities([0.0] * 6),
        "AsyncPositionControlHandler.Configuration": handler.Configuration([1.0] * 7, 1e-3),
        "AsyncPositionControlHandler.ConfigurationResult": handler.ConfigurationResult(None, None),
        "AsyncPositionControlHandler.JointPositionTarget": handler.JointPositionTarget([0.0] * 7),
        "AsyncPositionControlHandler.CommandResult": handler.CommandResult(None, True, None),
        "AsyncPositionControlHandler.TargetFeedback": handler.TargetFeedback(
            f.TargetStatus.kIdle, None
        ),
    }


def test_fake_api_matches_pylibfranka():
    """Same classes, methods, fields, enum members and exception bases as the real module."""
    real = importlib.import_module("pylibfranka._pylibfranka")
    real_top = importlib.import_module("pylibfranka")
    assert set(fake_franka.__all__) == _public(real)
    assert set(real_top.__all__) <= set(fake_franka.__all__)
    instances = _fake_instances()
    for name in fake_franka.__all__:
        fake_cls, real_cls = getattr(fake_franka, name), getattr(real, name)
        if issubclass(real_cls, BaseException):
            assert fake_cls.__mro__[1].__name__ == real_cls.__mro__[1].__name__, name
            continue
        if hasattr(real_cls, "__members__"):
            assert set(fake_cls.__members__) == set(real_cls.__members__), name
            continue
        assert _public(instances.get(name, fake_cls)) == _public(real_cls), name
    for nested in ("Configuration", "ConfigurationResult", "JointPositionTarget",
                   "CommandResult", "TargetFeedback"):  # fmt: skip
        key = f"AsyncPositionControlHandler.{nested}"
        real_nested = getattr(real.AsyncPositionControlHandler, nested)
        assert _public(instances[key]) == _public(real_nested), key


def test_tcp_constant_is_the_twins_grip_site(cell):
    """TWIN_TCP_IN_FLANGE is the twin's TCP in the flange frame (link7 + 0.107 m)."""
    m, d = cell.model, cell.data
    link7 = m.body("panda/link7").id
    flange = np.eye(4)
    flange[:3, :3] = d.xmat[link7].reshape(3, 3)
    flange[:3, 3] = d.xpos[link7] + 0.107 * flange[:3, 2]
    tcp = np.eye(4)
    tcp[:3, :3] = d.site_xmat[m.site(TCP_SITE).id].reshape(3, 3)
    tcp[:3, 3] = d.site_xpos[m.site(TCP_SITE).id]
    rel = np.linalg.inv(flange) @ tcp
    np.testing.assert_allclose(rel[:3, 3], TWIN_TCP_IN_FLANGE[:3], atol=1e-6)
    assert quat_angle(mat_to_quat(rel[:3, :3]), np.array(TWIN_TCP_IN_FLANGE[3:])) < 1e-6


# --- backend without hardware ------------------------------------------------------------------
def test_imports_and_registers_without_pylibfranka():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["pylibfranka"] = None  # as if the hardware extra were not installed
        from robolearn.robot.base import make_robot
        from robolearn.robot.franka import FrankaUnavailableError
        robot = make_robot("franka")
        try:
            robot.connect()
        except FrankaUnavailableError as err:
            assert "robolearn[hardware]" in str(err), err
            print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_missing_driver_and_unreachable_robot():
    robot = make_robot("franka", driver="robolearn_no_such_driver")
    assert isinstance(robot, FrankaRobot)
    with pytest.raises(FrankaUnavailableError, match=r"robolearn\[hardware\]"):
        robot.connect()
    with pytest.raises(NotConnectedError):
        robot.observe()
    robot = make_robot("franka", driver=FAKE, fci_ip="192.0.2.99", realtime=False)
    with pytest.raises(FrankaError, match="could not connect to the Franka at 192.0.2.99"):
        robot.connect()
    with pytest.raises(ValueError, match="unknown mode"):
        FrankaRobot(FrankaConfig(mode="velocity"))


def test_connect_configures_the_robot_and_does_not_move_it(make, cell):
    before = {n: calls(cell, n) for n in ("Robot.start_torque_control",
                                          "AsyncPositionControlHandler.configure")}  # fmt: skip
    q0 = cell.data.qpos[:7].copy()
    robot = make()
    limits = load_limits()
    for key, value in cell.collision_behavior.items():
        np.testing.assert_array_equal(value, getattr(limits.collision, key))
    # set_EE made the robot's O_T_EE the twin's TCP.
    state = robot.observe()
    tcp = cell.model.site(TCP_SITE).id
    np.testing.assert_allclose(state.ee_pos, cell.data.site_xpos[tcp], atol=1e-9)
    assert quat_angle(state.ee_quat, mat_to_quat(cell.data.site_xmat[tcp].reshape(3, 3))) < 1e-6
    np.testing.assert_allclose(state.ee_pos, [0.45, 0.0, 0.30], atol=2e-3)
    assert state.gripper_width == pytest.approx(0.08, abs=1e-3)
    robot.advance(0.2)
    assert {n: calls(cell, n) for n in before} == before
    np.testing.assert_allclose(robot.observe().q, q0, atol=1e-6)


# --- tracking ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_tracks_cartesian_targets(make, cell, mode):
    robot = make(mode=mode)
    path = {
        "async": "AsyncPositionControlHandler.set_joint_position_target",
        "torque": "ActiveControlBase.writeOnce",
    }[mode]
    sent = calls(cell, path)
    start = robot.observe()
    yaw = quat_mul(rotvec_to_quat(np.array([0.0, 0.0, 0.2])), start.ee_quat)
    goals = [
        CartesianTarget(start.ee_pos + [0.04, 0.0, 0.0], start.ee_quat),
        CartesianTarget(start.ee_pos + [0.04, 0.04, -0.04], yaw),
        CartesianTarget(start.ee_pos + [-0.02, -0.03, -0.06], start.ee_quat),
    ]
    for goal in goals:
        stream(robot, goal, 20)
        state = robot.observe()
        assert np.linalg.norm(state.ee_pos - goal.position) < 3e-3, (mode, state.ee_pos)
        assert quat_angle(state.ee_quat, goal.quat) < 0.01
    # The exact command path: joint targets at the policy rate, or torques at 1 kHz.
    expected = 60 if mode == "async" else 0.9 * 1000 * 6.0
    assert calls(cell, path) - sent >= expected


# --- safety on the path ------------------------------------------------------------------------
def test_safety_layer_is_on_the_path(make, cell):
    cell.set_joint_positions(HIGH_Q)
    robot = make(mode="async")
    state = robot.observe()
    with pytest.raises(UnsafeCommandError, match="NaN"):
        robot.command(CartesianTarget(np.array([np.nan, 0.0, 0.3]), state.ee_quat))
    # Far targets are limited to 1 cm from the measured pose.
    safe = robot.command(CartesianTarget(state.ee_pos + [0.0, 0.5, 0.0], state.ee_quat))
    assert np.linalg.norm(safe.position - state.ee_pos) == pytest.approx(0.01, abs=1e-9)
    # Above the box: the target is clipped to its top, and the arm stays under it.
    top = robot.safety.box_max[2]
    above = CartesianTarget(np.array([0.45, 0.0, 0.60]), state.ee_quat)
    for _ in range(10):
        safe = robot.command(above)
        assert safe.position[2] <= top + 1e-12
        robot.advance(0.1)
    assert safe.position[2] == pytest.approx(top)
    assert robot.observe().ee_pos[2] == pytest.approx(top, abs=2e-3)
    with pytest.raises(UnsafeCommandError):
        robot.reset(joint_positions=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # joint 4 past limit


@pytest.mark.parametrize("mode", MODES)
def test_watchdog_holds_the_pose(make, cell, mode):
    robot = make(mode=mode)
    start = robot.observe()
    robot.command(CartesianTarget(start.ee_pos + [0.0, 0.0, -0.01], start.ee_quat))
    robot.advance(0.6)  # no command for longer than the 0.25 s watchdog
    assert robot.safety.holding
    held = robot.observe()
    robot.advance(0.5)
    after = robot.observe()
    assert np.linalg.norm(after.ee_pos - held.ee_pos) < 1e-3
    assert np.linalg.norm(after.ee_twist[:3]) < 5e-3
    # A fresh command releases the hold.
    robot.command(CartesianTarget(after.ee_pos, after.ee_quat))
    assert not robot.safety.holding


@pytest.mark.parametrize("mode", MODES)
def test_hold_stops_where_the_arm_is(make, cell, mode):
    robot = make(mode=mode)
    robot.hold()  # idle: nothing to do, the robot holds itself
    start = robot.observe()
    robot.command(CartesianTarget(start.ee_pos + [0.01, 0.0, 0.0], start.ee_quat))
    robot.advance(0.03)
    robot.hold()
    robot.advance(0.4)
    held = robot.observe()
    assert 0.0 < held.ee_pos[0] - start.ee_pos[0] < 0.01
    robot.advance(0.3)
    assert np.linalg.norm(robot.observe().ee_pos - held.ee_pos) < 1e-3


# --- faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_collision_reflex_latches_the_estop_until_recover(make, cell, mode):
    robot = make(mode=mode)
    start = robot.observe()
    hold = CartesianTarget(start.ee_pos, start.ee_quat)
    stream(robot, hold, 2)
    push_ends = cell.time + 0.05
    cell.push([0.0, 0.0, -150.0], seconds=0.05)  # 150 N on the hand, threshold 40 N
    wait_for(robot, lambda _: robot.safety.estopped, 1.0)
    assert "cartesian_reflex" in robot.safety.estop_reason
    # Clear the cause before recovering, as on the real arm: the push may outlast the reflex
    # when the machine is busy (the cell's robot time then runs behind the wall clock).
    wait_for(robot, lambda _: cell.time > push_ends + 0.01, 2.0)
    with pytest.raises(EStopError, match="reflex"):
        robot.command(hold)
    with pytest.raises(EStopError):
        robot.gripper(GripperCommand(width=0.0))
    with pytest.raises(EStopError):
        robot.reset()
    assert robot.observe().q.shape == (7,)  # still readable
    robot.recover()
    assert not robot.safety.estopped
    stream(robot, CartesianTarget(start.ee_pos + [0.02, 0.0, 0.0], start.ee_quat), 10)
    assert np.linalg.norm(robot.observe().ee_pos - start.ee_pos - [0.02, 0.0, 0.0]) < 3e-3


def test_user_stop_blocks_recovery_until_released(make, cell):
    robot = make(mode="torque")
    state = robot.observe()
    stream(robot, CartesianTarget(state.ee_pos, state.ee_quat), 2)
    cell.press_user_stop()
    wait_for(robot, lambda _: robot.safety.estopped, 1.0)
    assert "User Stop" in robot.safety.estop_reason
    with pytest.raises(FrankaError, match="release the user stop"):
        robot.recover()
    cell.release_user_stop()
    robot.recover()
    robot.command(CartesianTarget(state.ee_pos, state.ee_quat))


def test_realtime_kernel_is_enforced(make, cell, monkeypatch):
    monkeypatch.setattr(cell, "realtime_kernel", False)
    robot = make(mode="torque", realtime=True)
    state = robot.observe()
    with pytest.raises(FrankaError, match="PREEMPT_RT"):
        robot.command(CartesianTarget(state.ee_pos, state.ee_quat))
    assert robot.safety.estopped


# --- reset, gripper, close ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_reset_moves_home_slowly(make, cell, mode):
    home = load_limits().arm.home_joint_positions
    cell.set_joint_positions(home + [0.3, 0.2, -0.2, 0.2, 0.1, -0.2, 0.3])
    robot = make(mode=mode, reset_speed=1.0)
    t0 = robot.observe().timestamp
    state = robot.reset()
    np.testing.assert_allclose(state.q, home, atol=5e-3)
    # A minimum-jerk move of 0.3 rad at 1 rad/s peak lasts 0.56 s of robot time.
    assert state.timestamp - t0 >= 0.5
    stream(robot, CartesianTarget(state.ee_pos, state.ee_quat), 2)  # holds after the reset


def test_gripper_moves_and_grasps_through_the_hand(make, cell):
    robot = make(mode="async")
    moves, grasps = calls(cell, "Gripper.move"), calls(cell, "Gripper.grasp")
    # Closing is a grasp (force-controlled, the command's force reaches the hand).
    robot.gripper(GripperCommand(width=0.02, force=10.0))
    wait_for(robot, lambda s: abs(s.gripper_width - 0.02) < 1e-3, 3.0)
    assert calls(cell, "Gripper.grasp") == grasps + 1
    assert cell._grip_force == pytest.approx(10.0)
    robot.gripper(GripperCommand(width=0.02, force=10.0))  # repeated: not resent
    # Opening is a move.
    robot.gripper(GripperCommand(width=0.06))
    wait_for(robot, lambda s: abs(s.gripper_width - 0.06) < 1e-3, 3.0)
    assert calls(cell, "Gripper.move") == moves + 1
    assert calls(cell, "Gripper.grasp") == grasps + 1
    # Widths and forces are clipped by the safety layer (gripper section of franka.yaml).
    robot.gripper(GripperCommand(width=0.5, force=500.0))
    wait_for(robot, lambda s: s.gripper_width > 0.078, 3.0)


def test_close_stops_control_and_gripper(make, cell):
    robot = make(mode="torque")
    state = robot.observe()
    robot.command(CartesianTarget(state.ee_pos, state.ee_quat))
    assert cell._control is not None
    stops = calls(cell, "Gripper.stop")
    robot.close()
    assert cell._control is None
    assert calls(cell, "Gripper.stop") == stops + 1
    with pytest.raises(NotConnectedError):
        robot.observe()


# --- the fake behaves like the robot at its boundary -------------------------------------------
def test_fake_rejects_what_the_robot_rejects(cell):
    f = fake_franka
    robot = f.Robot(IP, f.RealtimeConfig.kIgnore)
    control = robot.start_torque_control()
    with pytest.raises(f.ControlException, match="readOnce"):
        control.writeOnce(f.Torques([0.0] * 7))
    state, period = control.readOnce()
    assert period.to_sec() == pytest.approx(0.001)
    with pytest.raises(f.InvalidOperationException):
        robot.start_torque_control()  # one motion at a time
    with pytest.raises(f.ControlException, match="tau_j_range_violation"):
        control.writeOnce(f.Torques([0.0] * 6 + [20.0]))  # joint 7 is limited to 12 Nm
    assert robot.read_once().robot_mode == f.RobotMode.Reflex
    assert robot.read_once().current_errors.tau_j_range_violation
    with pytest.raises(f.CommandException, match="Reflex"):
        robot.start_torque_control()
    robot.automatic_error_recovery()
    assert not robot.read_once().current_errors
    control = robot.start_torque_control()
    control.readOnce()
    with pytest.raises(f.ControlException, match="NaN"):
        control.writeOnce(f.Torques([float("nan")] + [0.0] * 6))
    robot.automatic_error_recovery()
    control = robot.start_torque_control()
    control.readOnce()
    with pytest.raises(f.ControlException, match="controller_torque_discontinuity"):
        control.writeOnce(f.Torques([5.0] + [0.0] * 6))  # 5 Nm in 1 ms > 1000 Nm/s
    robot.automatic_error_recovery()
    control = robot.start_torque_control()
    state, _ = control.readOnce()
    finish = f.Torques([0.0] * 7)
    finish.motion_finished = True
    control.writeOnce(finish)
    with pytest.raises(f.ControlException):
        control.readOnce()
    cell.restart()


def test_fake_model_matches_the_state_it_is_given(cell):
    f = fake_franka
    robot = f.Robot(IP, f.RealtimeConfig.kIgnore)
    model = robot.load_model()
    state = robot.read_once()
    fast = [model.zero_jacobian(state), model.mass(state), model.coriolis(state)]
    assert len(fast[0]) == 42 and len(fast[1]) == 49 and len(fast[2]) == 7
    cell.wait_ticks(3)  # the robot moved on: the model recomputes at the given state
    slow = [model.zero_jacobian(state), model.mass(state), model.coriolis(state)]
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)
    mass = np.asarray(fast[1]).reshape(7, 7)
    np.testing.assert_allclose(mass, mass.T, atol=1e-12)
    # Gravity is compensated by the "firmware": an idle arm holds still.
    q0 = np.asarray(robot.read_once().q)
    cell.wait_ticks(200)
    np.testing.assert_allclose(robot.read_once().q, q0, atol=1e-4)
