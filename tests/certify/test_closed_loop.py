"""The closed-loop certificate ||pi(o + d) - pi(o)|| <= L eps: a known network, the twin."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from robolearn.certify.bounds import certify_lipschitz
from robolearn.certify.closed_loop import PGDAttack, RandomPerturbation, check_closed_loop
from robolearn.certify.policy import CertifiablePolicy

torch.set_num_threads(1)


def _linear_policy(singular_values: list[float], d_in: int = 10) -> CertifiablePolicy:
    g = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(7, 7, generator=g))
    v, _ = torch.linalg.qr(torch.randn(d_in, d_in, generator=g))
    s = torch.zeros(7, d_in)
    for i, value in enumerate(singular_values):
        s[i, i] = value
    layer = nn.Linear(d_in, 7, bias=False)
    with torch.no_grad():
        layer.weight.copy_(u @ s @ v.T)
    return CertifiablePolicy(layer)


def test_pgd_reaches_but_never_exceeds_the_known_constant() -> None:
    # True constant 4: the certificate must say 4, and PGD must get close to 4 * eps (a bound that
    # is too small is beaten by the attack; one that is too large is not tight on a linear map).
    policy = _linear_policy([4.0, 1.0, 0.5])
    bound = certify_lipschitz(policy.network).certified_upper
    assert bound == pytest.approx(4.0, rel=1e-6)
    eps = 0.01  # small enough that no action reaches the clip at +-1
    x = torch.randn(32, 10) * 0.01
    delta = PGDAttack(epsilon=eps, steps=10).attack(policy, x)
    assert torch.all(delta.norm(dim=-1) <= eps * (1 + 1e-5))
    dev = (policy.forward(x + delta) - policy.forward(x)).norm(dim=-1)
    assert float(dev.max()) <= bound * eps * (1 + 1e-5)
    assert float(dev.min()) >= 0.99 * bound * eps  # the attack finds the worst direction
    random_dev = [
        np.linalg.norm(
            policy.act(x[0].numpy() + RandomPerturbation(epsilon=eps)(policy, x[0].numpy()))
            - policy.act(x[0].numpy())
        )
        for _ in range(5)
    ]
    assert max(random_dev) < 0.9 * bound * eps  # random noise is far from the worst case


def test_pgd_beats_an_understated_bound() -> None:
    # If the certificate claimed 3 for this constant-4 map, the check would count violations.
    policy = _linear_policy([4.0, 1.0])

    class ToyEnv:  # one-step episodes from a fixed small observation
        def reset(self, seed: int | None = None) -> tuple[dict, dict]:
            return {"state": np.full(10, 0.001, np.float32)}, {}

        def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
            return {"state": np.zeros(10, np.float32)}, 0.0, True, False, {"is_success": True}

    wrong = check_closed_loop(policy, ToyEnv(), epsilon=0.01, lipschitz_bound=3.0, episodes=2)
    assert not wrong.holds and wrong.violations > 0
    right = check_closed_loop(policy, ToyEnv(), epsilon=0.01, lipschitz_bound=4.0, episodes=2)
    assert right.holds and right.max_attack_deviation == pytest.approx(0.04, rel=0.01)


def test_closed_loop_in_the_twin(reach_policy: CertifiablePolicy, reach_env) -> None:
    bound = certify_lipschitz(reach_policy.network).certified_upper
    check = check_closed_loop(
        reach_policy,
        reach_env,
        epsilon=0.02,
        lipschitz_bound=bound,
        episodes=1,
        attack=PGDAttack(epsilon=0.02, steps=3),
    )
    assert check.holds, check.as_dict()
    assert 0 < check.max_attack_deviation <= check.certified_action_deviation * (1 + 1e-5)
    assert check.attacked["steps"] > 0
