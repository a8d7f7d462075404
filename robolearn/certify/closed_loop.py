"""Closed-loop certificate: observation errors of norm ``epsilon`` move the action by at most
``L * epsilon``, checked in the twin against attacks that try to move it as far as they can.

For a policy with certified l2 Lipschitz constant ``L`` (`robolearn.certify.bounds`), any
observation perturbation ``||delta|| <= epsilon`` at any step changes that step's action by at
most ``L * epsilon`` (the action clip is a projection, so it cannot add to it). `rollouts` runs
the policy in a twin env while an `ObservationPerturbation` corrupts what it sees:

- ``none``: the clean policy;
- ``random``: ``delta`` uniform on the sphere of radius ``epsilon`` every step;
- ``pgd``: at every step, projected gradient ascent (Madry et al. 2018,
  https://arxiv.org/abs/1706.06083) on ``||pi(o + delta) - pi(o)||`` inside the ball, a strong
  per-step attack on the action.

`check_closed_loop` measures the largest action deviation the attack achieved and the share of
episodes still solved; a deviation above ``L * epsilon`` would falsify the certificate (it is
recorded as a violation, and the tests assert there are none).
"""

from __future__ import annotations

import abc
import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from robolearn.certify.policy import CertifiablePolicy
from robolearn.registry import Registry

log = logging.getLogger(__name__)


# --- perturbations ------------------------------------------------------------------------------
class ObservationPerturbation(abc.ABC):
    """Chooses ``delta`` for the policy's input ``x`` (1-D, float32) at one step."""

    epsilon: float = 0.0

    def reset(self, seed: int) -> None:  # noqa: B027 - optional hook
        """Start an episode (seed any randomness)."""

    @abc.abstractmethod
    def __call__(self, policy: CertifiablePolicy, x: np.ndarray) -> np.ndarray:
        """The perturbation (same shape as ``x``)."""


PERTURBATIONS: Registry[type[ObservationPerturbation]] = Registry("observation perturbation")


@PERTURBATIONS.register("none")
class NoPerturbation(ObservationPerturbation):
    def __init__(self, *, epsilon: float = 0.0) -> None:
        self.epsilon = 0.0

    def __call__(self, policy: CertifiablePolicy, x: np.ndarray) -> np.ndarray:
        return np.zeros_like(x)


@PERTURBATIONS.register("random")
class RandomPerturbation(ObservationPerturbation):
    """Uniform direction, norm exactly ``epsilon``."""

    def __init__(self, *, epsilon: float) -> None:
        self.epsilon = float(epsilon)
        self.rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, policy: CertifiablePolicy, x: np.ndarray) -> np.ndarray:
        d = self.rng.normal(size=x.shape)
        return (self.epsilon * d / max(np.linalg.norm(d), 1e-12)).astype(x.dtype)


@PERTURBATIONS.register("pgd")
class PGDAttack(ObservationPerturbation):
    """``max_{||delta|| <= eps} ||pi(x + delta) - pi(x)||`` by ``steps`` of l2 PGD (Madry et al.
    2018) from a random start: normalised gradient steps of length ``eps``, projection onto the
    ball, the best iterate kept; ``restarts`` random starts."""

    def __init__(self, *, epsilon: float, steps: int = 10, restarts: int = 1) -> None:
        if steps < 1 or restarts < 1:
            raise ValueError("steps and restarts must be at least 1")
        self.epsilon, self.steps, self.restarts = float(epsilon), int(steps), int(restarts)
        self.gen = torch.Generator().manual_seed(0)

    def reset(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)

    def attack(self, policy: CertifiablePolicy, x: Tensor) -> Tensor:
        """Batched: ``x`` is ``(B, d)``; returns ``delta`` of the same shape."""
        eps = self.epsilon
        if eps == 0:
            return torch.zeros_like(x)
        with torch.no_grad():
            clean = policy.forward(x)
        best_d, best_v = torch.zeros_like(x), torch.full((len(x),), -1.0)
        for _ in range(self.restarts):
            d = torch.randn(x.shape, generator=self.gen)
            d = eps * d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12) * 0.5
            for k in range(self.steps + 1):
                d.requires_grad_(True)
                dev = (policy.forward(x + d) - clean).norm(dim=-1)
                (grad,) = torch.autograd.grad(dev.sum(), d)
                with torch.no_grad():
                    better = dev > best_v  # keep the best iterate, not the last
                    best_d[better], best_v[better] = d[better], dev[better]
                    if k == self.steps:
                        break
                    # steps of size eps: with the projection and the best iterate kept, large
                    # steps find the worst direction fastest (a power iteration on J^T J)
                    d = d + eps * grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                    d = d * (eps / d.norm(dim=-1, keepdim=True).clamp_min(eps))  # project
        return best_d.detach()

    def __call__(self, policy: CertifiablePolicy, x: np.ndarray) -> np.ndarray:
        return self.attack(policy, torch.as_tensor(x)[None])[0].numpy()


def make_perturbation(name: str, **options: Any) -> ObservationPerturbation:
    return PERTURBATIONS.get(name)(**options)


# --- rollouts -----------------------------------------------------------------------------------
@dataclass
class RolloutStats:
    """What happened over ``episodes`` episodes under one perturbation."""

    perturbation: str
    epsilon: float
    episodes: int
    successes: int
    returns: list[float]
    max_action_deviation: float  # largest ||pi(o + delta) - pi(o)|| seen
    steps: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else math.nan

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else math.nan

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(success_rate=self.success_rate, mean_return=self.mean_return)
        return out


def rollouts(
    policy: CertifiablePolicy,
    env: gym.Env,
    episodes: int,
    perturbation: ObservationPerturbation | None = None,
    *,
    seed: int = 0,
    observation_noise: float = 0.0,
    noise_seed: int | None = None,
) -> RolloutStats:
    """Run ``episodes`` episodes (env seeds ``seed, seed + 1, ...``) with ``perturbation`` applied
    to the observation the policy sees; ``observation_noise`` adds Gaussian noise of that standard
    deviation on top (policy smoothing, `robolearn.certify.smoothing`)."""
    perturbation = perturbation or NoPerturbation()
    rng = np.random.default_rng(seed if noise_seed is None else noise_seed)
    successes, returns, max_dev, steps = 0, [], 0.0, 0
    for i in range(episodes):
        perturbation.reset(seed + i)
        obs, info = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            x = policy.features(obs)
            if observation_noise > 0:
                x = x + rng.normal(0.0, observation_noise, x.shape).astype(x.dtype)
            delta = perturbation(policy, x)
            action = policy.act(x + delta)
            if perturbation.epsilon > 0:
                max_dev = max(max_dev, float(np.linalg.norm(action - policy.act(x))))
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            steps += 1
            done = terminated or truncated
        successes += int(bool(info.get("is_success", False)))
        returns.append(total)
    name = next(
        (n for n in PERTURBATIONS.names() if type(perturbation) is PERTURBATIONS.get(n)), ""
    )
    return RolloutStats(
        name or type(perturbation).__name__,
        perturbation.epsilon,
        episodes,
        successes,
        returns,
        max_dev,
        steps,
    )


# --- the certificate ----------------------------------------------------------------------------
@dataclass
class ClosedLoopCheck:
    """The per-step certificate ``||pi(o + delta) - pi(o)|| <= L epsilon`` against an attack."""

    epsilon: float
    lipschitz_bound: float
    certified_action_deviation: float  # L * epsilon
    max_attack_deviation: float  # the attack's best, over every step of every episode
    violations: int  # steps whose deviation exceeded the certificate (must be 0)
    attack: str
    nominal: dict[str, Any] = field(default_factory=dict)
    attacked: dict[str, Any] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return self.violations == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "holds": self.holds}


def check_closed_loop(
    policy: CertifiablePolicy,
    env: gym.Env,
    *,
    epsilon: float,
    lipschitz_bound: float,
    episodes: int = 5,
    attack: ObservationPerturbation | None = None,
    seed: int = 0,
    tolerance: float = 1e-5,
) -> ClosedLoopCheck:
    """Roll out clean and attacked episodes; count steps where the attack beat ``L * epsilon``."""
    attack = attack or PGDAttack(epsilon=epsilon)
    if abs(attack.epsilon - epsilon) > 1e-12:
        raise ValueError(f"the attack's epsilon {attack.epsilon} differs from {epsilon}")
    certified = lipschitz_bound * epsilon
    counter = CountingAttack(attack, certified * (1.0 + tolerance) + 1e-7)
    nominal = rollouts(policy, env, episodes, seed=seed)
    attacked = rollouts(policy, env, episodes, counter, seed=seed)
    return ClosedLoopCheck(
        epsilon=epsilon,
        lipschitz_bound=lipschitz_bound,
        certified_action_deviation=certified,
        max_attack_deviation=counter.max_deviation,
        violations=counter.violations,
        attack=type(attack).__name__,
        nominal=nominal.as_dict(),
        attacked=attacked.as_dict(),
    )


class CountingAttack(ObservationPerturbation):
    """Wraps an attack and checks each step's action deviation against a limit."""

    def __init__(self, inner: ObservationPerturbation, limit: float) -> None:
        self.inner, self.limit, self.epsilon = inner, limit, inner.epsilon
        self.violations, self.max_deviation = 0, 0.0

    def reset(self, seed: int) -> None:
        self.inner.reset(seed)

    def __call__(self, policy: CertifiablePolicy, x: np.ndarray) -> np.ndarray:
        delta = self.inner(policy, x)
        norm = float(np.linalg.norm(delta.astype(np.float64)))
        if norm > self.epsilon * (1 + 1e-5) + 1e-9:
            raise RuntimeError(f"the attack left its budget: ||delta|| = {norm} > {self.epsilon}")
        dev = float(np.linalg.norm(policy.act(x + delta) - policy.act(x)))
        self.max_deviation = max(self.max_deviation, dev)
        if dev > self.limit:
            self.violations += 1
            log.error("certificate violated: deviation %.6g > %.6g", dev, self.limit)
        return delta
