"""Policies under evaluation, named by a spec string: `expert`, `noisy_expert:0.3`, `random`,
`rlpd:PATH` (an RLPD checkpoint or learner checkpoint folder from `robolearn.learn`),
`certified:PATH` (any checkpoint `robolearn.certify.policy.load_policy` reads: its Lipschitz
BC policies and RLPD actors), or `module.path:factory[:ARG]` for a factory anywhere. Prefix a
spec with ``NAME=`` to show it under that name (``serl=rlpd:runs/pick/checkpoints``).

A policy is built inside each evaluation worker from its spec, so specs are plain strings. Add
a kind with `@register_policy("name")` on a factory `(arg: str | None) -> Policy`.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robolearn.envs.robot_env import RobotEnv
from robolearn.registry import Registry
from robolearn.sim.tasks.base import ACTION_DIM


class PolicyError(ValueError):
    """A policy spec is unknown or its argument is wrong."""


class Policy(abc.ABC):
    """Maps observations (and, for scripted policies, the env's privileged state) to actions."""

    #: cameras the policy needs in its observations (empty: state only)
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] = (128, 128)

    def reset(self, env: RobotEnv, seed: int) -> None:  # noqa: B027 - optional hook
        """Start an episode; `seed` seeds any randomness of the policy."""

    @abc.abstractmethod
    def act(self, obs: dict[str, Any], env: RobotEnv) -> np.ndarray:
        """An action in [-1, 1]^7."""


PolicyFactory = Callable[[str | None], Policy]
POLICIES: Registry[PolicyFactory] = Registry("policy")


def register_policy(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    return POLICIES.register(name)


def split_policy_entry(entry: str) -> tuple[str, str]:
    """``NAME=SPEC`` -> ``(NAME, SPEC)``: the name an evaluation shows for the policy built from
    ``SPEC`` (``serl=rlpd:runs/pick/checkpoints``). A bare spec is its own name."""
    name, eq, spec = entry.partition("=")
    if eq and name and spec and not any(c in name for c in ":/\\"):
        return name, spec
    return entry, entry


def make_policy(spec: str) -> Policy:
    """Build a policy from its spec string, optionally ``NAME=SPEC`` (see the module docstring)."""
    spec = split_policy_entry(spec)[1]
    name, _, arg = spec.partition(":")
    if name in POLICIES:
        return POLICIES.get(name)(arg or None)
    if "." in name:  # module.path:factory[:arg]
        factory_name, _, factory_arg = arg.partition(":")
        if not factory_name:
            raise PolicyError(f"policy {spec!r}: write module.path:factory[:arg]")
        try:
            factory = getattr(importlib.import_module(name), factory_name)
        except (ImportError, AttributeError) as err:
            raise PolicyError(
                f"policy {spec!r}: cannot import {name}.{factory_name}: {err}"
            ) from err
        policy = factory(factory_arg or None)
        if not isinstance(policy, Policy):
            raise PolicyError(
                f"policy {spec!r}: {factory_name} returned {type(policy).__name__}, not a Policy"
            )
        return policy
    raise PolicyError(
        f"unknown policy {spec!r}; known: {', '.join(POLICIES.names())}, or module.path:factory"
    )


@dataclass(kw_only=True)
class ExpertConfig:
    noise_std: float = 0.0  # Gaussian action noise (0: the plain scripted expert)


class ExpertPolicy(Policy):
    """The task's scripted expert (privileged object state), optionally with action noise."""

    def __init__(self, config: ExpertConfig | None = None) -> None:
        self.config = config or ExpertConfig()
        if not np.isfinite(self.config.noise_std) or self.config.noise_std < 0:
            raise PolicyError(f"noise_std must be >= 0, got {self.config.noise_std}")
        self._expert = None
        self._rng = np.random.default_rng(0)

    def reset(self, env: RobotEnv, seed: int) -> None:
        if self._expert is None or self._task is not env.task:
            self._task = env.task
            self._expert = env.task.make_expert()
        self._expert.reset()
        self._rng = np.random.default_rng([seed, 7])

    def act(self, obs: dict[str, Any], env: RobotEnv) -> np.ndarray:
        action = self._expert.act(env.robot_state, env.objects())
        if self.config.noise_std > 0:
            action = action + self._rng.normal(0.0, self.config.noise_std, ACTION_DIM)
        return np.clip(action, -1.0, 1.0)


class RandomPolicy(Policy):
    """Uniform random actions."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def reset(self, env: RobotEnv, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 11])

    def act(self, obs: dict[str, Any], env: RobotEnv) -> np.ndarray:
        return self._rng.uniform(-1.0, 1.0, ACTION_DIM)


class RLPDPolicy(Policy):
    """A trained RLPD/SAC actor (deterministic), from a safetensors checkpoint."""

    def __init__(self, path: str, image_size: tuple[int, int] = (128, 128)) -> None:
        import json
        from pathlib import Path

        from safetensors import safe_open

        if Path(path).is_dir():  # a learner checkpoint, or a folder of them (the newest)
            from robolearn.learn.learner import Learner

            folder = Learner.latest(path)
            if folder is None:
                raise PolicyError(f"rlpd:{path}: no complete learner checkpoint in this folder")
            path = str(folder / "agent.safetensors")
        self.path = path
        try:
            with safe_open(path, framework="pt") as f:
                meta = f.metadata() or {}
        except Exception as err:  # noqa: BLE001 - safetensors raises several kinds
            raise PolicyError(f"rlpd:{path}: cannot read the checkpoint: {err}") from err
        if meta.get("format") != "robolearn.rlpd":
            raise PolicyError(f"rlpd:{path}: not an RLPD checkpoint")
        keys = json.loads(meta.get("obs_keys", "[]"))
        self.cameras = tuple(k.split(".", 1)[1] for k in keys if k.startswith("images."))
        self.image_size = image_size
        self._agent = None

    def reset(self, env: RobotEnv, seed: int) -> None:
        if self._agent is None:
            import gymnasium as gym
            import torch

            from robolearn.learn.rlpd import RLPDAgent
            from robolearn.sim.tasks.actions import make_action_mode

            torch.set_num_threads(1)
            # A policy trained in a reduced action mode acts in it; the arena's env takes the
            # 7-D pose action, which the mode builds (held axes steered tool-down).
            self._mode = make_action_mode(RLPDAgent.action_mode_of(self.path) or "pose")
            space = gym.spaces.Box(-1.0, 1.0, (self._mode.dim,), np.float32)
            agent = RLPDAgent(
                env.observation_space, space, RLPDAgent.config_of(self.path), device="cpu"
            )
            agent.load(self.path)
            self._agent = agent

    def act(self, obs: dict[str, Any], env: RobotEnv) -> np.ndarray:
        action = self._agent.act(obs, deterministic=True)
        pose = self._mode.to_pose(action, env.robot_state.ee_quat, env.robot.limits)
        return np.asarray(pose, dtype=np.float64)


@register_policy("expert")
def _expert(arg: str | None) -> Policy:
    if arg:
        raise PolicyError("expert takes no argument (use noisy_expert:STD)")
    return ExpertPolicy()


@register_policy("noisy_expert")
def _noisy_expert(arg: str | None) -> Policy:
    try:
        std = float(arg) if arg else 0.3
    except ValueError:
        raise PolicyError(f"noisy_expert:STD needs a number, got {arg!r}") from None
    return ExpertPolicy(ExpertConfig(noise_std=std))


@register_policy("random")
def _random(arg: str | None) -> Policy:
    return RandomPolicy()


@register_policy("rlpd")
def _rlpd(arg: str | None) -> Policy:
    if not arg:
        raise PolicyError("rlpd:PATH needs the checkpoint path")
    return RLPDPolicy(arg)


class CertifiedPolicy(Policy):
    """A deterministic state policy read by `robolearn.certify.policy.load_policy` (Lipschitz BC
    networks and RLPD actors), clipped to the action box as the deployment gate sees it."""

    def __init__(self, path: str) -> None:
        from robolearn.certify.policy import load_policy

        try:
            self.policy = load_policy(path)
        except (FileNotFoundError, ValueError, KeyError) as err:
            raise PolicyError(f"certified:{path}: {err}") from err

    def act(self, obs: dict[str, Any], env: RobotEnv) -> np.ndarray:
        return np.asarray(self.policy.act(obs), dtype=np.float64)


@register_policy("certified")
def _certified(arg: str | None) -> Policy:
    if not arg:
        raise PolicyError("certified:PATH needs the checkpoint path")
    return CertifiedPolicy(arg)
