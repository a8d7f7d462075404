"""Node parameters: from a config tree (`declare_config`: the dataclasses of
`robolearn.config`, flattened to dotted names) or from a table ``PARAMETERS = {name: (default,
description)}`` (`declare_parameters`), so `--ros-args -p`, YAML files and keyword overrides in
tests all go through the same declarations (tests/test_launch.py checks the YAML files)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from robolearn.config import describe, flatten, free_sections, from_flat, to_dict

C = TypeVar("C")

ParameterTable = Mapping[str, tuple[Any, str]]


def parameter_overrides(values: Mapping[str, Any]) -> list[Parameter]:
    """Keyword overrides for `Node(parameter_overrides=...)`, as ``-p name:=value`` would."""
    return [Parameter(name, value=value) for name, value in values.items()]


def declare_parameters(node: Node, table: ParameterTable) -> dict[str, Any]:
    """Declare every parameter of ``table`` on ``node`` with its description; their values."""
    for name, (default, description) in table.items():
        node.declare_parameter(name, default, ParameterDescriptor(description=description))
    return {name: node.get_parameter(name).value for name in table}


# --- parameters derived from a config tree ------------------------------------------------------
# Parameters every rclpy node has; they are not part of a robolearn config.
_ROS_OWN = ("use_sim_time", "start_type_description_service")
_ROS_OWN_PREFIXES = ("qos_overrides.",)

# `Node(..., **CONFIG_NODE_OPTIONS)`: overrides under a free-form config section (an encoder's
# options, an env's keyword arguments) are declared from the parameter file or -p flags as given.
CONFIG_NODE_OPTIONS: dict[str, Any] = {"automatically_declare_parameters_from_overrides": True}


def declare_config(node: Node, config: C) -> C:
    """Declare every leaf of a config tree as a parameter (dotted names, `describe`'s help as
    the description) and return the tree with the node's values: defaults from the dataclass,
    overridden by ``--ros-args -p``, ``--params-file`` or keyword overrides. Raises ValueError
    naming a parameter that is not a key of the tree (a typo would otherwise be ignored).

    The node must be created with `CONFIG_NODE_OPTIONS`, so that keys under a free-form
    section (``agent.encoder_options.channels``) arrive without being known in advance."""
    flat = flatten(config)
    helps = describe(config)
    for key, default in flat.items():
        if node.has_parameter(key):
            continue  # declared from an override already; its value wins
        dynamic = default is None or (isinstance(default, list) and not default)
        node.declare_parameter(
            key,
            default,
            ParameterDescriptor(description=helps.get(key, ""), dynamic_typing=dynamic),
        )
    free = tuple(f"{s}." for s in free_sections(config))
    values: dict[str, Any] = {}
    unknown = []
    for name, parameter in node.get_parameters_by_prefix("").items():
        if name in _ROS_OWN or name.startswith(_ROS_OWN_PREFIXES):
            continue
        if name not in flat and not name.startswith(free):
            unknown.append(name)
            continue
        if parameter.value is None and flat.get(name) is None:
            continue
        values[name] = parameter.value
    if unknown:
        raise ValueError(
            f"{node.get_name()}: unknown parameter(s) {sorted(unknown)}; the parameters are the "
            f"config's dotted keys (e.g. {', '.join(list(flat)[:4])}, ...)"
        )
    return from_flat(config, values)


def config_parameters(config: Any) -> dict[str, tuple[Any, str]]:
    """A config tree as a ``PARAMETERS`` table ``{dotted name: (default, description)}``: what
    `declare_config` declares (for docs, launch-file checks and `ros2 param describe`)."""
    helps = describe(config)
    free = free_sections(config)
    out: dict[str, tuple[Any, str]] = {}
    for key, default in flatten(config).items():
        text = helps.get(key, "")
        if not text:
            section = next((s for s in free if key.startswith(s + ".")), "")
            text = f"{helps.get(section, section)} (key {key[len(section) + 1 :]!r})"
        out[key] = (default, text)
    return out


def parameter_file_tree(config: Any) -> dict[str, Any]:
    """A config tree as a ``ros__parameters`` mapping (nested, as ROS reads dotted names):
    unset optional values (None), empty lists and empty free-form sections are left out, since a
    parameter file cannot give them a type (rclpy refuses to declare them from a file); the
    node's value is then the dataclass default, which must be the same (checked)."""
    defaults = flatten(type(config)())

    def prune(node: Any, prefix: str = "") -> Any:
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            name = f"{prefix}{key}"
            if value is None or (isinstance(value, list) and not value):
                if defaults.get(name, value) not in (None, [], value):
                    raise ValueError(
                        f"{name}: an empty value cannot go into a parameter file while the "
                        f"default is {defaults[name]!r}"
                    )
                continue
            value = prune(value, name + ".")
            if value != {}:
                out[key] = value
        return out

    return prune(to_dict(config))

    return prune(to_dict(config))
