"""Real-vs-sim agreement on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from robolearn.arena.metrics import mmrv, pearson_r


def test_pearson_hand_computed() -> None:
    assert pearson_r([0.1, 0.5, 0.9], [0.2, 0.6, 1.0]) == pytest.approx(1.0)
    assert pearson_r([0.1, 0.5, 0.9], [0.9, 0.5, 0.1]) == pytest.approx(-1.0)
    # R = (0, 1, 2), S = (0, 2, 1): cov = 0*... -> r = 0.5 by hand (deviations -1,0,1 and -1,1,0)
    assert pearson_r([0, 1, 2], [0, 2, 1]) == pytest.approx(0.5)
    assert math.isnan(pearson_r([0.5, 0.5], [0.1, 0.9]))


def test_mmrv_no_violation_is_zero() -> None:
    assert mmrv([0.2, 0.5, 0.9], [0.1, 0.3, 0.95]) == 0.0


def test_mmrv_hand_computed_and_argument_order() -> None:
    real = [0.9, 0.8, 0.1]
    sim = [0.5, 0.6, 0.0]  # sim swaps policies 0 and 1
    # i=0: violation with j=1, |0.9-0.8| = 0.1; i=1: with j=0, 0.1; i=2: none -> (0.1+0.1)/3
    assert mmrv(real, sim) == pytest.approx(0.2 / 3)
    # Swapped arguments measure gaps on the other vector: |0.5-0.6| = 0.1 each -> same here,
    # so use a case where the gaps differ.
    real = [1.0, 0.0, 0.5]
    sim = [0.4, 0.45, 0.5]
    # violations (real vs sim order): (0,1): R0>R1, S0<S1 -> yes; (0,2): R0>R2, S0<S2 -> yes;
    # (1,2): R1<R2, S1<S2 -> no. i=0: max(|1-0|, |1-0.5|) = 1; i=1: |0-1| = 1; i=2: |0.5-1| = 0.5
    assert mmrv(real, sim) == pytest.approx((1.0 + 1.0 + 0.5) / 3)
    # mmrv(sim, real): gaps on sim: i=0: max(0.05, 0.1) = 0.1; i=1: 0.05; i=2: 0.1
    assert mmrv(sim, real) == pytest.approx((0.1 + 0.05 + 0.1) / 3)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="same length"):
        mmrv([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="at least two"):
        pearson_r([0.1], [0.2])
    with pytest.raises(ValueError, match="finite"):
        mmrv([0.1, float("nan")], [0.1, 0.2])
