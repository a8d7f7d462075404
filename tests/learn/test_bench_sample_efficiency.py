"""robolearn.bench.sample_efficiency runs end to end on a tiny budget (no learning target here:
the learning itself is tested in test_train.py; this checks the report, the medians and the
plot)."""

from __future__ import annotations

import json
import math

from robolearn.bench import sample_efficiency
from robolearn.bench.sample_efficiency import median_steps, steps_to


def test_steps_to_first_crossing():
    curve = [(0, 0.0), (100, 0.92), (200, 0.5), (300, 1.0)]
    assert steps_to(curve) == 100
    assert steps_to(curve, 0.95) == 300
    assert steps_to([(0, math.nan), (10, 0.2)]) is None


def test_median_counts_a_seed_that_never_got_there_as_late():
    assert median_steps([1000, 2000, None]) == 2000
    assert median_steps([1000, None, None]) is None
    assert median_steps([3000, 1000, 2000, 4000]) == 2500


def test_tiny_run_report_and_plot(tmp_path):
    tiny = ["agent.hidden_dims=[16, 16]", "agent.batch_size=16", "loop.learning_starts=60"]
    report = sample_efficiency.run_benchmark(
        steps=120,
        demos=1,
        seeds=2,
        eval_every=60,
        eval_episodes=1,
        overrides=tiny,
        progress=False,
        plot=tmp_path / "curve.png",
    )
    json.dumps(report)
    assert set(report["learners"]) == {"default", "rlpd", "sb3"}
    default = report["learners"]["default"]
    assert default["seeds"] == 2 and [p["seed"] for p in default["per_seed"]] == [0, 1]
    assert [s for s, _ in default["curves"]["0"]] == [0, 60, 120]
    assert [s for s, _ in report["learners"]["sb3"]["curves"]["1"]] == [0, 60, 120]
    assert default["config"]["agent"]["hidden_dims"] == [16, 16]
    # the paper's RLPD is stopped at the default learner's median CPU seconds (equal compute)
    assert abs(report["rlpd_cpu_cap_s"] - default["median_cpu_seconds"]) < 0.1
    for p in report["learners"]["rlpd"]["per_seed"]:
        assert p["env_steps"] <= 120 and (p["time_limited"] or p["env_steps"] == 120)
    for summary in report["learners"].values():
        for p in summary["per_seed"]:
            assert 0.0 <= p["success_at_end"] <= 1.0 and p["cpu_seconds"] > 0
    assert report["targets_met"]["median_steps_to_90"] == (report["median_steps_to_90"] is not None)
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert "steps to 90%" in sample_efficiency.format_table(report)
    table = sample_efficiency.markdown(report)
    assert "| **default** | median |" in table and "| sb3 | 1 |" in table


def test_runs_dir_saves_each_run_and_a_rerun_reuses_it(tmp_path, monkeypatch):
    tiny = ["agent.hidden_dims=[16, 16]", "agent.batch_size=16", "loop.learning_starts=30"]
    kwargs = dict(
        steps=60, demos=1, seeds=1, learners=["default"], eval_every=60, eval_episodes=1,
        overrides=tiny, progress=False, runs_dir=tmp_path / "runs",
    )  # fmt: skip
    first = sample_efficiency.run_benchmark(**kwargs)
    saved = tmp_path / "runs" / "default_seed0.json"
    assert json.loads(saved.read_text())["spec"]["steps"] == 60

    def no_training(**_):
        raise AssertionError("a saved run with equal settings was trained again")

    monkeypatch.setattr(sample_efficiency, "run_rlpd", no_training)
    again = sample_efficiency.run_benchmark(**kwargs)
    assert again["learners"]["default"]["curves"] == first["learners"]["default"]["curves"]
    # another setting is not taken from the saved run
    kwargs["steps"] = 90
    try:
        sample_efficiency.run_benchmark(**kwargs)
    except AssertionError as err:
        assert "trained again" in str(err)
    else:
        raise AssertionError("a run saved with steps=60 was reused for steps=90")
