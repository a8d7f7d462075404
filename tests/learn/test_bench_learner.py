"""robolearn.bench.learner_throughput runs end to end (tiny budgets; no timing targets)."""

from __future__ import annotations

import importlib
import json
import math

import pytest

from robolearn.bench import learner_throughput

KEYS = (
    "updates_per_s_2q",
    "updates_per_s_10q",
    "updates_per_s_default",
    "sb3_updates_per_s",
    "ratio_vs_sb3_same_critics",
    "ratio_vs_sb3_ensemble",
    "flops_per_update_2q",
    "flops_per_update_10q",
    "flops_per_update_default",
    "sb3_flops_per_update",
    "fraction_of_gemm_peak_2q",
    "fraction_of_gemm_peak_10q",
    "fraction_of_gemm_peak_default",
    "sb3_fraction_of_gemm_peak",
    "gemm_peak_gflops",
)
PER_CONFIGURATION = ("updates_per_s", "flops_per_update", "fraction_of_gemm_peak")


def _positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def report():
    importlib.import_module("stable_baselines3")
    return learner_throughput.run_benchmark(
        seconds=0.05, warmup=1, rounds=1, gemm_seconds=0.05, progress=False
    )


def test_report_keys_and_values(report):
    for key in KEYS:
        assert _positive(report[key]), (key, report[key])
    assert report["ratio_vs_sb3_same_critics"] == pytest.approx(
        report["updates_per_s_2q"] / report["sb3_updates_per_s"]
    )
    assert report["ratio_vs_sb3_ensemble"] == pytest.approx(
        report["updates_per_s_10q"] / report["sb3_updates_per_s"]
    )
    assert set(report["targets_met"]) == {
        "ratio_vs_sb3_same_critics",
        "ratio_vs_sb3_ensemble",
        "all",
    }
    assert report["setup"]["batch_size"] == 256 and report["setup"]["hidden"] == [256, 256]
    assert report["setup"]["obs_dim"] == 35 and report["setup"]["action_dim"] == 7
    assert report["setup"]["threads"] == 1 and report["setup"]["device"] == "cpu"
    json.dumps(report)


def test_every_configuration_has_rate_flops_and_fraction(report):
    configurations = report["configurations"]
    assert set(configurations) == set(learner_throughput.LEARNERS)
    for name, entry in configurations.items():
        for key in PER_CONFIGURATION:
            assert _positive(entry[key]), (name, key, entry[key])
        assert 0 < entry["fraction_of_gemm_peak"] < 2, (name, entry["fraction_of_gemm_peak"])
        assert entry["fraction_of_gemm_peak"] == pytest.approx(
            entry["flops_per_update"] * entry["updates_per_s"] / 1e9 / report["gemm_peak_gflops"]
        )
        assert entry["device"] == "cpu"
    assert configurations["ours_2q"]["updates_per_s"] == report["updates_per_s_2q"]
    assert configurations["sb3"]["flops_per_update"] == report["sb3_flops_per_update"]


def test_flops_follow_the_configuration(report):
    from robolearn.learn.rlpd import RLPDConfig

    cfg = report["configurations"]
    assert report["flops_per_update_10q"] > report["flops_per_update_2q"]
    # the same matrix products with and without LayerNorm
    assert cfg["ours_2q_no_layernorm"]["flops_per_update"] == report["flops_per_update_2q"]
    for name in ("ours_2q", "ours_10q"):
        assert cfg[name]["critic_steps_per_update"] == 1 == cfg[name]["actor_steps_per_update"]
        assert cfg[name]["config"]["num_critics"] == int(name[len("ours_") : -1])
    # ours_default is RLPDConfig() as it is today, not a copy of its values
    default = RLPDConfig()
    assert cfg["ours_default"]["config"]["num_critics"] == default.num_critics
    assert cfg["ours_default"]["critic_steps_per_update"] == default.utd_ratio
    per_update = default.utd_ratio / default.actor_every
    assert math.floor(per_update) <= cfg["ours_default"]["actor_steps_per_update"]
    assert cfg["ours_default"]["actor_steps_per_update"] <= math.ceil(per_update)


def test_main_prints_only_json(capsys):
    importlib.import_module("stable_baselines3")
    argv = ["--json", "--steps", "1", "--warmup", "0", "--rounds", "1", "--no-progress"]
    assert learner_throughput.main([*argv, "--gemm-seconds", "0.02"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(KEYS) <= set(out)
    assert out["setup"]["steps_per_round"] == 1


def test_table_lists_every_configuration(report):
    table = learner_throughput.format_table(report)
    for name in learner_throughput.LEARNERS:
        assert report["configurations"][name]["label"] in table
    assert "GEMM peak" in table


def test_agent_device_keyword_is_used_only_when_present(monkeypatch):
    import inspect

    from robolearn.learn import rlpd

    takes_device = "device" in inspect.signature(rlpd.RLPDAgent).parameters
    assert learner_throughput._agent_kwargs("cpu") == ({"device": "cpu"} if takes_device else {})

    class OldAgent:  # an RLPDAgent from before the device option
        def __init__(self, observation_space, action_space, config=None) -> None: ...

    monkeypatch.setattr(rlpd, "RLPDAgent", OldAgent)
    assert learner_throughput._agent_kwargs("cpu") == {}


def test_config_device_field_is_set_when_present(monkeypatch):
    import dataclasses

    from robolearn.learn import rlpd

    @dataclasses.dataclass
    class ConfigWithDevice:
        num_critics: int = 10
        seed: int = 0
        device: str = "auto"

    monkeypatch.setattr(rlpd, "RLPDConfig", ConfigWithDevice)
    config = learner_throughput.ours_config({"num_critics": 2}, seed=3, device="cpu")
    assert (config.num_critics, config.seed, config.device) == (2, 3, "cpu")


def test_bad_arguments():
    with pytest.raises(SystemExit):
        learner_throughput.main(["--steps", "0"])
    with pytest.raises(SystemExit):
        learner_throughput.main(["--device", "tpu"])
    with pytest.raises(ValueError):
        learner_throughput.run_benchmark(steps=0)
    with pytest.raises(ValueError):
        learner_throughput.run_benchmark(seconds=0)
    with pytest.raises(ValueError):
        learner_throughput.run_benchmark(device="tpu")


def test_cuda_without_a_gpu_is_an_error_not_a_fallback():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(SystemExit):
        learner_throughput.main(["--device", "cuda"])
