"""Certified upper bounds and empirical lower bounds on a network's l2 Lipschitz constant.

A network is first read as a *chain* of operations (`lipschitz_chain`): linear maps (weights in
float64, biases dropped: they do not change a Lipschitz constant), 1-Lipschitz activations, and
residual blocks whose constant is known from a theorem (SLL). Input normalisation and output
scaling are linear maps in the chain, so they count in the bound. Two certified upper bounds:

- ``product``: the product of every linear map's exact spectral norm (an SVD in float64; never a
  power-iteration estimate, which approaches the norm from below) and of the blocks' constants.
- ``combettes_pesquet``: Combettes & Pesquet, "Lipschitz certificates for layered network
  structures driven by averaged activation operators", SIAM J. Math. Data Sci. 2020,
  https://arxiv.org/abs/1903.01014, their bound for firmly nonexpansive (1/2-averaged)
  activations: writing each activation as ``R = (Id + N) / 2`` with ``N`` nonexpansive and
  expanding the composition ``W_m R W_(m-1) ... R W_1`` gives
  ``theta_m = 2^-(m-1) sum_{J subset of {1..m-1}} prod_{runs} ||W_b ... W_a||``, where a run is a
  maximal stretch of layers not separated by an ``N`` factor. Every term is at most the product
  of norms, so ``theta_m`` is never looser. ReLU, tanh and clipping are firmly nonexpansive
  (each is a nondecreasing 1-Lipschitz scalar map, hence a proximity operator); GroupSort is not,
  so a chain is split there and the segments' bounds multiply.

The certified bound is the smaller of the two (both are upper bounds). `empirical_lower_bound`
searches for a pair of inputs whose output distance ratio is as large as possible (Jacobian
sampling, then projected gradient ascent on the pair); the best ratio is a true lower bound, so
``empirical_lower <= L_true <= certified_upper`` and the gap says how tight the certificate is.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from robolearn.certify.layers import (
    GroupSort,
    InputScaling,
    LipschitzLinear,
    LipschitzMLP,
    SLLBlock,
)

log = logging.getLogger(__name__)

MAX_CP_ACTIVATIONS = 12  # 2^11 terms; longer segments fall back to the product of norms
ROUNDING = 1e-9  # relative inflation covering float64 SVD rounding


# --- the chain ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearOp:
    """``x -> W x (+ b)``; ``weight`` is ``(out, in)`` float64."""

    weight: Tensor
    name: str = "linear"


@dataclass(frozen=True)
class ActivationOp:
    name: str
    lipschitz: float = 1.0
    firmly_nonexpansive: bool = True


@dataclass(frozen=True)
class BlockOp:
    """A block whose constant comes from a theorem (cited in ``reason``), not from its weights."""

    name: str
    lipschitz: float
    reason: str


Op = LinearOp | ActivationOp | BlockOp
ChainRule = Callable[[nn.Module], list[Op]]
_RULES: dict[type, ChainRule] = {}


def chain_rule(cls: type) -> Callable[[ChainRule], ChainRule]:
    """Register how a module type becomes chain operations (subclasses inherit the rule)."""

    def decorator(fn: ChainRule) -> ChainRule:
        _RULES[cls] = fn
        return fn

    return decorator


class UnsupportedModuleError(TypeError):
    """A module the bound cannot read; register a rule with `chain_rule`."""


def lipschitz_chain(module: nn.Module) -> list[Op]:
    """The network as a chain of operations, in order of application."""
    for cls in type(module).__mro__:
        if cls in _RULES:
            return _RULES[cls](module)
    raise UnsupportedModuleError(
        f"no Lipschitz rule for {type(module).__name__}; supported: "
        f"{sorted(c.__name__ for c in _RULES)} (register one with robolearn.certify.bounds."
        "chain_rule; normalisation layers such as LayerNorm have no global constant)"
    )


def _w(t: Tensor) -> Tensor:
    return t.detach().to(torch.float64).cpu()


@chain_rule(nn.Sequential)
def _sequential(m: nn.Module) -> list[Op]:
    return [op for child in m for op in lipschitz_chain(child)]


@chain_rule(nn.Linear)
def _linear(m: nn.Module) -> list[Op]:
    return [LinearOp(_w(m.weight), "linear")]


@chain_rule(LipschitzLinear)
def _lipschitz_linear(m: nn.Module) -> list[Op]:
    with torch.no_grad():
        return [LinearOp(_w(m.effective_weight()), type(m).__name__)]


@chain_rule(InputScaling)
def _input_scaling(m: nn.Module) -> list[Op]:
    return [LinearOp(torch.diag(_w(m.scale)), "input scaling")]


@chain_rule(SLLBlock)
def _sll(m: nn.Module) -> list[Op]:
    return [BlockOp("SLL", 1.0, "Araujo et al. 2023, Theorem 3 (residual SLL layer)")]


@chain_rule(nn.ReLU)
def _relu(m: nn.Module) -> list[Op]:
    return [ActivationOp("relu")]


@chain_rule(nn.Tanh)
def _tanh(m: nn.Module) -> list[Op]:
    return [ActivationOp("tanh")]


@chain_rule(nn.Hardtanh)
def _hardtanh(m: nn.Module) -> list[Op]:
    return [ActivationOp("clip")]


@chain_rule(nn.LeakyReLU)
def _leaky(m: nn.Module) -> list[Op]:
    slope = float(m.negative_slope)
    return [ActivationOp("leaky_relu", max(1.0, abs(slope)), 0.0 <= slope <= 1.0)]


@chain_rule(GroupSort)
def _groupsort(m: nn.Module) -> list[Op]:
    return [ActivationOp("groupsort", 1.0, firmly_nonexpansive=False)]


@chain_rule(nn.Identity)
def _identity(m: nn.Module) -> list[Op]:
    return []


@chain_rule(LipschitzMLP)
def _lipschitz_mlp(m: nn.Module) -> list[Op]:
    chain = lipschitz_chain(m.input) + lipschitz_chain(m.body)
    if m.constrained:
        chain.append(LinearOp(m.lipschitz * torch.eye(m.out_dim, dtype=torch.float64), "L"))
    return chain


# --- upper bounds -------------------------------------------------------------------------------
def spectral_norm(weight: Tensor) -> float:
    """Exact largest singular value (float64 SVD)."""
    if weight.numel() == 0:
        return 0.0
    return float(torch.linalg.matrix_norm(weight.to(torch.float64), ord=2))


def product_bound(chain: list[Op]) -> float:
    """Product of exact layer norms and of activation/block constants."""
    total = 1.0
    for op in chain:
        if isinstance(op, LinearOp):
            total *= spectral_norm(op.weight)
        else:
            total *= op.lipschitz
    return total * (1.0 + ROUNDING)


def _cp_segment(mats: list[Tensor]) -> float:
    """theta for ``M_m R ... R M_1`` (``mats`` in order of application, one R between each)."""
    m = len(mats)
    if m == 1:
        return spectral_norm(mats[0])
    if m - 1 > MAX_CP_ACTIVATIONS:
        return math.prod(spectral_norm(w) for w in mats)
    norms: dict[tuple[int, int], float] = {}

    def run_norm(a: int, b: int) -> float:  # ||M_b ... M_a||, a <= b
        if (a, b) not in norms:
            prod = mats[a]
            for k in range(a + 1, b + 1):
                prod = mats[k] @ prod
            norms[(a, b)] = spectral_norm(prod)
        return norms[(a, b)]

    total = 0.0
    for picks in itertools.product((False, True), repeat=m - 1):  # True: the N part
        term, start = 1.0, 0
        for k, is_n in enumerate(picks):
            if is_n:
                term *= run_norm(start, k)
                start = k + 1
        total += term * run_norm(start, m - 1)
    return total / 2 ** (m - 1)


def combettes_pesquet_bound(chain: list[Op]) -> float:
    """Combettes & Pesquet (2020) bound over firmly nonexpansive stretches, times the rest."""
    total = 1.0
    mats: list[Tensor] = []  # the current segment's merged linear maps
    pending: Tensor | None = None  # linear maps since the last activation, merged

    def close_segment() -> None:
        nonlocal total, mats, pending
        if pending is not None:
            mats.append(pending)
        if mats:
            total *= _cp_segment(mats)
        mats, pending = [], None

    for op in chain:
        if isinstance(op, LinearOp):
            pending = op.weight if pending is None else op.weight @ pending
        elif isinstance(op, ActivationOp) and op.firmly_nonexpansive and op.lipschitz <= 1.0:
            if pending is not None:
                mats.append(pending)
                pending = None
            else:
                # two activations in a row (or one at the start): their composition need not be
                # firmly nonexpansive, so end the segment there (the activation multiplies by 1)
                close_segment()
        else:
            close_segment()
            total *= op.lipschitz
    close_segment()
    return total * (1.0 + ROUNDING)


# --- lower bound --------------------------------------------------------------------------------
@dataclass
class EmpiricalLowerBound:
    """``value = ||f(x + d) - f(x)|| / ||d||`` for the best pair found (a true lower bound)."""

    value: float
    x: list[float]
    direction: list[float]


def _pair_ratio(f: nn.Module, x: Tensor, d: Tensor) -> Tensor:
    return (f(x + d) - f(x)).norm(dim=-1) / d.norm(dim=-1)


def empirical_lower_bound(
    module: nn.Module,
    inputs: Tensor,
    *,
    samples: int = 256,
    spread: float = 1.0,
    steps: int = 100,
    radius: float = 1e-3,
    seed: int = 0,
) -> EmpiricalLowerBound:
    """The largest output/input distance ratio found for ``module`` around ``inputs`` (N, d).

    1. Jacobians (``torch.func.jacrev``) at ``samples`` points: the inputs plus Gaussian noise of
       ``spread`` times the inputs' per-feature spread; the top singular vector of each gives a
       direction.
    2. Projected gradient ascent (Adam) on the ratio over pairs ``(x, x + d)`` with
       ``||d|| = radius``, started at the 16 best points along their top directions.
    The returned ratio is evaluated on an actual pair in float64, so it is a valid lower bound
    whatever the search did.
    """
    f = copy.deepcopy(module).to(torch.float64).eval()
    for p in f.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    x0 = inputs.detach().to(torch.float64).reshape(-1, inputs.shape[-1])
    scale = x0.std(dim=0) if len(x0) > 1 else torch.ones(x0.shape[-1], dtype=torch.float64)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    idx = torch.randint(len(x0), (samples,), generator=gen)
    noise = torch.randn(samples, x0.shape[-1], generator=gen, dtype=torch.float64)
    xs = torch.cat([x0[:samples], x0[idx] + spread * scale * noise])

    def single(v: Tensor) -> Tensor:
        return f(v.unsqueeze(0)).squeeze(0)

    jac = torch.func.vmap(torch.func.jacrev(single))(xs)  # (S, out, in)
    _, svals, vh = torch.linalg.svd(jac)
    order = svals[:, 0].argsort(descending=True)[:16]
    x = xs[order].clone()
    d = radius * vh[order, 0, :]
    ratio = _pair_ratio(f, x, d)
    i = int(ratio.argmax())
    best, best_x, best_d = ratio[i].clone(), x[i].clone(), d[i].clone()
    x.requires_grad_(True)
    d.requires_grad_(True)
    opt = torch.optim.Adam([x, d], lr=radius)
    for _ in range(steps):
        opt.zero_grad()
        ratio = _pair_ratio(f, x, d)
        (-ratio.sum()).backward()
        opt.step()
        with torch.no_grad():
            d.mul_(radius / d.norm(dim=-1, keepdim=True).clamp_min(1e-300))
            ratio = _pair_ratio(f, x, d)
            i = int(ratio.argmax())
            if ratio[i] > best:
                best, best_x, best_d = ratio[i].clone(), x[i].clone(), d[i].clone()
    # re-evaluate the kept pair from scratch: the certificate of the lower bound
    with torch.no_grad():
        value = float(_pair_ratio(f, best_x[None], best_d[None])[0])
    return EmpiricalLowerBound(value, best_x.tolist(), best_d.tolist())


# --- together -----------------------------------------------------------------------------------
@dataclass
class LipschitzReport:
    """A certified upper bound and an empirical lower bound on the l2 Lipschitz constant."""

    certified_upper: float
    method: str  # which bound gave certified_upper
    product: float
    combettes_pesquet: float
    empirical_lower: float | None = None
    layer_norms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def certify_lipschitz(
    module: nn.Module,
    inputs: Tensor | None = None,
    *,
    lower_bound_steps: int = 100,
    seed: int = 0,
) -> LipschitzReport:
    """Both upper bounds (the smaller is certified) and, given sample ``inputs``, the empirical
    lower bound. Raises `UnsupportedModuleError` for modules without a rule."""
    chain = lipschitz_chain(module)
    prod = product_bound(chain)
    cp = combettes_pesquet_bound(chain)
    method, upper = ("combettes_pesquet", cp) if cp < prod else ("product", prod)
    notes = sorted({op.reason for op in chain if isinstance(op, BlockOp)})
    report = LipschitzReport(
        certified_upper=upper,
        method=method,
        product=prod,
        combettes_pesquet=cp,
        layer_norms=[spectral_norm(op.weight) for op in chain if isinstance(op, LinearOp)],
        notes=notes,
    )
    if inputs is not None:
        lower = empirical_lower_bound(module, inputs, steps=lower_bound_steps, seed=seed)
        report.empirical_lower = lower.value
        if lower.value > upper * (1.0 + 1e-6):
            raise RuntimeError(
                f"empirical lower bound {lower.value:.6g} exceeds the certified bound "
                f"{upper:.6g}: the chain misreads this network (a bug, please report)"
            )
    return report
