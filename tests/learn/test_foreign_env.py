"""`robolearn train serl --env ID` on a gymnasium env that is not a twin task: a small
third-party-style env defined here (dict observations in the gymnasium-robotics layout, success
under its own info key, its own scripted policy for the demos), trained from the command line
as a user would, and it learns."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import torch

from robolearn.cli.main import main

ENTRY = f"{__name__}:make_slide"


class SlideEnv(gym.Env):
    """Push a puck along a rail and stop it at a target (a stand-in for someone else's env):
    observations
    ``{"observation": [pos, vel], "achieved_goal": [pos], "desired_goal": [goal]}``, action a
    force in [-2, 2], sparse reward, success reported as ``info["success"]``."""

    metadata: dict = {"render_modes": []}

    def __init__(self, horizon: int = 25, tolerance: float = 0.05) -> None:
        self.horizon, self.tolerance = horizon, tolerance
        box = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
        self.observation_space = gym.spaces.Dict(
            {
                "observation": gym.spaces.Box(-np.inf, np.inf, (2,), np.float64),
                "achieved_goal": box,
                "desired_goal": box,
            }
        )
        self.action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def _obs(self) -> dict:
        return {
            "observation": np.array([self.pos, self.vel]),
            "achieved_goal": np.array([self.pos]),
            "desired_goal": np.array([self.goal]),
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.vel = float(self.np_random.uniform(-1, 1)), 0.0
        self.goal = float(self.np_random.uniform(-1, 1))
        self.t = 0
        return self._obs(), {"success": False}

    def step(self, action):
        force = float(np.clip(np.asarray(action).reshape(-1)[0], -2.0, 2.0))
        self.vel = 0.5 * self.vel + 0.1 * force
        self.pos = float(np.clip(self.pos + self.vel, -1.5, 1.5))
        self.t += 1
        success = abs(self.pos - self.goal) < self.tolerance and abs(self.vel) < 0.02  # stopped
        truncated = self.t >= self.horizon and not success
        return self._obs(), float(success), success, truncated, {"success": success}


def make_slide(**kwargs) -> SlideEnv:
    return SlideEnv(**kwargs)


def scripted(env: gym.Env) -> np.ndarray:
    """The user's own demo policy: a PD controller on the puck."""
    e = env.unwrapped
    force = 10.0 * (e.goal - e.pos) - 5.0 * e.vel
    return np.clip([force], -2.0, 2.0).astype(np.float32)


def test_train_serl_on_a_foreign_env_learns(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "slide"
    args = [
        "train", "serl",
        f"--env={ENTRY}",
        '--env-kwargs={"horizon": 25}',
        "--demos=expert:10",
        "--steps=2000",
        "--set=env.success_key=success",
        f"--set=env.expert={__name__}:scripted",
        "--set=env.obs_keys=[observation, desired_goal]",
        "--set=agent.hidden_dims=[64, 64]",
        "--set=agent.batch_size=128",
        "--set=loop.learning_starts=100",
        "--set=loop.eval_every=0",
        "--set=loop.eval_episodes=40",
        f"--out={out}",
        "--no-progress",
    ]  # fmt: skip
    capsys.readouterr()
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["env_id"] == ENTRY and summary["task"] is None
    first, last = summary["curve"][0], summary["curve"][-1]
    print(f"slide: success {first['success_rate']:.2f} -> {last['success_rate']:.2f}")
    assert first["step"] == 0 and first["success_rate"] <= 0.3
    assert last["step"] == 2000 and last["success_rate"] >= 0.8
    assert summary["demo_transitions"] >= 10  # the user's scripted policy rolled them out
    saved = (out / "config.yaml").read_text()
    assert "success_key: success" in saved and ENTRY in saved


def test_foreign_env_errors_are_clear(tmp_path, capsys):
    code = main(["train", "serl", f"--env={ENTRY}", "--demos=expert:1", f"--out={tmp_path}"])
    err = capsys.readouterr().err
    # no scripted policy for this env: the message says how to give one
    assert code == 2 and "env.expert" in err
