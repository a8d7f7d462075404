"""The terminal keyboard, driven through a real pseudo-terminal (real termios, real key bytes)."""

import fcntl
import io
import os
import pty
import struct
import sys
import termios
import time

import numpy as np
import pytest

from robolearn.teleop import KeyboardConfig, KeyboardTeleop, TeleopContext, TeleopError
from robolearn.teleop import TeleopEvent as E
from robolearn.teleop.keyboard import parse_keys


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def terminal():
    master, slave = pty.openpty()
    yield master, slave
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


def type_keys(terminal, data: bytes) -> None:
    """Type `data` at the terminal and wait until the line discipline has passed all of it on."""
    master, slave = terminal
    os.write(master, data)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        pending = struct.unpack("i", fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        if pending >= len(data):
            return
        time.sleep(0.001)
    raise AssertionError(f"the terminal did not deliver {data!r}")


@pytest.fixture
def keyboard(terminal):
    clock = Clock()
    teleop = KeyboardTeleop(KeyboardConfig(tty=os.ttyname(terminal[1]), hold_s=0.15), clock=clock)
    with teleop:
        yield teleop, clock


def test_connect_puts_the_terminal_in_cbreak_mode_and_close_restores_it(terminal):
    slave = terminal[1]
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ICANON and before[3] & termios.ECHO
    teleop = KeyboardTeleop(KeyboardConfig(tty=os.ttyname(slave)))
    with teleop:
        assert teleop.is_connected
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ICANON  # keys arrive one by one, no Enter needed
        assert not during[3] & termios.ECHO  # typed keys do not clutter the terminal
        assert during[3] & termios.ISIG  # Ctrl-C still interrupts
    assert not teleop.is_connected
    assert termios.tcgetattr(slave) == before


@pytest.mark.parametrize(
    "key, index, sign",
    [
        (b"w", 0, 1),
        (b"s", 0, -1),
        (b"a", 1, 1),
        (b"d", 1, -1),
        (b"r", 2, 1),
        (b"f", 2, -1),
        (b"i", 3, 1),
        (b"k", 3, -1),
        (b"j", 4, 1),
        (b"l", 4, -1),
        (b"u", 5, 1),
        (b"o", 5, -1),
        (b"W", 0, 1),  # caps lock on
    ],
)
def test_each_motion_key_drives_one_axis(terminal, keyboard, key, index, sign):
    teleop, _ = keyboard
    type_keys(terminal, key)
    cmd = teleop.read()
    expected = np.zeros(7)
    expected[index] = sign * 0.5
    expected[6] = -1.0  # gripper open until toggled
    np.testing.assert_array_equal(cmd.action, expected)
    assert cmd.engaged and not cmd.events


def test_a_key_stays_held_for_hold_s_after_its_last_press(terminal, keyboard):
    teleop, clock = keyboard
    type_keys(terminal, b"wa")
    assert teleop.read().action[:2].tolist() == [0.5, 0.5]
    clock.t += 0.1  # within hold_s: auto-repeat has not come yet, still held
    cmd = teleop.read()
    assert cmd.engaged and cmd.action[:2].tolist() == [0.5, 0.5]
    type_keys(terminal, b"w")  # auto-repeat of w only; a was released
    clock.t += 0.1
    cmd = teleop.read()
    assert cmd.action[:2].tolist() == [0.5, 0.0]
    clock.t += 0.2
    assert teleop.read() is None  # hands off: the policy keeps control


def test_opposite_keys_cancel_and_scales_apply(terminal):
    clock = Clock()
    config = KeyboardConfig(tty=os.ttyname(terminal[1]), translation_scale=0.8, rotation_scale=0.3)
    with KeyboardTeleop(config, clock=clock) as teleop:
        type_keys(terminal, b"wsru")
        cmd = teleop.read()
    np.testing.assert_allclose(cmd.action, [0, 0, 0.8, 0, 0, 0.3, -1.0])


def test_space_toggles_the_gripper_from_the_executed_one(terminal, keyboard):
    teleop, clock = keyboard
    type_keys(terminal, b" ")
    cmd = teleop.read()
    assert cmd.engaged and cmd.action[6] == 1.0
    assert not np.any(cmd.action[:6])
    clock.t += 1.0
    assert teleop.read() is None  # a toggle is one press, not a hold
    # The policy opened the gripper meanwhile; the next toggle closes it from there.
    opened = np.array([0, 0, 0, 0, 0, 0, -0.8])
    type_keys(terminal, b" ")
    assert teleop.read(TeleopContext(last_action=opened)).action[6] == 1.0
    # Moving after the policy closed it keeps it closed.
    type_keys(terminal, b"w")
    closed = np.array([0, 0, 0, 0, 0, 0, 0.3])
    assert teleop.read(TeleopContext(last_action=closed)).action[6] == 1.0


@pytest.mark.parametrize(
    "key, event",
    [
        (b"\r", E.START_STOP),  # Enter (the terminal turns CR into LF)
        (b"\n", E.START_STOP),
        (b"y", E.SUCCESS),
        (b"n", E.FAILURE),
        (b"\x7f", E.DISCARD),  # Backspace
        (b"\x08", E.DISCARD),
        (b"x", E.DISCARD),
        (b"z", E.RERECORD),
        (b"q", E.QUIT),
    ],
)
def test_event_keys_report_events_without_engaging(terminal, keyboard, key, event):
    teleop, _ = keyboard
    type_keys(terminal, key)
    cmd = teleop.read()
    assert cmd.events == {event}
    assert not cmd.engaged
    assert teleop.read() is None  # reported once


def test_escape_sequences_and_unmapped_keys_are_ignored(terminal, keyboard):
    teleop, _ = keyboard
    type_keys(terminal, b"\x1b[A\x1bOP\x1b[15~9")  # up arrow, F1, F5, a digit
    assert teleop.read() is None
    assert parse_keys("\x1b[1;5Cw") == ["w"]  # ctrl+right arrow then w


def test_a_non_terminal_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(TeleopError, match="/dev/null is not a TTY"):
        KeyboardTeleop(KeyboardConfig(tty="/dev/null")).connect()
    with pytest.raises(TeleopError, match="cannot open terminal"):
        KeyboardTeleop(KeyboardConfig(tty=str(tmp_path / "missing"))).connect()


def test_redirected_standard_input_is_refused(monkeypatch):
    read_end, write_end = os.pipe()
    try:
        with open(read_end, closefd=False) as pipe:
            monkeypatch.setattr(sys, "stdin", pipe)
            with pytest.raises(TeleopError, match="standard input is not a TTY"):
                KeyboardTeleop().connect()
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # e.g. pytest's capture
        with pytest.raises(TeleopError, match="standard input is not a TTY"):
            KeyboardTeleop().connect()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_read_before_connect_and_a_vanished_terminal_raise(terminal):
    teleop = KeyboardTeleop(KeyboardConfig(tty=os.ttyname(terminal[1])))
    with pytest.raises(TeleopError, match="not connected"):
        teleop.read()
    with teleop:
        os.close(terminal[0])  # the terminal window closes
        with pytest.raises(TeleopError, match="terminal was closed"):
            teleop.read()
