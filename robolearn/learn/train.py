"""An in-process RLPD training loop: act, store, update, evaluate (one process, no ROS).

    result = train_rlpd("robolearn/PandaReach-v0", demos="path/to/demos", total_steps=20_000)
    result.curve  # [EvalPoint(step=0, success_rate=0.0, ...), ...]

Reading order: the loop in `train_rlpd` is RLPD's Algorithm 1 (Ball et al. 2023,
https://arxiv.org/abs/2302.02948) around `RLPDAgent.update`:

1. the first ``learning_starts`` environment steps act uniformly at random; after that the policy
   samples its actions;
2. every transition goes into the online replay buffer;
3. once learning has started, each environment step draws ``utd_ratio`` minibatches, each half
   from the online buffer and half from the demos (all online without demos), and updates;
4. every ``eval_every`` steps the deterministic policy runs ``eval_episodes`` episodes on
   evaluation seeds that are the same each time, giving the success-rate curve.

The demos stay in their own buffer and are never overwritten (RLPD's symmetric sampling).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from robolearn.learn.replay import ReplayBuffer, load_demos
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

log = logging.getLogger(__name__)

EVAL_SEED_OFFSET = 1_000_000  # evaluation episodes use seeds far from the training seeds


@dataclass
class EvalPoint:
    """The deterministic policy's performance after ``step`` environment steps."""

    step: int
    success_rate: float  # NaN when the env reports no info["is_success"]
    mean_return: float
    mean_length: float
    wall_seconds: float  # since training started


@dataclass
class TrainResult:
    agent: RLPDAgent
    curve: list[EvalPoint]
    env_steps: int
    updates: int  # critic gradient steps
    episodes: int
    train_successes: int  # successful training episodes
    wall_seconds: float
    last_metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None

    @property
    def final_success_rate(self) -> float:
        return self.curve[-1].success_rate if self.curve else math.nan

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the agent itself is left out)."""
        return {
            "curve": [asdict(p) for p in self.curve],
            "env_steps": self.env_steps,
            "updates": self.updates,
            "episodes": self.episodes,
            "train_successes": self.train_successes,
            "wall_seconds": self.wall_seconds,
            "final_success_rate": self.final_success_rate,
            "last_metrics": dict(self.last_metrics),
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
        }


def evaluate(
    agent: RLPDAgent, env: gym.Env, episodes: int, seed: int = EVAL_SEED_OFFSET
) -> tuple[float, float, float]:
    """(success rate, mean return, mean length) of the deterministic policy over ``episodes``
    episodes seeded ``seed, seed + 1, ...``. Success is ``info["is_success"]`` at episode end."""
    successes, returns, lengths = [], [], []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        total, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs, deterministic=True))
            total += float(reward)
            length += 1
            done = terminated or truncated
        if "is_success" in info:
            successes.append(bool(info["is_success"]))
        returns.append(total)
        lengths.append(length)
    rate = float(np.mean(successes)) if successes else math.nan
    return rate, float(np.mean(returns)), float(np.mean(lengths))


def _make_env(env: str | gym.Env, env_kwargs: Mapping[str, Any] | None) -> gym.Env:
    if isinstance(env, gym.Env):
        return env
    if env.startswith("robolearn/"):
        import robolearn.envs  # noqa: F401 - registers the robolearn/* ids
    return gym.make(env, **dict(env_kwargs or {}))


def train_rlpd(
    env: str | gym.Env,
    *,
    demos: str | Path | ReplayBuffer | None = None,
    total_steps: int,
    config: RLPDConfig | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    eval_env: gym.Env | None = None,
    eval_every: int = 1000,
    eval_episodes: int = 10,
    learning_starts: int = 1000,
    buffer_capacity: int | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    agent: RLPDAgent | None = None,
) -> TrainResult:
    """Train an `RLPDAgent` online on ``env`` for ``total_steps`` environment steps.

    ``env`` is a gymnasium id (built with ``env_kwargs``; a second instance evaluates) or an env
    (then it evaluates too, unless ``eval_env`` is given). ``demos`` is an episode store path
    (`robolearn.data`) or a `ReplayBuffer` of prior transitions; without demos every minibatch is
    online (plain SAC with the ensemble). ``eval_every=0`` evaluates only at the start and end.
    ``callback(step, info)`` is called after every evaluation. The agent's seed is
    ``config.seed``; ``seed`` seeds the env, the random warm-up actions and batch sampling.
    ``agent`` continues training an existing agent (``config`` is then ignored). If the encoder
    normalises observations and is not fitted yet, it is fitted on the demos and the online
    buffer when learning starts.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if learning_starts < 0 or eval_every < 0 or eval_episodes < 0:
        raise ValueError("learning_starts, eval_every and eval_episodes must be non-negative")
    config = config or RLPDConfig()
    train_env = _make_env(env, env_kwargs)
    own_eval = eval_env is None and isinstance(env, str) and eval_episodes > 0
    eval_env = eval_env or (_make_env(env, env_kwargs) if own_eval else train_env)
    try:
        if agent is None:
            agent = RLPDAgent(train_env.observation_space, train_env.action_space, config)
        config = agent.config
        demo_buffer = _demo_buffer(demos, agent, train_env)
        n_online, n_demo = config.split() if demo_buffer is not None else (config.batch_size, 0)
        g = config.utd_ratio
        capacity = buffer_capacity or max(1, min(total_steps, 1_000_000))
        buffer = ReplayBuffer(train_env.observation_space, train_env.action_space, capacity)
        rng = np.random.default_rng(seed)
        train_env.action_space.seed(seed)

        start = time.perf_counter()
        curve: list[EvalPoint] = []

        def evaluation(step: int) -> None:
            if eval_episodes == 0:
                return
            rate, ret, length = evaluate(agent, eval_env, eval_episodes, seed + EVAL_SEED_OFFSET)
            point = EvalPoint(step, rate, ret, length, time.perf_counter() - start)
            curve.append(point)
            log.info("step %d: success %.2f, return %.2f, length %.1f", step, rate, ret, length)
            if callback is not None:
                callback(step, {"eval": asdict(point), "metrics": dict(metrics)})
            if eval_env is train_env:
                nonlocal obs
                obs, _ = train_env.reset()  # evaluation used the training env

        metrics: dict[str, float] = {}
        updates = episodes = successes = 0
        obs, _ = train_env.reset(seed=seed)
        evaluation(0)
        for step in range(1, total_steps + 1):
            # act: random warm-up, then the stochastic policy
            if step <= learning_starts:
                action = train_env.action_space.sample()
            else:
                action = agent.act(obs)
            next_obs, reward, terminated, truncated, info = train_env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated, truncated)
            obs = next_obs
            if terminated or truncated:
                episodes += 1
                successes += int(bool(info.get("is_success", False)))
                obs, _ = train_env.reset()

            # learn: G critic steps on symmetric online/demo minibatches
            if step >= learning_starts and len(buffer) > 0:
                if agent.needs_observation_stats:
                    agent.fit_observation_stats(_stats_sample(buffer, demo_buffer))
                online = buffer.sample(g * n_online, rng)
                demo = demo_buffer.sample(g * n_demo, rng) if demo_buffer is not None else None
                metrics = agent.update(online, demo)
                updates += g

            if eval_every and step % eval_every == 0 and step != total_steps:
                evaluation(step)
        evaluation(total_steps)

        saved = agent.save(checkpoint) if checkpoint is not None else None
        return TrainResult(
            agent=agent,
            curve=curve,
            env_steps=total_steps,
            updates=updates,
            episodes=episodes,
            train_successes=successes,
            wall_seconds=time.perf_counter() - start,
            last_metrics=metrics,
            checkpoint=saved,
        )
    finally:
        if not isinstance(env, gym.Env):
            train_env.close()
        if own_eval:
            eval_env.close()


def _stats_sample(buffer: ReplayBuffer, demos: ReplayBuffer | None) -> dict[str, np.ndarray]:
    """Every observation so far: the online buffer's and the demos'."""
    parts = [buffer.obs] + ([demos.obs] if demos is not None else [])
    sizes = [len(buffer)] + ([len(demos)] if demos is not None else [])
    return {
        key: np.concatenate([p[key][:n] for p, n in zip(parts, sizes, strict=True)])
        for key in buffer.obs
        if all(key in p for p in parts)
    }


def _demo_buffer(
    demos: str | Path | ReplayBuffer | None, agent: RLPDAgent, env: gym.Env
) -> ReplayBuffer | None:
    if demos is None:
        return None
    if isinstance(demos, ReplayBuffer):
        buffer = demos
    else:
        buffer = load_demos(demos, env.observation_space, env.action_space, agent.encoder.keys)
    if len(buffer) == 0:
        raise ValueError("the demo buffer is empty")
    return buffer


def collect_expert_demos(
    env: gym.Env,
    episodes: int,
    *,
    expert: Callable[[gym.Env], np.ndarray] | None = None,
    seed: int = 0,
    action_noise: float = 0.0,
    successful_only: bool = True,
) -> ReplayBuffer:
    """Roll out a scripted policy into an in-memory `ReplayBuffer` of demos.

    ``expert(env) -> action``; by default the robolearn task's scripted expert (a fresh one per
    episode, acting on privileged object state). ``action_noise`` adds Gaussian noise of that
    standard deviation (relative to the action range's half-width) to the executed and stored
    actions, so the demos also show the expert correcting its own deviations (as human demos
    do). `robolearn.data.recorder.record` writes an episode store instead.
    """
    space = env.action_space
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    rng = np.random.default_rng(seed)
    steps: list[tuple] = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        act = expert or _task_expert(env)
        done, info = False, {}
        episode = []
        while not done:
            action = np.asarray(act(env), dtype=np.float64)
            if action_noise > 0:
                noise = rng.normal(0.0, action_noise, action.shape) * (high - low) / 2
                action = np.clip(action + noise, low, high)
            action = action.astype(np.float32)
            next_obs, reward, terminated, truncated, info = env.step(action)
            episode.append((obs, action, reward, next_obs, terminated, truncated))
            obs, done = next_obs, terminated or truncated
        if info.get("is_success", False) or not successful_only:
            steps.extend(episode)
    if not steps:
        raise RuntimeError(f"the expert succeeded in none of {episodes} episodes")
    buffer = ReplayBuffer(env.observation_space, env.action_space, len(steps))
    for transition in steps:
        buffer.add(*transition)
    return buffer


def _task_expert(env: gym.Env) -> Callable[[gym.Env], np.ndarray]:
    base = env.unwrapped
    if not hasattr(base, "task") or not hasattr(base, "robot_state"):
        raise TypeError(f"{base} is not a robolearn task env; pass expert=")
    expert = base.task.make_expert()
    expert.reset()
    return lambda e: expert.act(e.unwrapped.robot_state, e.unwrapped.objects())
