"""pick_cube: grasp a 4 cm cube placed anywhere in a 20 x 30 cm patch and lift it >= 5 cm."""

from __future__ import annotations

import numpy as np

from robolearn.robot.transforms import quat_hemisphere
from robolearn.robot.twin import TwinRobot
from robolearn.robot.types import RobotState
from robolearn.sim.tasks.base import (
    GRIPPER_CLOSE,
    GRIPPER_OPEN,
    TASKS,
    Expert,
    Task,
    TaskEval,
    body_pose,
    move_action,
    quat_yaw,
    set_free_body,
    tool_quat,
    yaw_quat,
)

CUBE_HALF = 0.02
CUBE_LOW = np.array([0.40, -0.15])
CUBE_HIGH = np.array([0.60, 0.15])
LIFT_HEIGHT = 0.05
_ID = np.array([1.0, 0.0, 0.0, 0.0])


@TASKS.register("pick_cube")
class PickCubeTask(Task):
    name = "pick_cube"
    scene = "pick_cube"
    episode_seconds = 10.0
    object_dim = 7

    def reset(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        xy = rng.uniform(CUBE_LOW, CUBE_HIGH)
        yaw = rng.uniform(-np.pi / 4, np.pi / 4)
        set_free_body(robot, "cube_joint", np.array([xy[0], xy[1], CUBE_HALF]), yaw_quat(yaw))

    def objects(self, robot: TwinRobot) -> dict[str, np.ndarray]:
        pos, quat = body_pose(robot, "cube")
        return {"cube_pos": pos, "cube_quat": quat}

    def object_state(self, objects: dict[str, np.ndarray]) -> np.ndarray:
        # w >= 0: the cube turns about z by less than a half turn, so no sign flips in the obs
        return np.concatenate([objects["cube_pos"], quat_hemisphere(objects["cube_quat"], _ID)])

    def evaluate(self, state: RobotState, objects: dict[str, np.ndarray]) -> TaskEval:
        cube = objects["cube_pos"]
        lift = float(cube[2] - CUBE_HALF)
        reach = float(np.linalg.norm(state.ee_pos - cube))
        terms = {
            "reach": 1.0 - float(np.tanh(10.0 * reach)),
            "lift": float(np.clip(lift / LIFT_HEIGHT, 0.0, 1.0)),
            "cube_height": lift,
        }
        return TaskEval(
            success=lift >= LIFT_HEIGHT,
            dense_reward=0.5 * terms["reach"] + 0.5 * terms["lift"],
            terms=terms,
        )

    def make_expert(self) -> Expert:
        return PickCubeExpert(self)


class PickCubeExpert(Expert):
    """Align above the cube, descend, close, lift; start over if the cube slips."""

    def __init__(self, task: PickCubeTask) -> None:
        self.task = task
        self.reset()

    def reset(self) -> None:
        self.phase = "approach"
        self.closing_steps = 0

    def act(self, state: RobotState, objects: dict[str, np.ndarray]) -> np.ndarray:
        limits = self.task.limits
        cube = objects["cube_pos"]
        # The fingers close along the tool x axis; any cube face works, so fold yaw to +-45 deg.
        yaw = (quat_yaw(objects["cube_quat"]) + np.pi / 4) % (np.pi / 2) - np.pi / 4
        goal_quat = tool_quat(yaw)
        above = np.array([cube[0], cube[1], cube[2] + 0.08])
        xy_err = float(np.linalg.norm(state.ee_pos[:2] - cube[:2]))
        if self.phase == "approach":
            if xy_err < 0.004 and abs(state.ee_pos[2] - above[2]) < 0.01:
                self.phase = "descend"
            return move_action(limits, state, above, goal_quat, GRIPPER_OPEN)
        if self.phase == "descend":
            if xy_err > 0.015:
                self.phase = "approach"
            elif state.ee_pos[2] - cube[2] < 0.004:
                self.phase = "close"
            return move_action(limits, state, cube, goal_quat, GRIPPER_OPEN)
        if self.phase == "close":
            self.closing_steps += 1
            if self.closing_steps >= 5:
                self.phase = "lift"
            return move_action(limits, state, cube, goal_quat, GRIPPER_CLOSE)
        # lift: if the cube did not come along, open and start over.
        if state.ee_pos[2] - cube[2] > 0.03:
            self.reset()
            return move_action(limits, state, state.ee_pos, goal_quat, GRIPPER_OPEN)
        goal = np.array([cube[0], cube[1], CUBE_HALF + 0.15])
        return move_action(limits, state, goal, goal_quat, GRIPPER_CLOSE)
