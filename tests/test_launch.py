"""Static checks of the ROS 2 launch files (`launch`/`launch_ros` are not on PyPI, so the files
are parsed rather than executed), and the console scripts they name start with `--ros-args`."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from robolearn.paths import asset_dir

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = asset_dir("launch")
LAUNCH_FILES = sorted(LAUNCH.glob("*.launch.py"))


def _console_scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return project["project"]["scripts"]


def _node_parameters() -> dict[str, dict]:
    pytest.importorskip("rclpy")
    from robolearn.ros import (
        actor_node,
        camera_node,
        device_teleop_node,
        learner_node,
        perception_node,
        recorder_node,
        robot_bridge,
        teleop_node,
    )

    return {
        "robot_bridge": robot_bridge.PARAMETERS,
        "scripted_teleop": teleop_node.PARAMETERS,
        "device_teleop": device_teleop_node.PARAMETERS,
        "camera_node": camera_node.PARAMETERS,
        "fiducial_perception": perception_node.PARAMETERS,
        "recorder": recorder_node.PARAMETERS,
        "serl_actor": actor_node.PARAMETERS,
        "serl_learner": learner_node.PARAMETERS,
    }


def _flat(params: dict, prefix: str = "") -> dict:
    """A nested ros__parameters section as ROS reads it: dotted names."""
    out: dict = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", "")) == name
    ]


def _kw(call: ast.Call, key: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == key), None)


def test_there_are_sim_and_real_launch_files() -> None:
    assert {p.name for p in LAUNCH_FILES} >= {"sim.launch.py", "real.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_existing_executables_and_params(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
               for n in tree.body)  # fmt: skip
    assert _calls(tree, "DeclareLaunchArgument"), "launch arguments must be declared"
    scripts = _console_scripts()
    nodes = _calls(tree, "Node")
    assert nodes
    for node in nodes:
        assert ast.literal_eval(_kw(node, "package")) == "robolearn"
        executable = ast.literal_eval(_kw(node, "executable"))
        assert executable in scripts, f"{path.name}: no console script {executable!r}"
    yamls = [
        c.value
        for c in ast.walk(tree)
        if isinstance(c, ast.Constant) and isinstance(c.value, str)
        and c.value.endswith(".yaml") and " " not in c.value
    ]  # fmt: skip
    assert yamls, f"{path.name} names no parameter file"
    for name in yamls:
        assert (LAUNCH / name).is_file(), f"{path.name}: missing params file {name}"
    # Every launch argument used as a node parameter override is a declared argument.
    declared = {ast.literal_eval(c.args[0]) for c in _calls(tree, "DeclareLaunchArgument")}
    used = {ast.literal_eval(c.args[0]) for c in _calls(tree, "LaunchConfiguration")}
    assert used <= declared, f"{path.name}: undeclared launch arguments {used - declared}"


@pytest.mark.parametrize("path", sorted(LAUNCH.glob("*.yaml")), ids=lambda p: p.name)
def test_every_yaml_parameter_is_declared_by_its_node(path: Path) -> None:
    declared = _node_parameters()
    content = yaml.safe_load(path.read_text())
    for node, section in content.items():
        assert node in declared, f"{path.name}: unknown node {node!r}"
        params = _flat(section["ros__parameters"])
        for key, value in params.items():
            assert key in declared[node], f"{path.name}: {node} does not declare {key!r}"
            default = declared[node][key][0]
            if default is None or default == []:
                continue  # an optional or empty-list default takes any type of value
            assert type(value) is type(default), (
                f"{path.name}: {node}.{key} is {type(value).__name__}, "
                f"declared {type(default).__name__}"
            )


def test_node_parameters_have_descriptions() -> None:
    for node, params in _node_parameters().items():
        for key, (_, description) in params.items():
            assert len(description) > 10, f"{node}.{key} needs a description"


def test_console_script_starts_with_ros_args_and_params_file() -> None:
    pytest.importorskip("rclpy")
    script = Path(sys.executable).parent / "robot_bridge"
    assert script.exists(), "pip install -e . installs the robot_bridge console script"
    env = dict(os.environ, ROS_DOMAIN_ID=str(30 + os.getpid() % 100))
    proc = subprocess.Popen(
        [str(script), "--ros-args", "--params-file", str(LAUNCH / "sim.yaml"),
         "-p", "task:=reach", "-p", "publish_hz:=50.0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "robot_bridge up:" in line:
                break
        assert any("robot_bridge up: backend=twin task=reach" in x for x in lines), lines
        assert any("publish_hz=50.0" in x for x in lines), lines
    finally:
        proc.terminate()
        proc.wait(timeout=10)
