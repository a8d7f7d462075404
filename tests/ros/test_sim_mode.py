"""The sim-only mode: `robolearn up sim`, the /clock mode, and localhost-only discovery."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from rosgraph_msgs.msg import Clock

from robolearn.ros import codecs, qos, restrict_discovery_to_localhost
from tests.ros.conftest import ClientHarness, ros_env, start_bridge, stop


def test_up_sim_runs_bridge_and_scripted_teleop_over_topics() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "robolearn.cli.main", "up", "sim", "--task", "pick_cube",
         "--expert", "--episodes", "2"],
        capture_output=True, text=True, env=ros_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pick_cube over ROS 2 (twin bridge + scripted teleop): success 2/2" in proc.stdout


def test_sim_clock_mode_publishes_clock_and_stamps_with_sim_time() -> None:
    bridge = start_bridge("task:=reach", "clock_mode:=sim", "real_time_factor:=0.0",
                          "publish_hz:=200.0")  # fmt: skip
    h = ClientHarness()
    clocks: list[Clock] = []
    h.node.create_subscription(Clock, "/clock", clocks.append, qos.CLOCK)
    try:
        h.wait_for(lambda: len(clocks) > 20, timeout=60, what="/clock messages")
        wall0, sim0 = time.monotonic(), codecs.from_time(clocks[-1].clock)
        time.sleep(1.0)
        wall1, sim1 = time.monotonic(), codecs.from_time(clocks[-1].clock)
        assert sim1 > sim0  # sim time advances, published on /clock
        state = h.client.state()
        # joint_states/ee_pose are stamped with the twin's time, not the wall clock
        assert abs(state.timestamp - sim1) < 1.0 + (sim1 - sim0)
        assert state.timestamp < 1e6
        print(f"sim/wall speed: {(sim1 - sim0) / (wall1 - wall0):.2f}x")
    finally:
        h.close()
        stop(bridge)


def test_sim_entry_points_restrict_discovery_to_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE", raising=False)
    restrict_discovery_to_localhost()
    import os

    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    # A user's explicit choice is kept.
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    restrict_discovery_to_localhost()
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"


def test_bridge_main_restricts_discovery_unless_backend_is_franka(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from robolearn.ros import robot_bridge

    class Stop(Exception):
        pass

    def fake_init(args: list[str]) -> None:
        raise Stop(os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE"))

    monkeypatch.setattr(robot_bridge.rclpy, "init", fake_init)
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE", raising=False)
    with pytest.raises(Stop, match="LOCALHOST"):
        robot_bridge.main(["robot_bridge", "--ros-args", "-p", "task:=reach"])
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE", raising=False)
    with pytest.raises(Stop, match="None"):
        robot_bridge.main(["robot_bridge", "--ros-args", "-p", "backend:=franka"])
