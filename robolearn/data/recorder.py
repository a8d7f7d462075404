"""Record teleoperated episodes on the twin straight into an episode store (no ROS needed).

The same loop serves every teleoperator: the scripted expert records hands-free, a human
device records when the operator starts an episode (its START_STOP event) and ends it with
SUCCESS / FAILURE / DISCARD / RERECORD, or when the env ends it. Steps hold the observation
the action was chosen on, the action, its `ActionSource`, the reward and the end flags.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from robolearn.data.schema import FieldSpec, Schema
from robolearn.data.store import EpisodeMeta, EpisodeStore
from robolearn.envs import ENV_IDS
from robolearn.envs.robot_env import RobotEnv
from robolearn.teleop import TeleopContext, TeleopEvent, make_teleoperator
from robolearn.teleop.base import Teleoperator

log = logging.getLogger(__name__)


@dataclass
class RecordSummary:
    path: Path
    requested: int
    committed: int = 0
    successes: int = 0
    discarded: int = 0
    steps: int = 0
    human_steps: int = 0
    lengths: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "requested": self.requested,
            "committed": self.committed,
            "successes": self.successes,
            "discarded": self.discarded,
            "steps": self.steps,
            "human_steps": self.human_steps,
        }


def _schema(env: RobotEnv) -> Schema:
    space = env.observation_space
    schema: Schema = {"obs.state": FieldSpec(space["state"].shape, np.dtype(np.float32).str)}
    for camera in env.cameras:
        schema[f"obs.images.{camera}"] = FieldSpec(space["images"][camera].shape, "|u1")
    schema.update(
        {
            "action": FieldSpec((7,), np.dtype(np.float32).str),
            "reward": FieldSpec((), np.dtype(np.float32).str),
            "terminated": FieldSpec((), "|b1"),
            "truncated": FieldSpec((), "|b1"),
            "action_source": FieldSpec((), "|u1"),
        }
    )
    return schema


def _obs_step(obs: dict) -> dict[str, np.ndarray]:
    step = {"obs.state": obs["state"]}
    for camera, image in obs.get("images", {}).items():
        step[f"obs.images.{camera}"] = image
    return step


def record(
    task: str,
    out: str | Path,
    *,
    teleop: str | Teleoperator = "scripted",
    episodes: int = 20,
    seed: int = 0,
    cameras: tuple[str, ...] = ("front", "wrist"),
    image_size: tuple[int, int] = (128, 128),
    control_hz: float = 10.0,
    operator: str | None = None,
    keep_failures: bool = True,
    teleop_options: dict | None = None,
    progress: bool = True,
) -> RecordSummary:
    """Record `episodes` committed episodes of `task` on the twin into the dataset `out`.

    `teleop` is a registered teleoperator type (built with `teleop_options`) or an instance.
    """
    if task not in ENV_IDS:
        raise KeyError(f"unknown task {task!r}; known: {', '.join(sorted(ENV_IDS))}")
    if isinstance(teleop, Teleoperator):
        device, name = teleop, teleop.config.type or type(teleop).__name__
    else:
        options = dict(teleop_options or {})
        if teleop == "scripted":
            options.setdefault("task", task)
            options.setdefault("seed", seed)
        device, name = make_teleoperator(teleop, **options), teleop
    env = gym.make(
        ENV_IDS[task], control_hz=control_hz, cameras=list(cameras), image_size=image_size
    )
    base: RobotEnv = env.unwrapped
    summary = RecordSummary(path=Path(out), requested=episodes)
    store = EpisodeStore.open_or_create(out, _schema(base), task=task)
    bar = tqdm(total=episodes, desc=f"record {task} ({name})", unit="ep", disable=not progress)
    try:
        with device:
            episode_seed = seed
            while summary.committed < episodes:
                outcome = _record_episode(env, base, device, store, task, episode_seed, operator)
                if outcome == "quit":
                    break
                if outcome == "rerecord":
                    summary.discarded += 1
                    continue  # same seed: the same initial state again
                episode_seed += 1
                if outcome == "discard" or (outcome == "failure" and not keep_failures):
                    summary.discarded += 1
                    continue
                meta = store.episode_meta(store.n_episodes - 1)
                ep = store.episode(store.n_episodes - 1, keys=["action_source"])
                summary.committed += 1
                summary.successes += int(meta.success)
                summary.steps += meta.length
                summary.human_steps += int(np.sum(ep["action_source"] == 1))
                summary.lengths.append(meta.length)
                bar.update(1)
                bar.set_postfix(success=f"{summary.successes}/{summary.committed}")
    finally:
        bar.close()
        store.close()
        env.close()
    return summary


def _record_episode(
    env: gym.Env,
    base: RobotEnv,
    device: Teleoperator,
    store: EpisodeStore,
    task: str,
    seed: int,
    operator: str | None,
) -> str:
    """One episode; returns success | failure | discard | rerecord | quit."""
    obs, _ = env.reset(seed=seed)
    device.reset()
    hands_free = device.source != 1  # scripted: no operator to press start
    recording = hands_free
    writer = store.begin_episode() if recording else None
    last_action = np.zeros(7)
    last_action[6] = -1.0
    while True:
        context = TeleopContext.from_env(
            base, objects=device.needs_objects, last_action=last_action
        )
        command = device.read(context)
        events = command.events if command is not None else frozenset()
        if TeleopEvent.QUIT in events:
            if writer is not None:
                writer.discard()
            return "quit"
        if TeleopEvent.START_STOP in events and not recording:
            recording, writer = True, store.begin_episode()
            continue
        if recording and events & {TeleopEvent.DISCARD, TeleopEvent.RERECORD}:
            writer.discard()
            return "rerecord" if TeleopEvent.RERECORD in events else "discard"
        marked = None
        if TeleopEvent.SUCCESS in events:
            marked = True
        elif TeleopEvent.FAILURE in events or (recording and TeleopEvent.START_STOP in events):
            marked = False
        if marked is not None and recording:
            if len(writer) == 0:
                writer.discard()
                return "discard"
            return _commit(writer, store, task, base, seed, operator, device, marked, obs)
        if command is not None and command.engaged:
            action, source = np.asarray(command.action), int(command.source)
        else:
            action, source = last_action.copy(), 1  # hands-off: hold, gripper as it was
            action[:6] = 0.0
        next_obs, reward, terminated, truncated, info = env.step(action)
        if recording:
            writer.add_step(
                {
                    **_obs_step(obs),
                    "action": action.astype(np.float32),
                    "reward": np.float32(reward),
                    "terminated": np.bool_(terminated),
                    "truncated": np.bool_(truncated),
                    "action_source": np.uint8(source),
                }
            )
        obs, last_action = next_obs, action
        if terminated or truncated:
            if not recording:
                return "discard"
            return _commit(
                writer, store, task, base, seed, operator, device, bool(info["is_success"]), obs
            )


def _commit(writer, store, task, base, seed, operator, device, success, final_obs) -> str:  # noqa: ANN001
    meta = EpisodeMeta(
        task=task,
        success=bool(success),
        operator=operator or device.config.type,
        backend="twin",
        seed=seed,
        control_hz=base.control_hz,
    )
    writer.commit(meta, _obs_step(final_obs))
    return "success" if success else "failure"
