"""The client side of a robot bridge, embedded in any node (teleop, actor, gym env).

Keeps the latest message of each bridge topic with its arrival time, rebuilds `RobotState`,
refuses stale data, and wraps the bridge's commands and services.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped, WrenchStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, String
from std_srvs.srv import Trigger

from robolearn.robot.types import RobotState
from robolearn.ros import codecs, qos
from robolearn.ros.robot_bridge import objects_from_task_state

SERVICES = ("reset", "arm", "disarm", "estop", "recover")


class StaleDataError(RuntimeError):
    """A bridge topic has not arrived recently enough to act on."""


@dataclass
class _Latest:
    msg: object | None = None
    stamp: float = 0.0  # time.monotonic() at arrival


class RobotClient:
    """Subscribes to a bridge (optionally under `namespace`) and sends it commands."""

    def __init__(self, node: Node, namespace: str = "", max_age: float = 0.1) -> None:
        self.node = node
        self.max_age = max_age
        self._lock = threading.Lock()
        prefix = namespace.rstrip("/") + "/" if namespace else ""
        self._latest: dict[str, _Latest] = {}
        topics = {
            "joint_states": (JointState, qos.SENSOR),
            "ee_pose": (PoseStamped, qos.SENSOR),
            "ee_twist": (TwistStamped, qos.SENSOR),
            "ee_wrench": (WrenchStamped, qos.SENSOR),
            "gripper_state": (JointState, qos.SENSOR),
            "task_state": (Float64MultiArray, qos.SENSOR),
            "task_success": (Bool, qos.SENSOR),
            "armed": (Bool, qos.LATCHED),
            "hardware_id": (String, qos.LATCHED),
        }
        for name, (msg_type, profile) in topics.items():
            self._latest[name] = _Latest()
            node.create_subscription(
                msg_type, prefix + name, lambda m, n=name: self._store(n, m), profile
            )
        self.pub_target = node.create_publisher(
            PoseStamped, prefix + "cartesian_target", qos.TARGET
        )
        self.pub_gripper = node.create_publisher(Float64, prefix + "gripper_command", qos.COMMAND)
        self.services = {s: node.create_client(Trigger, prefix + s) for s in SERVICES}

    def _store(self, name: str, msg: object) -> None:
        with self._lock:
            entry = self._latest[name]
            entry.msg, entry.stamp = msg, time.monotonic()

    def _get(self, name: str, max_age: float | None) -> object:
        with self._lock:
            entry = self._latest[name]
            msg, stamp = entry.msg, entry.stamp
        if msg is None:
            raise StaleDataError(f"no '{name}' message received yet from the robot bridge")
        age = time.monotonic() - stamp
        limit = self.max_age if max_age is None else max_age
        if age > limit:
            raise StaleDataError(
                f"'{name}' is {age * 1000:.0f} ms old (limit {limit * 1000:.0f} ms)"
            )
        return msg

    # --- reading ------------------------------------------------------------------------------
    def state(self, max_age: float | None = None) -> RobotState:
        """The latest robot state; raises `StaleDataError` if any stream is missing or old."""
        return codecs.state_from_messages(
            self._get("joint_states", max_age),
            self._get("ee_pose", max_age),
            self._get("ee_twist", max_age),
            self._get("ee_wrench", max_age),
            self._get("gripper_state", max_age),
        )

    def objects(self, max_age: float | None = None) -> dict[str, np.ndarray]:
        return objects_from_task_state(self._get("task_state", max_age))

    def task_success(self, max_age: float | None = None) -> bool:
        return bool(self._get("task_success", max_age).data)

    @property
    def armed(self) -> bool:
        with self._lock:
            msg = self._latest["armed"].msg
        return bool(msg.data) if msg is not None else False

    @property
    def hardware_id(self) -> str | None:
        """The bridge's backend (``twin``, ``franka``...); None until its latched message came."""
        with self._lock:
            msg = self._latest["hardware_id"].msg
        return str(msg.data) if msg is not None else None

    def has(self, name: str) -> bool:
        with self._lock:
            return self._latest[name].msg is not None

    # --- commanding ---------------------------------------------------------------------------
    def send_target(self, position: np.ndarray, quat_wxyz: np.ndarray) -> None:
        stamp = self.node.get_clock().now().to_msg()
        self.pub_target.publish(codecs.pose_msg(position, quat_wxyz, stamp, codecs.BASE_FRAME))

    def send_gripper(self, width: float) -> None:
        self.pub_gripper.publish(Float64(data=float(width)))

    def call_async(self, service: str):  # noqa: ANN201 - rclpy Future
        client = self.services[service]
        return client.call_async(Trigger.Request())

    def call(self, service: str, timeout: float = 5.0) -> Trigger.Response:
        """Call a bridge service and wait (the node must be spun by another thread)."""
        client = self.services[service]
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"robot bridge service '{service}' is not available")
        future = client.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"robot bridge service '{service}' did not answer in {timeout} s"
                )
            time.sleep(0.002)
        return future.result()
