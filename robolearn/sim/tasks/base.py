"""Tasks in the twin: a seeded reset distribution, a success predicate, sparse and dense reward,
object state for observations and scoring, and a scripted expert.

A task reads and places its objects through the twin's `model`/`data` (names prefixed with
`task/` by the scene builder). Experts see privileged object state; they are the scripted
teleoperator that records demonstrations later.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar

import mujoco
import numpy as np

from robolearn.registry import Registry
from robolearn.robot.limits import CellLimits
from robolearn.robot.safety import DOWN_QUAT
from robolearn.robot.transforms import quat_conj, quat_mul, quat_to_rotvec, rotvec_to_quat
from robolearn.robot.twin import TwinRobot
from robolearn.robot.types import RobotState
from robolearn.sim.scene import TASK_PREFIX

# Action layout: [dx, dy, dz, droll, dpitch, dyaw, gripper] in [-1, 1].
ACTION_DIM = 7
GRIPPER_OPEN = -1.0
GRIPPER_CLOSE = 1.0


@dataclass(frozen=True)
class TaskEval:
    """What a task says about the current state."""

    success: bool
    dense_reward: float
    terms: dict[str, float] = field(default_factory=dict)

    @property
    def sparse_reward(self) -> float:
        return 1.0 if self.success else 0.0


class Expert(abc.ABC):
    """A scripted policy with access to privileged object state."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget any phase from the previous episode."""

    @abc.abstractmethod
    def act(self, state: RobotState, objects: dict[str, np.ndarray]) -> np.ndarray:
        """Return an action in [-1, 1]^7."""


class Task(abc.ABC):
    """A manipulation task in the twin."""

    name: ClassVar[str]
    scene: ClassVar[str | None]  # sim/scenes/<scene>.xml
    episode_seconds: ClassVar[float]
    object_dim: ClassVar[int]  # size of object_state()

    def __init__(self, limits: CellLimits) -> None:
        self.limits = limits

    @abc.abstractmethod
    def reset(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        """Draw an initial state (robot already at its home pose) and place objects."""

    @abc.abstractmethod
    def objects(self, robot: TwinRobot) -> dict[str, np.ndarray]:
        """Privileged object state by name (positions, orientations, goals)."""

    @abc.abstractmethod
    def object_state(self, objects: dict[str, np.ndarray]) -> np.ndarray:
        """A flat (object_dim,) vector for observations."""

    @abc.abstractmethod
    def evaluate(self, state: RobotState, objects: dict[str, np.ndarray]) -> TaskEval:
        """Success and rewards for the current state."""

    @abc.abstractmethod
    def make_expert(self) -> Expert:
        """The scripted expert for this task."""


TASKS: Registry[type[Task]] = Registry("task")


# --- helpers shared by tasks and experts ------------------------------------------------------
def free_joint_qpos(robot: TwinRobot, joint: str) -> slice:
    """The 7 qpos entries (position, quaternion) of a task object's free joint."""
    adr = int(robot.model.joint(TASK_PREFIX + joint).qposadr[0])
    return slice(adr, adr + 7)


def set_free_body(robot: TwinRobot, joint: str, pos: np.ndarray, quat: np.ndarray) -> None:
    m, d = robot.model, robot.data
    d.qpos[free_joint_qpos(robot, joint)] = np.concatenate([pos, quat])
    adr = int(m.joint(TASK_PREFIX + joint).dofadr[0])
    d.qvel[adr : adr + 6] = 0.0
    mujoco.mj_forward(m, d)
    robot.mark_state_changed()


def body_pose(robot: TwinRobot, body: str) -> tuple[np.ndarray, np.ndarray]:
    b = robot.data.body(TASK_PREFIX + body)
    return b.xpos.copy(), b.xquat.copy()


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_yaw(quat: np.ndarray) -> float:
    w, x, y, z = quat
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def tool_quat(yaw: float = 0.0) -> np.ndarray:
    """The TCP pointing down, turned by `yaw` about the base z axis from the home orientation."""
    return quat_mul(yaw_quat(yaw), DOWN_QUAT)


def move_action(
    limits: CellLimits,
    state: RobotState,
    goal_pos: np.ndarray,
    goal_quat: np.ndarray,
    gripper: float,
    speed: float = 1.0,
) -> np.ndarray:
    """Proportional action towards a TCP goal; `speed` scales the largest step (0..1]."""
    s = limits.safety
    action = np.zeros(ACTION_DIM)
    action[:3] = (goal_pos - state.ee_pos) / s.max_translation_step
    rot = quat_to_rotvec(quat_mul(goal_quat, quat_conj(state.ee_quat)))
    action[3:6] = rot / s.max_rotation_step
    # Scale translation as a vector so the direction is kept when the step saturates.
    norm = float(np.linalg.norm(action[:3]))
    if norm > speed:
        action[:3] *= speed / norm
    action[3:6] = np.clip(action[3:6], -1.0, 1.0)
    action[6] = gripper
    return action


def apply_action(
    limits: CellLimits, state: RobotState, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Map a normalised action to (target position, target quaternion, gripper width)."""
    s = limits.safety
    pos = state.ee_pos + action[:3] * s.max_translation_step
    quat = quat_mul(rotvec_to_quat(action[3:6] * s.max_rotation_step), state.ee_quat)
    width = limits.gripper.max_width * (1.0 - action[6]) / 2.0
    return pos, quat / np.linalg.norm(quat), float(width)
