"""`gamepad`: a game controller through pygame's joystick API (SDL), headless.

Sticks and the d-pad drive the six motion axes, the triggers close and open the gripper, and
buttons send the operator's episode controls. Input names are pygame's: `axisN`, `hatN.x`,
`hatN.y`, `buttonN`. Their numbering depends on the controller and its driver; the defaults
are pygame's documented layout of an Xbox 360 controller (left stick axis0/axis1, left trigger
axis2, right stick axis3/axis4, right trigger axis5; A B X Y = button0..3, Back 6, Start 7).
`python -m pygame.examples.joystick` shows another controller's numbering.

Needs `pip install pygame`. No window is opened: SDL runs with the dummy video driver and is told
to deliver joystick events without a focused window.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    apply_deadband,
    check_positive,
    check_unit_interval,
    parse_event,
    register_teleoperator,
)

log = logging.getLogger(__name__)

_INPUT = re.compile(r"^([+-]?)(axis|hat|button)(\d+)(?:\.([xy]))?$")

DEFAULT_EVENT_BUTTONS = {
    7: "start_stop",  # Start
    0: "success",  # A
    1: "failure",  # B
    2: "discard",  # X
    3: "rerecord",  # Y
    6: "quit",  # Back
}


@dataclass(frozen=True)
class InputSource:
    """One controller input: an axis, a hat direction or a button, optionally negated."""

    kind: str  # "axis" | "hat" | "button"
    index: int
    component: int = 0  # hats: 0 = x, 1 = y
    sign: float = 1.0

    @staticmethod
    def parse(spec: str, where: str) -> InputSource | None:
        """'axis1', '-axis4', 'hat0.x', 'button5'; '' -> None (unused)."""
        if spec == "":
            return None
        m = _INPUT.match(spec.strip())
        if m is None or (m.group(2) == "hat") != (m.group(4) is not None):
            raise ValueError(
                f"{where}: cannot read input {spec!r}; use 'axisN', 'hatN.x', 'hatN.y' or"
                " 'buttonN', with '-' in front to flip it, or '' for none"
            )
        sign, kind, index, comp = m.groups()
        return InputSource(kind, int(index), 1 if comp == "y" else 0, -1.0 if sign == "-" else 1.0)

    def value(self, joystick: Any) -> float:
        if self.kind == "axis":
            raw = joystick.get_axis(self.index)
        elif self.kind == "hat":
            raw = joystick.get_hat(self.index)[self.component]
        else:
            raw = joystick.get_button(self.index)
        return self.sign * float(raw)

    def check(self, joystick: Any, where: str) -> None:
        count = {
            "axis": joystick.get_numaxes,
            "hat": joystick.get_numhats,
            "button": joystick.get_numbuttons,
        }[self.kind]()
        if self.index >= count:
            raise TeleopError(
                f"{where} uses {self.kind} {self.index}, but '{joystick.get_name()}' has {count}"
                f" {self.kind}(s): set the gamepad's input map for this controller"
            )


@dataclass(kw_only=True)
class GamepadConfig(TeleopConfig):
    joystick_index: int = 0  # which controller, in pygame's order
    deadband: float = 0.15  # sticks rarely rest at exactly 0
    translation_scale: float = 1.0
    rotation_scale: float = 1.0
    # Per action dimension [x, y, z, roll, pitch, yaw]. Stick "up" reads negative in pygame.
    # Default: left stick moves in the horizontal plane, right stick vertical is z and right
    # stick horizontal is yaw, the d-pad rolls and pitches.
    axis_map: tuple[str, ...] = ("-axis1", "-axis0", "-axis4", "hat0.x", "hat0.y", "-axis3")
    # Held past `trigger_threshold`: close / open the gripper (stays after release). Triggers
    # rest at -1 (some drivers report 0 until first pressed); buttons work too ("button5").
    close_input: str = "axis5"
    open_input: str = "axis2"
    trigger_threshold: float = 0.5
    # Button index -> TeleopEvent name (start_stop, success, failure, discard, rerecord, quit).
    event_buttons: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_EVENT_BUTTONS))

    def __post_init__(self) -> None:
        check_unit_interval("deadband", self.deadband)
        check_positive("translation_scale", self.translation_scale)
        check_positive("rotation_scale", self.rotation_scale)
        if not (np.isfinite(self.trigger_threshold) and -1.0 < self.trigger_threshold < 1.0):
            raise ValueError(f"trigger_threshold must be in (-1, 1), got {self.trigger_threshold}")
        self.axis_map = tuple(self.axis_map)
        if len(self.axis_map) != MOTION_DIM:
            raise ValueError(f"axis_map needs {MOTION_DIM} entries, got {len(self.axis_map)}")
        for i, spec in enumerate(self.axis_map):
            InputSource.parse(spec, f"axis_map[{i}]")
        InputSource.parse(self.close_input, "close_input")
        InputSource.parse(self.open_input, "open_input")
        for index, name in self.event_buttons.items():
            parse_event(name, f"event_buttons[{index}]")


def _import_pygame() -> Any:
    # SDL reads these when it initialises: no window, and joystick events without focus.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS", "1")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError as err:
        raise TeleopError(f"the gamepad needs pygame: {err}; pip install pygame") from err
    return pygame


def _joystick_event_types(pygame: Any) -> tuple[int, ...]:
    return (
        pygame.JOYAXISMOTION,
        pygame.JOYBALLMOTION,
        pygame.JOYHATMOTION,
        pygame.JOYBUTTONDOWN,
        pygame.JOYBUTTONUP,
        pygame.JOYDEVICEADDED,
        pygame.JOYDEVICEREMOVED,
    )


@register_teleoperator("gamepad", GamepadConfig)
class GamepadTeleop(Teleoperator):
    """A game controller as a 6-DoF velocity command with trigger-held gripper and event buttons.

    `joystick_factory(index)` returns the joystick (default: `pygame.joystick.Joystick`); any
    object with pygame's `JoystickType` methods works.
    """

    def __init__(
        self,
        config: GamepadConfig | None = None,
        *,
        joystick_factory: Callable[[int], Any] | None = None,
    ) -> None:
        self.config = config or GamepadConfig()
        self._factory = joystick_factory
        self._pygame: Any = None
        self._joystick: Any = None
        self._started_display = False
        self._gripper = GripperLatch()
        self._map = [InputSource.parse(s, "axis_map") for s in self.config.axis_map]
        self._close = InputSource.parse(self.config.close_input, "close_input")
        self._open = InputSource.parse(self.config.open_input, "open_input")
        self._events = {
            i: parse_event(n, "event_buttons") for i, n in self.config.event_buttons.items()
        }

    @property
    def is_connected(self) -> bool:
        return self._joystick is not None

    def connect(self) -> None:
        if self._joystick is not None:
            return
        pygame = _import_pygame()
        # The event queue (and so joystick state updates) lives in SDL's video subsystem.
        self._started_display = not pygame.display.get_init()
        pygame.display.init()
        pygame.joystick.init()
        try:
            joystick = self._open_joystick(pygame)
            sources = [*self._map, self._close, self._open]
            for source in sources:
                if source is not None:
                    source.check(joystick, "the gamepad config")
            for button in self._events:
                InputSource("button", button).check(joystick, "event_buttons")
        except BaseException:
            self._quit(pygame)
            raise
        pygame.event.clear(_joystick_event_types(pygame))  # presses from before we were ready
        self._pygame, self._joystick = pygame, joystick
        log.info("gamepad connected: %s", joystick.get_name())

    def _open_joystick(self, pygame: Any) -> Any:
        index = self.config.joystick_index
        if self._factory is not None:
            return self._factory(index)
        count = pygame.joystick.get_count()
        if index >= count:
            raise TeleopError(
                f"no gamepad {index}: SDL sees {count} controller(s). Plug one in (check that"
                " /dev/input/js* or /dev/input/event* exists and is readable by your user)"
            )
        joystick = pygame.joystick.Joystick(index)
        joystick.init()
        return joystick

    def _quit(self, pygame: Any) -> None:
        pygame.joystick.quit()
        if self._started_display:
            pygame.display.quit()
            self._started_display = False

    def close(self) -> None:
        joystick, self._joystick = self._joystick, None
        if joystick is None:
            return
        try:
            joystick.quit()
        finally:
            self._quit(self._pygame)

    def read(self, context: TeleopContext | None = None) -> TeleopCommand | None:
        if self._joystick is None:
            raise TeleopError("gamepad teleoperator is not connected: call connect() first")
        pygame, js, cfg = self._pygame, self._joystick, self.config
        # Button presses come from the event queue so a tap shorter than a control step counts;
        # getting the events also pumps SDL, which refreshes the polled axis values.
        pressed: set[int] = set()
        instance = js.get_instance_id()
        # All joystick events are taken off the queue (axis motion arrives at hundreds per second
        # and would fill SDL's queue until it drops the button presses).
        for event in pygame.event.get(_joystick_event_types(pygame)):
            if getattr(event, "instance_id", None) != instance:
                continue
            if event.type == pygame.JOYDEVICEREMOVED:
                self.close()
                raise TeleopError("the gamepad was disconnected")
            if event.type == pygame.JOYBUTTONDOWN:
                pressed.add(int(event.button))
        raw = np.array([s.value(js) if s is not None else 0.0 for s in self._map])
        motion = apply_deadband(np.clip(raw, -1.0, 1.0), cfg.deadband)
        self._gripper.follow(context.last_action if context else None)
        close = self._held(self._close, pressed)
        open_ = self._held(self._open, pressed)
        if close != open_:  # both at once: ambiguous, keep the gripper as it is
            self._gripper.closed = close
        events = frozenset(self._events[b] for b in pressed if b in self._events)
        engaged = bool(np.any(motion != 0.0)) or close or open_
        if not engaged and not events:
            return None
        action = np.zeros(ACTION_DIM)
        action[:3] = motion[:3] * cfg.translation_scale
        action[3:MOTION_DIM] = motion[3:] * cfg.rotation_scale
        action[MOTION_DIM] = self._gripper.value
        return TeleopCommand(action, engaged=engaged, source=self.source, events=events)

    def _held(self, source: InputSource | None, pressed: set[int]) -> bool:
        if source is None:
            return False
        if source.kind == "button" and source.index in pressed:
            return True  # tapped since the last read
        return source.value(self._joystick) > self.config.trigger_threshold
