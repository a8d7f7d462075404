"""The training config tree: one place for every training default.

`TrainConfig` = ``env`` (which env, how it is built) + ``agent`` (`RLPDConfig`) + ``loop``
(budgets, evaluation, checkpoints, prior data) + ``seed``/``device``/``threads``. It is read by
`robolearn train serl` (``--config``, ``--set``, ``--print-config``), by the `serl_learner` and
`serl_actor` nodes (their ROS parameters are `robolearn.config.flatten` of the same tree), by
`robolearn pearl train` and by the demo; the effective tree is saved in every run folder and
checkpoint, and resuming compares it key by key (`robolearn.config.diff`).

Agent presets (`AGENT_PRESETS`): ``default`` is `RLPDConfig()`, this project's tuned setting
(its docstring says where and why it leaves the paper; measured in BENCHMARKS.md), ``rlpd`` the
paper's (Ball et al. 2023: UTD 20, 10 critics, gamma 0.99), ``serl`` SERL's real-robot setting
(Luo et al. 2024: 10 critics, UTD 1; gamma 0.97).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from robolearn.config import ConfigError, option
from robolearn.learn.device import DEVICES
from robolearn.learn.rlpd import RLPDConfig

ENV_BACKENDS = ("twin", "ros")


def twin_tasks() -> list[str]:
    """The twin tasks: the names in the task registry (`robolearn.sim.tasks.TASKS`)."""
    from robolearn.sim.tasks import TASKS

    return TASKS.names()


@dataclass(kw_only=True)
class EnvConfig:
    """Which env a learner trains on: a twin task, or any gymnasium env by id."""

    task: str = option("pick_cube", "Twin task (reach, pick_cube, peg_insert); used if id is ''.")
    id: str = option(
        "",
        "Any gymnasium env: a registered id or package.module:callable (Box actions); "
        "overrides task.",
    )
    kwargs: dict[str, Any] = option({}, "Keyword arguments for the env (gym.make / callable).")
    backend: str = option(
        "twin",
        "Twin tasks: where the task runs: twin (MuJoCo in this process) or ros (any robot "
        "bridge over ROS 2: the real arm, or a twin bridge; robolearn.envs.ros_env).",
    )
    action_mode: str = option(
        "position_yaw",
        "Twin tasks: the policy's actions (position_yaw: dx dy dz dyaw gripper, roll and pitch "
        "held tool-down; position: without yaw; pose: all 7 axes).",
    )
    reward: str = option("sparse", "Twin tasks: sparse (1 on success) or dense.")
    terminate_on_success: bool = option(True, "Twin tasks: end an episode at success.")
    cameras: tuple[str, ...] = option((), "Twin tasks: cameras in the observation (front, wrist).")
    image_size: tuple[int, ...] = option((128, 128), "Twin tasks: camera image size (H, W).")
    obs_keys: tuple[str, ...] = option(
        (), "Observation keys the policy reads (dotted for nested dicts); (): every float Box."
    )
    success_key: str = option(
        "is_success", "The info key that says an episode succeeded (read at episode end)."
    )
    expert: str = option(
        "",
        "Foreign envs: a scripted policy package.module:callable, called as fn(env) -> action, "
        "for demos expert:N ('' : the twin task's expert, or env.unwrapped.expert()).",
    )

    def __post_init__(self) -> None:
        from robolearn.sim.tasks.actions import ACTION_MODES

        self.cameras = tuple(str(c) for c in self.cameras)
        self.image_size = tuple(int(x) for x in self.image_size)
        self.obs_keys = tuple(str(k) for k in self.obs_keys)
        if not self.id and self.task not in twin_tasks():
            raise ConfigError(
                f"env.task {self.task!r}: a twin task is one of {', '.join(twin_tasks())} "
                "(or give env.id, a gymnasium id)"
            )
        if self.action_mode not in ACTION_MODES:
            raise ConfigError(
                f"env.action_mode {self.action_mode!r}: one of {', '.join(ACTION_MODES.names())}"
            )
        if self.reward not in ("sparse", "dense"):
            raise ConfigError(f"env.reward {self.reward!r}: sparse or dense")
        if self.backend not in ENV_BACKENDS:
            raise ConfigError(f"env.backend {self.backend!r}: one of {', '.join(ENV_BACKENDS)}")
        if self.backend == "ros" and self.cameras:
            raise ConfigError("env.backend=ros has no camera images yet; use env.cameras=[]")
        if len(self.image_size) != 2:
            raise ConfigError(f"env.image_size must be [H, W], got {list(self.image_size)}")

    @property
    def name(self) -> str:
        """The env's id (a twin task's registered id)."""
        if self.id:
            return self.id
        from robolearn.envs import ENV_IDS

        return ENV_IDS[self.task]

    def make(self) -> gym.Env:
        """A fresh env as configured (success reported as ``info["is_success"]``)."""
        from robolearn.learn.actor import make_env

        if self.id:
            env = make_env(self.id, self.kwargs)
            if not isinstance(env.action_space, gym.spaces.Box):
                raise ConfigError(f"env.id {self.id}: RLPD needs a Box action space")
            if self.success_key != "is_success":
                env = SuccessInfo(env, self.success_key)
            return env
        kwargs: dict[str, Any] = {
            "reward_type": self.reward,
            "terminate_on_success": self.terminate_on_success,
            "action_mode": self.action_mode,
            **self.kwargs,
        }
        if self.backend == "ros":
            from robolearn.envs.ros_env import RosRobotEnv

            return RosRobotEnv(self.task, **kwargs)
        if self.cameras:
            kwargs.update(cameras=self.cameras, image_size=self.image_size)
        return make_env(self.name, kwargs)

    def expert_policy(self) -> Callable[[gym.Env], Any] | None:
        """The scripted policy of ``expert`` (None: the env's own)."""
        if not self.expert:
            return None
        import importlib

        module_name, sep, attr = self.expert.partition(":")
        if not sep:
            raise ConfigError(f"env.expert {self.expert!r}: write package.module:callable")
        fn = getattr(importlib.import_module(module_name), attr, None)
        if not callable(fn):
            raise ConfigError(f"env.expert {self.expert!r}: {attr!r} is not a callable there")
        return fn


class SuccessInfo(gym.Wrapper):
    """Copies ``info[key]`` into ``info["is_success"]`` (the key robolearn's loops read)."""

    def __init__(self, env: gym.Env, key: str) -> None:
        super().__init__(env)
        self.key = key

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return obs, self._with_success(info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._with_success(info)

    def _with_success(self, info: dict[str, Any]) -> dict[str, Any]:
        if self.key in info:
            info = {**info, "is_success": bool(info[self.key])}
        return info


@dataclass(kw_only=True)
class LoopConfig:
    """Budgets, evaluation, checkpoints and prior data of a training run."""

    env_steps: int = option(30_000, "Environment steps in total.")
    learning_starts: int = option(500, "Random-action steps before the first update.")
    buffer_capacity: int = option(200_000, "Online replay buffer capacity (transitions).")
    demos: str = option(
        "", "Prior data: an episode store (zarr), expert:N scripted episodes, or '' for none."
    )
    eval_every: int = option(2_500, "Env steps between evaluations (0: at start and end).")
    eval_episodes: int = option(20, "Deterministic-policy episodes per evaluation.")
    checkpoint_every: int = option(2_000, "Env steps between learner checkpoints.")

    def __post_init__(self) -> None:
        if self.env_steps < 1:
            raise ConfigError(f"loop.env_steps must be at least 1, got {self.env_steps}")
        for name in (
            "learning_starts",
            "buffer_capacity",
            "eval_every",
            "eval_episodes",
            "checkpoint_every",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"loop.{name} must be >= 0, got {getattr(self, name)}")
        if self.buffer_capacity < 1:
            raise ConfigError("loop.buffer_capacity must be at least 1")


def _default_agent() -> RLPDConfig:
    return AGENT_PRESETS["default"]()


@dataclass(kw_only=True)
class TrainConfig:
    """One training run: env, agent, loop, and where it runs."""

    env: EnvConfig = field(default_factory=EnvConfig)
    agent: RLPDConfig = field(default_factory=_default_agent)
    loop: LoopConfig = field(default_factory=LoopConfig)
    seed: int = option(0, "Seed of the env, warm-up actions and batch sampling (and the agent).")
    device: str = option("auto", "Torch device of the learner: auto (CUDA if present), cpu, cuda.")
    threads: int = option(1, "Torch CPU threads (more than 1 on a busy 2-core CPU was slower).")

    def __post_init__(self) -> None:
        name = self.device.split(":")[0]
        if name not in DEVICES:
            raise ConfigError(f"device {self.device!r}: one of {', '.join(DEVICES)} or cuda:N")
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")

    def effective_agent(self) -> RLPDConfig:
        """``agent`` as this run builds it: the run's seed; with ``env.cameras`` the ``flatten``
        encoder becomes ``conv`` (DrQ trunks per camera + the state, normalised as
        ``normalize`` said); ``env.obs_keys`` chooses the encoder's keys."""
        encoder, options = self.agent.encoder, dict(self.agent.encoder_options)
        if self.env.cameras and encoder == "flatten":
            encoder = "conv"
            options = {"normalize_state": bool(options.pop("normalize", True)), **options}
            options.pop("keys", None)
        if self.env.obs_keys:
            key = "state_keys" if encoder == "conv" else "keys"
            options.setdefault(key, list(self.env.obs_keys))
        return dataclasses.replace(
            self.agent, seed=self.seed, encoder=encoder, encoder_options=options
        )


# --- presets -----------------------------------------------------------------------------------
def _paper_rlpd() -> RLPDConfig:
    """RLPD as published (Ball et al. 2023, appendix: UTD 20, 10 critics, min over a random 2,
    LayerNorm, gamma 0.99, tau 0.005, temperature 1.0, one-step targets, no BC term)."""
    return dataclasses.replace(
        RLPDConfig(),
        num_critics=10,
        critic_subsample=2,
        critic_layer_norm=True,
        utd_ratio=20,
        critic_actor_ratio=None,
        discount=0.99,
        n_step=1,
        tau=0.005,
        init_temperature=1.0,
        actor_critics=None,
        bc_weight=0.0,
        bc_filter=False,
        bc_prior_steps=0,
    )


def _serl() -> RLPDConfig:
    """SERL's learner (Luo et al. 2024): RLPD's losses with 10 critics, 2 subsampled, UTD 1,
    temperature 1e-2; gamma 0.97 (SERL uses 0.96-0.99)."""
    return dataclasses.replace(_paper_rlpd(), utd_ratio=1, discount=0.97, init_temperature=1e-2)


# ``default`` is the dataclass itself: `RLPDConfig()` is this project's tuned setting, and its
# docstring says where and why it leaves the paper (measured in BENCHMARKS.md).
AGENT_PRESETS: dict[str, Callable[[], RLPDConfig]] = {
    "default": RLPDConfig,
    "rlpd": _paper_rlpd,
    "serl": _serl,
}


def train_config(preset: str = "default") -> TrainConfig:
    """The default tree with the agent preset ``preset``."""
    if preset not in AGENT_PRESETS:
        raise ConfigError(f"unknown agent preset {preset!r}; known: {', '.join(AGENT_PRESETS)}")
    return TrainConfig(agent=AGENT_PRESETS[preset]())


# --- the distributed nodes ---------------------------------------------------------------------
@dataclass(kw_only=True)
class LearnerSettings:
    """What only the `serl_learner` node has: transport, checkpoints, logs."""

    publish_every: int = option(100, "Gradient steps between weight snapshots sent to actors.")
    max_steps_per_tick: int = option(1, "Env steps' worth of updates per timer callback.")
    max_backlog: int = option(10_000, "Env steps of owed updates kept; older ones are forgotten.")
    checkpoint_dir: str = option("", "Checkpoint directory; '' for no checkpoints.")
    checkpoint_every_s: float = option(300.0, "Seconds between periodic checkpoints.")
    resume: bool = option(True, "Continue from the newest checkpoint in checkpoint_dir.")
    run_id: str = option("", "Name of this training run in the weights; '' picks a fresh one.")
    log_dir: str = option("", "TensorBoard scalars and learning_curve.png here; '' for none.")
    cpus: tuple[int, ...] = option((), "CPU cores of this process (sched_setaffinity); (): any.")

    def __post_init__(self) -> None:
        self.cpus = tuple(int(c) for c in self.cpus)
        if self.publish_every < 1 or self.max_steps_per_tick < 1 or self.max_backlog < 1:
            raise ConfigError("node.publish_every, max_steps_per_tick, max_backlog must be >= 1")


@dataclass(kw_only=True)
class LearnerNodeConfig(TrainConfig):
    """`serl_learner`'s parameters: the training tree plus ``node.*``."""

    node: LearnerSettings = field(default_factory=LearnerSettings)


@dataclass(kw_only=True)
class ActorSettings:
    """What only a `serl_actor` node has: its identity, pacing, operator and gate."""

    actor_id: str = option("actor_0", "Name of this actor in its batches (unique per learner).")
    batch_size: int = option(50, "Environment steps per transition batch sent to the learner.")
    random_steps: int = option(0, "Act randomly for at least this many steps, even with weights.")
    rate_hz: float = option(0.0, "Environment steps per second; 0: as fast as the env allows.")
    max_queued_batches: int = option(1000, "Batches kept while no learner listens.")
    learner_timeout_s: float = option(3.0, "Seconds without learner status before queueing.")
    deterministic: bool = option(False, "Act with the policy's mean (evaluation).")
    intervene: str = option(
        "", "HIL-SERL operator: '' none, spacemouse, gamepad, keyboard, or scripted."
    )
    intervene_patience: int = option(30, "intervene=scripted: policy steps before a takeover.")
    intervene_steps: int = option(20, "intervene=scripted: steps per takeover.")
    intervene_episodes: int = option(-1, "intervene=scripted: stop after this many (-1: never).")
    explore_on_hardware: bool = option(
        False,
        "On a hardware robot (the env's hardware_id, e.g. a ROS bridge's backend franka, among "
        "the certification's hardware_backends): act stochastically and randomly before weights "
        "arrive. Off: the policy's mean, and no action until certified weights arrive.",
    )
    certification: str = option(
        "", "YAML with a 'certification:' section; '' uses the defaults (required on franka)."
    )
    cpus: tuple[int, ...] = option((), "CPU cores of this process (sched_setaffinity); (): any.")

    def __post_init__(self) -> None:
        self.cpus = tuple(int(c) for c in self.cpus)
        if self.batch_size < 1:
            raise ConfigError(f"node.batch_size must be at least 1, got {self.batch_size}")


@dataclass(kw_only=True)
class ActorNodeConfig:
    """`serl_actor`'s parameters: the env it acts in (as the learner's), seed, device, node."""

    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = option(0, "Seed of env resets, warm-up actions and policy noise (per actor).")
    device: str = option("cpu", "Torch device of the policy's inference (auto, cpu, cuda).")
    node: ActorSettings = field(default_factory=ActorSettings)


def apply_cpus(cpus: tuple[int, ...]) -> None:
    """Pin this process to ``cpus`` (Linux sched_setaffinity); () leaves it as it is."""
    import os

    if cpus and hasattr(os, "sched_setaffinity"):
        available = os.sched_getaffinity(0)
        chosen = {c for c in cpus if c in available} or available
        os.sched_setaffinity(0, chosen)
