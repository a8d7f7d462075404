"""Acceptance: a seeded fuzz of >= 10,000 commands through `TwinRobot.command`.

Malformed commands (NaN, inf, wrong shapes, non-unit quaternions, non-numbers) must all be
refused with `UnsafeCommandError` and leave the twin untouched. Every accepted command must come
back inside the workspace box and the tilt cone, within one reference-limiting step of the pose
measured when it was sent, and the measured TCP must never leave the box by more than 1 cm.
The command stream runs at 100 Hz (10 ms of physics after each command).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from robolearn.robot.base import make_robot
from robolearn.robot.safety import DOWN_QUAT, UnsafeCommandError
from robolearn.robot.transforms import (
    quat_angle,
    quat_conj,
    quat_mul,
    quat_normalize,
    quat_to_mat,
    quat_to_rotvec,
    rotvec_to_quat,
)
from robolearn.robot.twin import TwinRobot
from robolearn.robot.types import CartesianTarget, GripperCommand, RobotState

SEED = 20250611
N_COMMANDS = 10_000
POLICY_DT = 0.01
BOX_TOLERANCE = 1e-9  # applied targets: inside the box up to rounding
MAX_EXCURSION = 0.01  # measured TCP: at most 1 cm outside the box

# (kind, weight, valid): how often each kind of command is drawn.
KINDS = [
    ("goal", 0.35, True),  # keep heading to the current random goal (drives the arm to the walls)
    ("delta", 0.25, True),  # a normal policy action around the measured pose
    ("random_quat", 0.05, True),  # any unit quaternion, including ones far outside the cone
    ("near_unit_quat", 0.03, True),  # |q| within the accepted 1e-3 of 1
    ("far", 0.04, True),  # metres outside the box
    ("huge", 0.04, True),  # 1e6 and beyond, up to the largest finite float
    ("integer", 0.02, True),  # integer arrays and Python lists
    ("nan", 0.07, False),
    ("inf", 0.07, False),
    ("non_unit_quat", 0.06, False),
    ("wrong_shape", 0.07, False),
    ("not_numeric", 0.03, False),
]
_WEIGHTS = np.array([w for _, w, _ in KINDS]) / sum(w for _, w, _ in KINDS)
VALID = {kind: valid for kind, _, valid in KINDS}


def random_unit_quat(rng: np.random.Generator) -> np.ndarray:
    return quat_normalize(rng.normal(size=4))


def tilt(quat: np.ndarray) -> float:
    return float(np.arccos(np.clip(-quat_to_mat(quat)[2, 2], -1.0, 1.0)))


def random_goal(rng: np.random.Generator, box_min: np.ndarray, box_max: np.ndarray):
    """A goal anywhere in a region twice the box's size, with a varied orientation."""
    centre, half = 0.5 * (box_min + box_max), 0.5 * (box_max - box_min)
    if rng.random() < 0.5:  # a corner or a wall
        pos = centre + half * rng.choice([-1.0, 1.0], size=3) * rng.uniform(0.9, 2.0, size=3)
    else:
        pos = centre + half * rng.uniform(-2.0, 2.0, size=3)
    r = rng.random()
    if r < 0.25:
        quat = quat_mul(DOWN_QUAT, rotvec_to_quat(np.array([0.0, 0.0, rng.uniform(-np.pi, np.pi)])))
    elif r < 0.85:  # mostly beyond the tilt cone's rim
        axis = np.array([*rng.normal(size=2), 0.0])
        tilted = rotvec_to_quat(axis / np.linalg.norm(axis) * rng.uniform(0.5, 1.6))
        quat = quat_mul(tilted, DOWN_QUAT)
    else:
        quat = random_unit_quat(rng)
    return pos, quat


def sample_command(kind: str, rng: np.random.Generator, state: RobotState, goal) -> tuple:
    """(position, quaternion) of one command of `kind`; either may be malformed."""
    pos0, quat0 = state.ee_pos, state.ee_quat
    if kind == "goal":
        return goal[0].copy(), goal[1].copy()
    if kind == "delta":  # a noisy policy heading for the goal
        heading = goal[0] - pos0
        heading *= min(1.0, 0.01 / max(float(np.linalg.norm(heading)), 1e-9))
        scale = rng.choice([0.002, 0.01, 0.05])
        turn = quat_to_rotvec(quat_mul(quat_conj(quat0), goal[1]))
        turn *= min(1.0, 0.05 / max(float(np.linalg.norm(turn)), 1e-9))
        rot = rotvec_to_quat(turn + rng.normal(0.0, rng.choice([0.01, 0.05, 0.2]), size=3))
        return pos0 + heading + rng.normal(0.0, scale, size=3), quat_mul(quat0, rot)
    if kind == "random_quat":
        return pos0 + rng.normal(0.0, 0.01, size=3), random_unit_quat(rng)
    if kind == "near_unit_quat":
        return pos0 + rng.normal(0.0, 0.01, size=3), quat0 * (1.0 + rng.uniform(-9e-4, 9e-4))
    if kind == "far":
        return rng.uniform(-5.0, 5.0, size=3), quat0.copy()
    if kind == "huge":
        magnitude = rng.choice([1e6, 1e12, 1e300, np.finfo(np.float64).max])
        pos = pos0.copy()
        mask = rng.random(3) < 0.6
        pos[mask] = rng.choice([-1.0, 1.0], size=int(mask.sum())) * magnitude
        return pos, goal[1].copy()
    if kind == "integer":
        pos = np.round(pos0 + rng.normal(0.0, 0.5, size=3)).astype(np.int64)
        quat = [0, 0, 0, 0]
        quat[rng.integers(4)] = int(rng.choice([-1, 1]))  # down (yawed) or straight up
        return (pos.tolist() if rng.random() < 0.5 else pos), quat
    pos, quat = pos0 + rng.normal(0.0, 0.01, size=3), quat0.copy()
    if kind in ("nan", "inf"):
        bad = np.nan if kind == "nan" else rng.choice([np.inf, -np.inf])
        if rng.random() < 0.3:  # hidden among huge values
            pos[rng.random(3) < 0.5] = 1e6
        where = rng.integers(3)  # position, quaternion, or both
        if where in (0, 2):
            pos[rng.integers(3)] = bad
        if where in (1, 2):
            quat[rng.integers(4)] = bad
        return pos, quat
    if kind == "non_unit_quat":
        r = rng.random()
        if r < 0.1:
            return pos, np.zeros(4)
        factor = rng.uniform(0.0, 0.99) if r < 0.5 else rng.choice([1.01, 2.0, 1e3, 1e6])
        return pos, random_unit_quat(rng) * factor
    if kind == "wrong_shape":
        shapes = [(), (0,), (2,), (3,), (4,), (5,), (1, 3), (3, 1), (2, 2), (1, 4), (4, 1), (3, 4)]
        if rng.random() < 0.5:
            shape = [sh for sh in shapes if sh != (3,)][rng.integers(len(shapes) - 1)]
            return 0.4 + rng.normal(0.0, 0.01, size=shape), quat
        shape = [sh for sh in shapes if sh != (4,)][rng.integers(len(shapes) - 1)]
        return pos, np.full(shape, 0.5)  # 0.5 * ones: unit norm for 4 elements in any layout
    if kind == "not_numeric":
        options = [
            (["a", "b", "c"], quat),
            (pos, "wxyz"),
            ([0.5, [0.0, 1.0], 0.3], quat),
            (pos, [1.0, None, 0.0, 0.0]),
            (None, quat),
            (pos, {"w": 1.0}),
            (object(), quat),
        ]
        return options[rng.integers(len(options))]
    raise AssertionError(kind)


@dataclass
class Snapshot:
    qpos: np.ndarray
    qvel: np.ndarray
    ctrl: np.ndarray
    time: float
    target: np.ndarray
    last_command_time: float | None
    holding: bool

    @staticmethod
    def of(robot: TwinRobot) -> Snapshot:
        d = robot.data
        return Snapshot(
            d.qpos.copy(),
            d.qvel.copy(),
            d.ctrl.copy(),
            float(d.time),
            robot._target.copy(),
            robot.safety.last_command_time,
            robot.safety.holding,
        )

    def assert_equal(self, other: Snapshot) -> None:
        np.testing.assert_array_equal(self.qpos, other.qpos)
        np.testing.assert_array_equal(self.qvel, other.qvel)
        np.testing.assert_array_equal(self.ctrl, other.ctrl)
        np.testing.assert_array_equal(self.target, other.target)
        assert self.time == other.time
        assert self.last_command_time == other.last_command_time
        assert self.holding == other.holding


def excursion(pos: np.ndarray, box_min: np.ndarray, box_max: np.ndarray) -> float:
    """How far `pos` lies outside the box (0 inside), per-axis maximum."""
    return float(max(0.0, np.max(box_min - pos), np.max(pos - box_max)))


def check_accepted(i, kind, command, applied, state, robot) -> tuple[float, float] | None:
    """Assert the invariants of one accepted command; return its (step, rotation) when the
    measured pose was inside the box and the tilt cone, where both limits must hold."""
    s = robot.limits.safety
    box_min, box_max = robot.safety.box_min, robot.safety.box_max
    p, q = applied.position, applied.quat
    context = f"command {i} ({kind}): {command} -> {applied} from {state.ee_pos}, {state.ee_quat}"
    assert abs(np.linalg.norm(q) - 1.0) < 1e-9, context
    np.testing.assert_array_equal(robot._target, np.concatenate([p, q]))  # what is tracked
    # Clip, then limit: every step is bounded wherever the arm is measured, and never leads
    # further out of the box or the cone than the arm already is (inside: stays inside).
    step = float(np.linalg.norm(p - state.ee_pos))
    rotation = quat_angle(state.ee_quat, q)
    assert step <= s.max_translation_step + 1e-9, context
    assert rotation <= s.max_rotation_step + 1e-9, context
    was_out = excursion(state.ee_pos, box_min, box_max)
    assert excursion(p, box_min, box_max) <= was_out + BOX_TOLERANCE, context
    assert tilt(q) <= max(s.max_tilt, tilt(state.ee_quat)) + 1e-9, context
    if was_out > 0.0 or tilt(state.ee_quat) > s.max_tilt:
        return None
    return step, rotation


def test_seeded_command_fuzz(record_property):
    rng = np.random.default_rng(SEED)
    robot = make_robot("twin", scene="pick_cube")
    robot.connect()
    s = robot.limits.safety
    box_min, box_max = robot.safety.box_min, robot.safety.box_max
    counts: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    limited = []  # (step, rotation) of accepted commands sent from inside box and cone
    max_excursion = max_tilt_seen = 0.0
    closest = np.full(6, np.inf)  # nearest approach to each wall: -x, -y, -z, +x, +y, +z
    goal, goal_left = None, 0
    try:
        for i in range(N_COMMANDS):
            if goal_left == 0:
                goal, goal_left = random_goal(rng, box_min, box_max), int(rng.integers(100, 800))
            goal_left -= 1
            if i % 250 == 0:
                robot.gripper(GripperCommand(float(rng.uniform(-0.02, 0.1))))
            elif i % 250 == 125:
                with pytest.raises(UnsafeCommandError):
                    robot.gripper(GripperCommand(float("nan")))
            kind = KINDS[rng.choice(len(KINDS), p=_WEIGHTS)][0]
            state = robot.observe()
            command = CartesianTarget(*sample_command(kind, rng, state, goal))  # no checks
            counts[kind] += 1
            before = Snapshot.of(robot)
            if VALID[kind]:
                applied = robot.command(command)
                checked = check_accepted(i, kind, command, applied, state, robot)
                if checked is not None:
                    limited.append(checked)
            else:
                try:
                    applied = robot.command(command)
                except UnsafeCommandError:
                    rejected[kind] += 1
                else:
                    pytest.fail(f"command {i} ({kind}) {command} accepted as {applied}")
                Snapshot.of(robot).assert_equal(before)  # the refused command changed nothing
            # 10 ms of physics; the measured pose checked every 5 ms, every 1 ms for 1 in 10.
            substeps = 10 if i % 10 == 0 else 2
            for _ in range(substeps):
                robot.advance(POLICY_DT / substeps)
                measured = robot.observe()
                assert np.all(np.isfinite(measured.q)), f"after command {i}"
                out = excursion(measured.ee_pos, box_min, box_max)
                assert out <= MAX_EXCURSION, f"TCP {out * 1e3:.1f} mm outside the box after {i}"
                max_excursion = max(max_excursion, out)
                walls = np.concatenate([measured.ee_pos - box_min, box_max - measured.ee_pos])
                closest = np.minimum(closest, walls)
                max_tilt_seen = max(max_tilt_seen, tilt(measured.ee_quat))
            assert not robot.safety.estopped, robot.safety.estop_reason
    finally:
        report = {
            "commands": dict(counts),
            "max_excursion_mm": round(max_excursion * 1e3, 3),
            "closest_to_walls_mm": (closest * 1e3).round(2).tolist(),
            "max_measured_tilt_rad": round(max_tilt_seen, 4),
            "limited_checks": len(limited),
            "sim_time_s": round(robot.time, 3),
        }
        record_property("fuzz_report", report)
        print("\nfuzz report:", report)
        robot.close()

    total = sum(counts.values())
    n_invalid = sum(n for kind, n in counts.items() if not VALID[kind])
    assert total == N_COMMANDS >= 10_000
    assert set(counts) == set(VALID)  # every kind was drawn
    assert sum(rejected.values()) == n_invalid > 1000  # every malformed command was refused
    # The limits were exercised and binding.
    steps, rotations = np.array(limited).T
    assert len(limited) > 0.5 * (total - n_invalid)
    assert steps.max() == pytest.approx(s.max_translation_step, rel=1e-9)
    assert rotations.max() == pytest.approx(s.max_rotation_step, rel=1e-9)
    # The fuzz reached every wall (within 5 mm) and came near the tilt cone's rim.
    assert np.all(closest < 0.005), closest
    assert max_tilt_seen > s.max_tilt - 0.1
