"""train_rlpd: learning from demos (a fast toy task; the Panda reach as a slow test), any
gymnasium Box-action env, same-seed determinism, checkpoints."""

from __future__ import annotations

import importlib
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from robolearn.learn.replay import ReplayBuffer
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig
from robolearn.learn.train import collect_expert_demos, train_rlpd
from tests.learn.toy_envs import PointGoalEnv

TOY = {"horizon": 20, "step_size": 0.2, "radius": 0.15}
TOY_CONFIG = {
    "hidden_dims": (64, 64),
    "batch_size": 128,
    "utd_ratio": 2,
    "discount": 0.97,
    # RLPD's own learning, without the BC anchor of the online rows: 10 toy demos make a poor
    # BC policy (about 0.45 success), and the default's anchor holds the actor near it for
    # the 2000 steps of this test (docs: agent.bc_prior_steps=0 for few or poor demos).
    "bc_prior_steps": 0,
}


def _toy_demos(episodes: int = 10) -> ReplayBuffer:
    return collect_expert_demos(
        PointGoalEnv(**TOY), episodes, expert=lambda env: env.unwrapped.expert(), seed=1000
    )


def test_learns_point_goal_from_demos():
    """Sparse reward, 10 demos, the default critics and n-step targets: success from ~0 to
    >= 80%."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    result = train_rlpd(
        PointGoalEnv(**TOY),
        demos=_toy_demos(),
        total_steps=2000,
        config=RLPDConfig(**TOY_CONFIG, seed=0),
        eval_env=PointGoalEnv(**TOY),
        eval_every=0,
        eval_episodes=40,
        learning_starts=100,
        seed=0,
    )
    first, last = result.curve[0], result.curve[-1]
    print(
        f"toy: success {first.success_rate:.2f} -> {last.success_rate:.2f} in "
        f"{result.env_steps} steps, {result.updates} updates, {time.perf_counter() - start:.1f} s"
    )
    assert first.step == 0 and first.success_rate <= 0.2
    assert last.step == 2000 and last.success_rate >= 0.8
    assert result.updates == 2 * (2000 - 100 + 1)


def test_same_seed_same_training_run():
    def run(seed: int) -> tuple[list, dict]:
        result = train_rlpd(
            PointGoalEnv(**TOY),
            demos=_toy_demos(3),
            total_steps=120,
            config=RLPDConfig(**{**TOY_CONFIG, "hidden_dims": (16, 16)}, seed=seed),
            eval_env=PointGoalEnv(**TOY),
            eval_every=60,
            eval_episodes=3,
            learning_starts=40,
            seed=seed,
        )
        return [(p.step, p.success_rate, p.mean_return) for p in result.curve], (
            result.agent.state_dict()
        )

    (c1, s1), (c2, s2), (_, s3) = run(0), run(0), run(1)
    assert c1 == c2 and [p[0] for p in c1] == [0, 60, 120]
    for key in s1:
        assert torch.equal(s1[key], s2[key]), key
    assert not torch.equal(s1["actor.net.0.weight"], s3["actor.net.0.weight"])


def test_any_gymnasium_box_env_with_array_observations():
    """Pendulum: array observations, actions in [-2, 2], no is_success, no demos."""
    result = train_rlpd(
        "Pendulum-v1",
        total_steps=60,
        config=RLPDConfig(hidden_dims=(16, 16), batch_size=16, utd_ratio=1),
        eval_every=0,
        eval_episodes=1,
        learning_starts=30,
    )
    assert np.isnan(result.final_success_rate)
    assert np.isfinite(result.curve[-1].mean_return) and result.updates == 31
    action = result.agent.act(np.zeros(3, np.float32))
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0


def test_dict_observations_with_images_are_skipped_by_the_flatten_encoder():
    env = PointGoalEnv(**TOY, dict_obs=True)
    result = train_rlpd(
        env,
        total_steps=40,
        config=RLPDConfig(hidden_dims=(16, 16), batch_size=16, utd_ratio=1),
        eval_every=0,
        eval_episodes=2,
        learning_starts=20,
    )
    assert result.agent.encoder.keys == ("state",)
    assert result.updates == 21


def test_normalised_observations_are_fitted_and_checkpointed(tmp_path):
    config = RLPDConfig(
        hidden_dims=(16, 16), batch_size=16, utd_ratio=1, encoder_options={"normalize": True}
    )
    result = train_rlpd(
        PointGoalEnv(**TOY),
        demos=_toy_demos(3),
        total_steps=40,
        config=config,
        eval_every=0,
        eval_episodes=0,
        learning_starts=20,
        checkpoint=tmp_path / "agent.safetensors",
    )
    encoder = result.agent.encoder
    assert not result.agent.needs_observation_stats
    assert torch.all(encoder.std > 0) and not torch.all(encoder.mean == 0)
    torch.testing.assert_close(result.agent.target_encoder.mean, encoder.mean)
    clone = RLPDAgent(
        PointGoalEnv(**TOY).observation_space, PointGoalEnv(**TOY).action_space, config
    )
    clone.load(result.checkpoint)
    torch.testing.assert_close(clone.encoder.mean, encoder.mean)
    assert result.curve == []  # eval_episodes=0: no evaluation


def _q_on(agent: RLPDAgent, demos: ReplayBuffer) -> np.ndarray:
    batch = agent._tensors(demos.batch(np.arange(len(demos))))
    with torch.no_grad():
        return agent.critic(agent.encoder(batch["obs"]), batch["action"]).mean(0).numpy()


def test_panda_reach_from_recorded_demos_tiny_budget(tmp_path):
    """Our env end to end at a tiny budget: demos recorded into an episode store and trained on
    through `demos=path`. Learning shows on the demo transitions: Q of the successful last steps
    rises from ~0 to near their return 1, and above Q of the other demo steps (the critic
    separates success from the rest), while the critic loss falls."""
    importlib.import_module("mujoco")
    import robolearn.envs  # noqa: F401
    from robolearn.data.recorder import record
    from robolearn.learn.replay import load_demos

    torch.set_num_threads(1)
    path = tmp_path / "reach_demos"
    summary = record("reach", path, episodes=4, cameras=(), progress=False, seed=100)
    assert summary.successes == 4
    env = gym.make("robolearn/PandaReach-v0")
    config = RLPDConfig(
        hidden_dims=(64, 64),
        num_critics=10,  # the untrained ensemble's mean starts near 0 (what is checked below)
        batch_size=64,
        utd_ratio=10,
        discount=0.9,
        seed=0,
    )
    agent = RLPDAgent(env.observation_space, env.action_space, config)
    demos = load_demos(path, env.observation_space, env.action_space, agent.encoder.keys)
    last = demos.terminated[: len(demos)]
    assert last.sum() == 4
    agent.fit_observation_stats(demos.obs)
    q_before = _q_on(agent, demos)
    losses: list[float] = []
    result = train_rlpd(
        env,
        demos=path,
        total_steps=80,
        agent=agent,
        eval_every=40,
        eval_episodes=1,
        learning_starts=20,
        callback=lambda step, info: losses.append(info["metrics"].get("critic_loss", np.nan)),
        checkpoint=tmp_path / "reach.safetensors",
    )
    q_after = _q_on(result.agent, demos)
    print(
        f"reach: Q(success steps) {q_before[last].mean():.3f} -> {q_after[last].mean():.3f}, "
        f"Q(other demo steps) {q_after[~last].mean():.3f}, critic losses {losses}"
    )
    assert abs(q_before[last].mean()) < 0.3
    assert q_after[last].mean() > 0.5 and q_after[last].mean() > q_after[~last].mean() + 0.2
    assert result.checkpoint is not None and result.checkpoint.is_file()
    assert result.updates == 10 * (80 - 20 + 1)


@pytest.mark.slow
def test_learns_panda_reach_from_demos():
    """robolearn/PandaReach-v0, dense reward, no termination at success (the TCP must reach the
    goal and stay within 2 cm until the episode ends), 10 scripted demos, RLPD with the default
    10-critic ensemble: success at episode end rises from 0 to >= 80%.

    Seen on a 2-core machine (one thread): success 0 / .45 / .30 / .50 / .90 / .95 / 1.0 at
    0 / 2.5k / 5k / 7.5k / 10k / 12.5k / 15k steps, about 8 minutes.
    """
    import robolearn.envs  # noqa: F401

    torch.set_num_threads(1)
    env = gym.make("robolearn/PandaReach-v0", reward_type="dense", terminate_on_success=False)
    result = train_rlpd(
        env,
        demos=collect_expert_demos(env, 10, seed=10_000),
        total_steps=REACH_STEPS,
        config=RLPDConfig(**REACH_CONFIG),
        eval_every=2500,  # evaluation resets the training env: part of the seeded run
        eval_episodes=20,
        learning_starts=100,
    )
    curve = [(p.step, p.success_rate, round(p.mean_return, 1)) for p in result.curve]
    print(f"reach: {curve}, {result.wall_seconds:.0f} s")
    assert result.curve[0].success_rate <= 0.1
    assert result.final_success_rate >= 0.8


REACH_STEPS = 15_000
REACH_CONFIG = {
    "hidden_dims": (128, 128),
    "batch_size": 128,
    "utd_ratio": 4,
    "discount": 0.95,
    "init_temperature": 1e-3,
    "encoder_options": {"normalize": True},
}


# --- resume, interventions, logging ------------------------------------------------------------
class _Stop(Exception):
    """Stands in for a kill: raised from the evaluation callback, so no final checkpoint."""


def _toy_run(tmp_path, total_steps: int, **kwargs):
    return train_rlpd(
        PointGoalEnv(**TOY),
        demos=_toy_demos(3),
        total_steps=total_steps,
        config=RLPDConfig(**{**TOY_CONFIG, "hidden_dims": (16, 16)}, seed=0),
        eval_env=PointGoalEnv(**TOY),
        eval_every=50,
        eval_episodes=3,
        learning_starts=30,
        seed=0,
        checkpoint_dir=tmp_path / "ckpt",
        checkpoint_every=40,
        **kwargs,
    )


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    """Same seed, one run straight through and one interrupted at step 150 (after the
    checkpoint of the first episode end past step 120) and resumed: identical agents,
    curves and counters, because checkpoints fall on episode ends and carry the env's RNG."""
    torch.set_num_threads(1)
    straight = _toy_run(tmp_path / "a", 260)

    def stop(step: int, info: dict) -> None:
        if step == 150:
            raise _Stop

    with pytest.raises(_Stop):
        _toy_run(tmp_path / "b", 260, callback=stop)
    from robolearn.learn.learner import Learner

    saved = Learner.load(tmp_path / "b" / "ckpt")
    assert 120 <= saved.env_steps <= 150 and len(saved.online) == saved.env_steps
    resumed = _toy_run(tmp_path / "b", 260, resume=True)
    assert resumed.resumed_from == saved.env_steps
    for name in ("env_steps", "updates", "episodes", "train_successes"):
        assert getattr(resumed, name) == getattr(straight, name), name
    assert resumed.updates == 2 * (260 - 30 + 1)
    assert [(p.step, p.success_rate, p.mean_return) for p in resumed.curve] == [
        (p.step, p.success_rate, p.mean_return) for p in straight.curve
    ]
    sa, sb = straight.agent.state_dict(), resumed.agent.state_dict()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_resume_needs_a_checkpoint_dir_and_starts_fresh_without_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_dir"):
        train_rlpd(PointGoalEnv(**TOY), total_steps=10, resume=True)
    result = _toy_run(tmp_path, 40, resume=True)
    assert result.resumed_from is None and result.env_steps == 40
    assert result.last_checkpoint is not None and result.last_checkpoint.name.endswith("-40")


def _scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def test_tensorboard_scalars_and_learning_curve_png(tmp_path):
    torch.set_num_threads(1)
    result = train_rlpd(
        PointGoalEnv(**TOY),
        demos=_toy_demos(3),
        total_steps=200,
        config=RLPDConfig(**{**TOY_CONFIG, "hidden_dims": (16, 16)}),
        eval_env=PointGoalEnv(**TOY),
        eval_every=100,
        eval_episodes=3,
        learning_starts=50,
        log_dir=tmp_path / "run",
        log_every=10,
    )
    scalars = _scalars(tmp_path / "run")
    for tag in (
        "episode/return",
        "episode/success",
        "episode/length",
        "eval/success_rate",
        "eval/return",
        "train/critic_loss",
        "train/actor_loss",
        "train/q",
        "train/temperature",
        "train/utd",
        "train/intervention_rate",
    ):
        assert tag in scalars, (tag, sorted(scalars))
    assert [s for s, _ in scalars["eval/success_rate"]] == [0, 100, 200]
    assert len(scalars["episode/return"]) == result.episodes
    assert sum(v for _, v in scalars["episode/success"]) == result.train_successes
    train_steps = [s for s, _ in scalars["train/q"]]
    assert train_steps[0] == 50 and train_steps[-1] == 200 and len(train_steps) == 16
    assert all(v == pytest.approx(2.0) for _, v in scalars["train/utd"])  # utd_ratio 2
    assert all(v == 0.0 for _, v in scalars["train/intervention_rate"])
    temperature = scalars["train/temperature"][-1][1]
    assert temperature == pytest.approx(result.agent.temperature, rel=1e-5)
    import matplotlib.image

    png = matplotlib.image.imread(result.learning_curve)
    assert result.learning_curve == tmp_path / "run" / "learning_curve.png"
    assert png.ndim == 3 and png.shape[0] > 300 and png.std() > 0.05  # not a blank image


class _RecordInfos(gym.Wrapper):
    """Keeps every step's info (outside the intervention wrapper)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.infos: list[dict] = []

    def step(self, action):
        out = self.env.step(action)
        self.infos.append(out[4])
        return out


def test_interventions_go_into_both_buffers_and_are_logged(tmp_path):
    """HIL-SERL on the twin: a simulated operator (the scripted reach expert) takes over for 8
    of every 20 steps; exactly those steps, with the operator's executed actions, are added to
    the demo buffer as well as the online one, and the intervention rate reaches TensorBoard."""
    importlib.import_module("mujoco")
    import robolearn.envs  # noqa: F401
    from robolearn.learn.simulated_operator import SimulatedOperator, SimulatedOperatorConfig
    from robolearn.teleop.intervention import InterventionWrapper
    from robolearn.teleop.scripted import ScriptedConfig, ScriptedTeleop

    torch.set_num_threads(1)
    base = gym.make("robolearn/PandaReach-v0")
    expert = ScriptedTeleop(ScriptedConfig(task="reach"), expert=base.unwrapped.task.make_expert())
    operator = SimulatedOperator(expert, SimulatedOperatorConfig(patience=12, takeover_steps=8))
    env = _RecordInfos(InterventionWrapper(base, operator))
    demos = collect_expert_demos(gym.make("robolearn/PandaReach-v0"), 1, seed=5)
    n_prior = len(demos)
    result = train_rlpd(
        env,
        demos=demos,
        total_steps=120,
        config=RLPDConfig(hidden_dims=(16, 16), batch_size=16, utd_ratio=1, num_critics=2),
        eval_every=0,
        eval_episodes=0,
        learning_starts=20,
        log_dir=tmp_path / "run",
        log_every=10,
    )
    env.close()
    learner = result.learner
    intervened = np.array([info["intervened"] for info in env.infos])
    executed = np.stack([info["executed_action"] for info in env.infos])
    assert len(intervened) == 120 and 0.3 < intervened.mean() < 0.5
    assert result.intervention_steps == intervened.sum() == learner.intervention_steps
    assert len(learner.online) == 120 and len(learner.demos) == n_prior + intervened.sum()
    # the online buffer stores what ran (the operator's action when it acted) ...
    np.testing.assert_array_equal(learner.online.action[:120], executed)
    # ... and the demo buffer the intervention steps, in order, after the prior demos
    np.testing.assert_array_equal(
        learner.demos.action[n_prior : len(learner.demos)], executed[intervened]
    )
    np.testing.assert_array_equal(
        learner.demos.obs["state"][n_prior : len(learner.demos)],
        learner.online.obs["state"][:120][intervened],
    )
    scalars = _scalars(tmp_path / "run")
    per_episode = [v for _, v in scalars["episode/intervention_rate"]]
    ends = [i for i, info in enumerate(env.infos) if "intervention_rate" in info]
    assert per_episode == pytest.approx([env.infos[i]["intervention_rate"] for i in ends])
    assert scalars["train/intervention_rate"][-1] == (120, pytest.approx(intervened.mean()))
