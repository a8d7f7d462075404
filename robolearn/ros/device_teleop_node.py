"""`device_teleop`: a human input device (SpaceMouse, gamepad, keyboard) as a ROS 2 teleoperator.

The same `Teleoperator` devices as `robolearn record` (`robolearn.teleop`), driving any robot
bridge (the twin, or the real Franka with `backend:=franka`) over its topics, so the `recorder`
node can record what the operator does. Every `rate_hz` tick:

1. read the robot state from the bridge (`RobotClient`); stale or missing: warn, send nothing;
2. read the device (`Teleoperator.read`, non-blocking) and forward its episode controls to the
   recorder on `teleop/event` (below); a tick that forwarded one records no step, as in
   `robolearn record`;
3. publish the step's action on `teleop/action` in the layout the recorder expects (the 7
   normalised action values, then the `ActionSource` as a float, like `scripted_teleop`);
4. send the bridge a Cartesian target (`apply_action`: one bounded step from the measured pose)
   only while the operator is engaged, and a gripper width only when the gripper command
   changes.

Hands-off ticks (the device inside its deadband, no button held) publish the same step
`robolearn record` records for them: zero motion, the gripper as last commanded, source HUMAN.
No target is sent then, so the bridge's watchdog holds the arm where it is. The gripper command
starts from the measured gripper (closed below half its opening), so moving the arm never opens
a gripper that holds something; only a gripper button changes it.

Device events map onto the recorder's `teleop/event` strings as `robolearn record` interprets
them: START_STOP starts an episode ("start") or, while one runs, ends it as a failure
("failure"); SUCCESS -> "success"; FAILURE -> "failure"; DISCARD and RERECORD -> "discard"
(there is no scene reset on a real cell: put the scene back and press START_STOP to record it
again); QUIT discards a running episode and ends the node. The node keeps its own idea of
whether an episode runs (it does not see the recorder's services being called by hand).

A device error (unplugged, out of range, a NaN from a driver) ends the node without raising out
of the executor: no command is sent after it (the watchdog holds the pose), a running episode is
discarded, and the error says what to check. Every command still passes the bridge's safety
layer (limits, speed, workspace, watchdog). The bridge must be armed (its `arm` service) before
the node moves the arm; it never arms it.

    device_teleop --ros-args -p device:=spacemouse \\
        -p device_options:='{"event_buttons": {"0": "start_stop", "1": "success"}}'

The keyboard reads the terminal the node runs in (or `{"tty": "/dev/pts/N"}`).
"""

from __future__ import annotations

import json
import sys
import threading
import typing
from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, String

from robolearn.data.schema import ActionSource
from robolearn.robot.limits import load_limits
from robolearn.robot.types import RobotState
from robolearn.ros import qos, restrict_discovery_to_localhost
from robolearn.ros.client import RobotClient, StaleDataError
from robolearn.ros.params import declare_parameters, parameter_overrides
from robolearn.sim.tasks.base import ACTION_DIM, GRIPPER_CLOSE, GRIPPER_OPEN, apply_action
from robolearn.teleop import (
    TELEOP_CONFIGS,
    TELEOPERATORS,
    TeleopCommand,
    TeleopContext,
    Teleoperator,
    TeleopError,
    TeleopEvent,
    make_teleoperator,
)
from robolearn.teleop.base import MOTION_DIM

PARAMETERS: dict[str, tuple[Any, str]] = {
    "device": ("spacemouse", "Input device: spacemouse | gamepad | keyboard (robolearn.teleop)."),
    "device_options": (
        "{}",
        'JSON object of device config fields, e.g. {"deadband": 0.15, "event_buttons": '
        '{"0": "start_stop"}}.',
    ),
    "rate_hz": (10.0, "Control rate: device reads, recorded steps and targets per second."),
    "limits_file": ("", "Cell limits YAML; empty for the installed hardware/franka.yaml."),
    "robot_namespace": ("", "Namespace of the robot bridge's topics and services."),
}

E = TeleopEvent


def parse_device_options(device: str, text: str) -> dict[str, Any]:
    """The `device_options` JSON as keyword overrides of `device`'s config dataclass.

    JSON object keys are strings; fields typed `dict[int, ...]` (button maps) get int keys.
    ValueError naming the valid fields when the JSON or a field name is wrong.
    """
    config_cls = TELEOP_CONFIGS.get(device)
    try:
        options = json.loads(text or "{}")
    except json.JSONDecodeError as err:
        raise ValueError(f"device_options is not valid JSON ({err}): {text!r}") from None
    if not isinstance(options, dict):
        raise ValueError(f"device_options must be a JSON object, got {text!r}")
    hints = typing.get_type_hints(config_cls)
    fields = sorted(k for k in hints if k != "type")
    for key, value in options.items():
        if key not in fields:
            raise ValueError(
                f"device_options: {device} has no option {key!r}; valid: {', '.join(fields)}"
            )
        args = typing.get_args(hints[key])
        if typing.get_origin(hints[key]) is dict and args and args[0] is int:
            try:
                options[key] = {int(k): v for k, v in value.items()}
            except (AttributeError, ValueError):
                raise ValueError(
                    f"device_options: {key} must map button indices to names, got {value!r}"
                ) from None
    return options


class DeviceTeleopNode(Node):
    """Reads a human device every tick and drives the bridge; see the module docstring."""

    def __init__(self, *, context: Context | None = None, **overrides: Any) -> None:
        """`overrides` set parameters (as `--ros-args -p name:=value` would). Opens the device:
        raises `TeleopError` (what to check) when it cannot, ValueError on bad options."""
        super().__init__(
            "device_teleop",
            context=context,
            parameter_overrides=parameter_overrides(overrides),
        )
        p = declare_parameters(self, PARAMETERS)
        self.device_name = str(p["device"])
        self.limits = load_limits(p["limits_file"] or None)
        self.rate_hz = float(p["rate_hz"])
        if not (np.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")
        try:
            self.teleop = self._open_device(self.device_name, p["device_options"])
        except BaseException:
            super().destroy_node()
            raise
        self.client = RobotClient(self, p["robot_namespace"], max_age=0.5)
        prefix = p["robot_namespace"].rstrip("/") + "/" if p["robot_namespace"] else ""
        self.pub_action = self.create_publisher(
            Float64MultiArray, prefix + "teleop/action", qos.COMMAND
        )
        self.pub_event = self.create_publisher(String, prefix + "teleop/event", qos.COMMAND)
        self.done = threading.Event()
        self.error: str | None = None  # set when the device failed
        self.recording = False  # whether this node has started an episode it has not ended
        self.steps_published = 0
        self.targets_sent = 0
        self.gripper_sent = 0
        self._last_action: np.ndarray | None = None  # the action of the previous step
        self.create_timer(1.0 / self.rate_hz, self._tick)
        self.get_logger().info(
            f"device_teleop up: device={self.device_name} rate_hz={self.rate_hz}"
            f" namespace={p['robot_namespace'] or '/'}"
        )

    def _open_device(self, device: str, options_json: str) -> Teleoperator:
        if device not in TELEOP_CONFIGS:
            known = ", ".join(n for n in TELEOP_CONFIGS.names() if n != "scripted")
            raise ValueError(f"unknown device {device!r}; known: {known}")
        if TELEOPERATORS.get(device).source != ActionSource.HUMAN:
            raise ValueError(
                f"device {device!r} is not a human device; use the scripted_teleop node for it"
            )
        teleop = make_teleoperator(device, **parse_device_options(device, options_json))
        teleop.connect()
        return teleop

    # --- the control tick -----------------------------------------------------------------------
    def _tick(self) -> None:
        if self.done.is_set():
            return
        state: RobotState | None = None
        objects = None
        try:
            state = self.client.state()
            if self.teleop.needs_objects:
                objects = self.client.objects()
        except StaleDataError as err:
            self.get_logger().warning(
                f"no fresh robot state, sending nothing: {err}", throttle_duration_sec=1.0
            )
        if state is not None and self._last_action is None:
            self._last_action = self._initial_action(state)
        try:
            command = self.teleop.read(
                TeleopContext(state=state, objects=objects, last_action=self._last_action)
            )
        except (TeleopError, ValueError) as err:  # ValueError: a NaN from the device driver
            self._device_failed(err)
            return
        if self._forward_events(command.events if command is not None else frozenset()):
            return
        if state is None:
            return
        if not self.client.armed:
            self.get_logger().warning(
                "the robot bridge is not armed: call its 'arm' service to teleoperate",
                throttle_duration_sec=2.0,
            )
            return
        self._step(state, command)

    def _initial_action(self, state: RobotState) -> np.ndarray:
        """Zero motion and the gripper as measured (closed below half its opening)."""
        action = np.zeros(ACTION_DIM)
        closed = state.gripper_width < 0.5 * self.limits.gripper.max_width
        action[MOTION_DIM] = GRIPPER_CLOSE if closed else GRIPPER_OPEN
        return action

    def _step(self, state: RobotState, command: TeleopCommand | None) -> None:
        engaged = command is not None and command.engaged
        if engaged:
            action, source = np.array(command.action), command.source
        else:  # hands-off: hold, gripper as it was (what `robolearn record` records)
            action, source = self._last_action.copy(), self.teleop.source
            action[:MOTION_DIM] = 0.0
        self.pub_action.publish(Float64MultiArray(data=[*map(float, action), float(source)]))
        self.steps_published += 1
        position, quat, width = apply_action(self.limits, state, action)
        if engaged:
            self.client.send_target(position, quat)
            self.targets_sent += 1
        if action[MOTION_DIM] != self._last_action[MOTION_DIM]:
            self.client.send_gripper(width)
            self.gripper_sent += 1
        self._last_action = action

    # --- episode controls -----------------------------------------------------------------------
    def _send_event(self, name: str) -> None:
        self.pub_event.publish(String(data=name))
        self.get_logger().info(f"episode control: {name}")

    def _forward_events(self, events: frozenset[TeleopEvent]) -> bool:
        """Publish the recorder event the device's controls mean; True when one was sent."""
        if not events:
            return False
        if E.QUIT in events:
            if self.recording:
                self._send_event("discard")
                self.recording = False
            self.get_logger().info("quit pressed: device_teleop stops")
            self.done.set()
            return True
        if self.recording and events & {E.DISCARD, E.RERECORD}:
            self._send_event("discard")
            self.recording = False
            if E.RERECORD in events:
                self.get_logger().info(
                    "put the scene back and press start_stop to record the episode again"
                )
            return True
        if E.START_STOP in events and not self.recording:
            self._send_event("start")
            self.recording = True
            return True
        marked = None
        if E.SUCCESS in events:
            marked = True
        elif E.FAILURE in events or (self.recording and E.START_STOP in events):
            marked = False
        if marked is not None and self.recording:
            self._send_event("success" if marked else "failure")
            self.recording = False
            return True
        names = ", ".join(sorted(e.value for e in events))
        self.get_logger().info(f"ignored {names}: no episode is being recorded")
        return False

    def _device_failed(self, err: Exception) -> None:
        self.error = str(err)
        self.get_logger().error(
            f"the {self.device_name} failed: {err}. No more commands are sent (the robot bridge's"
            " watchdog holds the pose). Check the device, then restart device_teleop."
        )
        if self.recording:
            self._send_event("discard")
            self.recording = False
        try:
            self.teleop.close()
        except Exception as close_err:  # noqa: BLE001 - the device is already gone
            self.get_logger().warning(f"closing the {self.device_name} failed too: {close_err}")
        self.done.set()

    def destroy_node(self) -> None:
        try:
            self.teleop.close()
        finally:
            super().destroy_node()


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `device_teleop` (`--ros-args -p device:=spacemouse`); exits 1 when the
    device cannot be opened or fails."""
    restrict_discovery_to_localhost()
    rclpy.init(args=list(sys.argv if argv is None else argv))
    node = None
    failed = False
    try:
        node = DeviceTeleopNode()
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        while rclpy.ok() and not node.done.is_set():
            executor.spin_once(timeout_sec=0.1)
        failed = node.error is not None
    except (TeleopError, ValueError) as err:
        print(f"device_teleop: {err}", file=sys.stderr)
        failed = True
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
