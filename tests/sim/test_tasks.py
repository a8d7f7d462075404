import numpy as np
import pytest

from robolearn.robot.limits import load_limits
from robolearn.robot.types import RobotState
from robolearn.sim.scene import SceneError, build_scene
from robolearn.sim.tasks import TASKS
from robolearn.sim.tasks.pick_cube import CUBE_HALF, LIFT_HEIGHT, PickCubeTask


def _state(ee_pos: np.ndarray) -> RobotState:
    z7 = np.zeros(7)
    return RobotState(
        q=z7, dq=z7, tau_ext=z7, ee_pos=ee_pos, ee_quat=np.array([0.0, 1.0, 0.0, 0.0]),
        ee_twist=np.zeros(6), ee_wrench=np.zeros(6), gripper_width=0.04, timestamp=0.0,
    )  # fmt: skip


def test_unknown_task_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown task 'stack_cubes'.*pick_cube"):
        TASKS.get("stack_cubes")


def test_unknown_scene_is_a_clear_error() -> None:
    with pytest.raises(SceneError, match="no scene 'nope'"):
        build_scene("nope")


def test_every_task_scene_compiles_at_1khz() -> None:
    for name in TASKS.names():
        model = build_scene(TASKS.get(name).scene).model
        assert model.opt.timestep == pytest.approx(0.001)


def test_pick_cube_success_needs_a_5cm_lift() -> None:
    task = PickCubeTask(load_limits())
    quat = np.array([1.0, 0, 0, 0])
    low = {"cube_pos": np.array([0.5, 0, CUBE_HALF + LIFT_HEIGHT - 0.001]), "cube_quat": quat}
    high = {"cube_pos": np.array([0.5, 0, CUBE_HALF + LIFT_HEIGHT + 0.001]), "cube_quat": quat}
    ee = _state(np.array([0.5, 0, 0.1]))
    assert not task.evaluate(ee, low).success
    assert task.evaluate(ee, high).success
    assert task.evaluate(ee, high).sparse_reward == 1.0
    assert task.evaluate(ee, low).sparse_reward == 0.0
    # Dense reward grows as the TCP approaches the cube.
    on_table = {"cube_pos": np.array([0.5, 0, CUBE_HALF]), "cube_quat": quat}
    far = task.evaluate(_state(np.array([0.3, 0.2, 0.3])), on_table).dense_reward
    near = task.evaluate(_state(np.array([0.5, 0, 0.03])), on_table).dense_reward
    assert near > far
