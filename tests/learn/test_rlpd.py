"""RLPDAgent: config, acting, update schedule, the subset-min target, temperature, checkpoints."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from robolearn.learn.replay import ReplayBuffer
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

OBS = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)})
ACT = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
SMALL = {"hidden_dims": (32, 32), "batch_size": 16}


def _buffer(n: int = 200, seed: int = 0, obs_space: gym.Space = OBS) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(obs_space, ACT, n)
    state = rng.normal(size=(n, 6)).astype(np.float32)
    next_state = rng.normal(size=(n, 6)).astype(np.float32)
    wrap = (lambda x: {"state": x}) if isinstance(obs_space, gym.spaces.Dict) else (lambda x: x)
    buffer.add_batch(
        {
            "obs": wrap(state),
            "next_obs": wrap(next_state),
            "action": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
            "reward": rng.random(n).astype(np.float32),
            "terminated": rng.random(n) < 0.1,
            "truncated": np.zeros(n, bool),
        }
    )
    return buffer


def _agent(**overrides) -> RLPDAgent:
    return RLPDAgent(OBS, ACT, RLPDConfig(**{**SMALL, **overrides}))


def _torch_batch(agent: RLPDAgent, batch: dict) -> dict:
    return agent._tensors(batch)


def test_the_paper_preset_is_rlpd_and_the_default_keeps_its_networks():
    from robolearn.learn.config import AGENT_PRESETS

    cfg = AGENT_PRESETS["rlpd"]()
    assert cfg.num_critics == 10 and cfg.critic_subsample == 2 and cfg.critic_layer_norm
    assert cfg.utd_ratio == 20 and cfg.batch_size == 256 and cfg.demo_fraction == 0.5
    assert cfg.hidden_dims == (256, 256) and cfg.actor_lr == cfg.critic_lr == 3e-4
    assert cfg.discount == 0.99 and cfg.tau == 0.005 and cfg.init_temperature == 1.0
    assert cfg.n_step == 1 and cfg.bc_weight == 0.0
    assert cfg.split() == (128, 128)
    assert RLPDAgent(OBS, ACT, cfg).target_entropy == -1.5  # -|A|/2
    ours = RLPDConfig()  # the project's default: RLPD's networks and batches
    assert (ours.hidden_dims, ours.batch_size, ours.demo_fraction) == ((256, 256), 256, 0.5)
    assert ours.critic_layer_norm and ours.tau == 0.005


@pytest.mark.parametrize(
    "bad",
    [
        {"num_critics": 0},
        {"critic_subsample": 3, "num_critics": 2},
        {"demo_fraction": 1.0},
        {"tau": 0.0},
        {"discount": 1.5},
        {"critic_actor_ratio": 0},
        {"actor_q": "median"},
        {"max_grad_norm": -1.0},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        RLPDConfig(**bad)


def test_config_is_keyword_only_and_round_trips():
    with pytest.raises(TypeError):
        RLPDConfig((64, 64))  # type: ignore[misc]
    cfg = RLPDConfig(hidden_dims=[64, 64], utd_ratio=4)
    assert RLPDConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        RLPDConfig.from_dict({"nope": 1})


def test_act_shapes_bounds_and_action_scaling():
    act_space = gym.spaces.Box(
        np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32), dtype=np.float32
    )
    agent = RLPDAgent(OBS, act_space, RLPDConfig(**SMALL))
    one = agent.act({"state": np.zeros(6, np.float32)})
    assert one.shape == (2,) and one.dtype == np.float32
    many = agent.act({"state": np.zeros((5, 6), np.float32)}, deterministic=True)
    assert many.shape == (5, 2)
    samples = agent.act({"state": np.random.default_rng(0).normal(size=(500, 6))})
    assert np.all(samples >= act_space.low) and np.all(samples <= act_space.high)
    assert samples[:, 1].min() >= 0.0 and samples[:, 1].max() > 5.0  # mapped onto [0, 10]


def test_rejects_unbounded_or_discrete_actions():
    with pytest.raises(ValueError, match="bounded"):
        RLPDAgent(OBS, gym.spaces.Box(-np.inf, np.inf, (2,), np.float32))
    with pytest.raises(TypeError, match="Box"):
        RLPDAgent(OBS, gym.spaces.Discrete(3))  # type: ignore[arg-type]


def test_update_schedule_utd_and_critic_actor_ratio():
    agent = _agent(utd_ratio=4, critic_actor_ratio=2)
    online, demo = _buffer(seed=1), _buffer(seed=2)
    rng = np.random.default_rng(0)
    metrics = agent.update(online.sample(4 * 8, rng), demo.sample(4 * 8, rng))
    assert agent.critic_steps == 4 and agent.actor_steps == 2
    for key in ("critic_loss", "q", "target_q", "actor_loss", "entropy", "temperature"):
        assert np.isfinite(metrics[key]), key
    agent = _agent(utd_ratio=3)  # critic_actor_ratio None: one actor step per update (RLPD)
    agent.update(online.sample(3 * 16, rng))  # no demos: all-online minibatches
    assert agent.critic_steps == 3 and agent.actor_steps == 1
    with pytest.raises(ValueError, match="utd_ratio"):
        agent.update(online.sample(10, rng))


def test_update_with_plain_array_observations():
    box = gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)
    agent = RLPDAgent(box, ACT, RLPDConfig(**SMALL, utd_ratio=1))
    buffer = _buffer(obs_space=box)
    rng = np.random.default_rng(0)
    assert np.isfinite(agent.update(buffer.sample(8, rng), buffer.sample(8, rng))["critic_loss"])
    assert agent.act(np.zeros(6, np.float32)).shape == (3,)


def test_target_is_min_over_a_random_pair_of_target_critics():
    agent = _agent(num_critics=10, critic_subsample=2, discount=0.9)
    with torch.no_grad():  # make the target critics differ from the online ones and each other
        for p in agent.target_critic.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    batch = _torch_batch(agent, _buffer().sample(32, np.random.default_rng(3)))

    state = agent.generator.get_state()
    y = agent.td_target(batch)

    # Replay the same random draws by hand: the next action's noise, then the pair Z.
    agent.generator.set_state(state)
    with torch.no_grad():
        next_action, next_log_prob = agent.actor(
            batch["next_obs"]["state"], generator=agent.generator
        )
        z = torch.randperm(10, generator=agent.generator)[:2]
        all_q = agent.target_critic(batch["next_obs"]["state"], next_action)  # (10, B)
        v = all_q[z].min(dim=0).values - agent.log_temperature.exp() * next_log_prob
        expected = batch["reward"] + 0.9 * (1 - batch["terminated"].float()) * v
    torch.testing.assert_close(y, expected)
    assert z[0] != z[1]
    # ... and the min over the pair is not the min over the whole ensemble.
    v_all = all_q.min(dim=0).values - agent.log_temperature.exp() * next_log_prob
    assert not torch.allclose(v, v_all)

    # The pair is drawn anew each time: over many draws, all 10 members appear, always 2 distinct.
    seen = set()
    for _ in range(200):
        pair = agent.target_members()
        assert len(set(pair.tolist())) == 2
        seen.update(pair.tolist())
    assert seen == set(range(10))


def test_truncation_bootstraps_and_termination_does_not():
    agent = _agent(discount=0.5)
    raw = _buffer().sample(8, np.random.default_rng(0))
    raw["terminated"] = np.array([True] * 4 + [False] * 4)
    raw["truncated"] = np.array([False] * 4 + [True] * 4)
    y = agent.td_target(_torch_batch(agent, raw))
    torch.testing.assert_close(y[:4], torch.as_tensor(raw["reward"][:4]))
    assert not torch.allclose(y[4:], torch.as_tensor(raw["reward"][4:]))


def test_temperature_moves_towards_target_entropy():
    buffer, rng = _buffer(), np.random.default_rng(0)
    # A fresh policy has high entropy (about 3 * 1.2 nats here), far above -|A|/2 = -1.5:
    # alpha must fall.
    agent = _agent(utd_ratio=1, init_temperature=1.0, temperature_lr=1e-2)
    start = agent.temperature
    for _ in range(30):
        m = agent.update(buffer.sample(16, rng))
    assert m["entropy"] > agent.target_entropy and agent.temperature < start * 0.9
    # With a target entropy above what the policy has, alpha must rise.
    agent = _agent(utd_ratio=1, init_temperature=1.0, temperature_lr=1e-2, target_entropy=50.0)
    for _ in range(30):
        m = agent.update(buffer.sample(16, rng))
    assert m["entropy"] < 50.0 and agent.temperature > 1.1


def test_temperature_loss_gradient_sign():
    agent = _agent()
    high_entropy = torch.full((4,), -10.0)  # log pi << -H_target  -> alpha should shrink
    agent.temperature_loss(high_entropy).backward()
    assert agent.log_temperature.grad > 0
    agent.log_temperature.grad = None
    low_entropy = torch.full((4,), 10.0)
    agent.temperature_loss(low_entropy).backward()
    assert agent.log_temperature.grad < 0


def test_same_seed_same_updates_and_different_seed_differs():
    online, demo = _buffer(seed=1), _buffer(seed=2)

    def run(seed: int) -> tuple[list[dict], dict]:
        agent = _agent(utd_ratio=2, seed=seed)
        rng = np.random.default_rng(7)
        metrics = [agent.update(online.sample(16, rng), demo.sample(16, rng)) for _ in range(5)]
        return metrics, agent.state_dict()

    (m1, s1), (m2, s2), (m3, _) = run(0), run(0), run(1)
    assert m1 == m2
    for key in s1:
        assert torch.equal(s1[key], s2[key]), key
    assert m1 != m3


def test_construction_leaves_global_torch_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _agent()
    torch.testing.assert_close(torch.rand(3), expected)


def test_checkpoint_round_trip_continues_identically(tmp_path):
    online, demo = _buffer(seed=1), _buffer(seed=2)
    agent = _agent(utd_ratio=2, critic_actor_ratio=1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        agent.update(online.sample(16, rng), demo.sample(16, rng))
    path = agent.save(tmp_path / "agent.safetensors")
    assert RLPDAgent.config_of(path) == agent.config

    clone = RLPDAgent(OBS, ACT, RLPDAgent.config_of(path))
    clone.load(path)
    batch = (online.sample(16, np.random.default_rng(5)), demo.sample(16, np.random.default_rng(6)))
    assert agent.update(*batch) == clone.update(*batch)
    obs = {"state": np.ones(6, np.float32)}
    np.testing.assert_array_equal(agent.act(obs), clone.act(obs))
    assert clone.critic_steps == agent.critic_steps == 8

    with open(tmp_path / "bad.safetensors", "wb") as f:
        f.write(b"not a checkpoint")
    with pytest.raises(Exception):  # noqa: B017 - safetensors' own error type
        clone.load(tmp_path / "bad.safetensors")


def test_bc_prior_is_fitted_on_the_demos_starts_the_actor_and_is_checkpointed(tmp_path):
    """bc_prior_steps: a frozen BC policy fitted on the demos when learning starts; the actor
    starts from it, the BC term pulls online rows towards it, checkpoints keep it."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(64, 6)).astype(np.float32)
    demo_action = np.tanh(obs[:, :3]).astype(np.float32)  # a smooth expert to imitate
    demos = {"obs": {"state": obs}, "action": demo_action, "reward": np.zeros(64, np.float32),
             "terminated": np.zeros(64, bool)}  # fmt: skip
    cfg = RLPDConfig(hidden_dims=(32, 32), batch_size=16, utd_ratio=1, bc_prior_steps=300)
    agent = RLPDAgent(OBS, ACT, cfg, device="cpu")
    agent.fit_observation_stats({"state": obs})
    assert agent.needs_bc_prior
    loss = agent.fit_bc_prior(demos)
    assert loss < 0.1 and not agent.needs_bc_prior
    start = agent.act({"state": obs}, deterministic=True)
    assert np.mean(np.square(start - demo_action)) < 0.05  # the actor starts from the prior
    path = agent.save(tmp_path / "a.safetensors")
    other = RLPDAgent(OBS, ACT, cfg, device="cpu")
    other.load(path)
    for p, q in zip(agent.bc_prior.parameters(), other.bc_prior.parameters(), strict=True):
        assert torch.equal(p, q)
