"""Learner: online/demo routing of interventions, the update-to-data ratio, atomic checkpoints
that resume exactly."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from robolearn.learn.learner import CheckpointError, Learner
from robolearn.learn.replay import ReplayBuffer
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig
from tests.learn.toy_envs import PointGoalEnv

CONFIG = {"hidden_dims": (16, 16), "batch_size": 8, "utd_ratio": 2, "num_critics": 4}


def _rollout(env: PointGoalEnv, n: int, seed: int) -> dict:
    """n random transitions of the toy env as a batch (replay.py's layout)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows: dict[str, list] = {k: [] for k in ("obs", "next_obs", "action", "reward", "terminated")}
    rows["truncated"] = []
    for _ in range(n):
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(
            rows, (obs, next_obs, action, reward, terminated, truncated), strict=True
        ):
            rows[key].append(value)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    return {
        k: np.stack(v) if k in ("obs", "next_obs", "action") else np.array(v)
        for k, v in rows.items()
    }


def _learner(demos: ReplayBuffer | None = None, capacity: int = 500, **kwargs) -> Learner:
    env = PointGoalEnv()
    agent = RLPDAgent(env.observation_space, env.action_space, RLPDConfig(**CONFIG, seed=3))
    online = ReplayBuffer(env.observation_space, env.action_space, capacity)
    return Learner(agent, online, demos, **kwargs)


def _demos(n: int = 30) -> ReplayBuffer:
    env = PointGoalEnv()
    buffer = ReplayBuffer(env.observation_space, env.action_space, n)
    buffer.add_batch(_rollout(env, n, seed=99))
    return buffer


def test_interventions_go_into_both_buffers_and_grow_the_demos():
    demos = _demos(30)
    prior = demos.batch(np.arange(30))
    learner = _learner(demos, learning_starts=0)
    batch = _rollout(PointGoalEnv(), 50, seed=1)
    mask = np.zeros(50, bool)
    mask[[3, 4, 10, 49]] = True
    learner.add(batch, intervened=mask)
    assert (learner.env_steps, learner.intervention_steps) == (50, 4)
    assert len(learner.online) == 50 and len(learner.demos) == 34
    # the prior demos are kept (the buffer grew), the intervention rows follow them
    np.testing.assert_array_equal(learner.demos.obs[""][:30], prior["obs"][""])
    np.testing.assert_array_equal(learner.demos.obs[""][30:34], batch["obs"][mask])
    np.testing.assert_array_equal(learner.demos.action[30:34], batch["action"][mask])
    assert learner.counters()["intervention_rate"] == pytest.approx(4 / 50)
    with pytest.raises(ValueError, match="flags"):
        learner.add(batch, intervened=mask[:10])


def test_first_intervention_creates_the_demo_buffer():
    learner = _learner(None, learning_starts=0)
    env = PointGoalEnv()
    obs, _ = env.reset(seed=0)
    next_obs, *_ = env.step(np.zeros(2, np.float32))
    learner.add_transition(obs, np.zeros(2, np.float32), 0.0, next_obs, False, False)
    assert learner.demos is None
    learner.add_transition(obs, np.ones(2, np.float32), 1.0, next_obs, True, False, intervened=True)
    assert len(learner.demos) == 1 and learner.demos.reward[0] == 1.0
    assert (learner.env_steps, learner.intervention_steps, len(learner.online)) == (2, 1, 2)
    metrics = learner.update()  # now 50/50 batches from the new demo buffer
    assert metrics["critic_loss"] >= 0 and learner.updates == 2


def test_update_to_data_ratio_and_learning_starts():
    learner = _learner(_demos(), learning_starts=20)
    learner.add(_rollout(PointGoalEnv(), 19, seed=2))
    assert not learner.ready() and learner.update(19) == {} and learner.updates == 0
    learner.add(_rollout(PointGoalEnv(), 5, seed=3))
    assert learner.ready()
    metrics = learner.update(new_env_steps=3)  # utd_ratio 2: 6 critic steps
    assert learner.updates == 6 and learner.agent.critic_steps == 6
    assert {"critic_loss", "q", "temperature", "utd"} <= set(metrics)
    assert metrics["utd"] == pytest.approx(6 / (24 - 20 + 1))
    learner.record_episode(True, episode_return=1.0, length=10, interventions=2)
    learner.record_episode(False, length=5)
    assert (learner.episodes, learner.successes) == (2, 1)
    assert learner.last_episode["intervention_rate"] == 0.0


def test_normaliser_is_fitted_on_both_buffers_before_the_first_update():
    env = PointGoalEnv()
    config = RLPDConfig(**CONFIG, encoder_options={"normalize": True})
    agent = RLPDAgent(env.observation_space, env.action_space, config)
    learner = Learner(
        agent,
        ReplayBuffer(env.observation_space, env.action_space, 100),
        _demos(),
        learning_starts=0,
    )
    learner.add(_rollout(env, 10, seed=4))
    assert agent.needs_observation_stats
    learner.update()
    assert not agent.needs_observation_stats
    both = np.concatenate([learner.online.obs[""][:10], learner.demos.obs[""][:30]])
    torch.testing.assert_close(agent.encoder.mean, torch.as_tensor(both.mean(0)))


def _continue(learner: Learner, seed: int) -> None:
    env = PointGoalEnv()
    for i in range(3):
        batch = _rollout(env, 7, seed=seed + i)
        learner.add(batch, intervened=np.arange(7) % 3 == 0)
        learner.update(7)
        learner.record_episode(i % 2 == 0, length=7, interventions=3)


def test_save_and_load_continue_exactly(tmp_path):
    """Same seed: a run saved and resumed in a new Learner ends bit-identical to the run that
    kept going (agent incl. optimizer moments and RNG, buffers, counters, sampling RNG)."""
    a = _learner(_demos(), capacity=40, learning_starts=5)
    _continue(a, seed=10)
    path = a.save(tmp_path / "ckpt", extra={"note": "hi"})
    assert path.parent == tmp_path / "ckpt" and (tmp_path / "ckpt" / "latest").is_file()
    state = json.loads((path / "learner.json").read_text())
    assert state["counters"]["env_steps"] == 21 and state["format_version"] == 1
    b = Learner.load(tmp_path / "ckpt")
    assert b.extra == {"note": "hi"}
    for name in ("env_steps", "updates", "episodes", "successes", "intervention_steps"):
        assert getattr(b, name) == getattr(a, name), name
    assert (len(b.online), len(b.demos), b.demos.capacity) == (21, 39, a.demos.capacity)
    _continue(a, seed=20)  # 42 steps in total: the 40-row online ring wraps
    _continue(b, seed=20)
    assert a.online.size == 40 and a.online.ptr == 2
    sa, sb = a.agent.state_dict(), b.agent.state_dict()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    np.testing.assert_array_equal(a.online.obs[""], b.online.obs[""])
    np.testing.assert_array_equal(a.demos.action[: len(a.demos)], b.demos.action[: len(b.demos)])
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


def test_keeps_the_previous_checkpoint_and_ignores_partial_ones(tmp_path):
    learner = _learner(_demos(), learning_starts=0)
    root = tmp_path / "ckpt"
    saved = []
    for i in range(3):
        learner.add(_rollout(PointGoalEnv(), 4, seed=i))
        saved.append(learner.save(root))
    assert sorted(p.name for p in root.glob("ckpt-*")) == [saved[1].name, saved[2].name]
    assert (root / "latest").read_text() == saved[2].name
    # A save killed before its rename leaves only a temporary directory: latest is unaffected,
    # and the next save cleans it up.
    partial = root / f".tmp-ckpt-000004-step-99-{12345}"
    partial.mkdir()
    (partial / "agent.safetensors").write_bytes(b"\0" * 10)
    assert Learner.latest(root) == saved[2]
    assert Learner.load(root).env_steps == 12
    # latest naming a damaged checkpoint falls back to the newest complete one
    (saved[2] / "learner.json").unlink()
    assert Learner.latest(root) == saved[1] and Learner.load(root).env_steps == 8
    learner.save(root)
    assert not partial.exists()


def test_load_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no complete learner checkpoint"):
        Learner.load(tmp_path)


def test_a_checkpoint_of_another_env_or_config_is_refused_naming_the_difference(tmp_path):
    """Resuming into another task's spaces or another agent config stops with a message that
    says what differs (it used to fail half way with a tensor size mismatch)."""
    learner = _learner(learning_starts=10)
    learner.add(_rollout(PointGoalEnv(), 40, seed=1))
    learner.update(1)
    learner.save(tmp_path)
    other = PointGoalEnv(dict_obs=True)  # another observation layout
    with pytest.raises(CheckpointError, match="observations of another env"):
        Learner.load(tmp_path, observation_space=other.observation_space)
    wide = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    with pytest.raises(CheckpointError, match=r"actions of shape \(2,\)"):
        Learner.load(tmp_path, action_space=wide)
    changed = RLPDConfig(**{**CONFIG, "num_critics": 2}, seed=3)
    with pytest.raises(CheckpointError, match="num_critics: 4 -> 2"):
        Learner.load(tmp_path, expected_config=changed)
    same = RLPDConfig(**CONFIG, seed=11)  # the seed is not what a run learns
    assert Learner.load(tmp_path, expected_config=same).env_steps == 40


def test_nstep_targets_sum_rewards_until_the_episode_ends():
    """The learner's n-step batches: rewards summed with gamma^k, the bootstrap discount gamma^m
    of the m steps used, stopping at terminations, truncations and breaks in the buffer."""
    env = PointGoalEnv()
    buffer = ReplayBuffer(env.observation_space, env.action_space, 20)
    s = [np.array([i, 0, 0, 0], np.float32) for i in range(5)]
    for t in range(4):  # a 4-step episode ending in success
        buffer.add(s[t], [0, 0], float(t == 3), s[t + 1], t == 3, False)
    u = [np.array([i, 1, 0, 0], np.float32) for i in range(4)]
    for t in range(3):  # a 3-step episode cut by the time limit
        buffer.add(u[t], [0, 0], 0.5, u[t + 1], False, t == 2)
    b = buffer.nstep_batch(np.arange(7), 3, 0.9)
    np.testing.assert_allclose(b["reward"], [0, 0.81, 0.9, 1, 1.355, 0.95, 0.5], rtol=1e-6)
    np.testing.assert_allclose(b["discount"], [0.729, 0.729, 0.81, 0.9, 0.729, 0.81, 0.9])
    assert b["terminated"].tolist() == [False, True, True, True, False, False, False]
    assert b["next_obs"][""][:, 0].tolist() == [3, 4, 4, 4, 3, 3, 3]
    one = buffer.nstep_batch(np.arange(7), 1, 0.9)
    np.testing.assert_allclose(one["reward"], buffer.reward[:7])
    assert np.allclose(one["discount"], 0.9)
