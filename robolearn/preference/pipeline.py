"""PEARL end to end on datasets: scripted labels, cross-task transfer, reward training.

Each step reads and writes files beside the datasets (`robolearn.preference.data`), so the CLI
verbs and the evaluation share them:

    label_dataset(source, n_pairs=300)                       # or label in the web page
    transfer(source, target)                                  # CPA -> target preferences
    model = fit_reward(target, "transferred")                 # RRL
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.data.store import EpisodeStore
from robolearn.preference.alignment import AlignmentConfig, TransferredLabels, cpa, segment_features
from robolearn.preference.data import PreferencePair, load_pairs, preference_path, save_pairs
from robolearn.preference.labeller import ScriptedLabellerConfig, random_pairs, scripted_labels
from robolearn.preference.reward import (
    LearnedReward,
    PreferenceBatchData,
    RewardModelConfig,
    train_reward_model,
)
from robolearn.preference.segments import SegmentData, SegmentRef, sample_segments

log = logging.getLogger(__name__)


def label_dataset(
    dataset: str | Path,
    *,
    n_segments: int = 100,
    n_pairs: int = 300,
    segment_length: int = 25,
    labeller: ScriptedLabellerConfig | None = None,
    name: str = "scripted",
    seed: int = 0,
) -> Path:
    """Sample segments and pairs of ``dataset`` and label them with the scripted labeller."""
    rng = np.random.default_rng(seed)
    with EpisodeStore.open(dataset) as store:
        data = SegmentData(store, sample_segments(store, n_segments, segment_length, rng))
    pairs = scripted_labels(
        data, random_pairs(len(data), n_pairs, rng), labeller or ScriptedLabellerConfig(seed=seed)
    )
    return save_pairs(preference_path(dataset, name), pairs)


def index_pairs(
    pairs: list[PreferencePair],
) -> tuple[list[SegmentRef], np.ndarray, np.ndarray, np.ndarray]:
    """Unique segments of ``pairs`` and (m, 2) indices into them, labels, confidences."""
    refs: dict[SegmentRef, int] = {}
    idx = []
    for p in pairs:
        for ref in (p.a, p.b):
            refs.setdefault(ref, len(refs))
        idx.append((refs[p.a], refs[p.b]))
    labels = np.array([p.label for p in pairs], np.float32)
    conf = np.array([p.confidence for p in pairs], np.float32)
    return list(refs), np.array(idx, np.int64).reshape(-1, 2), labels, conf


def transfer_features(data: SegmentData, config: AlignmentConfig) -> np.ndarray:
    """CPA's features of ``data``'s segments: each task's progress points (``progress``), or
    the TCP and first object position in every task (``tcp``)."""
    return segment_features(
        data.states, tasks=data.tasks if config.features == "progress" else None
    )


@dataclass
class TransferResult:
    path: Path
    pairs: list[PreferencePair]
    labels: TransferredLabels
    plan: np.ndarray
    target_data: SegmentData
    target_pairs: np.ndarray


def transfer(
    source: str | Path,
    target: str | Path,
    *,
    source_pairs: list[PreferencePair] | None = None,
    source_name: str = "human",
    n_target_segments: int = 100,
    n_target_pairs: int = 300,
    segment_length: int | None = None,
    config: AlignmentConfig | None = None,
    name: str = "transferred",
    seed: int = 0,
    write: bool = True,
) -> TransferResult:
    """CPA: label random target pairs from the source's labelled pairs (no target labels)."""
    if source_pairs is None:
        source_pairs = load_pairs(preference_path(source, source_name))
    if not source_pairs:
        raise ValueError(f"{source}: no labelled source pairs (all skipped?)")
    s_refs, s_idx, s_labels, _ = index_pairs(source_pairs)
    length = segment_length or s_refs[0].length
    rng = np.random.default_rng(seed)
    with EpisodeStore.open(source) as store:
        s_data = SegmentData(store, s_refs)
    with EpisodeStore.open(target) as store:
        t_data = SegmentData(store, sample_segments(store, n_target_segments, length, rng))
    t_pairs = np.array(random_pairs(len(t_data), n_target_pairs, rng), np.int64)
    config = config or AlignmentConfig()
    labels, plan = cpa(
        transfer_features(s_data, config),
        s_idx,
        s_labels,
        transfer_features(t_data, config),
        t_pairs,
        config,
    )
    pairs = [
        PreferencePair(
            t_data.refs[i], t_data.refs[j], float(np.clip(y, 0.0, 1.0)),
            labeller=f"cpa({config.name}) from {Path(source).name}", confidence=float(c),
        )
        for (i, j), y, c in zip(t_pairs, labels.labels, labels.confidence, strict=True)
    ]  # fmt: skip
    path = preference_path(target, name)
    if write:
        save_pairs(path, pairs)
    return TransferResult(path, pairs, labels, plan, t_data, t_pairs)


def batch_data(dataset: str | Path, pairs: list[PreferencePair]) -> PreferenceBatchData:
    """Training data for the reward model from labelled pairs of ``dataset``."""
    refs, idx, labels, conf = index_pairs(pairs)
    with EpisodeStore.open(dataset) as store:
        data = SegmentData(store, refs)
    return PreferenceBatchData(data.states, data.actions, idx, labels, conf)


def fit_reward(
    dataset: str | Path,
    prefs: str | list[PreferencePair] = "transferred",
    config: RewardModelConfig | None = None,
    out: str | Path | None = None,
    progress: bool = False,
) -> LearnedReward:
    """Train the reward model on ``dataset``'s preference set ``prefs`` (a name or pairs)."""
    pairs = load_pairs(preference_path(dataset, prefs)) if isinstance(prefs, str) else prefs
    model, _ = train_reward_model(batch_data(dataset, pairs), config, progress=progress)
    if out is not None:
        model.save(out)
    return model


def reward_demos(dataset: str | Path, env: Any, reward: LearnedReward | None) -> Any:
    """``dataset`` as RLPD's prior data (a `ReplayBuffer` for ``env``'s spaces), rewarded like
    the online steps: by the learned ``reward``, or without one by the dataset's true dense
    reward (``reward_dense``) if it has it."""
    from robolearn.learn.replay import load_demos

    # Stores hold 7-D pose actions; an env whose policy controls fewer axes takes its own part
    # of them, and the reward (of pose actions) sees them as the online wrapper does.
    mode = getattr(env.unwrapped, "action_mode", None)
    reduced = mode is not None and mode.name != "pose"
    demos = load_demos(
        dataset,
        env.observation_space,
        env.action_space,
        ["state"],
        action_map=mode.from_pose if reduced else None,
    )
    n = len(demos)
    if reward is not None:
        actions = demos.action[:n]
        if reduced:
            actions = np.stack([mode.embed(a) for a in actions])
        demos.reward[:n] = reward(demos.obs["state"][:n], actions)
    else:
        with EpisodeStore.open(dataset) as store:
            if "reward_dense" in store.schema:
                demos.reward[:n] = np.asarray(store.array("reward_dense")[:n])
    return demos


def train_on_reward(
    task: str,
    reward: LearnedReward | None,
    *,
    dataset: str | Path | None,
    config: Any,
    progress: bool = False,
    checkpoint: str | Path | None = None,
    log_dir: str | Path | None = None,
) -> Any:
    """RLPD (the training tree ``config``, a `robolearn.learn.config.TrainConfig`) on ``task``
    with ``reward`` in place of the env's (None: the true dense reward) and ``dataset`` as prior
    data rewarded the same way; episodes run their full length (the learned reward, not the
    success, says what is good), success is the task's own predicate. Returns the
    `robolearn.learn.train.TrainResult`. The policy of `robolearn pearl train`, of the demo's
    PEARL stage and of `robolearn pearl report`."""
    import dataclasses

    from robolearn.learn.train import train_rlpd
    from robolearn.preference.reward import LearnedRewardWrapper

    env_config = dataclasses.replace(
        config.env, task=task, reward="dense", terminate_on_success=False
    )
    env = env_config.make()
    if reward is not None:
        env = LearnedRewardWrapper(env, reward)
    loop = config.loop
    try:
        return train_rlpd(
            env,
            demos=reward_demos(dataset, env, reward) if dataset is not None else None,
            total_steps=loop.env_steps,
            config=config.effective_agent(),
            seed=config.seed,
            eval_every=loop.eval_every,
            eval_episodes=loop.eval_episodes,
            learning_starts=min(loop.learning_starts, loop.env_steps // 2),
            checkpoint=checkpoint,
            log_dir=log_dir,
            progress=progress,
            device=config.device,
        )
    finally:
        env.close()


def train_on_rewards(
    task: str,
    rewards: Mapping[str, str | Path],
    *,
    dataset: str | Path | None,
    config: Any,
    out: str | Path,
    processes: int = 2,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """`train_on_reward` on each saved reward model of ``rewards`` (name -> file): the same
    learner, budget and prior data, side by side in up to ``processes`` fresh processes (one
    torch thread each; 1: one after the other in this process). Checkpoints go to
    ``out/<name>.safetensors``, logs to ``out/logs/<name>``; returns each run's
    `TrainResult.as_dict()` by name. Used to compare transferred labels with oracle labels at
    equal budget (the demo's PEARL stage, `robolearn pearl report`). ``progress``: the first
    run's bar."""
    out = Path(out)
    jobs = [
        {
            "task": task, "reward": str(path),
            "dataset": None if dataset is None else str(dataset), "config": config,
            "checkpoint": str(out / f"{name}.safetensors"), "log_dir": str(out / "logs" / name),
            "progress": progress and i == 0,
        }
        for i, (name, path) in enumerate(rewards.items())
    ]  # fmt: skip
    n = min(processes, len(jobs), os.cpu_count() or 1)
    if n <= 1:
        results = [_train_on_reward_file(job) for job in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # no forked torch state
        with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
            results = list(pool.map(_train_on_reward_file, jobs))
    return dict(zip(rewards, results, strict=True))


def _train_on_reward_file(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    config = job["config"]
    torch.set_num_threads(config.threads)
    result = train_on_reward(
        job["task"], LearnedReward.load(job["reward"]), dataset=job["dataset"], config=config,
        progress=job["progress"], checkpoint=job["checkpoint"], log_dir=job["log_dir"],
    )  # fmt: skip
    return result.as_dict()
