"""Typed robot state and commands shared by every backend (twin and hardware).

Conventions: positions in metres, angles in radians, quaternions as (w, x, y, z) unit
quaternions (MuJoCo's order; ROS codecs convert), all poses in the robot base frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

N_JOINTS = 7


def _as_vector(name: str, value: object, size: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {arr.shape}")
    return arr


@dataclass(frozen=True)
class RobotState:
    """One snapshot of the arm, as reported by a backend."""

    q: np.ndarray  # (7,) joint positions
    dq: np.ndarray  # (7,) joint velocities
    tau_ext: np.ndarray  # (7,) estimated external joint torques
    ee_pos: np.ndarray  # (3,) end-effector (TCP) position
    ee_quat: np.ndarray  # (4,) end-effector orientation, unit quaternion (w, x, y, z)
    ee_twist: np.ndarray  # (6,) linear and angular end-effector velocity
    ee_wrench: np.ndarray  # (6,) estimated external force and torque at the end effector
    gripper_width: float  # metres between the fingers
    timestamp: float  # seconds (robot clock: sim time for the twin)

    def as_vector(self) -> np.ndarray:
        """Flat proprioceptive vector: ee_pos, ee_quat, ee_twist, gripper_width, q, dq."""
        return np.concatenate(
            [self.ee_pos, self.ee_quat, self.ee_twist, [self.gripper_width], self.q, self.dq]
        )


@dataclass(frozen=True)
class CartesianTarget:
    """An end-effector pose target for the Cartesian impedance controller."""

    position: np.ndarray  # (3,)
    quat: np.ndarray  # (4,) (w, x, y, z)

    @staticmethod
    def make(position: object, quat: object) -> CartesianTarget:
        return CartesianTarget(_as_vector("position", position, 3), _as_vector("quat", quat, 4))


@dataclass(frozen=True)
class GripperCommand:
    """A gripper width target (metres) with a grasp force limit (newtons)."""

    width: float
    force: float = field(default=20.0)
