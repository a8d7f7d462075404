"""The SpaceMouse teleoperator against fakes at the USB boundary.

Two fakes: one shaped like the `pyspacemouse` module (open() -> device with read()/close(),
state with t, x, y, z, roll, pitch, yaw, buttons) driven by scripted motion, and the real
pyspacemouse parsing raw HID reports from a fake hidapi device.
"""

import importlib
import sys
from collections import deque
from dataclasses import dataclass, field
from itertools import count

import numpy as np
import pytest

from robolearn.teleop import SpaceMouseConfig, SpaceMouseTeleop, TeleopContext, TeleopError
from robolearn.teleop import TeleopEvent as E
from robolearn.teleop.base import apply_deadband

try:  # the real state types when pyspacemouse is installed
    from pyspacemouse.types import ButtonState, SpaceMouseState
except ImportError:  # the same fields as pyspacemouse 2.1's SpaceMouseState

    class ButtonState(list):
        pass

    @dataclass
    class SpaceMouseState:
        t: float = -1.0
        x: float = 0.0
        y: float = 0.0
        z: float = 0.0
        roll: float = 0.0
        pitch: float = 0.0
        yaw: float = 0.0
        buttons: ButtonState = field(default_factory=lambda: ButtonState([]))


class FakeDevice:
    """Like pyspacemouse's SpaceMouseDevice: each read() consumes at most one queued HID report
    and returns the (mutated in place) state; with nothing queued the state is unchanged."""

    def __init__(self, n_buttons: int = 2) -> None:
        self.state = SpaceMouseState(buttons=ButtonState([0] * n_buttons))
        self.reports: deque[dict] = deque()
        self.closed = False
        self.reads = 0
        self._clock = count(1)
        self.name = "SpaceMouse Wireless (fake)"

    def report(self, **fields) -> None:
        """Queue one HID report: the axes and buttons it carries."""
        self.reports.append(fields)

    def read(self) -> SpaceMouseState:
        self.reads += 1
        if self.reports:
            for key, value in self.reports.popleft().items():
                setattr(self.state, key, ButtonState(value) if key == "buttons" else value)
            self.state.t = float(next(self._clock))
        return self.state

    def close(self) -> None:
        self.closed = True


class FakePySpaceMouse:
    """Shaped like the `pyspacemouse` module's `open()`."""

    def __init__(self, plugged_in: bool = True, n_buttons: int = 2) -> None:
        self.plugged_in = plugged_in
        self.device = FakeDevice(n_buttons)
        self.open_kwargs: dict = {}

    def open(
        self,
        callback=None,
        dof_callback=None,
        dof_callbacks=None,
        button_callback=None,
        button_callbacks=None,
        nonblocking=True,
        device=None,
        device_index=0,
        device_spec=None,
        axis_convention=None,
    ) -> FakeDevice:
        self.open_kwargs = {"device": device, "axis_convention": axis_convention}
        if not self.plugged_in:
            raise RuntimeError("No connected or supported devices found.")
        return self.device


@pytest.fixture
def mouse():
    backend = FakePySpaceMouse(n_buttons=4)
    config = SpaceMouseConfig(event_buttons={2: "start_stop", 3: "success"})
    with SpaceMouseTeleop(config, backend=backend) as teleop:
        yield teleop, backend.device
    assert backend.device.closed


def test_connect_asks_for_the_z_up_convention_and_close_releases(mouse):
    teleop, device = mouse
    assert teleop.is_connected
    assert device.reads == 1  # connect reads the initial state


def test_axes_map_to_the_action_frame_after_deadband_and_scale():
    backend = FakePySpaceMouse()
    config = SpaceMouseConfig(deadband=0.1, translation_scale=0.5, rotation_scale=1.0)
    with SpaceMouseTeleop(config, backend=backend) as teleop:
        assert backend.open_kwargs["axis_convention"] == "hid_z_up"
        # Push away from the operator and right, lift; twist counter-clockwise, tilt right.
        backend.device.report(x=0.55, y=1.0, z=0.28, roll=0.0, pitch=0.46, yaw=0.19)
        cmd = teleop.read()
    # Default map (operator behind the robot): x<-y, y<--x, z<-z, roll<-pitch, pitch<--roll,
    # yaw<-yaw; (v - 0.1) / 0.9 outside the deadband.
    np.testing.assert_allclose(cmd.action, [0.5, -0.25, 0.1, 0.4, 0.0, 0.1, -1.0])
    assert cmd.engaged


def test_inside_the_deadband_is_hands_off(mouse):
    teleop, device = mouse
    device.report(x=0.05, y=-0.1, z=0.02, roll=0.08, pitch=-0.03, yaw=0.1)
    assert teleop.read() is None
    assert teleop.read() is None  # nothing new either


def test_full_deflection_beyond_one_is_clipped(mouse):
    teleop, device = mouse
    device.report(y=1.3)  # raw counts / 350 can exceed 1
    assert teleop.read().action[0] == 1.0


def test_queued_reports_are_drained_to_the_latest(mouse):
    """At 10 Hz ~10 reports queue up between reads; the command must use the newest."""
    teleop, device = mouse
    for y in np.linspace(0.2, 0.9, 12):
        device.report(y=float(y))
    cmd = teleop.read()
    assert not device.reports
    assert cmd.action[0] == pytest.approx((0.9 - 0.1) / 0.9)
    device.report(y=0.0)
    assert teleop.read() is None  # released


def test_buttons_hold_the_gripper_and_a_short_tap_still_counts(mouse):
    teleop, device = mouse
    device.report(buttons=[1, 0, 0, 0])  # left: close
    cmd = teleop.read()
    assert cmd.engaged and cmd.action[6] == 1.0 and not np.any(cmd.action[:6])
    cmd = teleop.read()  # still held
    assert cmd.engaged and cmd.action[6] == 1.0
    device.report(buttons=[0, 0, 0, 0])
    assert teleop.read() is None
    # A tap of the right button between two reads: pressed and released before the read.
    device.report(buttons=[0, 1, 0, 0])
    device.report(buttons=[0, 0, 0, 0])
    closed = np.array([0, 0, 0, 0, 0, 0, 1.0])
    cmd = teleop.read(TeleopContext(last_action=closed))
    assert cmd.engaged and cmd.action[6] == -1.0


def test_motion_keeps_the_gripper_that_was_executed(mouse):
    teleop, device = mouse
    device.report(z=0.5)
    closed = np.array([0, 0, 0, 0, 0, 0, 0.4])
    assert teleop.read(TeleopContext(last_action=closed)).action[6] == 1.0


def test_event_buttons_report_once_per_press(mouse):
    teleop, device = mouse
    device.report(buttons=[0, 0, 1, 0])
    cmd = teleop.read()
    assert cmd.events == {E.START_STOP} and not cmd.engaged
    assert teleop.read() is None  # still held: no new press
    device.report(buttons=[0, 0, 0, 1])
    assert teleop.read().events == {E.SUCCESS}


def test_a_deflection_with_no_new_report_goes_stale():
    """Wireless out of range: the last state would otherwise drive the arm on forever."""
    now = [0.0]
    backend = FakePySpaceMouse()
    config = SpaceMouseConfig(stale_after_s=0.5)
    with SpaceMouseTeleop(config, backend=backend, clock=lambda: now[0]) as teleop:
        backend.device.report(y=0.8)
        assert teleop.read().engaged
        now[0] += 0.4
        assert teleop.read().engaged  # within stale_after_s
        now[0] += 0.2
        assert teleop.read() is None
        backend.device.report(y=0.8)  # reports again
        assert teleop.read().engaged


def test_a_read_error_closes_and_raises():
    backend = FakePySpaceMouse()

    def unplugged():
        raise OSError("Failed to read from HID device: -1")

    with SpaceMouseTeleop(backend=backend) as teleop:
        backend.device.read = unplugged
        with pytest.raises(TeleopError, match="lost the SpaceMouse"):
            teleop.read()
        assert not teleop.is_connected


def test_missing_device_raises_with_install_and_permission_hints():
    teleop = SpaceMouseTeleop(backend=FakePySpaceMouse(plugged_in=False))
    with pytest.raises(TeleopError, match="No connected or supported devices found.*hidraw"):
        teleop.connect()
    assert not teleop.is_connected
    with pytest.raises(TeleopError, match="not connected"):
        teleop.read()


def test_without_pyspacemouse_connect_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspacemouse", None)  # import pyspacemouse -> ImportError
    with pytest.raises(TeleopError, match="pip install 'pyspacemouse>=2.1'.*libhidapi-hidraw0"):
        SpaceMouseTeleop().connect()


# --- the real pyspacemouse over a fake hidapi device ------------------------------------------
class FakeHidDevice:
    """Shaped like easyhid.Device: the USB device under pyspacemouse."""

    vendor_id = 0x256F  # 3Dconnexion
    product_id = 0xC62E  # SpaceMouse Wireless (cabled)
    path = "/dev/hidraw-fake"
    product_string = "SpaceMouse Wireless"
    manufacturer_string = "3Dconnexion"
    release_number = 0x0437
    serial_number = ""

    def __init__(self) -> None:
        self.reports: deque[bytes] = deque()
        self.is_open = False

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def set_nonblocking(self, nonblocking: bool) -> None:
        assert nonblocking

    def read(self, size: int = 64, timeout: int | None = None) -> bytes:
        return self.reports.popleft() if self.reports else b""

    def write(self, data: bytes) -> int:
        return len(data)

    def motion(self, x=0, y=0, z=0, rx=0, ry=0, rz=0) -> None:
        """A channel-1 report in raw HID counts (+x right, +y towards the user, +z down)."""
        payload = np.array([x, y, z, rx, ry, rz], dtype="<i2").tobytes()
        self.reports.append(bytes([1]) + payload)

    def buttons(self, bits: int) -> None:
        self.reports.append(bytes([3, bits]))


def test_real_pyspacemouse_parses_hid_reports_into_our_action_frame(monkeypatch):
    api = importlib.import_module("pyspacemouse.api")

    hid = FakeHidDevice()

    class FakeEnumeration:
        device_list = [hid]

        def find(self, *args, **kwargs):
            return [hid]

    monkeypatch.setattr(api, "Enumeration", FakeEnumeration)
    with SpaceMouseTeleop(SpaceMouseConfig(deadband=0.1)) as teleop:
        assert hid.is_open
        # 175 counts = 0.5 of the 350 full scale. Push away from the user (HID y < 0), lift
        # (HID z < 0), twist counter-clockwise seen from above (HID rz < 0).
        hid.motion(y=-175, z=-175, rz=-175)
        cmd = teleop.read()
        half = float(apply_deadband(np.array([0.5]), 0.1)[0])
        np.testing.assert_allclose(cmd.action, [half, 0, half, 0, 0, half, -1.0], atol=1e-12)
        # Push right (HID x > 0): -y in the base frame of a robot the operator stands behind.
        hid.motion(x=175)
        np.testing.assert_allclose(teleop.read().action[:3], [0, -half, 0], atol=1e-12)
        hid.buttons(0b01)  # LEFT: close the gripper
        hid.motion()
        cmd = teleop.read()
        assert cmd.engaged and cmd.action[6] == 1.0 and not np.any(cmd.action[:6])
    assert not hid.is_open
