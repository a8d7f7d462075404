"""`robot_bridge`: one `Robot` backend (the twin or a Franka) on ROS 2.

Publishes `joint_states`, `ee_pose`, `ee_twist`, `ee_wrench`, `gripper_state` (at
`publish_hz`), `armed` and `hardware_id` (the backend; latched), `diagnostics`, camera images
when enabled, and for the twin `task_state`/`task_success` (the task's object state; on
hardware that comes from perception).
Subscribes `cartesian_target` and `gripper_command`. Services `reset`, `arm`, `disarm`,
`estop`, `recover` (std_srvs/Trigger). Commands are refused unless armed; every accepted target
passes the backend's safety layer.

`estop` and `disarm` are served at any moment: they have their own callback group and latch
without waiting for the lock a long call holds, and `main()` spins a multi-threaded executor,
so an e-stop reaches the arm while `reset` moves it home (the move ends at the latch). A
thread-safe backend (`Robot.thread_safe`: the Franka) resets beside the state loop, which keeps
publishing. A robot-loop error leaves the bridge in ERROR (diagnostics) and `arm` refused until
`recover` has the loop running again; a failed gripper command is reported, not fatal.

The twin runs in a loop thread: in `clock_mode: wall` paced to wall-clock time times
`real_time_factor`; in `clock_mode: sim` it publishes `/clock` and runs as fast as it can
(or at `real_time_factor` if > 0), for tests with `use_sim_time`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Bool, Float64, Float64MultiArray, MultiArrayDimension, String
from std_srvs.srv import Trigger

from robolearn.config import option
from robolearn.robot.base import ROBOT_CONFIGS, Robot, make_robot
from robolearn.robot.franka import FrankaConfig
from robolearn.robot.safety import EStopError, UnsafeCommandError
from robolearn.robot.types import GripperCommand
from robolearn.ros import codecs, qos, restrict_discovery_to_localhost
from robolearn.ros.params import (
    CONFIG_NODE_OPTIONS,
    config_parameters,
    declare_config,
    parameter_overrides,
)
from robolearn.sim.tasks import TASKS, Task


def _section(cls: type, exclude: tuple[str, ...]) -> type:
    """A keyword-only dataclass with ``cls``'s fields (defaults, help) but ``exclude``: a
    backend's config as a section of the bridge's tree, derived, never a hand-kept subset."""
    specs = []
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        default = (
            {"default": f.default}
            if f.default is not dataclasses.MISSING
            else {"default_factory": f.default_factory}
        )
        specs.append((f.name, f.type, dataclasses.field(metadata=f.metadata, **default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Section", specs, kw_only=True)


# Every FrankaConfig field but limits_file (the bridge's own, for every backend): franka.NAME.
FrankaSection = _section(FrankaConfig, exclude=("limits_file",))


@dataclass(kw_only=True)
class BridgeConfig:
    """`robot_bridge`'s parameters (dotted names; `robolearn.ros.params.declare_config`)."""

    backend: str = option("twin", "Robot backend: twin (MuJoCo) or franka (pylibfranka).")
    task: str = option(
        "", "Twin only: task whose objects are loaded and reported (reach, pick_cube, ...)."
    )
    seed: int = option(0, "Twin only: seed of the first task reset; each reset uses the next one.")
    limits_file: str = option(
        "", "Cell limits YAML (every backend); empty for the installed hardware/franka.yaml."
    )
    clock_mode: str = option(
        "wall", "'wall': stamp with wall time; 'sim': publish /clock from the twin."
    )
    real_time_factor: float = option(
        1.0, "Twin speed vs wall clock; 0 in sim clock mode = as fast as possible."
    )
    publish_hz: float = option(
        500.0, "Rate of joint_states, ee_pose, ee_twist, ee_wrench, gripper_state."
    )
    task_hz: float = option(20.0, "Rate of task_state and task_success (twin with a task).")
    camera_hz: float = option(10.0, "Rate of camera images (twin).")
    cameras: list[str] = option(
        [""], "Cameras to render and publish (twin): front, wrist. [''] for none."
    )
    image_height: int = option(128, "Camera image height in pixels.")
    image_width: int = option(128, "Camera image width in pixels.")
    paint_markers: str = option(
        "",
        "Twin only: paint the ArUco markers of this fiducials YAML on the task objects ('default'"
        " for hardware/fiducials.yaml; empty for none), to rehearse fiducial_perception.",
    )
    armed_on_start: bool = option(
        False, "Accept commands without an explicit 'arm' call (sim only)."
    )
    target_max_age: float = option(
        0.1,
        "Seconds: a cartesian_target stamped longer ago (or unstamped, or stamped that far in "
        "the future) is refused. In sim clock mode ages are robot seconds and the limit is "
        "scaled by real_time_factor (no age limit as fast as possible).",
    )
    franka: Any = field(default_factory=FrankaSection)

    def __post_init__(self) -> None:
        if self.backend not in ROBOT_CONFIGS.names():
            raise ValueError(f"backend {self.backend!r}: one of {', '.join(ROBOT_CONFIGS.names())}")
        if self.clock_mode not in ("wall", "sim"):
            raise ValueError(f"clock_mode must be 'wall' or 'sim', got {self.clock_mode!r}")
        if self.publish_hz <= 0:
            raise ValueError(f"publish_hz must be positive, got {self.publish_hz}")
        if not self.target_max_age > 0:
            raise ValueError(f"target_max_age must be positive, got {self.target_max_age}")


# Every key of the config tree, by dotted name (derived, never a hand-kept copy).
PARAMETERS = config_parameters(BridgeConfig())


class RobotBridge(Node):
    """A thin shell: rclpy in, `Robot` calls, rclpy out."""

    def __init__(self, *, context: Context | None = None, **overrides: Any) -> None:
        """`overrides` set parameters (as `--ros-args -p name:=value` would)."""
        super().__init__(
            "robot_bridge",
            context=context,
            parameter_overrides=parameter_overrides(overrides),
            **CONFIG_NODE_OPTIONS,
        )
        self.config = p = declare_config(self, BridgeConfig())
        self._robot_time = 0.0  # of the newest published state (the sim clock's now)
        self.task: Task | None = None
        self.robot = self._make_robot(p)
        if p.backend == "twin" and os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
            self.get_logger().warning(
                "the twin bridge runs with DDS discovery beyond localhost; "
                "set ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (robolearn up sim does)"
            )
        self._lock = threading.RLock()
        self._armed = bool(p.armed_on_start) and self.robot.simulated
        self._seed = int(p.seed)
        self._rejected = 0
        self._last_reject_reason = ""
        self._achieved_hz = 0.0
        self._cameras = [c for c in p.cameras if c]

        pub = self.create_publisher
        self.pub_joints = pub(codecs.JointState, "joint_states", qos.SENSOR)
        self.pub_pose = pub(PoseStamped, "ee_pose", qos.SENSOR)
        self.pub_twist = pub(codecs.TwistStamped, "ee_twist", qos.SENSOR)
        self.pub_wrench = pub(codecs.WrenchStamped, "ee_wrench", qos.SENSOR)
        self.pub_gripper = pub(codecs.JointState, "gripper_state", qos.SENSOR)
        self.pub_armed = pub(Bool, "armed", qos.LATCHED)
        # Who is behind this bridge (its backend): clients decide the deployment gate and
        # exploration from it, never from a parameter of their own.
        self.pub_hardware = pub(String, "hardware_id", qos.LATCHED)
        self.pub_diag = pub(DiagnosticArray, "/diagnostics", qos.COMMAND)
        self.pub_task = pub(Float64MultiArray, "task_state", qos.SENSOR)
        self.pub_success = pub(Bool, "task_success", qos.SENSOR)
        self.pub_clock = pub(Clock, "/clock", qos.CLOCK) if p.clock_mode == "sim" else None
        self.pub_images = {
            c: pub(codecs.Image, f"camera/{c}/image_raw", qos.SENSOR) for c in self._cameras
        }
        self.create_subscription(PoseStamped, "cartesian_target", self._on_target, qos.TARGET)
        self.create_subscription(Float64, "gripper_command", self._on_gripper, qos.COMMAND)
        # estop/disarm never wait behind a long call (reset, recover): groups of their own.
        urgent, long_calls = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()
        for name, handler, group in (
            ("reset", self._srv_reset, long_calls),
            ("arm", self._srv_arm, None),
            ("disarm", self._srv_disarm, urgent),
            ("estop", self._srv_estop, urgent),
            ("recover", self._srv_recover, long_calls),
        ):
            self.create_service(Trigger, name, handler, callback_group=group)
        self.create_timer(1.0, self._publish_diagnostics)
        self._resetting = threading.Event()
        self._estops = 0  # e-stop service calls
        self._loop_error: str | None = None

        with self._lock:
            self.robot.connect()
            self._reset_task()
        self._publish_armed()
        self.pub_hardware.publish(String(data=str(p.backend)))
        self._stop = threading.Event()
        self._start_loop()
        self.get_logger().info(
            f"robot_bridge up: backend={p.backend} task={p.task or '-'}"
            f" clock={p.clock_mode} publish_hz={p.publish_hz} armed={self._armed}"
        )

    # --- set-up -------------------------------------------------------------------------------
    def _make_robot(self, p: BridgeConfig) -> Robot:
        options: dict[str, Any] = {}
        fields = {f.name for f in dataclasses.fields(ROBOT_CONFIGS.get(p.backend))}
        # The backend's own section (franka.*) carries every field of its config.
        section = getattr(p, p.backend, None)
        if dataclasses.is_dataclass(section):
            options.update(dataclasses.asdict(section))
        if p.limits_file:
            options["limits_file"] = p.limits_file
        if p.task:
            if "scene" not in fields:
                raise ValueError(f"backend {p.backend!r} cannot load task objects")
            task_cls = TASKS.get(p.task)
            options["scene"] = task_cls.scene
        cameras = tuple(c for c in p.cameras if c)
        if cameras and "cameras" in fields:
            options["cameras"] = cameras
            options["image_size"] = (int(p.image_height), int(p.image_width))
        if p.paint_markers:
            if "scene_edits" not in fields:
                raise ValueError(f"backend {p.backend!r} cannot paint markers (twin only)")
            from robolearn.arena.markers import PaintMarkers, load_fiducials

            path = None if p.paint_markers == "default" else p.paint_markers
            options["scene_edits"] = (PaintMarkers(load_fiducials(path)),)
        robot = make_robot(p.backend, **options)
        if p.task:
            self.task = TASKS.get(p.task)(robot.limits)
        return robot

    def _reset_task(self) -> None:
        if self.task is None:
            return
        self.task.reset(self.robot, np.random.default_rng(self._seed))
        self.robot.hold()
        self._seed += 1

    # --- the loop thread ----------------------------------------------------------------------
    def _start_loop(self) -> None:
        self._loop_error = None
        self._thread = threading.Thread(target=self._loop, name="robot_bridge_loop", daemon=True)
        self._thread.start()

    @property
    def loop_running(self) -> bool:
        """False once the state loop died (``loop_error`` says why) until `recover` restarts it."""
        return self._thread.is_alive() and self._loop_error is None

    @property
    def loop_error(self) -> str | None:
        return self._loop_error

    def _loop(self) -> None:
        p = self.config
        period = 1.0 / float(p.publish_hz)
        rtf = float(p.real_time_factor)
        paced = p.clock_mode == "wall" or rtf > 0
        wall_period = period / rtf if rtf > 0 else period
        task_every = max(1, round(float(p.publish_hz) / max(float(p.task_hz), 1e-9)))
        camera_every = max(1, round(float(p.publish_hz) / max(float(p.camera_hz), 1e-9)))
        tick = 0
        next_deadline = time.perf_counter()
        rate_t0, rate_n = time.perf_counter(), 0
        while not self._stop.is_set():
            try:
                with self._lock:
                    if self.robot.simulated:
                        self.robot.advance(period)
                    state = self.robot.observe()
                    objects = self.task.objects(self.robot) if self.task else None
                    images = (
                        {c: self.robot.render(c) for c in self._cameras}
                        if self._cameras and tick % camera_every == 0
                        else {}
                    )
            except Exception as err:  # noqa: BLE001 - a dead loop must say why
                self._loop_error = f"{type(err).__name__}: {err}"
                self.get_logger().error(f"robot loop stopped: {self._loop_error}")
                self.robot.safety.estop(f"robot loop error: {self._loop_error}")
                self._armed = False
                self._publish_armed()
                return
            self._robot_time = state.timestamp
            stamp = self._stamp(state.timestamp)
            if self.pub_clock is not None:
                self.pub_clock.publish(Clock(clock=stamp))
            # ee_pose first: a command's round trip ends with it.
            self.pub_pose.publish(codecs.ee_pose_msg(state, stamp))
            self.pub_joints.publish(codecs.joint_state_msg(state, stamp))
            self.pub_twist.publish(codecs.ee_twist_msg(state, stamp))
            self.pub_wrench.publish(codecs.ee_wrench_msg(state, stamp))
            self.pub_gripper.publish(codecs.gripper_state_msg(state, stamp))
            if objects is not None and tick % task_every == 0:
                self.pub_task.publish(_task_state_msg(objects))
                success = self.task.evaluate(state, objects).success
                self.pub_success.publish(Bool(data=bool(success)))
            for camera, rgb in images.items():
                self.pub_images[camera].publish(codecs.image_msg(rgb, stamp, camera))
            tick += 1
            rate_n += 1
            now = time.perf_counter()
            if now - rate_t0 >= 1.0:
                self._achieved_hz = rate_n / (now - rate_t0)
                rate_t0, rate_n = now, 0
            if paced:
                next_deadline += wall_period
                delay = next_deadline - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -0.1:
                    next_deadline = time.perf_counter()  # fell far behind: do not burst
            else:
                time.sleep(0)  # let executor threads take the GIL

    def _stamp(self, robot_time: float) -> codecs.Time:
        if self.config.clock_mode == "sim":
            return codecs.to_time(robot_time)
        return self.get_clock().now().to_msg()

    # --- commands -----------------------------------------------------------------------------
    def _reject(self, reason: str) -> None:
        self._rejected += 1
        self._last_reject_reason = reason
        self.get_logger().warning(f"command rejected: {reason}", throttle_duration_sec=1.0)

    def _on_target(self, msg: PoseStamped) -> None:
        if not self._armed:
            self._reject("not armed (call the 'arm' service)")
            return
        if self._resetting.is_set():
            self._reject("resetting: commands resume when the reset is done")
            return
        stale = self._stale(msg.header.stamp)
        if stale:
            self._reject(stale)
            return
        try:
            target = codecs.target_from_pose(msg)
            with self._lock:
                self.robot.command(target)
        except (codecs.MessageRejected, UnsafeCommandError, EStopError) as err:
            self._reject(str(err))

    def _on_gripper(self, msg: Float64) -> None:
        if not self._armed:
            self._reject("not armed (call the 'arm' service)")
            return
        try:
            with self._lock:
                self.robot.gripper(GripperCommand(width=float(msg.data)))
        except Exception as err:  # noqa: BLE001 - a gripper fault is reported, never fatal
            self._reject(f"gripper command failed: {err}")

    def _stale(self, stamp: codecs.Time) -> str:
        """Why a target stamped ``stamp`` must not move the arm ('' when it is fresh)."""
        if stamp.sec == 0 and stamp.nanosec == 0:
            return "unstamped target (header.stamp is zero): stamp every command"
        p = self.config
        limit = float(p.target_max_age)
        if p.clock_mode == "sim":
            rtf = float(p.real_time_factor)
            if rtf <= 0:
                return ""  # as fast as possible: no wall-clock meaning to an age
            now, limit = self._robot_time, limit * rtf
        else:
            now = self.get_clock().now().nanoseconds * 1e-9
        age = now - codecs.from_time(stamp)
        if age > limit:
            return f"stale target: stamped {age * 1000:.0f} ms ago (limit {limit * 1000:.0f} ms)"
        if age < -limit:
            return f"target stamped {-age * 1000:.0f} ms in the future: clocks disagree"
        return ""

    # --- services -----------------------------------------------------------------------------
    def _srv_reset(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        if not self.robot.simulated and not self._armed:
            res.success, res.message = False, "arm first: reset moves the real arm home"
            return res
        if not self.loop_running:
            res.success, res.message = False, f"robot loop stopped ({self._loop_error}): recover"
            return res
        # A thread-safe backend moves home beside the state loop (which keeps publishing); an
        # e-stop or disarm meanwhile latches without this lock and ends the move.
        lock = contextlib.nullcontext() if self.robot.thread_safe else self._lock
        estops = self._estops
        self._resetting.set()
        try:
            with lock:
                self.robot.reset()
                self._reset_task()
        except Exception as err:  # noqa: BLE001 - reported to the caller
            res.success, res.message = False, f"reset failed: {err}"
            return res
        finally:
            self._resetting.clear()
            if self._estops != estops:  # a reset that recovers (the twin's) must not clear it
                self.robot.safety.estop("estop service during reset")
        res.success, res.message = True, f"reset (next seed {self._seed})"
        return res

    def _srv_arm(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        if not self.loop_running:
            res.success = False
            res.message = f"robot loop stopped ({self._loop_error}); call 'recover'"
            return res
        if self.robot.safety.estopped:
            res.success = False
            res.message = f"e-stop latched ({self.robot.safety.estop_reason}); call 'recover'"
            return res
        if self._resetting.is_set():
            res.success, res.message = False, "resetting: arm when the reset is done"
            return res
        with self._lock:
            self.robot.hold()
            self._armed = True
        self._publish_armed()
        res.success, res.message = True, "armed: commands are accepted"
        return res

    def _hold_if_free(self) -> None:
        """Hold the pose unless a long call holds the lock (it ends at the latch/disarm)."""
        if self._lock.acquire(timeout=0.2):
            try:
                self.robot.hold()
            except Exception as err:  # noqa: BLE001 - the latch already stopped commands
                self.get_logger().warning(f"hold failed: {err}")
            finally:
                self._lock.release()

    def _srv_disarm(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        self._armed = False
        self._publish_armed()
        if self._resetting.is_set() and not self.robot.simulated:
            # a real arm's move home is motion the operator no longer allows
            self.robot.safety.estop("disarmed during reset")
        self._hold_if_free()
        res.success, res.message = True, "disarmed: holding pose, commands refused"
        return res

    def _srv_estop(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        self._estops += 1
        self.robot.safety.estop("estop service")  # a flag: no lock, served at any moment
        self._armed = False
        self._publish_armed()
        self._hold_if_free()
        res.success, res.message = True, "e-stop latched: call 'recover', then 'arm'"
        return res

    def _srv_recover(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        try:
            with self._lock:
                self.robot.recover()
        except Exception as err:  # noqa: BLE001 - reported to the caller
            res.success, res.message = False, f"recover failed: {err}"
            return res
        if not self._thread.is_alive() and not self._stop.is_set():
            self._start_loop()
            self.get_logger().info("robot loop restarted")
        res.success, res.message = True, "recovered: call 'arm' to accept commands"
        return res

    # --- status -------------------------------------------------------------------------------
    def _publish_armed(self) -> None:
        self.pub_armed.publish(Bool(data=self._armed))

    def _publish_diagnostics(self) -> None:
        safety = self.robot.safety
        loop = self._loop_error and f"robot loop stopped: {self._loop_error}"
        status = DiagnosticStatus(
            level=DiagnosticStatus.ERROR if safety.estopped or loop else DiagnosticStatus.OK,
            name="robolearn/robot_bridge",
            message=loop or safety.estop_reason or ("armed" if self._armed else "disarmed"),
            hardware_id=self.config.backend,
        )
        values = {
            "armed": self._armed,
            "loop_running": self.loop_running,
            "resetting": self._resetting.is_set(),
            "estopped": safety.estopped,
            "rejected_commands": self._rejected,
            "last_reject_reason": self._last_reject_reason,
            "publish_hz_achieved": round(self._achieved_hz, 1),
            "watchdog_holding": safety.holding,
        }
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)

    @property
    def armed(self) -> bool:
        return self._armed

    def destroy_node(self) -> None:
        # Also called by rclpy's context shutdown on a node whose __init__ failed part-way.
        if hasattr(self, "_stop"):
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(timeout=2.0)
        if hasattr(self, "robot"):
            with self._lock:
                self.robot.close()
        super().destroy_node()


def _task_state_msg(objects: dict[str, np.ndarray]) -> Float64MultiArray:
    """Object state as a flat array; each key is one labelled dimension (self-describing)."""
    msg = Float64MultiArray()
    data: list[float] = []
    for key, value in objects.items():
        flat = np.asarray(value, dtype=np.float64).ravel()
        msg.layout.dim.append(MultiArrayDimension(label=key, size=flat.size, stride=flat.size))
        data.extend(flat.tolist())
    msg.data = data
    return msg


def objects_from_task_state(msg: Float64MultiArray) -> dict[str, np.ndarray]:
    """Inverse of the bridge's task_state encoding."""
    out: dict[str, np.ndarray] = {}
    data = np.asarray(msg.data, dtype=np.float64)
    offset = 0
    for dim in msg.layout.dim:
        out[dim.label] = data[offset : offset + dim.size].copy()
        offset += dim.size
    return out


def make_executor(node: RobotBridge) -> Executor:
    """The bridge's executor: two threads, so e-stop and disarm (their own callback group) are
    served while a long call (reset, recover) runs in the other."""
    executor = MultiThreadedExecutor(num_threads=2, context=node.context)
    executor.add_node(node)
    return executor


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `robot_bridge` (`--ros-args -p backend:=twin ...`)."""
    args = list(sys.argv if argv is None else argv)
    if not any("backend:=franka" in a for a in args):
        restrict_discovery_to_localhost()
    rclpy.init(args=args)
    node = None
    try:
        node = RobotBridge()
        executor = make_executor(node)
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
