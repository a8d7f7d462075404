"""`keyboard`: teleoperation from a terminal (no X server, works over SSH).

The terminal is put in cbreak mode (no echo, no line buffering; Ctrl-C still interrupts) and
read without blocking. A terminal reports key presses, not releases: a motion key counts as
held for `hold_s` after its last press or auto-repeat, so holding a key moves the arm
continuously once the terminal's auto-repeat starts (after its repeat delay).
"""

from __future__ import annotations

import io
import logging
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robolearn.sim.tasks.base import ACTION_DIM
from robolearn.teleop.base import (
    MOTION_DIM,
    GripperLatch,
    TeleopCommand,
    TeleopConfig,
    TeleopContext,
    Teleoperator,
    TeleopError,
    TeleopEvent,
    check_positive,
    register_teleoperator,
)

log = logging.getLogger(__name__)

# key -> (action index, direction); the action frame is the robot base frame.
MOTION_KEYS: dict[str, tuple[int, float]] = {
    "w": (0, +1.0),  # +x (away from the base)
    "s": (0, -1.0),
    "a": (1, +1.0),  # +y (left, seen from behind the robot)
    "d": (1, -1.0),
    "r": (2, +1.0),  # +z (up)
    "f": (2, -1.0),
    "i": (3, +1.0),  # roll (about base x)
    "k": (3, -1.0),
    "j": (4, +1.0),  # pitch (about base y)
    "l": (4, -1.0),
    "u": (5, +1.0),  # yaw (about base z)
    "o": (5, -1.0),
}
GRIPPER_KEY = " "
EVENT_KEYS: dict[str, TeleopEvent] = {
    "\n": TeleopEvent.START_STOP,  # Enter (the terminal maps CR to LF)
    "\r": TeleopEvent.START_STOP,
    "y": TeleopEvent.SUCCESS,
    "n": TeleopEvent.FAILURE,
    "\x7f": TeleopEvent.DISCARD,  # Backspace (DEL)
    "\x08": TeleopEvent.DISCARD,  # Backspace (^H)
    "x": TeleopEvent.DISCARD,
    "z": TeleopEvent.RERECORD,
    "q": TeleopEvent.QUIT,
}

HELP = """\
keyboard teleop:  w/s x+/-   a/d y+/-   r/f z+/-   i/k roll   j/l pitch   u/o yaw
                  space gripper open/close   enter start/stop episode   y success
                  n failure   backspace/x discard   z re-record   q quit"""


@dataclass(kw_only=True)
class KeyboardConfig(TeleopConfig):
    # Terminal device to read keys from (e.g. /dev/tty, /dev/pts/3); None: standard input.
    tty: str | None = None
    translation_scale: float = 0.5  # action magnitude of a held translation key
    rotation_scale: float = 0.5  # action magnitude of a held rotation key
    # A key counts as held this long after its last press or auto-repeat (terminals report no
    # releases); keep it above the terminal's auto-repeat interval (~30-50 ms).
    hold_s: float = 0.15

    def __post_init__(self) -> None:
        check_positive("translation_scale", self.translation_scale)
        check_positive("rotation_scale", self.rotation_scale)
        if not (np.isfinite(self.hold_s) and self.hold_s >= 0):
            raise ValueError(f"hold_s must be >= 0 seconds, got {self.hold_s}")


def parse_keys(text: str) -> list[str]:
    """Split terminal input into keys: letters are lower-cased, escape sequences (arrows,
    function keys) dropped."""
    keys: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":
            # ESC [ params final  or  ESC O final  (CSI / SS3); a lone ESC is skipped.
            i += 1
            if i < len(text) and text[i] in "[O":
                i += 1
                while i < len(text) and not ("@" <= text[i] <= "~"):
                    i += 1
                i += 1
            continue
        keys.append(ch.lower())
        i += 1
    return keys


@register_teleoperator("keyboard", KeyboardConfig)
class KeyboardTeleop(Teleoperator):
    """Keys of a terminal as a 6-DoF velocity command with a latched gripper."""

    def __init__(
        self, config: KeyboardConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or KeyboardConfig()
        self._clock = clock
        self._fd: int | None = None
        self._owns_fd = False
        self._saved_mode: list | None = None
        self._last_press: dict[str, float] = {}
        self._gripper = GripperLatch()

    @property
    def is_connected(self) -> bool:
        return self._fd is not None

    def connect(self) -> None:
        if self._fd is not None:
            return
        fd, owns, what = self._open_terminal()
        try:
            if not os.isatty(fd):
                raise TeleopError(
                    f"the keyboard teleoperator reads keys from a terminal, but {what} is not a"
                    " TTY: run it in an interactive terminal (not through a pipe, nohup or a"
                    " service), or set `tty` to a terminal device such as /dev/tty"
                )
            self._saved_mode = termios.tcgetattr(fd)
            tty.setcbreak(fd, termios.TCSANOW)
        except BaseException:
            if owns:
                os.close(fd)
            raise
        self._fd, self._owns_fd = fd, owns
        self._last_press.clear()
        log.info("%s", HELP)

    def _open_terminal(self) -> tuple[int, bool, str]:
        path = self.config.tty
        if path is not None:
            try:
                return os.open(path, os.O_RDWR | os.O_NOCTTY), True, path
            except OSError as err:
                raise TeleopError(
                    f"cannot open terminal {path!r} for keyboard input: {err}"
                ) from err
        try:
            return sys.stdin.fileno(), False, "standard input"
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            raise TeleopError(
                "the keyboard teleoperator reads keys from a terminal, but standard input is not"
                " a TTY (it is closed or redirected): run it in an interactive terminal, or set"
                " `tty` to a terminal device such as /dev/tty"
            ) from None

    def close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._saved_mode is not None:
                termios.tcsetattr(fd, termios.TCSADRAIN, self._saved_mode)
        except termios.error as err:  # the terminal is gone: nothing left to restore
            log.debug("could not restore the terminal mode: %s", err)
        finally:
            self._saved_mode = None
            if self._owns_fd:
                os.close(fd)

    @staticmethod
    def _drain(fd: int) -> str:
        """Everything typed since the last read, without waiting."""
        chunks: list[bytes] = []
        while select.select([fd], [], [], 0.0)[0]:
            try:
                data = os.read(fd, 1024)
            except OSError as err:  # EIO: the terminal (or its pty master) went away
                raise TeleopError(f"the keyboard's terminal was closed: {err}") from err
            if not data:
                raise TeleopError("the keyboard's terminal was closed")
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", errors="ignore")

    def read(self, context: TeleopContext | None = None) -> TeleopCommand | None:
        if self._fd is None:
            raise TeleopError("keyboard teleoperator is not connected: call connect() first")
        now = self._clock()
        events: set[TeleopEvent] = set()
        gripper_pressed = False
        self._gripper.follow(context.last_action if context else None)
        for key in parse_keys(self._drain(self._fd)):
            if key in MOTION_KEYS:
                self._last_press[key] = now
            elif key == GRIPPER_KEY:
                self._gripper.toggle()
                gripper_pressed = True
            elif key in EVENT_KEYS:
                events.add(EVENT_KEYS[key])
        held = [k for k, t in self._last_press.items() if now - t <= self.config.hold_s]
        if not held and not gripper_pressed and not events:
            return None
        action = np.zeros(ACTION_DIM)
        for key in held:
            index, direction = MOTION_KEYS[key]
            action[index] += direction
        action[:3] *= self.config.translation_scale
        action[3:MOTION_DIM] *= self.config.rotation_scale
        action[MOTION_DIM] = self._gripper.value
        engaged = bool(np.any(action[:MOTION_DIM] != 0.0)) or gripper_pressed
        return TeleopCommand(action, engaged=engaged, source=self.source, events=frozenset(events))
