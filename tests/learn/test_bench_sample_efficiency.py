"""robolearn.bench.sample_efficiency runs end to end on a tiny budget (no learning target here:
the learning itself is tested in test_train.py; this checks the report and the plot)."""

from __future__ import annotations

import json
import math

from robolearn.bench import sample_efficiency
from robolearn.bench.sample_efficiency import steps_to


def test_steps_to_first_crossing():
    curve = [(0, 0.0), (100, 0.92), (200, 0.5), (300, 1.0)]
    assert steps_to(curve) == 100
    assert steps_to(curve, 0.95) == 300
    assert steps_to([(0, math.nan), (10, 0.2)]) is None


def test_tiny_run_report_and_plot(tmp_path):
    report = sample_efficiency.run_benchmark(
        steps=120,
        demos=1,
        utd=1,
        eval_every=60,
        eval_episodes=1,
        learning_starts=60,
        progress=False,
        plot=tmp_path / "curve.png",
    )
    json.dumps(report)
    assert [s for s, _ in report["curves"]["ours"]] == [0, 60, 120]
    assert [s for s, _ in report["curves"]["sb3"]] == [0, 60, 120]
    assert report["updates"] == 120 - 60 + 1
    assert report["demo_transitions"] > 10
    for key in ("success_at_budget", "sb3_success_at_budget"):
        assert 0.0 <= report[key] <= 1.0
    assert report["steps_to_90"] is None or report["steps_to_90"] <= 120
    assert report["targets_met"]["steps_to_90"] == (report["steps_to_90"] is not None)
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert "steps to 90%" in sample_efficiency.format_table(report)
