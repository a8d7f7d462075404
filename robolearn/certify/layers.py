"""Lipschitz-bounded building blocks and `LipschitzMLP`, a network with a hard constant ``L``.

Every block here has a known l2 Lipschitz constant of at most 1; `LipschitzMLP` composes them and
scales the output by ``L``, so the whole map (input normalisation included) is ``L``-Lipschitz.
The constant is *enforced* by construction but *certified* separately: `robolearn.certify.bounds`
recomputes it from the weights with exact spectral norms, so a bug here cannot hide behind the
construction.

Blocks (chosen by name from ``LINEAR_LAYERS`` / ``ACTIVATIONS``):

- ``spectral``: ``W / max(1, ||W||_2)`` with the exact spectral norm (``torch.linalg.matrix_norm``
  with ``ord=2``, an SVD), not the power-iteration estimate of ``torch.nn.utils.spectral_norm``,
  which approaches ``||W||_2`` from below and is therefore no certificate.
- ``orthogonal``: a weight kept (semi-)orthogonal by ``torch.nn.utils.parametrizations.orthogonal``;
  all singular values are 1.
- ``aol``: Almost-Orthogonal Layer, Prach & Lampert, "Almost-Orthogonal Layers for Efficient
  General-Purpose Lipschitz Networks", ECCV 2022, https://arxiv.org/abs/2208.03160, Theorem 1:
  for any ``P``, ``D = diag(sum_j |P^T P|_ij)^(-1/2)`` gives ``||P D||_2 <= 1``.
- ``sll``: SDP-based Lipschitz Layer, Araujo, Havens, Delattre, Allauzen, Hu, "A Unified Algebraic
  Perspective on Lipschitz Neural Networks", ICLR 2023, https://arxiv.org/abs/2303.03169,
  Theorem 3: the residual layer ``h(x) = x - 2 W T^-1 relu(W^T x + b)`` with
  ``T = diag(sum_j |W^T W|_ij q_j / q_i)`` (``q > 0``) is 1-Lipschitz. Being residual it keeps the
  width; `LipschitzMLP` puts an orthogonal projection before and after a stack of them.
- activations ``groupsort`` (GroupSort of size 2, "MaxMin": Anil, Lucas, Grosse, "Sorting out
  Lipschitz function approximation", ICML 2019; norm-preserving, so gradients do not vanish),
  ``relu`` and ``tanh`` (1-Lipschitz and firmly nonexpansive).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from robolearn.registry import Registry

# Normalising by ||W|| (1 + SAFETY) keeps float32 rounding from pushing a layer a hair above 1.
SAFETY = 1e-5


def spectral_norm_exact(weight: Tensor) -> Tensor:
    """The largest singular value of a matrix (an SVD; differentiable)."""
    return torch.linalg.matrix_norm(weight, ord=2)


# --- activations --------------------------------------------------------------------------------
class GroupSort(nn.Module):
    """Sorts each consecutive group of ``group_size`` features (size 2: MaxMin). A permutation of
    its input on each linear piece, so 1-Lipschitz in l2 and gradient-norm preserving."""

    def __init__(self, group_size: int = 2) -> None:
        super().__init__()
        if group_size < 2:
            raise ValueError(f"group_size must be at least 2, got {group_size}")
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[-1]
        if n % self.group_size:
            raise ValueError(f"GroupSort({self.group_size}) needs a width divisible by it, got {n}")
        if self.group_size == 2:
            a, b = x.unflatten(-1, (n // 2, 2)).unbind(-1)
            return torch.stack([torch.maximum(a, b), torch.minimum(a, b)], dim=-1).flatten(-2)
        grouped = x.unflatten(-1, (n // self.group_size, self.group_size))
        return grouped.sort(dim=-1, descending=True).values.flatten(-2)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


ACTIVATIONS: Registry[type[nn.Module]] = Registry("1-Lipschitz activation")
ACTIVATIONS.register("groupsort")(GroupSort)
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("tanh")(nn.Tanh)


# --- linear blocks ------------------------------------------------------------------------------
class LipschitzLinear(nn.Module):
    """A 1-Lipschitz affine map ``x -> W_eff x + b``; subclasses define ``W_eff``."""

    in_features: int
    out_features: int

    def effective_weight(self) -> Tensor:
        """The ``(out, in)`` matrix actually applied (what the bound is computed from)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self._weight_for_forward(), self.bias)

    def _weight_for_forward(self) -> Tensor:
        """``effective_weight()``, cached while the weights cannot change (eval mode and no
        parameter gradients): a rollout would otherwise pay an SVD per step. The cache is keyed
        on the parameters' version counters, so an in-place edit invalidates it."""
        params = list(self.parameters())
        frozen = not torch.is_grad_enabled() or not any(p.requires_grad for p in params)
        if self.training or not frozen:
            return self.effective_weight()
        key = tuple((p.data_ptr(), p._version) for p in params)
        cached = getattr(self, "_cached_weight", None)
        if cached is None or cached[0] != key:
            with torch.no_grad():
                cached = (key, self.effective_weight().detach())
            self._cached_weight = cached
        return cached[1]

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}"


LINEAR_LAYERS: Registry[type[LipschitzLinear]] = Registry("Lipschitz linear layer")


@LINEAR_LAYERS.register("spectral")
class SpectralLinear(LipschitzLinear):
    """``W / max(1, ||W||_2 (1 + SAFETY))`` with the exact spectral norm (an SVD per forward)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        layer = nn.Linear(in_features, out_features)
        nn.init.orthogonal_(layer.weight)
        self.weight, self.bias = layer.weight, layer.bias

    def effective_weight(self) -> Tensor:
        norm = spectral_norm_exact(self.weight) * (1.0 + SAFETY)
        return self.weight / torch.clamp(norm, min=1.0)


@LINEAR_LAYERS.register("orthogonal")
class OrthogonalLinear(LipschitzLinear):
    """Orthonormal rows or columns (``parametrizations.orthogonal``), so ``||W|| = 1``."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.linear = parametrizations.orthogonal(nn.Linear(in_features, out_features))
        self.bias = self.linear.bias

    def effective_weight(self) -> Tensor:
        return self.linear.weight / (1.0 + SAFETY)  # orthogonal to float32 precision only


@LINEAR_LAYERS.register("aol")
class AOLLinear(LipschitzLinear):
    """Prach & Lampert 2022, Theorem 1: ``W_eff = P D``, ``D_ii = (sum_j |P^T P|_ij)^(-1/2)``."""

    def __init__(self, in_features: int, out_features: int, eps: float = 1e-10) -> None:
        super().__init__()
        self.in_features, self.out_features, self.eps = in_features, out_features, eps
        layer = nn.Linear(in_features, out_features)
        nn.init.orthogonal_(layer.weight)  # AOL is exact (D = I) at an orthogonal P
        self.weight, self.bias = layer.weight, layer.bias  # P, shape (out, in)

    def effective_weight(self) -> Tensor:
        ptp = self.weight.T @ self.weight  # (in, in)
        d = ptp.abs().sum(dim=1).clamp_min(self.eps).rsqrt() / (1.0 + SAFETY)
        return self.weight * d  # P diag(d): column j scaled by d_j


class SLLBlock(nn.Module):
    """Araujo et al. 2023, Theorem 3: ``h(x) = x - 2 W T^-1 relu(W^T x + b)``, 1-Lipschitz, with
    ``T_ii = sum_j |W^T W|_ij q_j / q_i`` and ``q = exp(log_q)`` (learned). ``W`` is ``(d, k)``."""

    def __init__(self, features: int, inner: int | None = None, eps: float = 1e-6) -> None:
        super().__init__()
        inner = inner or features
        self.features, self.inner, self.eps = features, inner, eps
        self.weight = nn.Parameter(torch.empty(features, inner))
        nn.init.xavier_normal_(self.weight)
        self.bias = nn.Parameter(torch.zeros(inner))
        self.log_q = nn.Parameter(torch.zeros(inner))

    def t_diagonal(self) -> Tensor:
        q = self.log_q.exp()
        wtw = (self.weight.T @ self.weight).abs()  # (k, k)
        return (wtw * q[None, :]).sum(dim=1) / q + self.eps

    def forward(self, x: Tensor) -> Tensor:
        res = torch.relu(x @ self.weight + self.bias) / self.t_diagonal()
        return x - 2.0 * res @ self.weight.T

    def extra_repr(self) -> str:
        return f"features={self.features}, inner={self.inner}"


# --- normalisation ------------------------------------------------------------------------------
class InputScaling(nn.Module):
    """``x -> (x - mean) * scale`` with fixed per-feature ``scale`` (a diagonal map: its Lipschitz
    constant is ``max |scale|``). `LipschitzMLP` stores ``scale`` divided by its maximum, so the
    map is 1-Lipschitz and the ratios keep the features comparable."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) * self.scale


# --- the network --------------------------------------------------------------------------------
class LipschitzMLP(nn.Module):
    """``f(x) = L * g(s * (x - m))`` with ``g`` a stack of 1-Lipschitz blocks, ``|s| <= 1``: an
    ``L``-Lipschitz map (l2 to l2) by construction.

    ``layer`` is a name in ``LINEAR_LAYERS`` (``spectral``, ``orthogonal``, ``aol``) or ``sll``
    (residual SLL blocks of width ``hidden_dims[0]`` between two orthogonal projections);
    ``activation`` a name in ``ACTIVATIONS``. ``lipschitz=math.inf`` builds an unconstrained
    baseline (plain ``nn.Linear`` layers, output unscaled) whose bound is whatever the weights give.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dims: Sequence[int] = (256, 256),
        *,
        lipschitz: float = 1.0,
        layer: str = "spectral",
        activation: str = "groupsort",
    ) -> None:
        super().__init__()
        if not (lipschitz > 0):
            raise ValueError(f"lipschitz must be positive (or inf), got {lipschitz}")
        if not hidden_dims:
            raise ValueError("LipschitzMLP needs at least one hidden layer")
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        self.lipschitz, self.layer_type, self.activation = float(lipschitz), layer, activation
        self.constrained = math.isfinite(self.lipschitz)
        self.input = InputScaling(self.in_dim)
        act = ACTIVATIONS.get(activation)
        blocks: list[nn.Module] = []
        if layer == "sll":
            width = self.hidden_dims[0]
            blocks += [OrthogonalLinear(self.in_dim, width)]
            blocks += [SLLBlock(width) for _ in self.hidden_dims]
            blocks += [OrthogonalLinear(width, self.out_dim)]
        else:
            make = LINEAR_LAYERS.get(layer) if self.constrained else nn.Linear
            dims = [self.in_dim, *self.hidden_dims]
            for a, b in zip(dims[:-1], dims[1:], strict=True):
                blocks += [make(a, b), act()]
            blocks.append(make(dims[-1], self.out_dim))
        if self.constrained and self.lipschitz > 1.0:
            # Start from the outputs of an L=1 network, not L-times-larger random actions: the
            # last bias (and, where the norm may be below 1, the last weight) scaled by 1/L.
            with torch.no_grad():
                blocks[-1].bias.mul_(1.0 / self.lipschitz)
                if layer == "spectral":
                    blocks[-1].weight.mul_(1.0 / self.lipschitz)
        self.body = nn.Sequential(*blocks)

    @torch.no_grad()
    def set_input_normalization(self, mean: Tensor, std: Tensor, min_std: float = 0.05) -> None:
        """Centre on ``mean`` and weight feature ``i`` by ``1 / max(std_i, min_std)``, divided by
        the largest weight (so the scaling is 1-Lipschitz and ``L`` stays the whole bound)."""
        scale = 1.0 / torch.as_tensor(std, dtype=torch.float32).clamp_min(min_std)
        self.input.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.input.scale.copy_(scale / scale.max())

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(self.input(x))
        return self.lipschitz * y if self.constrained else y

    def config(self) -> dict[str, Any]:
        """The constructor's arguments (JSON-ready; stored in checkpoints)."""
        return {
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "hidden_dims": list(self.hidden_dims),
            "lipschitz": self.lipschitz if self.constrained else "inf",
            "layer": self.layer_type,
            "activation": self.activation,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LipschitzMLP:
        cfg = dict(config)
        cfg["lipschitz"] = float(cfg.get("lipschitz", 1.0))
        in_dim, out_dim = cfg.pop("in_dim"), cfg.pop("out_dim")
        return cls(in_dim, out_dim, **cfg)
