"""robolearn.bench.dataset_io runs end to end (tiny sizes; no timing assertions)."""

from __future__ import annotations

import importlib
import json
import math

import pytest

importlib.import_module("robomimic")

from robolearn.bench import dataset_io  # noqa: E402

KEYS = (
    "record_dropped_frames",
    "write_mb_per_s",
    "sample_per_s",
    "robomimic_sample_per_s",
    "ratio_vs_robomimic",
    "compression_ratio",
    "sample_per_s_all_cached",
    "robomimic_sample_per_s_all_cached",
    "ratio_vs_robomimic_all_cached",
)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return dataset_io.run_benchmark(
        seconds=1.0,
        episode_seconds=0.5,
        reset_seconds=0.2,
        batch_size=8,
        batches=2,
        render_steps=2,
        workdir=tmp_path_factory.mktemp("bench"),
        progress=False,
    )


def test_report_keys_and_values(report) -> None:
    for key in KEYS:
        assert _number(report[key]), key
        assert report[key] > 0 or key == "record_dropped_frames", key
    assert isinstance(report["record_dropped_frames"], int) and report["record_dropped_frames"] >= 0
    rec = report["recording"]
    assert rec["record_steps_scheduled"] == 30
    assert rec["record_steps_written"] == 30 - report["record_dropped_frames"]
    assert rec["record_episodes"] == 2
    assert report["sampling"]["low_dim"]["same_data"] and report["sampling"]["all"]["same_data"]
    assert report["settings"]["frames_source"].startswith("twin rollout")
    assert set(report["targets_met"]) == {"ratio_vs_robomimic", "record_dropped_frames", "all"}
    json.dumps(report)  # serialisable


def test_main_prints_only_json(tmp_path, capsys) -> None:
    out = tmp_path / "report.json"
    code = dataset_io.main(
        ["--json", "--seconds", "0.4", "--batches", "1", "--batch-size", "4", "--render-steps",
         "2", "--no-all-cached", "--workdir", str(tmp_path), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert "sample_per_s_all_cached" not in printed
    assert printed["benchmark"] == "dataset_io"
