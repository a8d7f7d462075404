"""Teleoperation: input devices and scripted experts behind one `Teleoperator` interface, and
SERL-style human interventions (`InterventionWrapper`).

Built-in types: `keyboard` (terminal), `spacemouse` (pyspacemouse), `gamepad` (pygame),
`scripted` (a task's expert, optionally imperfect). Device libraries are imported on `connect()`.
"""

from robolearn.teleop.base import (
    TELEOP_CONFIGS,
    TELEOPERATORS,
    TeleopCommand,
    TeleopConfig,
    TeleopContext,
    Teleoperator,
    TeleopError,
    TeleopEvent,
    make_teleoperator,
    register_teleoperator,
)
from robolearn.teleop.devices import gamepad, keyboard, scripted, spacemouse  # noqa: F401
from robolearn.teleop.gamepad import GamepadConfig, GamepadTeleop
from robolearn.teleop.intervention import InterventionWrapper
from robolearn.teleop.keyboard import KeyboardConfig, KeyboardTeleop
from robolearn.teleop.scripted import ScriptedConfig, ScriptedTeleop
from robolearn.teleop.spacemouse import SpaceMouseConfig, SpaceMouseTeleop

__all__ = [
    "TELEOPERATORS",
    "TELEOP_CONFIGS",
    "GamepadConfig",
    "GamepadTeleop",
    "InterventionWrapper",
    "KeyboardConfig",
    "KeyboardTeleop",
    "ScriptedConfig",
    "ScriptedTeleop",
    "SpaceMouseConfig",
    "SpaceMouseTeleop",
    "TeleopCommand",
    "TeleopConfig",
    "TeleopContext",
    "TeleopError",
    "TeleopEvent",
    "Teleoperator",
    "make_teleoperator",
    "register_teleoperator",
]
