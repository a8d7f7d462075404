"""The safety layer every backend sends its targets through.

It validates targets (shape, NaN/inf, unit quaternion), clips them into the workspace box and
the tilt cone and then limits each step relative to the *measured* pose (SERL's reference
limiting, in SERL's order: every step is bounded wherever the arm is measured), replaces
targets by a hold when the TCP moves or turns too fast, holds the pose when the command stream
goes stale (watchdog), pushes joints away from their limits, and latches an e-stop that refuses
every command until `reset_estop()`.
"""

from __future__ import annotations

import logging

import numpy as np

from robolearn.robot.limits import CellLimits
from robolearn.robot.transforms import (
    quat_conj,
    quat_mul,
    quat_normalize,
    quat_to_mat,
    quat_to_rotvec,
    rotvec_to_quat,
)
from robolearn.robot.types import CartesianTarget, GripperCommand, RobotState

log = logging.getLogger(__name__)

# The TCP pointing straight down (tool z along -z of the base), fingers closing along y.
DOWN_QUAT = np.array([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0])


class UnsafeCommandError(ValueError):
    """A command was malformed (wrong shape, NaN/inf, not a unit quaternion)."""


class EStopError(RuntimeError):
    """The e-stop is latched: no command is accepted until `reset_estop()`."""


class SafetyLayer:
    """Turns any requested target into one that is safe to hand to the impedance controller.

    Only the tool axis is constrained by the tilt cone (`max_tilt` around `nominal_quat`'s
    z axis); rotation about the tool axis (yaw) is free.
    """

    def __init__(self, limits: CellLimits, nominal_quat: np.ndarray = DOWN_QUAT) -> None:
        self.limits = limits
        self.nominal_quat = np.asarray(nominal_quat, dtype=np.float64)
        self._nominal_axis = quat_to_mat(self.nominal_quat)[:, 2]
        s = limits.safety
        self.box_min = np.asarray(s.workspace_min, dtype=np.float64)
        self.box_max = np.asarray(s.workspace_max, dtype=np.float64)
        self._estop_reason: str | None = None
        self._last_command_time: float | None = None
        self._hold: CartesianTarget | None = None

    # --- e-stop latch -------------------------------------------------------------------------
    @property
    def estopped(self) -> bool:
        return self._estop_reason is not None

    @property
    def estop_reason(self) -> str | None:
        return self._estop_reason

    def estop(self, reason: str) -> None:
        if self._estop_reason is None:
            log.error("e-stop latched: %s", reason)
            self._estop_reason = reason

    def reset_estop(self) -> None:
        if self._estop_reason is not None:
            log.warning("e-stop reset (was: %s)", self._estop_reason)
        self._estop_reason = None
        self._last_command_time = None
        self._hold = None

    # --- targets ------------------------------------------------------------------------------
    @staticmethod
    def validate(target: CartesianTarget) -> tuple[np.ndarray, np.ndarray]:
        """Return (position, unit quaternion) or raise `UnsafeCommandError`."""
        try:
            pos = np.asarray(target.position, dtype=np.float64)
            quat = np.asarray(target.quat, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise UnsafeCommandError(f"target is not numeric: {err}") from None
        if pos.shape != (3,):
            raise UnsafeCommandError(f"target position must have shape (3,), got {pos.shape}")
        if quat.shape != (4,):
            raise UnsafeCommandError(f"target quaternion must have shape (4,), got {quat.shape}")
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
            raise UnsafeCommandError(f"target contains NaN or inf: pos={pos}, quat={quat}")
        norm = float(np.linalg.norm(quat))
        if abs(norm - 1.0) > 1e-3:
            raise UnsafeCommandError(f"target quaternion is not unit length (norm {norm:.4f})")
        return pos, quat / norm

    def clip_to_workspace(self, pos: np.ndarray, quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clip a position into the box and an orientation into the tilt cone."""
        return np.clip(pos, self.box_min, self.box_max), self.clip_tilt(quat)

    def tilt(self, quat: np.ndarray) -> float:
        """Angle between the tool axis of ``quat`` and the nominal (tool-down) axis."""
        axis = quat_to_mat(quat)[:, 2]
        return float(np.arccos(np.clip(axis @ self._nominal_axis, -1.0, 1.0)))

    def clip_tilt(self, quat: np.ndarray) -> np.ndarray:
        """``quat`` with its tool axis rotated back onto the tilt cone's rim if it lies outside."""
        max_tilt = self.limits.safety.max_tilt
        tilt = self.tilt(quat)
        if tilt > max_tilt:
            # Rotate the tool axis back onto the cone's rim about the axis normal to both.
            axis = quat_to_mat(quat)[:, 2]
            normal = np.cross(axis, self._nominal_axis)
            norm = float(np.linalg.norm(normal))
            normal = normal / norm if norm > 1e-9 else np.array([1.0, 0.0, 0.0])
            quat = quat_mul(rotvec_to_quat(normal * (tilt - max_tilt)), quat)
        return quat

    def hold_target(self, state: RobotState) -> CartesianTarget:
        """Hold the measured pose; measured outside the workspace (or the tilt cone), a bounded
        step back towards it, never a jump onto its boundary."""
        pos, quat = self.bound(state.ee_pos, quat_normalize(state.ee_quat), state)
        return CartesianTarget(pos, quat)

    def bound(
        self, pos: np.ndarray, quat: np.ndarray, state: RobotState
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clip (position, unit quaternion) into the workspace and the tilt cone, then limit the
        step from the measured pose (SERL's order): every result is within
        ``max_translation_step`` / ``max_rotation_step`` of where the arm is measured, wherever
        that is; inside the workspace it is also inside the box."""
        s = self.limits.safety
        pos, quat = self.clip_to_workspace(pos, quat)
        step = pos - state.ee_pos
        dist = float(np.linalg.norm(step))
        if dist > s.max_translation_step:
            pos = state.ee_pos + step * (s.max_translation_step / dist)
        current = quat_normalize(state.ee_quat)
        rel = quat_to_rotvec(quat_mul(quat_conj(current), quat))
        angle = float(np.linalg.norm(rel))
        if angle > s.max_rotation_step:
            quat = quat_mul(current, rotvec_to_quat(rel * (s.max_rotation_step / angle)))
            if self.tilt(current) <= s.max_tilt:
                # The shortened turn's tool axis can bulge out of the cone when yaw changes too.
                quat = self.clip_tilt(quat)
        return pos, quat

    def filter(self, target: CartesianTarget, state: RobotState) -> CartesianTarget:
        """Make `target` safe relative to the measured `state`; also feeds the watchdog."""
        if self.estopped:
            raise EStopError(f"e-stop latched ({self._estop_reason}); call recover() first")
        pos, quat = self.validate(target)
        s = self.limits.safety
        speed = float(np.linalg.norm(state.ee_twist[:3]))
        spin = float(np.linalg.norm(state.ee_twist[3:6]))
        self._last_command_time = state.timestamp
        self._hold = None
        if speed > s.max_ee_speed:
            log.warning("TCP speed %.3f m/s above %.3f m/s: holding pose", speed, s.max_ee_speed)
            return self.hold_target(state)
        if spin > s.max_ee_angular_speed:
            log.warning(
                "TCP angular speed %.3f rad/s above %.3f rad/s: holding pose",
                spin,
                s.max_ee_angular_speed,
            )
            return self.hold_target(state)
        pos, quat = self.bound(pos, quat, state)
        return CartesianTarget(pos, quat)

    def watchdog(self, state: RobotState, target: CartesianTarget) -> CartesianTarget:
        """Return `target`, or a pose hold once no command arrived within the timeout."""
        if self._last_command_time is None:
            return target
        if state.timestamp - self._last_command_time <= self.limits.safety.watchdog_timeout:
            return target
        if self._hold is None:
            log.warning("no command for %.3f s: holding pose", self.limits.safety.watchdog_timeout)
            self._hold = self.hold_target(state)
        return self._hold

    @property
    def last_command_time(self) -> float | None:
        return self._last_command_time

    @property
    def holding(self) -> bool:
        """True while the watchdog's pose hold is engaged."""
        return self._hold is not None

    def watchdog_expired(self, now: float) -> bool:
        """True when the command stream went stale and no hold is engaged yet."""
        last = self._last_command_time
        return (
            last is not None
            and self._hold is None
            and now - last > self.limits.safety.watchdog_timeout
        )

    # --- state checks -------------------------------------------------------------------------
    def check_state(self, state: RobotState) -> None:
        """Latch the e-stop on a non-finite state or a joint past its hard limit."""
        arm = self.limits.arm
        if not (np.all(np.isfinite(state.q)) and np.all(np.isfinite(state.dq))):
            self.estop("non-finite joint state")
        elif np.any(state.q < arm.joint_lower) or np.any(state.q > arm.joint_upper):
            bad = np.flatnonzero((state.q < arm.joint_lower) | (state.q > arm.joint_upper))
            self.estop(f"joint(s) {', '.join(str(i + 1) for i in bad)} past their limits")

    def joint_limit_torque(self, q: np.ndarray) -> np.ndarray:
        """(7,) repulsive torque for joints inside the margin of their limits."""
        arm, s = self.limits.arm, self.limits.safety
        low = arm.joint_lower + s.joint_margin
        high = arm.joint_upper - s.joint_margin
        return s.joint_margin_stiffness * (np.maximum(low - q, 0.0) - np.maximum(q - high, 0.0))

    # --- gripper ------------------------------------------------------------------------------
    def filter_gripper(self, command: GripperCommand) -> GripperCommand:
        if self.estopped:
            raise EStopError(f"e-stop latched ({self._estop_reason}); call recover() first")
        width, force = command.width, command.force
        if not (np.isfinite(width) and np.isfinite(force)):
            raise UnsafeCommandError(f"gripper command contains NaN or inf: {command}")
        g = self.limits.gripper
        return GripperCommand(
            width=float(np.clip(width, 0.0, g.max_width)),
            force=float(np.clip(force, 0.0, g.grasp_force)),
        )
