"""The actor/learner wire format: transition batches and weight snapshots as safetensors bytes.

One payload is one safetensors buffer (https://github.com/huggingface/safetensors: an 8-byte
little-endian header length, a JSON header with dtypes, shapes and offsets, then raw tensor
bytes; no code runs on load, unlike pickle). Its ``__metadata__`` says what it is:

==================  ===========================================================================
``format``          ``robolearn.serl``
``format_version``  ``1`` (a reader rejects any other; bump it when the schema changes)
``kind``            ``transitions`` or ``weights``
==================  ===========================================================================

``transitions`` (actor -> learner): metadata ``actor_id``, ``sequence`` (per-actor counter, so a
learner can see losses and restarts), ``policy_version`` (the weights that chose the actions,
-1 while acting randomly). Tensors, ``N`` rows each: ``obs/<key>`` and ``next_obs/<key>`` (keys
as in `robolearn.learn.replay`: dotted, ``""`` for a plain array observation; any numeric dtype,
uint8 camera images included), ``action`` float32 (N, ...), ``reward`` float32 (N,),
``terminated``, ``truncated``, ``intervened`` and ``success`` bool (N,) (``success`` is the
env's ``info["is_success"]`` after the step, meaningful where an episode ends).

``weights`` (learner -> actors): metadata ``version`` (increases with training; the learner
uses its gradient-step counter, so it continues across a resume), ``run_id`` (the training
run), ``config`` (the agent's `RLPDConfig` as JSON, so an actor can build a matching policy).
Tensors: a flat state dict by dotted name (`RLPDAgent.policy_state_dict`).

Decoding checks the header before touching the data and raises `CodecError` (a ValueError)
naming what is wrong: not a safetensors buffer, truncated, another format, an unsupported
version or kind, missing or mis-shaped fields, wrong dtypes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from robolearn.learn.networks import flatten_obs

FORMAT = "robolearn.serl"
FORMAT_VERSION = 1
KIND_TRANSITIONS = "transitions"
KIND_WEIGHTS = "weights"
KINDS = (KIND_TRANSITIONS, KIND_WEIGHTS)

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
_ROW_FIELDS = {
    "action": np.float32,
    "reward": np.float32,
    "terminated": np.bool_,
    "truncated": np.bool_,
    "intervened": np.bool_,
    "success": np.bool_,
}
_SCALAR_ROWS = ("reward", "terminated", "truncated", "intervened", "success")
# Observation leaves: numbers only (no strings, no objects).
_OBS_DTYPES = frozenset(
    np.dtype(t)
    for t in (
        np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64,
        np.float16, np.float32, np.float64,
    )
)  # fmt: skip
_WEIGHT_DTYPES = frozenset(
    np.dtype(t) for t in (np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_)
)


class CodecError(ValueError):
    """A payload is not a valid robolearn.serl message; the message says what is wrong."""


@dataclass
class TransitionBatch:
    """Transitions from one actor, in `robolearn.learn.replay`'s batch layout plus per-row
    ``intervened`` and ``success`` flags."""

    actor_id: str
    sequence: int
    transitions: dict[str, Any]  # {"obs": {key: arr}, "next_obs": {...}, "action", "reward", ...}
    intervened: np.ndarray  # (N,) bool: a teleoperator chose this row's action
    success: np.ndarray  # (N,) bool: info["is_success"] after the step
    policy_version: int = -1  # weights version that acted; -1: random actions

    def __len__(self) -> int:
        return int(len(self.transitions["action"]))

    @property
    def episode_ends(self) -> np.ndarray:
        """(N,) bool: rows that end an episode (terminated or truncated)."""
        return np.logical_or(self.transitions["terminated"], self.transitions["truncated"])


@dataclass
class WeightSnapshot:
    """A learner's policy tensors at one point of training."""

    tensors: dict[str, np.ndarray]
    version: int
    run_id: str
    config: dict[str, Any] = field(default_factory=dict)  # RLPDConfig.to_dict() of the learner


# --- encoding -----------------------------------------------------------------------------------
def _header(kind: str, **extra: str) -> dict[str, str]:
    return {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": kind, **extra}


def _contiguous(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor: zero-copy view of its CPU storage
        a = a.detach().cpu().numpy()
    return np.ascontiguousarray(a)


def encode_transitions(batch: TransitionBatch) -> bytes:
    """Serialise a `TransitionBatch` (validated first, so a bad batch fails at the actor)."""
    t = batch.transitions
    tensors: dict[str, np.ndarray] = {}
    for side in ("obs", "next_obs"):
        for key, value in flatten_obs(t[side]).items():
            tensors[f"{side}/{key}"] = _contiguous(value)
    rows = {**t, "intervened": batch.intervened, "success": batch.success}
    for name, dtype in _ROW_FIELDS.items():
        if name not in rows:
            raise CodecError(f"transition batch has no {name!r}")
        tensors[name] = _contiguous(np.asarray(rows[name], dtype=dtype))
    for name in _SCALAR_ROWS:
        tensors[name] = tensors[name].reshape(-1)
    meta = _header(
        KIND_TRANSITIONS,
        actor_id=str(batch.actor_id),
        sequence=str(int(batch.sequence)),
        policy_version=str(int(batch.policy_version)),
    )
    _check_transitions(tensors, meta)
    return _st_save(tensors, metadata=meta)


def encode_weights(snapshot: WeightSnapshot) -> bytes:
    """Serialise a `WeightSnapshot` (torch tensors or numpy arrays)."""
    tensors = {k: _contiguous(v) for k, v in snapshot.tensors.items()}
    meta = _header(
        KIND_WEIGHTS,
        version=str(int(snapshot.version)),
        run_id=str(snapshot.run_id),
        config=json.dumps(snapshot.config, sort_keys=True),
    )
    _check_weights(tensors, meta)
    return _st_save(tensors, metadata=meta)


# --- decoding -----------------------------------------------------------------------------------
def read_metadata(data: bytes | bytearray | memoryview) -> dict[str, str]:
    """The header metadata of a payload, after checking it is a robolearn.serl message of a
    version this build reads (the tensor data is not parsed)."""
    view = memoryview(data)
    if len(view) < 8:
        raise CodecError(f"payload of {len(view)} bytes is too short to be a safetensors buffer")
    (length,) = struct.unpack("<Q", view[:8])
    if length > _MAX_HEADER or 8 + length > len(view):
        raise CodecError(
            f"payload is not a complete safetensors buffer (header of {length} bytes, payload "
            f"{len(view)} bytes): truncated or not a robolearn.serl message"
        )
    try:
        header = json.loads(bytes(view[8 : 8 + length]))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CodecError(f"payload header is not JSON: not a safetensors buffer ({err})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise CodecError("payload has no safetensors metadata: not a robolearn.serl message")
    if meta.get("format") != FORMAT:
        raise CodecError(f"payload format is {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CodecError(
            f"unsupported {FORMAT} format version {meta.get('format_version')!r}; this build "
            f"reads version {FORMAT_VERSION} (update robolearn on the older side)"
        )
    if meta.get("kind") not in KINDS:
        raise CodecError(f"unknown payload kind {meta.get('kind')!r}; known: {list(KINDS)}")
    return meta


def payload_kind(data: bytes | bytearray | memoryview) -> str:
    """``"transitions"`` or ``"weights"`` (validates the header like `read_metadata`)."""
    return read_metadata(data)["kind"]


def _load(data: bytes | bytearray | memoryview, kind: str) -> tuple[dict, dict[str, str]]:
    meta = read_metadata(data)
    if meta["kind"] != kind:
        raise CodecError(f"expected a {kind!r} payload, got {meta['kind']!r}")
    try:
        tensors = _st_load(bytes(data))
    except SafetensorError as err:
        raise CodecError(f"corrupt {kind} payload: {err}") from None
    return tensors, meta


def decode_transitions(data: bytes | bytearray | memoryview) -> TransitionBatch:
    """Parse and validate a ``transitions`` payload."""
    tensors, meta = _load(data, KIND_TRANSITIONS)
    _check_transitions(tensors, meta)
    obs = {k[len("obs/") :]: v for k, v in tensors.items() if k.startswith("obs/")}
    next_obs = {k[len("next_obs/") :]: v for k, v in tensors.items() if k.startswith("next_obs/")}
    if list(obs) == [""]:  # a plain array observation
        obs, next_obs = obs[""], next_obs[""]
    transitions = {
        "obs": obs,
        "next_obs": next_obs,
        **{k: tensors[k] for k in ("action", "reward", "terminated", "truncated")},
    }
    return TransitionBatch(
        actor_id=meta["actor_id"],
        sequence=int(meta["sequence"]),
        transitions=transitions,
        intervened=tensors["intervened"],
        success=tensors["success"],
        policy_version=int(meta["policy_version"]),
    )


def decode_weights(data: bytes | bytearray | memoryview) -> WeightSnapshot:
    """Parse and validate a ``weights`` payload."""
    tensors, meta = _load(data, KIND_WEIGHTS)
    _check_weights(tensors, meta)
    return WeightSnapshot(
        tensors=tensors,
        version=int(meta["version"]),
        run_id=meta["run_id"],
        config=json.loads(meta["config"]),
    )


# --- schema checks ------------------------------------------------------------------------------
def _int_field(meta: Mapping[str, str], key: str, minimum: int) -> int:
    try:
        value = int(meta[key])
    except KeyError:
        raise CodecError(f"payload metadata has no {key!r}") from None
    except ValueError:
        raise CodecError(f"payload metadata {key!r} is not an integer: {meta[key]!r}") from None
    if value < minimum:
        raise CodecError(f"payload metadata {key!r} must be >= {minimum}, got {value}")
    return value


def _check_transitions(tensors: Mapping[str, np.ndarray], meta: Mapping[str, str]) -> None:
    if not meta.get("actor_id"):
        raise CodecError("transitions payload has no actor_id")
    _int_field(meta, "sequence", 0)
    _int_field(meta, "policy_version", -1)
    missing = [k for k in _ROW_FIELDS if k not in tensors]
    if missing:
        raise CodecError(f"transitions payload lacks {missing}")
    n = tensors["action"].shape[0] if tensors["action"].ndim else -1
    if n < 1:
        raise CodecError(
            f"transitions payload has no rows (action shape {tensors['action'].shape})"
        )
    for name, dtype in _ROW_FIELDS.items():
        a = tensors[name]
        if a.dtype != np.dtype(dtype):
            raise CodecError(f"transitions {name!r} must be {np.dtype(dtype)}, got {a.dtype}")
        if name in _SCALAR_ROWS and a.shape != (n,):
            raise CodecError(f"transitions {name!r} must have shape ({n},), got {a.shape}")
    obs = {k[4:] for k in tensors if k.startswith("obs/")}
    next_obs = {k[9:] for k in tensors if k.startswith("next_obs/")}
    if not obs:
        raise CodecError("transitions payload has no observations (obs/<key>)")
    if obs != next_obs:
        raise CodecError(f"obs keys {sorted(obs)} differ from next_obs keys {sorted(next_obs)}")
    if "" in obs and len(obs) > 1:
        raise CodecError("a plain array observation ('obs/') cannot be mixed with dict keys")
    unknown = (
        set(tensors) - set(_ROW_FIELDS) - {f"obs/{k}" for k in obs} - {f"next_obs/{k}" for k in obs}
    )
    if unknown:
        raise CodecError(f"transitions payload has unknown tensors {sorted(unknown)}")
    for key in obs:
        a, b = tensors[f"obs/{key}"], tensors[f"next_obs/{key}"]
        if a.dtype not in _OBS_DTYPES:
            raise CodecError(f"observation {key!r} has unsupported dtype {a.dtype}")
        if a.dtype != b.dtype or a.shape != b.shape:
            raise CodecError(
                f"obs/next_obs {key!r} disagree: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
            )
        if a.ndim == 0 or a.shape[0] != n:
            raise CodecError(f"observation {key!r} has shape {a.shape}, expected {n} rows")


def _check_weights(tensors: Mapping[str, np.ndarray], meta: Mapping[str, str]) -> None:
    _int_field(meta, "version", 0)
    if not meta.get("run_id"):
        raise CodecError("weights payload has no run_id")
    try:
        config = json.loads(meta.get("config", "{}"))
    except json.JSONDecodeError as err:
        raise CodecError(f"weights payload config is not JSON: {err}") from None
    if not isinstance(config, dict):
        raise CodecError(f"weights payload config must be a JSON object, got {type(config)}")
    if not tensors:
        raise CodecError("weights payload holds no tensors")
    for name, a in tensors.items():
        if a.dtype not in _WEIGHT_DTYPES:
            raise CodecError(f"weight {name!r} has unsupported dtype {a.dtype}")
