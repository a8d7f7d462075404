"""Lipschitz-constrained behaviour cloning: learns on a tiny budget and keeps its hard budget."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robolearn.certify.bc import BCConfig, train_bc
from robolearn.certify.bounds import certify_lipschitz

torch.set_num_threads(1)


def test_bc_learns_the_expert_within_its_budget(reach_demos, reach_bc) -> None:
    obs, actions = reach_demos
    net, info = reach_bc
    # the expert's actions vary; predicting their mean is the baseline to beat
    baseline = float(np.square(actions - actions.mean(0)).sum(-1).mean())
    assert info["final_loss"] < 0.35 * baseline, (info, baseline)
    assert info["final_loss"] < 0.1 * info["initial_loss"]
    report = certify_lipschitz(net)
    assert report.certified_upper <= 20.0 * (1 + 1e-4)


def test_smaller_budget_fits_worse(reach_demos) -> None:
    # The trade-off at its root: a tight L cannot follow the expert's sharp switches.
    obs, actions = reach_demos
    tight, tight_info = train_bc(
        obs, actions, BCConfig(lipschitz=0.5, hidden_dims=(32, 32), steps=300)
    )
    loose, loose_info = train_bc(
        obs, actions, BCConfig(lipschitz=20, hidden_dims=(32, 32), steps=300)
    )
    assert tight_info["final_loss"] > 1.5 * loose_info["final_loss"]
    assert certify_lipschitz(tight).certified_upper <= 0.5 * (1 + 1e-4)


def test_unconstrained_baseline_has_a_finite_certificate(reach_demos) -> None:
    obs, actions = reach_demos
    net, info = train_bc(obs, actions, BCConfig(lipschitz=math.inf, hidden_dims=(32,), steps=100))
    assert info["bc"]["lipschitz"] == "inf"
    report = certify_lipschitz(net, torch.as_tensor(obs[:64]), lower_bound_steps=20)
    assert (
        math.isfinite(report.certified_upper) and report.empirical_lower <= report.certified_upper
    )


@pytest.mark.parametrize("bad", [{"lipschitz": 0.0}, {"steps": 0}, {"lr": -1.0}])
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        BCConfig(**bad)
