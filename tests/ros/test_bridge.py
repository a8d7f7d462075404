"""The twin bridge in one process, a client in another, over real DDS on loopback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray

from robolearn.ros import codecs
from tests.ros.conftest import ClientHarness, ros_env, stop


def _ensure_disarmed(h: ClientHarness) -> None:
    h.client.call("recover")
    h.client.call("disarm")
    h.wait_for(lambda: not h.client.armed, what="disarmed")


def _pose(h: ClientHarness) -> np.ndarray:
    return h.client.state().ee_pos


def _wait_still(h: ClientHarness) -> None:
    """Let the arm settle (a hold taken while moving rings for about a second)."""
    h.wait_for(
        lambda: np.linalg.norm(h.client.state().ee_twist[:3]) < 2e-4,
        timeout=20,
        what="the arm at rest",
    )


def test_state_streams_arrive_with_consistent_content(harness: ClientHarness) -> None:
    state = harness.client.state()
    assert state.q.shape == (7,) and np.all(np.isfinite(state.q))
    assert abs(np.linalg.norm(state.ee_quat) - 1) < 1e-6
    assert 0.0 <= state.gripper_width <= 0.081
    objects = harness.client.objects()
    assert set(objects) == {"cube_pos", "cube_quat"}
    assert objects["cube_pos"].shape == (3,)


def test_commands_are_refused_until_armed(harness: ClientHarness) -> None:
    h = harness
    _ensure_disarmed(h)
    _wait_still(h)
    before = _pose(h)
    for _ in range(10):
        h.client.send_target(before + np.array([0.0, 0.05, 0.0]), h.client.state().ee_quat)
        time.sleep(0.05)
    time.sleep(0.3)
    assert np.linalg.norm(_pose(h) - before) < 1e-3


def test_armed_targets_move_the_arm_through_the_safety_layer(harness: ClientHarness) -> None:
    h = harness
    _ensure_disarmed(h)
    assert h.client.call("arm").success
    h.wait_for(lambda: h.client.armed, what="armed latched topic")
    start = _pose(h)
    goal = start + np.array([0.0, 0.04, -0.03])
    for _ in range(30):
        h.client.send_target(goal, h.client.state().ee_quat)
        time.sleep(0.1)
    assert np.linalg.norm(_pose(h) - goal) < 0.005
    # A far target is limited to one 1 cm step from the measured pose per command.
    here = _pose(h)
    h.client.send_target(here + np.array([0.0, 0.0, 0.3]), h.client.state().ee_quat)
    time.sleep(0.15)
    assert np.linalg.norm(_pose(h) - here) < 0.0125
    h.client.call("disarm")


def _diagnostic(h: ClientHarness, key: str) -> str:
    h.wait_for(lambda: h.diagnostics, timeout=5, what="diagnostics")
    latest: DiagnosticArray = h.diagnostics[-1]
    return {kv.key: kv.value for kv in latest.status[0].values}[key]


def test_malformed_targets_are_rejected_and_cause_no_motion(harness: ClientHarness) -> None:
    h = harness
    _ensure_disarmed(h)
    assert h.client.call("arm").success
    _wait_still(h)
    before = _pose(h)
    quat = h.client.state().ee_quat
    bad = [
        (np.array([np.nan, 0.0, 0.3]), quat, codecs.BASE_FRAME, "NaN or inf"),
        (before + 0.01, quat * 2.0, codecs.BASE_FRAME, "not unit length"),
        (before + 0.01, quat, "world", "is not the base frame"),
        (before + 0.01, quat, "", "is not the base frame"),
    ]
    # Each kind, freshly stamped, until the bridge reports refusing it (the target topic keeps
    # only the newest message, so a burst is not counted one by one on a loaded machine).
    for position, q, frame, reason in bad:
        rejected = int(_diagnostic(h, "rejected_commands"))
        deadline = time.monotonic() + 10.0
        while not (
            int(_diagnostic(h, "rejected_commands")) > rejected
            and reason in _diagnostic(h, "last_reject_reason")
        ):
            assert time.monotonic() < deadline, f"no refusal '{reason}' reported"
            stamp = h.node.get_clock().now().to_msg()
            h.client.pub_target.publish(codecs.pose_msg(position, q, stamp, frame))
            time.sleep(0.05)
    time.sleep(0.3)
    assert np.linalg.norm(_pose(h) - before) < 5e-4
    h.client.call("disarm")


def test_estop_latches_until_recover(harness: ClientHarness) -> None:
    h = harness
    _ensure_disarmed(h)
    assert h.client.call("arm").success
    assert h.client.call("estop").success
    h.wait_for(lambda: not h.client.armed, what="disarmed by e-stop")
    refused = h.client.call("arm")
    assert not refused.success and "e-stop" in refused.message
    _wait_still(h)
    before = _pose(h)
    h.client.send_target(before + np.array([0.0, 0.0, -0.05]), h.client.state().ee_quat)
    time.sleep(0.3)
    assert np.linalg.norm(_pose(h) - before) < 5e-4
    assert h.client.call("recover").success
    assert h.client.call("arm").success
    h.client.call("disarm")


PUBLISHER = textwrap.dedent(
    """
    import time, numpy as np, rclpy
    from robolearn.ros.client import RobotClient
    rclpy.init()
    node = rclpy.create_node("doomed_publisher")
    client = RobotClient(node, max_age=1.0)
    t0 = time.monotonic()
    while True:
        rclpy.spin_once(node, timeout_sec=0.0)
        try:
            s = client.state()
        except Exception:
            continue
        # Keep the arm moving: always 1 cm ahead along +y, sweeping back and forth.
        direction = 1.0 if int((time.monotonic() - t0) / 1.5) % 2 == 0 else -1.0
        client.send_target(s.ee_pos + np.array([0.0, 0.01 * direction, 0.0]), s.ee_quat)
        print("sent", flush=True)
        time.sleep(0.05)
    """
)


def test_killed_command_publisher_leaves_the_arm_holding(harness: ClientHarness) -> None:
    h = harness
    _ensure_disarmed(h)
    assert h.client.call("arm").success
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER], env=ros_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        h.wait_for(
            lambda: np.linalg.norm(h.client.state().ee_twist[:3]) > 0.03,
            timeout=60,
            what="the arm moving under the doomed publisher",
        )
        proc.kill()  # SIGKILL mid-motion
        proc.wait()
        # Watchdog (0.25 s) plus settling (about 1 s of robot time); the wall-clock bound is
        # loose because a loaded machine runs the real-time twin slower.
        h.wait_for(
            lambda: np.linalg.norm(h.client.state().ee_twist[:3]) < 1e-3,
            timeout=10.0,
            what="the arm holding after the watchdog timeout",
        )
        held = _pose(h)
        time.sleep(0.5)
        assert np.linalg.norm(_pose(h) - held) < 1e-3
    finally:
        stop(proc)
        h.client.call("disarm")
