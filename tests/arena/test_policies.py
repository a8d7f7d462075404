"""Policy specs: the built-in kinds, a trained-policy checkpoint (RLPD, and the same file read
by the certification issue's loader) and a factory named by module path, all through the runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robolearn.arena.policies import (
    ExpertPolicy,
    Policy,
    PolicyError,
    RandomPolicy,
    make_policy,
    split_policy_entry,
)
from robolearn.arena.runner import ArenaConfig, load_results, run_arena


class ConstantPolicy(Policy):
    """Moves straight up: a stand-in for any external policy."""

    def act(self, obs: dict, env: object) -> np.ndarray:
        return np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0])


def make_constant(arg: str | None) -> Policy:
    return ConstantPolicy()


def test_specs() -> None:
    assert isinstance(make_policy("expert"), ExpertPolicy)
    assert make_policy("noisy_expert:0.25").config.noise_std == 0.25
    assert isinstance(make_policy("random"), RandomPolicy)
    assert isinstance(make_policy("tests.arena.test_policies:make_constant"), ConstantPolicy)
    with pytest.raises(PolicyError, match="unknown policy"):
        make_policy("nope")
    with pytest.raises(PolicyError, match="needs a number"):
        make_policy("noisy_expert:loud")
    with pytest.raises(PolicyError, match="cannot import"):
        make_policy("tests.arena.nothing:make")
    with pytest.raises(PolicyError, match="not an RLPD checkpoint|cannot read"):
        make_policy("rlpd:/nonexistent.safetensors")


def test_named_specs() -> None:
    assert split_policy_entry("serl=rlpd:runs/a=b/ckpt") == ("serl", "rlpd:runs/a=b/ckpt")
    assert split_policy_entry("rlpd:runs/a=b") == ("rlpd:runs/a=b", "rlpd:runs/a=b")
    assert split_policy_entry("noisy_expert:0.5") == ("noisy_expert:0.5", "noisy_expert:0.5")
    assert make_policy("teacher=noisy_expert:0.25").config.noise_std == 0.25
    with pytest.raises(PolicyError, match="no complete learner checkpoint"):
        make_policy(f"serl=rlpd:{Path(__file__).parent}")


def test_checkpoint_and_factory_policies_run_in_the_arena(tmp_path: Path) -> None:
    from robolearn.envs.robot_env import make_twin_env
    from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

    env = make_twin_env("pick_cube")
    agent = RLPDAgent(
        env.observation_space, env.action_space, RLPDConfig(hidden_dims=(32, 32), num_critics=2)
    )
    ckpt = agent.save(tmp_path / "agent.safetensors")
    env.close()
    specs = [f"rlpd:{ckpt}", f"certified:{ckpt}", "tests.arena.test_policies:make_constant"]
    entries = [*specs[:2], f"constant={specs[2]}"]  # shown under its name
    config = ArenaConfig(policies=entries, suite="nominal", seeds=1, videos=0, episode_seconds=2.0)
    summary = run_arena(config, tmp_path / "out", executor="serial", progress=False)
    assert summary.ran == 3
    results = {r["policy"]: r for r in load_results(tmp_path / "out")}
    assert set(results) == {*specs[:2], "constant"}
    assert results["constant"]["policy_spec"] == entries[2]
    assert all(r["steps"] == 20 for r in results.values())  # 2 s at 10 Hz, no success
    # the same deterministic actor, read by both loaders, takes the same path
    assert results[specs[0]]["terms"] == pytest.approx(results[specs[1]]["terms"], abs=1e-4)
