"""Networks for off-policy RL: observation encoders, an ensemble of critics, a tanh-Gaussian actor.

The critic ensemble keeps every member's weights stacked in one tensor (``(E, in, out)``) and runs
all members in one batched matmul per layer (``torch.baddbmm``): one forward pass for 10 critics,
not a Python loop over 10 modules. A subset of members (the target's random pair in RLPD) is run by
indexing the stacked weights, so only the chosen members cost compute.

Observations reach the networks as a flat ``dict[str, Tensor]`` (nested keys joined with ``.``,
e.g. ``images.front``, the dataset's naming without the ``obs.`` prefix) or as a single tensor. An
``ObservationEncoder`` turns them into one feature vector per sample; encoders are chosen by name
from ``ENCODERS`` so an image encoder can be registered next to ``flatten`` without touching the
agent.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robolearn.registry import Registry

Observation = Tensor | Mapping[str, Tensor]
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # as in the SAC reference implementation and SB3
_LOG2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# --- observations -------------------------------------------------------------------------------
def flatten_space(space: gym.Space, prefix: str = "") -> dict[str, gym.Space]:
    """The leaves of a (nested) Dict space by dotted key; a non-Dict space is the one key ``""``."""
    if not isinstance(space, gym.spaces.Dict):
        return {prefix: space}
    out: dict[str, gym.Space] = {}
    for key, sub in space.spaces.items():
        out.update(flatten_space(sub, f"{prefix}.{key}" if prefix else key))
    return out


def flatten_obs(obs: Any, prefix: str = "") -> dict[str, Any]:
    """A (nested) dict observation as a flat dict by dotted key; an array is the one key ``""``."""
    if not isinstance(obs, Mapping):
        return {prefix: obs}
    out: dict[str, Any] = {}
    for key, value in obs.items():
        out.update(flatten_obs(value, f"{prefix}.{key}" if prefix else key))
    return out


def is_float_box(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating)


class ObservationEncoder(nn.Module, abc.ABC):
    """Maps a batch of flat observations (``dict[str, Tensor]`` by dotted key) to features.

    Subclasses set ``output_dim`` and ``keys`` (the observation keys they read) in ``__init__``.
    The critic's loss trains the encoder; the actor sees its output detached (as in DrQ/SERL),
    which only matters for encoders with parameters.
    """

    output_dim: int
    keys: tuple[str, ...]

    @abc.abstractmethod
    def forward(self, obs: Mapping[str, Tensor]) -> Tensor:
        """Features of shape ``(batch, output_dim)``."""

    @property
    def needs_fit(self) -> bool:
        """True while data-dependent statistics (normalisation) are still unset."""
        return False

    def fit(self, obs: Mapping[str, Tensor]) -> None:  # noqa: B027 - optional hook
        """Set data-dependent statistics from a batch of observations (once, before learning)."""


ENCODERS: Registry[type[ObservationEncoder]] = Registry("observation encoder")


@ENCODERS.register("flatten")
class FlattenEncoder(ObservationEncoder):
    """Concatenates the floating-point vector keys of the observation (state vectors).

    Integer keys (uint8 camera images) are skipped; pass ``keys`` to choose the keys and their
    order. For a plain Box observation space the single key is ``""``. With ``normalize=True``
    the features are standardised with a mean and standard deviation fitted once (`fit`, from
    the demos and the first online data; stored in the state dict, so in checkpoints), floored
    at ``min_std`` and clipped to ``+-clip``.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        *,
        keys: Sequence[str] | None = None,
        normalize: bool = False,
        min_std: float = 1e-2,
        clip: float = 10.0,
    ) -> None:
        super().__init__()
        leaves = flatten_space(observation_space)
        if keys is None:
            keys = [k for k, s in leaves.items() if is_float_box(s)]
        missing = [k for k in keys if k not in leaves]
        if missing:
            raise KeyError(f"observation has no key(s) {missing}; it has {sorted(leaves)}")
        not_float = [k for k in keys if not is_float_box(leaves[k])]
        if not_float:
            raise ValueError(
                f"the flatten encoder takes floating-point Box keys only; {not_float} are not "
                "(register an image encoder for camera images)"
            )
        if not keys:
            raise ValueError(
                f"no floating-point Box in the observation space {observation_space}; the "
                "flatten encoder has nothing to read"
            )
        if min_std <= 0 or clip <= 0:
            raise ValueError(f"min_std and clip must be positive, got {min_std}, {clip}")
        self.keys = tuple(keys)
        self.output_dim = int(sum(math.prod(leaves[k].shape) for k in self.keys))
        self.normalize, self.min_std, self.clip = normalize, float(min_std), float(clip)
        self.register_buffer("mean", torch.zeros(self.output_dim))
        self.register_buffer("std", torch.ones(self.output_dim))
        self.register_buffer("fitted", torch.tensor(False))

    def _concat(self, obs: Mapping[str, Tensor]) -> Tensor:
        parts = [obs[k].flatten(1) for k in self.keys]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def forward(self, obs: Mapping[str, Tensor]) -> Tensor:
        x = self._concat(obs)
        if self.normalize:
            x = ((x - self.mean) / self.std).clamp(-self.clip, self.clip)
        return x

    @property
    def needs_fit(self) -> bool:
        return self.normalize and not bool(self.fitted)

    @torch.no_grad()
    def fit(self, obs: Mapping[str, Tensor]) -> None:
        if not self.normalize:
            return
        x = self._concat(obs).double()
        if len(x) < 2:
            raise ValueError("fitting the observation normaliser needs at least 2 observations")
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(self.min_std))
        self.fitted.fill_(True)


def make_encoder(
    name: str, observation_space: gym.Space, options: Mapping[str, Any] | None = None
) -> ObservationEncoder:
    return ENCODERS.get(name)(observation_space, **dict(options or {}))


# --- layers -------------------------------------------------------------------------------------
class EnsembleLinear(nn.Module):
    """``E`` independent linear layers, stacked: ``y[e] = x[e] @ W[e] + b[e]``, one batched matmul.

    Input ``(B, in)`` (shared by all members) or ``(E, B, in)``; output ``(E, B, out)``.
    ``members`` (a LongTensor) runs only those members; ``detach_params`` uses the weights without
    gradient (the actor's loss must not train the critic).
    """

    def __init__(self, in_features: int, out_features: int, ensemble_size: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.ensemble_size = (
            in_features,
            out_features,
            ensemble_size,
        )
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(ensemble_size, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's default for each member: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(
        self, x: Tensor, members: Tensor | None = None, detach_params: bool = False
    ) -> Tensor:
        w, b = self.weight, self.bias
        if detach_params:
            w, b = w.detach(), b.detach()
        if members is not None:
            w, b = w[members], b[members]
        if self.out_features == 1:
            # A batched matrix-vector product: bmm runs it several times slower than this.
            return (x * w.transpose(1, 2)).sum(dim=-1, keepdim=True) + b
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(w.shape[0], -1, -1)
        return torch.baddbmm(b, x, w)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, ensemble_size={self.ensemble_size}"


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over features with per-member scale and shift (each critic has its own)."""

    def __init__(self, features: int, ensemble_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.features, self.eps = features, eps
        self.weight = nn.Parameter(torch.ones(ensemble_size, 1, features))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, features))

    def forward(
        self, x: Tensor, members: Tensor | None = None, detach_params: bool = False
    ) -> Tensor:
        w, b = self.weight, self.bias
        if detach_params:
            w, b = w.detach(), b.detach()
        if members is not None:
            w, b = w[members], b[members]
        return torch.addcmul(b, F.layer_norm(x, (self.features,), eps=self.eps), w)


class EnsembleMLP(nn.Module):
    """``E`` MLPs run as one: Linear -> [LayerNorm] -> ReLU per hidden layer, then Linear."""

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        ensemble_size: int,
        layer_norm: bool,
    ) -> None:
        super().__init__()
        dims = [in_dim, *hidden_dims]
        self.hidden = nn.ModuleList(
            EnsembleLinear(a, b, ensemble_size) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.norms = nn.ModuleList(
            EnsembleLayerNorm(h, ensemble_size) if layer_norm else nn.Identity()
            for h in hidden_dims
        )
        self.out = EnsembleLinear(dims[-1], out_dim, ensemble_size)
        self.layer_norm = layer_norm

    def forward(
        self, x: Tensor, members: Tensor | None = None, detach_params: bool = False
    ) -> Tensor:
        for linear, norm in zip(self.hidden, self.norms, strict=True):
            x = linear(x, members, detach_params)
            if self.layer_norm:
                x = norm(x, members, detach_params)
            x = F.relu(x, inplace=True)  # x is a fresh tensor whose producer does not save it
        return self.out(x, members, detach_params)


class CriticEnsemble(nn.Module):
    """``Q_1..Q_E(s, a)``: an ensemble of state-action value MLPs, output ``(E, B)``."""

    def __init__(
        self,
        feature_dim: int,
        action_dim: int,
        hidden_dims: Sequence[int],
        ensemble_size: int,
        layer_norm: bool = True,
    ) -> None:
        super().__init__()
        self.ensemble_size = ensemble_size
        self.net = EnsembleMLP(
            feature_dim + action_dim, hidden_dims, 1, ensemble_size, layer_norm=layer_norm
        )

    def forward(
        self,
        features: Tensor,
        action: Tensor,
        members: Tensor | None = None,
        detach_params: bool = False,
    ) -> Tensor:
        x = torch.cat([features, action], dim=-1)
        return self.net(x, members, detach_params).squeeze(-1)


def mlp(in_dim: int, hidden_dims: Sequence[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden_dims:
        layers += [nn.Linear(in_dim, h), nn.ReLU()]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class TanhGaussianActor(nn.Module):
    """``pi(a|s)``: a Gaussian in pre-tanh space squashed by tanh into ``[-1, 1]^A``.

    Returns the action and its log-probability including the tanh change of variables
    (SAC paper, appendix C: ``log pi(a|s) = log mu(u|s) - sum log(1 - tanh(u)^2)``), computed in
    the numerically stable form ``2 (log 2 - u - softplus(-2u))``.
    """

    def __init__(self, feature_dim: int, action_dim: int, hidden_dims: Sequence[int]) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.net = mlp(feature_dim, hidden_dims, 2 * action_dim)

    def forward(
        self,
        features: Tensor,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        with_log_prob: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        mean, log_std = self.net(features).chunk(2, dim=-1)
        if deterministic:
            return torch.tanh(mean), None
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        u = mean + log_std.exp() * noise  # reparameterisation: a = tanh(mu + sigma * eps)
        action = torch.tanh(u)
        if not with_log_prob:
            return action, None
        gaussian = -0.5 * noise.square() - log_std - _HALF_LOG_2PI
        squash = 2.0 * (_LOG2 - u - F.softplus(-2.0 * u))
        return action, (gaussian - squash).sum(dim=-1)
