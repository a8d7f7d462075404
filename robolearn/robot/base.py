"""The `Robot` interface that the twin and the real Franka both implement.

Every backend owns a `SafetyLayer`: targets pass through it in `command`, so no caller can
reach the controller around it. Backends are chosen by a string `type` from `ROBOTS`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

from robolearn.config import option
from robolearn.registry import Registry
from robolearn.robot.safety import SafetyLayer
from robolearn.robot.types import CartesianTarget, GripperCommand, RobotState


@dataclass(kw_only=True)
class RobotConfig:
    """Base config of a backend; subclasses add their own fields."""

    type: ClassVar[str] = ""
    limits_file: str | None = option(None, "Cell limits YAML; None: hardware/franka.yaml.")


class Robot(abc.ABC):
    """One arm with a gripper, real or simulated, driven by Cartesian impedance targets."""

    config: RobotConfig
    safety: SafetyLayer
    # True for backends whose time only passes in `advance()` (the twin); hardware runs by itself.
    simulated: ClassVar[bool] = False
    # True for backends whose methods may be called from several threads at once (internal
    # locks): a long call (reset's move home) then runs beside the bridge's state loop.
    thread_safe: ClassVar[bool] = False

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection (hardware) or build the simulation (twin)."""

    @abc.abstractmethod
    def observe(self) -> RobotState:
        """Return the latest state."""

    @abc.abstractmethod
    def command(self, target: CartesianTarget) -> CartesianTarget:
        """Send an end-effector target through the safety layer; return the target applied."""

    @abc.abstractmethod
    def hold(self) -> None:
        """Track the current measured pose (used on arming, disarming and after resets)."""

    @abc.abstractmethod
    def gripper(self, command: GripperCommand) -> None:
        """Command the gripper width (metres)."""

    @abc.abstractmethod
    def advance(self, seconds: float) -> None:
        """Let `seconds` of robot time pass: the twin steps physics, hardware waits."""

    @abc.abstractmethod
    def reset(self, joint_positions: Any = None) -> RobotState:
        """Move to the home (or given) joint configuration and hold it."""

    @abc.abstractmethod
    def recover(self) -> None:
        """Clear a recoverable error and the e-stop latch after the cause is gone."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop motion and release the connection."""

    def __enter__(self) -> Robot:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


ROBOTS: Registry[type[Robot]] = Registry("robot backend")
ROBOT_CONFIGS: Registry[type[RobotConfig]] = Registry("robot backend config")


def register_robot(name: str, config_cls: type[RobotConfig]):  # noqa: ANN201 - decorator
    """Register a backend class under `name` together with its config dataclass."""

    def decorator(cls: type[Robot]) -> type[Robot]:
        config_cls.type = name
        ROBOT_CONFIGS.register(name)(config_cls)
        return ROBOTS.register(name)(cls)

    return decorator


def make_robot(type: str, **overrides: Any) -> Robot:  # noqa: A002 - the config key is `type`
    """Build a backend by name, e.g. `make_robot("twin", task="pick_cube")`."""
    import robolearn.robot.backends  # noqa: F401 - registers the built-in backends

    config = ROBOT_CONFIGS.get(type)(**overrides)
    return ROBOTS.get(type)(config)
