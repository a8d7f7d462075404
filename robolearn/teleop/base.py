"""The `Teleoperator` interface that every input device (and the scripted expert) implements.

A teleoperator is read once per control step and answers with a `TeleopCommand`: an action in
the env's layout (`[dx, dy, dz, droll, dpitch, dyaw, gripper]` in [-1, 1]), whether the
operator is *engaged* (input outside the device's deadband, or a gripper button held), who
produced it (`ActionSource`), and the operator's episode controls (`TeleopEvent`). Under SERL
intervention semantics (`robolearn.teleop.intervention`) an engaged command replaces the
policy's action for that step.

Devices are chosen by a string `type` from `TELEOPERATORS`, each with a keyword-only config
dataclass, like robot backends (`robolearn.robot.base`).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from robolearn.data.schema import ActionSource
from robolearn.registry import Registry
from robolearn.robot.types import RobotState
from robolearn.sim.tasks.base import ACTION_DIM, GRIPPER_CLOSE, GRIPPER_OPEN

MOTION_DIM = 6  # action[:6] is motion, action[6] the gripper


class TeleopError(RuntimeError):
    """A teleoperation device is missing, unusable or was lost; the message says what to do."""


class TeleopEvent(enum.StrEnum):
    """Operator controls for the episode recorder; each is reported once, on the press."""

    START_STOP = "start_stop"  # start an episode, or stop the one running
    SUCCESS = "success"  # mark the episode a success (and end it)
    FAILURE = "failure"  # mark the episode a failure (and end it)
    DISCARD = "discard"  # drop the episode
    RERECORD = "rerecord"  # drop the episode and record it again from the same reset
    QUIT = "quit"  # stop the session


def parse_event(name: str, where: str) -> TeleopEvent:
    """A `TeleopEvent` from its config name; ValueError naming the valid ones otherwise."""
    try:
        return TeleopEvent(name)
    except ValueError:
        valid = ", ".join(e.value for e in TeleopEvent)
        raise ValueError(f"{where}: unknown event {name!r}; valid: {valid}") from None


@dataclass(frozen=True)
class TeleopCommand:
    """What a teleoperator says for one control step.

    `action` is copied, checked ((7,), finite) and clipped to [-1, 1]; a device bug that
    produces NaN raises here instead of reaching the robot.
    """

    action: np.ndarray
    engaged: bool
    source: ActionSource = ActionSource.HUMAN
    events: frozenset[TeleopEvent] = frozenset()

    def __post_init__(self) -> None:
        act = np.array(self.action, dtype=np.float64)
        if act.shape != (ACTION_DIM,):
            raise ValueError(f"teleop action must have shape ({ACTION_DIM},), got {act.shape}")
        if not np.all(np.isfinite(act)):
            raise ValueError(f"teleop action contains NaN or inf: {act}")
        act = np.clip(act, -1.0, 1.0)
        act.flags.writeable = False
        object.__setattr__(self, "action", act)
        object.__setattr__(self, "engaged", bool(self.engaged))
        object.__setattr__(self, "source", ActionSource(self.source))
        object.__setattr__(self, "events", frozenset(TeleopEvent(e) for e in self.events))


@dataclass(frozen=True)
class TeleopContext:
    """What a teleoperator may look at when it is read.

    `state` is the robot's latest state, `objects` the task's privileged object state (only
    scripted experts use it), `last_action` the action executed at the previous step (devices
    with a latched gripper follow it while the operator is hands-off, so taking over keeps the
    current grasp).
    """

    state: RobotState | None = None
    objects: Mapping[str, np.ndarray] | None = None
    last_action: np.ndarray | None = None

    @staticmethod
    def from_env(
        env: Any, *, objects: bool = True, last_action: np.ndarray | None = None
    ) -> TeleopContext:
        """The context of a `RobotEnv` (or a wrapper of one); fields the env lacks stay None."""
        base = getattr(env, "unwrapped", env)
        state = base.robot_state if hasattr(type(base), "robot_state") else None
        objs = base.objects() if objects and callable(getattr(base, "objects", None)) else None
        return TeleopContext(state=state, objects=objs, last_action=last_action)


@dataclass(kw_only=True)
class TeleopConfig:
    """Base config of a teleoperator; subclasses add their device's fields."""

    type: ClassVar[str] = ""


class Teleoperator(abc.ABC):
    """One operator input: a human device or a scripted expert.

    Use as a context manager (`with make_teleoperator("keyboard") as teleop: ...`), or call
    `connect()` and `close()`. `read()` never blocks: it reports what arrived since the last read.
    """

    config: TeleopConfig
    # Recorded as the action source of the steps this teleoperator drives.
    source: ClassVar[ActionSource] = ActionSource.HUMAN
    # True for teleoperators that need `TeleopContext.objects` (privileged object state).
    needs_objects: ClassVar[bool] = False

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the device; raises `TeleopError` with a fix when it cannot."""

    @abc.abstractmethod
    def read(self, context: TeleopContext | None = None) -> TeleopCommand | None:
        """The command for this control step; None when the operator is hands-off and pressed
        nothing (the policy keeps control)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device and restore anything it changed (terminal modes, ...)."""

    @property
    @abc.abstractmethod
    def is_connected(self) -> bool:
        """Whether `connect()` succeeded and `close()` has not been called since."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """A new episode starts: forget per-episode state (an expert's phase)."""

    def __enter__(self) -> Teleoperator:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


TELEOPERATORS: Registry[type[Teleoperator]] = Registry("teleoperator")
TELEOP_CONFIGS: Registry[type[TeleopConfig]] = Registry("teleoperator config")


def register_teleoperator(name: str, config_cls: type[TeleopConfig]):  # noqa: ANN201 - decorator
    """Register a teleoperator class under `name` together with its config dataclass."""

    def decorator(cls: type[Teleoperator]) -> type[Teleoperator]:
        config_cls.type = name
        TELEOP_CONFIGS.register(name)(config_cls)
        return TELEOPERATORS.register(name)(cls)

    return decorator


def make_teleoperator(type: str, **overrides: Any) -> Teleoperator:  # noqa: A002 - config key
    """Build a teleoperator by name, e.g. `make_teleoperator("scripted", task="pick_cube")`.

    Nothing is opened until `connect()` (or `with`).
    """
    import robolearn.teleop.devices  # noqa: F401 - registers the built-in teleoperators

    config = TELEOP_CONFIGS.get(type)(**overrides)
    return TELEOPERATORS.get(type)(config)


# --- helpers shared by devices ----------------------------------------------------------------
def check_unit_interval(name: str, value: float, *, upper_open: bool = True) -> None:
    """ValueError unless 0 <= value < 1 (or <= 1)."""
    ok = 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0
    if not (np.isfinite(value) and ok):
        bound = "< 1" if upper_open else "<= 1"
        raise ValueError(f"{name} must be >= 0 and {bound}, got {value}")


def check_positive(name: str, value: float) -> None:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive, got {value}")


def apply_deadband(values: np.ndarray, deadband: float) -> np.ndarray:
    """Zero inside the deadband, rescaled outside it so the output still starts at 0 and
    reaches 1 at full deflection (no jump at the edge)."""
    values = np.asarray(values, dtype=np.float64)
    mag = np.abs(values)
    out = np.sign(values) * (mag - deadband) / (1.0 - deadband)
    return np.where(mag > deadband, out, 0.0)


class GripperLatch:
    """The gripper command a device holds between presses.

    While the operator is hands-off it follows the gripper last executed (by the policy or
    anyone), so a takeover keeps the current grasp; presses then set or flip it.
    """

    def __init__(self) -> None:
        self.closed = False

    @property
    def value(self) -> float:
        return GRIPPER_CLOSE if self.closed else GRIPPER_OPEN

    def follow(self, last_action: np.ndarray | None) -> None:
        if last_action is not None:
            self.closed = bool(np.asarray(last_action)[MOTION_DIM] > 0.0)

    def toggle(self) -> None:
        self.closed = not self.closed
