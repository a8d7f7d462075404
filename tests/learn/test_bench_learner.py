"""robolearn.bench.learner_throughput runs end to end (tiny step counts; no timing targets)."""

from __future__ import annotations

import importlib
import json
import math

import pytest

from robolearn.bench import learner_throughput

KEYS = (
    "updates_per_s_2q",
    "updates_per_s_10q",
    "sb3_updates_per_s",
    "ratio_vs_sb3_same_critics",
    "ratio_vs_sb3_ensemble",
)


@pytest.fixture(scope="module")
def report():
    importlib.import_module("stable_baselines3")
    return learner_throughput.run_benchmark(steps=2, warmup=1, rounds=1, progress=False)


def test_report_keys_and_values(report):
    for key in KEYS:
        assert isinstance(report[key], float) and math.isfinite(report[key]) and report[key] > 0
    assert report["ratio_vs_sb3_same_critics"] == pytest.approx(
        report["updates_per_s_2q"] / report["sb3_updates_per_s"]
    )
    assert set(report["targets_met"]) == {
        "ratio_vs_sb3_same_critics",
        "ratio_vs_sb3_ensemble",
        "all",
    }
    assert report["setup"]["batch_size"] == 256 and report["setup"]["hidden"] == [256, 256]
    assert report["setup"]["obs_dim"] == 35 and report["setup"]["action_dim"] == 7
    assert report["setup"]["threads"] == 1
    json.dumps(report)


def test_main_prints_only_json(capsys):
    importlib.import_module("stable_baselines3")
    assert (
        learner_throughput.main(
            ["--json", "--steps", "1", "--warmup", "0", "--rounds", "1", "--no-progress"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert set(KEYS) <= set(json.loads(out))


def test_bad_arguments():
    with pytest.raises(SystemExit):
        learner_throughput.main(["--steps", "0"])
    with pytest.raises(ValueError):
        learner_throughput.run_benchmark(steps=0)
