"""SafetyLayer as a pure function of hand-made states: no MuJoCo."""

from __future__ import annotations

import numpy as np
import pytest

from robolearn.robot.limits import load_limits
from robolearn.robot.safety import DOWN_QUAT, EStopError, SafetyLayer, UnsafeCommandError
from robolearn.robot.transforms import (
    quat_angle,
    quat_conj,
    quat_mul,
    quat_normalize,
    quat_to_mat,
    quat_to_rotvec,
    rotvec_to_quat,
)
from robolearn.robot.types import CartesianTarget, GripperCommand, RobotState

LIMITS = load_limits()
S = LIMITS.safety
BOX_MIN, BOX_MAX = S.workspace_min, S.workspace_max
HOME_POS = np.array([0.45, 0.0, 0.30])


def make_state(
    pos=HOME_POS,
    quat=DOWN_QUAT,
    *,
    t: float = 0.0,
    lin_vel=(0.0, 0.0, 0.0),
    ang_vel=(0.0, 0.0, 0.0),
    q=None,
    dq=None,
) -> RobotState:
    return RobotState(
        q=np.array(LIMITS.arm.home_joint_positions if q is None else q, dtype=float),
        dq=np.zeros(7) if dq is None else np.asarray(dq, dtype=float),
        tau_ext=np.zeros(7),
        ee_pos=np.array(pos, dtype=float),
        ee_quat=np.array(quat, dtype=float),
        ee_twist=np.concatenate([lin_vel, ang_vel]).astype(float),
        ee_wrench=np.zeros(6),
        gripper_width=0.08,
        timestamp=t,
    )


def target(pos, quat=DOWN_QUAT) -> CartesianTarget:
    return CartesianTarget(np.asarray(pos, dtype=float), np.asarray(quat, dtype=float))


def tilt(quat: np.ndarray) -> float:
    """Angle between the tool z axis and the base's -z."""
    return float(np.arccos(np.clip(-quat_to_mat(quat)[2, 2], -1.0, 1.0)))


def tool_z(quat: np.ndarray) -> np.ndarray:
    return quat_to_mat(quat)[:, 2]


def yawed(angle: float, quat=DOWN_QUAT) -> np.ndarray:
    """`quat` rotated about its own tool axis."""
    return quat_mul(quat, rotvec_to_quat(np.array([0.0, 0.0, angle])))


def tilted(angle: float, world_axis=(1.0, 0.0, 0.0), quat=DOWN_QUAT) -> np.ndarray:
    """`quat` rotated by `angle` about a horizontal world axis (tilts the tool axis)."""
    axis = np.asarray(world_axis, dtype=float)
    return quat_mul(rotvec_to_quat(angle * axis / np.linalg.norm(axis)), quat)


@pytest.fixture
def safety() -> SafetyLayer:
    return SafetyLayer(LIMITS)


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pos", "quat", "message"),
    [
        ([np.nan, 0.0, 0.3], DOWN_QUAT, "NaN or inf"),
        ([0.45, np.inf, 0.3], DOWN_QUAT, "NaN or inf"),
        ([0.45, 0.0, -np.inf], DOWN_QUAT, "NaN or inf"),
        (HOME_POS, [np.nan, 0.0, 0.0, 1.0], "NaN or inf"),
        (HOME_POS, [np.inf, 0.0, 0.0, 0.0], "NaN or inf"),
        ([0.45, 0.0], DOWN_QUAT, "position must have shape \\(3,\\)"),
        ([0.45, 0.0, 0.3, 0.0], DOWN_QUAT, "position must have shape \\(3,\\)"),
        ([[0.45, 0.0, 0.3]], DOWN_QUAT, "position must have shape \\(3,\\)"),
        (0.45, DOWN_QUAT, "position must have shape \\(3,\\)"),
        (None, DOWN_QUAT, "position must have shape \\(3,\\)"),
        (HOME_POS, [0.0, 1.0, 0.0], "quaternion must have shape \\(4,\\)"),
        (HOME_POS, np.eye(4)[:2], "quaternion must have shape \\(4,\\)"),
        (HOME_POS, [0.0, 0.0, 0.0, 0.0], "not unit length \\(norm 0.0000\\)"),
        (HOME_POS, [0.0, 2.0, 0.0, 0.0], "not unit length \\(norm 2.0000\\)"),
        (HOME_POS, [0.0, 0.99, 0.0, 0.0], "not unit length"),
        (["a", "b", "c"], DOWN_QUAT, "not numeric"),
        ([0.45, [0.0], 0.3], DOWN_QUAT, "not numeric"),
        (HOME_POS, "wxyz", "not numeric"),
    ],
)
def test_malformed_targets_are_rejected(safety, pos, quat, message):
    bad = CartesianTarget(pos, quat)  # built directly: CartesianTarget.make would refuse some
    with pytest.raises(UnsafeCommandError, match=message):
        safety.validate(bad)
    with pytest.raises(ValueError, match=message):  # UnsafeCommandError is a ValueError
        safety.filter(bad, make_state())
    # A rejected command does not count as a fresh command for the watchdog.
    assert not safety.watchdog_expired(100.0)


def test_validate_normalises_a_nearly_unit_quaternion(safety):
    pos, quat = safety.validate(target([0.5, 0.0, 0.2], DOWN_QUAT * (1.0 + 5e-4)))
    np.testing.assert_allclose(np.linalg.norm(quat), 1.0, atol=1e-15)
    np.testing.assert_array_equal(pos, [0.5, 0.0, 0.2])


def test_accepts_lists_and_integers(safety):
    out = safety.filter(CartesianTarget([0, 0, 0], [0, 1, 0, 0]), make_state())
    assert out.position.dtype == np.float64 and out.quat.dtype == np.float64


# --- reference limiting --------------------------------------------------------------------------
def test_small_step_passes_unchanged(safety):
    goal = HOME_POS + [0.004, -0.003, 0.002]
    goal_quat = yawed(0.02, tilted(0.01))
    out = safety.filter(target(goal, goal_quat), make_state())
    np.testing.assert_allclose(out.position, goal, atol=1e-15)
    assert quat_angle(out.quat, goal_quat) < 1e-12


@pytest.mark.parametrize("direction", [(1, 0, 0), (0, -1, 0), (0, 0, 1), (1, 1, -1), (-3, 2, 5)])
def test_far_target_is_limited_to_the_translation_step(safety, direction):
    direction = np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    goal = HOME_POS + 5.0 * direction
    out = safety.filter(target(goal), make_state())
    step = out.position - HOME_POS
    np.testing.assert_allclose(np.linalg.norm(step), S.max_translation_step, rtol=1e-12)
    # towards the goal as clipped into the box (clip, then limit)
    toward = np.clip(goal, BOX_MIN, BOX_MAX) - HOME_POS
    np.testing.assert_allclose(step / np.linalg.norm(step), toward / np.linalg.norm(toward),
                               atol=1e-12)  # fmt: skip
    assert quat_angle(out.quat, DOWN_QUAT) < 1e-12


def test_step_is_measured_from_the_measured_pose_not_the_last_target(safety):
    state = make_state(pos=[0.5, 0.1, 0.2])
    safety.filter(target([0.7, 0.1, 0.2]), make_state())  # an earlier target elsewhere
    out = safety.filter(target([0.7, 0.1, 0.2]), state)
    np.testing.assert_allclose(out.position, [0.51, 0.1, 0.2], atol=1e-12)


@pytest.mark.parametrize(
    "goal_quat",
    [yawed(1.0), yawed(-2.5), tilted(0.6), tilted(-0.4, (0.0, 1.0, 0.0)), yawed(1.5, tilted(0.3))],
)
def test_far_rotation_is_limited_to_the_rotation_step(safety, goal_quat):
    out = safety.filter(target(HOME_POS, goal_quat), make_state())
    np.testing.assert_allclose(quat_angle(DOWN_QUAT, out.quat), S.max_rotation_step, rtol=1e-9)
    # ... along the requested rotation.
    want = quat_to_rotvec(quat_mul(quat_conj(DOWN_QUAT), goal_quat))
    got = quat_to_rotvec(quat_mul(quat_conj(DOWN_QUAT), out.quat))
    np.testing.assert_allclose(got / np.linalg.norm(got), want / np.linalg.norm(want), atol=1e-9)
    np.testing.assert_array_equal(out.position, HOME_POS)


def test_rotation_step_from_a_yawed_measured_pose(safety):
    current = yawed(2.0)
    out = safety.filter(target(HOME_POS, yawed(-2.0)), make_state(quat=current))
    np.testing.assert_allclose(quat_angle(current, out.quat), S.max_rotation_step, rtol=1e-9)


def test_huge_finite_target_is_limited(safety):
    out = safety.filter(target([1e6, -1e6, 1e300]), make_state())
    assert np.all(np.isfinite(out.position))
    assert np.linalg.norm(out.position - HOME_POS) <= S.max_translation_step + 1e-12


# --- workspace box -------------------------------------------------------------------------------
def test_clip_to_workspace_clips_each_axis(safety):
    pos, quat = safety.clip_to_workspace(np.array([2.0, -1.0, -0.5]), DOWN_QUAT)
    np.testing.assert_array_equal(pos, [BOX_MAX[0], BOX_MIN[1], BOX_MIN[2]])
    np.testing.assert_array_equal(quat, DOWN_QUAT)
    pos, _ = safety.clip_to_workspace(np.array([0.5, 0.0, 0.2]), DOWN_QUAT)
    np.testing.assert_array_equal(pos, [0.5, 0.0, 0.2])


@pytest.mark.parametrize(
    ("measured", "goal", "expected"),
    [
        ([0.745, 0.0, 0.3], [0.9, 0.0, 0.3], [0.75, 0.0, 0.3]),
        ([0.5, -0.295, 0.3], [0.5, -0.5, 0.3], [0.5, -0.30, 0.3]),
        ([0.5, 0.0, 0.02], [0.5, 0.0, -1.0], [0.5, 0.0, 0.015]),
        ([0.5, 0.0, 0.449], [0.5, 0.0, 1.0], [0.5, 0.0, 0.45]),
    ],
)
def test_target_beyond_a_wall_is_clipped_onto_it(safety, measured, goal, expected):
    out = safety.filter(target(goal), make_state(pos=measured))
    np.testing.assert_allclose(out.position, expected, atol=1e-12)


def test_measured_pose_outside_the_box_is_pulled_back_in_by_one_step(safety):
    out = safety.filter(target([0.9, 0.0, 0.3]), make_state(pos=[0.8, 0.0, 0.3]))
    np.testing.assert_allclose(out.position, [0.8 - S.max_translation_step, 0.0, 0.3], atol=1e-12)


# --- tilt cone -----------------------------------------------------------------------------------
@pytest.mark.parametrize("angle", [0.0, 0.3, 0.79])
def test_tilt_inside_the_cone_is_unchanged(safety, angle):
    quat = yawed(0.7, tilted(angle, (1.0, 1.0, 0.0)))
    _, out = safety.clip_to_workspace(HOME_POS, quat)
    assert quat_angle(out, quat) < 1e-12


@pytest.mark.parametrize(
    ("angle", "axis"),
    [
        (0.81, (1.0, 0.0, 0.0)),
        (1.2, (1.0, 0.0, 0.0)),
        (1.5, (0.0, 1.0, 0.0)),
        (2.5, (1.0, -2.0, 0.0)),
        (np.pi, (0.0, 1.0, 0.0)),  # tool pointing straight up
    ],
)
@pytest.mark.parametrize("yaw", [0.0, 1.0, -2.8])
def test_tilt_beyond_the_cone_is_clipped_to_its_rim(safety, angle, axis, yaw):
    quat = tilted(angle, axis, yawed(yaw))
    _, out = safety.clip_to_workspace(HOME_POS, quat)
    np.testing.assert_allclose(tilt(out), S.max_tilt, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(out), 1.0, atol=1e-12)
    if angle < np.pi:
        # The smallest correction: the tool axis stays in the same vertical plane (azimuth) ...
        want, got = tool_z(quat)[:2], tool_z(out)[:2]
        np.testing.assert_allclose(
            got / np.linalg.norm(got), want / np.linalg.norm(want), atol=1e-9
        )
        # ... and the orientation moved by exactly the excess tilt.
        np.testing.assert_allclose(quat_angle(out, quat), angle - S.max_tilt, atol=1e-9)


@pytest.mark.parametrize("yaw", [0.5, np.pi / 2, 3.0, -3.0])
def test_yaw_about_the_tool_axis_is_free(safety, yaw):
    quat = yawed(yaw)
    _, out = safety.clip_to_workspace(HOME_POS, quat)
    assert quat_angle(out, quat) < 1e-12


def test_filter_applies_the_cone_after_the_rotation_step(safety):
    current = tilted(0.79)  # just inside the rim
    out = safety.filter(target(HOME_POS, tilted(1.5)), make_state(quat=current))
    assert tilt(out.quat) <= S.max_tilt + 1e-9
    assert quat_angle(current, out.quat) <= S.max_rotation_step + 1e-12


# --- speed limit ---------------------------------------------------------------------------------
def test_fast_tcp_holds_the_measured_pose(safety):
    measured_quat = yawed(0.3)
    state = make_state(pos=[0.5, 0.1, 0.2], quat=measured_quat, lin_vel=(0.4, 0.0, -0.35))
    assert np.linalg.norm(state.ee_twist[:3]) > S.max_ee_speed
    out = safety.filter(target([0.505, 0.1, 0.2], yawed(0.31)), state)
    np.testing.assert_array_equal(out.position, [0.5, 0.1, 0.2])
    assert quat_angle(out.quat, measured_quat) < 1e-12


def test_speeds_just_below_the_limits_are_not_held(safety):
    state = make_state(
        lin_vel=(0.0, 0.99 * S.max_ee_speed, 0.0), ang_vel=(0.99 * S.max_ee_angular_speed, 0, 0)
    )
    out = safety.filter(target(HOME_POS + [0.005, 0.0, 0.0]), state)
    np.testing.assert_allclose(out.position, HOME_POS + [0.005, 0.0, 0.0], atol=1e-15)


def test_fast_rotation_holds_the_measured_pose(safety):
    """The TCP's angular speed is limited too (only the linear speed was)."""
    measured_quat = yawed(0.3)
    state = make_state(quat=measured_quat, ang_vel=(0.0, 0.0, 1.01 * S.max_ee_angular_speed))
    out = safety.filter(target(HOME_POS + [0.005, 0.0, 0.0], yawed(0.35)), state)
    np.testing.assert_array_equal(out.position, HOME_POS)
    assert quat_angle(out.quat, measured_quat) < 1e-12


# --- watchdog ------------------------------------------------------------------------------------
def test_watchdog_is_idle_before_the_first_command(safety):
    t = target([0.6, 0.0, 0.2])
    assert safety.watchdog(make_state(t=100.0), t) is t
    assert not safety.watchdog_expired(100.0)


def test_watchdog_holds_the_then_measured_pose(safety):
    t0, timeout, eps = 2.0, S.watchdog_timeout, 1e-3
    applied = safety.filter(target(HOME_POS + [0.005, 0.0, 0.0]), make_state(t=t0))
    assert safety.last_command_time == t0 and not safety.holding
    # Within the timeout the current target stands.
    assert not safety.watchdog_expired(t0 + timeout - eps)
    fresh = make_state(pos=[0.46, 0.0, 0.3], t=t0 + timeout - eps)
    assert safety.watchdog(fresh, applied) is applied
    # Past it: a hold of the pose measured then.
    assert safety.watchdog_expired(t0 + timeout + eps)
    then_quat = yawed(0.2)
    stale = make_state(pos=[0.47, 0.01, 0.29], quat=then_quat, t=t0 + timeout + eps)
    hold = safety.watchdog(stale, applied)
    assert safety.holding
    np.testing.assert_array_equal(hold.position, [0.47, 0.01, 0.29])
    assert quat_angle(hold.quat, then_quat) < 1e-12
    # Once engaged it is no longer "expired" and the same hold comes back, wherever the arm is.
    assert not safety.watchdog_expired(t0 + 10.0)
    later = make_state(pos=[0.6, -0.2, 0.1], t=t0 + 10.0)
    again = safety.watchdog(later, applied)
    np.testing.assert_array_equal(again.position, hold.position)
    np.testing.assert_array_equal(again.quat, hold.quat)
    # A new command clears the hold.
    t1 = t0 + 11.0
    newer = safety.filter(target([0.6, -0.2, 0.105]), make_state(pos=[0.6, -0.2, 0.1], t=t1))
    assert not safety.holding and safety.last_command_time == t1
    assert not safety.watchdog_expired(t1 + timeout)
    assert safety.watchdog(make_state(t=t1 + 0.1), newer) is newer
    # ... and re-arms the watchdog.
    assert safety.watchdog_expired(t1 + timeout + eps)


def test_watchdog_hold_outside_the_workspace_is_a_bounded_step_back(safety):
    """Measured outside the box and the cone, the hold steps back towards them by at most one
    reference-limited step (it was the box's corner: an 11 cm jump, about 220 N at 2000 N/m)."""
    safety.filter(target(HOME_POS), make_state(t=0.0))
    measured, measured_quat = np.array([0.8, 0.4, 0.0]), tilted(1.2)
    outside = make_state(pos=measured, quat=measured_quat, t=1.0)
    hold = safety.watchdog(outside, target(HOME_POS))
    step = hold.position - measured
    assert np.linalg.norm(step) <= S.max_translation_step + 1e-12
    corner = np.array([0.75, 0.30, 0.015])
    np.testing.assert_allclose(step / np.linalg.norm(step), (corner - measured) / np.linalg.norm(
        corner - measured))  # fmt: skip
    assert quat_angle(hold.quat, measured_quat) <= S.max_rotation_step + 1e-12
    assert tilt(hold.quat) < tilt(measured_quat)


def test_hold_inside_the_workspace_is_the_measured_pose(safety):
    quat = yawed(0.2)
    hold = safety.hold_target(make_state(pos=[0.5, 0.1, 0.2], quat=quat))
    np.testing.assert_array_equal(hold.position, [0.5, 0.1, 0.2])
    assert quat_angle(hold.quat, quat) < 1e-12


@pytest.mark.parametrize(
    "measured", [[0.9, 0.0, 0.3], [0.45, -0.6, 0.3], [0.45, 0.0, -0.05], [0.1, 0.5, 0.6]]
)
def test_every_commanded_step_is_bounded_when_the_arm_is_measured_outside_the_box(safety, measured):
    """Clip, then limit: a target inside the box far from an arm measured outside it moved the
    arm by the whole distance to the box (reference limiting came first, the clip undid it)."""
    state = make_state(pos=measured)
    for goal in ([0.45, 0.0, 0.3], [0.75, 0.3, 0.45], [0.25, -0.3, 0.015], measured):
        out = safety.filter(target(goal), state)
        assert np.linalg.norm(out.position - state.ee_pos) <= S.max_translation_step + 1e-12
        # and the step never leads further out of the box than the arm already is
        outside = np.maximum(BOX_MIN - out.position, 0) + np.maximum(out.position - BOX_MAX, 0)
        was = np.maximum(BOX_MIN - state.ee_pos, 0) + np.maximum(state.ee_pos - BOX_MAX, 0)
        assert np.linalg.norm(outside) <= np.linalg.norm(was) + 1e-12


def test_rejected_command_does_not_feed_the_watchdog(safety):
    safety.filter(target(HOME_POS), make_state(t=0.0))
    with pytest.raises(UnsafeCommandError):
        safety.filter(target([np.nan, 0.0, 0.0]), make_state(t=1.0))
    assert safety.watchdog_expired(1.0)


def test_hold_target_of_a_non_unit_measured_quaternion_is_unit(safety):
    hold = safety.hold_target(make_state(quat=2.0 * DOWN_QUAT))
    np.testing.assert_allclose(hold.quat, DOWN_QUAT, atol=1e-12)


# --- e-stop latch --------------------------------------------------------------------------------
def test_estop_latches_until_reset(safety):
    safety.estop("operator pressed the button")
    assert safety.estopped
    with pytest.raises(EStopError, match="operator pressed the button"):
        safety.filter(target(HOME_POS), make_state())
    with pytest.raises(EStopError, match="recover"):
        safety.filter_gripper(GripperCommand(0.04))
    # A malformed command during an e-stop still reports the e-stop.
    with pytest.raises(EStopError):
        safety.filter(target([np.nan, 0.0, 0.0]), make_state())
    # The first reason is kept.
    safety.estop("second reason")
    assert safety.estop_reason == "operator pressed the button"
    safety.reset_estop()
    assert not safety.estopped and safety.estop_reason is None
    safety.filter(target(HOME_POS), make_state())
    safety.filter_gripper(GripperCommand(0.04))


def test_reset_estop_clears_the_watchdog(safety):
    safety.filter(target(HOME_POS), make_state(t=0.0))
    safety.estop("x")
    safety.reset_estop()
    assert not safety.watchdog_expired(100.0)


@pytest.mark.parametrize("field", ["q", "dq"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_state_latches_on_non_finite_joint_state(safety, field, bad):
    values = np.zeros(7) if field == "dq" else LIMITS.arm.home_joint_positions.copy()
    values[3] = bad
    safety.check_state(make_state(**{field: values}))
    assert safety.estopped
    assert "non-finite joint state" in safety.estop_reason
    with pytest.raises(EStopError):
        safety.filter(target(HOME_POS), make_state())


@pytest.mark.parametrize(
    ("joint", "side"), [(0, "upper"), (3, "upper"), (5, "lower"), (6, "lower")]
)
def test_check_state_latches_on_a_joint_past_its_limit(safety, joint, side):
    q = LIMITS.arm.home_joint_positions.copy()
    if side == "upper":
        q[joint] = LIMITS.arm.joint_upper[joint] + 1e-6
    else:
        q[joint] = LIMITS.arm.joint_lower[joint] - 1e-6
    safety.check_state(make_state(q=q))
    assert safety.estopped
    assert f"joint(s) {joint + 1} past their limits" in safety.estop_reason


def test_check_state_passes_inside_the_limits(safety):
    safety.check_state(make_state())
    q = LIMITS.arm.joint_upper - 1e-6  # inside the margin but not past the limit
    safety.check_state(make_state(q=q, dq=np.full(7, 3.0)))
    assert not safety.estopped


# --- joint-limit repulsion -----------------------------------------------------------------------
def test_joint_limit_torque_is_zero_inside_the_margins(safety):
    np.testing.assert_array_equal(safety.joint_limit_torque(LIMITS.arm.home_joint_positions), 0.0)
    arm = LIMITS.arm
    np.testing.assert_array_equal(safety.joint_limit_torque(arm.joint_lower + S.joint_margin), 0.0)
    np.testing.assert_array_equal(safety.joint_limit_torque(arm.joint_upper - S.joint_margin), 0.0)


@pytest.mark.parametrize("joint", range(7))
@pytest.mark.parametrize("depth", [0.25, 0.75, 1.5])  # fraction of the margin; 1.5: past the limit
def test_joint_limit_torque_pushes_away_from_the_limit(safety, joint, depth):
    arm = LIMITS.arm
    q = arm.home_joint_positions.copy()
    q[joint] = arm.joint_upper[joint] - S.joint_margin * (1.0 - depth)
    tau = safety.joint_limit_torque(q)
    expected = np.zeros(7)
    expected[joint] = -S.joint_margin_stiffness * depth * S.joint_margin
    np.testing.assert_allclose(tau, expected, atol=1e-9)
    q[joint] = arm.joint_lower[joint] + S.joint_margin * (1.0 - depth)
    tau = safety.joint_limit_torque(q)
    np.testing.assert_allclose(tau, -expected, atol=1e-9)
    assert tau[joint] > 0.0


# --- gripper -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("width", "expected"), [(0.04, 0.04), (0.0, 0.0), (0.2, 0.08), (-0.01, 0.0), (1e9, 0.08)]
)
def test_gripper_width_is_clipped(safety, width, expected):
    assert safety.filter_gripper(GripperCommand(width)).width == expected


def test_gripper_force_is_clipped_to_the_grasp_force(safety):
    assert safety.filter_gripper(GripperCommand(0.04, force=500.0)).force == 20.0
    assert safety.filter_gripper(GripperCommand(0.04, force=-5.0)).force == 0.0
    assert safety.filter_gripper(GripperCommand(0.04, force=7.5)).force == 7.5


@pytest.mark.parametrize(
    "command",
    [
        GripperCommand(float("nan")),
        GripperCommand(float("inf")),
        GripperCommand(0.04, force=float("nan")),
        GripperCommand(0.04, force=float("-inf")),
    ],
)
def test_non_finite_gripper_command_raises(safety, command):
    with pytest.raises(UnsafeCommandError, match="gripper command contains NaN or inf"):
        safety.filter_gripper(command)


def test_unit_quaternion_helpers_agree():
    # The tests lean on these: DOWN_QUAT points the tool straight down.
    np.testing.assert_allclose(tool_z(DOWN_QUAT), [0.0, 0.0, -1.0], atol=1e-15)
    assert tilt(tilted(0.5)) == pytest.approx(0.5)
    assert tilt(yawed(2.0)) == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(quat_normalize(np.array([2.0, 0, 0, 0])), [1.0, 0, 0, 0])
