"""The actor side of distributed RLPD (SERL's actor loop), without any transport.

An `Actor` steps one environment with the newest policy weights it was given and hands back
the transitions in batches for a learner::

    actor = Actor(make_env("robolearn/PandaReach-v0"), actor_id="arm_0", batch_size=50)
    actor.load_weights(decode_weights(payload))   # whenever the learner publishes
    batch = actor.step()                          # a TransitionBatch every 50 steps, else None

Until the first weights arrive (and for at least ``random_steps`` steps) it acts uniformly at
random, as RLPD's warm-up does; after that it samples from the stochastic policy. It keeps
acting with the last weights it has while no new ones come (a learner restarting).

With `robolearn.teleop.intervention.InterventionWrapper` around the env, the action an operator
executed replaces the policy's in the stored transition and the row is flagged ``intervened``
(HIL-SERL); the learner then also puts it into its demo buffer.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from robolearn.learn.codec import TransitionBatch, WeightSnapshot
from robolearn.learn.networks import flatten_obs
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

log = logging.getLogger(__name__)


def make_env(spec: str, kwargs: Mapping[str, Any] | None = None) -> gym.Env:
    """An environment from a gymnasium id (``robolearn/PandaReach-v0``; ``robolearn/`` ids are
    registered on import) or from an entry point ``package.module:callable`` called with
    ``kwargs`` (any gymnasium env with a Box action space, not only ours)."""
    kwargs = dict(kwargs or {})
    if spec.startswith("robolearn/"):
        import robolearn.envs  # noqa: F401 - registers the robolearn/* ids
    if spec in gym.registry:
        return gym.make(spec, **kwargs)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(f"env entry point {spec!r}: cannot import {module_name!r}") from err
        factory = getattr(module, attr, None)
        if callable(factory):
            return factory(**kwargs)
    return gym.make(spec, **kwargs)  # raises gymnasium's error naming the unknown id


def with_operator(
    env: gym.Env,
    device: str,
    *,
    seed: int = 0,
    patience: int = 30,
    takeover_steps: int = 20,
    max_episodes: int | None = None,
) -> gym.Env:
    """``env`` under an `InterventionWrapper` (HIL-SERL): ``device`` is a teleoperator type
    (``spacemouse``, ``gamepad``, ``keyboard``: a person takes over whenever the device is
    engaged) or ``scripted``: the task's scripted expert as a simulated operator, taking over
    after ``patience`` policy steps for ``takeover_steps`` steps, for ``max_episodes`` episodes
    (None: always). ``""`` returns ``env`` unchanged."""
    if not device:
        return env
    from robolearn.teleop.base import make_teleoperator
    from robolearn.teleop.intervention import InterventionWrapper

    if device != "scripted":
        return InterventionWrapper(env, make_teleoperator(device))
    from robolearn.learn.simulated_operator import SimulatedOperator, SimulatedOperatorConfig
    from robolearn.teleop.scripted import ScriptedConfig, ScriptedTeleop

    task = getattr(env.unwrapped, "task", None)
    if task is None or not hasattr(task, "make_expert"):
        raise ValueError("intervene=scripted needs a robolearn task env (with a scripted expert)")
    expert = ScriptedTeleop(ScriptedConfig(seed=seed), expert=task.make_expert())
    config = SimulatedOperatorConfig(
        patience=patience, takeover_steps=takeover_steps, max_episodes=max_episodes, seed=seed
    )
    return InterventionWrapper(env, SimulatedOperator(expert, config))


@dataclass
class EpisodeStats:
    """A finished episode as the actor saw it."""

    success: bool
    episode_return: float
    length: int
    interventions: int


class Actor:
    """Steps ``env`` with the latest weights; collects transitions into `TransitionBatch`es.

    ``seed`` seeds the env resets, the random warm-up actions and the policy's sampling noise
    (give each actor its own, or they explore identically). ``device``: where the policy runs
    (one observation at a time: the CPU unless the policy has image encoders and a GPU is near).
    """

    def __init__(
        self,
        env: gym.Env,
        *,
        actor_id: str,
        batch_size: int = 50,
        random_steps: int = 0,
        seed: int = 0,
        deterministic: bool = False,
        device: str = "cpu",
        act_before_weights: bool = True,
    ) -> None:
        if not actor_id:
            raise ValueError("actor_id must be a non-empty string")
        if batch_size < 1 or random_steps < 0:
            raise ValueError(
                f"batch_size must be >= 1 and random_steps >= 0, got {batch_size}, {random_steps}"
            )
        if not isinstance(env.action_space, gym.spaces.Box):
            raise TypeError(f"the actor needs a Box action space, got {env.action_space}")
        self.env = env
        self.actor_id = actor_id
        self.batch_size = int(batch_size)
        self.random_steps = int(random_steps)
        self.seed = int(seed)
        self.deterministic = deterministic
        self.device = device
        self.act_before_weights = act_before_weights
        self.agent: RLPDAgent | None = None
        self.weights_version = -1  # -1: no weights yet
        self.run_id = ""
        self.weight_updates = 0  # snapshots loaded
        self.env_steps = 0
        self.episodes = 0
        self.successes = 0
        self.intervention_steps = 0  # steps an operator acted in
        self.sequence = 0  # batches handed out
        self.last_episode: EpisodeStats | None = None
        self._rows: list[dict[str, Any]] = []
        env.action_space.seed(seed)
        self._obs, _ = env.reset(seed=seed)
        self._episode = {"return": 0.0, "length": 0, "interventions": 0}

    # --- weights ----------------------------------------------------------------------------
    def load_weights(self, snapshot: WeightSnapshot) -> None:
        """Act with ``snapshot`` from the next step on. The first snapshot (or one from a
        different run) builds the policy from the learner's config it carries."""
        if self.agent is None or snapshot.run_id != self.run_id:
            config = RLPDConfig.from_dict(snapshot.config)
            self.agent = RLPDAgent(
                self.env.observation_space, self.env.action_space, config, device=self.device
            )
            # Each actor draws its own exploration noise.
            self.agent.generator.manual_seed(self.seed + 7919)
        try:
            self.agent.load_policy_state_dict(snapshot.tensors)
        except (RuntimeError, KeyError) as err:
            raise ValueError(
                f"weights version {snapshot.version} of run {snapshot.run_id!r} do not fit this "
                f"actor's env ({self.env.observation_space}, {self.env.action_space}): {err}"
            ) from err
        if snapshot.version < self.weights_version and snapshot.run_id == self.run_id:
            log.warning(
                "weights version went back from %d to %d: the learner resumed from an older "
                "checkpoint",
                self.weights_version,
                snapshot.version,
            )
        self.weights_version, self.run_id = snapshot.version, snapshot.run_id
        self.weight_updates += 1

    @property
    def acting_randomly(self) -> bool:
        return self.agent is None or self.env_steps < self.random_steps

    # --- acting -----------------------------------------------------------------------------
    @property
    def waiting_for_weights(self) -> bool:
        """True while ``act_before_weights`` is off and no weights arrived: `step` does not act."""
        return self.agent is None and not self.act_before_weights

    def step(self) -> TransitionBatch | None:
        """One environment step; returns a batch when ``batch_size`` transitions are ready.
        Without weights and with ``act_before_weights`` off (a real arm) it does nothing."""
        if self.waiting_for_weights:
            return None
        obs = self._obs
        if self.acting_randomly:
            action, version = self.env.action_space.sample(), -1
        else:
            action, version = (
                self.agent.act(obs, deterministic=self.deterministic),
                (self.weights_version),
            )
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        intervened = bool(info.get("intervened", False))
        if intervened and "executed_action" in info:
            action = info["executed_action"]  # the operator's action is what happened
        self._rows.append(
            {
                "obs": flatten_obs(obs),
                "next_obs": flatten_obs(next_obs),
                "action": np.asarray(action, np.float32),
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "intervened": intervened,
                "success": bool(info.get("is_success", False)),
                "version": version,
            }
        )
        self.env_steps += 1
        self.intervention_steps += int(intervened)
        ep = self._episode
        ep["return"] += float(reward)
        ep["length"] += 1
        ep["interventions"] += int(intervened)
        if terminated or truncated:
            success = bool(info.get("is_success", False))
            self.last_episode = EpisodeStats(
                success, ep["return"], ep["length"], ep["interventions"]
            )
            self.episodes += 1
            self.successes += int(success)
            self._episode = {"return": 0.0, "length": 0, "interventions": 0}
            next_obs, _ = self.env.reset()
        self._obs = next_obs
        return self.flush() if len(self._rows) >= self.batch_size else None

    def flush(self) -> TransitionBatch | None:
        """The transitions collected so far as a batch (None if there are none)."""
        if not self._rows:
            return None
        rows, self._rows = self._rows, []

        def stack(side: str) -> dict[str, np.ndarray]:
            return {k: np.stack([r[side][k] for r in rows]) for k in rows[0][side]}

        obs, next_obs = stack("obs"), stack("next_obs")
        if list(obs) == [""]:
            obs, next_obs = obs[""], next_obs[""]
        batch = TransitionBatch(
            actor_id=self.actor_id,
            sequence=self.sequence,
            transitions={
                "obs": obs,
                "next_obs": next_obs,
                "action": np.stack([r["action"] for r in rows]),
                "reward": np.array([r["reward"] for r in rows], np.float32),
                "terminated": np.array([r["terminated"] for r in rows]),
                "truncated": np.array([r["truncated"] for r in rows]),
            },
            intervened=np.array([r["intervened"] for r in rows]),
            success=np.array([r["success"] for r in rows]),
            # the oldest weights that acted in this batch (-1 if any action was random)
            policy_version=min(r["version"] for r in rows),
        )
        self.sequence += 1
        return batch

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else math.nan

    def close(self) -> None:
        self.env.close()


def episode_stats(batch: TransitionBatch, running: dict[str, float]) -> list[EpisodeStats]:
    """The episodes that end in ``batch``, with returns and lengths accumulated in ``running``
    (one dict per actor, carried from batch to batch)."""
    ended: list[EpisodeStats] = []
    t = batch.transitions
    for i in range(len(batch)):
        running["return"] = running.get("return", 0.0) + float(t["reward"][i])
        running["length"] = running.get("length", 0) + 1
        running["interventions"] = running.get("interventions", 0) + int(batch.intervened[i])
        if t["terminated"][i] or t["truncated"][i]:
            ended.append(
                EpisodeStats(
                    bool(batch.success[i]),
                    running["return"],
                    int(running["length"]),
                    int(running["interventions"]),
                )
            )
            running.clear()
    return ended
