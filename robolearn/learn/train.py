"""An in-process RLPD training loop: act, store, update, evaluate (one process, no ROS).

    result = train_rlpd("robolearn/PandaReach-v0", demos="path/to/demos", total_steps=20_000)
    result.curve  # [EvalPoint(step=0, success_rate=0.0, ...), ...]

Reading order: the loop in `train_rlpd` is RLPD's Algorithm 1 (Ball et al. 2023,
https://arxiv.org/abs/2302.02948) around a `robolearn.learn.learner.Learner`:

1. the first ``learning_starts`` environment steps act uniformly at random; after that the policy
   samples its actions;
2. every transition goes into the online replay buffer; with an `InterventionWrapper`
   (`robolearn.teleop.intervention`) the executed action is stored, and steps where the operator
   took over also go into the demo buffer (HIL-SERL, https://arxiv.org/abs/2410.21845);
3. once learning has started, each environment step runs ``utd_ratio`` critic steps on
   minibatches half online, half demo (all online without demos) (`Learner.update`);
4. every ``eval_every`` steps the deterministic policy runs ``eval_episodes`` episodes on
   evaluation seeds that are the same each time, giving the success-rate curve.

The demos stay in their own buffer and are never overwritten (RLPD's symmetric sampling).

Checkpoints (``checkpoint_dir``, every ``checkpoint_every`` env steps) hold the whole learner
(`Learner.save`) plus the loop's own state: the env's and the action space's RNGs, the curve and
the logged history. They are written at the first episode end after each interval (so a resumed
run restarts the env exactly where the uninterrupted one would: same-seed runs with and
without a kill end identical on envs whose reset depends only on ``env.np_random``) or, if no
episode ends within a second interval, mid-episode. ``resume=True`` continues from the latest
one; a SIGKILL loses at most ``checkpoint_every`` steps plus the episode in progress.
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

from robolearn.learn.learner import Learner
from robolearn.learn.metrics_log import TrainingLog
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
    wall_seconds: float  # since training started (a resumed run counts the earlier part)


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
    checkpoint: Path | None = None  # the agent's safetensors file, if ``checkpoint=`` was given
    intervention_steps: int = 0  # steps the operator acted (InterventionWrapper)
    resumed_from: int | None = None  # env steps of the checkpoint this run resumed from
    time_limited: bool = False  # stopped by time_limit_s before total_steps
    last_checkpoint: Path | None = None  # the newest learner checkpoint directory
    log_dir: Path | None = None  # TensorBoard events
    learning_curve: Path | None = None  # the PNG
    learner: Learner | None = field(default=None, repr=False)

    @property
    def final_success_rate(self) -> float:
        return self.curve[-1].success_rate if self.curve else math.nan

    @property
    def intervention_rate(self) -> float:
        return self.intervention_steps / self.env_steps if self.env_steps else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the agent itself is left out)."""

        def path(p: Path | None) -> str | None:
            return str(p) if p is not None else None

        return {
            "curve": [asdict(p) for p in self.curve],
            "env_steps": self.env_steps,
            "updates": self.updates,
            "episodes": self.episodes,
            "train_successes": self.train_successes,
            "wall_seconds": self.wall_seconds,
            "final_success_rate": self.final_success_rate,
            "intervention_steps": self.intervention_steps,
            "intervention_rate": self.intervention_rate,
            "resumed_from": self.resumed_from,
            "time_limited": self.time_limited,
            "last_metrics": dict(self.last_metrics),
            "checkpoint": path(self.checkpoint),
            "last_checkpoint": path(self.last_checkpoint),
            "log_dir": path(self.log_dir),
            "learning_curve": path(self.learning_curve),
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
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    log_dir: str | Path | None = None,
    log_every: int = 100,
    progress: bool = False,
    device: str = "auto",
    time_limit_s: float | None = None,
    cpu_limit_s: float | None = None,
) -> TrainResult:
    """Train an `RLPDAgent` online on ``env`` until ``total_steps`` environment steps.

    ``env`` is a gymnasium id (built with ``env_kwargs``; a second instance evaluates) or an env
    (then it evaluates too, unless ``eval_env`` is given). ``demos`` is an episode store path
    (`robolearn.data`) or a `ReplayBuffer` of prior transitions; without demos every minibatch is
    online (plain SAC with the ensemble). ``eval_every=0`` evaluates only at the start and end.
    ``callback(step, info)`` is called after every evaluation. The agent's seed is
    ``config.seed``; ``seed`` seeds the env, the random warm-up actions and batch sampling.
    ``agent`` continues training an existing agent (``config`` is then ignored). If the encoder
    normalises observations and is not fitted yet, it is fitted on the demos and the online
    buffer when learning starts. ``checkpoint``: write the final agent (safetensors) there.

    ``checkpoint_dir``: learner checkpoints (`Learner.save`) every ``checkpoint_every`` env
    steps (0: only at the end). ``resume``: continue from the latest checkpoint there (its
    agent, buffers, counters and RNGs; ``demos``, ``config`` and ``agent`` are then taken from
    the checkpoint) up to ``total_steps``; without a checkpoint the run starts fresh.
    ``log_dir``: TensorBoard scalars (every ``log_every`` steps for learner metrics) and
    ``learning_curve.png``; ``progress``: a tqdm bar. ``device``: where the agent learns
    (`robolearn.learn.device.resolve_device`; ignored when ``agent`` is given).
    ``time_limit_s``: stop early once this many seconds of wall clock have passed (then the
    final evaluation runs at the steps reached; ``TrainResult.time_limited`` says so);
    ``cpu_limit_s`` the same in CPU seconds of this process (equal compute whatever else runs).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if learning_starts < 0 or eval_every < 0 or eval_episodes < 0 or checkpoint_every < 0:
        raise ValueError(
            "learning_starts, eval_every, eval_episodes and checkpoint_every must be non-negative"
        )
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (where the checkpoints are)")
    train_env = _make_env(env, env_kwargs)
    own_eval = eval_env is None and isinstance(env, str) and eval_episodes > 0
    eval_env = eval_env or (_make_env(env, env_kwargs) if own_eval else train_env)
    try:
        return _Loop(
            train_env=train_env,
            eval_env=eval_env,
            total_steps=total_steps,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            seed=seed,
            callback=callback,
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir is not None else None,
            checkpoint_every=checkpoint_every,
            time_limit_s=time_limit_s,
            cpu_limit_s=cpu_limit_s,
        ).run(
            learner_args={
                "demos": demos,
                "config": config,
                "agent": agent,
                "learning_starts": learning_starts,
                "buffer_capacity": buffer_capacity,
                "device": device,
            },
            resume=resume,
            log_dir=log_dir,
            log_every=log_every,
            progress=progress,
            checkpoint=checkpoint,
        )
    finally:
        if not isinstance(env, gym.Env):
            train_env.close()
        if own_eval:
            eval_env.close()


class _Loop:
    """`train_rlpd`'s state: the envs, the learner, the episode in progress, the curve."""

    def __init__(
        self,
        *,
        train_env: gym.Env,
        eval_env: gym.Env,
        total_steps: int,
        eval_every: int,
        eval_episodes: int,
        seed: int,
        callback: Callable[[int, dict[str, Any]], None] | None,
        checkpoint_dir: Path | None,
        checkpoint_every: int,
        time_limit_s: float | None = None,
        cpu_limit_s: float | None = None,
    ) -> None:
        self.env, self.eval_env = train_env, eval_env
        self.time_limit_s = time_limit_s
        self.cpu_limit_s = cpu_limit_s
        self.cpu_start = time.process_time()
        self.time_limited = False
        self.total_steps = total_steps
        self.eval_every, self.eval_episodes = eval_every, eval_episodes
        self.seed = seed
        self.callback = callback
        self.checkpoint_dir, self.checkpoint_every = checkpoint_dir, checkpoint_every
        self.curve: list[EvalPoint] = []
        self.metrics: dict[str, float] = {}
        self.wall_offset = 0.0  # seconds spent before a resume
        self.last_checkpoint: Path | None = None
        self._last_checkpoint_step: int | None = None
        self.resumed_from: int | None = None

    # --- setup ------------------------------------------------------------------------------
    def _fresh_learner(
        self,
        demos: str | Path | ReplayBuffer | None,
        config: RLPDConfig | None,
        agent: RLPDAgent | None,
        learning_starts: int,
        buffer_capacity: int | None,
        device: str,
    ) -> Learner:
        env = self.env
        if agent is None:
            agent = RLPDAgent(
                env.observation_space, env.action_space, config or RLPDConfig(), device=device
            )
        capacity = buffer_capacity or max(1, min(self.total_steps, 1_000_000))
        online = ReplayBuffer(env.observation_space, env.action_space, capacity)
        return Learner(
            agent,
            online,
            _demo_buffer(demos, agent, env),
            learning_starts=learning_starts,
            seed=self.seed,
        )

    def _resume(self, agent: RLPDAgent | None, device: str) -> Learner | None:
        assert self.checkpoint_dir is not None
        if Learner.latest(self.checkpoint_dir) is None:
            log.warning("no checkpoint under %s yet: starting a fresh run", self.checkpoint_dir)
            return None
        log.info("resuming from %s (demos, config and agent come from it)", self.checkpoint_dir)
        learner = Learner.load(
            self.checkpoint_dir,
            agent=agent,
            observation_space=self.env.observation_space,
            action_space=self.env.action_space,
            device=device,
        )
        loop = learner.extra.get("loop", {})
        self.curve = [EvalPoint(**p) for p in loop.get("curve", [])]
        self.wall_offset = float(loop.get("wall_seconds", 0.0))
        if "env_rng" in loop:
            self.env.unwrapped.np_random.bit_generator.state = loop["env_rng"]
        if "action_rng" in loop:
            self.env.action_space.np_random.bit_generator.state = loop["action_rng"]
        self.resumed_from = self._last_checkpoint_step = learner.env_steps
        self.last_checkpoint = Learner.latest(self.checkpoint_dir)
        return learner

    # --- the loop ---------------------------------------------------------------------------
    def run(
        self,
        *,
        learner_args: dict[str, Any],
        resume: bool,
        log_dir: str | Path | None,
        log_every: int,
        progress: bool,
        checkpoint: str | Path | None,
    ) -> TrainResult:
        env = self.env
        learner = self._resume(learner_args["agent"], learner_args["device"]) if resume else None
        fresh = learner is None
        if learner is None:
            learner = self._fresh_learner(**learner_args)
        self.learner = learner
        mode = getattr(env.unwrapped, "action_mode", None)
        if mode is not None and learner.agent.action_mode is None:
            learner.agent.action_mode = mode.name  # saved with the agent's checkpoints
        history = learner.extra.get("loop", {}).get("history") if not fresh else None
        self.tlog = TrainingLog(
            log_dir,
            total_steps=self.total_steps,
            initial_step=learner.env_steps,
            progress=progress,
            log_every=log_every,
            history=history,
        )
        self.start = time.perf_counter()
        need_reset = True  # a new episode starts at the next step
        if fresh:
            env.action_space.seed(self.seed)
            self._evaluate(0)
            self.obs, _ = env.reset(seed=self.seed)
            need_reset = False
        self._new_episode()
        due = self._next_checkpoint(learner.env_steps)
        learning_starts = learner.learning_starts

        while learner.env_steps < self.total_steps:
            if (self.time_limit_s is not None and self._elapsed() >= self.time_limit_s) or (
                self.cpu_limit_s is not None
                and time.process_time() - self.cpu_start >= self.cpu_limit_s
            ):
                self.time_limited = True
                log.info("time limit: stopping at step %d", learner.env_steps)
                break
            if need_reset:
                self.obs, _ = env.reset()
                self._new_episode()
                need_reset = False
            step = learner.env_steps + 1
            # act: random warm-up, then the stochastic policy
            if step <= learning_starts:
                action = env.action_space.sample()
            else:
                action = learner.agent.act(self.obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            intervened = bool(info.get("intervened", False))
            stored = info.get("executed_action", action)  # what ran, the operator's or ours
            learner.add_transition(
                self.obs, stored, reward, next_obs, terminated, truncated, intervened=intervened
            )
            self.obs = next_obs
            self.ep_return += float(reward)
            self.ep_length += 1
            self.ep_interventions += int(intervened)

            # learn: G critic steps on symmetric online/demo minibatches
            metrics = learner.update(1)
            if metrics:
                self.metrics = metrics
                self.tlog.train_metrics(step, self._train_scalars())

            if terminated or truncated:
                self._end_episode(step, info)
                need_reset = True
            if self.eval_every and step % self.eval_every == 0 and step != self.total_steps:
                self._evaluate(step)
                if self.eval_env is env:  # evaluation used the training env: start over
                    need_reset = True
            self.tlog.advance()
            if (
                due is not None
                and step >= due
                and (need_reset or step >= due + self.checkpoint_every)
            ):
                self._checkpoint(mid_episode=not need_reset)
                due = self._next_checkpoint(step)

        step = learner.env_steps
        if not self.curve or self.curve[-1].step != step:
            self._evaluate(step)
        if self.metrics:
            self.tlog.train_metrics(step, self._train_scalars(), force=True)
        if self.checkpoint_dir is not None and self._last_checkpoint_step != step:
            self._checkpoint(mid_episode=not need_reset)
        png = self.tlog.close()
        saved = learner.agent.save(checkpoint) if checkpoint is not None else None
        return TrainResult(
            agent=learner.agent,
            curve=self.curve,
            env_steps=learner.env_steps,
            updates=learner.updates,
            episodes=learner.episodes,
            train_successes=learner.successes,
            wall_seconds=self._elapsed(),
            last_metrics=self.metrics,
            checkpoint=saved,
            intervention_steps=learner.intervention_steps,
            resumed_from=self.resumed_from,
            time_limited=self.time_limited,
            last_checkpoint=self.last_checkpoint,
            log_dir=Path(log_dir) if log_dir is not None else None,
            learning_curve=png,
            learner=learner,
        )

    # --- pieces -----------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self.wall_offset + time.perf_counter() - self.start

    def _new_episode(self) -> None:
        self.ep_return, self.ep_length, self.ep_interventions = 0.0, 0, 0

    def _end_episode(self, step: int, info: Mapping[str, Any]) -> None:
        success = bool(info.get("is_success", False))
        self.learner.record_episode(
            success,
            episode_return=self.ep_return,
            length=self.ep_length,
            interventions=self.ep_interventions,
        )
        rate = info.get("intervention_rate")  # only under an InterventionWrapper
        self.tlog.episode(
            step,
            episode_return=self.ep_return,
            success=success,
            length=self.ep_length,
            intervention_rate=float(rate) if rate is not None else None,
        )

    def _train_scalars(self) -> dict[str, float]:
        return {
            **self.metrics,
            "intervention_rate": self.learner.intervention_steps / max(1, self.learner.env_steps),
        }

    def _evaluate(self, step: int) -> None:
        if self.eval_episodes == 0:
            return
        rate, ret, length = evaluate(
            self.learner.agent, self.eval_env, self.eval_episodes, self.seed + EVAL_SEED_OFFSET
        )
        point = EvalPoint(step, rate, ret, length, self._elapsed())
        self.curve.append(point)
        self.tlog.evaluation(step, success_rate=rate, mean_return=ret, mean_length=length)
        log.info("step %d: success %.2f, return %.2f, length %.1f", step, rate, ret, length)
        if self.callback is not None:
            self.callback(step, {"eval": asdict(point), "metrics": dict(self.metrics)})

    def _next_checkpoint(self, step: int) -> int | None:
        if self.checkpoint_dir is None or self.checkpoint_every == 0:
            return None
        return (step // self.checkpoint_every + 1) * self.checkpoint_every

    def _checkpoint(self, *, mid_episode: bool) -> None:
        assert self.checkpoint_dir is not None
        env = self.env
        loop = {
            "curve": [asdict(p) for p in self.curve],
            "history": self.tlog.state(),
            "wall_seconds": self._elapsed(),
            "total_steps": self.total_steps,
            "mid_episode": mid_episode,
            "env_rng": env.unwrapped.np_random.bit_generator.state,
            "action_rng": env.action_space.np_random.bit_generator.state,
        }
        self.tlog.flush()
        self.last_checkpoint = self.learner.save(self.checkpoint_dir, extra={"loop": loop})
        self._last_checkpoint_step = self.learner.env_steps
        self.tlog.plot()


def _demo_buffer(
    demos: str | Path | ReplayBuffer | None, agent: RLPDAgent, env: gym.Env
) -> ReplayBuffer | None:
    if demos is None:
        return None
    if isinstance(demos, ReplayBuffer):
        buffer = demos
    else:
        mode = getattr(env.unwrapped, "action_mode", None)  # stores hold 7-D pose actions
        buffer = load_demos(
            demos,
            env.observation_space,
            env.action_space,
            agent.encoder.keys,
            action_map=mode.from_pose if mode is not None and mode.name != "pose" else None,
        )
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
    if callable(getattr(base, "expert", None)):  # an env with a built-in scripted policy
        return lambda e: e.unwrapped.expert()
    if not hasattr(base, "task") or not hasattr(base, "robot_state"):
        raise TypeError(
            f"{base} is not a robolearn task env and has no expert() method; pass expert= "
            "(env.expert: package.module:callable)"
        )
    expert = base.task.make_expert()
    expert.reset()
    mode = getattr(base, "action_mode", None)  # experts act in the 7-D pose layout
    if mode is None:
        return lambda e: expert.act(e.unwrapped.robot_state, e.unwrapped.objects())
    return lambda e: mode.from_pose(expert.act(e.unwrapped.robot_state, e.unwrapped.objects()))
