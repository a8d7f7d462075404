"""`spacemouse`: a 3Dconnexion SpaceMouse through `pyspacemouse` (HID via hidapi).

Axes are read in pyspacemouse's right-handed Z-up convention (`hid_z_up`: x right, y away from
the operator, z up, rotations about those axes) and mapped to the action frame (robot base
frame) by `axis_map`. The default assumes the operator stands behind the robot, facing the same
way as the robot's x axis; rotate the map for other stands.

Needs `pip install pyspacemouse` (>= 2.1), the hidapi library (Debian/Ubuntu:
`apt install libhidapi-hidraw0`) and read access to the device's /dev/hidraw* node (a udev rule).
"""

from __future__ import annotations

import logging
import time
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

SPACEMOUSE_AXES = ("x", "y", "z", "roll", "pitch", "yaw")
AXIS_CONVENTION = "hid_z_up"  # pyspacemouse.AxisConvention.HID_Z_UP

INSTALL_HINT = (
    "install pyspacemouse (pip install 'pyspacemouse>=2.1') and the hidapi library (Debian/Ubuntu:"
    " apt install libhidapi-hidraw0), plug the SpaceMouse (or its receiver) in, and give your user"
    " read/write access to its /dev/hidraw* node (a udev rule for vendor 256f/046d)"
)


def parse_axis_source(spec: str, valid: tuple[str, ...], where: str) -> tuple[str, float] | None:
    """'name' or '-name' -> (name, sign); '' -> None (that action dimension stays 0)."""
    if spec == "":
        return None
    sign, name = (-1.0, spec[1:]) if spec.startswith("-") else (1.0, spec.lstrip("+"))
    if name not in valid:
        raise ValueError(f"{where}: unknown input {spec!r}; use one of {', '.join(valid)}")
    return name, sign


@dataclass(kw_only=True)
class SpaceMouseConfig(TeleopConfig):
    device: str | None = (
        None  # a pyspacemouse device name (e.g. "SpaceMouse Wireless"); None: first
    )
    device_index: int = 0  # which one when several of that name are plugged in
    deadband: float = 0.1  # |axis| at or below this (of full deflection) is no input
    translation_scale: float = 1.0  # full deflection -> this fraction of the largest step
    rotation_scale: float = 1.0
    # Per action dimension [x, y, z, roll, pitch, yaw]: a SpaceMouse axis (hid_z_up convention),
    # "-" in front flips it, "" leaves that dimension at 0.
    axis_map: tuple[str, ...] = ("y", "-x", "z", "pitch", "-roll", "yaw")
    close_button: int | None = 0  # held: close the gripper (stays closed after release)
    open_button: int | None = 1  # held: open the gripper
    # Button index -> TeleopEvent name (start_stop, success, ...), reported on press.
    event_buttons: dict[int, str] = field(default_factory=dict)
    # HID reports queue up between control steps (the device sends ~60-125 per second); at most
    # this many are consumed per read so a read always returns.
    max_reports_per_read: int = 512
    # The device reports continuously while the cap is off-centre; if no report arrives for this
    # long (wireless out of range), the last deflection is dropped instead of driving the arm on.
    # None: trust the last report indefinitely.
    stale_after_s: float | None = 1.0

    def __post_init__(self) -> None:
        check_unit_interval("deadband", self.deadband)
        check_positive("translation_scale", self.translation_scale)
        check_positive("rotation_scale", self.rotation_scale)
        self.axis_map = tuple(self.axis_map)
        if len(self.axis_map) != MOTION_DIM:
            raise ValueError(f"axis_map needs {MOTION_DIM} entries, got {len(self.axis_map)}")
        for i, spec in enumerate(self.axis_map):
            parse_axis_source(spec, SPACEMOUSE_AXES, f"axis_map[{i}]")
        for index, name in self.event_buttons.items():
            parse_event(name, f"event_buttons[{index}]")
        if self.max_reports_per_read < 1:
            raise ValueError(f"max_reports_per_read must be >= 1, got {self.max_reports_per_read}")
        if self.stale_after_s is not None:
            check_positive("stale_after_s", self.stale_after_s)


@register_teleoperator("spacemouse", SpaceMouseConfig)
class SpaceMouseTeleop(Teleoperator):
    """A 6-DoF SpaceMouse as a velocity command; buttons close/open the gripper or send events.

    `backend` is the `pyspacemouse` module (imported on `connect()` when not given): anything
    with `open(device=..., device_index=..., axis_convention=...)` returning a device whose
    `read()` gives a state with `t, x, y, z, roll, pitch, yaw, buttons` and that has `close()`.
    """

    def __init__(
        self,
        config: SpaceMouseConfig | None = None,
        *,
        backend: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or SpaceMouseConfig()
        self._backend = backend
        self._clock = clock
        self._last_report_at = 0.0
        self._stale_warned = False
        self._device: Any = None
        self._last_t: float | None = None
        self._buttons: list[int] = []
        self._gripper = GripperLatch()
        self._map = [
            parse_axis_source(s, SPACEMOUSE_AXES, "axis_map") for s in self.config.axis_map
        ]
        self._events = {
            i: parse_event(n, "event_buttons") for i, n in self.config.event_buttons.items()
        }

    @property
    def is_connected(self) -> bool:
        return self._device is not None

    def connect(self) -> None:
        if self._device is not None:
            return
        backend = self._backend
        if backend is None:
            try:
                import pyspacemouse as backend
            except (ImportError, OSError) as err:  # OSError: hidapi's shared library is missing
                raise TeleopError(
                    f"the SpaceMouse needs pyspacemouse: {err}; {INSTALL_HINT}"
                ) from err
        try:
            device = backend.open(
                device=self.config.device,
                device_index=self.config.device_index,
                axis_convention=AXIS_CONVENTION,
            )
        except (RuntimeError, ValueError, OSError, AttributeError) as err:
            # pyspacemouse raises RuntimeError when nothing is found or the device cannot be
            # opened (permissions), AttributeError when hidapi is not installed.
            raise TeleopError(f"cannot open the SpaceMouse: {err}; {INSTALL_HINT}") from err
        self._device = device
        state = self._device_read()
        self._last_report_at = self._clock()
        self._last_t = float(state.t)
        self._buttons = list(state.buttons)
        log.info("SpaceMouse connected (%s)", getattr(device, "name", "unknown model"))

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.close()

    def _read_reports(self) -> tuple[Any, set[int], set[int]]:
        """Consume the queued HID reports: the latest state, the buttons pressed since the last
        read (rising edges, so a tap shorter than a control step still counts) and the buttons
        held now or pressed since the last read."""
        pressed: set[int] = set()
        state = self._device_read()
        for _ in range(self.config.max_reports_per_read):
            t = float(state.t)
            if t == self._last_t:  # no new report: pyspacemouse returns the state unchanged
                break
            self._last_t = t
            buttons = list(state.buttons)
            for i, b in enumerate(buttons):
                if b and (i >= len(self._buttons) or not self._buttons[i]):
                    pressed.add(i)
            self._buttons = buttons
            self._last_report_at = self._clock()
            state = self._device_read()
        held = pressed | {i for i, b in enumerate(self._buttons) if b}
        return state, pressed, held

    def _device_read(self) -> Any:
        try:
            return self._device.read()
        except Exception as err:  # easyhid.HIDException, OSError: the USB device went away
            self.close()
            raise TeleopError(f"lost the SpaceMouse: {err}; check its cable or receiver") from err

    def _is_stale(self) -> bool:
        limit = self.config.stale_after_s
        stale = limit is not None and self._clock() - self._last_report_at > limit
        if stale and not self._stale_warned:
            log.warning("no SpaceMouse report for over %.1f s: ignoring its last deflection", limit)
        self._stale_warned = stale
        return stale

    def read(self, context: TeleopContext | None = None) -> TeleopCommand | None:
        if self._device is None:
            raise TeleopError("SpaceMouse teleoperator is not connected: call connect() first")
        cfg = self.config
        state, pressed, held = self._read_reports()
        raw = np.zeros(MOTION_DIM)
        for i, source in enumerate(self._map):
            if source is not None:
                name, sign = source
                raw[i] = sign * float(getattr(state, name))
        motion = apply_deadband(np.clip(raw, -1.0, 1.0), cfg.deadband)
        if self._is_stale():  # buttons report only on change, so only motion can go stale
            motion[:] = 0.0
        self._gripper.follow(context.last_action if context else None)
        close = cfg.close_button is not None and cfg.close_button in held
        open_ = cfg.open_button is not None and cfg.open_button in held
        if close != open_:  # both at once: ambiguous, keep the gripper as it is
            self._gripper.closed = close
        events = frozenset(self._events[i] for i in pressed if i in self._events)
        engaged = bool(np.any(motion != 0.0)) or close or open_
        if not engaged and not events:
            return None
        action = np.zeros(ACTION_DIM)
        action[:3] = motion[:3] * cfg.translation_scale
        action[3:MOTION_DIM] = motion[3:] * cfg.rotation_scale
        action[MOTION_DIM] = self._gripper.value
        return TeleopCommand(action, engaged=engaged, source=self.source, events=events)
