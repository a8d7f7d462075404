"""The demo's one config tree: a profile (`quick`, `default`), loadable from YAML and
overridable with dotted keys (``serl.env_steps=5000``).

Every stage reads its own section; `DemoConfig.as_dict()` is written beside the results so a
report always says which budgets produced it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TASKS = ("reach", "pick_cube", "peg_insert")


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

    env_steps: int = 30000
    actors: int = 1
    # Env steps per second per actor. At most what the learner can update at utd_ratio: one
    # core does about 25 updates/s of the 10-critic 256x256 ensemble at batch 256.
    actor_rate_hz: float = 22.0
    actor_batch_size: int = 50
    hidden_dims: tuple[int, ...] = (256, 256)
    num_critics: int = 10
    utd_ratio: int = 1
    batch_size: int = 256
    discount: float = 0.97
    learning_starts: int = 500
    publish_every: int = 100
    # further RLPDConfig fields; observation normalisation as in the benchmark
    agent_config: dict[str, Any] = field(
        default_factory=lambda: {"encoder_options": {"normalize": True}}
    )
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
    """Stage 4: preferences of ``source`` transferred to the demo's task; RLPD on the reward."""

    source: str = "reach"
    episodes: int = 30  # per varied-quality dataset (source and target)
    source_pairs: int = 300
    segments: int = 100
    target_pairs: int = 300
    segment_length: int = 25
    reward_epochs: int = 200
    rlpd_steps: int = 6000
    hidden_dims: tuple[int, ...] = (256, 256)
    num_critics: int = 2  # the SERL stage runs SERL's 10; this one is the reward's test drive
    utd_ratio: int = 1
    eval_every: int = 2500
    eval_episodes: int = 10


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
        if self.task not in TASKS:
            raise ValueError(f"demo task {self.task!r}: choose one of {', '.join(TASKS)}")
        if self.pearl.source not in TASKS:
            raise ValueError(f"pearl.source {self.pearl.source!r}: choose one of {TASKS}")
        if self.pearl.source == self.task:
            raise ValueError("pearl.source must differ from the demo task (a cross-task transfer)")
        if self.serl.env_steps < 1 or self.record.episodes < 1:
            raise ValueError("serl.env_steps and record.episodes must be positive")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
            hidden_dims=(128, 128),
            num_critics=4,
            utd_ratio=1,
            batch_size=128,
            discount=0.95,
            learning_starts=300,
            publish_every=50,
            agent_config={"init_temperature": 0.01, "encoder_options": {"normalize": True}},
            timeout_s=600.0,
        ),  # fmt: skip
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
            hidden_dims=(128, 128),
            eval_every=1000,
            eval_episodes=5,
        ),
        arena=ArenaStageConfig(seeds=4, videos=1, bootstrap=200),
    )


# The default profile is the learner benchmark's setting on PickCube (20 demos, 30k env steps,
# UTD 1, 10 critics; BENCHMARKS.md "sample efficiency").
PROFILES = {"default": DemoConfig, "quick": _quick}


def _coerce(template: Any, value: Any, key: str) -> Any:
    """``value`` (parsed YAML) as the type of the field it replaces."""
    if isinstance(template, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(template, int | float) and not isinstance(value, int | float):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if isinstance(template, float):
        return float(value)
    if isinstance(template, int) and isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    if isinstance(template, int):
        return int(value)
    if isinstance(template, tuple):
        if not isinstance(value, list | tuple):
            value = [value]
        return tuple(value)
    if isinstance(template, dict) and not isinstance(value, dict):
        raise ValueError(f"{key}: expected a mapping, got {value!r}")
    if isinstance(template, str) and not isinstance(value, str):
        return str(value)
    return value


def _apply(node: Any, key: str, value: Any, prefix: str = "") -> None:
    head, _, rest = key.partition(".")
    names = [f.name for f in dataclasses.fields(node)]
    if head not in names:
        where = prefix.rstrip(".") or "the demo config"
        raise ValueError(f"unknown key {prefix + head!r} in {where}; known: {', '.join(names)}")
    current = getattr(node, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"{prefix + head} is a value, not a section")
        _apply(current, rest, value, prefix + head + ".")
    elif dataclasses.is_dataclass(current):
        if not isinstance(value, dict):
            raise ValueError(f"{prefix + head} is a section: give a mapping")
        for k, v in value.items():
            _apply(current, str(k), v, prefix + head + ".")
    else:
        setattr(node, head, _coerce(current, value, prefix + head))


def load_config(
    profile: str = "default",
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> DemoConfig:
    """The profile, then the YAML file's keys, then ``key=value`` dotted overrides."""
    if profile not in PROFILES:
        raise ValueError(f"unknown demo profile {profile!r}; known: {', '.join(PROFILES)}")
    config = PROFILES[profile]()
    if config_file is not None:
        raw = yaml.safe_load(Path(config_file).read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{config_file}: expected a mapping of config keys")
        for k, v in raw.items():
            _apply(config, str(k), v)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r}: write key=value, e.g. serl.env_steps=5000")
        _apply(config, key.strip(), yaml.safe_load(text) if text else "")
    config.__post_init__()  # validate the combination
    return config
