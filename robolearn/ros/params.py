"""Node parameters from a table: every node declares ``PARAMETERS = {name: (default,
description)}`` and reads them here, so `--ros-args -p`, YAML files and keyword overrides in
tests all go through the same declarations (tests/test_launch.py checks the YAML files)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

ParameterTable = Mapping[str, tuple[Any, str]]


def parameter_overrides(values: Mapping[str, Any]) -> list[Parameter]:
    """Keyword overrides for `Node(parameter_overrides=...)`, as ``-p name:=value`` would."""
    return [Parameter(name, value=value) for name, value in values.items()]


def declare_parameters(node: Node, table: ParameterTable) -> dict[str, Any]:
    """Declare every parameter of ``table`` on ``node`` with its description; their values."""
    for name, (default, description) in table.items():
        node.declare_parameter(name, default, ParameterDescriptor(description=description))
    return {name: node.get_parameter(name).value for name in table}
