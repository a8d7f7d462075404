"""One typed config tree per entry point: keyword-only dataclasses, loaded from YAML, overridden
with dotted ``key=value`` items, printed, saved beside outputs, flattened into ROS parameters and
compared on resume.

    config = load(TrainConfig(), "run.yaml", ["agent.utd_ratio=4", "loop.env_steps=15000"])
    print(to_yaml(config))                    # --print-config
    flat = flatten(config)                    # {"agent.utd_ratio": 4, ...}: ROS parameters
    same = from_flat(TrainConfig(), flat)     # and back, typed
    diff(saved, config)                       # ["agent.utd_ratio: 4 -> 2", ...] for resume

Defaults live once, in the dataclass. A field's help text is ``field(metadata={"help": ...})``
(see `option`); `describe` lists them by dotted key (ROS parameter descriptions, docs). A field
holding a ``dict`` (free-form options of a registered part, e.g. an encoder's) is a section whose
keys are not fixed: dotted keys below it are accepted as they come.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

C = TypeVar("C")


class ConfigError(ValueError):
    """A config file or override that does not fit the tree; the message names the key."""


def option(default: Any, help: str) -> Any:  # noqa: A002 - reads as the field's help text
    """A dataclass field with a default (copied per instance for lists/dicts) and help text."""
    if isinstance(default, list | dict | set):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata={"help": help}
        )
    return dataclasses.field(default=default, metadata={"help": help})


# --- reading -----------------------------------------------------------------------------------
def _coerce(template: Any, value: Any, key: str) -> Any:
    """``value`` (parsed YAML) as the type of the field it replaces."""
    if isinstance(template, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(template, int | float) and isinstance(value, str):
        try:  # YAML 1.1 reads 3e-5 (no dot) as a string
            value = float(value)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if isinstance(template, int | float) and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if isinstance(template, float):
        return float(value)
    if isinstance(template, int):
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if isinstance(template, tuple):
        if not isinstance(value, list | tuple):
            value = [value]
        return tuple(value)
    if isinstance(template, dict) and not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    if isinstance(template, str) and not isinstance(value, str):
        if value is None:
            return ""
        return str(value)
    return value


def _field_names(node: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(node)]


def set_key(node: Any, key: str, value: Any, prefix: str = "") -> None:
    """Set the dotted ``key`` of a config tree (in place), typed like the field it replaces."""
    head, _, rest = key.partition(".")
    if isinstance(node, dict):
        if rest:
            sub = node.setdefault(head, {})
            if not isinstance(sub, dict):
                raise ConfigError(f"{prefix + head} is a value, not a section")
            set_key(sub, rest, value, prefix + head + ".")
        else:
            node[head] = value
        return
    names = _field_names(node)
    if head not in names:
        where = prefix.rstrip(".") or "the config"
        raise ConfigError(f"unknown key {prefix + head!r} in {where}; known: {', '.join(names)}")
    current = getattr(node, head)
    if rest:
        if not (dataclasses.is_dataclass(current) or isinstance(current, dict)):
            raise ConfigError(f"{prefix + head} is a value, not a section")
        set_key(current, rest, value, prefix + head + ".")
    elif dataclasses.is_dataclass(current):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{prefix + head} is a section: give a mapping")
        for k, v in value.items():
            set_key(current, str(k), v, prefix + head + ".")
    elif isinstance(current, dict) and isinstance(value, Mapping):
        # a free-form section given whole replaces the old one (a YAML file says it all)
        setattr(node, head, dict(value))
    else:
        setattr(node, head, _coerce(current, value, prefix + head))


def apply(config: C, raw: Mapping[str, Any]) -> C:
    """Set every key of a (nested or dotted) mapping on ``config``; returns it, validated."""
    for key, value in raw.items():
        set_key(config, str(key), value)
    return validate(config)


def parse_override(item: str) -> tuple[str, Any]:
    """``"a.b=3"`` -> ``("a.b", 3)``: the value is YAML (numbers, lists, mappings, true)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: write key=value, e.g. loop.env_steps=5000")
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {item!r}: the value is not YAML ({err})") from None
    return key.strip(), value


def load(
    config: C,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> C:
    """``config`` (a default tree), then a YAML file's keys, then dotted ``key=value`` items."""
    if config_file is not None:
        try:
            raw = yaml.safe_load(Path(config_file).read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{config_file}: not YAML ({err})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{config_file}: expected a mapping of config keys")
        for k, v in raw.items():
            set_key(config, str(k), v)
    for item in overrides:
        set_key(config, *parse_override(item))
    return validate(config)


def validate(config: C) -> C:
    """Run every ``__post_init__`` of the tree again (after keys were set one by one)."""

    def visit(node: Any) -> None:
        for f in dataclasses.fields(node):
            child = getattr(node, f.name)
            if dataclasses.is_dataclass(child):
                visit(child)
        post = getattr(node, "__post_init__", None)
        if post is not None:
            try:
                post()
            except ConfigError:
                raise
            except (ValueError, KeyError, TypeError) as err:
                raise ConfigError(str(err).strip("'\"")) from None

    visit(config)
    return config


# --- writing -----------------------------------------------------------------------------------
def to_dict(config: Any) -> dict[str, Any]:
    """A JSON/YAML-ready nested dict (tuples as lists)."""

    def plain(x: Any) -> Any:
        if dataclasses.is_dataclass(x):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [plain(v) for v in x]
        if isinstance(x, Path):
            return str(x)
        return x

    return plain(config)


def to_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def save(config: Any, path: str | Path) -> Path:
    """Write the effective config as YAML (beside a run's outputs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(config))
    return path


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values (lists for tuples): the tree as ROS parameters. Free-form
    (dict) sections contribute their present keys."""
    out: dict[str, Any] = {}
    items: Iterable[tuple[str, Any]]
    if dataclasses.is_dataclass(config):
        items = ((f.name, getattr(config, f.name)) for f in dataclasses.fields(config))
    else:
        items = config.items()
    for name, value in items:
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(value) or isinstance(value, dict):
            out.update(flatten(value, key + "."))
        elif isinstance(value, tuple | list):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def from_flat(config: C, flat: Mapping[str, Any]) -> C:
    """Set dotted keys (ROS parameters, flattened YAML) on ``config``; validated."""
    for key, value in flat.items():
        set_key(config, key, value)
    return validate(config)


def free_sections(config: Any, prefix: str = "") -> list[str]:
    """Dotted names of the free-form (dict) sections, which take keys not declared in advance."""
    out: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out += free_sections(value, f"{prefix}{f.name}.")
        elif isinstance(value, dict):
            out.append(f"{prefix}{f.name}")
    return out


def describe(config: Any, prefix: str = "") -> dict[str, str]:
    """Help text by dotted key (a field's ``metadata["help"]``; '' where it has none)."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(describe(value, key + "."))
        else:
            out[key] = str(f.metadata.get("help", ""))
    return out


def diff(old: Any, new: Any, *, ignore: Iterable[str] = ()) -> list[str]:
    """``"key: old -> new"`` for every dotted key whose value differs (missing keys too);
    keys under an ``ignore`` prefix are left out (run-time choices such as the device)."""
    a, b = flatten_any(old), flatten_any(new)
    skip = tuple(ignore)
    out = []
    for key in sorted(set(a) | set(b)):
        if skip and any(key == s or key.startswith(s + ".") for s in skip):
            continue
        if _canonical(a.get(key, "<unset>")) != _canonical(b.get(key, "<unset>")):
            out.append(f"{key}: {a.get(key, '<unset>')!r} -> {b.get(key, '<unset>')!r}")
    return out


def flatten_any(config: Any) -> dict[str, Any]:
    """`flatten` of a tree or of its `to_dict` form (a config read back from JSON/YAML)."""
    return flatten(config if dataclasses.is_dataclass(config) else dict(config))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --- command lines -----------------------------------------------------------------------------
def add_arguments(parser: Any, example: str = "loop.env_steps=5000") -> None:
    """``--config FILE``, ``--set KEY=VALUE`` (repeatable) and ``--print-config`` on an
    argparse parser; `from_arguments` applies them."""
    from pathlib import Path as _Path

    parser.add_argument("--config", type=_Path, default=None, help="YAML of config keys")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one key, e.g. --set {example} (repeatable; --print-config lists them)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the config and exit")


def from_arguments(config: C, args: Any, shortcuts: Mapping[str, Any] | None = None) -> C:
    """``config``, then ``args.config``'s keys, then ``shortcuts`` (dotted key -> value of a
    convenience flag; None: not given), then ``args.set``."""
    config = load(config, getattr(args, "config", None))
    for key, value in (shortcuts or {}).items():
        if value is not None:
            set_key(config, key, value)
    for item in getattr(args, "set", ()) or ():
        set_key(config, *parse_override(item))
    return validate(config)
