"""Datasets of varied-quality trajectories on the twin, so that preferences are informative.

Each episode is acted by one *quality level*: the scripted expert (``expert``), the expert with
Gaussian action noise (``noisy<std>``, e.g. ``noisy0.5``, the noise of
`robolearn.learn.train.collect_expert_demos`), or uniform random actions (``random``). The
dataset holds the usual keys plus ``reward_dense``, the task's dense reward: the ground truth
the scripted labeller and the evaluation read. Episodes run their full length (no termination
at success) so every episode has segments of any length up to the episode's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from robolearn.data.schema import ActionSource, FieldSpec, Schema
from robolearn.data.store import EpisodeMeta, EpisodeStore
from robolearn.preference.segments import DENSE_REWARD_KEY

log = logging.getLogger(__name__)

DEFAULT_QUALITIES = ("expert", "noisy0.3", "noisy0.6", "noisy1.0", "random")


def _parse_quality(quality: str) -> float | None:
    """Noise std of a quality level; None for random actions."""
    if quality == "expert":
        return 0.0
    if quality == "random":
        return None
    if quality.startswith("noisy"):
        try:
            return float(quality[len("noisy") :])
        except ValueError:
            pass
    raise ValueError(f"unknown quality {quality!r}: use expert, random or noisy<std> (noisy0.5)")


def _schema(env: gym.Env, cameras: Sequence[str]) -> Schema:
    space = env.observation_space
    f32 = np.dtype(np.float32).str
    schema: Schema = {"obs.state": FieldSpec(space["state"].shape, f32)}
    for camera in cameras:
        schema[f"obs.images.{camera}"] = FieldSpec(space["images"][camera].shape, "|u1")
    schema.update(
        {
            "action": FieldSpec((7,), f32),
            "reward": FieldSpec((), f32),
            DENSE_REWARD_KEY: FieldSpec((), f32),
            "terminated": FieldSpec((), "|b1"),
            "truncated": FieldSpec((), "|b1"),
            "action_source": FieldSpec((), "|u1"),
        }
    )
    return schema


def collect_varied(
    task: str,
    out: str | Path,
    *,
    episodes: int,
    qualities: Sequence[str] = DEFAULT_QUALITIES,
    seed: int = 0,
    cameras: Sequence[str] = (),
    image_size: tuple[int, int] = (96, 96),
    progress: bool = True,
) -> Path:
    """Record ``episodes`` episodes of ``task``, cycling through ``qualities``, into ``out``."""
    import robolearn.envs  # noqa: F401 - registers the env ids
    from robolearn.envs import ENV_IDS

    if task not in ENV_IDS:
        raise KeyError(f"unknown task {task!r}; known: {', '.join(sorted(ENV_IDS))}")
    noise = [_parse_quality(q) for q in qualities]
    env = gym.make(
        ENV_IDS[task],
        reward_type="sparse",
        terminate_on_success=False,
        cameras=list(cameras),
        image_size=image_size,
    )
    base = env.unwrapped
    rng = np.random.default_rng(seed)
    store = EpisodeStore.open_or_create(out, _schema(env, cameras), task=task)
    try:
        for i in tqdm(range(episodes), desc=f"collect {task}", disable=not progress):
            k = i % len(qualities)
            obs, _ = env.reset(seed=seed + i)
            expert = base.task.make_expert()
            expert.reset()
            rows: dict[str, list] = {key: [] for key in store.schema}
            done, info = False, {}
            while not done:
                if noise[k] is None:
                    action = rng.uniform(-1.0, 1.0, 7)
                else:
                    action = expert.act(base.robot_state, base.objects())
                    if noise[k] > 0:
                        action = np.clip(action + rng.normal(0.0, noise[k], 7), -1.0, 1.0)
                next_obs, reward, terminated, truncated, info = env.step(action)
                rows["obs.state"].append(obs["state"])
                for camera in cameras:
                    rows[f"obs.images.{camera}"].append(obs["images"][camera])
                rows["action"].append(np.asarray(action, np.float32))
                rows["reward"].append(reward)
                rows[DENSE_REWARD_KEY].append(info["dense_reward"])
                rows["terminated"].append(terminated)
                rows["truncated"].append(truncated)
                source = ActionSource.POLICY if noise[k] is None else ActionSource.SCRIPTED
                rows["action_source"].append(int(source))
                obs, done = next_obs, terminated or truncated
            final = {"obs.state": obs["state"]}
            for camera in cameras:
                final[f"obs.images.{camera}"] = obs["images"][camera]
            meta = EpisodeMeta(
                task=task,
                success=bool(info.get("is_success", False)),
                operator=qualities[k],
                seed=seed + i,
                control_hz=base.control_hz,
                notes=f"quality={qualities[k]}",
            )
            steps = {k: np.asarray(v).astype(store.schema[k].dtype) for k, v in rows.items()}
            store.append(steps, meta, final)
    finally:
        store.close()
        env.close()
    return Path(out)
