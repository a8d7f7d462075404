"""robolearn.bench.ros_latency runs end to end (tiny counts; no timing assertions)."""

from __future__ import annotations

import json
import math

import pytest

from robolearn.bench import ros_latency

KEYS = (
    "rtt_p50_ms",
    "rtt_p99_ms",
    "joint_states_hz_at_500",
    "joint_states_hz_at_1000",
    "jitter_p99_ms",
    "jitter_p99_ms_at_500",
    "rtt_p50_ms_at_1000",
    "rtt_p99_ms_at_1000",
)


def _positive_finite(value) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


@pytest.fixture(scope="module")
def report():
    return ros_latency.run_benchmark(trials=10, window_s=1.0, warmup_s=0.5, progress=False)


def test_report_keys_and_values(report):
    for key in KEYS:
        assert _positive_finite(report[key]), (key, report[key])
    assert report["rtt_p50_ms"] <= report["rtt_p99_ms"]
    assert set(report["targets_met"]) == {"rtt_p99_ms", "joint_states_hz_at_500", "all"}
    assert all(isinstance(v, bool) for v in report["targets_met"].values())
    samples = report["samples"]
    assert samples["rtt_trials_at_500"] == samples["rtt_trials_at_1000"] == 10
    for key, count in samples.items():
        assert isinstance(count, int) and count > 0, key
    for key in ("cpu_count", "python", "rclpy", "rmw"):
        assert report["machine"][key]
    assert report["method"]["discovery_range"] == "LOCALHOST"
    assert report["method"]["domain_id"] in ros_latency.DOMAIN_RANGE
    json.dumps(report)  # serialisable


def test_details_per_rate(report):
    assert set(report["details"]) == {"500", "1000"}
    for hz, detail in report["details"].items():
        js, rtt = detail["joint_states"], detail["rtt"]
        assert js["requested_hz"] == float(hz)
        assert js["messages"] > 1 and _positive_finite(js["hz"])
        assert _positive_finite(js["jitter_ms"]["p99"])
        assert rtt["trials"] == 10
        assert 0 < rtt["responses"] <= 10 - rtt["timeouts"]  # unsettled trials are left out
        assert all(_positive_finite(rtt["rtt_ms"][k]) for k in ("p50", "p99", "max"))


def test_main_prints_only_json_and_writes_out(report, tmp_path, capsys, monkeypatch):
    seen = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        return report

    monkeypatch.setattr(ros_latency, "run_benchmark", fake_run)
    out = tmp_path / "sub" / "ros.json"
    argv = ["--json", "--trials", "3", "--window", "0.5", "--no-progress", "--out", str(out)]
    assert ros_latency.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert seen["trials"] == 3 and seen["window_s"] == 0.5 and seen["progress"] is False
    assert seen["client_executor"] == "single"  # as RosRobotEnv


def test_cli_rejects_bad_options():
    parser = ros_latency.build_parser()
    for bad in (["--trials", "0"], ["--window", "0"], ["--client-executor", "nope"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
