"""Certifiable policies from checkpoints: Lipschitz BC and the RLPD actor (normalisation counts)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from robolearn.certify.bounds import certify_lipschitz, lipschitz_chain
from robolearn.certify.layers import LipschitzMLP
from robolearn.certify.policy import load_policy, save_bc_policy
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

torch.set_num_threads(1)
OBS = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)})
ACT = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def test_bc_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = LipschitzMLP(6, 3, (16, 16), lipschitz=3.0, layer="aol")
    net.set_input_normalization(torch.zeros(6), torch.full((6,), 0.2))
    path = save_bc_policy(net, tmp_path / "p.safetensors", task="reach")
    policy = load_policy(path)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    expected = net(torch.as_tensor(x)).clamp(-1, 1).detach().numpy()
    np.testing.assert_allclose(policy.act({"state": x}), expected, rtol=1e-6, atol=1e-6)
    assert policy.metadata["task"] == "reach"
    assert certify_lipschitz(policy.network).certified_upper == pytest.approx(
        certify_lipschitz(net).certified_upper
    )


def test_rlpd_actor_matches_the_agent_and_counts_normalisation(tmp_path: Path) -> None:
    cfg = RLPDConfig(
        hidden_dims=(32, 32), batch_size=16, encoder_options={"normalize": True, "min_std": 0.01}
    )
    agent = RLPDAgent(OBS, ACT, cfg)
    rng = np.random.default_rng(0)
    states = rng.normal(size=(100, 6)).astype(np.float32) * np.array([1, 1, 1, 1, 0.05, 0.001])
    agent.fit_observation_stats({"state": states})
    path = agent.save(tmp_path / "rlpd.safetensors")
    policy = load_policy(path)
    obs = {"state": states[:8]}
    np.testing.assert_allclose(
        policy.act(obs), agent.act(obs, deterministic=True), rtol=1e-5, atol=1e-6
    )
    chain = lipschitz_chain(policy.network)
    first = chain[0].weight  # diag(1 / std): the floored std of the last feature is 0.01
    assert float(first.max()) == pytest.approx(100.0, rel=1e-5)
    report = certify_lipschitz(policy.network, torch.as_tensor(states), lower_bound_steps=30)
    assert 0 < report.empirical_lower <= report.certified_upper
    # without the normalisation in the chain the bound would be ~100x smaller
    inner = certify_lipschitz(policy.network.mlp).certified_upper
    assert report.certified_upper > 10 * inner


def test_learner_checkpoint_directory_is_certified_and_gated(tmp_path: Path) -> None:
    from robolearn.certify.artifact import create_certificate
    from robolearn.certify.gate import CertificateRefused, require_certificate

    ckpt = tmp_path / "ckpt-000001-step-100"
    agent = RLPDAgent(OBS, ACT, RLPDConfig(hidden_dims=(16, 16), batch_size=16))
    agent.save(ckpt / "agent.safetensors")
    with pytest.raises(CertificateRefused) as info:
        require_certificate(ckpt, "franka")
    assert info.value.reason == "missing"
    cert = create_certificate(ckpt, epsilon=0.01)
    assert (ckpt / "agent.cert.json").is_file()
    assert require_certificate(ckpt, "franka")["policy_sha256"] == cert["policy_sha256"]


def test_streamed_rlpd_weights_are_bounded_and_gated() -> None:
    from robolearn.certify.gate import (
        CertificateRefused,
        CertificationConfig,
        require_lipschitz_weights,
    )

    cfg = RLPDConfig(hidden_dims=(16, 16), batch_size=16)
    agent = RLPDAgent(OBS, ACT, cfg)
    state = {k: v.numpy() for k, v in agent.policy_state_dict().items()}  # as decoded
    bound = require_lipschitz_weights(state, cfg.to_dict(), CertificationConfig())
    assert bound > 0
    with pytest.raises(CertificateRefused) as info:
        require_lipschitz_weights(
            state, cfg.to_dict(), CertificationConfig(max_lipschitz=bound / 2)
        )
    assert info.value.reason == "above_limit"
    limit = CertificationConfig(max_lipschitz=bound / 2)
    assert require_lipschitz_weights(state, cfg.to_dict(), limit, backend="twin") == bound


def test_eval_mode_weight_cache_follows_edits() -> None:
    torch.manual_seed(0)
    net = LipschitzMLP(6, 3, (16, 16), lipschitz=3.0, layer="spectral")
    x = torch.randn(4, 6)
    train_out = net(x).detach()
    policy = load_policy_from(net)
    np.testing.assert_allclose(policy.forward(x).numpy(), train_out.clamp(-1, 1).numpy(), atol=1e-6)
    with torch.no_grad():
        net.body[0].weight.mul_(0.5)  # an in-place edit must invalidate the cached weight
    net.train()
    expected = net(x).detach().clamp(-1, 1)
    net.eval()
    np.testing.assert_allclose(policy.forward(x).numpy(), expected.numpy(), atol=1e-6)


def load_policy_from(net: LipschitzMLP):
    from robolearn.certify.policy import CertifiablePolicy

    return CertifiablePolicy(net)
