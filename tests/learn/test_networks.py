"""Networks: shapes, the batched ensemble against a loop over its members, the actor's density."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from robolearn.learn.networks import (
    ENCODERS,
    CriticEnsemble,
    EnsembleLinear,
    FlattenEncoder,
    TanhGaussianActor,
    flatten_obs,
    flatten_space,
    make_encoder,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _member_mlp(critic: CriticEnsemble, e: int) -> nn.Module:
    """Member e of the ensemble as an ordinary nn.Sequential (Linear, LayerNorm, ReLU, ...)."""
    net = critic.net
    layers: list[nn.Module] = []
    for linear, norm in zip(net.hidden, net.norms, strict=True):
        lin = nn.Linear(linear.in_features, linear.out_features)
        lin.weight.data = linear.weight.data[e].T.clone()
        lin.bias.data = linear.bias.data[e, 0].clone()
        layers.append(lin)
        if net.layer_norm:
            ln = nn.LayerNorm(linear.out_features)
            ln.weight.data = norm.weight.data[e, 0].clone()
            ln.bias.data = norm.bias.data[e, 0].clone()
            layers.append(ln)
        layers.append(nn.ReLU())
    out = nn.Linear(net.out.in_features, 1)
    out.weight.data = net.out.weight.data[e].T.clone()
    out.bias.data = net.out.bias.data[e, 0].clone()
    layers.append(out)
    return nn.Sequential(*layers)


@pytest.mark.parametrize("layer_norm", [True, False])
def test_ensemble_forward_equals_loop_over_members(layer_norm):
    critic = CriticEnsemble(11, 3, (32, 16), ensemble_size=5, layer_norm=layer_norm)
    # Non-trivial LayerNorm parameters, different per member.
    with torch.no_grad():
        for norm in critic.net.norms:
            if layer_norm:
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)
    features, action = torch.randn(7, 11), torch.rand(7, 3) * 2 - 1
    q = critic(features, action)
    assert q.shape == (5, 7)
    looped = torch.stack(
        [_member_mlp(critic, e)(torch.cat([features, action], -1)).squeeze(-1) for e in range(5)]
    )
    torch.testing.assert_close(q, looped, rtol=1e-5, atol=1e-5)


def test_ensemble_gradients_equal_loop_over_members():
    critic = CriticEnsemble(6, 2, (16, 16), ensemble_size=4)
    features, action = torch.randn(9, 6), torch.randn(9, 2)
    critic(features, action).square().sum().backward()
    for e in range(4):
        member = _member_mlp(critic, e)
        member(torch.cat([features, action], -1)).square().sum().backward()
        torch.testing.assert_close(
            critic.net.hidden[1].weight.grad[e], member[3].weight.grad.T, rtol=1e-4, atol=1e-5
        )
        torch.testing.assert_close(
            critic.net.out.weight.grad[e], member[-1].weight.grad.T, rtol=1e-4, atol=1e-5
        )


def test_members_subset_runs_only_those_members():
    critic = CriticEnsemble(5, 2, (8, 8), ensemble_size=6)
    features, action = torch.randn(4, 5), torch.randn(4, 2)
    members = torch.tensor([4, 1])
    torch.testing.assert_close(critic(features, action, members), critic(features, action)[members])


def test_detach_params_gives_action_gradient_only():
    critic = CriticEnsemble(5, 2, (8, 8), ensemble_size=3)
    action = torch.randn(4, 2, requires_grad=True)
    critic(torch.randn(4, 5), action, detach_params=True).sum().backward()
    assert action.grad is not None and torch.any(action.grad != 0)
    assert all(p.grad is None for p in critic.parameters())


def test_ensemble_linear_accepts_per_member_inputs():
    layer = EnsembleLinear(3, 4, ensemble_size=2)
    x = torch.randn(2, 5, 3)
    y = layer(x)
    assert y.shape == (2, 5, 4)
    torch.testing.assert_close(y[1], x[1] @ layer.weight[1] + layer.bias[1])


def test_actor_shapes_bounds_and_log_prob_matches_torch_distributions():
    actor = TanhGaussianActor(6, 3, (16, 16))
    features = torch.randn(64, 6)
    gen = torch.Generator().manual_seed(1)
    action, log_prob = actor(features, generator=gen)
    assert action.shape == (64, 3) and log_prob.shape == (64,)
    assert torch.all(action.abs() < 1)

    mean, log_std = actor.net(features).chunk(2, dim=-1)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Independent(
            torch.distributions.Normal(mean, log_std.clamp(-20, 2).exp()), 1
        ),
        [torch.distributions.TanhTransform(cache_size=1)],
    )
    # Recompute the pre-tanh sample from the same noise for a stable reference.
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(mean.shape, generator=gen)
    u = mean + log_std.clamp(-20, 2).exp() * noise
    reference = dist.base_dist.log_prob(u) - dist.transforms[0].log_abs_det_jacobian(
        u, torch.tanh(u)
    ).sum(-1)
    torch.testing.assert_close(log_prob, reference, rtol=1e-4, atol=1e-4)
    deterministic, none = actor(features, deterministic=True)
    assert none is None
    torch.testing.assert_close(deterministic, torch.tanh(mean))


def test_flatten_encoder_reads_float_keys_and_skips_images():
    space = gym.spaces.Dict(
        {
            "state": gym.spaces.Box(-1, 1, (5,), np.float32),
            "images": gym.spaces.Dict({"front": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)}),
            "goal": gym.spaces.Box(-1, 1, (2,), np.float32),
        }
    )
    assert sorted(flatten_space(space)) == ["goal", "images.front", "state"]
    encoder = make_encoder("flatten", space)
    assert isinstance(encoder, FlattenEncoder)
    assert set(encoder.keys) == {"state", "goal"} and encoder.output_dim == 7
    obs = {"state": torch.ones(2, 5), "goal": torch.zeros(2, 2)}
    assert encoder(obs).shape == (2, 7)
    with pytest.raises(ValueError, match="image encoder"):
        FlattenEncoder(space, keys=["images.front"])
    with pytest.raises(KeyError, match="unknown observation encoder"):
        ENCODERS.get("nope")


def test_flatten_obs_and_plain_box():
    assert set(flatten_obs({"a": 1, "b": {"c": 2}})) == {"a", "b.c"}
    assert flatten_obs(np.zeros(3)).keys() == {""}
    encoder = FlattenEncoder(gym.spaces.Box(-1, 1, (2, 3), np.float32))
    assert encoder.output_dim == 6
    assert encoder({"": torch.zeros(4, 2, 3)}).shape == (4, 6)


def test_image_encoder_can_be_registered():
    class TinyConv(FlattenEncoder):
        pass

    name = "test-tiny-conv"
    if name not in ENCODERS:
        ENCODERS.register(name)(TinyConv)
    space = gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (3,), np.float32)})
    assert isinstance(make_encoder(name, space), TinyConv)
