"""robolearn.bench.env_throughput runs end to end (tiny step count; no timing assertions)."""

from __future__ import annotations

import json
import math

import pytest

from robolearn.bench import env_throughput

RATES = (
    "twin_steps_per_s",
    "robosuite_steps_per_s",
    "robosuite_steps_per_s_default_timestep",
    "physics_limit_steps_per_s",
    "raw_mj_step_per_s",
    "ratio_vs_robosuite",
    "fraction_of_physics_limit",
)


def _positive_finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def report():
    return env_throughput.run_benchmark(steps=20, warmup=5, seed=3, progress=False)


def test_report_keys_and_values(report):
    for key in RATES:
        assert _positive_finite(report[key]) and report[key] > 0, key
    assert report["steps"] == 20
    assert report["seed"] == 3
    assert report["control_hz"] == 20
    assert report["physics_dt"] == 0.001
    assert report["physics_steps_per_env_step"] == 50
    assert report["raw_mj_step_per_s"] == pytest.approx(report["physics_limit_steps_per_s"] * 50)
    assert set(report["targets_met"]) == {
        "ratio_vs_robosuite",
        "fraction_of_physics_limit",
        "all",
    }
    assert all(isinstance(v, bool) for v in report["targets_met"].values())
    for key in ("cpu_count", "python", "mujoco", "robosuite"):
        assert report["machine"][key]
    assert report["warnings"] == []
    json.dumps(report)  # serialisable


def test_same_physics_timestep_everywhere(report):
    details = report["details"]
    assert details["twin"]["physics_dt"] == 0.001
    assert details["robosuite"]["physics_dt"] == 0.001
    assert details["robosuite"]["physics_steps_per_env_step"] == 50
    assert details["robosuite_default"]["physics_dt"] == 0.002
    assert details["robosuite_default"]["physics_steps_per_env_step"] == 25
    for name in ("twin", "robosuite", "robosuite_default"):
        assert details[name]["steps"] == 20
        assert details[name]["resets"] >= 0
        assert 0 <= details[name]["reset_seconds"] < details[name]["seconds"]
        assert details[name]["steps_per_s_excluding_resets"] >= details[name]["steps_per_s"]


def test_main_json_prints_only_json(tmp_path, capsys, monkeypatch):
    # Stub the measurements: this checks the command line, not the timings.
    def fake(kind, steps, seed, warmup, control_hz, progress):
        rate = {"physics": 1000.0, "twin": 600.0, "robosuite": 100.0}.get(kind, 200.0)
        result = {"steps_per_s": rate, "seconds": steps / rate, "steps": steps}
        if kind != "physics":
            result.update(resets=0, reset_seconds=0.0, steps_per_s_excluding_resets=rate)
        result["physics_dt"] = 0.002 if kind == "robosuite_default" else 0.001
        if kind == "physics":
            result.update(raw_mj_step_per_s=rate * 50, physics_steps_per_env_step=50)
        return result

    monkeypatch.setattr(env_throughput, "_run_isolated", fake)
    out = tmp_path / "bench.json"
    assert env_throughput.main(["--json", "--steps", "7", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["steps"] == 7
    assert printed["ratio_vs_robosuite"] == pytest.approx(6.0)
    assert printed["fraction_of_physics_limit"] == pytest.approx(0.6)
    assert printed["targets_met"] == {
        "ratio_vs_robosuite": True,
        "fraction_of_physics_limit": True,
        "all": True,
    }

    assert env_throughput.main(["--steps", "7", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "twin / robosuite" in text
    assert json.loads(text[text.index("\n{") :])["steps"] == 7
