"""`FrankaRobot`: the real Franka arm behind the `Robot` interface, through pylibfranka.

Two ways to run the robot's 1 kHz loop, chosen by `FrankaConfig.mode`:

- "async" (default): the 1 kHz loop runs on the robot side. pylibfranka's
  `AsyncPositionControlHandler` takes joint position targets at any rate; the robot plans a
  velocity-limited trajectory to each and tracks it with its joint impedance controller.
  Python turns each safety-filtered Cartesian target into a joint target at the policy rate
  (one damped-least-squares IK step from the measured pose, inside the joint margins, step
  limited) and a supervisor thread polls the robot (watchdog, reflexes, joint limits). This
  mode is stiff: the collision thresholds are its only compliance.
- "torque": a Python thread runs the twin's Cartesian impedance law at 1 kHz: readOnce ->
  Jacobian/mass/Coriolis from libfranka's model -> `impedance_torque` -> `saturated_torque`
  (Coriolis as compensation; the robot compensates gravity itself) -> torque-rate limit ->
  writeOnce. Compliant and identical to the twin, but every late millisecond is a missed
  command: it needs a PREEMPT_RT kernel and a quiet process (hardware/README.md,
  benchmarks/franka_loop_jitter.py).

In both modes every target passes `self.safety.filter` against the measured state, the
watchdog holds the pose when commands go stale, any libfranka error (reflex, user stop,
network) latches the e-stop and stops motion with the driver's message, and `recover()` runs
libfranka's automatic error recovery and clears the latch. `connect()` never moves the arm:
control starts with the first `command()` or `reset()`.

pylibfranka is imported in `connect()`, so this module imports without it (`driver` names the
module; tests pass `robolearn.robot.fake_franka`).
"""

from __future__ import annotations

import importlib
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from robolearn.config import option
from robolearn.robot.base import Robot, RobotConfig, register_robot
from robolearn.robot.control import (
    impedance_torque,
    pack_joint_limits,
    pack_params,
    saturated_torque,
)
from robolearn.robot.limits import load_limits
from robolearn.robot.safety import EStopError, SafetyLayer, UnsafeCommandError
from robolearn.robot.transforms import (
    mat_to_quat,
    quat_conj,
    quat_mul,
    quat_to_mat,
    quat_to_rotvec,
)
from robolearn.robot.types import CartesianTarget, GripperCommand, RobotState

log = logging.getLogger(__name__)

MODES = ("async", "torque")
# The twin's TCP (sim.scene.TCP_SITE) in the Franka flange frame: x, y, z, qw, qx, qy, qz.
# set_EE makes the robot's O_T_EE this frame, so a target means the same pose on both.
TWIN_TCP_IN_FLANGE = (0.0, 0.0, 0.0965, 0.38245586, 0.0, 0.0, -0.92397376)
# libfranka's default joint impedance (robot-side controller of the async mode), Nm/rad.
DEFAULT_JOINT_IMPEDANCE = np.array([3000.0, 3000.0, 3000.0, 2500.0, 2500.0, 2000.0, 2000.0])
# Joint-space gains of torque-mode moves (reset), from franka_ros' joint impedance example.
JOINT_MOVE_STIFFNESS = np.array([600.0, 600.0, 600.0, 600.0, 250.0, 150.0, 50.0])
JOINT_MOVE_DAMPING = np.array([50.0, 50.0, 50.0, 20.0, 20.0, 20.0, 10.0])


@dataclass(kw_only=True)
class FrankaConfig(RobotConfig):
    """The Franka backend's settings (every one is a `robot_bridge` parameter ``franka.NAME``)."""

    fci_ip: str | None = option(
        None, "The FCI address; None/empty: robot.fci_ip of the limits file."
    )
    mode: str = option(
        "async", "async (the robot's own 1 kHz loop) or torque (a Python 1 kHz loop, RT kernel)."
    )
    realtime: bool = option(
        True, "Enforce the PREEMPT_RT kernel (libfranka kEnforce); false only for bench tests."
    )
    driver: str = option("pylibfranka", "A module with pylibfranka's API (tests: a fake).")
    gripper: bool = option(True, "A Franka Hand is mounted.")
    gripper_speed: float | None = option(None, "m/s; None: gripper.speed of the limits file.")
    gripper_force: float | None = option(
        None, "N; None: the command's force (capped by the limits file's grasp_force)."
    )
    tcp_in_flange: tuple[float, ...] | None = option(
        TWIN_TCP_IN_FLANGE,
        "TCP in the flange frame (x y z qw qx qy qz), sent with set_EE; None keeps the end "
        "effector configured in Desk (targets then no longer mean what they mean in the twin).",
    )
    impedance_scale: float = option(
        1.0,
        "Scales the stiffness (torque mode: Cartesian; async mode: the robot's joint "
        "impedance). Start a new cell at 0.2-0.5.",
    )
    max_joint_velocity: float = option(1.0, "async: rad/s, the robot-side trajectory limit.")
    max_joint_step: float = option(
        0.1, "async: rad, the largest joint change one command may ask for."
    )
    ik_damping: float = option(0.05, "async: damped least squares damping of the IK step.")
    ik_nullspace_gain: float = option(
        0.2, "async: pull toward the home posture in the IK null space."
    )
    supervisor_rate: float = option(200.0, "async: Hz of watchdog, reflex and limit polling.")
    max_torque_rate: float = option(900.0, "torque: Nm/s, under the robot's 1000 Nm/s.")
    gil_switch_interval: float | None = option(
        2e-4, "torque: s, Python's GIL switch interval; None leaves Python's 5 ms."
    )
    reset_speed: float = option(0.4, "reset: rad/s, peak joint speed of the move home.")
    reset_timeout: float = option(30.0, "reset: s before a move home counts as failed.")


class FrankaUnavailableError(ImportError):
    """pylibfranka (the `hardware` extra) is not installed."""


class FrankaError(EStopError):
    """libfranka or the robot reported an error; the e-stop is latched until `recover()`."""


class NotConnectedError(RuntimeError):
    """A method that needs the robot was called before `connect()`."""


def _import_driver(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise FrankaUnavailableError(
            f"FrankaRobot needs pylibfranka: install the hardware extra "
            f"(pip install 'robolearn[hardware]'); importing {name!r} failed: {err}"
        ) from err


def _matrix(values: Any, rows: int, cols: int) -> np.ndarray:
    """A libfranka matrix (flat column-major list, or an already shaped array) as C array."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape == (rows, cols):
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr.reshape(cols, rows).T)


def _colmajor(matrix: np.ndarray) -> list[float]:
    return np.asarray(matrix, dtype=np.float64).flatten(order="F").tolist()


def _pose_matrix(pose: tuple[float, ...]) -> np.ndarray:
    if len(pose) != 7 or not all(math.isfinite(v) for v in pose):
        raise ValueError(
            f"tcp_in_flange must be 7 finite numbers (x, y, z, qw, qx, qy, qz): {pose}"
        )
    out = np.eye(4)
    quat = np.asarray(pose[3:], dtype=np.float64)
    out[:3, :3] = quat_to_mat(quat / np.linalg.norm(quat))
    out[:3, 3] = pose[:3]
    return out


def _min_jerk(s: float) -> tuple[float, float]:
    """Position and d/ds of the minimum-jerk profile at s in [0, 1]."""
    s = min(max(s, 0.0), 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s * s), 30.0 * s * s * (1.0 - s) ** 2


def ik_step(
    q: np.ndarray,
    jac: np.ndarray,
    ee_pos: np.ndarray,
    ee_quat: np.ndarray,
    target: CartesianTarget,
    *,
    lower: np.ndarray,
    upper: np.ndarray,
    posture: np.ndarray,
    damping: float,
    nullspace_gain: float,
    max_step: float,
) -> np.ndarray:
    """One damped-least-squares step from the measured pose toward `target` (joint target).

    The pose error is expressed in the base frame (linear; rotation vector of
    target * current^-1), the null space pulls toward `posture`, the joint change is scaled
    to at most `max_step` and the result clipped into [lower, upper].
    """
    err = np.concatenate(
        [target.position - ee_pos, quat_to_rotvec(quat_mul(target.quat, quat_conj(ee_quat)))]
    )
    jjt = jac @ jac.T + damping**2 * np.eye(6)
    pinv = jac.T @ np.linalg.inv(jjt)
    dq = pinv @ err + (np.eye(7) - pinv @ jac) @ (nullspace_gain * (posture - q))
    largest = float(np.max(np.abs(dq)))
    if largest > max_step:
        dq *= max_step / largest
    return np.clip(q + dq, lower, upper)


class _GripperWorker:
    """Runs blocking Franka Hand commands off the caller's thread; the latest command wins."""

    def __init__(self, gripper: Any, speed: float, max_width: float) -> None:
        self._gripper = gripper
        self._speed = speed
        self._max_width = max_width
        self._cond = threading.Condition()
        self._pending: GripperCommand | None = None
        self._closing = False
        self.error: str | None = None
        self.width = float(gripper.read_once().width)
        self._thread = threading.Thread(target=self._run, name="franka-gripper", daemon=True)
        self._thread.start()

    def submit(self, command: GripperCommand) -> None:
        with self._cond:
            self._pending = command
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closing, 0.1)
                if self._closing:
                    return
                command, self._pending = self._pending, None
            try:
                if command is not None:
                    self._execute(command)
                self.width = float(self._gripper.read_once().width)
            except Exception as err:  # noqa: BLE001 - any driver error is reported, not fatal
                self.error = f"{type(err).__name__}: {err}"
                log.error("gripper command failed: %s", self.error)

    def _execute(self, command: GripperCommand) -> None:
        if command.width < self.width - 0.002 and command.force > 0:
            # Closing: a grasp holds whatever it meets with the force; the wide epsilons make
            # any final width count as success (the state reports the width).
            self._gripper.grasp(
                command.width, self._speed, command.force, self._max_width, self._max_width
            )
        else:
            self._gripper.move(command.width, self._speed)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        try:
            self._gripper.stop()
        except Exception as err:  # noqa: BLE001
            log.warning("gripper stop failed: %s", err)
        self._thread.join(timeout=5.0)


class _Control:
    """One way of running the arm; `FrankaRobot` owns exactly one while moving."""

    def __init__(self, owner: FrankaRobot) -> None:
        self.owner = owner

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def start(self, state: RobotState) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def latest(self) -> tuple[Any, np.ndarray] | None:
        """The newest (raw state, Jacobian) the control itself read, if it reads the robot."""
        return None

    def command(self, target: CartesianTarget, state: RobotState, jac: np.ndarray) -> None:
        raise NotImplementedError

    def move_joints(self, goal: np.ndarray, duration: float) -> None:
        raise NotImplementedError

    def hold(self, state: RobotState) -> None:
        """Stop where the arm is (no watchdog feed: holding is not a command)."""
        raise NotImplementedError


class _AsyncControl(_Control):
    """Joint position targets through the robot-side async position control."""

    def __init__(self, owner: FrankaRobot) -> None:
        super().__init__(owner)
        self._handler: Any = None
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._moving_joints = False

    @property
    def running(self) -> bool:
        return self._handler is not None and not self._stop.is_set()

    def start(self, state: RobotState) -> None:
        pf, cfg = self.owner._pf, self.owner.config
        handler_cls = pf.AsyncPositionControlHandler
        configuration = handler_cls.Configuration([cfg.max_joint_velocity] * 7, 1e-3)
        with self.owner._io:
            result = handler_cls.configure(self.owner._robot, configuration)
        if result.handler is None:
            raise RuntimeError(f"async position control refused: {result.error_message}")
        self._handler = result.handler
        self._supervisor = threading.Thread(
            target=self._supervise, name="franka-supervisor", daemon=True
        )
        self._supervisor.start()

    def _send(self, q: np.ndarray) -> None:
        owner = self.owner
        handler = self._handler
        if handler is None:  # the supervisor stopped it (e-stop) since the caller checked
            owner._raise_if_estopped()
            raise FrankaError(owner._fault("async position control is not running"))
        target = owner._pf.AsyncPositionControlHandler.JointPositionTarget(q.tolist())
        with owner._io:
            result = handler.set_joint_position_target(target)
        if not result.was_successful:
            raise FrankaError(self.owner._fault(f"joint target refused: {result.error_message}"))

    def command(self, target: CartesianTarget, state: RobotState, jac: np.ndarray) -> None:
        owner = self.owner
        arm, margin = owner.limits.arm, owner.limits.safety.joint_margin
        q_target = ik_step(
            state.q,
            jac,
            state.ee_pos,
            state.ee_quat,
            target,
            lower=arm.joint_lower + margin,
            upper=arm.joint_upper - margin,
            posture=arm.home_joint_positions,
            damping=owner.config.ik_damping,
            nullspace_gain=owner.config.ik_nullspace_gain,
            max_step=owner.config.max_joint_step,
        )
        self._send(q_target)

    def hold(self, state: RobotState) -> None:
        self._send(state.q)

    def move_joints(self, goal: np.ndarray, duration: float) -> None:
        owner = self.owner
        self._moving_joints = True
        try:
            start_state = owner.observe()
            start, t0 = start_state.q, start_state.timestamp
            lead = min(0.05, duration)  # waypoints run slightly ahead of the robot
            while True:
                owner._raise_if_estopped()
                t = owner._robot_time()
                s = (t - t0 + lead) / duration
                self._send(start + (goal - start) * _min_jerk(s)[0])
                if s >= 1.0:
                    break
                time.sleep(0.01)
            owner._wait_until(lambda st: float(np.max(np.abs(st.q - goal))) < 2e-3, t0 + duration)
        finally:
            self._moving_joints = False

    def _supervise(self) -> None:
        owner, safety = self.owner, self.owner.safety
        period = 1.0 / owner.config.supervisor_rate
        while not self._stop.wait(period):
            try:
                with owner._io:
                    raw = owner._robot.read_once()
                    feedback = self._handler.get_target_feedback(raw)
                owner._check_robot_errors(raw)
                if feedback.status.name == "kAborted":
                    owner._fault(f"async position control aborted: {feedback.error_message}")
                state = owner._to_state(raw, _matrix(owner._model.zero_jacobian(raw), 6, 7))
                with owner._lock:
                    safety.check_state(state)
                    hold = not self._moving_joints and safety.watchdog_expired(state.timestamp)
                    if hold:
                        safety.watchdog(state, safety.hold_target(state))
                if safety.estopped:
                    break
                if hold:
                    self._send(state.q)  # stop where the arm is
            except Exception as err:  # noqa: BLE001 - any driver error latches the e-stop
                owner._fault(f"{type(err).__name__}: {err}")
                break
        self._halt()

    def _halt(self) -> None:
        self._stop.set()
        handler, self._handler = self._handler, None
        if handler is None:
            return
        try:
            with self.owner._io:
                handler.stop_control()
        except Exception as err:  # noqa: BLE001
            log.warning("stopping async position control failed: %s", err)

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout=2.0)
        self._halt()


class _JointMove:
    def __init__(self, goal: np.ndarray, duration: float) -> None:
        self.goal = goal
        self.duration = duration
        self.start: np.ndarray | None = None
        self.t0 = 0.0
        self.done = threading.Event()
        self.error: str | None = None


class _TorqueControl(_Control):
    """The twin's Cartesian impedance law at 1 kHz in a Python thread (torque commands)."""

    TIMING_BUFFER = 60_000  # ticks kept for loop_timing(): the last 60 s

    def __init__(self, owner: FrankaRobot) -> None:
        super().__init__(owner)
        self._thread: threading.Thread | None = None
        self._stop = False
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._latest: tuple[Any, np.ndarray] | None = None
        self._target = np.zeros(7)
        self._move: _JointMove | None = None
        self._stamps = np.zeros(self.TIMING_BUFFER)
        self._ticks = np.zeros(self.TIMING_BUFFER, dtype=np.int64)
        self._count = 0
        self.success_rate = 1.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop

    def latest(self) -> tuple[Any, np.ndarray] | None:
        return self._latest if self.running else None

    def start(self, state: RobotState) -> None:
        hold = self.owner.safety.hold_target(state)
        self._target = np.concatenate([hold.position, hold.quat])
        interval = self.owner.config.gil_switch_interval
        if interval is not None and sys.getswitchinterval() > interval:
            # Another Python thread holds the GIL up to this long before the 1 kHz thread
            # gets it back (default 5 ms).
            log.info("setting the GIL switch interval to %.1e s for the 1 kHz loop", interval)
            sys.setswitchinterval(interval)
        self._thread = threading.Thread(target=self._run, name="franka-1khz", daemon=True)
        self._thread.start()
        if not self._started.wait(5.0):
            self._stop = True
            raise RuntimeError("torque control did not start within 5 s")
        if self._start_error is not None:
            raise self._start_error
        if not self.running:
            raise RuntimeError(f"torque control stopped at once: {self.owner.safety.estop_reason}")

    def stop(self) -> None:
        self._stop = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        move = self._move
        if move is not None:
            move.error = "control stopped"
            move.done.set()

    def command(self, target: CartesianTarget, state: RobotState, jac: np.ndarray) -> None:
        # Swapping the reference is atomic; the loop picks it up on its next tick.
        self._target = np.concatenate([target.position, target.quat])

    def hold(self, state: RobotState) -> None:
        hold = self.owner.safety.hold_target(state)
        self._target = np.concatenate([hold.position, hold.quat])

    def move_joints(self, goal: np.ndarray, duration: float) -> None:
        owner = self.owner
        move = _JointMove(goal, duration)
        t_end = owner._robot_time() + duration + owner.config.reset_timeout
        self._move = move
        while not move.done.wait(0.01):
            if owner._robot_time() > t_end:
                self._move = None
                raise FrankaError(owner._fault("the arm did not reach its goal in time"))
        if move.error is not None:
            self.owner._raise_if_estopped()
            raise FrankaError(self.owner._fault(f"joint move failed: {move.error}"))

    def _joint_move_torque(
        self, move: _JointMove, t: float, q: np.ndarray, dq: np.ndarray, out: np.ndarray
    ) -> bool:
        """Minimum-jerk joint ramp with joint impedance; True once settled at the goal."""
        if move.start is None:
            move.start, move.t0 = q.copy(), t
        scale = self.owner.config.impedance_scale
        pos, vel = _min_jerk((t - move.t0) / move.duration)
        delta = move.goal - move.start
        out[:] = JOINT_MOVE_STIFFNESS * scale * (move.start + delta * pos - q) + (
            JOINT_MOVE_DAMPING * math.sqrt(scale) * (delta * vel / move.duration - dq)
        )
        settled = float(np.max(np.abs(move.goal - q))) < 5e-3 and float(np.max(np.abs(dq))) < 0.05
        return t - move.t0 >= move.duration and settled

    def _run(self) -> None:
        owner = self.owner
        pf, model, safety = owner._pf, owner._model, owner.safety
        params, joint_limits = owner._params, owner._joint_limits
        tau = np.zeros(7)
        out = np.zeros(7)
        last = np.zeros(7)
        max_delta = owner.config.max_torque_rate * 1e-3
        try:
            control = owner._robot.start_torque_control()
        except Exception as err:  # noqa: BLE001 - reported by start()
            self._start_error = err
            self._started.set()
            return
        try:
            while True:
                raw, period = control.readOnce()
                self._stamp(time.perf_counter(), period)
                t = raw.time.to_sec()
                q = np.array(raw.q, dtype=np.float64)
                dq = np.array(raw.dq, dtype=np.float64)
                jac = _matrix(model.zero_jacobian(raw), 6, 7)
                coriolis = np.array(model.coriolis(raw), dtype=np.float64)
                self._latest = (raw, jac)
                self._started.set()
                if self._stop or safety.estopped:
                    finish = pf.Torques(last.tolist())
                    finish.motion_finished = True
                    control.writeOnce(finish)
                    break
                move = self._move
                if move is not None:
                    if self._joint_move_torque(move, t, q, dq, tau):
                        hold = owner.safety.hold_target(owner._to_state(raw, jac))
                        self._target = np.concatenate([hold.position, hold.quat])
                        self._move = None
                        move.done.set()
                else:
                    if safety.watchdog_expired(t):
                        with owner._lock:
                            state = owner._to_state(raw, jac)
                            hold = safety.watchdog(state, owner._as_target(self._target))
                        self._target = np.concatenate([hold.position, hold.quat])
                    o_t_ee = _matrix(raw.O_T_EE, 4, 4)
                    mass = _matrix(model.mass(raw), 7, 7)
                    impedance_torque(
                        jac, mass, q, dq, o_t_ee[:3, 3].copy(),
                        np.ascontiguousarray(o_t_ee[:3, :3]), self._target, params, tau,
                    )  # fmt: skip
                if not saturated_torque(tau, coriolis, q, dq, joint_limits, out):
                    owner._fault("non-finite torque from the control law")
                # The robot rejects torque steps above 1000 Nm/s.
                np.clip(out, last - max_delta, last + max_delta, out=out)
                last[:] = out
                control.writeOnce(pf.Torques(out.tolist()))
                self.success_rate = float(raw.control_command_success_rate)
        except Exception as err:  # noqa: BLE001 - any driver error latches the e-stop
            owner._fault(f"{type(err).__name__}: {err}")
        finally:
            self._stop = True
            self._started.set()
            move = self._move
            if move is not None:
                move.error = owner.safety.estop_reason or "torque control ended"
                move.done.set()

    def _stamp(self, now: float, period: Any) -> None:
        i = self._count % self.TIMING_BUFFER
        self._stamps[i] = now
        self._ticks[i] = round(period.to_sec() * 1000.0)
        self._count += 1

    def timing(self, window: float | None = None) -> dict[str, float]:
        n = min(self._count, self.TIMING_BUFFER)
        if window is not None:
            n = min(n, max(3, round(window * 1000.0)))
        if n < 3:
            return {"ticks": float(n)}
        order = np.arange(self._count - n, self._count) % self.TIMING_BUFFER
        stamps, ticks = self._stamps[order], self._ticks[order][1:]
        periods = np.diff(stamps) * 1e3
        return {
            "ticks": float(n),
            "period_ms_p50": float(np.percentile(periods, 50)),
            "period_ms_p99": float(np.percentile(periods, 99)),
            "period_ms_max": float(periods.max()),
            # Robot ticks that passed while the loop overslept (readOnce reported > 1 ms).
            "overslept_fraction": float((ticks - 1).clip(min=0).sum() / max(1, ticks.sum())),
            "command_success_rate": self.success_rate,  # the robot's own figure, last 100 ms
        }


CONTROLS: dict[str, type[_Control]] = {"async": _AsyncControl, "torque": _TorqueControl}


@register_robot("franka", FrankaConfig)
class FrankaRobot(Robot):
    """A Franka arm (and Franka Hand) through pylibfranka; see the module docstring."""

    thread_safe = True  # robot I/O under self._io, safety state under self._lock

    def __init__(self, config: FrankaConfig | None = None) -> None:
        self.config = config or FrankaConfig()
        if self.config.mode not in CONTROLS:
            raise ValueError(f"unknown mode {self.config.mode!r}; choose one of {', '.join(MODES)}")
        if not 0.0 < self.config.impedance_scale <= 1.0:
            raise ValueError("impedance_scale must be in (0, 1]")
        self.limits = load_limits(self.config.limits_file)
        self.safety = SafetyLayer(self.limits)
        self._pf: ModuleType | None = None
        self._robot: Any = None
        self._model: Any = None
        self._gripper: _GripperWorker | None = None
        self._control: _Control | None = None
        self._lock = threading.RLock()  # the safety layer, shared with the control threads
        self._io = threading.Lock()  # robot.read_once and async handler calls
        self._last_gripper: GripperCommand | None = None
        params = pack_params(self.limits, self.limits.arm.home_joint_positions)
        scale = self.config.impedance_scale
        params[0:6] *= scale
        params[6:12] *= math.sqrt(scale)
        self._params = params
        self._joint_limits = pack_joint_limits(self.limits)

    # --- lifecycle ----------------------------------------------------------------------------
    def connect(self) -> None:
        if self._robot is not None:
            return
        pf = _import_driver(self.config.driver)
        ip = self.config.fci_ip or self.limits.arm.fci_ip
        rt = pf.RealtimeConfig.kEnforce if self.config.realtime else pf.RealtimeConfig.kIgnore
        try:
            robot = pf.Robot(ip, rt)
        except Exception as err:
            raise FrankaError(
                f"could not connect to the Franka at {ip}: {err} (is the control PC cabled to "
                "the controller's LAN port, FCI activated in Desk and the joints unlocked? "
                "see hardware/README.md)"
            ) from err
        try:
            c = self.limits.collision
            robot.set_collision_behavior(
                c.lower_torque_thresholds.tolist(),
                c.upper_torque_thresholds.tolist(),
                c.lower_force_thresholds.tolist(),
                c.upper_force_thresholds.tolist(),
            )
            if self.config.mode == "async" and self.config.impedance_scale != 1.0:
                robot.set_joint_impedance(
                    (DEFAULT_JOINT_IMPEDANCE * self.config.impedance_scale).tolist()
                )
            if self.config.tcp_in_flange is not None:
                f_t_ne = _matrix(robot.read_once().F_T_NE, 4, 4)
                ne_t_ee = np.linalg.inv(f_t_ne) @ _pose_matrix(self.config.tcp_in_flange)
                robot.set_EE(_colmajor(ne_t_ee))
            model = robot.load_model()
        except Exception as err:
            raise FrankaError(f"could not configure the Franka at {ip}: {err}") from err
        gripper = None
        if self.config.gripper:
            try:
                hand = pf.Gripper(ip)
            except Exception as err:
                raise FrankaError(
                    f"no Franka Hand at {ip}: {err} (set gripper=False for an arm without one)"
                ) from err
            speed = self.config.gripper_speed or self.limits.gripper.speed
            gripper = _GripperWorker(hand, speed, self.limits.gripper.max_width)
        self._pf, self._robot, self._model, self._gripper = pf, robot, model, gripper
        if self.config.mode == "torque":
            self._warm_up()
        self._check_robot_errors(robot.read_once())
        if self.safety.estopped:
            log.warning(
                "connected with the e-stop latched (%s): call recover()", self.safety.estop_reason
            )

    def close(self) -> None:
        if self._robot is None:
            return
        if self._gripper is not None:
            self._gripper.close()
        self._stop_control()
        try:
            self._robot.stop()
        except Exception as err:  # noqa: BLE001 - closing anyway
            log.warning("robot.stop() failed: %s", err)
        self._robot = self._model = self._gripper = None

    def _require(self) -> None:
        if self._robot is None:
            raise NotConnectedError("FrankaRobot is not connected; call connect() or use `with`")

    def _warm_up(self) -> None:
        """Compile the numba law now, not on the first 1 kHz tick."""
        jac = np.zeros((6, 7))
        jac[:3, :3] = np.eye(3)
        jac[3:, 4:7] = np.eye(3)
        q = self.limits.arm.home_joint_positions.copy()
        target = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
        tau, out = np.zeros(7), np.zeros(7)
        impedance_torque(jac, np.eye(7), q, np.zeros(7), np.zeros(3), np.eye(3), target,
                         self._params, tau)  # fmt: skip
        saturated_torque(tau, np.zeros(7), q, np.zeros(7), self._joint_limits, out)

    # --- faults -------------------------------------------------------------------------------
    def _fault(self, reason: str) -> str:
        """Latch the e-stop with `reason`; return the message for an exception."""
        with self._lock:
            self.safety.estop(reason)
        return f"{reason}; the e-stop is latched: clear the cause, then call recover()"

    def _raise_if_estopped(self) -> None:
        if self.safety.estopped:
            raise EStopError(
                f"e-stop latched ({self.safety.estop_reason}); clear the cause, then call recover()"
            )

    def _check_robot_errors(self, raw: Any) -> None:
        mode = raw.robot_mode.name
        if raw.current_errors:
            self._fault(f"robot errors {raw.current_errors} (mode {mode})")
        elif mode in ("Reflex", "UserStopped", "Guiding"):
            self._fault(f"robot is in {mode} mode")

    def _stop_control(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            control.stop()

    def _ensure_control(self, state: RobotState) -> _Control:
        control = self._control
        if control is not None and control.running:
            return control
        self._stop_control()
        self._raise_if_estopped()
        control = CONTROLS[self.config.mode](self)
        try:
            control.start(state)
        except Exception as err:
            control.stop()
            message = f"could not start {self.config.mode} control: {type(err).__name__}: {err}"
            if "realtime" in message.lower():
                message += (
                    " (libfranka needs a PREEMPT_RT kernel and rtprio/memlock limits, see "
                    "hardware/README.md; realtime=False only for tests with the arm unloaded)"
                )
            raise FrankaError(self._fault(message)) from err
        self._control = control
        return control

    # --- state --------------------------------------------------------------------------------
    def _to_state(self, raw: Any, jac: np.ndarray) -> RobotState:
        o_t_ee = _matrix(raw.O_T_EE, 4, 4)
        dq = np.array(raw.dq, dtype=np.float64)
        return RobotState(
            q=np.array(raw.q, dtype=np.float64),
            dq=dq,
            tau_ext=np.array(raw.tau_ext_hat_filtered, dtype=np.float64),
            ee_pos=o_t_ee[:3, 3].copy(),
            ee_quat=mat_to_quat(o_t_ee[:3, :3]),
            ee_twist=jac @ dq,
            ee_wrench=np.array(raw.O_F_ext_hat_K, dtype=np.float64),
            gripper_width=self._gripper.width if self._gripper is not None else 0.0,
            timestamp=float(raw.time.to_sec()),
        )

    def _read_raw(self) -> tuple[Any, np.ndarray | None]:
        """The newest raw state: the 1 kHz loop's while it runs (reading the robot beside a
        running torque control would steal its packets), else `robot.read_once()`."""
        latest = self._control.latest() if self._control is not None else None
        if latest is not None:
            return latest
        with self._io:
            return self._robot.read_once(), None

    def _observe(self) -> tuple[RobotState, np.ndarray]:
        raw, jac = self._read_raw()
        if jac is None:
            jac = _matrix(self._model.zero_jacobian(raw), 6, 7)
        return self._to_state(raw, jac), jac

    def observe(self) -> RobotState:
        self._require()
        return self._observe()[0]

    def _robot_time(self) -> float:
        return float(self._read_raw()[0].time.to_sec())

    def _wait_until(self, done: Any, t_start: float) -> None:
        """Poll the state until `done(state)`; FrankaError after reset_timeout robot seconds."""
        while True:
            self._raise_if_estopped()
            state = self.observe()
            if done(state):
                return
            if state.timestamp - t_start > self.config.reset_timeout:
                raise FrankaError(self._fault("the arm did not reach its goal in time"))
            time.sleep(0.005)

    def loop_timing(self, window: float | None = None) -> dict[str, float]:
        """Period statistics (ms) of the torque-mode 1 kHz loop over the last `window`
        seconds (default: up to 60 s); empty in async mode, where the loop is the robot's."""
        control = self._control
        return control.timing(window) if isinstance(control, _TorqueControl) else {}

    # --- commands -----------------------------------------------------------------------------
    @staticmethod
    def _as_target(target: np.ndarray) -> CartesianTarget:
        return CartesianTarget(target[:3].copy(), target[3:].copy())

    def command(self, target: CartesianTarget) -> CartesianTarget:
        self._require()
        state, jac = self._observe()
        with self._lock:
            self.safety.check_state(state)
            safe = self.safety.filter(target, state)
        control = self._ensure_control(state)
        try:
            control.command(safe, state, jac)
        except EStopError:
            raise
        except Exception as err:
            raise FrankaError(self._fault(f"{type(err).__name__}: {err}")) from err
        return safe

    def gripper(self, command: GripperCommand) -> None:
        self._require()
        safe = self.safety.filter_gripper(command)
        if self._gripper is None:
            raise RuntimeError("no gripper configured (FrankaConfig.gripper=False)")
        if self._gripper.error is not None:
            error, self._gripper.error = self._gripper.error, None
            raise RuntimeError(f"the previous gripper command failed: {error}")
        if self.config.gripper_force is not None:
            safe = GripperCommand(safe.width, min(safe.force, self.config.gripper_force))
        last = self._last_gripper
        if last is not None and abs(last.width - safe.width) < 1e-3 and last.force == safe.force:
            return  # policies repeat the same command every step; the hand is already on it
        self._last_gripper = safe
        self._gripper.submit(safe)

    def advance(self, seconds: float) -> None:
        """Wait until `seconds` of robot time have passed (on hardware: a sleep)."""
        self._require()
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"advance() needs a finite non-negative duration, got {seconds}")
        end = self._robot_time() + seconds
        wall_end = time.monotonic() + 5.0 + 4.0 * seconds  # robot time stalled: give up
        while True:
            remaining = end - self._robot_time()
            if remaining <= 0 or time.monotonic() > wall_end:
                return
            time.sleep(min(remaining, 0.002))

    def reset(self, joint_positions: Any = None) -> RobotState:
        """Move slowly (minimum-jerk joint path) to the home or given joints, then hold."""
        self._require()
        self._raise_if_estopped()
        arm, margin = self.limits.arm, self.limits.safety.joint_margin
        goal = arm.home_joint_positions if joint_positions is None else joint_positions
        goal = np.asarray(goal, dtype=np.float64)
        if goal.shape != (7,) or not np.all(np.isfinite(goal)):
            raise UnsafeCommandError(f"reset joint positions must be 7 finite numbers, got {goal}")
        if np.any(goal < arm.joint_lower + margin) or np.any(goal > arm.joint_upper - margin):
            raise UnsafeCommandError(f"reset joint positions {goal} lie outside the joint margins")
        state = self.observe()
        with self._lock:
            self.safety.check_state(state)
        self._raise_if_estopped()
        distance = float(np.max(np.abs(goal - state.q)))
        duration = max(0.5, 1.875 * distance / self.config.reset_speed)
        control = self._ensure_control(state)
        control.move_joints(goal, duration)
        if self._gripper is not None:
            self._last_gripper = None
            self.gripper(GripperCommand(width=self.limits.gripper.max_width))
        return self.observe()

    def hold(self) -> None:
        """Hold the measured pose if the arm is under control (idle, the robot holds itself).
        Used by the ROS bridge on arm/disarm; it does not count as a command."""
        self._require()
        control = self._control
        if control is not None and control.running and not self.safety.estopped:
            control.hold(self.observe())

    def recover(self) -> None:
        """Run libfranka's automatic error recovery and clear the e-stop latch."""
        self._require()
        self._stop_control()
        try:
            with self._io:
                self._robot.automatic_error_recovery()
                raw = self._robot.read_once()
        except Exception as err:
            raise FrankaError(
                f"automatic error recovery failed: {err} (release the user stop, move the arm "
                "out of the fault by hand guiding if needed, then call recover() again)"
            ) from err
        if raw.current_errors:
            raise FrankaError(
                f"the robot still reports errors after recovery: {raw.current_errors}"
            )
        with self._lock:
            self.safety.reset_estop()
        if self._gripper is not None:
            self._gripper.error = None
        self._last_gripper = None
