"""Offline policy learning on a (learned) reward: advantage-weighted behaviour cloning.

Advantage-Weighted Regression (Peng et al. 2019, https://arxiv.org/abs/1910.00177), one round
on a fixed dataset:

1. rewards ``r_t`` of every step (the learned reward, or the dataset's true dense reward),
   standardised over the dataset;
2. Monte-Carlo returns-to-go ``G_t = sum_k gamma^k r_{t+k}`` within each episode;
3. a value baseline ``V(s)`` fitted to ``G_t`` by regression;
4. the policy ``pi(s)`` (a deterministic tanh MLP) minimises the advantage-weighted regression
   loss ``L_AWR = mean_t w_t ||pi(s_t) - a_t||^2``, ``w_t = min(exp(A_t / beta), w_max)``,
   ``A_t = G_t - V(s_t)``.

With a reward that ranks good behaviour higher, the policy clones the better parts of a
mixed-quality dataset; with a constant reward it is plain behaviour cloning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from robolearn.data.store import EpisodeStore

log = logging.getLogger(__name__)

RewardFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class AWBCConfig:
    gamma: float = 0.9
    beta: float = 0.5  # temperature of the advantage weights (rewards are standardised)
    max_weight: float = 20.0
    hidden_dims: tuple[int, ...] = (256, 256)
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0


def _mlp(in_dim: int, out_dim: int, hidden: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


class AWBCPolicy:
    """``policy(state) -> action`` in [-1, 1] (robolearn ``obs.state`` in)."""

    def __init__(self, net: nn.Module, mean: np.ndarray, std: np.ndarray) -> None:
        self.net, self.mean, self.std = net.eval(), mean, std

    @torch.no_grad()
    def __call__(self, state: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(
            ((np.asarray(state, np.float32) - self.mean) / self.std).astype(np.float32)
        )
        return torch.tanh(self.net(x)).numpy()


def returns_to_go(rewards: np.ndarray, ends: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted returns within each episode (``ends``: cumulative episode ends)."""
    out = np.zeros_like(rewards, dtype=np.float64)
    start = 0
    for end in ends:
        g = 0.0
        for t in range(int(end) - 1, start - 1, -1):
            g = rewards[t] + gamma * g
            out[t] = g
        start = int(end)
    return out


def train_awbc(
    dataset: str | Path,
    reward: RewardFn | None = None,
    config: AWBCConfig | None = None,
    progress: bool = False,
) -> AWBCPolicy:
    """Fit the policy on ``dataset``; ``reward=None``: its ``reward_dense`` (else ``reward``)."""
    config = config or AWBCConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    with EpisodeStore.open(dataset) as store:
        n = store.n_steps
        states = np.asarray(store.array("obs.state")[:n], np.float32)
        actions = np.asarray(store.array("action")[:n], np.float32)
        if reward is not None:
            r = np.asarray(reward(states, actions), np.float64)
        else:
            key = "reward_dense" if "reward_dense" in store.schema else "reward"
            r = np.asarray(store.array(key)[:n], np.float64)
        ends = store.episode_ends
    r = (r - r.mean()) / (r.std() + 1e-8)  # 1.
    g = returns_to_go(r, ends, config.gamma)  # 2.
    g = (g - g.mean()) / (g.std() + 1e-8)
    mean, std = states.mean(0), states.std(0)
    std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
    s = torch.from_numpy((states - mean) / std)
    a = torch.from_numpy(np.clip(actions, -0.999, 0.999))
    gt = torch.from_numpy(g.astype(np.float32))
    value = _mlp(s.shape[1], 1, config.hidden_dims)
    policy = _mlp(s.shape[1], a.shape[1], config.hidden_dims)
    v_opt = torch.optim.Adam(value.parameters(), lr=config.lr)
    p_opt = torch.optim.Adam(policy.parameters(), lr=config.lr)
    for _ in tqdm(range(config.epochs), desc="value", disable=not progress):  # 3.
        for b in np.array_split(rng.permutation(n), max(1, n // config.batch_size)):
            loss = (value(s[b]).squeeze(-1) - gt[b]).pow(2).mean()
            v_opt.zero_grad()
            loss.backward()
            v_opt.step()
    with torch.no_grad():
        adv = gt - value(s).squeeze(-1)
        w = torch.clamp(torch.exp(adv / config.beta), max=config.max_weight)
    for _ in tqdm(range(config.epochs), desc="policy", disable=not progress):  # 4.
        for b in np.array_split(rng.permutation(n), max(1, n // config.batch_size)):
            l_awr = (w[b] * (torch.tanh(policy(s[b])) - a[b]).pow(2).sum(-1)).mean()
            p_opt.zero_grad()
            l_awr.backward()
            p_opt.step()
    return AWBCPolicy(policy, mean, std)


def evaluate_policy(
    policy: Callable[[np.ndarray], np.ndarray], env: gym.Env, episodes: int, seed: int = 10_000
) -> tuple[float, float]:
    """(success rate, mean true dense return) over seeded episodes; success is
    ``info["is_success"]`` at episode end, the return sums ``info["dense_reward"]``."""
    successes, returns = 0, []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs["state"]))
            total += float(info.get("dense_reward", 0.0))
            done = terminated or truncated
        successes += int(bool(info.get("is_success", False)))
        returns.append(total)
    return successes / max(episodes, 1), float(np.mean(returns)) if returns else float("nan")
