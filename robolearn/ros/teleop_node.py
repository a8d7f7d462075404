"""`scripted_teleop`: the task's scripted expert as a teleoperator over ROS 2.

It sees only what the bridge publishes (robot state and the task's object state), runs the
expert at `rate_hz`, and sends targets and gripper widths exactly like a human device would.
Episodes: reset -> arm -> act until `task_success` or the time limit -> next.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, String

from robolearn.data.schema import ActionSource
from robolearn.robot.limits import load_limits
from robolearn.ros import qos, restrict_discovery_to_localhost
from robolearn.ros.client import RobotClient, StaleDataError
from robolearn.ros.params import declare_parameters, parameter_overrides
from robolearn.sim.tasks import TASKS
from robolearn.sim.tasks.base import apply_action

PARAMETERS: dict[str, tuple[Any, str]] = {
    "task": ("pick_cube", "Task whose scripted expert acts (reach, pick_cube, peg_insert)."),
    "episodes": (3, "Episodes to run before stopping."),
    "rate_hz": (10.0, "Policy rate (Hz)."),
    "limits_file": ("", "Cell limits YAML; empty for the installed hardware/franka.yaml."),
    "robot_namespace": ("", "Namespace of the robot bridge's topics and services."),
}


class ScriptedTeleopNode(Node):
    def __init__(self, *, context: Context | None = None, **overrides: Any) -> None:
        """`overrides` set parameters (as `--ros-args -p name:=value` would)."""
        super().__init__(
            "scripted_teleop",
            context=context,
            parameter_overrides=parameter_overrides(overrides),
        )
        p = declare_parameters(self, PARAMETERS)
        self.limits = load_limits(p["limits_file"] or None)
        self.task = TASKS.get(p["task"])(self.limits)
        self.expert = self.task.make_expert()
        self.episodes = int(p["episodes"])
        self.rate_hz = float(p["rate_hz"])
        self.max_steps = int(round(self.task.episode_seconds * self.rate_hz))
        self.client = RobotClient(self, p["robot_namespace"], max_age=0.5)
        self.results: list[bool] = []
        self.done = threading.Event()
        self._phase = "reset"
        self._future = None
        self._steps = 0
        # What the teleoperator did, for recorders: the action (7) and its ActionSource, and
        # episode events (start, success, failure, discard).
        prefix = p["robot_namespace"].rstrip("/") + "/" if p["robot_namespace"] else ""
        self.pub_action = self.create_publisher(
            Float64MultiArray, prefix + "teleop/action", qos.COMMAND
        )
        self.pub_event = self.create_publisher(String, prefix + "teleop/event", qos.COMMAND)
        self.create_timer(1.0 / self.rate_hz, self._tick)

    def _tick(self) -> None:
        if self.done.is_set():
            return
        if self._phase in ("reset", "arm"):
            self._advance_services()
            return
        try:
            state = self.client.state()
            objects = self.client.objects()
            success = self.client.task_success()
        except StaleDataError as err:
            self.get_logger().warning(f"waiting for the bridge: {err}", throttle_duration_sec=1.0)
            return
        if success or self._steps >= self.max_steps:
            self._end_episode(success)
            return
        action = self.expert.act(state, objects)
        self.pub_action.publish(
            Float64MultiArray(data=[*map(float, action), float(ActionSource.SCRIPTED)])
        )
        position, quat, width = apply_action(self.limits, state, action)
        self.client.send_target(position, quat)
        self.client.send_gripper(width)
        self._steps += 1

    def _advance_services(self) -> None:
        service = self._phase
        if self._future is None:
            if not self.client.services[service].service_is_ready():
                return
            self._future = self.client.call_async(service)
            return
        if not self._future.done():
            return
        result = self._future.result()
        self._future = None
        if not result.success:
            self.get_logger().error(f"'{service}' failed: {result.message}")
            self.done.set()
            return
        if service == "reset":
            self._phase = "arm"
        else:
            self._phase = "act"
            self._steps = 0
            self.expert.reset()
            self.pub_event.publish(String(data="start"))

    def _end_episode(self, success: bool) -> None:
        self.pub_event.publish(String(data="success" if success else "failure"))
        self.results.append(bool(success))
        self.get_logger().info(
            f"episode {len(self.results)}/{self.episodes}: {'success' if success else 'failure'}"
            f" after {self._steps} steps"
        )
        if len(self.results) >= self.episodes:
            self.done.set()
        else:
            self._phase = "reset"


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `scripted_teleop` (`--ros-args -p task:=pick_cube -p episodes:=5`)."""
    restrict_discovery_to_localhost()
    rclpy.init(args=list(sys.argv if argv is None else argv))
    node = None
    try:
        node = ScriptedTeleopNode()
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        while rclpy.ok() and not node.done.is_set():
            executor.spin_once(timeout_sec=0.1)
        print(f"scripted_teleop: success {sum(node.results)}/{len(node.results)}")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
