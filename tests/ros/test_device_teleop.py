"""`device_teleop` over DDS: a SpaceMouse (the real pyspacemouse over a fake USB HID device)
drives the twin `robot_bridge` while the `recorder` node records it into a zarr dataset."""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from std_msgs.msg import String

from robolearn.data.schema import ActionSource
from robolearn.data.store import EpisodeStore
from robolearn.robot.limits import load_limits
from robolearn.ros import qos
from robolearn.ros.device_teleop_node import DeviceTeleopNode, parse_device_options
from robolearn.ros.recorder_node import Recorder
from robolearn.ros.robot_bridge import RobotBridge
from robolearn.teleop import TeleopError
from tests.teleop.test_spacemouse import FakeHidDevice

FULL_SCALE = 350  # HID counts of full deflection (pyspacemouse's axis_scale)
REPORT_PERIOD = 0.008  # a SpaceMouse reports at ~125 Hz while its cap is off-centre
PUSH_COUNTS = -300  # HID y < 0: pushed away from the operator -> +x of the robot base
# A SpaceMouse Wireless has two buttons: here they start/stop and mark success (reach needs
# no gripper), as an operator would set them up.
OPTIONS = {"close_button": None, "open_button": None,
           "event_buttons": {"0": "start_stop", "1": "success"}}  # fmt: skip


class SpaceMouseHid(FakeHidDevice):
    """The USB HID device under pyspacemouse, behaving like a SpaceMouse in time: motion reports
    stream every few milliseconds while the cap is deflected (one per `read`, as the OS queues
    them), one centred report on release, button reports on press and release; unplugged, a read
    fails like hidapi's."""

    def __init__(self) -> None:
        super().__init__()
        self.deflection: dict[str, int] = {}
        self.unplugged = False
        self._due = 0.0
        self._lock = threading.Lock()

    def hold(self, **counts: int) -> None:
        with self._lock:
            self.deflection = counts
            self._due = time.monotonic()

    def release(self) -> None:
        with self._lock:
            self.deflection = {}
            self.motion()

    def press(self, button: int) -> None:
        with self._lock:
            self.buttons(1 << button)
            self.buttons(0)

    def read(self, size: int = 64, timeout: int | None = None) -> bytes:
        with self._lock:
            if self.unplugged:
                raise OSError("Failed to read from HID device: -1")
            if self.reports:
                return self.reports.popleft()
            now = time.monotonic()
            if self.deflection and now >= self._due:
                self._due = max(self._due, now - 64 * REPORT_PERIOD) + REPORT_PERIOD
                self.motion(**self.deflection)
                return self.reports.popleft()
            return b""


@pytest.fixture
def hid(monkeypatch: pytest.MonkeyPatch) -> SpaceMouseHid:
    """One SpaceMouse Wireless on the (fake) USB bus that pyspacemouse enumerates."""
    api = importlib.import_module("pyspacemouse.api")
    device = SpaceMouseHid()

    class Enumeration:
        device_list = [device]

        def find(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - easyhid's shape
            return [device]

    monkeypatch.setattr(api, "Enumeration", Enumeration)
    return device


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_spacemouse_teleoperates_the_twin_and_the_recorder_records_it(
    tmp_path: Path, hid: SpaceMouseHid
) -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    nodes: list = []
    executor = SingleThreadedExecutor(context=context)
    spin_errors: list[BaseException] = []

    def spin() -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass
        except Exception as err:  # noqa: BLE001 - a callback raised out of the executor
            spin_errors.append(err)

    try:
        bridge = RobotBridge(context=context, task="reach", publish_hz=100.0, armed_on_start=True)
        nodes.append(bridge)
        recorder = Recorder(context=context, out=str(tmp_path / "demos"), task="reach",
                            operator="tester")  # fmt: skip
        nodes.append(recorder)
        teleop = DeviceTeleopNode(
            context=context, device="spacemouse", device_options=json.dumps(OPTIONS), rate_hz=10.0
        )
        nodes.append(teleop)
        probe = rclpy.create_node("probe", context=context)
        nodes.append(probe)
        targets: list[PoseStamped] = []
        events: list[str] = []
        probe.create_subscription(PoseStamped, "cartesian_target", targets.append, qos.COMMAND)
        probe.create_subscription(
            String, "teleop/event", lambda m: events.append(m.data), qos.COMMAND
        )
        for node in nodes:
            executor.add_node(node)
        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()

        assert hid.is_open  # the node opened the SpaceMouse through pyspacemouse
        wait_for(lambda: recorder.client.objects() is not None, "the bridge's task state")
        # Messages published before DDS matches publisher and subscriber are not delivered.
        wait_for(lambda: teleop.pub_event.get_subscription_count() >= 2, "event discovery")
        wait_for(lambda: teleop.pub_action.get_subscription_count() >= 1, "action discovery")
        wait_for(lambda: teleop.steps_published >= 2, "hands-off steps")
        assert teleop.targets_sent == 0  # hands-off: no command, the bridge holds the pose
        start = teleop.client.state().ee_pos.copy()

        # Episode 1: start, push away (+x) for a while, let go, mark success.
        hid.press(0)
        wait_for(lambda: teleop.recording and recorder.recorded_steps >= 2, "recording")
        hid.hold(y=PUSH_COUNTS)
        wait_for(lambda: teleop.targets_sent >= 15, "15 engaged steps", timeout=20)
        hid.release()
        pushed = teleop.targets_sent
        after_release = teleop.steps_published
        wait_for(lambda: teleop.steps_published >= after_release + 5, "steps after release")
        assert teleop.targets_sent <= pushed + 1  # at most the tick in flight at the release
        pushed = teleop.targets_sent
        moved = teleop.client.state().ee_pos - start
        hid.press(1)
        wait_for(lambda: recorder.committed == [True], "the episode committed")

        # Episode 2: the SpaceMouse is unplugged while pushed: commands stop, episode dropped.
        hid.press(0)
        wait_for(lambda: recorder.recorded_steps >= 2 and teleop.recording, "episode 2")
        hid.hold(y=PUSH_COUNTS)
        sent = teleop.targets_sent
        wait_for(lambda: teleop.targets_sent >= sent + 3, "engaged again")
        hid.unplugged = True
        wait_for(teleop.done.is_set, "the node to stop on the device error", timeout=5)
        wait_for(lambda: events[-1:] == ["discard"], "the episode discarded", timeout=5)
        time.sleep(0.3)  # a target published just before the error may still be in flight
        n_targets, held = len(targets), teleop.client.state().ee_pos.copy()
        time.sleep(1.0)  # ten control periods
        assert len(targets) == n_targets, "commands kept coming after the device error"
        drift = np.linalg.norm(teleop.client.state().ee_pos - held)
        assert spinner.is_alive() and not spin_errors, spin_errors
    finally:
        executor.shutdown(timeout_sec=1.0)
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.shutdown(context=context)

    assert "lost the SpaceMouse" in teleop.error
    assert not hid.is_open  # released on the error
    assert events == ["start", "success", "start", "discard"]
    assert drift < 0.005, f"the arm moved {drift:.4f} m after the commands stopped"
    # The arm went +x by about what the engaged steps asked for (reference limiting bounds each
    # step to max_translation_step from the measured pose), and barely sideways.
    step = load_limits().safety.max_translation_step
    deflection = (abs(PUSH_COUNTS) / FULL_SCALE - 0.1) / 0.9  # the default deadband is 0.1
    assert 0.5 * pushed * step * deflection < moved[0] <= pushed * step + 0.01, (moved, pushed)
    assert np.all(np.abs(moved[1:]) < 0.02), moved

    with EpisodeStore.open(tmp_path / "demos") as store:
        assert store.n_episodes == 1 and store.validate() == []
        meta = store.episode_meta(0)
        assert meta.success and meta.operator == "tester" and meta.task == "reach"
        ep = store.episode(0)
    action = ep["action"]
    assert np.all(ep["action_source"] == ActionSource.HUMAN)
    engaged = action[:, 0] > 0.0
    assert engaged.sum() >= 10  # the pushed steps (a few may straddle the recorder's start)
    np.testing.assert_allclose(action[engaged, 0], deflection, atol=1e-5)
    assert not np.any(action[~engaged, :6])  # hands-off steps: zero motion
    assert np.allclose(action[:, 1:6], 0.0, atol=1e-6)
    assert np.all(action[:, 6] == -1.0)  # the gripper as measured: open, never commanded
    assert (~engaged).sum() >= 3  # hands-off steps before the push and after the release
    assert ep["terminated"][-1] and not ep["terminated"][:-1].any()


def test_a_missing_spacemouse_fails_at_start_with_what_to_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = importlib.import_module("pyspacemouse.api")

    class NothingPlugged:
        device_list: list = []

        def find(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - easyhid's shape
            return []

    monkeypatch.setattr(api, "Enumeration", NothingPlugged)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(TeleopError, match="cannot open the SpaceMouse.*hidraw"):
            DeviceTeleopNode(context=context, device="spacemouse")
        with pytest.raises(ValueError, match="not a human device.*scripted_teleop"):
            DeviceTeleopNode(context=context, device="scripted")
        with pytest.raises(ValueError, match="unknown device 'joystick'.*gamepad"):
            DeviceTeleopNode(context=context, device="joystick")
    finally:
        rclpy.shutdown(context=context)


def test_device_options_json_becomes_the_device_config() -> None:
    options = parse_device_options("spacemouse", json.dumps(OPTIONS))
    assert options["event_buttons"] == {0: "start_stop", 1: "success"}  # int button indices
    assert options["close_button"] is None
    assert parse_device_options("gamepad", "") == {}
    with pytest.raises(ValueError, match="no option 'deadzone'; valid: .*deadband"):
        parse_device_options("gamepad", '{"deadzone": 0.2}')
    with pytest.raises(ValueError, match="JSON object"):
        parse_device_options("keyboard", "[1, 2]")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_device_options("keyboard", "{deadband: 1}")
