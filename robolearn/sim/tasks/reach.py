"""reach: bring the TCP within 2 cm of a goal drawn in the workspace."""

from __future__ import annotations

import numpy as np

from robolearn.robot.twin import TwinRobot
from robolearn.robot.types import RobotState
from robolearn.sim.scene import TASK_PREFIX
from robolearn.sim.tasks.base import (
    GRIPPER_OPEN,
    TASKS,
    Expert,
    Task,
    TaskEval,
    move_action,
    tool_quat,
)

GOAL_LOW = np.array([0.35, -0.20, 0.08])
GOAL_HIGH = np.array([0.65, 0.20, 0.35])
SUCCESS_RADIUS = 0.02


@TASKS.register("reach")
class ReachTask(Task):
    name = "reach"
    scene = "reach"
    episode_seconds = 5.0
    object_dim = 3

    def reset(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        goal = rng.uniform(GOAL_LOW, GOAL_HIGH)
        mocap = robot.model.body(TASK_PREFIX + "goal").mocapid[0]
        robot.data.mocap_pos[mocap] = goal

    def objects(self, robot: TwinRobot) -> dict[str, np.ndarray]:
        mocap = robot.model.body(TASK_PREFIX + "goal").mocapid[0]
        return {"goal_pos": robot.data.mocap_pos[mocap].copy()}

    def object_state(self, objects: dict[str, np.ndarray]) -> np.ndarray:
        return objects["goal_pos"]

    def evaluate(self, state: RobotState, objects: dict[str, np.ndarray]) -> TaskEval:
        dist = float(np.linalg.norm(state.ee_pos - objects["goal_pos"]))
        return TaskEval(
            success=dist < SUCCESS_RADIUS,
            dense_reward=1.0 - float(np.tanh(10.0 * dist)),
            terms={"goal_distance": dist},
        )

    def make_expert(self) -> Expert:
        return ReachExpert(self)


class ReachExpert(Expert):
    def __init__(self, task: ReachTask) -> None:
        self.task = task

    def act(self, state: RobotState, objects: dict[str, np.ndarray]) -> np.ndarray:
        return move_action(self.task.limits, state, objects["goal_pos"], tool_quat(), GRIPPER_OPEN)
