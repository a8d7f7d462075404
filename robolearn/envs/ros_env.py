"""`RosRobotEnv`: a gymnasium env that drives any robot bridge over ROS 2.

This is the env learners use on real hardware: the same observation and action layout as
`RobotEnv`, but the robot is whatever `robot_bridge` (twin or Franka) answers on the topics.
Each step publishes a target and a gripper width, waits for the next policy tick (wall clock),
then builds the observation from the latest messages, raising `StaleDataError` when a stream
is older than `max_age`.

Task randomisation on reset is owned by the bridge (its `seed` parameter for the twin; the
operator on hardware): `reset(seed=...)` seeds only this env's `np_random`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robolearn.envs.robot_env import observation_space, state_vector, validate_action
from robolearn.robot.limits import load_limits
from robolearn.sim.tasks import TASKS
from robolearn.sim.tasks.actions import ActionMode, make_action_mode
from robolearn.sim.tasks.base import apply_action


class RosRobotEnv(gym.Env):
    """A task over a robot bridge; owns an rclpy context, a node and an executor thread."""

    metadata = {"render_modes": [], "render_fps": 10}

    def __init__(
        self,
        task: str,
        *,
        namespace: str = "",
        control_hz: float = 10.0,
        max_age: float = 0.25,
        reward_type: str = "sparse",
        terminate_on_success: bool = True,
        limits_file: str | None = None,
        connect_timeout: float = 30.0,
        action_mode: str = "pose",
    ) -> None:
        from robolearn.ros import require_rclpy

        require_rclpy()
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from robolearn.ros.client import RobotClient

        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        self.limits = load_limits(limits_file)
        self.task = TASKS.get(task)(self.limits)
        self.control_hz = float(control_hz)
        self.reward_type = reward_type
        self.terminate_on_success = terminate_on_success
        self.max_episode_steps = int(round(self.task.episode_seconds * self.control_hz))
        self.connect_timeout = connect_timeout
        self.observation_space = observation_space(self.task, (), (0, 0))
        self.action_mode: ActionMode = make_action_mode(action_mode)
        self.action_space = spaces.Box(-1.0, 1.0, (self.action_mode.dim,), np.float32)

        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self._node = rclpy.create_node("robolearn_ros_env", context=self._context)
        self.client = RobotClient(self._node, namespace, max_age=max_age)
        # Single-threaded: rclpy's multi-threaded executor costs about 3x the CPU per message.
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()
        self._next_tick = 0.0
        self._steps = 0
        self._closed = False

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # noqa: BLE001 - the executor stops at shutdown
            pass

    @property
    def hardware_id(self) -> str:
        """The bridge's backend (its latched ``hardware_id``), waited for up to the connect
        timeout: what the deployment gate and the actor's exploration go by."""
        deadline = time.monotonic() + self.connect_timeout
        while self.client.hardware_id is None:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    "the robot bridge never said what it drives (latched 'hardware_id'); is a "
                    "bridge of this version running?"
                )
            time.sleep(0.01)
        return self.client.hardware_id

    def _wait_for_state(self) -> None:
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                self.client.state()
                self.client.objects()
                return
            except RuntimeError as err:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no fresh state from the robot bridge: {err}") from err
                time.sleep(0.01)

    def _call(self, service: str) -> None:
        result = self.client.call(service, timeout=self.connect_timeout)
        if not result.success:
            raise RuntimeError(f"robot bridge refused '{service}': {result.message}")

    # --- gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._call("reset")
        self._call("arm")
        # Wait for state published after the reset.
        time.sleep(2.0 / self.control_hz)
        self._wait_for_state()
        self._steps = 0
        self._next_tick = time.monotonic()
        return self._observe()[0], {}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        act = validate_action(action, self.action_mode.dim)
        state = self.client.state()
        pose_action = self.action_mode.to_pose(act, state.ee_quat, self.limits)
        position, quat, width = apply_action(self.limits, state, pose_action)
        self.client.send_target(position, quat)
        self.client.send_gripper(width)
        self._next_tick += 1.0 / self.control_hz
        delay = self._next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next_tick = time.monotonic()  # the policy is slower than control_hz
        self._steps += 1
        obs, info, success = self._observe()
        reward = float(success) if self.reward_type == "sparse" else info["dense_reward"]
        terminated = bool(success and self.terminate_on_success)
        truncated = self._steps >= self.max_episode_steps and not terminated
        return obs, reward, terminated, truncated, info

    def _observe(self) -> tuple[dict[str, Any], dict[str, Any], bool]:
        state = self.client.state()
        objects = self.client.objects()
        evaluation = self.task.evaluate(state, objects)
        success = self.client.task_success()
        info = {
            "is_success": success,
            "dense_reward": evaluation.dense_reward,
            "reward_terms": dict(evaluation.terms),
            "steps": self._steps,
        }
        return {"state": state_vector(state, self.task, objects)}, info, success

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        import rclpy

        try:
            if self.client.services["disarm"].service_is_ready():
                self.client.call("disarm", timeout=2.0)
        except (TimeoutError, RuntimeError):
            pass
        self._executor.shutdown(timeout_sec=1.0)
        self._node.destroy_node()
        rclpy.shutdown(context=self._context)
