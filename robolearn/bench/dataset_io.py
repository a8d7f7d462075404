"""Dataset I/O: recording at camera rate, random-batch sampling against robomimic, size on disk.

Three measurements in one run, on one dataset:

(a) **Recording.** A producer loop in the main thread keeps a real-time 30 Hz
    schedule (wall clock) for ``seconds`` and hands each step -- two 128x128 RGB frames, the
    state vector, action, reward and flags -- to a writer thread that streams it into the
    episode store with ``EpisodeWriter.add_step``. Episodes last ``episode_seconds`` and are
    separated by ``reset_seconds`` without frames (the robot resetting), in which the writer
    commits (``--reset-seconds 0``: back to back, the commit then competes with the stream).
    Between producer and writer is a queue of one slot: a step is *dropped* when the slot is
    still full at the step's scheduled time, i.e. when the writer has fallen more than
    one period behind. ``write_mb_per_s`` is the raw (uncompressed) bytes handed to the writer
    divided by the time the writer spent in ``add_step``/``commit``: the rate the write path
    could sustain, not the 30 Hz input rate (also reported, as ``input_mb_per_s``).
    The frames are the twin's own cameras (``front``, ``wrist``) rendered along a scripted
    pick-cube rollout before the clock starts, then cycled with a small per-frame shift (camera
    jitter), so every stored frame differs and compresses like a rendered scene; rendering live
    would cap the rate at the renderer's (about 15 frames/s on a CPU), which is not what is
    measured here. Without a working renderer a synthetic scene is used (``frames_source``).

(b) **Sampling.** Random batches of ``batch_size`` transitions with images -- observation and
    next observation of every key, as robomimic's ``SequenceDataset`` with ``seq_length=1``
    returns them, plus actions, rewards, dones -- from the recorded store with
    ``TransitionSampler`` (its default: low-dimensional keys in memory, images from disk) and
    from the same data exported to robomimic's HDF5 (``export_robomimic``; uncompressed
    images, robomimic's default) read by ``SequenceDataset`` with ``hdf5_cache_mode="low_dim"``
    (the equivalent setting). Both draw the same transition indices; robomimic's items are
    stacked into numpy arrays per key (torch's ``default_collate`` would add its own cost to
    robomimic only). Rounds alternate between the two so that load from other processes falls
    on both alike. The fully cached settings (``cache_images=True`` vs ``hdf5_cache_mode="all"``)
    are measured the same way and reported under ``*_all_cached`` keys.

(c) **Size.** Bytes of the store on disk against the raw uint8/float bytes it holds.

Numbers from a shared or loaded machine are noisy; the ratio is measured within one run.
``main(["--json"])`` prints only the JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.bench import common
from robolearn.data.robomimic_io import export_robomimic, robomimic_obs_key
from robolearn.data.sampler import TransitionSampler
from robolearn.data.schema import ActionSource, FieldSpec
from robolearn.data.store import EpisodeMeta, EpisodeStore

log = logging.getLogger(__name__)

CAMERAS = ("front", "wrist")
TARGETS = {"ratio_vs_robomimic": 3.0, "record_dropped_frames": 0}
DEFAULT_SECONDS = 120.0
DEFAULT_HZ = 30.0
DEFAULT_IMAGE_SIZE = (128, 128)
DEFAULT_EPISODE_SECONDS = 20.0
DEFAULT_RESET_SECONDS = 1.0
DEFAULT_BATCH = 256
DEFAULT_BATCHES = 20
DEFAULT_RENDER_STEPS = 30
ACTION_DIM = 7
JITTER_PX = 2


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


# --- frames -----------------------------------------------------------------------------------
def rollout_frames(
    steps: int, image_size: tuple[int, int], seed: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Frames of both twin cameras, states and actions along a scripted pick-cube rollout."""
    from robolearn.envs.robot_env import make_twin_env

    env = make_twin_env("pick_cube", cameras=CAMERAS, image_size=image_size, control_hz=10.0)
    try:
        obs, _ = env.reset(seed=seed)
        expert = env.task.make_expert()
        expert.reset()
        frames: dict[str, list[np.ndarray]] = {c: [obs["images"][c]] for c in CAMERAS}
        states, actions = [obs["state"]], []
        for _ in range(max(1, steps - 1)):
            action = expert.act(env.robot_state, env.objects())
            obs, _, terminated, truncated, _ = env.step(action)
            actions.append(action)
            for c in CAMERAS:
                frames[c].append(obs["images"][c])
            states.append(obs["state"])
            if terminated or truncated:
                obs, _ = env.reset(seed=seed + len(states))
                expert.reset()
        actions.append(actions[-1] if actions else np.zeros(ACTION_DIM, np.float32))
    finally:
        env.close()
    return (
        {c: np.stack(v) for c, v in frames.items()},
        np.stack(states).astype(np.float32),
        np.stack(actions).astype(np.float32),
    )


def synthetic_frames(
    steps: int, image_size: tuple[int, int], seed: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A stand-in scene (shaded floor, a moving box) for machines that cannot render."""
    rng = np.random.default_rng(seed)
    h, w = image_size
    yy, xx = np.mgrid[0:h, 0:w]
    frames = {}
    for c, cam in enumerate(CAMERAS):
        base = np.stack([150 + 60 * yy / h, 120 + 40 * xx / w, 90 + 20 * (c + yy / h)], -1)
        seq = []
        for t in range(steps):
            img = base.copy()
            cy, cx = int(h * (0.3 + 0.4 * t / max(steps, 1))), int(w * (0.5 + 0.2 * c))
            img[max(cy - 8, 0) : cy + 8, max(cx - 8, 0) : cx + 8] = (200, 30, 30)
            seq.append(img.astype(np.uint8))
        frames[cam] = np.stack(seq)
    states = rng.normal(size=(steps, 35)).astype(np.float32)
    actions = rng.uniform(-1, 1, (steps, ACTION_DIM)).astype(np.float32)
    return frames, states, actions


def _source(
    steps: int, image_size: tuple[int, int], seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, str]:
    try:
        return (*rollout_frames(steps, image_size, seed), "twin rollout (pick_cube expert)")
    except Exception as err:  # noqa: BLE001 - any renderer failure falls back, and says so
        log.warning("rendering the twin failed (%s); using synthetic frames", err)
        return (*synthetic_frames(steps, image_size, seed), f"synthetic ({err})")


# --- (a) recording ----------------------------------------------------------------------------
def _schema(state_dim: int, image_size: tuple[int, int]) -> dict[str, FieldSpec]:
    h, w = image_size
    schema = {
        "obs.state": FieldSpec((state_dim,), "<f4"),
        "action": FieldSpec((ACTION_DIM,), "<f4"),
        "reward": FieldSpec((), "<f4"),
        "terminated": FieldSpec((), "|b1"),
        "truncated": FieldSpec((), "|b1"),
        "action_source": FieldSpec((), "|u1"),
    }
    for cam in CAMERAS:
        schema[f"obs.images.{cam}"] = FieldSpec((h, w, 3), "|u1")
    return schema


def _step_bytes(schema: dict[str, FieldSpec]) -> int:
    return sum(
        int(np.prod(s.shape, dtype=np.int64)) * np.dtype(s.dtype).itemsize for s in schema.values()
    )


class _Writer(threading.Thread):
    """Streams `(step, scheduled time)` items into the store; `_COMMIT` ends an episode."""

    def __init__(self, store: EpisodeStore, inbox: queue.Queue, hz: float) -> None:
        super().__init__(name="robolearn-bench-writer", daemon=True)
        self.store, self.inbox, self.hz = store, inbox, hz
        self.busy_s = 0.0
        self.steps = 0
        self.latencies: list[float] = []  # finish time - scheduled time, per written step
        self.commit_s: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            self.error = err
            while self.inbox.get() is not None:  # keep draining so the producer never blocks
                pass

    def _run(self) -> None:
        writer = None
        while (item := self.inbox.get()) is not None:
            t = time.perf_counter()
            if item is _COMMIT:
                if writer is not None and len(writer):
                    meta = EpisodeMeta(task="pick_cube", success=True, control_hz=self.hz)
                    meta.seed, meta.notes = len(self.commit_s), "robolearn bench data"
                    writer.commit(meta)
                    self.commit_s.append(time.perf_counter() - t)
                writer = None
            else:
                step, scheduled = item
                if writer is None:
                    writer = self.store.begin_episode()
                writer.add_step(step)
                self.steps += 1
                self.latencies.append(time.perf_counter() - scheduled)
            self.busy_s += time.perf_counter() - t


_COMMIT = object()


def measure_recording(
    path: Path,
    frames: dict[str, np.ndarray],
    states: np.ndarray,
    actions: np.ndarray,
    *,
    seconds: float,
    hz: float,
    episode_seconds: float,
    reset_seconds: float,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """Record `seconds` of steps at `hz` in real time through a one-slot queue (module doc).

    Episodes of `episode_seconds` are separated by `reset_seconds` without frames (the robot
    resetting), in which the writer commits; with 0 they run back to back and the commit
    competes with the stream.
    """
    rng = np.random.default_rng(seed)
    image_size = frames[CAMERAS[0]].shape[1:3]
    schema = _schema(states.shape[1], image_size)
    total = max(1, int(round(seconds * hz)))
    per_episode = max(1, int(round(episode_seconds * hz)))
    n_src = len(states)
    period = 1.0 / hz
    inbox: queue.Queue = queue.Queue(maxsize=1)
    store = EpisodeStore.create(path, schema, {"source": "robolearn bench data"})
    writer = _Writer(store, inbox, hz)
    dropped = late = 0
    max_late = 0.0
    try:
        writer.start()
        start = time.perf_counter() + 0.1
        last_report = start
        for k in range(total):
            scheduled = start + k * period + (k // per_episode) * reset_seconds
            wait = scheduled - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            lateness = time.perf_counter() - scheduled
            max_late = max(max_late, lateness)
            late += lateness > period
            i = k % n_src
            dy, dx = rng.integers(-JITTER_PX, JITTER_PX + 1, size=2)
            last = (k + 1) % per_episode == 0 or k + 1 == total
            step = {
                "obs.state": states[i] + rng.normal(0, 1e-3, states.shape[1]).astype(np.float32),
                "action": actions[i],
                "reward": np.float32(0.0),
                "terminated": False,
                "truncated": last,
                "action_source": np.uint8(ActionSource.SCRIPTED),
            }
            for cam in CAMERAS:
                step[f"obs.images.{cam}"] = np.roll(frames[cam][i], (dy, dx), axis=(0, 1))
            try:
                inbox.put_nowait((step, scheduled))
            except queue.Full:
                dropped += 1
            if last:
                inbox.put(_COMMIT)  # waits for the slot: a commit is never dropped
            if progress and time.perf_counter() - last_report > 10:
                last_report = time.perf_counter()
                _say(True, f"  recording: {k + 1}/{total} steps, {dropped} dropped")
        inbox.put(None)
        writer.join()
        wall = time.perf_counter() - start
        if writer.error is not None:
            raise RuntimeError(f"the writer thread failed: {writer.error}") from writer.error
        n_steps, n_episodes = store.n_steps, store.n_episodes
    finally:
        store.close()
    step_bytes = _step_bytes(schema)
    lat = np.asarray(writer.latencies) if writer.latencies else np.zeros(1)
    commits = np.asarray(writer.commit_s) if writer.commit_s else np.zeros(1)
    return {
        "record_dropped_frames": int(dropped),
        "write_mb_per_s": writer.steps * step_bytes / 1e6 / max(writer.busy_s, 1e-9),
        "input_mb_per_s": step_bytes * hz / 1e6,
        "writer_busy_fraction": writer.busy_s / wall,
        "record_steps_scheduled": total,
        "record_steps_written": int(n_steps),
        "record_episodes": int(n_episodes),
        "record_wall_seconds": wall,
        "record_hz": hz,
        "episode_seconds": episode_seconds,
        "reset_seconds": reset_seconds,
        "queue_slots": 1,
        "producer_late_frames": int(late),
        "producer_max_lateness_ms": 1e3 * max_late,
        "write_latency_ms_p50": 1e3 * float(np.percentile(lat, 50)),
        "write_latency_ms_p99": 1e3 * float(np.percentile(lat, 99)),
        "write_latency_ms_max": 1e3 * float(lat.max()),
        "commit_ms_mean": 1e3 * float(commits.mean()),
        "commit_ms_max": 1e3 * float(commits.max()),
        "step_bytes_raw": step_bytes,
    }


# --- (b) sampling -----------------------------------------------------------------------------
def _np_collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in items[0].items():
        if isinstance(value, dict):
            out[key] = _np_collate([it[key] for it in items])
        elif isinstance(value, np.ndarray):
            out[key] = np.stack([it[key] for it in items])
    return out


def _check_same(ours: dict[str, Any], theirs: dict[str, Any], obs_names: dict[str, str]) -> bool:
    for key, name in obs_names.items():
        for part in ("obs", "next_obs"):
            if not np.array_equal(ours[part][key], theirs[part][name][:, 0]):
                return False
    return np.array_equal(ours["action"], theirs["actions"][:, 0])


def measure_sampling(
    store_path: Path,
    hdf5_path: Path,
    *,
    batch_size: int,
    batches: int,
    seed: int,
    cache: str,
    progress: bool,
) -> dict[str, Any]:
    """Samples/s of ours and of robomimic's SequenceDataset, alternating rounds; `cache` is
    "low_dim" (images from disk) or "all" (everything in memory on both sides)."""
    from robomimic.utils import obs_utils
    from robomimic.utils.dataset import SequenceDataset

    with EpisodeStore.open(store_path) as store:
        obs_keys = [k for k in store.keys if k.startswith("obs.")]
        n_steps = store.n_steps
    names = {k: robomimic_obs_key(k) for k in obs_keys}
    obs_utils.initialize_obs_utils_with_obs_specs(
        {
            "obs": {
                "low_dim": [n for k, n in names.items() if not k.startswith("obs.images.")],
                "rgb": [n for k, n in names.items() if k.startswith("obs.images.")],
            }
        }
    )
    t = time.perf_counter()
    ours = TransitionSampler(store_path, cache_images=cache == "all")
    ours.sample(1, np.random.default_rng(0))  # opens the store, loads what it caches
    ours_setup = time.perf_counter() - t
    t = time.perf_counter()
    theirs = SequenceDataset(
        hdf5_path=str(hdf5_path),
        obs_keys=tuple(names.values()),
        dataset_keys=("actions", "rewards", "dones"),
        seq_length=1,
        hdf5_cache_mode=cache,
        hdf5_use_swmr=True,
    )
    theirs_setup = time.perf_counter() - t
    if len(theirs) != n_steps:
        raise RuntimeError(f"robomimic sees {len(theirs)} transitions, the store {n_steps}")
    rng = np.random.default_rng(seed)

    def robomimic_batch(index: np.ndarray) -> dict[str, Any]:
        return _np_collate([theirs[int(i)] for i in index])

    index = rng.integers(0, n_steps, batch_size)
    same = _check_same(ours.batch(index), robomimic_batch(index), names)  # also warms up
    t_ours = t_theirs = 0.0
    for b in range(batches):
        index = rng.integers(0, n_steps, batch_size)
        first, second = (
            (ours.batch, robomimic_batch) if b % 2 == 0 else (robomimic_batch, ours.batch)
        )
        for fn in (first, second):
            t = time.perf_counter()
            fn(index)
            dt = time.perf_counter() - t
            if fn is robomimic_batch:
                t_theirs += dt
            else:
                t_ours += dt
    _say(progress, f"  sampling ({cache}): ours {t_ours:.2f} s, robomimic {t_theirs:.2f} s")
    return {
        "ours_samples_per_s": batch_size * batches / t_ours,
        "robomimic_samples_per_s": batch_size * batches / t_theirs,
        "ours_setup_s": ours_setup,
        "robomimic_setup_s": theirs_setup,
        "same_data": bool(same),
    }


# --- the whole benchmark ----------------------------------------------------------------------
DATA_PACKAGES = ("zarr", "numcodecs", "h5py", "robomimic", "numpy")


def _dir_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_benchmark(
    *,
    seconds: float = DEFAULT_SECONDS,
    hz: float = DEFAULT_HZ,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    episode_seconds: float = DEFAULT_EPISODE_SECONDS,
    reset_seconds: float = DEFAULT_RESET_SECONDS,
    batch_size: int = DEFAULT_BATCH,
    batches: int = DEFAULT_BATCHES,
    render_steps: int = DEFAULT_RENDER_STEPS,
    all_cached: bool = True,
    seed: int = 0,
    workdir: str | Path | None = None,
    keep: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (a) recording, (b) sampling vs robomimic and (c) size; return the report."""
    if seconds <= 0 or hz <= 0 or batch_size < 1 or batches < 1:
        raise ValueError("seconds, hz, batch_size and batches must be positive")
    machine_before = common.machine_info(DATA_PACKAGES)
    tmp = Path(tempfile.mkdtemp(prefix="robolearn-bench-data-", dir=workdir))
    try:
        _say(progress, f"dataset benchmark in {tmp}: rendering {render_steps} source frames")
        t = time.perf_counter()
        frames, states, actions, frames_source = _source(render_steps, image_size, seed)
        render_s = time.perf_counter() - t
        _say(progress, f"recording {seconds:g} s at {hz:g} Hz (real time)")
        store_path = tmp / "dataset"
        record = measure_recording(
            store_path, frames, states, actions, seconds=seconds, hz=hz,
            episode_seconds=episode_seconds, reset_seconds=reset_seconds, seed=seed,
            progress=progress,
        )  # fmt: skip
        _say(progress, "exporting to robomimic HDF5")
        hdf5_path = tmp / "dataset.hdf5"
        t = time.perf_counter()
        export_robomimic(store_path, hdf5_path)
        export_s = time.perf_counter() - t
        sampling = {
            "low_dim": measure_sampling(
                store_path,
                hdf5_path,
                batch_size=batch_size,
                batches=batches,
                seed=seed,
                cache="low_dim",
                progress=progress,
            )  # fmt: skip
        }
        if all_cached:
            sampling["all"] = measure_sampling(
                store_path, hdf5_path, batch_size=batch_size, batches=batches, seed=seed + 1,
                cache="all", progress=progress,
            )  # fmt: skip
        with EpisodeStore.open(store_path) as store:
            raw = store.n_steps * _step_bytes(store.schema)
            raw += store.n_episodes * sum(
                int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize
                for k, s in store.schema.items()
                if k.startswith("obs.")
            )  # the final observations
            on_disk = store.size_on_disk()
        hdf5_bytes = _dir_bytes(hdf5_path)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    low = sampling["low_dim"]
    ratio = low["ours_samples_per_s"] / low["robomimic_samples_per_s"]
    report: dict[str, Any] = {
        "benchmark": "dataset_io",
        **{k: record[k] for k in ("record_dropped_frames", "write_mb_per_s")},
        "sample_per_s": low["ours_samples_per_s"],
        "robomimic_sample_per_s": low["robomimic_samples_per_s"],
        "ratio_vs_robomimic": ratio,
        "compression_ratio": raw / on_disk,
    }
    if "all" in sampling:
        a = sampling["all"]
        report.update(
            sample_per_s_all_cached=a["ours_samples_per_s"],
            robomimic_sample_per_s_all_cached=a["robomimic_samples_per_s"],
            ratio_vs_robomimic_all_cached=a["ours_samples_per_s"] / a["robomimic_samples_per_s"],
        )
    met = {
        "ratio_vs_robomimic": ratio >= TARGETS["ratio_vs_robomimic"],
        "record_dropped_frames": record["record_dropped_frames"] == 0,
    }
    met["all"] = all(met.values())
    report.update(
        targets=dict(TARGETS),
        targets_met=met,
        recording=record,
        sampling=sampling,
        size={
            "raw_bytes": raw,
            "store_bytes_on_disk": on_disk,
            "robomimic_hdf5_bytes": hdf5_bytes,
            "robomimic_hdf5_compression_ratio": raw / hdf5_bytes,
        },
        settings={
            "seconds": seconds,
            "hz": hz,
            "image_size": list(image_size),
            "cameras": list(CAMERAS),
            "episode_seconds": episode_seconds,
            "reset_seconds": reset_seconds,
            "batch_size": batch_size,
            "batches": batches,
            "seed": seed,
            "frames_source": frames_source,
            "source_frames": int(len(states)),
            "render_seconds": render_s,
            "export_seconds": export_s,
            "ours": "TransitionSampler (low-dim in memory, images read from disk per batch)",
            "robomimic": "SequenceDataset(seq_length=1, hdf5_cache_mode='low_dim'), numpy stack",
            "robomimic_hdf5": "export_robomimic, uncompressed images (robomimic's default)",
        },
        machine=machine_before,
        load_average_after=common.machine_info(DATA_PACKAGES)["load_average"],
        timestamp=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    return report


def format_table(report: dict[str, Any]) -> str:
    rec, met, tg = report["recording"], report["targets_met"], report["targets"]
    lines = [
        f"dataset I/O: {report['settings']['seconds']:g} s at {rec['record_hz']:g} Hz, cameras"
        f" {'+'.join(report['settings']['cameras'])} {report['settings']['image_size']},"
        f" frames from {report['settings']['frames_source']}",
        f"  (a) recording: {rec['record_steps_written']}/{rec['record_steps_scheduled']} steps,"
        f" dropped {report['record_dropped_frames']} (target {tg['record_dropped_frames']}:"
        f" {'met' if met['record_dropped_frames'] else 'NOT met'}),"
        f" write {report['write_mb_per_s']:.1f} MB/s (input {rec['input_mb_per_s']:.1f} MB/s,"
        f" writer busy {100 * rec['writer_busy_fraction']:.0f}%, latency p99"
        f" {rec['write_latency_ms_p99']:.1f} ms, commit max {rec['commit_ms_max']:.0f} ms)",
        f"  (b) sampling, batch {report['settings']['batch_size']} with images: ours"
        f" {report['sample_per_s']:,.0f}/s, robomimic {report['robomimic_sample_per_s']:,.0f}/s,"
        f" ratio {report['ratio_vs_robomimic']:.2f}x (target >= {tg['ratio_vs_robomimic']:g}:"
        f" {'met' if met['ratio_vs_robomimic'] else 'NOT met'})",
    ]
    if "sample_per_s_all_cached" in report:
        lines.append(
            f"      all cached: ours {report['sample_per_s_all_cached']:,.0f}/s, robomimic"
            f" {report['robomimic_sample_per_s_all_cached']:,.0f}/s, ratio"
            f" {report['ratio_vs_robomimic_all_cached']:.2f}x"
        )
    size = report["size"]
    lines.append(
        f"  (c) size: {size['store_bytes_on_disk'] / 1e6:.1f} MB on disk for"
        f" {size['raw_bytes'] / 1e6:.1f} MB raw: {report['compression_ratio']:.2f}x"
        f" (robomimic HDF5 {size['robomimic_hdf5_bytes'] / 1e6:.1f} MB)"
    )
    lines.append(
        f"  load average before/after: {report['machine']['load_average']} /"
        f" {report['load_average_after']} (a loaded machine makes these numbers noisy)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="robolearn bench data", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="recording length")
    parser.add_argument("--hz", type=float, default=DEFAULT_HZ)
    parser.add_argument("--episode-seconds", type=float, default=DEFAULT_EPISODE_SECONDS)
    parser.add_argument(
        "--reset-seconds",
        type=float,
        default=DEFAULT_RESET_SECONDS,
        help="pause between episodes (the commit happens in it); 0: back to back",
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--batches", type=int, default=DEFAULT_BATCHES)
    parser.add_argument("--render-steps", type=int, default=DEFAULT_RENDER_STEPS)
    parser.add_argument("--no-all-cached", action="store_true", help="skip the 'all' cache mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="where the temporary dataset goes")
    parser.add_argument("--keep", action="store_true", help="keep the recorded dataset")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "osmesa")  # offscreen rendering without a GPU
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    with contextlib.redirect_stdout(sys.stderr):  # robomimic prints; stdout is for the report
        report = run_benchmark(
            seconds=args.seconds,
            hz=args.hz,
            episode_seconds=args.episode_seconds,
            reset_seconds=args.reset_seconds,
            batch_size=args.batch_size,
            batches=args.batches,
            render_steps=args.render_steps,
            all_cached=not args.no_all_cached,
            seed=args.seed,
            workdir=args.workdir,
            keep=args.keep,
            progress=not args.json,
        )
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
