"""`RobotEnv`: a gymnasium environment over a `Robot` and a `Task`.

Actions are, in the default ``pose`` action mode, `[dx, dy, dz, droll, dpitch, dyaw, gripper]`
in [-1, 1]: a translation and a rotation (axis-angle, base frame) relative to the measured TCP
pose, scaled to the safety layer's largest step, and a gripper width (-1 open, +1 closed).
``action_mode="position"`` (4-D) or ``"position_yaw"`` (5-D) controls fewer axes and holds the
others tool-down (`robolearn.sim.tasks.actions`). The target passes through the robot's safety
layer; then `1 / control_hz` seconds of robot time pass.
Observations are a dict: `state` (proprioception + task object state, float32) and, when
cameras are on, `images` (uint8 HxWx3 per camera).
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robolearn.robot.safety import DOWN_QUAT, EStopError
from robolearn.robot.transforms import quat_hemisphere
from robolearn.robot.twin import TwinConfig, TwinRobot
from robolearn.robot.types import CartesianTarget, GripperCommand, RobotState
from robolearn.sim.tasks import TASKS, Task
from robolearn.sim.tasks.actions import ActionMode, make_action_mode
from robolearn.sim.tasks.base import apply_action

log = logging.getLogger(__name__)

PROPRIO_DIM = 28  # ee_pos 3, ee_quat 4, ee_twist 6, gripper 1, q 7, dq 7
EE_QUAT = slice(3, 7)
HOME_JOINT_NOISE = 0.02  # radians, per joint, drawn at every reset


def validate_action(action: object, dim: int = 7) -> np.ndarray:
    """A (dim,) float action clipped to [-1, 1]; ValueError for wrong shapes and NaN/inf."""
    try:
        act = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"action must be numeric, got {action!r}") from None
    if act.shape != (dim,):
        raise ValueError(f"action must have shape ({dim},), got {act.shape}")
    if not np.all(np.isfinite(act)):
        raise ValueError(f"action contains NaN or inf: {act}")
    return np.clip(act, -1.0, 1.0)


def state_vector(state: RobotState, task: Task, objects: dict[str, np.ndarray]) -> np.ndarray:
    """The `state` observation: proprioception then the task's object state, float32.

    The TCP quaternion is given on the hemisphere of the tool-down orientation: q and -q are the
    same rotation, and near tool-down (w ~ 0) the raw sign flips from step to step, which a
    learner would read as a jump."""
    proprio = state.as_vector()
    proprio[EE_QUAT] = quat_hemisphere(proprio[EE_QUAT], DOWN_QUAT)
    return np.concatenate([proprio, task.object_state(objects)]).astype(np.float32)


def observation_space(
    task: Task, cameras: tuple[str, ...], image_size: tuple[int, int]
) -> spaces.Dict:
    obs_spaces: dict[str, spaces.Space] = {
        "state": spaces.Box(-np.inf, np.inf, (PROPRIO_DIM + task.object_dim,), np.float32)
    }
    if cameras:
        h, w = image_size
        obs_spaces["images"] = spaces.Dict(
            {c: spaces.Box(0, 255, (h, w, 3), np.uint8) for c in cameras}
        )
    return spaces.Dict(obs_spaces)


class RobotEnv(gym.Env):
    """A manipulation task on a robot (the twin here; `robolearn.envs.ros_env` for ROS 2)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    hardware_id = "twin"  # the robot behind the env (`hardware_identity`)

    def __init__(
        self,
        robot: TwinRobot,
        task: Task,
        *,
        control_hz: float = 10.0,
        reward_type: str = "sparse",
        terminate_on_success: bool = True,
        render_mode: str | None = None,
        render_size: tuple[int, int] = (480, 640),
        action_mode: str = "pose",
    ) -> None:
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if not np.isfinite(control_hz) or control_hz <= 0:
            raise ValueError(f"control_hz must be positive, got {control_hz}")
        self.robot = robot
        self.task = task
        self.control_hz = float(control_hz)
        self.reward_type = reward_type
        self.terminate_on_success = terminate_on_success
        self.render_mode = render_mode
        self.render_size = render_size
        self.metadata = {**self.metadata, "render_fps": int(round(control_hz))}
        timeout = robot.limits.safety.watchdog_timeout
        if 1.0 / self.control_hz > timeout:
            raise ValueError(
                f"control_hz={control_hz} leaves {1 / control_hz:.3f} s between commands, longer"
                f" than the watchdog timeout ({timeout} s): the arm would stop between steps"
            )
        self.max_episode_steps = int(round(task.episode_seconds * self.control_hz))
        robot.connect()
        self.cameras = tuple(robot.config.cameras)
        self.observation_space = observation_space(task, self.cameras, robot.config.image_size)
        self.action_mode: ActionMode = make_action_mode(action_mode)
        self.action_space = spaces.Box(-1.0, 1.0, (self.action_mode.dim,), np.float32)
        self._steps = 0
        self._state: RobotState | None = None

    # --- gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        home = self.robot.limits.arm.home_joint_positions
        noise = self.np_random.uniform(-HOME_JOINT_NOISE, HOME_JOINT_NOISE, size=7)
        self.robot.reset(home + noise)
        self.task.reset(self.robot, self.np_random)
        self.robot.hold()
        self._steps = 0
        self._state = self.robot.observe()
        objects = self.task.objects(self.robot)
        evaluation = self.task.evaluate(self._state, objects)
        return self._observation(self._state, objects), self._info(evaluation, objects)

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        act = validate_action(action, self.action_mode.dim)
        limits = self.robot.limits
        pose_action = self.action_mode.to_pose(act, self._state.ee_quat, limits)
        pos, quat, width = apply_action(limits, self._state, pose_action)
        stop: str | None = None
        try:
            self.robot.command(CartesianTarget(pos, quat))
            self.robot.gripper(GripperCommand(width=width))
        except EStopError as error:
            stop = str(error)  # latched by the last step's state (e.g. a joint past its limit)
        if stop is None:
            self.robot.advance(1.0 / self.control_hz)
            stop = self.robot.safety.estop_reason
        self._steps += 1
        self._state = self.robot.observe()
        objects = self.task.objects(self.robot)
        evaluation = self.task.evaluate(self._state, objects)
        reward = (
            evaluation.sparse_reward if self.reward_type == "sparse" else evaluation.dense_reward
        )
        terminated = bool(evaluation.success and self.terminate_on_success)
        # A safety stop ends the episode as a truncation (the arm holds; reset() recovers), as
        # an operator would stop a real episode: the state's value is not zero, only cut off.
        truncated = (self._steps >= self.max_episode_steps or stop is not None) and not terminated
        obs = self._observation(self._state, objects)
        info = self._info(evaluation, objects)
        if stop is not None:
            info["safety_stop"] = stop
            log.warning("episode stopped by the safety layer: %s", stop)
        return obs, float(reward), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self.robot.render("front", size=self.render_size)

    def close(self) -> None:
        self.robot.close()

    # --- helpers ------------------------------------------------------------------------------
    def objects(self) -> dict[str, np.ndarray]:
        """Privileged object state (for scripted experts and scoring, not for policies)."""
        return self.task.objects(self.robot)

    @property
    def robot_state(self) -> RobotState:
        if self._state is None:
            raise RuntimeError("call reset() first")
        return self._state

    def _observation(self, state: RobotState, objects: dict[str, np.ndarray]) -> dict[str, Any]:
        obs: dict[str, Any] = {"state": state_vector(state, self.task, objects)}
        if self.cameras:
            obs["images"] = {c: self.robot.render(c) for c in self.cameras}
        return obs

    def _info(self, evaluation: Any, objects: dict[str, np.ndarray]) -> dict[str, Any]:
        return {
            "is_success": evaluation.success,
            "sparse_reward": evaluation.sparse_reward,
            "dense_reward": evaluation.dense_reward,
            "reward_terms": dict(evaluation.terms),
            "object_state": self.task.object_state(objects).copy(),
            "steps": self._steps,
        }


def make_twin_env(
    task: str,
    *,
    control_hz: float = 10.0,
    cameras: tuple[str, ...] | list[str] = (),
    image_size: tuple[int, int] = (128, 128),
    limits_file: str | None = None,
    **kwargs: Any,
) -> RobotEnv:
    """Build `RobotEnv` on a fresh twin for a registered task name."""
    task_cls = TASKS.get(task)
    robot = TwinRobot(
        TwinConfig(
            scene=task_cls.scene,
            cameras=tuple(cameras),
            image_size=tuple(image_size),
            limits_file=limits_file,
        )
    )
    return RobotEnv(robot, task_cls(robot.limits), control_hz=control_hz, **kwargs)


def hardware_identity(env: gym.Env) -> str:
    """The robot behind ``env`` as its ``hardware_id`` says (``twin``, or a ROS bridge's
    backend such as ``franka``, searched through the wrappers); ``sim`` for an env that does not
    say (a gymnasium env of a user's)."""
    try:
        return str(env.get_wrapper_attr("hardware_id"))
    except AttributeError:
        return "sim"
