"""`fiducial_perception`: the task topics a real cell lacks, measured from a camera.

On the twin the bridge publishes `task_state` and `task_success` from the simulation. On the real
arm this node publishes them from ArUco markers on the task objects: it takes the frames of one
camera (`camera/<camera>/image_raw`, e.g. from `camera_node`) and the bridge's robot state,
detects the markers of `hardware/fiducials.yaml`, reconstructs the object poses with the camera's
calibration from `hardware/cameras.yaml` (a wrist camera is placed by the TCP pose at the frame's
stamp and the hand-eye calibration) and publishes the task's object state in the bridge's layout
and the task's own success predicate on it (`robolearn.arena.perception`).

When a needed marker is not seen, or the frame or robot state is stale, nothing is published:
consumers (recorder, `RosRobotEnv`) then see stale task data and stop, the safe behaviour.
"""

from __future__ import annotations

import bisect
import dataclasses
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float64MultiArray

from robolearn.arena.calibrate import CalibrationError, load_cameras
from robolearn.arena.markers import load_fiducials
from robolearn.arena.perception import FiducialPerceiver, PerceptionError
from robolearn.robot.limits import load_limits
from robolearn.robot.types import RobotState
from robolearn.ros import codecs, qos
from robolearn.ros.client import RobotClient, StaleDataError
from robolearn.ros.params import declare_parameters, parameter_overrides
from robolearn.ros.robot_bridge import _task_state_msg

PARAMETERS: dict[str, tuple[Any, str]] = {
    "task": ("pick_cube", "Task whose object state is perceived (pick_cube)."),
    "camera": ("wrist", "Camera (a name in the cameras file) whose frames are read."),
    "image_topic": (
        "",
        "Frames to read; empty for <robot_namespace>/camera/<camera>/image_raw (camera_node's"
        " image_full when image_raw is resized too small for the markers).",
    ),
    "cameras_file": ("", "Camera calibration YAML; empty for the installed hardware/cameras.yaml."),
    "fiducials_file": ("", "Fiducials YAML; empty for the installed hardware/fiducials.yaml."),
    "limits_file": ("", "Cell limits YAML; empty for the installed hardware/franka.yaml."),
    "rate_hz": (10.0, "Most task_state messages per second (one per new camera frame)."),
    "max_age": (0.5, "Frames and robot state older than this (seconds) are not used."),
    "max_sync": (
        0.05,
        "Largest gap (s) between a frame's stamp and the nearest TCP pose (a wrist camera).",
    ),
    "robot_namespace": ("", "Namespace of the robot bridge's and the camera's topics."),
}

POSE_HISTORY_S = 2.0  # TCP poses kept to match frame stamps


class FiducialPerceptionNode(Node):
    """Frames + robot state in; `task_state` and `task_success` out (see the module doc)."""

    def __init__(
        self, *, context: Context | None = None, namespace: str = "", **overrides: Any
    ) -> None:
        """`overrides` set parameters (as `--ros-args -p name:=value` would)."""
        super().__init__(
            "fiducial_perception",
            context=context,
            namespace=namespace,
            parameter_overrides=parameter_overrides(overrides),
        )
        p = declare_parameters(self, PARAMETERS)
        self.params = p
        if p["rate_hz"] <= 0:
            raise ValueError(f"rate_hz must be positive, got {p['rate_hz']}")
        cameras = load_cameras(p["cameras_file"] or None)
        if p["camera"] not in cameras:
            raise PerceptionError(
                f"camera {p['camera']!r} is not in the cameras file; calibrated: {sorted(cameras)}"
                " (run `robolearn calibrate intrinsics` and `robolearn calibrate hand-eye`)"
            )
        self.camera = cameras[p["camera"]]
        self.perceiver = FiducialPerceiver(
            p["task"],
            self.camera,
            cameras,
            load_fiducials(p["fiducials_file"] or None),
            load_limits(p["limits_file"] or None),
        )
        ns = p["robot_namespace"]
        prefix = ns.rstrip("/") + "/" if ns else ""
        self.client = RobotClient(self, ns, max_age=float(p["max_age"]))
        self._lock = threading.Lock()
        self._image: Image | None = None
        self._image_arrival = 0.0
        self._poses: deque[tuple[float, PoseStamped]] = deque()
        self.image_topic = p["image_topic"] or f"{prefix}camera/{p['camera']}/image_raw"
        self.create_subscription(Image, self.image_topic, self._on_image, qos.SENSOR)
        self.create_subscription(PoseStamped, prefix + "ee_pose", self._on_pose, qos.SENSOR)
        self.pub_task = self.create_publisher(Float64MultiArray, "task_state", qos.SENSOR)
        self.pub_success = self.create_publisher(Bool, "task_success", qos.SENSOR)
        self.published = 0
        self.last: dict[str, Any] | None = None  # the last published result, for inspection
        self.create_timer(1.0 / float(p["rate_hz"]), self._tick)
        self.get_logger().info(
            f"fiducial_perception up: task={p['task']} camera={p['camera']}"
            f" ({self.camera.mount}-mounted) image={self.image_topic}"
            f" -> {self.resolve_topic_name('task_state')}"
        )

    # --- inputs -------------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        with self._lock:
            self._image, self._image_arrival = msg, time.monotonic()

    def _on_pose(self, msg: PoseStamped) -> None:
        t = codecs.from_time(msg.header.stamp)
        with self._lock:
            if self._poses and t < self._poses[-1][0]:
                self._poses.clear()  # the clock went back (a restarted sim): start over
            self._poses.append((t, msg))
            while self._poses and self._poses[0][0] < t - POSE_HISTORY_S:
                self._poses.popleft()

    def _pose_at(self, stamp: float) -> PoseStamped | None:
        """The TCP pose nearest to `stamp`, if within `max_sync`."""
        with self._lock:
            poses = list(self._poses)
        if not poses:
            return None
        times = [t for t, _ in poses]
        i = bisect.bisect_left(times, stamp)
        near = [j for j in (i - 1, i) if 0 <= j < len(poses)]
        best = min(near, key=lambda j: abs(times[j] - stamp))
        if abs(times[best] - stamp) > float(self.params["max_sync"]):
            return None
        return poses[best][1]

    def _warn(self, what: str) -> None:
        self.get_logger().warning(f"publishing no task state: {what}", throttle_duration_sec=2.0)

    # --- one perception step ------------------------------------------------------------------
    def _tick(self) -> None:
        with self._lock:
            msg, arrival = self._image, self._image_arrival
            self._image = None  # each frame is used once
        if msg is None:
            if time.monotonic() - self._image_arrival > float(self.params["max_age"]):
                self._warn(f"no recent frame on {self.image_topic}")
            return
        if time.monotonic() - arrival > float(self.params["max_age"]):
            self._warn(f"the frame on {self.image_topic} is stale")
            return
        try:
            state = self.client.state()
        except StaleDataError as err:
            self._warn(f"robot state: {err}")
            return
        stamp = codecs.from_time(msg.header.stamp)
        pose = self._pose_at(stamp)
        if pose is None:
            if self.camera.mount == "tcp":
                self._warn(f"no TCP pose within {self.params['max_sync']} s of the frame's stamp")
                return
        else:
            state = _with_pose(state, pose)
        try:
            image = codecs.image_from_msg(msg)
        except ValueError as err:
            self._warn(str(err))
            return
        result = self.perceiver.perceive(image, state)
        if result is None:
            self._warn(
                f"markers of {list(self.perceiver.perception.bodies)} not seen by camera"
                f" {self.camera.name!r}"
            )
            return
        self.pub_task.publish(_task_state_msg(result.objects))
        self.pub_success.publish(Bool(data=result.success))
        self.published += 1
        self.last = {"stamp": stamp, "objects": result.objects, "success": result.success}


def _with_pose(state: RobotState, pose: PoseStamped) -> RobotState:
    p, o = pose.pose.position, pose.pose.orientation
    return dataclasses.replace(
        state, ee_pos=np.array([p.x, p.y, p.z]), ee_quat=np.array([o.w, o.x, o.y, o.z])
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `fiducial_perception` (`--ros-args -p task:=pick_cube -p camera:=wrist`)."""
    rclpy.init(args=list(sys.argv if argv is None else argv))
    node = None
    try:
        node = FiducialPerceptionNode()
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (PerceptionError, CalibrationError) as err:
        print(f"fiducial_perception: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
