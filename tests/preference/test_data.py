"""Preference files beside a real (twin-recorded) dataset: storage round trip, restart
persistence, scripted labels, transfer between two datasets, relabelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robolearn.data.store import EpisodeStore
from robolearn.label import LabelLog
from robolearn.preference.collect import collect_varied
from robolearn.preference.data import PreferencePair, load_pairs, preference_path, save_pairs
from robolearn.preference.labeller import ScriptedLabellerConfig, label_returns
from robolearn.preference.pipeline import fit_reward, label_dataset, transfer
from robolearn.preference.reward import RewardModelConfig, relabel_dataset
from robolearn.preference.segments import SegmentData, SegmentRef


@pytest.fixture(scope="module")
def reach_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("pref") / "reach"
    collect_varied(
        "reach", path, episodes=6, qualities=("expert", "noisy0.6", "random"), progress=False
    )
    return path


def test_collected_qualities_are_ordered(reach_dataset):
    with EpisodeStore.open(reach_dataset) as store:
        assert "reward_dense" in store.schema and store.n_episodes == 6
        returns = {}
        for i in range(store.n_episodes):
            q = store.episode_meta(i).operator
            returns.setdefault(q, []).append(
                float(store.episode(i, ["reward_dense"])["reward_dense"].sum())
            )
    assert np.mean(returns["expert"]) > np.mean(returns["noisy0.6"]) > np.mean(returns["random"])


def test_storage_round_trip_and_restart(reach_dataset, tmp_path):
    a = SegmentRef("ep-a", 0, 0, 10)
    b = SegmentRef("ep-b", 1, 5, 15)
    pairs = [
        PreferencePair(a, b, 1.0, labeller="ann"),
        PreferencePair(b, a, 0.5, labeller="ann"),
        PreferencePair(a, b, 0.73, labeller="cpa", confidence=0.4),
    ]
    path = save_pairs(tmp_path / "ds.preferences" / "human.jsonl", pairs)
    loaded = load_pairs(path)  # a fresh reader: what a restarted process sees
    assert loaded == pairs
    # a web-page answer of the same pair wins over the earlier label; skips are dropped
    record = pairs[0].to_record()
    assert record.choice == "left" and record.meta["a"]["episode_id"] == "ep-a"
    LabelLog(path).append(type(record)(record.pair_id, "right", "bob", meta=record.meta))
    LabelLog(path).append(type(record)(pairs[1].pair_id, "skip", "bob", meta=record.meta))
    again = {p.pair_id: p for p in load_pairs(path)}
    assert again[pairs[0].pair_id].label == 0.0 and again[pairs[0].pair_id].labeller == "bob"
    assert pairs[1].pair_id not in again
    assert (
        preference_path(reach_dataset, "x")
        == reach_dataset.with_name("reach.preferences") / "x.jsonl"
    )


def test_scripted_labeller_noise_rate():
    rng = np.random.default_rng(0)
    ra, rb = rng.normal(size=5000), rng.normal(size=5000)
    labels, truth = label_returns(ra, rb, ScriptedLabellerConfig(flip_rate=0.3, seed=1))
    assert np.array_equal(truth, (ra > rb).astype(float))
    assert abs(np.mean(labels != truth) - 0.3) < 0.02
    labels, truth = label_returns(ra, rb, ScriptedLabellerConfig(equal_margin=0.05))
    assert np.any(labels == 0.5)


def test_label_transfer_and_relabel_on_twin_data(reach_dataset, tmp_path):
    """reach -> reach (another dataset of the same task): transferred labels beat chance by far,
    and a reward learned from them relabels the dataset, correlating with the true reward."""
    torch.set_num_threads(1)
    target = tmp_path / "reach_target"
    collect_varied(
        "reach",
        target,
        episodes=6,
        qualities=("expert", "noisy0.6", "random"),
        seed=50,
        progress=False,
    )
    path = label_dataset(reach_dataset, n_segments=60, n_pairs=200, segment_length=20, name="human")
    assert len(load_pairs(path)) == 200
    result = transfer(reach_dataset, target, n_target_segments=60, n_target_pairs=200, seed=1)
    assert (
        result.path == preference_path(target, "transferred")
        and len(load_pairs(result.path)) == 200
    )
    returns = result.target_data.true_returns()
    _, truth = label_returns(
        returns[result.target_pairs[:, 0]],
        returns[result.target_pairs[:, 1]],
        ScriptedLabellerConfig(),
    )
    strict = truth != 0.5
    accuracy = np.mean((result.labels.labels[strict] > 0.5) == (truth[strict] > 0.5))
    print(f"reach -> reach transferred-label accuracy {accuracy:.3f}")
    assert accuracy > 0.8

    model = fit_reward(
        target, "transferred", RewardModelConfig(epochs=30), out=tmp_path / "r.safetensors"
    )
    out = relabel_dataset(model, target, tmp_path / "relabelled")
    with EpisodeStore.open(out) as store:
        learned = store.array("reward")[: store.n_steps]
        true = store.array("reward_dense")[: store.n_steps]
        assert np.allclose(
            store.array("reward_true")[: store.n_steps],
            EpisodeStore.open(target).array("reward")[: store.n_steps],
        )
    corr = np.corrcoef(learned, true)[0, 1]
    print(f"learned vs true dense reward, Pearson r = {corr:.3f}")
    assert corr > 0.5
    data = SegmentData(EpisodeStore.open(target), result.target_data.refs[:2])
    assert data.states.shape == (2, 20, 31)
