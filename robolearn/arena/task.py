"""`ArenaTask`: a task whose reset also replays a scene spec and applies a condition's
episode-level perturbations, so `RobotEnv.reset` yields the perturbed initial state."""

from __future__ import annotations

from typing import Any

import numpy as np

from robolearn.arena.perturb import Condition
from robolearn.arena.reconstruct import SceneSpec, apply_scene
from robolearn.robot.twin import TwinRobot
from robolearn.robot.types import RobotState
from robolearn.sim.tasks.base import Expert, Task, TaskEval


class ArenaTask(Task):
    """Wraps a task: same objects, success and rewards; its reset is extended (see module)."""

    def __init__(
        self,
        inner: Task,
        condition: Condition,
        suite_seed: int = 0,
        episode_seconds: float | None = None,
    ) -> None:
        super().__init__(inner.limits)
        self.inner = inner
        self.condition = condition
        self.suite_seed = suite_seed
        self.name = inner.name
        self.scene = inner.scene
        self.object_dim = inner.object_dim
        self.episode_seconds = episode_seconds or inner.episode_seconds
        self._scene: SceneSpec | None = None
        self._episode_seed = 0

    def prepare(self, *, scene: SceneSpec | None, episode_seed: int) -> None:
        """Set what the next reset replays."""
        if scene is not None and scene.task != self.inner.name:
            raise ValueError(f"scene spec is for task {scene.task!r}, not {self.inner.name!r}")
        self._scene = scene
        self._episode_seed = int(episode_seed)

    def reset(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        self.inner.reset(robot, rng)
        if self._scene is not None:
            apply_scene(robot, self._scene)
        self.condition.apply(robot, self.suite_seed, self._episode_seed)

    def objects(self, robot: TwinRobot) -> dict[str, np.ndarray]:
        return self.inner.objects(robot)

    def object_state(self, objects: dict[str, np.ndarray]) -> np.ndarray:
        return self.inner.object_state(objects)

    def evaluate(self, state: RobotState, objects: dict[str, np.ndarray]) -> TaskEval:
        return self.inner.evaluate(state, objects)

    def make_expert(self) -> Expert:
        return self.inner.make_expert()

    def __getattr__(self, name: str) -> Any:
        # Task-specific helpers (constants, methods) stay reachable through the wrapper.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
