"""The schema of an episode dataset: which per-step arrays it holds, with shape and dtype.

Keys are flat names: `obs.state`, `obs.images.<camera>` (uint8 HxWx3), `action`, `reward`,
`terminated`, `truncated`, `action_source` (uint8, see `ActionSource`), `intervention` (bool).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "robolearn.episodes"
FORMAT_VERSION = 1
IMAGE_PREFIX = "obs.images."


class ActionSource(enum.IntEnum):
    """Who produced the action of a step (recorded per step; SERL interventions)."""

    POLICY = 0
    HUMAN = 1
    SCRIPTED = 2


class SchemaError(ValueError):
    """Data does not match the dataset's schema; the message names the episode and key."""


@dataclass(frozen=True)
class FieldSpec:
    shape: tuple[int, ...]  # per-step shape
    dtype: str

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3 and self.shape[-1] == 3 and np.dtype(self.dtype) == np.uint8

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}

    @staticmethod
    def from_json(raw: dict[str, Any]) -> FieldSpec:
        return FieldSpec(tuple(int(s) for s in raw["shape"]), str(raw["dtype"]))


Schema = dict[str, FieldSpec]

REQUIRED_KEYS = ("obs.state", "action", "reward", "terminated", "truncated", "action_source")


def schema_from_arrays(steps: dict[str, np.ndarray]) -> Schema:
    """Infer a schema from one episode's time-major arrays."""
    return {k: FieldSpec(tuple(v.shape[1:]), np.asarray(v).dtype.str) for k, v in steps.items()}


def check_episode(
    schema: Schema, steps: dict[str, np.ndarray], where: str
) -> tuple[int, dict[str, np.ndarray]]:
    """Check an episode against the schema; return its length and the arrays cast to dtype."""
    missing = sorted(set(schema) - set(steps))
    extra = sorted(set(steps) - set(schema))
    if missing:
        raise SchemaError(f"{where}: missing key(s) {', '.join(missing)}")
    if extra:
        raise SchemaError(f"{where}: key(s) not in the dataset schema: {', '.join(extra)}")
    lengths = {k: len(v) for k, v in steps.items()}
    length = next(iter(lengths.values()))
    if any(n != length for n in lengths.values()):
        raise SchemaError(f"{where}: keys have different lengths {lengths}")
    if length == 0:
        raise SchemaError(f"{where}: an episode needs at least one step")
    out = {}
    for key, spec in schema.items():
        arr = np.asarray(steps[key])
        if tuple(arr.shape[1:]) != spec.shape:
            raise SchemaError(
                f"{where}, key '{key}': per-step shape {tuple(arr.shape[1:])}, schema {spec.shape}"
            )
        target = np.dtype(spec.dtype)
        if arr.dtype != target and not np.can_cast(arr.dtype, target, casting="same_kind"):
            raise SchemaError(f"{where}, key '{key}': dtype {arr.dtype} cannot become {target}")
        out[key] = arr.astype(target, copy=False)
    return length, out
