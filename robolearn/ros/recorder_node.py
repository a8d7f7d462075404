"""`recorder`: records episodes from the ROS 2 graph into an episode store.

Subscribes to the robot bridge (state, task state, success, camera images) and to what the
teleoperator did (`teleop/action`: the normalised action and its `ActionSource`;
`teleop/event`: start / success / failure / discard). Each action becomes one step with the
observation at that moment. Operator controls are services: `recorder/start`, `recorder/stop`
(ends as failure), `recorder/mark_success`, `recorder/mark_failure`, `recorder/discard`.
Episodes reach disk only when complete (the store's atomic commit).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from robolearn.data.schema import FieldSpec
from robolearn.data.store import EpisodeMeta, EpisodeStore, EpisodeWriter
from robolearn.envs.robot_env import state_vector
from robolearn.robot.limits import load_limits
from robolearn.ros import qos, restrict_discovery_to_localhost
from robolearn.ros.client import RobotClient, StaleDataError
from robolearn.ros.codecs import image_from_msg
from robolearn.ros.params import declare_parameters, parameter_overrides
from robolearn.sim.tasks import TASKS

PARAMETERS: dict[str, tuple[Any, str]] = {
    "out": ("datasets/recorded", "Dataset folder (created, or appended to if it exists)."),
    "task": ("pick_cube", "Task being recorded (its object state is part of obs.state)."),
    "cameras": ([""], "Camera topics to record (camera/<name>/image_raw); [''] for none."),
    "operator": ("unknown", "Who is teleoperating (stored per episode)."),
    "backend": ("twin", "Robot backend label stored per episode: twin | franka."),
    "calibration_id": ("none", "Calibration the robot cell ran with (stored per episode)."),
    "control_hz": (10.0, "Policy rate of the recorded actions (stored per episode)."),
    "keep_failures": (True, "Also commit episodes that ended in failure (success=False)."),
    "robot_namespace": ("", "Namespace of the robot bridge and teleop topics."),
}


class Recorder(Node):
    def __init__(self, *, context: Context | None = None, **overrides: Any) -> None:
        super().__init__(
            "recorder",
            context=context,
            parameter_overrides=parameter_overrides(overrides),
        )
        p = declare_parameters(self, PARAMETERS)
        self.params = p
        self.task = TASKS.get(p["task"])(load_limits())
        self.cameras = [c for c in p["cameras"] if c]
        prefix = p["robot_namespace"].rstrip("/") + "/" if p["robot_namespace"] else ""
        self.client = RobotClient(self, p["robot_namespace"], max_age=0.5)
        self._images: dict[str, np.ndarray] = {}
        for camera in self.cameras:
            self.create_subscription(
                Image, f"{prefix}camera/{camera}/image_raw",
                lambda m, c=camera: self._images.__setitem__(c, image_from_msg(m)), qos.SENSOR,
            )  # fmt: skip
        self.create_subscription(
            Float64MultiArray, prefix + "teleop/action", self._on_action, qos.COMMAND
        )
        self.create_subscription(String, prefix + "teleop/event", self._on_event, qos.COMMAND)
        for name, handler in (
            ("start", lambda: self._start()),
            ("stop", lambda: self._finish(False)),
            ("mark_success", lambda: self._finish(True)),
            ("mark_failure", lambda: self._finish(False)),
            ("discard", lambda: self._discard()),
        ):
            self.create_service(Trigger, f"recorder/{name}", self._service(handler))
        self._lock = threading.Lock()
        self.store: EpisodeStore | None = None
        self._writer: EpisodeWriter | None = None
        self._pending: dict[str, np.ndarray] | None = None  # last step, flags not yet known
        self.committed: list[bool] = []
        self.dropped_actions = 0
        self.recorded_steps = 0  # steps accepted into the current episode

    # --- operator controls --------------------------------------------------------------------
    def _service(self, handler):  # noqa: ANN001, ANN202 - rclpy callback factory
        def call(_req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
            res.message = handler()
            res.success = not res.message.startswith("error")
            return res

        return call

    def _on_event(self, msg: String) -> None:
        handlers = {
            "start": self._start,
            "success": lambda: self._finish(True),
            "failure": lambda: self._finish(False),
            "discard": self._discard,
        }
        if msg.data not in handlers:
            self.get_logger().warning(f"unknown teleop event {msg.data!r}")
            return
        self.get_logger().info(handlers[msg.data]())

    def _start(self) -> str:
        with self._lock:
            if self._writer is not None:
                self._writer.discard()
            self._writer, self._pending = None, None  # the writer opens with the first step
            self._recording = True
            self.recorded_steps = 0
        return "recording"

    def _discard(self) -> str:
        with self._lock:
            if self._writer is not None:
                self._writer.discard()
            self._writer, self._pending, self._recording = None, None, False
        return "discarded the current episode"

    def _finish(self, success: bool) -> str:
        with self._lock:
            if self._pending is None:
                self._recording = False
                return "error: no steps recorded in this episode"
            if not success and not self.params["keep_failures"]:
                self._writer.discard()
                self._writer, self._pending, self._recording = None, None, False
                return "failure discarded (keep_failures is false)"
            last = self._pending
            # Gymnasium's reward of the last step: the state it led to is the one judged.
            last["reward"] = np.asarray(float(success), dtype=np.float32)
            last["terminated"] = np.asarray(bool(success))
            last["truncated"] = np.asarray(not success)
            self._writer.add_step(last)
            try:
                final = {"obs.state": self._observation()["obs.state"]}
            except StaleDataError:
                final = None
            meta = EpisodeMeta(
                task=self.params["task"], success=bool(success), operator=self.params["operator"],
                backend=self.params["backend"], calibration_id=self.params["calibration_id"],
                control_hz=float(self.params["control_hz"]),
            )  # fmt: skip
            index = self._writer.commit(meta, final)
            self.committed.append(bool(success))
            self._writer, self._pending, self._recording = None, None, False
        return f"episode {index} committed ({'success' if success else 'failure'})"

    # --- steps --------------------------------------------------------------------------------
    def _observation(self) -> dict[str, np.ndarray]:
        state = self.client.state()
        objects = self.client.objects()
        obs = {"obs.state": state_vector(state, self.task, objects)}
        for camera in self.cameras:
            if camera not in self._images:
                raise StaleDataError(f"no image from camera {camera!r} yet")
            obs[f"obs.images.{camera}"] = self._images[camera]
        return obs

    def _on_action(self, msg: Float64MultiArray) -> None:
        with self._lock:
            if not getattr(self, "_recording", False):
                return
            try:
                obs = self._observation()
                success = self.client.task_success()
            except StaleDataError as err:
                self.dropped_actions += 1
                self.get_logger().warning(f"step dropped: {err}", throttle_duration_sec=1.0)
                return
            data = np.asarray(msg.data, dtype=np.float64)
            step = {
                **obs,
                "action": data[:7].astype(np.float32),
                "action_source": np.asarray(int(data[7]), dtype=np.uint8),
                "reward": np.asarray(0.0, dtype=np.float32),  # known at the next step
                "terminated": np.asarray(False),
                "truncated": np.asarray(False),
            }
            if self._writer is None:
                self._writer = self._open_store(step).begin_episode()
            if self._pending is not None:
                # The previous step's reward is the success of the state it led to: this one
                # (reward_t = r(s_t, a_t, s_t+1), as in the gymnasium envs).
                self._pending["reward"] = np.asarray(float(success), dtype=np.float32)
                self._writer.add_step(self._pending)
            self._pending = step
            self.recorded_steps += 1

    def _open_store(self, step: dict[str, np.ndarray]) -> EpisodeStore:
        if self.store is None:
            schema = {
                k: FieldSpec(tuple(np.shape(v)), np.asarray(v).dtype.str) for k, v in step.items()
            }
            self.store = EpisodeStore.open_or_create(self.params["out"], schema)
        return self.store

    def destroy_node(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.discard()
            if self.store is not None:
                self.store.close()
        super().destroy_node()


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `recorder` (`--ros-args -p out:=datasets/pick_cube -p task:=pick_cube`)."""
    restrict_discovery_to_localhost()
    rclpy.init(args=list(sys.argv if argv is None else argv))
    node = None
    try:
        node = Recorder()
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
