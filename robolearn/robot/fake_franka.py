"""A stand-in for `pylibfranka` whose robot is the MuJoCo twin's physics, stepped at 1 kHz.

The module has pylibfranka's shape: the same classes, methods, enums and exceptions
(`tests/robot/test_franka.py` compares the two so they cannot drift), and it behaves like the
real robot at that boundary, so `FrankaRobot` runs its exact command path against it:

- `Robot(ip)` connects only to a running simulated cell (`serve(ip)`), else `NetworkException`.
- The arm is the twin's MJCF (`robolearn.sim.scene.build_scene`) with gravity compensated
  by the "firmware" (MuJoCo gravcomp on every arm body), as on the real robot: commanded
  torques come on top of gravity. An idle robot holds its joints.
- `ActiveControlBase.readOnce()` applies the last written command for one 1 ms physics tick
  and returns the state after it; `time` advances 1 ms per tick. `writeOnce` before `readOnce`
  raises; a second `readOnce` without a `writeOnce` counts as a missed command.
- Reflexes abort the motion (the next `readOnce`/`writeOnce` raises `ControlException`, the
  state reports `robot_mode` Reflex and `current_errors`): non-finite or out-of-range torques,
  torque rate above 1000 Nm/s, a joint past its limit or above its velocity limit, external
  joint torques or end-effector forces above the `set_collision_behavior` thresholds.
  `automatic_error_recovery()` clears them. Starting a motion in Reflex mode raises.
- `Model` computes the Jacobian, mass matrix, Coriolis and gravity vectors with MuJoCo for the
  given state; matrices come back column-major as flat lists, like libfranka's arrays.
- `O_T_EE` is flange * F_T_NE (Franka Hand default) * NE_T_EE (`set_EE`), column-major;
  `tau_ext_hat_filtered` is the constraint force (contacts, joint limits) plus any force a test
  applies (`FakeCell.push`); `O_F_ext_hat_K` is its end-effector wrench.
- `AsyncPositionControlHandler` runs a robot-side joint trajectory (velocity and acceleration
  limited) tracked by a stiff joint impedance, like the robot's own async position control.
- `Gripper` moves the twin's fingers at the commanded speed; `move`/`grasp` block until done.

Pacing: `serve(realtime=True)` puts every tick on a 1 ms wall-clock grid (`readOnce` blocks
until the next tick, as on the real robot). `serve(realtime=False)` (the default, for tests)
runs a torque control lock-step with its caller, as fast as the caller goes, and the robot's
own loop (idle hold, async position control, gripper) at `speed` times real time.

Fake-only helpers, not part of pylibfranka: `serve`, `FakeCell`, `shutdown_all`,
`sleep_until`, `set_realtime_priority`.
"""

from __future__ import annotations

import enum
import math
import os
import threading
import time as _time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
from numba import njit

from robolearn.sim.scene import ARM_PREFIX, FINGER_JOINTS, build_scene

__all__ = [
    "ActiveControlBase",
    "AsyncPositionControlHandler",
    "CartesianPose",
    "CartesianVelocities",
    "CommandException",
    "ControlException",
    "ControllerMode",
    "Duration",
    "Errors",
    "FrankaException",
    "Gripper",
    "GripperState",
    "InvalidOperationException",
    "JointPositions",
    "JointVelocities",
    "Model",
    "NetworkException",
    "RealtimeConfig",
    "RealtimeException",
    "Robot",
    "RobotMode",
    "RobotState",
    "TargetStatus",
    "Torques",
]

__version__ = "0.21.3+fake"

DT = 0.001  # the robot's control period
# Franka Panda datasheet limits.
JOINT_LOWER = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
JOINT_UPPER = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
MAX_JOINT_VELOCITY = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
MAX_JOINT_ACCELERATION = np.array([15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0])
MAX_TORQUE = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0])
MAX_TORQUE_RATE = 1000.0  # Nm/s
FLANGE_OFFSET = 0.107  # link7 origin to flange, along link7's z axis
# libfranka's default joint impedance of the robot's internal controller, Nm/rad.
DEFAULT_JOINT_IMPEDANCE = np.array([3000.0, 3000.0, 3000.0, 2500.0, 2500.0, 2000.0, 2000.0])
GRIPPER_MAX_WIDTH = 0.08


def _transform(rot: np.ndarray, pos: Sequence[float]) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = pos
    return out


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# The Franka Hand as the nominal end effector configured in Desk: 0.1034 m, -45 deg about z.
HAND_F_T_NE = _transform(_rot_z(-math.pi / 4), [0.0, 0.0, 0.1034])


def _colmajor(matrix: np.ndarray) -> list[float]:
    return np.asarray(matrix, dtype=np.float64).flatten(order="F").tolist()


def _from_colmajor(values: Sequence[float], rows: int, cols: int) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(cols, rows).T.copy()


def _fixed(name: str, values: Any, size: int) -> list[float]:
    """pybind11's FixedSize(n) conversion: a sequence of n numbers, else TypeError."""
    try:
        out = [float(v) for v in values]
    except TypeError:
        raise TypeError(f"{name}: expected a sequence of {size} numbers") from None
    if len(out) != size:
        raise TypeError(f"{name}: expected {size} values, got {len(out)}")
    return out


def sleep_until(wall: float) -> None:
    """Wait until `time.perf_counter()` reaches `wall`: sleep, then spin the last 0.2 ms
    (sleep alone wakes up to ~0.1 ms late)."""
    remaining = wall - _time.perf_counter()
    if remaining > 3e-4:
        _time.sleep(remaining - 2e-4)
    while _time.perf_counter() < wall:
        pass


def set_realtime_priority() -> None:
    """libfranka under kEnforce: the calling (control) thread gets SCHED_FIFO, top priority."""
    try:
        top = os.sched_get_priority_max(os.SCHED_FIFO)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(top))
    except (OSError, AttributeError) as err:
        raise RealtimeException(
            f"libfranka: unable to set realtime scheduling: {err}. Please check that you are "
            "running as root or in a group with rtprio permissions."
        ) from None


def _has_realtime_kernel() -> bool:
    """libfranka's check: /sys/kernel/realtime reads 1 on a PREEMPT_RT kernel."""
    try:
        return Path("/sys/kernel/realtime").read_text().strip() == "1"
    except OSError:
        return False


@njit(cache=True)
def _wrench(jac: np.ndarray, tau: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """(J J^T + eps)^-1 J tau by Cholesky, without LAPACK: a threaded BLAS costs 10-100 us
    per small solve on a loaded machine, which the 1 kHz tick cannot afford."""
    a = jac @ jac.T
    b = jac @ tau
    n = 6
    low = np.zeros((n, n))
    for i in range(n):
        a[i, i] += 1e-6
        for j in range(i + 1):
            acc = a[i, j]
            for k in range(j):
                acc -= low[i, k] * low[j, k]
            low[i, j] = np.sqrt(acc) if i == j else acc / low[j, j]
    y = np.zeros(n)
    for i in range(n):
        acc = b[i]
        for k in range(i):
            acc -= low[i, k] * y[k]
        y[i] = acc / low[i, i]
    x = np.zeros(n)
    for i in range(n - 1, -1, -1):
        acc = y[i]
        for k in range(i + 1, n):
            acc -= low[k, i] * x[k]
        x[i] = acc / low[i, i]
    return x


# --- exceptions (same hierarchy as pylibfranka: FrankaException is not their base) ----------
class FrankaException(Exception):  # noqa: N818 - pylibfranka's name
    pass


class ControlException(RuntimeError):  # noqa: N818
    pass


class CommandException(RuntimeError):  # noqa: N818
    pass


class NetworkException(RuntimeError):  # noqa: N818
    pass


class RealtimeException(RuntimeError):  # noqa: N818
    pass


class InvalidOperationException(RuntimeError):  # noqa: N818
    pass


# --- enums ----------------------------------------------------------------------------------
class _PyEnum(enum.Enum):
    def __int__(self) -> int:
        return int(self.value)

    def __index__(self) -> int:
        return int(self.value)

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


class RobotMode(_PyEnum):
    Other = 0
    Idle = 1
    Move = 2
    Guiding = 3
    Reflex = 4
    UserStopped = 5
    AutomaticErrorRecovery = 6


class ControllerMode(_PyEnum):
    JointImpedance = 0
    CartesianImpedance = 1


class RealtimeConfig(_PyEnum):
    kEnforce = 0
    kIgnore = 1


class TargetStatus(_PyEnum):
    kIdle = 0
    kExecuting = 1
    kTargetReached = 2
    kAborted = 3


# --- value types ----------------------------------------------------------------------------
class Duration:
    def __init__(self, milliseconds: int = 0) -> None:
        self._ms = int(milliseconds)

    def to_sec(self) -> float:
        return self._ms / 1000.0

    def __repr__(self) -> str:
        return f"Duration({self._ms} ms)"


ERROR_NAMES = (
    "base_acceleration_initialization_timeout",
    "base_acceleration_invalid_reading",
    "cartesian_motion_generator_acceleration_discontinuity",
    "cartesian_motion_generator_elbow_limit_violation",
    "cartesian_motion_generator_elbow_sign_inconsistent",
    "cartesian_motion_generator_joint_acceleration_discontinuity",
    "cartesian_motion_generator_joint_position_limits_violation",
    "cartesian_motion_generator_joint_velocity_discontinuity",
    "cartesian_motion_generator_joint_velocity_limits_violation",
    "cartesian_motion_generator_start_elbow_invalid",
    "cartesian_motion_generator_velocity_discontinuity",
    "cartesian_motion_generator_velocity_limits_violation",
    "cartesian_position_limits_violation",
    "cartesian_position_motion_generator_invalid_frame",
    "cartesian_position_motion_generator_start_pose_invalid",
    "cartesian_reflex",
    "cartesian_spline_motion_generator_violation",
    "cartesian_velocity_profile_safety_violation",
    "cartesian_velocity_violation",
    "communication_constraints_violation",
    "controller_torque_discontinuity",
    "force_control_safety_violation",
    "force_controller_desired_force_tolerance_violation",
    "instability_detected",
    "joint_motion_generator_acceleration_discontinuity",
    "joint_motion_generator_position_limits_violation",
    "joint_motion_generator_velocity_discontinuity",
    "joint_motion_generator_velocity_limits_violation",
    "joint_move_in_wrong_direction",
    "joint_p2p_insufficient_torque_for_planning",
    "joint_position_limits_violation",
    "joint_position_motion_generator_start_pose_invalid",
    "joint_reflex",
    "joint_velocity_violation",
    "joint_via_motion_generator_planning_joint_limit_violation",
    "max_goal_pose_deviation_violation",
    "max_path_pose_deviation_violation",
    "power_limit_violation",
    "self_collision_avoidance_violation",
    "start_elbow_sign_inconsistent",
    "tau_j_range_violation",
)


class Errors:
    """Error flags; truthy when any is set; str() lists the set ones like libfranka."""

    def __init__(self) -> None:
        self._set: frozenset[str] = frozenset()

    @classmethod
    def _of(cls, names: Sequence[str]) -> Errors:
        unknown = set(names) - set(ERROR_NAMES)
        if unknown:
            raise ValueError(f"unknown error flag(s): {sorted(unknown)}")
        errors = cls()
        errors._set = frozenset(names)
        return errors

    def __bool__(self) -> bool:
        return bool(self._set)

    def __str__(self) -> str:
        return "[" + ", ".join(f'"{n}"' for n in ERROR_NAMES if n in self._set) + "]"

    def __repr__(self) -> str:
        return f"Errors({self})"


def _error_flag(name: str) -> property:
    return property(lambda self: name in self._set)


for _name in ERROR_NAMES:
    setattr(Errors, _name, _error_flag(_name))
del _name

_VECTOR_FIELDS = {
    "EE_T_K": 16, "F_T_EE": 16, "F_T_NE": 16, "NE_T_EE": 16, "O_T_EE": 16, "O_T_EE_c": 16,
    "O_T_EE_d": 16, "F_x_Cee": 3, "F_x_Cload": 3, "F_x_Ctotal": 3, "I_ee": 9, "I_load": 9,
    "I_total": 9, "K_F_ext_hat_K": 6, "O_F_ext_hat_K": 6, "O_dP_EE_c": 6, "O_dP_EE_d": 6,
    "O_ddP_EE_c": 6, "O_ddP_O": 3, "cartesian_collision": 6, "cartesian_contact": 6,
    "ddelbow_c": 2, "delbow_c": 2, "elbow": 2, "elbow_c": 2, "elbow_d": 2, "ddq_d": 7, "dq": 7,
    "dq_d": 7, "dtau_J": 7, "dtheta": 7, "joint_collision": 7, "joint_contact": 7, "q": 7,
    "q_d": 7, "tau_J": 7, "tau_J_d": 7, "tau_ext_hat_filtered": 7, "theta": 7,
}  # fmt: skip
_SCALAR_FIELDS = ("control_command_success_rate", "m_ee", "m_load", "m_total")


class RobotState:
    """One 1 kHz sample of the robot; vectors are lists, matrices column-major lists."""

    def __init__(self) -> None:
        for name, size in _VECTOR_FIELDS.items():
            setattr(self, name, [0.0] * size)
        for name in _SCALAR_FIELDS:
            setattr(self, name, 0.0)
        self.current_errors = Errors()
        self.last_motion_errors = Errors()
        self.robot_mode = RobotMode.Idle
        self.time = Duration(0)
        self._cell: FakeCell | None = None
        self._tick = -1


class GripperState:
    def __init__(self) -> None:
        self.width = 0.0
        self.max_width = GRIPPER_MAX_WIDTH
        self.is_grasped = False
        self.temperature = 30
        self.time = Duration(0)


class Torques:
    def __init__(self, tau_J: Sequence[float]) -> None:  # noqa: N803 - pylibfranka's name
        self.tau_J = _fixed("tau_J", tau_J, 7)
        self.motion_finished = False


class JointPositions:
    def __init__(self, q: Sequence[float]) -> None:
        self.q = _fixed("q", q, 7)
        self.motion_finished = False


class JointVelocities:
    def __init__(self, dq: Sequence[float]) -> None:
        self.dq = _fixed("dq", dq, 7)
        self.motion_finished = False


class CartesianPose:
    def __init__(self, O_T_EE: Sequence[float]) -> None:  # noqa: N803
        self.O_T_EE = _fixed("O_T_EE", O_T_EE, 16)
        self.motion_finished = False


class CartesianVelocities:
    def __init__(self, O_dP_EE: Sequence[float]) -> None:  # noqa: N803
        self.O_dP_EE = _fixed("O_dP_EE", O_dP_EE, 6)
        self.motion_finished = False


# --- the simulated cell ---------------------------------------------------------------------
_CELLS: dict[str, FakeCell] = {}
_CELLS_LOCK = threading.Lock()


def serve(
    ip: str = "172.16.0.2",
    *,
    scene: str | None = None,
    realtime: bool = False,
    speed: float = 5.0,
    realtime_kernel: bool | None = None,
    max_missed_commands: int | None = 20,
) -> FakeCell:
    """Power on a simulated robot at `ip`; `Robot(ip)` and `Gripper(ip)` connect to it.

    `realtime_kernel`: what libfranka's kernel check sees (None: this machine's
    /sys/kernel/realtime). `max_missed_commands`: consecutive 1 ms ticks without a fresh
    torque command before a communication_constraints_violation reflex (None: never).
    """
    with _CELLS_LOCK:
        if ip in _CELLS:
            raise RuntimeError(f"a fake robot is already served at {ip}")
        cell = FakeCell(
            ip,
            scene=scene,
            realtime=realtime,
            speed=speed,
            realtime_kernel=_has_realtime_kernel() if realtime_kernel is None else realtime_kernel,
            max_missed_commands=max_missed_commands,
        )
        _CELLS[ip] = cell
    return cell


def shutdown_all() -> None:
    for cell in list(_CELLS.values()):
        cell.shutdown()


def _cell_at(ip: str) -> FakeCell:
    cell = _CELLS.get(ip)
    if cell is None or cell._closed:
        raise NetworkException(
            "libfranka: Connection timeout. Please check your network connection or settings."
        )
    return cell


def _arm_model(scene: str | None) -> mujoco.MjModel:
    """The twin's model with the arm's gravity compensated, as by the robot's firmware."""
    spec = mujoco.MjSpec.from_string(build_scene(scene, DT).xml)
    for body in spec.bodies:
        if body.name.startswith(ARM_PREFIX):
            body.gravcomp = 1.0
    model = spec.compile()
    model.opt.timestep = DT
    return model


class FakeCell:
    """One simulated robot + gripper; tests reach it to inject faults and to inspect calls."""

    HOME = np.array([0.0, -0.2512, 0.0, -2.4394, 0.0, 2.1893, 0.7854])

    def __init__(
        self,
        ip: str,
        *,
        scene: str | None,
        realtime: bool,
        speed: float,
        realtime_kernel: bool,
        max_missed_commands: int | None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.ip = ip
        self.realtime = realtime
        self.speed = 1.0 if realtime else speed
        self.realtime_kernel = realtime_kernel
        self.max_missed_commands = max_missed_commands
        self.model = _arm_model(scene)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._link7 = m.body(ARM_PREFIX + "link7").id
        self._hand = m.body(ARM_PREFIX + "right_hand").id
        self._fingers = np.array([m.joint(j).qposadr[0] for j in FINGER_JOINTS])
        self._finger_dofs = np.array([m.joint(j).dofadr[0] for j in FINGER_JOINTS])
        self._finger_act = np.array(
            [
                i
                for i in range(m.nu)
                if m.actuator_trnid[i, 0] in {m.joint(j).id for j in FINGER_JOINTS}
            ]
        )
        self._scratch = mujoco.MjData(m)
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        self._mass_full = np.zeros((m.nv, m.nv))
        self._lock = threading.RLock()
        self._tick_cond = threading.Condition(self._lock)
        self._driver_changed = threading.Condition(self._lock)
        self._closed = False
        # Frames and settings the robot keeps across connections.
        self.F_T_NE = HAND_F_T_NE.copy()
        self.NE_T_EE = np.eye(4)
        self.EE_T_K = np.eye(4)
        self.collision_behavior: dict[str, np.ndarray] = {
            "lower_torque_thresholds": np.full(7, 20.0),
            "upper_torque_thresholds": np.full(7, 40.0),
            "lower_force_thresholds": np.full(6, 20.0),
            "upper_force_thresholds": np.full(6, 40.0),
        }
        self.joint_impedance = DEFAULT_JOINT_IMPEDANCE.copy()
        self.cartesian_impedance = np.array([3000.0, 3000.0, 3000.0, 300.0, 300.0, 300.0])
        self.load: tuple[float, list[float], list[float]] | None = None
        self.calls: dict[str, int] = {}
        # Robot status.
        self.robot_mode = RobotMode.Idle
        self.errors: frozenset[str] = frozenset()
        self.last_motion_errors: frozenset[str] = frozenset()
        self.user_stopped = False
        self._control: _Motion | None = None
        self._abort_message: str | None = None
        # Internal joint controller (idle hold, async position control).
        self._q_d = self.HOME.copy()
        self._dq_d = np.zeros(7)
        self._async_goal: np.ndarray | None = None
        self._async_vmax = MAX_JOINT_VELOCITY.copy()
        self._async_tolerance = 1e-3
        # Gripper.
        self._grip_goal = GRIPPER_MAX_WIDTH
        self._grip_cmd = GRIPPER_MAX_WIDTH
        self._grip_speed = 0.1
        self._grip_force = 20.0
        self._grasped = False
        # External push (force in the base frame on the hand) for a number of ticks.
        self._push = np.zeros(3)
        self._push_ticks = 0
        # Derived quantities for the current tick.
        self.tick = 0
        self._jac = np.zeros((6, 7))
        self._mass = np.zeros((7, 7))
        self._coriolis = np.zeros(7)
        self._gravity = np.zeros(7)
        self._o_t_ee = np.eye(4)
        self._tau_ext = np.zeros(7)
        self._wrench = np.zeros(6)
        self._tau_cmd = np.zeros(7)
        self._state: RobotState | None = None
        self._frame_lists: dict[str, list[float]] | None = None
        self._errors_cache: tuple[Any, Errors, Errors] = (None, Errors(), Errors())
        self._command_history = np.ones(100, dtype=bool)
        # Torque-control ticks, and those that got no command in time (1 kHz deadline misses).
        self.commands_expected = 0
        self.commands_missed = 0
        self._reset_physics(self.HOME)
        # Pacing of the robot's own loop.
        self._pace_wall = _time.perf_counter()
        self._pace_tick = self.tick
        self._ticker = threading.Thread(target=self._run_ticker, name=f"fake-franka-{ip}")
        self._ticker.daemon = True
        self._ticker.start()

    # --- test helpers ---------------------------------------------------------------------
    def __enter__(self) -> FakeCell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Power the simulated robot off."""
        with self._lock:
            self._closed = True
            if self._control is not None:
                self._control._abort("libfranka: server closed connection")
            self._tick_cond.notify_all()
            self._driver_changed.notify_all()
        self._ticker.join(timeout=2.0)
        with _CELLS_LOCK:
            if _CELLS.get(self.ip) is self:
                del _CELLS[self.ip]

    @property
    def time(self) -> float:
        return self.tick * DT

    def push(self, force: Sequence[float], seconds: float) -> None:
        """Push the hand with `force` (N, base frame) for `seconds` of robot time."""
        with self._lock:
            self._push = np.asarray(force, dtype=np.float64).copy()
            self._push_ticks = max(1, round(seconds / DT))

    def inject_error(self, *names: str) -> None:
        """Trigger a reflex with the given error flags (aborts the running motion)."""
        with self._lock:
            self._reflex(Errors._of(names)._set)

    def press_user_stop(self) -> None:
        with self._lock:
            self.user_stopped = True
            self.robot_mode = RobotMode.UserStopped
            self._end_motion("libfranka: Move command aborted: User Stop pressed!")

    def release_user_stop(self) -> None:
        with self._lock:
            self.user_stopped = False
            self.robot_mode = RobotMode.Idle if not self.errors else RobotMode.Reflex
            self._state = None

    def restart(self, q: Sequence[float] | None = None) -> None:
        """Power-cycle: end any motion, clear errors and the user stop, restore the default
        frames and thresholds, open the hand and put the arm at `q` (default: home)."""
        with self._lock:
            if self._control is not None:
                self._end_motion("libfranka: server closed connection")
            self.errors = self.last_motion_errors = frozenset()
            self.user_stopped = False
            self.robot_mode = RobotMode.Idle
            self.F_T_NE, self.NE_T_EE, self.EE_T_K = HAND_F_T_NE.copy(), np.eye(4), np.eye(4)
            self._frame_lists = None
            self.joint_impedance = DEFAULT_JOINT_IMPEDANCE.copy()
            self._push_ticks = 0
            self._grip_goal = self._grip_cmd = GRIPPER_MAX_WIDTH
            self._grasped = False
            self._reset_physics(self.HOME if q is None else np.asarray(q, dtype=np.float64))

    def set_joint_positions(self, q: Sequence[float]) -> None:
        """Teleport the arm (robot idle only)."""
        with self._lock:
            if self._control is not None:
                raise RuntimeError("cannot teleport the arm during a motion")
            self._reset_physics(np.asarray(q, dtype=np.float64))

    def wait_ticks(self, n: int, timeout: float = 10.0) -> None:
        """Block until `n` more ticks have run (robot time moved n ms)."""
        with self._tick_cond:
            end = self.tick + n
            deadline = _time.monotonic() + timeout
            while self.tick < end and not self._closed:
                if not self._tick_cond.wait(deadline - _time.monotonic()):
                    raise TimeoutError("the fake robot's clock did not advance")

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    # --- physics --------------------------------------------------------------------------
    def _reset_physics(self, q: np.ndarray) -> None:
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[:7] = q
        d.qpos[self._fingers[0]] = 0.5 * self._grip_cmd
        d.qpos[self._fingers[1]] = -0.5 * self._grip_cmd
        self._set_finger_ctrl()
        mujoco.mj_forward(m, d)
        mujoco.mj_step1(m, d)
        self._q_d = q.copy()
        self._dq_d[:] = 0.0
        self._derive()

    def _set_finger_ctrl(self) -> None:
        d = self.data
        d.ctrl[self._finger_act[0]] = 0.5 * self._grip_cmd
        d.ctrl[self._finger_act[1]] = -0.5 * self._grip_cmd
        self.model.actuator_forcerange[self._finger_act] = [
            [-self._grip_force, self._grip_force]
        ] * 2

    def _derive(self) -> None:
        """Kinematics and dynamics of the current state (mj_step1 has run)."""
        m, d = self.model, self.data
        o_t_f = _transform(d.xmat[self._link7].reshape(3, 3), d.xpos[self._link7])
        o_t_f[:3, 3] += FLANGE_OFFSET * o_t_f[:3, 2]
        self._o_t_ee = o_t_f @ self.F_T_NE @ self.NE_T_EE
        mujoco.mj_jac(m, d, self._jacp, self._jacr, self._o_t_ee[:3, 3], self._link7)
        self._jac[:3] = self._jacp[:, :7]
        self._jac[3:] = self._jacr[:, :7]
        mujoco.mj_fullM(m, self._mass_full, d.qM)
        self._mass[:] = self._mass_full[:7, :7]
        self._gravity[:] = d.qfrc_gravcomp[:7]
        self._coriolis[:] = d.qfrc_bias[:7] - self._gravity
        tau_ext = d.qfrc_constraint[:7].copy()
        if self._push_ticks > 0:
            mujoco.mj_jac(m, d, self._jacp, self._jacr, d.xipos[self._hand], self._hand)
            tau_ext += self._jacp[:, :7].T @ self._push
        self._tau_ext = tau_ext
        self._wrench = _wrench(self._jac, tau_ext)
        self._state = None

    def _step(self, tau_cmd: np.ndarray, fresh_command: bool | None = None) -> None:
        """One 1 ms tick applying `tau_cmd` (on top of gravity); lock held. `fresh_command`:
        whether an external controller's command arrived in time (None: internal control)."""
        m, d = self.model, self.data
        self._tau_cmd = tau_cmd
        d.ctrl[:7] = tau_cmd
        # Fingers: the commanded width ramps at the commanded speed.
        step = self._grip_speed * DT
        self._grip_cmd += float(np.clip(self._grip_goal - self._grip_cmd, -step, step))
        self._set_finger_ctrl()
        d.xfrc_applied[self._hand, :3] = self._push if self._push_ticks > 0 else 0.0
        mujoco.mj_step2(m, d)
        mujoco.mj_step1(m, d)
        self._push_ticks = max(0, self._push_ticks - 1)
        self.tick += 1
        if fresh_command is not None:
            self._command_history[self.commands_expected % 100] = fresh_command
            self.commands_expected += 1
            self.commands_missed += not fresh_command
        self._derive()
        if self._control is not None:
            self._check_reflexes()
        self._tick_cond.notify_all()

    def _check_reflexes(self) -> None:
        d = self.data
        q, dq = d.qpos[:7], d.qvel[:7]
        cb = self.collision_behavior
        errors: set[str] = set()
        if (q < JOINT_LOWER).any() or (q > JOINT_UPPER).any():
            errors.add("joint_position_limits_violation")
        if (np.abs(dq) > MAX_JOINT_VELOCITY).any():
            errors.add("joint_velocity_violation")
        if (np.abs(self._tau_ext) > cb["upper_torque_thresholds"]).any():
            errors.add("joint_reflex")
        if (np.abs(self._wrench) > cb["upper_force_thresholds"]).any():
            errors.add("cartesian_reflex")
        if not np.isfinite(d.qpos).all():
            errors.add("instability_detected")
        if errors:
            self._reflex(frozenset(errors))

    def _reflex(self, errors: frozenset[str]) -> None:
        self.errors = self.errors | errors
        self.last_motion_errors = errors
        self.robot_mode = RobotMode.Reflex
        text = "[" + ", ".join(f'"{n}"' for n in ERROR_NAMES if n in errors) + "]"
        self._end_motion(f"libfranka: Move command aborted: motion aborted by reflex! {text}")

    def _end_motion(self, message: str | None) -> None:
        """Stop the running motion (aborted with `message`, or finished) and hold the joints."""
        if self._control is not None:
            if message is not None:
                self._control._abort(message)
            self._control._done = True
            self._control = None
        if message is not None:
            self._abort_message = message
        self._async_goal = None
        if not np.all(np.isfinite(self.data.qpos[:7])):
            self._reset_physics(self._q_d)  # a blown-up simulation restarts where it was
        self._q_d = self.data.qpos[:7].copy()
        self._dq_d[:] = 0.0
        if self.robot_mode == RobotMode.Move:
            self.robot_mode = RobotMode.Idle
        self._state = None  # the next read reports the new mode
        self._pace_wall = _time.perf_counter()
        self._pace_tick = self.tick
        self._tick_cond.notify_all()
        self._driver_changed.notify_all()

    def _joint_impedance_torque(self) -> np.ndarray:
        """The robot's own joint controller: impedance around q_d plus Coriolis."""
        d = self.data
        k = self.joint_impedance
        damping = 2.0 * 0.8 * np.sqrt(k * np.diag(self._mass))
        tau = k * (self._q_d - d.qpos[:7]) + damping * (self._dq_d - d.qvel[:7]) + self._coriolis
        return np.clip(tau, -MAX_TORQUE, MAX_TORQUE)

    def _advance_async_goal(self) -> None:
        """Robot-side trajectory: per joint, velocity- and acceleration-limited to the goal."""
        if self._async_goal is None:
            self._dq_d[:] = 0.0
            return
        err = self._async_goal - self._q_d
        acc = 0.5 * MAX_JOINT_ACCELERATION
        v_goal = np.sign(err) * np.minimum(self._async_vmax, np.sqrt(2.0 * acc * np.abs(err)))
        self._dq_d += np.clip(v_goal - self._dq_d, -acc * DT, acc * DT)
        self._q_d += self._dq_d * DT
        close = np.abs(self._async_goal - self._q_d) < 1e-5
        self._q_d[close] = self._async_goal[close]
        self._dq_d[close] = 0.0

    def _internal_tick(self) -> None:
        if self._control is None or isinstance(self._control, _AsyncMotion):
            self._advance_async_goal()
            self._step(self._joint_impedance_torque())

    # --- pacing ---------------------------------------------------------------------------
    def _run_ticker(self) -> None:
        """The robot's own 1 kHz loop while no torque control drives the ticks."""
        period = DT / self.speed
        while not self._closed:
            with self._lock:
                # A torque control drives the ticks itself: sleep until it ends (no polling,
                # which would take the GIL from the 1 kHz thread).
                while isinstance(self._control, _TorqueMotion) and not self._closed:
                    self._driver_changed.wait()
                due = self._pace_wall + (self.tick + 1 - self._pace_tick) * period
            now = _time.perf_counter()
            if now > due + 0.02:  # fell behind (machine busy): do not catch up in a burst
                with self._lock:
                    self._pace_wall, self._pace_tick = now, self.tick
                due = now
            sleep_until(due)
            with self._lock:
                if not self._closed and not isinstance(self._control, _TorqueMotion):
                    self._internal_tick()

    # --- state ----------------------------------------------------------------------------
    def _robot_state(self) -> RobotState:
        if self._state is not None:
            return self._state
        d = self.data
        s = RobotState()
        q = d.qpos[:7].tolist()
        dq = d.qvel[:7].tolist()
        s.q = q
        s.theta = q
        s.dq = dq
        s.dtheta = dq
        s.q_d = self._q_d.tolist()
        s.dq_d = self._dq_d.tolist()
        s.tau_J_d = self._tau_cmd.tolist()
        s.tau_J = (d.actuator_force[:7] + self._gravity).tolist()
        s.tau_ext_hat_filtered = self._tau_ext.tolist()
        o_t_ee = _colmajor(self._o_t_ee)
        s.O_T_EE = o_t_ee
        s.O_T_EE_d = o_t_ee
        s.O_T_EE_c = o_t_ee
        frames = self._frame_lists
        if frames is None:
            frames = self._frame_lists = {
                "F_T_NE": _colmajor(self.F_T_NE),
                "NE_T_EE": _colmajor(self.NE_T_EE),
                "F_T_EE": _colmajor(self.F_T_NE @ self.NE_T_EE),
                "EE_T_K": _colmajor(self.EE_T_K),
            }
        s.F_T_NE, s.NE_T_EE = frames["F_T_NE"], frames["NE_T_EE"]
        s.F_T_EE, s.EE_T_K = frames["F_T_EE"], frames["EE_T_K"]
        s.O_F_ext_hat_K = self._wrench.tolist()
        rot = self._o_t_ee[:3, :3]
        s.K_F_ext_hat_K = np.concatenate(
            [rot.T @ self._wrench[:3], rot.T @ self._wrench[3:]]
        ).tolist()
        cb = self.collision_behavior
        tau_abs, wrench_abs = np.abs(self._tau_ext), np.abs(self._wrench)
        s.joint_contact = (tau_abs > cb["lower_torque_thresholds"]).astype(float).tolist()
        s.joint_collision = (tau_abs > cb["upper_torque_thresholds"]).astype(float).tolist()
        s.cartesian_contact = (wrench_abs > cb["lower_force_thresholds"]).astype(float).tolist()
        s.cartesian_collision = (wrench_abs > cb["upper_force_thresholds"]).astype(float).tolist()
        s.control_command_success_rate = float(self._command_history.mean())
        if self._errors_cache[0] != (self.errors, self.last_motion_errors):
            self._errors_cache = (
                (self.errors, self.last_motion_errors),
                Errors._of(tuple(self.errors)),
                Errors._of(tuple(self.last_motion_errors)),
            )
        s.current_errors, s.last_motion_errors = self._errors_cache[1:]
        s.robot_mode = self.robot_mode
        s.time = Duration(self.tick)
        s.m_ee = 0.73
        s.m_total = 0.73
        s._cell = self
        s._tick = self.tick
        self._state = s
        return s

    def _dynamics(self, state: RobotState) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(jac, mass, coriolis, gravity) at `state`: cached for the current tick."""
        with self._lock:
            if state._cell is self and state._tick == self.tick:
                return self._jac, self._mass, self._coriolis, self._gravity
            m, s = self.model, self._scratch
            s.qpos[:] = self.data.qpos
            s.qvel[:] = self.data.qvel
            s.qpos[:7] = state.q
            s.qvel[:7] = state.dq
            mujoco.mj_forward(m, s)
            o_t_ee = _from_colmajor(state.O_T_EE, 4, 4)
            jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
            mujoco.mj_jac(m, s, jacp, jacr, o_t_ee[:3, 3], self._link7)
            mass_full = np.zeros((m.nv, m.nv))
            mujoco.mj_fullM(m, mass_full, s.qM)
            gravity = s.qfrc_gravcomp[:7].copy()
            jac = np.vstack([jacp[:, :7], jacr[:, :7]])
            return jac, mass_full[:7, :7].copy(), s.qfrc_bias[:7] - gravity, gravity

    # --- motions --------------------------------------------------------------------------
    def _start_motion(self, motion: _Motion, realtime_config: RealtimeConfig) -> None:
        if realtime_config == RealtimeConfig.kEnforce and not self.realtime_kernel:
            raise RealtimeException(
                "libfranka: Running kernel does not have realtime capabilities."
            )
        if self._control is not None:
            raise InvalidOperationException(
                "libfranka robot: Cannot perform this operation while another control or read "
                "operation is running."
            )
        if self.robot_mode != RobotMode.Idle:
            raise CommandException(
                "libfranka: Move command rejected: command not possible in the current mode "
                f'("{self.robot_mode.name}")!'
            )
        self._control = motion
        self._abort_message = None
        self.robot_mode = RobotMode.Move
        self.last_motion_errors = frozenset()
        self._q_d = self.data.qpos[:7].copy()
        self._dq_d[:] = 0.0
        self._tau_cmd = np.zeros(7)
        self._pace_wall = _time.perf_counter()
        self._pace_tick = self.tick


class _Motion:
    def __init__(self, cell: FakeCell) -> None:
        self._cell = cell
        self._done = False
        self._error: str | None = None

    def _abort(self, message: str) -> None:
        self._error = message
        self._done = True


class _TorqueMotion(_Motion):
    pass


class _AsyncMotion(_Motion):
    pass


# --- pylibfranka classes --------------------------------------------------------------------
class Model:
    """Dynamics of the arm at a given state (MuJoCo); matrices column-major, like libfranka."""

    def __init__(self, cell: FakeCell) -> None:
        self._cell = cell

    def zero_jacobian(self, *args: Any) -> list[float]:
        if len(args) != 1 or not isinstance(args[0], RobotState):
            raise TypeError(
                "zero_jacobian(robot_state): the fake supports the end-effector frame only"
            )
        return _colmajor(self._cell._dynamics(args[0])[0])

    def mass(self, robot_state: RobotState) -> list[float]:
        return _colmajor(self._cell._dynamics(robot_state)[1])

    def coriolis(self, robot_state: RobotState) -> list[float]:
        return self._cell._dynamics(robot_state)[2].tolist()

    def gravity(self, robot_state: RobotState) -> list[float]:
        return self._cell._dynamics(robot_state)[3].tolist()


class ActiveControlBase:
    """A running torque control: readOnce/writeOnce at 1 kHz."""

    def __init__(self, cell: FakeCell, motion: _TorqueMotion) -> None:
        self._cell = cell
        self._motion = motion
        self._first = True
        self._read_pending = False  # a state was read and no command written for it yet
        self._fresh = False  # a command arrived in time for the next tick
        self._missed = 0
        self._command = np.zeros(7)
        self._deadline: float | None = None  # wall time at which the next state is due
        self._state_wall = 0.0  # wall time at which the last state was due

    def _raise_if_over(self) -> None:
        if self._motion._error is not None:
            raise ControlException(self._motion._error)
        if self._motion._done:
            raise ControlException(
                "libfranka robot: Trying to send control command, but no controller running!"
            )

    def readOnce(self) -> tuple[RobotState, Duration]:  # noqa: N802 - pylibfranka's name
        cell = self._cell
        cell._count("ActiveControlBase.readOnce")
        ticks = 1
        with cell._lock:
            self._raise_if_over()
            if cell.realtime:
                now = _time.perf_counter()
                if self._deadline is None:
                    self._deadline = now + DT
                # The controller overslept: the robot ran these ticks on the last command.
                while now > self._deadline + DT and not self._motion._done:
                    self._tick(fresh=False)
                    ticks += 1
                    self._deadline += DT
            self._tick(fresh=self._fresh or self._first)
            self._first = False
            self._fresh = False
            self._raise_if_over()
            state = cell._robot_state()
        if cell.realtime:
            sleep_until(self._deadline)
            self._state_wall = self._deadline
            self._deadline += DT
        self._read_pending = True
        return state, Duration(ticks)

    def _tick(self, fresh: bool) -> None:
        """One robot tick on the last command; lock held."""
        cell = self._cell
        if self._motion._done:
            return
        self._missed = 0 if fresh else self._missed + 1
        limit = cell.max_missed_commands
        if limit is not None and self._missed > limit:
            cell._reflex(frozenset({"communication_constraints_violation"}))
            return
        cell._step(self._command, fresh_command=fresh)

    def writeOnce(self, command: Any) -> None:  # noqa: N802 - pylibfranka's name
        cell = self._cell
        cell._count("ActiveControlBase.writeOnce")
        with cell._lock:
            self._raise_if_over()
            if not isinstance(command, Torques):
                raise ControlException(
                    "libfranka robot: Trying to send motion command, but no motion generator "
                    "running!"
                )
            if not self._read_pending:
                raise ControlException("libfranka: writeOnce() called without a readOnce() first")
            tau = np.asarray(command.tau_J, dtype=np.float64)
            if not np.all(np.isfinite(tau)):
                cell._reflex(frozenset({"tau_j_range_violation"}))
                raise ControlException("libfranka: commanded torques are infinite or NaN")
            errors = set()
            if np.any(np.abs(tau) > MAX_TORQUE):
                errors.add("tau_j_range_violation")
            # Allow 5 % over the datasheet rate for rounding in the caller's limiter.
            if np.any(np.abs(tau - cell._tau_cmd) > 1.05 * MAX_TORQUE_RATE * DT):
                errors.add("controller_torque_discontinuity")
            if errors:
                cell._reflex(frozenset(errors))
                self._raise_if_over()
            self._command = tau
            # On the real robot a command that arrives after the next tick is a missed one.
            self._fresh = not cell.realtime or _time.perf_counter() <= self._state_wall + DT
            self._read_pending = False
            if command.motion_finished:
                cell._end_motion(None)


class AsyncPositionControlHandler:
    """Joint position targets at any rate; the robot plans and tracks them at 1 kHz."""

    class Configuration:
        def __init__(
            self,
            maximum_joint_velocities: Sequence[float],
            goal_tolerance: float,
        ) -> None:
            self.maximum_joint_velocities = list(maximum_joint_velocities)
            self.goal_tolerance = float(goal_tolerance)

    class ConfigurationResult:
        def __init__(self, handler: Any, error_message: str | None) -> None:
            self.handler = handler
            self.error_message = error_message

    class JointPositionTarget:
        def __init__(self, joint_positions: Sequence[float]) -> None:
            self.joint_positions = _fixed("joint_positions", joint_positions, 7)

    class CommandResult:
        def __init__(
            self, motion_uuid: str | None, was_successful: bool, error_message: str | None
        ) -> None:
            self.motion_uuid = motion_uuid
            self.was_successful = was_successful
            self.error_message = error_message

    class TargetFeedback:
        def __init__(self, status: TargetStatus, error_message: str | None) -> None:
            self.status = status
            self.error_message = error_message

    def __init__(self, cell: FakeCell, motion: _AsyncMotion, tolerance: float) -> None:
        self._cell = cell
        self._motion = motion
        self._tolerance = tolerance
        self._uuid = str(uuid.uuid4())

    @staticmethod
    def configure(robot: Robot, configuration: Any) -> Any:
        cell = robot._cell
        cell._count("AsyncPositionControlHandler.configure")
        vmax = configuration.maximum_joint_velocities
        if vmax is None or len(vmax) != 7:
            return AsyncPositionControlHandler.ConfigurationResult(
                None, "libfranka: Invalid size of maximum velocities vector."
            )
        vmax = np.minimum(np.abs(np.asarray(vmax, dtype=np.float64)), MAX_JOINT_VELOCITY)
        motion = _AsyncMotion(cell)
        with cell._lock:
            try:
                cell._start_motion(motion, robot._realtime_config)
            except (CommandException, InvalidOperationException, RealtimeException) as err:
                return AsyncPositionControlHandler.ConfigurationResult(
                    None, f"Error while constructing AsyncPositionControlHandler: {err}"
                )
            cell._async_vmax = vmax
            cell._async_goal = None
            tolerance = configuration.goal_tolerance
            tolerance = 1e-3 if tolerance is None else float(tolerance)
            handler = AsyncPositionControlHandler(cell, motion, tolerance)
        return AsyncPositionControlHandler.ConfigurationResult(handler, None)

    def set_joint_position_target(self, target: Any) -> Any:
        cell = self._cell
        cell._count("AsyncPositionControlHandler.set_joint_position_target")
        goal = np.asarray(target.joint_positions, dtype=np.float64)
        with cell._lock:
            if self._motion._done:
                message = self._motion._error or "async position control is not running"
                return self.CommandResult(None, False, message)
            if (
                not np.all(np.isfinite(goal))
                or np.any(goal < JOINT_LOWER)
                or np.any(goal > JOINT_UPPER)
            ):
                return self.CommandResult(
                    None, False, "joint position target outside the joint limits"
                )
            cell._async_goal = goal
            self._uuid = str(uuid.uuid4())
            return self.CommandResult(self._uuid, True, None)

    def get_target_feedback(self, robot_state: RobotState | None = None) -> Any:
        cell = self._cell
        with cell._lock:
            if self._motion._error is not None:
                return self.TargetFeedback(TargetStatus.kAborted, self._motion._error)
            if self._motion._done or cell._async_goal is None:
                return self.TargetFeedback(TargetStatus.kIdle, None)
            q = np.asarray(robot_state.q) if robot_state is not None else cell.data.qpos[:7]
            if np.max(np.abs(cell._async_goal - q)) <= self._tolerance:
                return self.TargetFeedback(TargetStatus.kTargetReached, None)
            return self.TargetFeedback(TargetStatus.kExecuting, None)

    def stop_control(self) -> None:
        cell = self._cell
        cell._count("AsyncPositionControlHandler.stop_control")
        with cell._lock:
            if cell._control is self._motion:
                cell._end_motion(None)


class Robot:
    """A connection to the simulated robot at `robot_ip_address` (see `serve`)."""

    def __init__(
        self,
        robot_ip_address: str,
        realtime_config: RealtimeConfig = RealtimeConfig.kEnforce,
    ) -> None:
        self._cell = _cell_at(robot_ip_address)
        self._realtime_config = realtime_config
        self._cell._count("Robot.__init__")

    def _idle_only(self, name: str) -> FakeCell:
        cell = self._cell
        cell._count(f"Robot.{name}")
        if cell._control is not None:
            raise InvalidOperationException(
                "libfranka robot: Cannot perform this operation while another control or read "
                "operation is running."
            )
        return cell

    def read_once(self) -> RobotState:
        cell = self._cell
        cell._count("Robot.read_once")
        if cell.realtime:
            cell.wait_ticks(1)
        with cell._lock:
            return cell._robot_state()

    def load_model(self) -> Model:
        self._cell._count("Robot.load_model")
        return Model(self._cell)

    def set_collision_behavior(
        self,
        lower_torque_thresholds: Sequence[float],
        upper_torque_thresholds: Sequence[float],
        lower_force_thresholds: Sequence[float],
        upper_force_thresholds: Sequence[float],
    ) -> None:
        cell = self._idle_only("set_collision_behavior")
        values = {
            "lower_torque_thresholds": _fixed(
                "lower_torque_thresholds", lower_torque_thresholds, 7
            ),
            "upper_torque_thresholds": _fixed(
                "upper_torque_thresholds", upper_torque_thresholds, 7
            ),
            "lower_force_thresholds": _fixed("lower_force_thresholds", lower_force_thresholds, 6),
            "upper_force_thresholds": _fixed("upper_force_thresholds", upper_force_thresholds, 6),
        }
        with cell._lock:
            cell.collision_behavior = {k: np.array(v) for k, v in values.items()}

    def set_joint_impedance(self, K_theta: Sequence[float]) -> None:  # noqa: N803
        cell = self._idle_only("set_joint_impedance")
        cell.joint_impedance = np.array(_fixed("K_theta", K_theta, 7))

    def set_cartesian_impedance(self, K_x: Sequence[float]) -> None:  # noqa: N803
        cell = self._idle_only("set_cartesian_impedance")
        cell.cartesian_impedance = np.array(_fixed("K_x", K_x, 6))

    def set_EE(self, NE_T_EE: Sequence[float]) -> None:  # noqa: N802, N803
        cell = self._idle_only("set_EE")
        with cell._lock:
            cell.NE_T_EE = _from_colmajor(_fixed("NE_T_EE", NE_T_EE, 16), 4, 4)
            cell._frame_lists = None
            cell._derive()

    def set_K(self, EE_T_K: Sequence[float]) -> None:  # noqa: N802, N803
        cell = self._idle_only("set_K")
        with cell._lock:
            cell.EE_T_K = _from_colmajor(_fixed("EE_T_K", EE_T_K, 16), 4, 4)
            cell._frame_lists = None

    def set_load(
        self,
        load_mass: float,
        F_x_Cload: Sequence[float],
        load_inertia: Sequence[float],  # noqa: N803
    ) -> None:
        cell = self._idle_only("set_load")
        cell.load = (
            float(load_mass),
            _fixed("F_x_Cload", F_x_Cload, 3),
            _fixed("I", load_inertia, 9),
        )

    def automatic_error_recovery(self) -> None:
        cell = self._idle_only("automatic_error_recovery")
        with cell._lock:
            if cell.user_stopped:
                raise CommandException(
                    "libfranka: Automatic error recovery command rejected: command not possible "
                    'in the current mode ("User stopped")!'
                )
            cell.errors = frozenset()
            cell.robot_mode = RobotMode.Idle
            cell._state = None

    def start_torque_control(self) -> ActiveControlBase:
        cell = self._cell
        cell._count("Robot.start_torque_control")
        motion = _TorqueMotion(cell)
        with cell._lock:
            cell._start_motion(motion, self._realtime_config)
            if self._realtime_config == RealtimeConfig.kEnforce:
                set_realtime_priority()
            control = ActiveControlBase(cell, motion)
        return control

    def _not_simulated(self, name: str) -> ActiveControlBase:
        self._cell._count(f"Robot.{name}")
        raise NotImplementedError(f"the fake robot does not simulate {name}; use torque control")

    def start_joint_position_control(self, control_type: ControllerMode) -> ActiveControlBase:
        return self._not_simulated("start_joint_position_control")

    def start_joint_velocity_control(self, control_type: ControllerMode) -> ActiveControlBase:
        return self._not_simulated("start_joint_velocity_control")

    def start_cartesian_pose_control(self, control_type: ControllerMode) -> ActiveControlBase:
        return self._not_simulated("start_cartesian_pose_control")

    def start_cartesian_velocity_control(self, control_type: ControllerMode) -> ActiveControlBase:
        return self._not_simulated("start_cartesian_velocity_control")

    def stop(self) -> None:
        cell = self._cell
        cell._count("Robot.stop")
        with cell._lock:
            if cell._control is not None:
                cell._end_motion("libfranka: Move command aborted: motion stopped by Robot.stop()")


class Gripper:
    """The Franka Hand of the simulated cell; commands block until the fingers settle."""

    def __init__(self, franka_address: str) -> None:
        self._cell = _cell_at(franka_address)
        self._cell._count("Gripper.__init__")
        self._stop = threading.Event()

    def _width(self) -> float:
        cell = self._cell
        q = cell.data.qpos[cell._fingers]
        return float(q[0] - q[1])

    def _run(self, width: float, speed: float, force: float) -> float:
        """Drive the fingers to `width`; return the width where they settled."""
        cell = self._cell
        if not (0.0 <= width <= GRIPPER_MAX_WIDTH) or speed <= 0 or force < 0:
            raise CommandException("libfranka gripper: Command failed!")
        self._stop.clear()
        with cell._lock:
            cell._grip_goal = float(width)
            cell._grip_speed = float(speed)
            cell._grip_force = max(float(force), 1.0)
            start = cell.tick
        settled_since: int | None = None
        wall_deadline = _time.monotonic() + 60.0
        while True:
            cell.wait_ticks(5)
            if self._stop.is_set():
                raise CommandException("libfranka gripper: Command aborted!")
            with cell._lock:
                ramp_done = abs(cell._grip_cmd - cell._grip_goal) < 1e-9
                moving = np.any(np.abs(cell.data.qvel[cell._finger_dofs]) > 2e-3)
                tick = cell.tick
                current = self._width()
            if ramp_done and not moving:
                settled_since = tick if settled_since is None else settled_since
                if tick - settled_since >= 30:
                    return current
            else:
                settled_since = None
            if tick - start > 10_000 or _time.monotonic() > wall_deadline:
                raise CommandException("libfranka gripper: Command failed!")

    def move(self, width: float, speed: float) -> bool:
        self._cell._count("Gripper.move")
        final = self._run(width, speed, 20.0)
        self._cell._grasped = False
        return abs(final - width) < 0.005

    def grasp(
        self,
        width: float,
        speed: float,
        force: float,
        epsilon_inner: float = 0.005,
        epsilon_outer: float = 0.005,
    ) -> bool:
        self._cell._count("Gripper.grasp")
        final = self._run(width, speed, force)
        ok = width - epsilon_inner <= final <= width + epsilon_outer
        self._cell._grasped = bool(ok)
        return bool(ok)

    def homing(self) -> bool:
        self._cell._count("Gripper.homing")
        self._run(GRIPPER_MAX_WIDTH, 0.1, 20.0)
        self._cell._grasped = False
        return True

    def stop(self) -> bool:
        cell = self._cell
        cell._count("Gripper.stop")
        self._stop.set()
        with cell._lock:
            cell._grip_goal = cell._grip_cmd
        return True

    def read_once(self) -> GripperState:
        cell = self._cell
        cell._count("Gripper.read_once")
        with cell._lock:
            state = GripperState()
            state.width = self._width()
            state.is_grasped = cell._grasped
            state.time = Duration(cell.tick)
        return state

    def server_version(self) -> int:
        return 3
