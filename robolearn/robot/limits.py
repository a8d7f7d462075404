"""Typed view of `hardware/franka.yaml`: limits and gains shared by the twin and the hardware.

Every field is required and checked (shape, finiteness, ordering); errors name the file and the
field so a user can fix the YAML without reading this code.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

FORMAT_VERSION = 1


class LimitsError(ValueError):
    """`hardware/franka.yaml` is missing, malformed or inconsistent."""


@dataclass(frozen=True, kw_only=True)
class ArmLimits:
    fci_ip: str
    home_joint_positions: np.ndarray  # (7,)
    joint_lower: np.ndarray  # (7,)
    joint_upper: np.ndarray  # (7,)
    max_joint_torque: np.ndarray  # (7,)


@dataclass(frozen=True, kw_only=True)
class SafetyLimits:
    workspace_min: np.ndarray  # (3,)
    workspace_max: np.ndarray  # (3,)
    max_tilt: float
    max_translation_step: float
    max_rotation_step: float
    max_ee_speed: float
    max_ee_angular_speed: float
    joint_margin: float
    joint_margin_stiffness: float
    watchdog_timeout: float


@dataclass(frozen=True, kw_only=True)
class ImpedanceGains:
    translational_stiffness: float
    rotational_stiffness: float
    translational_damping: float | None
    rotational_damping: float | None
    nullspace_stiffness: float

    def stiffness(self) -> np.ndarray:
        """(6,) diagonal stiffness: translation then rotation."""
        return np.array([self.translational_stiffness] * 3 + [self.rotational_stiffness] * 3)

    def damping(self) -> np.ndarray:
        """(6,) diagonal damping; critical (2 sqrt(K)) where the YAML says null."""
        dt = self.translational_damping
        dr = self.rotational_damping
        dt = 2.0 * math.sqrt(self.translational_stiffness) if dt is None else dt
        dr = 2.0 * math.sqrt(self.rotational_stiffness) if dr is None else dr
        return np.array([dt] * 3 + [dr] * 3)


@dataclass(frozen=True, kw_only=True)
class GripperLimits:
    max_width: float
    grasp_force: float
    speed: float


@dataclass(frozen=True, kw_only=True)
class CollisionThresholds:
    lower_torque_thresholds: np.ndarray  # (7,)
    upper_torque_thresholds: np.ndarray  # (7,)
    lower_force_thresholds: np.ndarray  # (6,)
    upper_force_thresholds: np.ndarray  # (6,)


@dataclass(frozen=True, kw_only=True)
class CellLimits:
    """Everything in `hardware/franka.yaml`."""

    arm: ArmLimits
    safety: SafetyLimits
    impedance: ImpedanceGains
    gripper: GripperLimits
    collision: CollisionThresholds
    source: str


_VECTOR_SIZES = {
    "home_joint_positions": 7,
    "joint_lower": 7,
    "joint_upper": 7,
    "max_joint_torque": 7,
    "workspace_min": 3,
    "workspace_max": 3,
    "lower_torque_thresholds": 7,
    "upper_torque_thresholds": 7,
    "lower_force_thresholds": 6,
    "upper_force_thresholds": 6,
}
_OPTIONAL = {"translational_damping", "rotational_damping"}
_SECTIONS = {
    "robot": ArmLimits,
    "safety": SafetyLimits,
    "impedance": ImpedanceGains,
    "gripper": GripperLimits,
    "collision": CollisionThresholds,
}


def _parse_section(source: str, name: str, raw: Any, cls: type) -> Any:
    if not isinstance(raw, dict):
        raise LimitsError(f"{source}: section '{name}' must be a mapping, got {type(raw).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise LimitsError(f"{source}: unknown field(s) in '{name}': {', '.join(unknown)}")
    missing = sorted(fields - set(raw))
    if missing:
        raise LimitsError(f"{source}: missing field(s) in '{name}': {', '.join(missing)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{source}: {name}.{key}"
        if key == "fci_ip":
            if not isinstance(value, str) or not value:
                raise LimitsError(f"{where} must be a non-empty string")
            values[key] = value
        elif key in _VECTOR_SIZES:
            size = _VECTOR_SIZES[key]
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise LimitsError(f"{where} must be a list of {size} numbers") from None
            if arr.shape != (size,) or not np.all(np.isfinite(arr)):
                raise LimitsError(f"{where} must be a list of {size} finite numbers, got {value!r}")
            arr.setflags(write=False)
            values[key] = arr
        else:
            if value is None and key in _OPTIONAL:
                values[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise LimitsError(f"{where} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise LimitsError(f"{where} must be a finite non-negative number, got {value!r}")
            values[key] = float(value)
    return cls(**values)


def _check_consistency(source: str, cell: CellLimits) -> None:
    arm, safety = cell.arm, cell.safety
    if np.any(arm.joint_lower >= arm.joint_upper):
        raise LimitsError(f"{source}: robot.joint_lower must be below robot.joint_upper")
    if np.any(arm.max_joint_torque <= 0):
        # A limit <= 0 would make the torque saturation pin a joint at +-limit.
        raise LimitsError(f"{source}: robot.max_joint_torque must be positive for every joint")
    if np.any(arm.home_joint_positions <= arm.joint_lower + safety.joint_margin) or np.any(
        arm.home_joint_positions >= arm.joint_upper - safety.joint_margin
    ):
        raise LimitsError(f"{source}: robot.home_joint_positions must lie inside the joint margins")
    if np.any(safety.workspace_min >= safety.workspace_max):
        raise LimitsError(f"{source}: safety.workspace_min must be below safety.workspace_max")
    for key in (
        "max_translation_step",
        "max_rotation_step",
        "max_ee_speed",
        "max_ee_angular_speed",
        "watchdog_timeout",
    ):
        if getattr(safety, key) <= 0:
            raise LimitsError(f"{source}: safety.{key} must be positive")
    col = cell.collision
    if np.any(col.lower_torque_thresholds > col.upper_torque_thresholds) or np.any(
        col.lower_force_thresholds > col.upper_force_thresholds
    ):
        raise LimitsError(f"{source}: collision lower thresholds must not exceed the upper ones")
    if cell.gripper.max_width <= 0:
        raise LimitsError(f"{source}: gripper.max_width must be positive")


def default_limits_file() -> Path:
    from robolearn.paths import asset_dir

    return asset_dir("hardware") / "franka.yaml"


def load_limits(path: str | Path | None = None) -> CellLimits:
    """Load and validate a cell file (default: the project's `hardware/franka.yaml`)."""
    file = Path(path) if path is not None else default_limits_file()
    source = str(file)
    if not file.is_file():
        raise LimitsError(f"{source}: limits file not found")
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        raise LimitsError(f"{source}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise LimitsError(f"{source}: expected a mapping at the top level")
    version = raw.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise LimitsError(f"{source}: format_version must be {FORMAT_VERSION}, got {version!r}")
    sections = {}
    for name, cls in _SECTIONS.items():
        if name not in raw:
            raise LimitsError(f"{source}: missing section '{name}'")
        sections[name] = _parse_section(source, name, raw[name], cls)
    unknown = sorted(set(raw) - set(_SECTIONS) - {"format_version"})
    if unknown:
        raise LimitsError(f"{source}: unknown section(s): {', '.join(unknown)}")
    cell = CellLimits(
        arm=sections["robot"],
        safety=sections["safety"],
        impedance=sections["impedance"],
        gripper=sections["gripper"],
        collision=sections["collision"],
        source=source,
    )
    _check_consistency(source, cell)
    return cell
