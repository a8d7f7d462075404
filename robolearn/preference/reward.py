"""Reward models from preferences: Robust Reward Learning (RRL, from PEARL) and plain
Bradley-Terry, with an ensemble option.

Liu et al., "PEARL: Zero-shot Cross-task Preference Alignment and Robust Reward Learning for
Robotic Manipulation", ICML 2024, https://arxiv.org/abs/2306.03615.

Bradley-Terry (Christiano et al. 2017, https://arxiv.org/abs/1706.03741): a network gives a
per-step reward ``r(s, a)``; a segment's return is the sum, and
``P(a > b) = sigmoid(R_a - R_b)``; the loss ``L_CE`` is the cross-entropy with the (possibly
fractional, transferred) label ``y = P(a preferred)``.

RRL: the network gives a per-step Gaussian ``N(mu(s, a), sigma^2(s, a))``; returns are summed
from rewards *sampled* with the reparameterisation trick, so a pair the model is unsure about
has a flatter likelihood and a noisy label pulls less on the mean. A KL term to the prior
``N(0, 1)`` keeps the variance from collapsing (and the means bounded):

    L = L_CE(y, sigmoid(sum_t r~_a,t - sum_t r~_b,t)) + lambda * L_KL,
    r~ = mu + sigma * eps,  L_KL = mean_t KL(N(mu_t, sigma_t^2) || N(0, 1)).

The learned reward (`LearnedReward`) is the ensemble mean of ``mu``; it relabels datasets
(`relabel_dataset`) or serves online through `LearnedRewardWrapper` (e.g. for `train_rlpd`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from robolearn.data.store import EpisodeStore
from robolearn.registry import Registry

log = logging.getLogger(__name__)

FORMAT = "robolearn.reward_model"
FORMAT_VERSION = 1


@dataclass(kw_only=True)
class RewardModelConfig:
    """``type``: ``rrl`` (Gaussian rewards + KL, PEARL) or ``bt`` (plain Bradley-Terry), the
    names in `REWARD_LOSSES`."""

    type: str = "rrl"  # a name in REWARD_LOSSES
    hidden_dims: tuple[int, ...] = (64, 64)
    kl_weight: float = 0.3  # lambda of L_KL (RRL only)
    ensemble: int = 1  # members, each trained on a bootstrap resample of the pairs
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    use_confidence: bool = True  # weight each pair's loss by its (transfer) confidence
    seed: int = 0

    def __post_init__(self) -> None:
        if self.type not in REWARD_LOSSES:
            known = ", ".join(REWARD_LOSSES.names())
            raise ValueError(f"unknown reward model type {self.type!r}; known: {known}")
        self.hidden_dims = tuple(int(h) for h in self.hidden_dims)
        for name in ("ensemble", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"RewardModelConfig.{name} must be at least 1")
        if self.kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {self.kl_weight}")


@dataclass
class PreferenceBatchData:
    """Training data: segments (n, L, D)/(n, L, A), pairs (m, 2) into them, labels and weights."""

    states: np.ndarray
    actions: np.ndarray
    pairs: np.ndarray
    labels: np.ndarray
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.pairs = np.asarray(self.pairs, np.int64).reshape(-1, 2)
        self.labels = np.asarray(self.labels, np.float32)
        if len(self.weights) == 0:
            self.weights = np.ones(len(self.pairs), np.float32)
        if not (len(self.pairs) == len(self.labels) == len(self.weights)):
            raise ValueError("pairs, labels and weights must have the same length")
        if len(self.pairs) == 0:
            raise ValueError("no preference pairs to learn from")
        if self.pairs.max() >= len(self.states) or self.pairs.min() < 0:
            raise ValueError("a pair indexes a segment that does not exist")


class GaussianRewardNet(nn.Module):
    """MLP (s, a) -> (mu, log sigma^2) per step."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.LeakyReLU()]
            d = h
        self.body = nn.Sequential(*layers)
        self.mu = nn.Linear(d, 1)
        self.log_var = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h).squeeze(-1), self.log_var(h).squeeze(-1).clamp(-10.0, 5.0)


def kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) elementwise (L_KL's summand)."""
    return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var)


def cross_entropy(
    returns_a: torch.Tensor, returns_b: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """L_CE: Bradley-Terry cross-entropy, ``P(a > b) = sigmoid(R_a - R_b)``, weighted mean."""
    ce = nn.functional.binary_cross_entropy_with_logits(
        returns_a - returns_b, labels, reduction="none"
    )
    return (ce * weights).sum() / weights.sum().clamp_min(1e-8)


PreferenceLoss = Callable[..., tuple[torch.Tensor, dict[str, float]]]
REWARD_LOSSES: Registry[PreferenceLoss] = Registry("reward model type")


@REWARD_LOSSES.register("bt")
def bradley_terry_loss(
    net: GaussianRewardNet,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    config: RewardModelConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Plain Bradley-Terry: L_CE on the summed means (the variance head is unused)."""
    mu_a, _ = net(x_a)
    mu_b, _ = net(x_b)
    l_ce = cross_entropy(mu_a.sum(1), mu_b.sum(1), labels, weights)
    return l_ce, {"l_ce": float(l_ce.detach())}


@REWARD_LOSSES.register("rrl")
def robust_reward_loss(
    net: GaussianRewardNet,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    config: RewardModelConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """RRL: L_CE on returns of sampled rewards ``mu + sigma * eps`` plus ``lambda * L_KL``."""
    mu_a, lv_a = net(x_a)
    mu_b, lv_b = net(x_b)
    r_a = mu_a + torch.randn_like(mu_a) * (0.5 * lv_a).exp()  # reparameterised samples
    r_b = mu_b + torch.randn_like(mu_b) * (0.5 * lv_b).exp()
    l_ce = cross_entropy(r_a.sum(1), r_b.sum(1), labels, weights)
    l_kl = 0.5 * (
        kl_to_standard_normal(mu_a, lv_a).mean() + kl_to_standard_normal(mu_b, lv_b).mean()
    )
    loss = l_ce + config.kl_weight * l_kl
    return loss, {"l_ce": float(l_ce.detach()), "l_kl": float(l_kl.detach())}


class LearnedReward:
    """The learned reward: ``reward(states, actions) -> mean reward`` (ensemble mean of mu).

    Inputs are robolearn ``obs.state`` vectors and actions, single or batched."""

    def __init__(
        self,
        nets: list[GaussianRewardNet],
        config: RewardModelConfig,
        mean: np.ndarray,
        std: np.ndarray,
        state_dim: int,
    ) -> None:
        self.nets = nets
        self.config = config
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.state_dim = int(state_dim)
        for net in nets:
            net.eval()

    def _inputs(self, states: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        s = np.asarray(states, np.float32)
        a = np.asarray(actions, np.float32)
        if s.shape[-1] != self.state_dim:
            raise ValueError(
                f"the reward model was trained on {self.state_dim}-d states, got {s.shape[-1]}-d"
                " (a different task? transfer labels to this task first)"
            )
        x = (np.concatenate([s, a], axis=-1) - self.mean) / self.std
        return torch.from_numpy(x.astype(np.float32))

    @torch.no_grad()
    def predict(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean reward, uncertainty): ensemble mean of mu; sqrt(mean sigma^2 + var of mu)."""
        x = self._inputs(states, actions)
        outs = [net(x) for net in self.nets]
        mus = torch.stack([m for m, _ in outs])
        var = torch.stack([lv.exp() for _, lv in outs]).mean(0)
        if self.config.type == "bt":
            var = torch.zeros_like(var)
        spread = mus.var(0, unbiased=False) if len(outs) > 1 else torch.zeros_like(var)
        return mus.mean(0).numpy(), (var + spread).sqrt().numpy()

    def __call__(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return self.predict(states, actions)[0]

    # --- files (safetensors + JSON metadata; no pickle) ----------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {
            f"{i}.{k}": v.contiguous()
            for i, n in enumerate(self.nets)
            for k, v in n.state_dict().items()
        }
        tensors["input_mean"] = torch.from_numpy(self.mean)
        tensors["input_std"] = torch.from_numpy(self.std)
        config = asdict(self.config)
        config["hidden_dims"] = list(config["hidden_dims"])
        meta = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "config": json.dumps(config),
            "state_dim": str(self.state_dim),
        }
        save_file(tensors, str(path), metadata=meta)
        return path

    @staticmethod
    def load(path: str | Path) -> LearnedReward:
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no reward model (robolearn pearl reward writes one)")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT or meta.get("format_version") != str(FORMAT_VERSION):
            raise ValueError(
                f"{path}: not a robolearn reward model v{FORMAT_VERSION} ({meta.get('format')})"
            )
        config = RewardModelConfig(**json.loads(meta["config"]))
        tensors = load_file(str(path))
        mean, std = tensors.pop("input_mean").numpy(), tensors.pop("input_std").numpy()
        nets = []
        for i in range(config.ensemble):
            net = GaussianRewardNet(len(mean), config.hidden_dims)
            net.load_state_dict(
                {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == str(i)}
            )
            nets.append(net)
        return LearnedReward(nets, config, mean, std, int(meta["state_dim"]))


def train_reward_model(
    data: PreferenceBatchData, config: RewardModelConfig | None = None, progress: bool = False
) -> tuple[LearnedReward, dict[str, Any]]:
    """Fit the reward model on labelled segment pairs; returns it and training metrics."""
    config = config or RewardModelConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x = np.concatenate([data.states, data.actions], axis=-1).astype(np.float32)
    flat = x.reshape(-1, x.shape[-1])
    mean, std = flat.mean(0), flat.std(0)
    std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
    xt = torch.from_numpy((x - mean) / std)
    labels = torch.from_numpy(data.labels)
    weights = torch.from_numpy(
        data.weights.astype(np.float32)
        if config.use_confidence
        else np.ones(len(data.labels), np.float32)
    )
    m = len(data.pairs)
    loss_fn = REWARD_LOSSES.get(config.type)
    nets, history = [], []
    bar = tqdm(
        total=config.ensemble * config.epochs, desc=f"reward ({config.type})", disable=not progress
    )
    for _ in range(config.ensemble):
        net = GaussianRewardNet(x.shape[-1], config.hidden_dims)
        opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        idx = rng.integers(0, m, m) if config.ensemble > 1 else np.arange(m)  # bootstrap
        metrics: dict[str, float] = {}
        for _ in range(config.epochs):
            order = rng.permutation(idx)
            for start in range(0, m, config.batch_size):
                b = order[start : start + config.batch_size]
                pa, pb = data.pairs[b, 0], data.pairs[b, 1]
                loss, metrics = loss_fn(net, xt[pa], xt[pb], labels[b], weights[b], config)
                opt.zero_grad()
                loss.backward()
                opt.step()
            bar.update(1)
        history.append(metrics)
        nets.append(net)
    bar.close()
    model = LearnedReward(nets, config, mean, std, data.states.shape[-1])
    return model, {"members": history}


def preference_accuracy(
    model: LearnedReward,
    states: np.ndarray,
    actions: np.ndarray,
    pairs: np.ndarray,
    truth: np.ndarray,
) -> float:
    """Fraction of strict ground-truth preferences the model's returns order correctly."""
    r = model(states, actions).sum(axis=-1)
    pairs = np.asarray(pairs, int).reshape(-1, 2)
    strict = np.asarray(truth) != 0.5
    if not strict.any():
        return float("nan")
    pred = r[pairs[:, 0]] > r[pairs[:, 1]]
    return float(np.mean(pred[strict] == (np.asarray(truth)[strict] > 0.5)))


# --- using the learned reward ------------------------------------------------------------------
class LearnedRewardWrapper(gym.Wrapper):
    """Replace the env's reward by the learned reward of (state observation, action).

    The env's own reward goes to ``info["true_reward"]``. ``scale`` and ``shift`` map the learned
    reward (arbitrary offset and scale) to a range the learner likes."""

    def __init__(
        self, env: gym.Env, reward: LearnedReward, scale: float = 1.0, shift: float = 0.0
    ) -> None:
        super().__init__(env)
        self.reward_model = reward
        self.scale, self.shift = float(scale), float(shift)
        self._state: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._state = _state_of(obs)
        return obs, info

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        pose = np.asarray(action, np.float32)
        mode = getattr(self.env.unwrapped, "action_mode", None)
        if mode is not None and mode.name != "pose":  # the reward was fitted on pose actions
            pose = mode.embed(pose)
        learned = float(self.reward_model(self._state[None], pose[None])[0])
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._state = _state_of(obs)
        info = {**info, "true_reward": reward}
        return obs, self.scale * learned + self.shift, terminated, truncated, info


def _state_of(obs: Any) -> np.ndarray:
    return np.asarray(obs["state"] if isinstance(obs, dict) else obs, np.float32)


def relabel_dataset(reward: LearnedReward, source: str | Path, out: str | Path) -> Path:
    """Copy dataset ``source`` to ``out`` with ``reward`` replaced by the learned reward (the
    original goes to ``reward_true``, added to the schema)."""
    from robolearn.data.schema import FieldSpec

    with EpisodeStore.open(source) as src:
        schema = dict(src.schema)
        schema["reward_true"] = FieldSpec((), np.dtype(np.float32).str)
        with EpisodeStore.create(out, schema, {"relabelled_from": str(source)}) as dst:
            for i in range(src.n_episodes):
                ep = src.episode(i)
                final = {k[len("final.") :]: v for k, v in ep.items() if k.startswith("final.")}
                steps = {k: v for k, v in ep.items() if not k.startswith("final.")}
                steps["reward_true"] = steps["reward"]
                steps["reward"] = reward(steps["obs.state"], steps["action"]).astype(np.float32)
                dst.append(steps, src.episode_meta(i), final)
    return Path(out)
