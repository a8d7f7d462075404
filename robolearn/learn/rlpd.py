"""RLPD: soft actor-critic with prior data, a LayerNorm critic ensemble, a high update-to-data
ratio.

Papers (losses below are named and numbered as there):

- SAC: Haarnoja et al., "Soft Actor-Critic Algorithms and Applications", 2018,
  https://arxiv.org/abs/1812.05905 -- the soft Bellman residual ``J_Q`` (eq. 5), the policy loss
  ``J_pi`` (eq. 7, reparameterised as eq. 8 with a tanh-squashed Gaussian, appendix C) and the
  temperature loss ``J(alpha)`` (eq. 18) that keeps the policy entropy near a target.
- RLPD: Ball et al., "Efficient Online Reinforcement Learning with Offline Data", 2023,
  https://arxiv.org/abs/2302.02948 -- Algorithm 1: each gradient step draws half its batch from
  the prior (demo) data and half from online data ("symmetric sampling"); ``G`` critic steps per
  environment step (the update-to-data ratio); an ensemble of ``E`` LayerNorm critics whose
  target is the minimum over a random subset of 2 of the target critics; the actor maximises
  the ensemble mean.

SERL (Luo et al. 2024, https://arxiv.org/abs/2401.16013) runs this learner on real robots with 20
demos, 10 critics, 2 subsampled and temperature initialised to 1e-2; see `RLPDConfig` for which
default comes from where.

Usage::

    agent = RLPDAgent(env.observation_space, env.action_space, RLPDConfig())
    action = agent.act(obs)                        # env-scaled action for one observation
    metrics = agent.update(online_batch, demo_batch)  # G critic steps, actor every few

Batches are in `robolearn.learn.replay`'s layout with ``utd_ratio * batch_size / 2`` rows each
(``utd_ratio * batch_size`` online rows when there are no demos); `update` splits them into
``utd_ratio`` minibatches of ``batch_size`` rows, each half online, half demo.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from robolearn.config import option
from robolearn.learn.augment import AUGMENTATIONS, make_augmentation
from robolearn.learn.device import resolve_device
from robolearn.learn.networks import (
    CriticEnsemble,
    ObservationEncoder,
    TanhGaussianActor,
    flatten_obs,
    flatten_space,
    make_encoder,
)

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class RLPDConfig:
    """Hyperparameters of `RLPDAgent`: the one set of training defaults (`robolearn train
    serl`, the learner node, `pearl train` and the demo read these).

    RLPD's losses, networks and symmetric sampling (Ball et al. 2023), tuned for sample
    efficiency per CPU second (BENCHMARKS.md, "Sample efficiency"); where the defaults leave the
    paper: 2 critics at UTD 4 instead of 10 at UTD 20 (about a ninth of the compute per env
    step), 3-step returns (a sparse reward reaches the start of a 40-step demo in a third of
    the backups), discount 0.97 (SERL's range), and a Q-filtered BC term in the actor loss:
    demo rows are pulled to their actions and online rows to a frozen BC policy fitted on the
    demos when learning starts (the actor starts from it), wherever the critics do not value
    the actor's own action higher. Without the online anchor the actor drifted where the
    critics were wrong (closing the gripper above the cube) and success fell from 0.9-1.0 at
    3k steps to 0.6-0.75 at 10k on every BC weight tried; with it, it stayed at 0.9-1.0.
    `robolearn.learn.config.AGENT_PRESETS["rlpd"]` is the paper's setting, ``["serl"]``
    SERL's."""

    # networks
    hidden_dims: tuple[int, ...] = option((256, 256), "Hidden layer sizes of actor and critics.")
    num_critics: int = option(2, "Critic ensemble size E (RLPD, SERL: 10).")
    critic_subsample: int = option(
        2, "The target is the min over this many random critics (RLPD's num_min_qs)."
    )
    critic_layer_norm: bool = option(True, "LayerNorm in the critics (RLPD's high-UTD fix).")
    encoder: str = option("flatten", "Observation encoder (robolearn.learn.networks.ENCODERS).")
    encoder_options: dict[str, Any] = option(
        {}, "The encoder's keyword options (e.g. normalize, keys; channels for conv)."
    )
    image_augmentation: str = option(
        "drq", "Camera-image augmentation per update (drq random shift, none)."
    )
    # optimisation
    batch_size: int = option(256, "Rows per gradient step (demo + online).")
    demo_fraction: float = option(0.5, "Share of demo rows per batch (RLPD: 0.5).")
    utd_ratio: int = option(4, "G: critic steps per environment step (RLPD: 20).")
    critic_actor_ratio: int | None = option(
        None, "Critic steps per actor step; None: utd_ratio (one actor step per env step)."
    )
    actor_lr: float = option(3e-4, "Adam learning rate of the actor.")
    critic_lr: float = option(3e-4, "Adam learning rate of the critics (and encoder).")
    temperature_lr: float = option(3e-4, "Adam learning rate of the SAC temperature.")
    discount: float = option(0.97, "Discount gamma (RLPD 0.99; SERL 0.96-0.99).")
    n_step: int = option(
        3, "n-step returns in the critic target (stops at episode ends); 1: RLPD's one step."
    )
    tau: float = option(0.005, "Polyak rate of the target critics.")
    init_temperature: float = option(1e-2, "Initial SAC temperature (SERL 1e-2; RLPD 1.0).")
    target_entropy: float | None = option(None, "Target entropy; None: -|A|/2 (RLPD).")
    backup_entropy: bool = option(True, "The -alpha log pi term in the critic target.")
    actor_q: Literal["mean", "min"] = option(
        "mean", "Ensemble reduction in the actor loss: mean (RLPD) or min (SAC)."
    )
    actor_critics: int | None = option(
        None, "Critics the actor loss reads: None all E (RLPD); k a random k per actor step."
    )
    bc_weight: float = option(
        1.0,
        "Demo-weighted actor regularisation: + bc_weight * ||tanh(mu(s)) - a||^2 on the "
        "batch's demo rows (TD3+BC, Fujimoto & Gu 2021); 0: off (RLPD).",
    )
    bc_filter: bool = option(
        True,
        "Q-filter the BC term (Nair et al. 2018): clone a demo action only where the critics "
        "value it above the policy's own action.",
    )
    bc_prior_steps: int = option(
        2000,
        "With > 0: a BC policy is fitted on the demos for this many steps when learning starts "
        "and frozen; the BC term then also pulls the online rows towards its actions (the demo "
        "rows keep their own), so states the demos never visited are anchored too.",
    )
    max_grad_norm: float | None = option(10.0, "Global-norm gradient clipping; None: off.")
    seed: int = option(0, "Seed of the networks' initialisation and the agent's noise.")

    def __post_init__(self) -> None:
        self.hidden_dims = tuple(int(h) for h in self.hidden_dims)
        positive = ("num_critics", "critic_subsample", "batch_size", "utd_ratio", "n_step")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"RLPDConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.critic_subsample > self.num_critics:
            raise ValueError(
                f"critic_subsample ({self.critic_subsample}) cannot exceed num_critics "
                f"({self.num_critics})"
            )
        if self.critic_actor_ratio is not None and self.critic_actor_ratio < 1:
            raise ValueError(
                f"critic_actor_ratio must be >= 1 or None, got {self.critic_actor_ratio}"
            )
        if not 0.0 <= self.demo_fraction < 1.0:
            raise ValueError(f"demo_fraction must be in [0, 1), got {self.demo_fraction}")
        if not 0.0 <= self.discount <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {self.discount}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        if self.init_temperature <= 0:
            raise ValueError(f"init_temperature must be positive, got {self.init_temperature}")
        if self.actor_q not in ("mean", "min"):
            raise ValueError(f"actor_q must be 'mean' or 'min', got {self.actor_q!r}")
        if self.actor_critics is not None and not 1 <= self.actor_critics <= self.num_critics:
            raise ValueError(
                f"actor_critics must be in 1..num_critics ({self.num_critics}) or None, got "
                f"{self.actor_critics}"
            )
        if self.bc_weight < 0:
            raise ValueError(f"bc_weight must be non-negative, got {self.bc_weight}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be positive or None, got {self.max_grad_norm}")
        if self.image_augmentation not in AUGMENTATIONS:
            raise ValueError(
                f"image_augmentation {self.image_augmentation!r} is not one of "
                f"{AUGMENTATIONS.names()}"
            )

    @property
    def actor_every(self) -> int:
        """Critic steps per actor (and temperature) step."""
        return self.critic_actor_ratio if self.critic_actor_ratio is not None else self.utd_ratio

    def split(self) -> tuple[int, int]:
        """(online, demo) rows per minibatch when demos are used."""
        demo = int(round(self.batch_size * self.demo_fraction))
        return self.batch_size - demo, demo

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hidden_dims"] = list(self.hidden_dims)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RLPDConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown RLPDConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(raw))


def _tensor(x: Any, device: torch.device | None = None) -> Tensor:
    t = torch.as_tensor(np.asarray(x))
    t = t.float() if t.is_floating_point() and t.dtype != torch.float32 else t
    return t if device is None or t.device == device else t.to(device, non_blocking=True)


class RLPDAgent:
    """SAC with a critic ensemble, trained on symmetric demo/online batches (RLPD).

    Works with any Box action space (actions are mapped to ``[-1, 1]`` inside) and Box or Dict
    observation spaces (through the configured observation encoder). ``device`` (`resolve_device`:
    ``"auto"`` is CUDA when present) holds the networks, the optimiser state and the random
    generator; batches and observations arrive as numpy and actions leave as numpy.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.spaces.Box,
        config: RLPDConfig | None = None,
        *,
        device: str | torch.device = "auto",
    ) -> None:
        if not isinstance(action_space, gym.spaces.Box):
            raise TypeError(f"RLPD needs a Box action space, got {action_space}")
        low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError("RLPD needs a bounded action space (tanh-squashed policy)")
        self.config = cfg = config or RLPDConfig()
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_leaves = flatten_space(observation_space)
        self.action_dim = int(np.prod(action_space.shape))
        self.target_entropy = (
            cfg.target_entropy if cfg.target_entropy is not None else -self.action_dim / 2.0
        )
        self.device = dev = resolve_device(device)
        self._unit_actions = bool(np.all(low == -1.0) and np.all(high == 1.0))
        self._action_center = torch.as_tensor((high + low) / 2.0, dtype=torch.float32).to(dev)
        self._action_half = torch.as_tensor((high - low) / 2.0, dtype=torch.float32).to(dev)

        # Seeded construction without touching the global torch RNG; all later randomness
        # (policy noise, target subsets) comes from self.generator.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.encoder: ObservationEncoder = make_encoder(
                cfg.encoder, observation_space, cfg.encoder_options
            )
            feat = self.encoder.output_dim
            self.actor = TanhGaussianActor(feat, self.action_dim, cfg.hidden_dims)
            # the frozen BC reference of bc_prior_steps (fitted by `fit_bc_prior`)
            self.bc_prior: TanhGaussianActor | None = (
                TanhGaussianActor(feat, self.action_dim, cfg.hidden_dims).requires_grad_(False)
                if cfg.bc_prior_steps > 0
                else None
            )
            self.critic = CriticEnsemble(
                feat, self.action_dim, cfg.hidden_dims, cfg.num_critics, cfg.critic_layer_norm
            )
        self.encoder.to(dev)
        self.actor.to(dev)
        self.critic.to(dev)
        if self.bc_prior is not None:
            self.bc_prior.to(dev)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_temperature = nn.Parameter(
            torch.tensor(math.log(cfg.init_temperature), device=dev)
        )
        self.generator = torch.Generator(device=dev).manual_seed(cfg.seed)
        self.augmentation = make_augmentation(cfg.image_augmentation)

        self._critic_params = [*self.critic.parameters(), *self.encoder.parameters()]
        self._target_params = [*self.target_critic.parameters(), *self.target_encoder.parameters()]
        self._actor_params = list(self.actor.parameters())
        self.critic_optimizer = _adam([{"params": self._critic_params, "lr": cfg.critic_lr}])
        # The actor and the temperature share one Adam (two parameter groups): their losses
        # have disjoint gradients, so one backward pass and one step do both updates.
        self.actor_optimizer = _adam(
            [
                {"params": self._actor_params, "lr": cfg.actor_lr},
                {"params": [self.log_temperature], "lr": cfg.temperature_lr},
            ]
        )
        self.critic_steps = 0
        self.actor_steps = 0
        self._prior_fitted = False
        # The env's action layout (`robolearn.sim.tasks.actions`) when it is a twin task's,
        # saved with checkpoints so an evaluator maps the actions to the 7-D pose interface.
        self.action_mode: str | None = None

    # --- acting -----------------------------------------------------------------------------
    @property
    def temperature(self) -> float:
        return float(self.log_temperature.detach().exp())

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """An env-scaled action for one observation, or a batch if ``obs`` has a leading axis."""
        flat = flatten_obs(obs)
        missing = [k for k in self.encoder.keys if k not in flat]
        if missing:
            raise KeyError(f"observation has no key(s) {missing}; it has {sorted(flat)}")
        first = self.encoder.keys[0]
        batched = np.ndim(flat[first]) == len(self.obs_leaves[first].shape) + 1
        tensors = {k: _tensor(flat[k], self.device) for k in self.encoder.keys}
        if not batched:
            tensors = {k: v.unsqueeze(0) for k, v in tensors.items()}
        with torch.inference_mode():
            action, _ = self.actor(
                self.encoder(tensors), deterministic, self.generator, with_log_prob=False
            )
            action = self._to_env_action(action)
        out = action.cpu().numpy().astype(self.action_space.dtype, copy=False)
        return (
            out.reshape(-1, *self.action_space.shape)
            if batched
            else out.reshape(self.action_space.shape)
        )

    def _to_env_action(self, action: Tensor) -> Tensor:
        if self._unit_actions:
            return action
        return self._action_center + self._action_half * action

    def _to_unit_action(self, action: Tensor) -> Tensor:
        if self._unit_actions:
            return action
        return ((action - self._action_center) / self._action_half).clamp(-1.0, 1.0)

    # --- learning ---------------------------------------------------------------------------
    @property
    def needs_observation_stats(self) -> bool:
        """True if the encoder normalises observations and has not been fitted yet."""
        return self.encoder.needs_fit

    def fit_observation_stats(self, obs: Any) -> None:
        """Fit the encoder's observation statistics on a batch (dict or array, leading batch
        axis); the target encoder gets the same statistics."""
        flat = flatten_obs(obs)
        self.encoder.fit({k: _tensor(flat[k], self.device) for k in self.encoder.keys})
        with torch.no_grad():
            for target, online in zip(
                self.target_encoder.buffers(), self.encoder.buffers(), strict=True
            ):
                target.copy_(online)

    def update(
        self, online_batch: Mapping[str, Any], demo_batch: Mapping[str, Any] | None = None
    ) -> dict[str, float]:
        """One RLPD update (Algorithm 1's inner loop): ``utd_ratio`` critic steps, each on a
        minibatch of ``batch_size`` rows (half online, half demo when ``demo_batch`` is given),
        and an actor + temperature step after every ``actor_every``-th critic step. Camera
        images are augmented per minibatch (`augment`).

        Returns the metrics of the last critic step (and of the last actor step, if any).
        """
        g = self.config.utd_ratio
        batch = self._minibatches(online_batch, demo_batch, g)
        metrics: dict[str, Tensor] = {}
        for j in range(g):
            minibatch = self.augment(_index(batch, j))
            metrics.update(self.update_critic(minibatch))
            if self.critic_steps % self.config.actor_every == 0:
                metrics.update(self.update_actor_and_temperature(minibatch))
        return {k: float(v) for k, v in metrics.items()}

    def augment(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """DrQ (https://arxiv.org/abs/2004.13649): the encoder's camera images of ``obs`` and
        of ``next_obs`` randomly shifted, each image with its own draw from the agent's
        generator; the critic and actor steps on this minibatch both see the shifted images."""
        keys = self.encoder.image_keys
        if not keys:
            return dict(batch)
        return {
            **batch,
            "obs": self.augmentation.apply(batch["obs"], keys, self.generator),
            "next_obs": self.augmentation.apply(batch["next_obs"], keys, self.generator),
        }

    def update_critic(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """One gradient step on J_Q for all ensemble members, then Polyak-average the targets."""
        loss, info = self.critic_loss(batch)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self._critic_params, self.config.max_grad_norm, foreach=True)
        self.critic_optimizer.step()
        with torch.no_grad():  # theta' <- tau theta + (1 - tau) theta'
            torch._foreach_lerp_(self._target_params, self._critic_params, self.config.tau)
        self.critic_steps += 1
        return info

    def critic_loss(self, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        """SAC eq. 5 per critic, averaged over the ensemble (RLPD, Algorithm 1)::

        J_Q = 1/E sum_i E_(s,a,r,s',d)[ 1/2 (Q_i(s, a) - y)^2 ],  y = `td_target`
        """
        y = self.td_target(batch)
        q = self.critic(self.encoder(batch["obs"]), batch["action"])  # (E, B)
        loss = 0.5 * (q - y).square().mean()
        info = {"critic_loss": loss.detach(), "q": q.detach().mean(), "target_q": y.mean()}
        return loss, info

    @torch.no_grad()
    def td_target(self, batch: Mapping[str, Any]) -> Tensor:
        """The soft Bellman target with RLPD's subset minimum, shape (B,)::

            y = r + gamma (1 - d) (min_{i in Z} Q'_i(s', a') - alpha log pi(a'|s')),
            a' ~ pi(.|s'),  Z = `target_members` (a random pair of the E target critics)

        ``d`` is ``terminated`` only: a time-limit truncation still bootstraps.
        """
        cfg = self.config
        next_obs = batch["next_obs"]
        next_action, next_log_prob = self.actor(self.encoder(next_obs), generator=self.generator)
        members = self.target_members()
        next_q = self.target_critic(self.target_encoder(next_obs), next_action, members)
        next_v = next_q.min(dim=0).values
        if cfg.backup_entropy:
            next_v = next_v - self.log_temperature.exp() * next_log_prob
        not_done = 1.0 - batch["terminated"].float()
        discount = batch.get("discount")  # gamma^m of an m-step return
        if discount is None:
            return batch["reward"] + cfg.discount * not_done * next_v
        return batch["reward"] + discount * not_done * next_v

    def target_members(self) -> Tensor | None:
        """Z: a random subset of the target ensemble, drawn anew for each critic step (RLPD)."""
        e, k = self.config.num_critics, self.config.critic_subsample
        if k == e:
            return None  # all members: no need to gather their weights
        return torch.randperm(e, generator=self.generator, device=self.device)[:k]

    def update_actor_and_temperature(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """One gradient step on J_pi and one on J(alpha), with the same policy samples.

        As in RLPD, the actor loss uses the temperature from before this step and the
        temperature loss the policy's log-probabilities from before it; the two gradients touch
        disjoint parameters, so one backward pass of their sum computes both exactly.
        """
        actor_loss, log_prob, info = self.actor_loss(batch)
        temperature_loss = self.temperature_loss(log_prob.detach())
        self.actor_optimizer.zero_grad(set_to_none=True)
        (actor_loss + temperature_loss).backward()
        if self.config.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self._actor_params, self.config.max_grad_norm, foreach=True)
        self.actor_optimizer.step()
        self.actor_steps += 1
        info["temperature_loss"] = temperature_loss.detach()
        info["temperature"] = self.log_temperature.detach().exp()
        return info

    def actor_loss(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """SAC eq. 7 (reparameterised, eq. 8) with RLPD's ensemble mean (``actor_q="min"``: SAC's
        clipped double-Q)::

            J_pi = E_s[ alpha log pi(a|s) - Q(s, a) ],  a = tanh(mu(s) + sigma(s) eps)

        The critic and its encoder are used without gradient: this loss trains the actor only.
        """
        cfg = self.config
        with torch.no_grad():
            features = self.encoder(batch["obs"])
        action, log_prob = self.actor(features, generator=self.generator)
        members = None
        if cfg.actor_critics is not None and cfg.actor_critics < cfg.num_critics:
            members = torch.randperm(cfg.num_critics, generator=self.generator, device=self.device)[
                : cfg.actor_critics
            ]
        qs = self.critic(features, action, members, detach_params=True)
        q = qs.mean(dim=0) if cfg.actor_q == "mean" else qs.min(dim=0).values
        alpha = self.log_temperature.detach().exp()
        loss = (alpha * log_prob - q).mean()
        info = {"actor_loss": loss.detach(), "entropy": -log_prob.detach().mean()}
        demo = batch.get("is_demo")
        if cfg.bc_weight > 0 and demo is not None and (bool(demo.any()) or self.bc_prior):
            if self.bc_prior is not None:  # demo rows: their action; online rows: the prior's
                rows = torch.ones_like(demo)
                with torch.no_grad():
                    prior_action, _ = self.bc_prior(features, deterministic=True)
                target = torch.where(demo[:, None], batch["action"], prior_action)
            else:
                rows, target = demo, batch["action"][demo]
            mean_action, _ = self.actor(features[rows], deterministic=True)
            error = (mean_action - target).square().sum(dim=-1)
            if cfg.bc_filter:
                with torch.no_grad():
                    q_target = self.critic(features[rows], target, members).mean(dim=0)
                    keep = (q_target > qs.detach().mean(dim=0)[rows]).float()
                bc = (error * keep).sum() / error.numel()
                info["bc_kept"] = keep.mean()
            else:
                bc = error.mean()
            loss = loss + cfg.bc_weight * bc
            info["bc_loss"] = bc.detach()
        return loss, log_prob, info

    def temperature_loss(self, log_prob: Tensor) -> Tensor:
        """SAC eq. 18: J(alpha) = E_{a ~ pi}[ -alpha log pi(a|s) - alpha H_target ]."""
        alpha = self.log_temperature.exp()
        return -(alpha * (log_prob + self.target_entropy)).mean()

    def _minibatches(
        self, online: Mapping[str, Any], demo: Mapping[str, Any] | None, g: int
    ) -> dict[str, Any]:
        """Tensors shaped (g, rows, ...): minibatch j is online rows j and demo rows j, stacked."""
        parts = [self._tensors(online)]
        if demo is not None:
            parts.append(self._tensors(demo))
        for part in parts:
            n = len(part["reward"])
            if n % g:
                raise ValueError(
                    f"a batch of {n} rows does not split into utd_ratio={g} minibatches"
                )

        def join(*xs: Tensor) -> Tensor:
            return torch.cat([x.reshape(g, -1, *x.shape[1:]) for x in xs], dim=1)

        out: dict[str, Any] = {}
        for key in ("obs", "next_obs"):
            out[key] = {k: join(*(p[key][k] for p in parts)) for k in parts[0][key]}
        for key in ("action", "reward", "terminated"):
            out[key] = join(*(p[key] for p in parts))
        if all("discount" in p for p in parts):
            out["discount"] = join(*(p["discount"] for p in parts))
        # which rows of each minibatch are demo rows (for the actor's BC term)
        flags = [
            torch.full((len(p["reward"]),), i == 1, device=self.device) for i, p in enumerate(parts)
        ]
        out["is_demo"] = join(*flags)
        return out

    def _tensors(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("obs", "next_obs"):
            flat = flatten_obs(batch[key])
            missing = [k for k in self.encoder.keys if k not in flat]
            if missing:
                raise KeyError(f"batch[{key!r}] has no key(s) {missing}; it has {sorted(flat)}")
            out[key] = {k: _tensor(flat[k], self.device) for k in self.encoder.keys}
        dev = self.device
        out["action"] = self._to_unit_action(_tensor(batch["action"], dev).float())
        out["reward"] = _tensor(batch["reward"], dev).float().reshape(-1)
        out["terminated"] = _tensor(batch["terminated"], dev).reshape(-1)
        if "discount" in batch:
            out["discount"] = _tensor(batch["discount"], dev).float().reshape(-1)
        return out

    # --- checkpoints ------------------------------------------------------------------------
    def _modules(self) -> dict[str, nn.Module]:
        modules = {
            "encoder": self.encoder,
            "actor": self.actor,
            "critic": self.critic,
            "target_encoder": self.target_encoder,
            "target_critic": self.target_critic,
        }
        if self.bc_prior is not None:
            modules["bc_prior"] = self.bc_prior
        return modules

    @property
    def needs_bc_prior(self) -> bool:
        return self.bc_prior is not None and self.critic_steps == 0 and not self._prior_fitted

    def fit_bc_prior(self, demos: Mapping[str, Any], batch_size: int = 256) -> float:
        """Fit the frozen BC reference on demo transitions (`bc_prior_steps` Adam steps of the
        squared error of its mean action); the actor starts from it too. Returns the last loss."""
        if self.bc_prior is None:
            raise RuntimeError("bc_prior_steps is 0: there is no BC prior to fit")
        obs = self._tensors({**demos, "next_obs": demos["obs"]})["obs"]
        action = self._to_unit_action(_tensor(demos["action"], self.device).float())
        n = len(action)
        prior = self.bc_prior.requires_grad_(True)
        optimizer = _adam([{"params": list(prior.parameters()), "lr": self.config.actor_lr}])
        loss = torch.zeros(())
        with torch.no_grad():
            features = self.encoder(obs)
        for _ in range(self.config.bc_prior_steps):
            idx = torch.randint(0, n, (min(batch_size, n),), generator=self.generator,
                                device=self.device)  # fmt: skip
            mean, _ = prior(features[idx], deterministic=True)
            loss = (mean - action[idx]).square().sum(dim=-1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        prior.requires_grad_(False)
        self.actor.load_state_dict(prior.state_dict())
        self._prior_fitted = True
        return float(loss.detach())

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"critic": self.critic_optimizer, "actor": self.actor_optimizer}

    def policy_state_dict(self) -> dict[str, Tensor]:
        """What an actor needs to act: the encoder's (with its normaliser buffers) and the
        actor's tensors, by flat name (``encoder.*``, ``actor.*``); no critics or optimizers."""
        return {
            f"{name}.{key}": value.detach().clone()
            for name, module in (("encoder", self.encoder), ("actor", self.actor))
            for key, value in module.state_dict().items()
        }

    def load_policy_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load `policy_state_dict` tensors (torch or numpy); names and shapes must match."""
        for name, module in (("encoder", self.encoder), ("actor", self.actor)):
            prefix = f"{name}."
            own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            module.load_state_dict({k: torch.as_tensor(v).to(self.device) for k, v in own.items()})

    def state_dict(self) -> dict[str, Tensor]:
        """Every tensor of the learner state by flat name (safetensors-ready): networks, targets,
        temperature, optimizer moments, step counters and the RNG state."""
        out: dict[str, Tensor] = {}
        for name, module in self._modules().items():
            for key, value in module.state_dict().items():
                out[f"{name}.{key}"] = value.detach().clone()
        out["log_temperature"] = self.log_temperature.detach().clone()
        for name, optimizer in self._optimizers().items():
            for index, state in optimizer.state_dict()["state"].items():
                for key, value in state.items():
                    out[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value).clone()
        out["critic_steps"] = torch.tensor(self.critic_steps, dtype=torch.int64)
        out["actor_steps"] = torch.tensor(self.actor_steps, dtype=torch.int64)
        out["generator"] = self.generator.get_state()
        return out

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        for name, module in self._modules().items():
            prefix = f"{name}."
            module.load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
        with torch.no_grad():
            self.log_temperature.copy_(state["log_temperature"])
        for name, optimizer in self._optimizers().items():
            prefix = f"optim.{name}."
            per_param: dict[int, dict[str, Tensor]] = {}
            for key, value in state.items():
                if key.startswith(prefix):
                    index, field_name = key[len(prefix) :].split(".", 1)
                    per_param.setdefault(int(index), {})[field_name] = value.clone()
            current = optimizer.state_dict()
            optimizer.load_state_dict({"state": per_param, "param_groups": current["param_groups"]})
        self.critic_steps = int(state["critic_steps"])
        self.actor_steps = int(state["actor_steps"])
        try:
            self.generator.set_state(state["generator"].cpu())
        except RuntimeError:  # saved on another device type (CPU and CUDA states differ)
            log.warning("the checkpoint's random state is from another device: reseeding")
            self.generator.manual_seed(self.config.seed + self.critic_steps)

    def save(self, path: str | Path) -> Path:
        """A safetensors checkpoint; the config and spaces' shapes go into its metadata."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": "robolearn.rlpd",
            "format_version": "1",
            "config": json.dumps(self.config.to_dict()),
            "action_shape": json.dumps(list(self.action_space.shape)),
            "obs_keys": json.dumps(list(self.encoder.keys)),
        }
        if self.action_mode is not None:
            meta["action_mode"] = self.action_mode
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path), metadata=meta)
        return path

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by `save` into this agent (same spaces and config)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != "robolearn.rlpd":
            raise ValueError(f"{path}: not an RLPD checkpoint (metadata {meta})")
        saved = RLPDConfig.from_dict(json.loads(meta["config"]))
        if saved != self.config:
            log.warning("%s was saved with a different config: %s", path, saved)
        self.load_state_dict(load_file(str(path)))

    @staticmethod
    def action_mode_of(path: str | Path) -> str | None:
        """The action mode a checkpoint's policy acts in (None: not a twin task's, or saved
        before action modes; then its actions are the env's own)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("action_mode")

    @staticmethod
    def config_of(path: str | Path) -> RLPDConfig:
        """The config stored in a checkpoint (to build a matching agent before `load`)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return RLPDConfig.from_dict(json.loads((f.metadata() or {})["config"]))


def _adam(groups: list[dict[str, Any]]) -> torch.optim.Adam:
    # fused: one kernel for the whole step instead of a Python-driven sequence of ops.
    return torch.optim.Adam(groups, fused=True)


def _index(batch: Mapping[str, Any], j: int) -> dict[str, Any]:
    return {k: _index(v, j) if isinstance(v, Mapping) else v[j] for k, v in batch.items()}
