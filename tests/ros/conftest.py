"""ROS 2 integration fixtures: a robot bridge in its own process, a client node in this one.

Each test session picks its own DDS domain so parallel runs on one machine do not cross-talk,
and discovery stays on localhost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

rclpy = pytest.importorskip("rclpy", reason="the ros extra is part of make test's install")

DOMAIN = str(10 + os.getpid() % 200)
os.environ["ROS_DOMAIN_ID"] = DOMAIN
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


def ros_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = DOMAIN
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return env


def start_bridge(*params: str, namespace: str = "") -> subprocess.Popen:
    args = [sys.executable, "-m", "robolearn.ros.robot_bridge", "--ros-args"]
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen(args, env=ros_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out = proc.stdout.read() if proc.stdout else ""
    return out.decode(errors="replace") if isinstance(out, bytes) else out


class ClientHarness:
    """A node with a `RobotClient`, spun in a background thread."""

    def __init__(self, namespace: str = "") -> None:
        from rclpy.executors import MultiThreadedExecutor

        from robolearn.ros.client import RobotClient

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("test_client", context=self.context)
        self.client = RobotClient(self.node, namespace, max_age=2.0)  # loaded CI machines stall
        from diagnostic_msgs.msg import DiagnosticArray

        from robolearn.ros import qos

        self.diagnostics: list[DiagnosticArray] = []
        self.node.create_subscription(
            DiagnosticArray, "/diagnostics", self.diagnostics.append, qos.COMMAND
        )
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown races
            pass

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except Exception:  # noqa: BLE001 - not there yet
                pass
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture(scope="module")
def bridge() -> Iterator[subprocess.Popen]:
    proc = start_bridge("task:=pick_cube", "publish_hz:=250.0")
    yield proc
    stop(proc)


@pytest.fixture(scope="module")
def harness(bridge: subprocess.Popen) -> Iterator[ClientHarness]:
    h = ClientHarness()
    h.wait_for(lambda: h.client.state() is not None, timeout=60, what="bridge state over DDS")
    # task_state (20 Hz) can be matched a little after the state streams.
    h.wait_for(lambda: h.client.has("task_state"), timeout=10, what="task_state over DDS")
    yield h
    h.close()
