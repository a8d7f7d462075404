"""Lipschitz-constrained behaviour cloning with a hard budget ``L``.

After Al Makdah, Krishnan, Katewa, Pasqualetti, "Learning Lipschitz Feedback Policies from Expert
Demonstrations: Closed-Loop Guarantees, Generalization and Robustness", 2021,
https://arxiv.org/abs/2103.16632: imitate the expert's state-to-action map by least squares,
``min_theta (1/N) sum_i ||pi_theta(x_i) - u_i||^2``, over policies whose Lipschitz constant is at
most ``L``. Their constraint is a bound on the network's weights; here it is built into the
network (`robolearn.certify.layers.LipschitzMLP`: every block 1-Lipschitz, output scaled by
``L``), so every iterate satisfies it, not just the solution. A small ``L`` makes the policy
insensitive to observation errors and unable to follow the expert's sharp switches; the L sweep
(`robolearn.certify.report`) shows that trade-off.

    obs, actions = expert_demos("pick_cube", episodes=50, action_noise=0.1)
    net, info = train_bc(obs, actions, BCConfig(lipschitz=50.0))
    save_bc_policy(net, "out/bc_L50.safetensors", task="pick_cube", **info)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from robolearn.certify.layers import LipschitzMLP

log = logging.getLogger(__name__)

OBS_KEY = "state"


@dataclass(kw_only=True)
class BCConfig:
    """Settings of `train_bc`. ``lipschitz=math.inf``: an unconstrained MLP (the baseline)."""

    lipschitz: float = 50.0
    hidden_dims: tuple[int, ...] = (256, 256)
    layer: str = "spectral"  # spectral | orthogonal | aol | sll
    activation: str = "groupsort"  # groupsort | relu | tanh
    steps: int = 4000
    batch_size: int = 256
    lr: float = 1e-3
    min_std: float = 0.05  # input weighting floor (see LipschitzMLP.set_input_normalization)
    seed: int = 0

    def __post_init__(self) -> None:
        self.hidden_dims = tuple(int(h) for h in self.hidden_dims)
        if not self.lipschitz > 0:
            raise ValueError(f"lipschitz must be positive (or inf), got {self.lipschitz}")
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("steps, batch_size and lr must be positive")


def expert_demos(
    task: str,
    *,
    episodes: int,
    seed: int = 0,
    action_noise: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """``(obs, actions)`` of the task's scripted expert in the twin (successful episodes only).

    ``action_noise`` perturbs the executed actions, so the demos show the expert recovering from
    its own deviations; the stored action is the executed one, whose mean is the expert's.
    """
    import robolearn.envs  # noqa: F401 - registers the ids
    from robolearn.envs import ENV_IDS
    from robolearn.learn.train import collect_expert_demos

    env = gym.make(ENV_IDS[task])
    try:
        buffer = collect_expert_demos(env, episodes, seed=seed, action_noise=action_noise)
    finally:
        env.close()
    n = len(buffer)
    return buffer.obs[OBS_KEY][:n].copy(), buffer.action[:n].copy()


def dataset_demos(path: str | Path, task: str) -> tuple[np.ndarray, np.ndarray]:
    """``(obs, actions)`` of every transition of a zarr episode store (`robolearn.data`)."""
    import robolearn.envs  # noqa: F401
    from robolearn.envs import ENV_IDS
    from robolearn.learn.replay import load_demos

    env = gym.make(ENV_IDS[task])
    try:
        buffer = load_demos(path, env.observation_space, env.action_space, [OBS_KEY])
    finally:
        env.close()
    n = len(buffer)
    return buffer.obs[OBS_KEY][:n].copy(), buffer.action[:n].copy()


def behaviour_cloning_loss(
    network: torch.nn.Module, obs: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """Al Makdah et al. 2021: the mean squared error to the expert's actions."""
    return (network(obs) - actions).square().sum(dim=-1).mean()


def train_bc(
    obs: np.ndarray,
    actions: np.ndarray,
    config: BCConfig | None = None,
    *,
    progress: bool = False,
) -> tuple[LipschitzMLP, dict[str, Any]]:
    """Fit an ``L``-Lipschitz policy to ``(obs, actions)``; returns it and a JSON-ready summary."""
    cfg = config or BCConfig()
    obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))
    act_t = torch.as_tensor(np.asarray(actions, dtype=np.float32))
    if obs_t.dim() != 2 or act_t.dim() != 2 or len(obs_t) != len(act_t):
        raise ValueError(f"obs and actions must be (N, d) arrays, got {obs_t.shape}, {act_t.shape}")
    if len(obs_t) < 2:
        raise ValueError("behaviour cloning needs at least 2 samples")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = LipschitzMLP(
            obs_t.shape[1],
            act_t.shape[1],
            cfg.hidden_dims,
            lipschitz=cfg.lipschitz,
            layer=cfg.layer,
            activation=cfg.activation,
        )
    net.set_input_normalization(obs_t.mean(0), obs_t.std(0), cfg.min_std)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr / 20)
    gen = torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    initial = float(behaviour_cloning_loss(net, obs_t, act_t).detach())
    loss = torch.tensor(math.nan)
    for _ in tqdm(range(cfg.steps), desc=f"BC L={cfg.lipschitz:g}", disable=not progress):
        idx = torch.randint(len(obs_t), (cfg.batch_size,), generator=gen)
        loss = behaviour_cloning_loss(net, obs_t[idx], act_t[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        final = float(behaviour_cloning_loss(net, obs_t, act_t))
    info = {
        "bc": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "samples": len(obs_t),
        "initial_loss": initial,
        "final_loss": final,
        "train_seconds": time.perf_counter() - start,
    }
    if not math.isfinite(cfg.lipschitz):
        info["bc"]["lipschitz"] = "inf"
    log.info("BC L=%g: loss %.4f -> %.4f on %d samples", cfg.lipschitz, initial, final, len(obs_t))
    return net, info
