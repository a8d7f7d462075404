"""peg_insert: insert a 20 mm square peg, held in the gripper, into a 22 mm square hole
(2 mm total clearance, 30 mm deep) whose position is drawn at every reset (SERL's peg task
starts with the peg grasped, too)."""

from __future__ import annotations

import numpy as np

from robolearn.robot.transforms import quat_to_mat
from robolearn.robot.twin import TwinRobot
from robolearn.robot.types import GripperCommand, RobotState
from robolearn.sim.scene import TASK_PREFIX
from robolearn.sim.tasks.base import (
    GRIPPER_CLOSE,
    TASKS,
    Expert,
    Task,
    TaskEval,
    body_pose,
    move_action,
    set_free_body,
    tool_quat,
    yaw_quat,
)

HOLE_LOW = np.array([0.42, -0.12])
HOLE_HIGH = np.array([0.58, 0.12])
HOLE_DEPTH = 0.03
PEG_HALF_LENGTH = 0.03
PEG_HALF_WIDTH = 0.01
PEG_GRASP_OFFSET = 0.02  # peg centre below the TCP when grasped
SUCCESS_DEPTH = 0.02  # peg bottom at least this far below the fixture's top
SUCCESS_XY = 0.004


@TASKS.register("peg_insert")
class PegInsertTask(Task):
    name = "peg_insert"
    scene = "peg_insert"
    episode_seconds = 10.0
    object_dim = 6

    def reset(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        m = robot.model
        xy = rng.uniform(HOLE_LOW, HOLE_HIGH)
        m.body_pos[m.body(TASK_PREFIX + "fixture").id] = [xy[0], xy[1], 0.0]
        # Put the peg between the open fingers, close them and let the grasp settle.
        state = robot.observe()
        peg = state.ee_pos - np.array([0.0, 0.0, PEG_GRASP_OFFSET])
        tool_x = quat_to_mat(state.ee_quat)[:, 0]
        upright = yaw_quat(float(np.arctan2(tool_x[1], tool_x[0])))  # peg axis up, sides square
        set_free_body(robot, "peg_joint", peg, upright)
        robot.set_finger_width(2 * PEG_HALF_WIDTH)
        robot.gripper(GripperCommand(width=0.0))
        robot.hold()
        robot.advance(0.4)
        robot.hold()

    def objects(self, robot: TwinRobot) -> dict[str, np.ndarray]:
        d = robot.data
        peg_pos, _ = body_pose(robot, "peg")
        return {
            "hole_pos": d.site(TASK_PREFIX + "hole_bottom").xpos.copy(),
            "peg_bottom": d.site(TASK_PREFIX + "peg_bottom").xpos.copy(),
            "peg_pos": peg_pos,
        }

    def object_state(self, objects: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([objects["hole_pos"], objects["peg_bottom"]])

    def evaluate(self, state: RobotState, objects: dict[str, np.ndarray]) -> TaskEval:
        hole, bottom = objects["hole_pos"], objects["peg_bottom"]
        depth = float(hole[2] + HOLE_DEPTH - bottom[2])
        xy = float(np.linalg.norm(bottom[:2] - hole[:2]))
        dist = float(np.linalg.norm(bottom - hole))
        return TaskEval(
            success=depth >= SUCCESS_DEPTH and xy <= SUCCESS_XY,
            dense_reward=1.0 - float(np.tanh(10.0 * dist)),
            terms={"insertion_depth": depth, "xy_error": xy, "peg_hole_distance": dist},
        )

    def make_expert(self) -> Expert:
        return PegInsertExpert(self)


class PegInsertExpert(Expert):
    """Line the peg up above the hole, then push it straight down while correcting xy."""

    def __init__(self, task: PegInsertTask) -> None:
        self.task = task

    def act(self, state: RobotState, objects: dict[str, np.ndarray]) -> np.ndarray:
        hole, bottom = objects["hole_pos"], objects["peg_bottom"]
        # Where the peg sits relative to the TCP (it may have shifted in the grasp).
        offset = bottom - state.ee_pos
        xy_err = float(np.linalg.norm(bottom[:2] - hole[:2]))
        top = hole[2] + HOLE_DEPTH
        if xy_err > 0.0015 and bottom[2] > top - 0.002:
            goal_bottom = np.array([hole[0], hole[1], top + 0.015])
            speed = 1.0
        else:
            goal_bottom = np.array([hole[0], hole[1], hole[2] - 0.005])
            speed = 0.5
        return move_action(
            self.task.limits, state, goal_bottom - offset, tool_quat(), GRIPPER_CLOSE, speed
        )
