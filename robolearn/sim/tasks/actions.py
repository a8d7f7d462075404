"""Action modes: which of the 7 pose-action axes a policy controls.

Every robot command in robolearn is the 7-D *pose action* ``[dx, dy, dz, droll, dpitch, dyaw,
gripper]`` in [-1, 1] (`robolearn.sim.tasks.base.apply_action`: one bounded step from the
measured TCP pose). A policy may control fewer axes: an `ActionMode` maps its reduced action to
the pose action, holding the axes it does not control at a reference orientation (tool down,
the home yaw) with the same bounded rotation step, and maps a pose action (a demo, an expert's
or an operator's command) back to the reduced layout. The safety path is the same in every mode.

- ``pose`` (7-D): translation, rotation, gripper; the interface of the bridge and the recorder.
- ``position`` (4-D: ``dx, dy, dz, gripper``): the orientation is held tool-down at the home yaw.
  SERL's simulated pick-cube uses this layout; a parallel gripper closing on a cube turned by up
  to 45 degrees still grasps it (the scripted expert succeeds in 30 of 30 such episodes).
- ``position_yaw`` (5-D: ``dx, dy, dz, dyaw, gripper``): roll and pitch are held tool-down; the
  training default: BC on 20 pick_cube demos reached 0.85-0.9 in it against 0.65-0.75 in
  ``position`` (turning to the cube's faces makes the grasps the demos show more reliable).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from robolearn.registry import Registry
from robolearn.robot.limits import CellLimits
from robolearn.robot.safety import DOWN_QUAT
from robolearn.robot.transforms import quat_conj, quat_mul, quat_to_mat, quat_to_rotvec

POSE_DIM = 7
_XYZ, _ROT, _GRIPPER = slice(0, 3), slice(3, 6), 6


class ActionMode(abc.ABC):
    """A policy's action layout and its map to and from the 7-D pose action."""

    name: ClassVar[str]
    dim: ClassVar[int]
    labels: ClassVar[tuple[str, ...]]
    axes: ClassVar[tuple[int, ...]]  # the pose-action indices this mode controls, in order

    @abc.abstractmethod
    def to_pose(self, action: np.ndarray, ee_quat: np.ndarray, limits: CellLimits) -> np.ndarray:
        """The (7,) pose action for a (dim,) action in [-1, 1], given the measured TCP
        orientation (held axes are steered back to the reference orientation)."""

    @abc.abstractmethod
    def from_pose(self, pose_action: np.ndarray) -> np.ndarray:
        """The (dim,) action that commands what a (7,) pose action commands on the axes this
        mode controls (the held axes' part of ``pose_action`` is dropped)."""

    def embed(self, action: np.ndarray) -> np.ndarray:
        """The (7,) pose action with this mode's axes from ``action`` and the held axes at 0
        (what was asked, before the hold correction; `from_pose` inverts it)."""
        out = np.zeros(POSE_DIM, dtype=np.float32)
        out[list(self.axes)] = np.asarray(action, dtype=np.float32)
        return out


ACTION_MODES: Registry[type[ActionMode]] = Registry("action mode")


def make_action_mode(name: str) -> ActionMode:
    return ACTION_MODES.get(name)()


def _hold_rotation(ee_quat: np.ndarray, goal: np.ndarray, limits: CellLimits) -> np.ndarray:
    """The normalised rotation action (3,) that turns ``ee_quat`` towards ``goal``: one bounded
    step, as `robolearn.sim.tasks.base.move_action` steers orientation."""
    rot = quat_to_rotvec(quat_mul(goal, quat_conj(ee_quat)))
    return np.clip(rot / limits.safety.max_rotation_step, -1.0, 1.0)


@ACTION_MODES.register("pose")
class PoseActions(ActionMode):
    name = "pose"
    dim = POSE_DIM
    labels = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
    axes = (0, 1, 2, 3, 4, 5, 6)

    def to_pose(self, action: np.ndarray, ee_quat: np.ndarray, limits: CellLimits) -> np.ndarray:
        return np.asarray(action, dtype=np.float64)

    def from_pose(self, pose_action: np.ndarray) -> np.ndarray:
        return np.asarray(pose_action, dtype=np.float32)


@ACTION_MODES.register("position")
class PositionActions(ActionMode):
    name = "position"
    dim = 4
    labels = ("dx", "dy", "dz", "gripper")
    axes = (0, 1, 2, 6)

    def to_pose(self, action: np.ndarray, ee_quat: np.ndarray, limits: CellLimits) -> np.ndarray:
        out = np.zeros(POSE_DIM)
        out[_XYZ] = action[0:3]
        out[_ROT] = _hold_rotation(ee_quat, DOWN_QUAT, limits)
        out[_GRIPPER] = action[3]
        return out

    def from_pose(self, pose_action: np.ndarray) -> np.ndarray:
        return np.asarray(pose_action, dtype=np.float32)[..., list(self.axes)]


@ACTION_MODES.register("position_yaw")
class PositionYawActions(ActionMode):
    name = "position_yaw"
    dim = 5
    labels = ("dx", "dy", "dz", "dyaw", "gripper")
    axes = (0, 1, 2, 5, 6)

    def to_pose(self, action: np.ndarray, ee_quat: np.ndarray, limits: CellLimits) -> np.ndarray:
        # Hold roll and pitch: the goal is tool-down turned by the TCP's current yaw.
        tool_x, down_x = quat_to_mat(ee_quat)[:, 0], quat_to_mat(DOWN_QUAT)[:, 0]
        yaw = np.arctan2(tool_x[1], tool_x[0]) - np.arctan2(down_x[1], down_x[0])
        goal = quat_mul(np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]), DOWN_QUAT)
        out = np.zeros(POSE_DIM)
        out[_XYZ] = action[0:3]
        out[_ROT] = _hold_rotation(ee_quat, goal, limits)
        out[5] = action[3]  # yaw about the base z axis
        out[_GRIPPER] = action[4]
        return out

    def from_pose(self, pose_action: np.ndarray) -> np.ndarray:
        return np.asarray(pose_action, dtype=np.float32)[..., list(self.axes)]
