"""CPA: identical tasks transfer labels unchanged, permuted targets get permuted labels."""

from __future__ import annotations

import numpy as np
import pytest

from robolearn.preference.alignment import (
    AlignmentConfig,
    cpa,
    segment_features,
    transfer_labels,
)


def _problem(seed: int = 0, n: int = 40, m: int = 60):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 6))
    # distinct unordered pairs: a pair and its reverse would average their labels
    upper = np.array([(i, j) for i in range(n) for j in range(i + 1, n)])
    pairs = upper[rng.choice(len(upper), m, replace=False)]
    pairs[::2] = pairs[::2, ::-1]  # both orders occur
    labels = rng.choice([0.0, 0.5, 1.0], size=len(pairs))
    return features, pairs, labels


@pytest.mark.parametrize("method", ["exact", "entropic"])
def test_identical_source_and_target_keep_the_labels(method):
    features, pairs, labels = _problem()
    config = AlignmentConfig(method=method, epsilon=1e-3)
    out, plan = cpa(features, pairs, labels, features, pairs, config)
    n = len(features)
    assert np.allclose(plan.sum(axis=1), 1 / n, atol=1e-6)  # a transport plan
    if method == "exact":
        assert np.allclose(plan, np.eye(n) / n, atol=1e-8)
        assert np.allclose(out.labels, labels, atol=1e-6)
    else:  # entropic smooths the plan a little; labels still match closely
        assert np.abs(out.labels - labels).max() < 0.05
    assert out.confidence.max() == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["exact", "entropic"])
def test_permuted_target_gets_permuted_labels(method):
    features, pairs, labels = _problem(seed=1)
    perm = np.random.default_rng(2).permutation(len(features))
    target = features[perm]  # target segment i is source segment perm[i]
    inverse = np.argsort(perm)
    target_pairs = inverse[pairs]  # the same pairs, in target indices
    out, plan = cpa(
        features, pairs, labels, target, target_pairs, AlignmentConfig(method=method, epsilon=1e-3)
    )
    assert np.abs(out.labels - labels).max() < (1e-6 if method == "exact" else 0.05)
    # and the plan is the permutation
    assert np.array_equal(plan.argmax(axis=0), perm)


def test_transfer_weights_and_confidence():
    plan = np.array([[0.5, 0.0], [0.0, 0.5]])  # source 0 -> target 0, source 1 -> target 1
    out = transfer_labels(
        plan, np.array([[0, 1]]), np.array([1.0]), np.array([[0, 1], [1, 0], [0, 0]])
    )
    assert out.labels[0] == pytest.approx(1.0)
    assert out.labels[1] == pytest.approx(0.0)  # the reversed pair
    assert out.labels[2] == pytest.approx(0.5) and out.confidence[2] == 0.0  # no support
    assert out.confidence[0] == pytest.approx(1.0)


def test_segment_features_shape_and_errors():
    states = np.random.default_rng(0).normal(size=(4, 10, 31))
    assert segment_features(states).shape == (4, 6)
    with pytest.raises(ValueError, match="robolearn states"):
        segment_features(states[:, :, :20])
