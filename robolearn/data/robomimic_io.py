"""robomimic interop: export an episode store to robomimic's HDF5 layout, and import one back.

robomimic's layout (robomimic 0.3.0: `utils/dataset.py` `SequenceDataset`,
`utils/file_utils.py`, `scripts/dataset_states_to_obs.py`):

    data                      attrs: total (int, all samples), env_args (JSON string:
                                     {"env_name", "type", "env_kwargs"})
    data/demo_<i>             attrs: num_samples; demos are ordered by the integer <i>
    data/demo_<i>/obs/<k>     (N, ...) observations; robomimic gives a key its modality
                              (low_dim, rgb, ...) from the training config, not the file
    data/demo_<i>/next_obs/<k>
    data/demo_<i>/actions     (N, A)
    data/demo_<i>/rewards     (N,)
    data/demo_<i>/dones       (N,) int
    data/demo_<i>/states      (N, S) simulator states (for playback)
    mask/<filter key>         optional: demo names of a subset (not written here)

Mapping (store -> robomimic):

- `obs.state` -> `obs/state`; `obs.images.<cam>` -> `obs/<cam>_image` (uint8 HxWx3, the rgb
  modality's naming in robomimic's datasets); any other `obs.<name>` -> `obs/<name>`. Each obs
  dataset carries the attribute `robolearn_key` so that import restores the exact name.
- `next_obs` at step t is the observation of step t+1; at an episode's last step it is the
  store's final observation of that episode.
- `action` -> `actions`, `reward` -> `rewards`.
- `dones`: with `done_mode="episode_end"` (default) `terminated` or the episode's last step,
  robomimic's `--done_mode 2`, which its human-demonstration datasets (PH/MH) use; with
  `done_mode="terminated"`, only `terminated` (robomimic's `--done_mode 0`, used for its
  machine-generated data).
- `states`: a robolearn store keeps no MuJoCo state, so `states` is `obs.state` flattened per
  step; robomimic only reads it to replay demos in a simulator.
- The remaining per-step keys (`terminated`, `truncated`, `action_source`, `intervention`, ...)
  are written next to `actions` under their own names (robomimic ignores datasets it is not
  asked for), and each demo keeps its `EpisodeMeta` as the JSON attribute `robolearn_meta`, so
  export followed by import gives back identical arrays and metadata.

Import goes the other way. For a file robolearn did not write: the observation `state`
becomes `obs.state`; without one, `obs.state` is the concatenation (float32) of the
low-dimensional observation keys (sorted, or `state_keys`), which are also kept as
`obs.<name>`; uint8 HxWx3 keys become `obs.images.<name>` (a trailing `_image` dropped);
`terminated` is `dones`, and `truncated` marks a last step that is not done.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from robolearn.data.schema import IMAGE_PREFIX, ActionSource, FieldSpec, SchemaError
from robolearn.data.store import EpisodeMeta, EpisodeStore, StoreError

log = logging.getLogger(__name__)

STATE_KEY = "state"
IMAGE_SUFFIX = "_image"
GYM_ENV_TYPE = 2  # robomimic.envs.env_base.EnvType.GYM_TYPE
DONE_MODES = ("episode_end", "terminated")
# Demo-level names robomimic gives a meaning to; store keys must not land on them.
ROBOMIMIC_NAMES = frozenset({"obs", "next_obs", "actions", "rewards", "dones", "states"})
RENAMED = {"action": "actions", "reward": "rewards"}  # the other keys keep their names
META_ATTR = "robolearn_meta"
KEY_ATTR = "robolearn_key"
FILE_ATTR = "robolearn"


class RobomimicFormatError(ValueError):
    """The HDF5 file is not in robomimic's layout, or cannot hold this dataset; says where."""


@dataclass
class ExportSummary:
    path: Path
    demos: int
    samples: int
    obs_keys: dict[str, str] = field(default_factory=dict)  # robomimic key -> store key
    env_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportSummary:
    path: Path
    episodes: int
    steps: int
    keys: dict[str, str] = field(default_factory=dict)  # store key -> robomimic dataset


# --- key naming -----------------------------------------------------------------------------
def robomimic_obs_key(key: str) -> str:
    """The robomimic observation name of a store key (`obs.state` -> `state`, ...)."""
    if not key.startswith("obs."):
        raise ValueError(f"{key!r} is not an observation key")
    if key.startswith(IMAGE_PREFIX):
        return key[len(IMAGE_PREFIX) :] + IMAGE_SUFFIX
    return key[len("obs.") :]


def store_obs_key(name: str, is_image: bool) -> str:
    """The store key of a robomimic observation name (the inverse of `robomimic_obs_key`)."""
    if is_image:
        stem = name[: -len(IMAGE_SUFFIX)] if name.endswith(IMAGE_SUFFIX) else name
        return IMAGE_PREFIX + stem
    return "obs." + name


def _is_image(shape: tuple[int, ...], dtype: np.dtype) -> bool:
    return FieldSpec(tuple(shape), np.dtype(dtype).str).is_image


# --- export ---------------------------------------------------------------------------------
def gym_env_id(task: str) -> str:
    """The registered gym id of a twin task (`pick_cube` -> `robolearn/PandaPickCube-v0`).

    Derived from the naming rule instead of `robolearn.envs.ENV_IDS`: importing the envs loads
    MuJoCo, and with MUJOCO_GL=osmesa a later `import triton` (robomimic's training imports it
    through torchvision) then crashes the process (two LLVMs).
    """
    return "robolearn/Panda" + "".join(p.capitalize() for p in task.split("_")) + "-v0"


def _default_env_name(tasks: set[str]) -> str:
    if len(tasks) == 1:
        return gym_env_id(next(iter(tasks)))
    return "robolearn/" + "+".join(sorted(tasks)) if tasks else "robolearn"


def _dones(steps: dict[str, np.ndarray], done_mode: str) -> np.ndarray:
    dones = np.asarray(steps["terminated"], dtype=bool).copy()
    if done_mode == "episode_end":
        dones[-1] = True
    return dones.astype(np.int64)


def export_robomimic(
    store_path: str | Path,
    out_hdf5: str | Path,
    *,
    episodes: Sequence[int] | None = None,
    env_name: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    done_mode: str = "episode_end",
    image_compression: str | None = None,
    overwrite: bool = False,
) -> ExportSummary:
    """Write the store's episodes (all, or `episodes`) as robomimic demos to `out_hdf5`.

    `env_args` names the env robomimic would build for rollouts: a gym env (`type` 2) with
    `env_name` (default: the registered id of the episodes' task) and `env_kwargs` (default:
    the recording's `control_hz`, cameras and image size, which `make_twin_env` accepts).
    `image_compression` is an h5py filter for image datasets (`"gzip"`, `"lzf"`); robomimic's
    own image datasets are uncompressed by default, which reads fastest. The file is written
    next to `out_hdf5` and renamed into place when complete.
    """
    if done_mode not in DONE_MODES:
        raise ValueError(f"done_mode must be one of {DONE_MODES}, got {done_mode!r}")
    out = Path(out_hdf5)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    with EpisodeStore.open(store_path) as store:
        indices = list(range(store.n_episodes)) if episodes is None else list(episodes)
        if not indices:
            raise StoreError(f"{store.path}: no episodes to export")
        obs_keys = [k for k in store.keys if k.startswith("obs.")]
        names = {robomimic_obs_key(k): k for k in obs_keys}
        if len(names) != len(obs_keys):
            raise RobomimicFormatError(
                f"{store.path}: observation keys {obs_keys} map to clashing robomimic names"
            )
        extras = [k for k in store.keys if not k.startswith("obs.") and k not in RENAMED]
        clash = sorted(set(extras) & ROBOMIMIC_NAMES)
        if clash:
            raise RobomimicFormatError(
                f"{store.path}: key(s) {clash} would overwrite robomimic's datasets of that name"
            )
        metas = [store.episode_meta(i) for i in indices]
        image_size = next((list(s.shape[:2]) for k, s in store.schema.items() if s.is_image), None)
        default_kwargs: dict[str, Any] = {"control_hz": metas[0].control_hz}
        cams = [k[len(IMAGE_PREFIX) :] for k in obs_keys if k.startswith(IMAGE_PREFIX)]
        if cams:
            default_kwargs.update(cameras=cams, image_size=image_size)
        env_args = {
            "env_name": env_name or _default_env_name({m.task for m in metas}),
            "type": GYM_ENV_TYPE,
            "env_kwargs": default_kwargs if env_kwargs is None else dict(env_kwargs),
        }
        tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
        total = 0
        try:
            with h5py.File(tmp, "w") as f:
                data = f.create_group("data")
                for demo, (index, meta) in enumerate(zip(indices, metas, strict=True)):
                    total += _write_demo(
                        data.create_group(f"demo_{demo}"),
                        store.episode(index),
                        meta,
                        names,
                        extras,
                        done_mode,
                        image_compression,
                    )
                data.attrs["total"] = total
                data.attrs["env_args"] = json.dumps(env_args, indent=4)
                data.attrs[FILE_ATTR] = json.dumps(
                    {
                        "source": str(store.path),
                        "schema": {k: v.to_json() for k, v in store.schema.items()},
                        "done_mode": done_mode,
                        "states": "obs.state (no simulator state is recorded)",
                    }
                )
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    return ExportSummary(out, len(indices), total, names, env_args)


def _write_demo(
    group: h5py.Group,
    ep: dict[str, np.ndarray],
    meta: EpisodeMeta,
    names: dict[str, str],
    extras: list[str],
    done_mode: str,
    image_compression: str | None,
) -> int:
    n = len(ep["action"])
    for name, key in names.items():
        obs = ep[key]
        nxt = np.concatenate([obs[1:], ep[f"final.{key}"][None]])
        image = _is_image(obs.shape[1:], obs.dtype)
        opts: dict[str, Any] = {}  # contiguous, as robomimic writes them
        if image and image_compression:
            opts = {"chunks": (1, *obs.shape[1:]), "compression": image_compression}
        for prefix, value in (("obs", obs), ("next_obs", nxt)):
            dset = group.create_dataset(f"{prefix}/{name}", data=value, **opts)
            dset.attrs[KEY_ATTR] = key
    group.create_dataset("actions", data=ep["action"])
    group.create_dataset("rewards", data=ep["reward"])
    group.create_dataset("dones", data=_dones(ep, done_mode))
    group.create_dataset("states", data=np.asarray(ep["obs.state"]).reshape(n, -1))
    for key in extras:
        group.create_dataset(key, data=ep[key])
    group.attrs["num_samples"] = n
    group.attrs[META_ATTR] = json.dumps(meta.to_json())
    return n


# --- import ---------------------------------------------------------------------------------
def _demo_names(f: h5py.File, filter_key: str | None, where: str) -> list[str]:
    if "data" not in f:
        raise RobomimicFormatError(f"{where}: no 'data' group (not a robomimic dataset)")
    if filter_key is not None:
        if f"mask/{filter_key}" not in f:
            masks = sorted(f["mask"].keys()) if "mask" in f else []
            raise RobomimicFormatError(f"{where}: no filter key {filter_key!r} (has {masks})")
        demos = [d.decode() if isinstance(d, bytes) else str(d) for d in f[f"mask/{filter_key}"]]
    else:
        demos = list(f["data"].keys())
    try:
        return sorted(demos, key=lambda d: int(d[len("demo_") :]))
    except ValueError:
        raise RobomimicFormatError(
            f"{where}: demo groups must be named demo_<int>, found {demos[:5]}"
        ) from None


def _env_args(f: h5py.File) -> dict[str, Any]:
    raw = f["data"].attrs.get("env_args")
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        return {}


def _read_demo(
    group: h5py.Group,
    where: str,
    state_keys: Sequence[str] | None,
    action_source: ActionSource,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, str]]:
    """One demo as store arrays, its final observation, and store key -> source dataset."""
    for name in ("obs", "actions"):
        if name not in group:
            raise RobomimicFormatError(f"{where}: missing '{name}'")
    actions = group["actions"][()]
    n = len(actions)
    steps: dict[str, np.ndarray] = {"action": actions}
    final: dict[str, np.ndarray] = {}
    source: dict[str, str] = {"action": "actions"}
    lowdim: dict[str, np.ndarray] = {}
    for name, dset in group["obs"].items():
        value = dset[()]
        if len(value) != n:
            raise RobomimicFormatError(f"{where}: obs/{name} has {len(value)} rows, actions {n}")
        key = dset.attrs.get(KEY_ATTR)
        key = (
            str(key)
            if key is not None
            else store_obs_key(name, _is_image(value.shape[1:], value.dtype))
        )
        steps[key] = value
        source[key] = f"obs/{name}"
        if not key.startswith(IMAGE_PREFIX) and value.dtype.kind in "biuf":
            lowdim[name] = value
        if "next_obs" in group and name in group["next_obs"]:
            final[key] = group["next_obs"][name][n - 1]
        else:
            final[key] = value[-1]
    if "obs.state" not in steps:
        names = list(state_keys) if state_keys is not None else sorted(lowdim)
        missing = [k for k in names if k not in lowdim]
        if missing or not names:
            raise RobomimicFormatError(
                f"{where}: cannot build obs.state from {names or 'no low-dimensional keys'}"
                f" (low-dimensional observations: {sorted(lowdim)})"
            )
        parts = [lowdim[k].reshape(n, -1).astype(np.float32) for k in names]
        steps["obs.state"] = np.concatenate(parts, axis=1)
        last = [np.asarray(final[store_obs_key(k, False)]).reshape(-1) for k in names]
        final["obs.state"] = np.concatenate(last).astype(np.float32)
        source["obs.state"] = "obs/{" + ",".join(names) + "}"
    if "rewards" in group:
        steps["reward"] = group["rewards"][()]
        source["reward"] = "rewards"
    else:
        steps["reward"] = np.zeros(n, np.float32)
    dones = group["dones"][()].astype(bool) if "dones" in group else np.zeros(n, bool)
    for key, fallback in (("terminated", dones), ("truncated", None)):
        if key in group:
            steps[key] = group[key][()]
            source[key] = key
        elif fallback is not None:
            steps[key] = fallback
            source[key] = "dones"
        else:
            trunc = np.zeros(n, bool)
            trunc[-1] = not steps["terminated"][-1]
            steps[key] = trunc
    if "action_source" in group:
        steps["action_source"] = group["action_source"][()]
        source["action_source"] = "action_source"
    else:
        steps["action_source"] = np.full(n, int(action_source), np.uint8)
    for name, dset in group.items():
        if name in ROBOMIMIC_NAMES or name in steps or not isinstance(dset, h5py.Dataset):
            continue
        if dset.shape[:1] == (n,):
            steps[name] = dset[()]
            source[name] = name
        else:
            log.info("%s: skipping dataset %r (not one row per step)", where, name)
    return steps, final, source


def import_robomimic(
    in_hdf5: str | Path,
    store_path: str | Path,
    *,
    task: str | None = None,
    state_keys: Sequence[str] | None = None,
    filter_key: str | None = None,
    action_source: ActionSource = ActionSource.HUMAN,
    success: bool | None = None,
) -> ImportSummary:
    """Append the demos of a robomimic HDF5 file to the store at `store_path` (created if new).

    Demos robolearn exported come back with their metadata (`task` overrides it when given).
    For other files, `task` defaults to the env name in `env_args`, `success` to whether the
    last reward is positive (robomimic's sparse task reward), and `action_source` to HUMAN.
    `filter_key` imports only the demos listed under `mask/<filter_key>`.
    """
    path = Path(in_hdf5)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise RobomimicFormatError(f"{path}: not an HDF5 file ({err})") from err
    with f:
        demos = _demo_names(f, filter_key, str(path))
        if not demos:
            raise RobomimicFormatError(f"{path}: no demos to import")
        env_args = _env_args(f)
        env_kwargs = env_args.get("env_kwargs") or {}
        control_hz = env_kwargs.get("control_hz", env_kwargs.get("control_freq"))
        store: EpisodeStore | None = None
        steps_total = 0
        keys: dict[str, str] = {}
        try:
            for demo in demos:
                where = f"{path}:data/{demo}"
                steps, final, source = _read_demo(
                    f[f"data/{demo}"], where, state_keys, action_source
                )
                keys.update(source)
                meta = _demo_meta(f[f"data/{demo}"], steps, env_args, where)
                if task is not None:
                    meta.task = task
                if success is not None:
                    meta.success = success
                if control_hz is not None and META_ATTR not in f[f"data/{demo}"].attrs:
                    meta.control_hz = float(control_hz)
                if store is None:
                    schema = {
                        k: FieldSpec(tuple(v.shape[1:]), np.asarray(v).dtype.str)
                        for k, v in steps.items()
                    }
                    store = EpisodeStore.open_or_create(
                        store_path, schema, source=f"robomimic import of {path.name}"
                    )
                try:
                    store.append(steps, meta, final)
                except SchemaError as err:
                    raise SchemaError(f"{where}: {err}") from err
                steps_total += len(steps["action"])
        finally:
            if store is not None:
                store.close()
    return ImportSummary(Path(store_path), len(demos), steps_total, keys)


def _demo_meta(
    group: h5py.Group, steps: dict[str, np.ndarray], env_args: dict[str, Any], where: str
) -> EpisodeMeta:
    raw = group.attrs.get(META_ATTR)
    if raw is not None:
        meta = EpisodeMeta.from_json(json.loads(raw))
        meta.length = 0
        return meta
    rewards = np.asarray(steps["reward"])
    return EpisodeMeta(
        task=str(env_args.get("env_name", "robomimic")),
        success=bool(rewards.size and rewards[-1] > 0),
        operator="unknown",
        backend="robomimic",
        notes=f"imported from {where}",
    )
