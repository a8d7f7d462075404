"""Small numpy environments for fast learner tests (no MuJoCo)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class PointGoalEnv(gym.Env):
    """Move a point in the plane to a goal: obs [pos, goal], action a velocity in [-1, 1]^2.

    Sparse reward 1 and termination within `radius` of the goal; truncation after `horizon`
    steps. `dict_obs=True` gives {"state": obs, "image": uint8} to exercise dict observations.
    """

    metadata: dict = {"render_modes": []}

    def __init__(
        self,
        horizon: int = 30,
        step_size: float = 0.1,
        radius: float = 0.1,
        dict_obs: bool = False,
        action_scale: float = 1.0,
    ) -> None:
        self.horizon, self.step_size, self.radius = horizon, step_size, radius
        self.dict_obs = dict_obs
        self.action_scale = action_scale
        state = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        if dict_obs:
            self.observation_space = gym.spaces.Dict(
                {"state": state, "image": gym.spaces.Box(0, 255, (4, 4, 3), np.uint8)}
            )
        else:
            self.observation_space = state
        self.action_space = gym.spaces.Box(-action_scale, action_scale, (2,), np.float32)

    def _obs(self):
        state = np.concatenate([self.pos, self.goal]).astype(np.float32)
        if self.dict_obs:
            return {"state": state, "image": np.zeros((4, 4, 3), np.uint8)}
        return state

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1, 1, 2)
        self.goal = self.np_random.uniform(-1, 1, 2)
        self.t = 0
        return self._obs(), {"is_success": False}

    def step(self, action):
        a = np.clip(np.asarray(action, np.float64) / self.action_scale, -1, 1)
        self.pos = np.clip(self.pos + self.step_size * a, -1.5, 1.5)
        self.t += 1
        success = bool(np.linalg.norm(self.pos - self.goal) < self.radius)
        truncated = self.t >= self.horizon and not success
        return self._obs(), float(success), success, truncated, {"is_success": success}

    def expert(self) -> np.ndarray:
        a = (self.goal - self.pos) / self.step_size
        norm = np.linalg.norm(a)
        if norm > 1:
            a /= norm
        return (a * self.action_scale).astype(np.float32)
