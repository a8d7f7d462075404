"""The gamepad teleoperator: real pygame/SDL (dummy video driver, real event queue) with a fake
joystick object shaped like pygame.joystick.JoystickType in place of the USB controller."""

import sys

import numpy as np
import pytest

from robolearn.teleop import GamepadConfig, GamepadTeleop, TeleopContext, TeleopError
from robolearn.teleop import TeleopEvent as E
from robolearn.teleop.gamepad import _import_pygame

try:
    pygame = _import_pygame()  # sets SDL's headless environment before SDL starts
except TeleopError:
    pytest.skip("pygame is not installed", allow_module_level=True)


class FakeJoystick:
    """An Xbox 360 pad as pygame reports it: 6 axes (triggers rest at -1), 11 buttons, 1 hat."""

    def __init__(self, instance_id: int = 7, axes: int = 6, buttons: int = 11) -> None:
        self.instance_id = instance_id
        # Triggers (axes 2 and 5) rest at -1.
        self.axes = [-1.0 if i in (2, 5) else 0.0 for i in range(axes)]
        self.buttons = [0] * buttons
        self.hats = [(0, 0)]
        self.initialized = True

    # pygame.joystick.JoystickType
    def init(self):
        self.initialized = True

    def quit(self):
        self.initialized = False

    def get_init(self):
        return self.initialized

    def get_id(self):
        return 0

    def get_instance_id(self):
        return self.instance_id

    def get_guid(self):
        return "030000005e0400008e02000014010000"

    def get_power_level(self):
        return "wired"

    def get_name(self):
        return "Xbox 360 Controller"

    def get_numaxes(self):
        return len(self.axes)

    def get_axis(self, i):
        return self.axes[i]

    def get_numballs(self):
        return 0

    def get_ball(self, i):
        raise pygame.error("Invalid joystick trackball")

    def get_numbuttons(self):
        return len(self.buttons)

    def get_button(self, i):
        return self.buttons[i]

    def get_numhats(self):
        return len(self.hats)

    def get_hat(self, i):
        return self.hats[i]

    def rumble(self, low_frequency, high_frequency, duration):
        return False

    def stop_rumble(self):
        pass


def press(joystick: FakeJoystick, button: int) -> None:
    """What SDL does on a button press: update the state and queue a JOYBUTTONDOWN event."""
    joystick.buttons[button] = 1
    event = pygame.event.Event(
        pygame.JOYBUTTONDOWN, joy=0, instance_id=joystick.instance_id, button=button
    )
    pygame.event.post(event)


@pytest.fixture
def pad():
    joystick = FakeJoystick()
    with GamepadTeleop(GamepadConfig(), joystick_factory=lambda index: joystick) as teleop:
        yield teleop, joystick
    assert not joystick.initialized


def test_fake_has_the_shape_of_a_pygame_joystick():
    public = {m for m in dir(pygame.joystick.JoystickType) if not m.startswith("_")}
    assert public <= set(dir(FakeJoystick))


def test_sticks_and_dpad_map_to_motion_after_the_deadband(pad):
    teleop, js = pad
    assert teleop.read() is None  # at rest (triggers at -1 are not pressed)
    js.axes[:2] = [0.4, -1.0]  # left stick: right a bit, fully up
    js.axes[3:5] = [-0.575, 0.15]  # right stick: left; vertical inside the deadband
    js.hats[0] = (1, -1)  # d-pad right and down
    cmd = teleop.read()
    # (v - 0.15) / 0.85 outside the deadband; stick up reads negative in pygame.
    np.testing.assert_allclose(cmd.action, [1.0, -0.25 / 0.85, 0.0, 1.0, -1.0, 0.5, -1.0])
    assert cmd.engaged and not cmd.events


def test_triggers_close_and_open_the_gripper(pad):
    teleop, js = pad
    js.axes[5] = 0.9  # right trigger: close
    cmd = teleop.read()
    assert cmd.engaged and cmd.action[6] == 1.0 and not np.any(cmd.action[:6])
    js.axes[5] = -1.0
    assert teleop.read() is None
    js.axes[2] = 0.6  # left trigger: open, from the closed gripper that was executed
    closed = np.array([0, 0, 0, 0, 0, 0, 1.0])
    assert teleop.read(TeleopContext(last_action=closed)).action[6] == -1.0
    js.axes[2] = 0.0  # some drivers rest triggers at 0 until first pressed: not a press
    assert teleop.read() is None


@pytest.mark.parametrize(
    "button, event",
    [(7, E.START_STOP), (0, E.SUCCESS), (1, E.FAILURE), (2, E.DISCARD), (3, E.RERECORD)]
    + [(6, E.QUIT)],
)
def test_buttons_send_events_through_the_sdl_event_queue(pad, button, event):
    teleop, js = pad
    press(js, button)
    cmd = teleop.read()
    assert cmd.events == {event} and not cmd.engaged
    assert teleop.read() is None  # one press, one event, even while held


def test_axis_motion_events_do_not_pile_up_in_the_queue(pad):
    teleop, js = pad
    for i in range(200):  # a stick wiggled between two reads
        motion = pygame.event.Event(
            pygame.JOYAXISMOTION, joy=0, instance_id=js.instance_id, axis=0, value=i / 200
        )
        pygame.event.post(motion)
    press(js, 7)
    assert teleop.read().events == {E.START_STOP}
    assert not pygame.event.peek(pygame.JOYAXISMOTION)


def test_a_tap_between_reads_is_not_lost(pad):
    teleop, js = pad
    press(js, 7)
    js.buttons[7] = 0  # released before the control step reads
    assert teleop.read().events == {E.START_STOP}


def test_events_of_other_controllers_are_ignored(pad):
    teleop, js = pad
    other = FakeJoystick(instance_id=js.instance_id + 1)
    press(other, 7)
    assert teleop.read() is None


def test_unplugging_raises_instead_of_silently_handing_back_control(pad):
    teleop, js = pad
    pygame.event.post(pygame.event.Event(pygame.JOYDEVICEREMOVED, instance_id=js.instance_id))
    with pytest.raises(TeleopError, match="disconnected"):
        teleop.read()
    assert not teleop.is_connected


def test_a_map_beyond_the_controller_is_refused_at_connect():
    small = FakeJoystick(axes=4)  # no axis 4/5 (a pad without analog triggers)
    teleop = GamepadTeleop(joystick_factory=lambda index: small)
    with pytest.raises(TeleopError, match="axis 4, but 'Xbox 360 Controller' has 4"):
        teleop.connect()
    assert not teleop.is_connected


def test_buttons_can_drive_the_gripper_and_a_remapped_axis():
    js = FakeJoystick()
    config = GamepadConfig(
        axis_map=("", "", "button4", "", "", "-axis0"),
        close_input="button5",
        open_input="",
        event_buttons={},
    )
    with GamepadTeleop(config, joystick_factory=lambda index: js) as teleop:
        press(js, 5)
        js.axes[0] = -1.0
        js.buttons[4] = 1
        cmd = teleop.read()
    np.testing.assert_allclose(cmd.action, [0, 0, 1.0, 0, 0, 1.0, 1.0])
    assert not cmd.events


def test_no_controller_plugged_in_is_a_clear_error():
    teleop = GamepadTeleop(GamepadConfig(joystick_index=3))
    with pytest.raises(TeleopError, match="no gamepad 3: SDL sees \\d+ controller"):
        teleop.connect()
    assert not pygame.display.get_init()  # what connect started is stopped again


def test_without_pygame_connect_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygame", None)  # import pygame -> ImportError
    with pytest.raises(TeleopError, match="pip install pygame"):
        GamepadTeleop().connect()
