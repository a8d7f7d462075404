"""robolearn.robot.limits: the shipped cell file loads; every malformed copy is refused by name."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from robolearn.robot.limits import LimitsError, default_limits_file, load_limits

SHIPPED = default_limits_file()


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "franka.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _modified(tmp_path: Path, raw: dict, section: str, key: str, value: object) -> Path:
    data = copy.deepcopy(raw)
    data[section][key] = value
    return _write(tmp_path, data)


def test_shipped_file_loads():
    cell = load_limits()
    assert cell.source == str(SHIPPED)
    assert cell.arm.fci_ip == "172.16.0.2"
    for vec in (cell.arm.home_joint_positions, cell.arm.joint_lower, cell.arm.joint_upper):
        assert vec.shape == (7,) and vec.dtype == np.float64
    assert cell.collision.lower_force_thresholds.shape == (6,)
    np.testing.assert_array_equal(cell.safety.workspace_min, [0.25, -0.30, 0.015])
    np.testing.assert_array_equal(cell.safety.workspace_max, [0.75, 0.30, 0.45])
    assert cell.safety.max_translation_step == 0.01
    assert cell.safety.max_rotation_step == 0.05
    assert cell.gripper.max_width == 0.08
    # Loaded arrays are read-only: nobody can loosen a limit in place.
    with pytest.raises(ValueError):
        cell.safety.workspace_max[0] = 10.0


def test_explicit_path_equals_default(raw, tmp_path):
    cell = load_limits(_write(tmp_path, raw))
    np.testing.assert_array_equal(cell.arm.joint_upper, load_limits().arm.joint_upper)


def test_null_damping_is_critical():
    gains = load_limits().impedance
    assert gains.translational_damping is None and gains.rotational_damping is None
    k, d = gains.stiffness(), gains.damping()
    np.testing.assert_allclose(k, [2000.0] * 3 + [150.0] * 3)
    np.testing.assert_allclose(d, 2.0 * np.sqrt(k))


def test_explicit_damping_is_used(raw, tmp_path):
    data = copy.deepcopy(raw)
    data["impedance"]["translational_damping"] = 50.0
    gains = load_limits(_write(tmp_path, data)).impedance
    np.testing.assert_allclose(gains.damping(), [50.0] * 3 + [2.0 * math.sqrt(150.0)] * 3)


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(LimitsError, match="not found") as info:
        load_limits(missing)
    assert str(missing) in str(info.value)


def test_invalid_yaml(tmp_path):
    path = tmp_path / "franka.yaml"
    path.write_text("robot: [1, 2\nsafety: {")
    with pytest.raises(LimitsError, match="not valid YAML"):
        load_limits(path)


@pytest.mark.parametrize("content", ["", "- 1\n- 2\n", "just a string\n"])
def test_top_level_not_a_mapping(tmp_path, content):
    path = tmp_path / "franka.yaml"
    path.write_text(content)
    with pytest.raises(LimitsError, match="mapping at the top level"):
        load_limits(path)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_format_version(raw, tmp_path, version):
    data = copy.deepcopy(raw)
    data["format_version"] = version
    with pytest.raises(LimitsError, match="format_version must be 1"):
        load_limits(_write(tmp_path, data))


def test_missing_format_version(raw, tmp_path):
    data = copy.deepcopy(raw)
    del data["format_version"]
    with pytest.raises(LimitsError, match="format_version"):
        load_limits(_write(tmp_path, data))


@pytest.mark.parametrize("section", ["robot", "safety", "impedance", "gripper", "collision"])
def test_missing_section(raw, tmp_path, section):
    data = copy.deepcopy(raw)
    del data[section]
    with pytest.raises(LimitsError, match=f"missing section '{section}'"):
        load_limits(_write(tmp_path, data))


def test_unknown_section(raw, tmp_path):
    data = copy.deepcopy(raw)
    data["cameras"] = {"front": 1}
    with pytest.raises(LimitsError, match="unknown section.*cameras"):
        load_limits(_write(tmp_path, data))


def test_section_not_a_mapping(raw, tmp_path):
    data = copy.deepcopy(raw)
    data["gripper"] = [0.08, 20.0, 0.1]
    with pytest.raises(LimitsError, match="section 'gripper' must be a mapping"):
        load_limits(_write(tmp_path, data))


@pytest.mark.parametrize(
    ("section", "key"),
    [("robot", "joint_upper"), ("safety", "max_tilt"), ("impedance", "translational_damping")],
)
def test_missing_field(raw, tmp_path, section, key):
    data = copy.deepcopy(raw)
    del data[section][key]
    with pytest.raises(LimitsError, match=f"missing field\\(s\\) in '{section}': {key}"):
        load_limits(_write(tmp_path, data))


def test_unknown_field(raw, tmp_path):
    path = _modified(tmp_path, raw, "safety", "max_speeed", 0.5)
    with pytest.raises(LimitsError, match="unknown field\\(s\\) in 'safety': max_speeed"):
        load_limits(path)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("robot", "joint_lower", [-2.8973] * 6),
        ("robot", "max_joint_torque", [87.0] * 8),
        ("safety", "workspace_min", [[0.25, -0.3, 0.015]]),
        ("safety", "workspace_max", 0.5),
        ("collision", "lower_force_thresholds", [20.0] * 7),
    ],
)
def test_wrong_length_vector(raw, tmp_path, section, key, value):
    path = _modified(tmp_path, raw, section, key, value)
    with pytest.raises(LimitsError, match=f"{section}\\.{key} must be a list of"):
        load_limits(path)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("safety", "workspace_min", [0.25, float("nan"), 0.015]),
        ("safety", "workspace_max", [0.75, float("inf"), 0.45]),
        ("robot", "joint_upper", [2.8973, 1.7628, "high", -0.0698, 2.8973, 3.7525, 2.8973]),
        ("robot", "home_joint_positions", [0.0, None, 0.0, -2.4, 0.0, 2.2, 0.8]),
        ("collision", "upper_force_thresholds", {"x": 1.0}),
    ],
)
def test_non_numeric_vector(raw, tmp_path, section, key, value):
    path = _modified(tmp_path, raw, section, key, value)
    with pytest.raises(LimitsError, match=f"{section}\\.{key} must be a list of"):
        load_limits(path)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("safety", "max_tilt", float("nan")),
        ("safety", "max_ee_speed", float("inf")),
        ("safety", "watchdog_timeout", "0.25"),
        ("safety", "joint_margin", None),
        ("impedance", "translational_stiffness", True),
        ("impedance", "rotational_damping", "critical"),
        ("gripper", "max_width", [0.08]),
    ],
)
def test_non_numeric_scalar(raw, tmp_path, section, key, value):
    path = _modified(tmp_path, raw, section, key, value)
    with pytest.raises(LimitsError, match=f"{section}\\.{key} must be a"):
        load_limits(path)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("safety", "max_tilt"),
        ("safety", "joint_margin"),
        ("impedance", "rotational_stiffness"),
        ("impedance", "translational_damping"),
        ("gripper", "grasp_force"),
    ],
)
def test_negative_scalar(raw, tmp_path, section, key):
    path = _modified(tmp_path, raw, section, key, -0.1)
    with pytest.raises(LimitsError, match=f"{section}\\.{key} must be a finite non-negative"):
        load_limits(path)


@pytest.mark.parametrize(
    "key",
    [
        "max_translation_step",
        "max_rotation_step",
        "max_ee_speed",
        "max_ee_angular_speed",
        "watchdog_timeout",
    ],
)
def test_zero_where_positive_needed(raw, tmp_path, key):
    path = _modified(tmp_path, raw, "safety", key, 0.0)
    with pytest.raises(LimitsError, match=f"safety\\.{key} must be positive"):
        load_limits(path)


def test_zero_gripper_width(raw, tmp_path):
    path = _modified(tmp_path, raw, "gripper", "max_width", 0)
    with pytest.raises(LimitsError, match="gripper\\.max_width must be positive"):
        load_limits(path)


@pytest.mark.parametrize("value", [[87.0, 87.0, 87.0, -87.0, 12.0, 12.0, 12.0], [0.0] * 7])
def test_non_positive_torque_limit(raw, tmp_path, value):
    # A torque limit <= 0 would make the saturation clamp every joint to +-limit.
    path = _modified(tmp_path, raw, "robot", "max_joint_torque", value)
    with pytest.raises(LimitsError, match="robot\\.max_joint_torque"):
        load_limits(path)


@pytest.mark.parametrize("value", ["", 172, None])
def test_bad_fci_ip(raw, tmp_path, value):
    path = _modified(tmp_path, raw, "robot", "fci_ip", value)
    with pytest.raises(LimitsError, match="robot\\.fci_ip must be a non-empty string"):
        load_limits(path)


@pytest.mark.parametrize("joint", [0, 3, 6])
def test_joint_lower_not_below_upper(raw, tmp_path, joint):
    data = copy.deepcopy(raw)
    data["robot"]["joint_lower"][joint] = data["robot"]["joint_upper"][joint]
    with pytest.raises(LimitsError, match="robot\\.joint_lower must be below robot\\.joint_upper"):
        load_limits(_write(tmp_path, data))


@pytest.mark.parametrize(("axis", "delta"), [(0, 0.0), (1, 0.1), (2, 1.0)])
def test_workspace_min_not_below_max(raw, tmp_path, axis, delta):
    data = copy.deepcopy(raw)
    data["safety"]["workspace_min"][axis] = data["safety"]["workspace_max"][axis] + delta
    with pytest.raises(LimitsError, match="safety\\.workspace_min must be below"):
        load_limits(_write(tmp_path, data))


@pytest.mark.parametrize(
    ("joint", "where"),
    [(0, "upper"), (3, "upper"), (5, "lower"), (6, "beyond")],
)
def test_home_outside_joint_margins(raw, tmp_path, joint, where):
    data = copy.deepcopy(raw)
    robot, margin = data["robot"], data["safety"]["joint_margin"]
    if where == "upper":  # inside the hard limit but within the margin
        robot["home_joint_positions"][joint] = robot["joint_upper"][joint] - 0.5 * margin
    elif where == "lower":
        robot["home_joint_positions"][joint] = robot["joint_lower"][joint] + 0.5 * margin
    else:
        robot["home_joint_positions"][joint] = robot["joint_upper"][joint] + 1.0
    with pytest.raises(LimitsError, match="robot\\.home_joint_positions must lie inside"):
        load_limits(_write(tmp_path, data))


def test_home_margin_check_uses_the_file_margin(raw, tmp_path):
    # The shipped home has joint 6 at 2.1893 (upper 3.7525): a 2 rad margin must refuse it.
    path = _modified(tmp_path, raw, "safety", "joint_margin", 2.0)
    with pytest.raises(LimitsError, match="home_joint_positions"):
        load_limits(path)


def test_error_names_the_file(raw, tmp_path):
    path = _modified(tmp_path, raw, "safety", "max_tilt", "steep")
    with pytest.raises(LimitsError) as info:
        load_limits(path)
    assert str(info.value).startswith(str(path))
    assert isinstance(info.value, ValueError)


def test_format_version_must_be_the_integer_one(tmp_path) -> None:
    import yaml as _yaml

    from robolearn.robot.limits import LimitsError, default_limits_file, load_limits

    raw = _yaml.safe_load(default_limits_file().read_text())
    for bad in (True, 1.0, "1"):
        raw["format_version"] = bad
        path = tmp_path / "franka.yaml"
        path.write_text(_yaml.safe_dump(raw))
        with pytest.raises(LimitsError, match="format_version"):
            load_limits(path)


def test_collision_lower_thresholds_must_not_exceed_upper(tmp_path) -> None:
    import yaml as _yaml

    from robolearn.robot.limits import LimitsError, default_limits_file, load_limits

    raw = _yaml.safe_load(default_limits_file().read_text())
    raw["collision"]["lower_force_thresholds"] = [100.0] * 6
    path = tmp_path / "franka.yaml"
    path.write_text(_yaml.safe_dump(raw))
    with pytest.raises(LimitsError, match="collision"):
        load_limits(path)
