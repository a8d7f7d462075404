"""Policy smoothing certificates against hand-computed cases (Kumar, Levine, Feizi 2022)."""

from __future__ import annotations

import math

import pytest

from robolearn.certify.smoothing import (
    certified_expected_return,
    certified_probability,
    clopper_pearson_lower,
    dkw_epsilon,
    neyman_pearson,
)

# alpha = 2 exp(-2) makes the DKW half-width exactly 0.1 for n = 100.
ALPHA_EPS_01 = 2.0 * math.exp(-2.0)


def test_dkw_half_width() -> None:
    assert dkw_epsilon(100, ALPHA_EPS_01) == pytest.approx(0.1, abs=1e-12)
    assert dkw_epsilon(200, 0.05) == pytest.approx(math.sqrt(math.log(40.0) / 400.0))


def test_expected_return_hand_case_without_attack() -> None:
    # 20 returns of 0, 30 of 1, 50 of 3; eps = 0.1.
    # P[R >= nu] >= 0.8 - 0.1 on (0, 1], 0.5 - 0.1 on (1, 3]:
    # E[R] >= 0 + 1 * 0.7 + 2 * 0.4 = 1.5 (the empirical mean is 1.8).
    returns = [0.0] * 20 + [1.0] * 30 + [3.0] * 50
    value = certified_expected_return(returns, sigma=1.0, budget=0.0, alpha=ALPHA_EPS_01)
    assert value == pytest.approx(1.5, abs=1e-12)


def test_expected_return_hand_case_under_attack() -> None:
    # Same returns, B / sigma = 0.5 (sigma 0.2, B 0.1):
    # Phi(Phi^-1(0.7) - 0.5) = Phi(0.524401 - 0.5) = Phi(0.024401) = 0.509733
    # Phi(Phi^-1(0.4) - 0.5) = Phi(-0.253347 - 0.5) = Phi(-0.753347) = 0.225621
    # E[R] >= 1 * 0.509733 + 2 * 0.225621 = 0.960975
    returns = [3.0] * 50 + [0.0] * 20 + [1.0] * 30  # order does not matter
    value = certified_expected_return(returns, sigma=0.2, budget=0.1, alpha=ALPHA_EPS_01)
    assert value == pytest.approx(0.960975, abs=2e-6)


def test_expected_return_respects_the_lower_end() -> None:
    # returns in [-1, ...]: the integral starts at the declared lower bound
    returns = [-1.0] * 10 + [1.0] * 90
    # eps = sqrt(ln(2/alpha)/200); P[R >= nu] >= 0.9 - eps on (-1, 1]
    eps = dkw_epsilon(100, 0.05)
    value = certified_expected_return(returns, sigma=1.0, budget=0.0, alpha=0.05, lower=-1.0)
    assert value == pytest.approx(-1.0 + 2.0 * (0.9 - eps), abs=1e-12)
    with pytest.raises(ValueError, match="below the declared lower bound"):
        certified_expected_return(returns, sigma=1.0, budget=0.0, alpha=0.05, lower=0.0)


def test_clopper_pearson_and_probability_hand_case() -> None:
    # all 20 trials succeed: the one-sided lower bound is alpha^(1/n) = 0.05^0.05 = 0.860891
    assert clopper_pearson_lower(20, 20, 0.05) == pytest.approx(0.860891, abs=1e-6)
    assert clopper_pearson_lower(0, 20, 0.05) == 0.0
    # Phi(Phi^-1(0.860892) - 0.5) = Phi(1.084334 - 0.5) = Phi(0.584334) = 0.720502
    value = certified_probability(20, 20, sigma=0.02, budget=0.01, alpha=0.05)
    assert value == pytest.approx(0.720502, abs=2e-6)


def test_neyman_pearson_limits() -> None:
    assert neyman_pearson(0.7, 0.0, 1.0) == pytest.approx(0.7)
    assert neyman_pearson(0.0, 1.0, 1.0) == 0.0
    values = [neyman_pearson(0.9, b, 1.0) for b in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 0.05


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="sigma"):
        certified_probability(1, 2, sigma=0.0, budget=0.1, alpha=0.05)
    with pytest.raises(ValueError, match="alpha"):
        certified_expected_return([1.0], sigma=1.0, budget=0.1, alpha=1.5)


def test_certify_smoothing_plumbing_on_a_toy_env() -> None:
    import numpy as np
    import torch
    from torch import nn

    from robolearn.certify.policy import CertifiablePolicy
    from robolearn.certify.smoothing import certify_smoothing

    class OneStep:  # every episode: one step, return 1 if the action's first entry is positive
        def reset(self, seed: int | None = None) -> tuple[dict, dict]:
            return {"state": np.ones(3, np.float32)}, {}

        def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
            ok = bool(action[0] > 0)
            return {"state": np.zeros(3, np.float32)}, float(ok), True, False, {"is_success": ok}

    layer = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    policy = CertifiablePolicy(layer)
    # sigma = 0.01 around a first coordinate of 1: every smoothed episode succeeds
    cert = certify_smoothing(
        policy,
        OneStep(),
        sigma=0.01,
        budgets=[0.0, 0.01],
        episodes=50,
        alpha=0.05,
        thresholds=[1.0],
    )
    assert cert.successes == 50 and cert.mean_return == 1.0
    b0, b1 = cert.rows
    # B = 0: E[R] >= 1 * (1 - eps_DKW); P >= 0.05^(1/50) (Clopper-Pearson, all successes)
    assert b0.certified_expected_return == pytest.approx(1.0 - dkw_epsilon(50, 0.05), abs=1e-12)
    assert b0.certified_success_probability == pytest.approx(0.05 ** (1 / 50), abs=1e-9)
    assert b0.certified_return_probability["1"] == pytest.approx(0.05 ** (1 / 50), abs=1e-9)
    # B = sigma: Phi(Phi^-1(p) - 1)
    assert b1.certified_success_probability == pytest.approx(
        neyman_pearson(0.05 ** (1 / 50), 1.0, 1.0), abs=1e-12
    )
    assert b1.certified_expected_return < b0.certified_expected_return
    assert "budget B" in cert.table()
