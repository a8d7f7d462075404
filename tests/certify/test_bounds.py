"""Certified upper bounds vs exact constants and empirical lower bounds."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from robolearn.certify.bounds import (
    BlockOp,
    LinearOp,
    certify_lipschitz,
    chain_rule,
    combettes_pesquet_bound,
    empirical_lower_bound,
    lipschitz_chain,
    product_bound,
)
from robolearn.certify.layers import GroupSort, LipschitzMLP, SLLBlock

torch.set_num_threads(1)


def _known_matrix(singular_values: list[float], out: int, inp: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(out, out, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(inp, inp, generator=g, dtype=torch.float64))
    s = torch.zeros(out, inp, dtype=torch.float64)
    for i, value in enumerate(singular_values):
        s[i, i] = value
    return u @ s @ v.T


def test_exact_on_a_known_linear_map() -> None:
    a = _known_matrix([3.0, 2.0, 0.5], 3, 6)
    net = nn.Linear(6, 3).double()
    with torch.no_grad():
        net.weight.copy_(a)
    report = certify_lipschitz(net, torch.randn(64, 6, dtype=torch.float64), lower_bound_steps=20)
    assert report.certified_upper == pytest.approx(3.0, rel=1e-8)
    assert report.product == pytest.approx(3.0, rel=1e-8)
    assert report.empirical_lower == pytest.approx(3.0, rel=1e-6)


def test_combettes_pesquet_hand_case() -> None:
    # f(x) = relu(x) - relu(x) = 0. Product of norms: sqrt2 * sqrt2 = 2;
    # CP: (||W2 W1|| + ||W2|| ||W1||) / 2 = (0 + 2) / 2 = 1.
    chain = [
        LinearOp(torch.tensor([[1.0], [1.0]], dtype=torch.float64)),
        *lipschitz_chain(nn.ReLU()),
        LinearOp(torch.tensor([[1.0, -1.0]], dtype=torch.float64)),
    ]
    assert product_bound(chain) == pytest.approx(2.0, rel=1e-8)
    assert combettes_pesquet_bound(chain) == pytest.approx(1.0, rel=1e-8)
    # GroupSort is not firmly nonexpansive: the chain is split there, back to the product
    split = [chain[0], *lipschitz_chain(GroupSort()), chain[2]]
    assert combettes_pesquet_bound(split) == pytest.approx(2.0, rel=1e-8)


@pytest.mark.parametrize("layer", ["spectral", "orthogonal", "aol", "sll"])
@pytest.mark.parametrize("activation", ["groupsort", "relu"])
def test_lipschitz_mlp_meets_its_budget_and_upper_exceeds_lower(
    layer: str, activation: str
) -> None:
    torch.manual_seed(1)
    net = LipschitzMLP(12, 4, (32, 32), lipschitz=7.0, layer=layer, activation=activation)
    net.set_input_normalization(torch.randn(12), torch.rand(12) + 0.01)
    x = torch.randn(64, 12)
    report = certify_lipschitz(net, x, lower_bound_steps=30)
    assert report.certified_upper <= 7.0 * (1 + 1e-4)
    assert 0 < report.empirical_lower <= report.certified_upper
    assert report.combettes_pesquet <= report.product * (1 + 1e-12)


def test_unconstrained_relu_net_upper_exceeds_lower() -> None:
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3)
    )
    report = certify_lipschitz(net, torch.randn(64, 10), lower_bound_steps=30)
    assert report.method == "combettes_pesquet"
    assert report.combettes_pesquet < report.product
    assert 0 < report.empirical_lower <= report.certified_upper


def test_trained_net_upper_exceeds_lower() -> None:
    torch.manual_seed(3)
    x = torch.randn(512, 8)
    y = torch.stack([torch.sin(3 * x[:, 0]), x[:, 1] * x[:, 2]], dim=1)
    for lipschitz in (1.0, math.inf):
        net = LipschitzMLP(8, 2, (32, 32), lipschitz=lipschitz)
        opt = torch.optim.Adam(net.parameters(), 3e-3)
        first = last = None
        for _ in range(150):
            loss = (net(x) - y).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            first = first if first is not None else loss.item()
            last = loss.item()
        assert last < first  # it learned something
        report = certify_lipschitz(net, x, lower_bound_steps=40)
        assert report.empirical_lower <= report.certified_upper
        if math.isfinite(lipschitz):
            assert report.certified_upper <= lipschitz * (1 + 1e-4)


def test_sll_block_is_one_lipschitz_empirically() -> None:
    torch.manual_seed(4)
    block = SLLBlock(16)
    with torch.no_grad():
        block.weight.mul_(5.0)  # large weights: T rescales them
        block.bias.normal_()
    lower = empirical_lower_bound(block, torch.randn(64, 16), steps=50)
    assert lower.value <= 1.0 + 1e-6


def test_a_rule_that_understates_the_constant_is_caught() -> None:
    class Doubler(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2.0 * x

    @chain_rule(Doubler)
    def _wrong(m: nn.Module) -> list:  # claims 1, the truth is 2
        return [BlockOp("doubler", 1.0, "wrong on purpose")]

    with pytest.raises(RuntimeError, match="exceeds the certified bound"):
        certify_lipschitz(Doubler(), torch.randn(16, 3), lower_bound_steps=5)
