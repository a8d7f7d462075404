"""The demo's one config tree: a profile (`quick`, `default`), loadable from YAML and
overridable with dotted keys (``serl.env_steps=5000``), with `robolearn.config`'s machinery.

Every stage reads its own section; `DemoConfig.as_dict()` is written beside the results so a
report always says which budgets produced it. The learners' settings are the training tree's
own sections (`robolearn.learn.config`: ``serl.agent``, ``pearl.agent`` are `RLPDConfig`s with
the one set of defaults that `robolearn train serl` and the `serl_learner` node use too).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robolearn.config import ConfigError, to_dict
from robolearn.config import load as load_tree
from robolearn.learn.config import EnvConfig, LoopConfig, twin_tasks
from robolearn.learn.rlpd import RLPDConfig


def _agent(**changes: Any) -> RLPDConfig:
    """The training default (`robolearn.learn.config`) with a profile's budget changes."""
    from robolearn.learn.config import AGENT_PRESETS

    return dataclasses.replace(AGENT_PRESETS["default"](), **changes)


def _default_learning_starts() -> int:
    return LoopConfig().learning_starts


def _default_action_mode() -> str:
    return EnvConfig().action_mode


@dataclass(kw_only=True)
class RecordConfig:
    """Stage 1: scripted teleop over the ROS 2 node graph into a zarr dataset."""

    episodes: int = 20
    # The twin's speed against the wall clock; above 1 its /clock paces the teleop node. Real
    # time by default: at 5x the scripted teleop's commands came late enough for the safety
    # watchdog to hold the arm now and then (pick_cube episodes 52 steps long instead of 43).
    real_time_factor: float = 1.0


@dataclass(kw_only=True)
class SerlConfig:
    """Stage 2: `serl_learner` and `serl_actor` processes; stop at ``env_steps``."""

    env_steps: int = 15000  # the training default's budget (BENCHMARKS.md, sample efficiency)
    actors: int = 1
    # Env steps per second per actor: at most what the learner can update at agent.utd_ratio,
    # or the learner falls behind and forgets owed updates (0: as fast as the env allows). One
    # core does about 25 env steps/s of the default's updates (4 critic steps of 2 critics).
    actor_rate_hz: float = 20.0
    actor_batch_size: int = 50
    action_mode: str = field(default_factory=_default_action_mode)
    learning_starts: int = field(default_factory=_default_learning_starts)
    publish_every: int = 100
    agent: RLPDConfig = field(default_factory=_agent)
    # the learner on core 0, the actors on core 1 (2+ cores); () for no pinning
    learner_cpus: tuple[int, ...] = (0,)
    actor_cpus: tuple[int, ...] = (1,)
    timeout_s: float = 5400.0  # give up (with an error) if the budget is not reached by then


@dataclass(kw_only=True)
class CertifyConfig:
    """Stage 3: Lipschitz BC on the recorded demos, bound + smoothing certificate, gate."""

    lipschitz: float = 50.0
    hidden_dims: tuple[int, ...] = (128, 128)
    steps: int = 2000
    epsilon: float = 0.01  # observation perturbation the bound certifies against (L2)
    smoothing_sigma: float = 0.01
    smoothing_budget: float = 0.01
    smoothing_points: int = 5
    smoothing_episodes: int = 50
    confidence: float = 0.95


@dataclass(kw_only=True)
class PearlConfig:
    """Stage 4: preferences of ``source`` transferred to the demo's task; RLPD on the reward,
    and the same learner on a reward fitted to oracle (true) labels at the same budget."""

    source: str = "reach"
    episodes: int = 30  # per varied-quality dataset (source and target)
    source_pairs: int = 300
    segments: int = 100
    target_pairs: int = 300
    segment_length: int = 25
    reward_epochs: int = 200
    rlpd_steps: int = 15000
    action_mode: str = field(default_factory=_default_action_mode)
    # The training default without the BC anchor of online rows: the prior data here are
    # varied-quality episodes (noisy and random ones too), whose BC policy is not worth keeping
    # close to; the Q-filtered BC of demo rows stays.
    agent: RLPDConfig = field(default_factory=lambda: _agent(bc_prior_steps=0))
    oracle: bool = True  # also train on oracle labels: the transfer's ratio to it
    # the transferred- and oracle-label learners side by side, one core each (1: one after the
    # other in the demo's process)
    processes: int = 2
    eval_every: int = 2500
    eval_episodes: int = 20


@dataclass(kw_only=True)
class ArenaStageConfig:
    """Stage 5: every policy over a perturbation suite, ranked with bootstrap intervals."""

    suite: str = "small"
    seeds: int = 10
    videos: int = 1
    workers: int = 2
    baselines: tuple[str, ...] = ("expert", "random")
    bootstrap: int = 500


@dataclass(kw_only=True)
class DemoConfig:
    profile: str = "default"
    task: str = "pick_cube"
    seed: int = 0
    record: RecordConfig = field(default_factory=RecordConfig)
    serl: SerlConfig = field(default_factory=SerlConfig)
    certify: CertifyConfig = field(default_factory=CertifyConfig)
    pearl: PearlConfig = field(default_factory=PearlConfig)
    arena: ArenaStageConfig = field(default_factory=ArenaStageConfig)

    def __post_init__(self) -> None:
        tasks = twin_tasks()
        if self.task not in tasks:
            raise ConfigError(f"demo task {self.task!r}: choose one of {', '.join(tasks)}")
        if self.pearl.source not in tasks:
            raise ConfigError(f"pearl.source {self.pearl.source!r}: choose one of {tasks}")
        if self.pearl.source == self.task:
            raise ConfigError("pearl.source must differ from the demo task (a cross-task transfer)")
        if self.serl.env_steps < 1 or self.record.episodes < 1:
            raise ConfigError("serl.env_steps and record.episodes must be positive")
        for section in (self.serl, self.pearl):
            EnvConfig(task=self.task, action_mode=section.action_mode)  # a known action mode
        self.serl.learner_cpus = tuple(int(c) for c in self.serl.learner_cpus)
        self.serl.actor_cpus = tuple(int(c) for c in self.serl.actor_cpus)

    def as_dict(self) -> dict[str, Any]:
        return to_dict(self)


def _quick() -> DemoConfig:
    """Under 10 minutes on 2 cores: the reach task and small budgets everywhere."""
    return DemoConfig(
        profile="quick",
        task="reach",
        record=RecordConfig(episodes=20, real_time_factor=5.0),
        serl=SerlConfig(
            env_steps=4000,
            actor_rate_hz=50.0,
            actor_batch_size=25,
            learning_starts=300,
            publish_every=50,
            agent=_agent(hidden_dims=(128, 128), batch_size=128, utd_ratio=1, discount=0.95),
            timeout_s=600.0,
        ),
        certify=CertifyConfig(
            lipschitz=20.0, hidden_dims=(64, 64), steps=2000, smoothing_episodes=20
        ),
        pearl=PearlConfig(
            source="pick_cube",
            episodes=12,
            source_pairs=150,
            segments=60,
            target_pairs=150,
            segment_length=20,
            reward_epochs=60,
            rlpd_steps=3000,
            agent=_agent(hidden_dims=(128, 128), batch_size=128, utd_ratio=1, bc_prior_steps=0),
            oracle=False,
            eval_every=1000,
            eval_episodes=5,
        ),
        arena=ArenaStageConfig(seeds=4, videos=1, bootstrap=200),
    )


# The default profile runs every learner with the training defaults (robolearn.learn.config).
PROFILES = {"default": DemoConfig, "quick": _quick}


def load_config(
    profile: str = "default",
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> DemoConfig:
    """The profile, then the YAML file's keys, then ``key=value`` dotted overrides."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown demo profile {profile!r}; known: {', '.join(PROFILES)}")
    return load_tree(PROFILES[profile](), config_file, overrides)
