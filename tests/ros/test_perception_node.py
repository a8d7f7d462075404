"""fiducial_perception over DDS against the twin as ground truth.

A twin `robot_bridge` on pick_cube with the ArUco marker of hardware/fiducials.yaml painted on
the cube publishes its wrist camera (480x640, the calibrated size of hardware/cameras.yaml, whose
wrist entry is the twin's own mount) and its own task_state/task_success. `fiducial_perception`
runs under /perceived, reads the bridge's frames and robot state, and publishes the perceived
task_state/task_success there. The cube is placed by the test (resting, and held in the air by
an applied force equal to its weight, so a lifted cube stays in the wrist camera's view: a cube
lifted by the gripper hides its top marker under the hand) with the arm at home and moved.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from std_msgs.msg import Bool, Float64MultiArray

from robolearn.arena.calibrate import load_cameras
from robolearn.arena.geometry import pose_from_quat, rotation_angle
from robolearn.arena.perception import PerceptionError
from robolearn.arena.reconstruct import camera_in_base
from robolearn.robot.transforms import quat_mul
from robolearn.ros import qos
from robolearn.ros.client import RobotClient
from robolearn.ros.perception_node import FiducialPerceptionNode
from robolearn.ros.robot_bridge import RobotBridge, objects_from_task_state
from robolearn.sim.scene import TASK_PREFIX
from robolearn.sim.tasks.base import quat_yaw, set_free_body, yaw_quat
from robolearn.sim.tasks.pick_cube import CUBE_HALF
from tests.ros.conftest import ros_env

# Measured on these scenes (README, stage 1): position error <= 0.9 mm, heading and full
# orientation <= 0.4 deg over repeated runs; the bounds leave margin for other renderers and a
# loaded machine's arm pose (the moved arm stops within 2 mm of its goal).
POS_TOL = 0.003
YAW_TOL_DEG = 2.0
ROT_TOL_DEG = 2.0


@dataclass
class Graph:
    bridge: RobotBridge
    perception: FiducialPerceptionNode
    truth: RobotClient
    perceived: list[tuple[float, dict[str, np.ndarray]]]
    perceived_success: list[tuple[float, bool]]


@pytest.fixture(scope="module")
def graph() -> Iterator[Graph]:
    context = rclpy.Context()
    rclpy.init(context=context)
    bridge = RobotBridge(context=context, task="pick_cube", seed=3, publish_hz=100.0,
                         camera_hz=5.0, cameras=["wrist"], image_height=480, image_width=640,
                         paint_markers="default", armed_on_start=True)  # fmt: skip
    perception = FiducialPerceptionNode(context=context, namespace="/perceived",
                                        task="pick_cube", camera="wrist", robot_namespace="/",
                                        rate_hz=10.0)  # fmt: skip
    probe = rclpy.create_node("probe", context=context)
    truth = RobotClient(probe, "", max_age=2.0)
    g = Graph(bridge, perception, truth, [], [])
    probe.create_subscription(
        Float64MultiArray, "/perceived/task_state",
        lambda m: g.perceived.append((time.monotonic(), objects_from_task_state(m))), qos.SENSOR,
    )  # fmt: skip
    probe.create_subscription(
        Bool, "/perceived/task_success",
        lambda m: g.perceived_success.append((time.monotonic(), bool(m.data))), qos.SENSOR,
    )  # fmt: skip
    executor = MultiThreadedExecutor(num_threads=3, context=context)
    for node in (bridge, perception, probe):
        executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    _wait(lambda: truth.state() is not None and truth.has("task_state"), "the bridge")
    yield g
    executor.shutdown(timeout_sec=1.0)
    for node in (perception, probe, bridge):
        node.destroy_node()
    rclpy.shutdown(context=context)


def _wait(predicate, what: str, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _place_cube(g: Graph, offset_xy: tuple[float, float], height: float, yaw: float) -> float:
    """Put the cube (centre `height` above the table) where the wrist camera's optical axis
    meets its top face, shifted by `offset_xy`; hold it there against gravity. Returns the
    time of placement."""
    state = g.truth.state()
    cam = camera_in_base(load_cameras()["wrist"], pose_from_quat(state.ee_pos, state.ee_quat))
    origin, axis = cam[:3, 3], cam[:3, 2]
    top = height + CUBE_HALF
    hit = origin + axis * (top - origin[2]) / axis[2]
    pos = np.array([hit[0] + offset_xy[0], hit[1] + offset_xy[1], height])
    robot = g.bridge.robot
    with g.bridge._lock:  # the bridge's loop thread steps the same MuJoCo data
        body = robot.model.body(TASK_PREFIX + "cube").id
        weight = robot.model.body_subtreemass[body] * robot.model.opt.gravity
        robot.data.xfrc_applied[body, :3] = -weight
        set_free_body(robot, "cube_joint", pos, yaw_quat(yaw))
    return time.monotonic()


def _move_arm(g: Graph, dpos: np.ndarray, dyaw: float) -> None:
    start = g.truth.state()
    goal = start.ee_pos + dpos
    quat = quat_mul(yaw_quat(dyaw), start.ee_quat)
    deadline = time.monotonic() + 20.0
    while np.linalg.norm(g.truth.state().ee_pos - goal) > 0.002:
        assert time.monotonic() < deadline, "the arm did not reach its goal"
        g.truth.send_target(goal, quat)
        time.sleep(0.05)
    time.sleep(0.5)  # settle


def _compare(g: Graph, since: float, n: int = 3) -> tuple[float, float, float, bool, bool]:
    """Wait for `n` perceived states after `since` + settling; the largest position (m),
    heading and full orientation (deg) errors against the twin's own task_state, and both
    success flags."""
    settle = since + 0.6
    _wait(lambda: sum(t > settle for t, _ in g.perceived) >= n, "perceived task_state")
    _wait(lambda: any(t > settle for t, _ in g.perceived_success), "perceived task_success")
    truth = g.truth.objects()
    pos_err, yaw_err, rot_err = 0.0, 0.0, 0.0
    for _, est in [p for p in g.perceived if p[0] > settle][:n]:
        assert list(est) == list(truth) == ["cube_pos", "cube_quat"]  # the bridge's layout
        pos_err = max(pos_err, float(np.linalg.norm(est["cube_pos"] - truth["cube_pos"])))
        e = pose_from_quat(est["cube_pos"], est["cube_quat"])
        t = pose_from_quat(truth["cube_pos"], truth["cube_quat"])
        rot_err = max(rot_err, float(np.degrees(rotation_angle(e, t))))
        dyaw = quat_yaw(est["cube_quat"]) - quat_yaw(truth["cube_quat"])
        yaw_err = max(yaw_err, abs(float(np.degrees(np.arctan2(np.sin(dyaw), np.cos(dyaw))))))
    perceived_success = [s for t, s in g.perceived_success if t > settle][-1]
    return pos_err, yaw_err, rot_err, perceived_success, g.truth.task_success()


# (arm move: dpos, dyaw), (cube: offset_xy, centre height, yaw), expected success
SCENES = [
    (((0.0, 0.0, 0.0), 0.0), ((0.0, 0.0), CUBE_HALF, 0.3), False),
    (((0.05, 0.04, -0.06), 0.3), ((0.02, -0.015), CUBE_HALF, -0.4), False),
    (((0.0, 0.0, 0.0), 0.0), ((-0.01, 0.01), 0.09, 0.2), True),  # lifted 7 cm
    (((0.0, 0.0, 0.0), 0.0), ((0.0, 0.0), 0.055, -0.1), False),  # lifted 3.5 cm (< 5 cm)
]


def test_perceived_cube_and_success_match_the_twin(graph: Graph) -> None:
    for (dpos, dyaw), (offset, height, yaw), expected in SCENES:
        if any(dpos) or dyaw:
            _move_arm(graph, np.asarray(dpos), dyaw)
        placed = _place_cube(graph, offset, height, yaw)
        pos_err, yaw_err, rot_err, perceived, twin = _compare(graph, placed)
        print(f"scene h={height} yaw={yaw}: {1000 * pos_err:.2f} mm, heading {yaw_err:.2f}"
              f" deg, rotation {rot_err:.2f} deg,"
              f" success perceived={perceived} twin={twin}")  # fmt: skip
        assert twin == expected, "the scene is not what the test meant to build"
        assert perceived == twin
        assert pos_err < POS_TOL, f"cube position off by {1000 * pos_err:.1f} mm"
        assert yaw_err < YAW_TOL_DEG, f"cube heading off by {yaw_err:.1f} deg"
        assert rot_err < ROT_TOL_DEG, f"cube orientation off by {rot_err:.1f} deg"


def test_nothing_is_published_when_the_marker_is_not_seen(graph: Graph) -> None:
    _place_cube(graph, (0.0, 0.0), CUBE_HALF, 0.0)
    _compare(graph, time.monotonic())
    # Out of the wrist camera's view: the bridge keeps its task_state, perception goes quiet.
    gone = _place_cube(graph, (0.0, 0.45), CUBE_HALF, 0.0)
    time.sleep(2.0)
    late = [t for t, _ in graph.perceived if t > gone + 0.5]
    assert late == [], f"{len(late)} task_state messages without a visible marker"
    assert graph.truth.objects()["cube_pos"][1] > 0.3  # the twin does report the cube there


def test_tasks_markers_cannot_perceive_fail_at_start() -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(PerceptionError, match="insertion depth"):
            FiducialPerceptionNode(context=context, task="peg_insert")
        with pytest.raises(PerceptionError, match="virtual goal"):
            FiducialPerceptionNode(context=context, task="reach")
        with pytest.raises(PerceptionError, match="not in the cameras file"):
            FiducialPerceptionNode(context=context, camera="ceiling")
    finally:
        rclpy.shutdown(context=context)
    # the console script exits with the reason, not a traceback
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "fiducial_perception"), "--ros-args",
         "-p", "task:=peg_insert"],
        capture_output=True, text=True, env=ros_env(), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "task 'peg_insert' cannot be perceived from fiducials" in proc.stderr
    assert "Traceback" not in proc.stderr
