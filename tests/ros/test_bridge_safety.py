"""The bridge serves e-stop and disarm at any moment, refuses stale and unstamped targets,
survives a gripper fault, and does not pretend to run when its state loop died: in-process over
DDS, with the executor `main()` uses.

A real arm's reset is a move home of several seconds that ends when the e-stop latches
(`FrankaRobot.reset` polls the latch). The twin's reset is instant, so these tests give the twin
bridge a reset that behaves like the Franka's: it runs until the latch (or 20 s) and, like
`FrankaRobot`, it is declared thread-safe, so it runs beside the state loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from robolearn.robot.safety import EStopError
from robolearn.ros import codecs, qos
from robolearn.ros.robot_bridge import RobotBridge, make_executor

LONG_MOVE_S = 20.0


class Rig:
    """A twin bridge spun by `make_executor` and a probe node in its own executor."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.bridge = RobotBridge(context=self.context, task="reach", publish_hz=100.0)
        self.probe = rclpy.create_node("probe", context=self.context)
        self.joint_states = 0
        self.probe.create_subscription(codecs.JointState, "joint_states", self._count, qos.SENSOR)
        self.gripper_pub = self.probe.create_publisher(Float64, "gripper_command", qos.COMMAND)
        self.target_pub = self.probe.create_publisher(PoseStamped, "cartesian_target", qos.TARGET)
        self.clients = {
            name: self.probe.create_client(Trigger, name)
            for name in ("reset", "arm", "disarm", "estop", "recover")
        }
        self.spin_errors: list[BaseException] = []
        self.executors = [make_executor(self.bridge), SingleThreadedExecutor(context=self.context)]
        self.executors[1].add_node(self.probe)
        self.threads = [
            threading.Thread(target=self._spin, args=(e,), daemon=True) for e in self.executors
        ]
        for t in self.threads:
            t.start()
        for name, client in self.clients.items():
            assert client.wait_for_service(timeout_sec=30), f"service {name} never appeared"

    def _count(self, _msg: Any) -> None:
        self.joint_states += 1

    def _spin(self, executor: Any) -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass
        except Exception as err:  # noqa: BLE001 - a callback raised out of the executor
            self.spin_errors.append(err)

    def call_async(self, name: str) -> Any:
        return self.clients[name].call_async(Trigger.Request())

    def call(self, name: str, timeout: float = 30.0) -> Trigger.Response:
        future = self.call_async(name)
        wait_for(future.done, timeout, f"the {name} service's answer")
        return future.result()

    def close(self) -> None:
        for executor in self.executors:
            executor.shutdown(timeout_sec=1.0)
        self.probe.destroy_node()
        self.bridge.destroy_node()
        rclpy.shutdown(context=self.context)


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def give_a_long_reset(robot: Any) -> threading.Event:
    """Replace ``robot.reset`` by a move home that runs until the e-stop latches (or 20 s), as
    `FrankaRobot.reset` does; the event is set when it starts."""
    started = threading.Event()

    def long_move_home(joint_positions: Any = None) -> Any:
        started.set()
        deadline = time.monotonic() + LONG_MOVE_S
        while time.monotonic() < deadline:
            if robot.safety.estopped:
                raise EStopError(f"e-stop latched ({robot.safety.estop_reason})")
            time.sleep(0.01)
        return robot.observe()

    robot.reset = long_move_home
    return started


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def test_estop_is_served_while_a_reset_moves_the_arm_and_state_keeps_publishing(rig: Rig):
    robot = rig.bridge.robot
    started = give_a_long_reset(robot)
    robot.thread_safe = True  # as FrankaRobot declares
    assert rig.call("arm").success
    reset = rig.call_async("reset")
    assert started.wait(30), "the reset never started"
    # the state loop is not blocked by the reset
    before = rig.joint_states
    wait_for(lambda: rig.joint_states > before + 5, 10, "joint_states during the reset")
    # targets are refused while resetting; the e-stop is answered while the move runs
    assert not rig.call("arm").success
    answer = rig.call("estop", timeout=10)
    assert answer.success
    wait_for(reset.done, 10, "the reset's answer")
    assert not reset.result().success and "e-stop" in reset.result().message
    assert robot.safety.estopped and not rig.bridge.armed
    refused = rig.call("arm")
    assert not refused.success and "e-stop" in refused.message
    assert not rig.spin_errors


def test_disarm_during_a_real_arms_reset_ends_the_move(rig: Rig):
    robot = rig.bridge.robot
    started = give_a_long_reset(robot)
    robot.thread_safe = True
    robot.simulated = False  # a real arm: only an armed bridge resets it; disarm stops it
    assert not rig.call("reset").success  # disarmed: refused
    assert rig.call("arm").success
    reset = rig.call_async("reset")
    assert started.wait(30)
    assert rig.call("disarm", timeout=10).success
    wait_for(reset.done, 10, "the reset's answer")
    assert not reset.result().success and "disarmed during reset" in reset.result().message


def test_a_dead_state_loop_refuses_arm_until_recover_runs_it_again(rig: Rig):
    robot = rig.bridge.robot
    real_observe = robot.observe
    fail = threading.Event()

    def observe() -> Any:
        if fail.is_set():
            fail.clear()
            raise RuntimeError("driver lost the robot state")
        return real_observe()

    robot.observe = observe
    fail.set()
    wait_for(lambda: not rig.bridge.loop_running, 10, "the loop to die")
    assert "driver lost the robot state" in rig.bridge.loop_error
    refused = rig.call("arm")
    assert not refused.success and "robot loop stopped" in refused.message
    assert rig.call("recover").success
    assert rig.bridge.loop_running
    before = rig.joint_states
    wait_for(lambda: rig.joint_states > before + 5, 10, "joint_states after recover")
    assert rig.call("arm").success
    assert not rig.spin_errors


def test_a_gripper_fault_is_reported_and_the_bridge_keeps_serving(rig: Rig):
    robot = rig.bridge.robot

    def faulty_gripper(command: Any) -> None:
        raise RuntimeError("the previous gripper command failed: grasp failed")

    robot.gripper = faulty_gripper
    assert rig.call("arm").success
    rig.gripper_pub.publish(Float64(data=0.02))
    wait_for(lambda: "gripper command failed" in rig.bridge._last_reject_reason, 10,
             "the gripper fault reported")  # fmt: skip
    assert not rig.spin_errors
    assert rig.call("disarm").success  # still serving


def test_stale_unstamped_and_future_targets_are_refused_fresh_ones_move_the_arm(rig: Rig):
    """A target is acted on only while it is fresh (target_max_age, 0.1 s by default): after a
    blocking callback or a network stall an old target must not move the arm."""
    bridge = rig.bridge
    assert rig.call("arm").success
    start = bridge.robot.observe().ee_pos.copy()
    goal = start + np.array([0.0, 0.03, 0.0])
    quat = bridge.robot.observe().ee_quat
    now = rig.probe.get_clock().now().nanoseconds * 1e-9

    def send(stamp_s: float) -> None:
        rig.target_pub.publish(codecs.pose_msg(goal, quat, codecs.to_time(stamp_s),
                                               codecs.BASE_FRAME))  # fmt: skip

    for stamp, reason in ((now - 0.5, "stale target"), (0.0, "unstamped"), (now + 5.0, "future")):
        before = bridge._rejected
        send(stamp)
        wait_for(lambda b=before: bridge._rejected > b, 10, f"the {reason} target refused")
        assert reason in bridge._last_reject_reason
    time.sleep(0.3)
    assert np.linalg.norm(bridge.robot.observe().ee_pos - start) < 1e-3  # nothing moved
    for _ in range(20):
        send(rig.probe.get_clock().now().nanoseconds * 1e-9)
        time.sleep(0.05)
    assert np.linalg.norm(bridge.robot.observe().ee_pos - start) > 5e-3  # fresh ones do
    assert not rig.spin_errors


def test_every_franka_setting_is_a_bridge_parameter_and_reaches_the_robot(tmp_path):
    """The bridge's franka.* parameters are derived from FrankaConfig (it built its robot from
    a hand-picked subset: mode, impedance_scale, max_joint_velocity, gripper and realtime were
    unreachable from real.launch.py)."""
    import dataclasses

    from robolearn.robot import fake_franka
    from robolearn.robot.franka import FrankaConfig
    from robolearn.ros.robot_bridge import PARAMETERS

    ip = "192.0.2.11"  # TEST-NET-1, served by the in-process fake robot
    fields = [f for f in dataclasses.fields(FrankaConfig) if f.name != "limits_file"]
    assert {f"franka.{f.name}" for f in fields} <= set(PARAMETERS)
    assert "limits_file" in PARAMETERS  # one for every backend
    chosen = {
        "fci_ip": ip, "mode": "torque", "realtime": False, "driver": "robolearn.robot.fake_franka",
        "gripper": False, "gripper_speed": 0.05, "gripper_force": 20.0,
        "tcp_in_flange": [0.0, 0.0, 0.1, 1.0, 0.0, 0.0, 0.0],
    }  # fmt: skip
    for f in fields:  # every other number: half its default
        if f.name not in chosen:
            assert isinstance(f.default, float), f"choose a test value for franka.{f.name}"
            chosen[f.name] = f.default / 2
    served = fake_franka.serve(ip)
    context = rclpy.Context()
    rclpy.init(context=context)
    bridge = None
    try:
        bridge = RobotBridge(
            context=context, backend="franka", publish_hz=50.0,
            **{f"franka.{k}": v for k, v in chosen.items()},
        )  # fmt: skip
        config = bridge.robot.config
        for name, value in chosen.items():
            got = getattr(config, name)
            assert list(got) == value if name == "tcp_in_flange" else got == value, name
        assert bridge.robot.simulated is False and bridge.config.backend == "franka"
    finally:
        if bridge is not None:
            bridge.destroy_node()
        rclpy.shutdown(context=context)
        served.shutdown()
