"""Every visual perturbation changes rendered pixels, every physical one changes the physics;
conditions are seeded (same seed, same episode) and suites load from names or YAML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robolearn.arena.perturb import (
    PERTURBATIONS,
    Condition,
    ModelSnapshot,
    SuiteError,
    builtin_suites,
    load_suite,
    make_perturbation,
)
from robolearn.arena.task import ArenaTask
from robolearn.envs.robot_env import RobotEnv
from robolearn.robot.twin import TwinConfig, TwinRobot
from robolearn.sim.tasks import TASKS

SIZE = (60, 80)
SEED = 5
STEPS = 35
SPEC_LEVEL = {"texture", "distractors", "gains"}  # need their own compiled scene / limits


def _env(condition: Condition) -> RobotEnv:
    robot = TwinRobot(
        TwinConfig(
            scene="pick_cube",
            scene_edits=condition.spec_edits(0),
            limits_file=condition.limits_file(0),
        )
    )
    task = ArenaTask(TASKS.get("pick_cube")(robot.limits), condition)
    return RobotEnv(robot, task)


def _episode(
    env: RobotEnv, snapshot: ModelSnapshot, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The first frame (front camera) and the qpos trajectory of the expert's first steps."""
    snapshot.restore(env.robot.model)
    env.task.prepare(scene=None, episode_seed=seed)
    env.reset(seed=seed)
    image = env.robot.render("front", SIZE)
    expert = env.task.make_expert()
    traj = []
    for _ in range(STEPS):
        env.step(expert.act(env.robot_state, env.objects()))
        traj.append(env.robot.data.qpos.copy())
    return image, np.array(traj)


@pytest.fixture(scope="module")
def nominal() -> tuple[RobotEnv, ModelSnapshot, np.ndarray, np.ndarray]:
    env = _env(Condition("nominal"))
    snapshot = ModelSnapshot(env.robot.model)
    image, traj = _episode(env, snapshot)
    return env, snapshot, image, traj


def _perturbed(name: str, nominal: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    env, snapshot, image, traj = nominal
    cond = Condition(name, [make_perturbation({"type": name})])
    if name in SPEC_LEVEL:
        own = _env(cond)
        out = _episode(own, ModelSnapshot(own.robot.model))
        own.close()
    else:
        env.task.condition = cond
        try:
            out = _episode(env, snapshot)
        finally:
            env.task.condition = Condition("nominal")
    return image, traj, out[0], out[1]


VISUAL = sorted(n for n in PERTURBATIONS.names() if PERTURBATIONS.get(n).kind == "visual")
PHYSICAL = sorted(n for n in PERTURBATIONS.names() if PERTURBATIONS.get(n).kind == "physical")


def test_axes_cover_the_issue() -> None:
    assert set(VISUAL) == {"camera", "colors", "distractors", "lighting", "texture"}
    assert set(PHYSICAL) == {"friction", "gains", "mass", "placement"}


@pytest.mark.parametrize("name", VISUAL)
def test_visual_perturbation_changes_pixels(name: str, nominal: tuple) -> None:
    image, _, perturbed, _ = _perturbed(name, nominal)
    diff = np.abs(image.astype(int) - perturbed.astype(int)).max(axis=2)
    assert (diff > 10).mean() > 0.005, f"{name} changed {(diff > 10).mean():.4f} of the pixels"


@pytest.mark.parametrize("name", PHYSICAL)
def test_physical_perturbation_changes_physics(name: str, nominal: tuple) -> None:
    _, traj, _, perturbed = _perturbed(name, nominal)
    assert np.abs(traj - perturbed).max() > 1e-3, f"{name} left the trajectory unchanged"


def test_nominal_episode_is_restored_and_seeded(nominal: tuple) -> None:
    env, snapshot, image, traj = nominal
    # after perturbed episodes on the shared env, the nominal one is exactly reproduced
    again_image, again_traj = _episode(env, snapshot)
    np.testing.assert_array_equal(again_image, image)
    np.testing.assert_allclose(again_traj, traj)
    cond = Condition("lighting", [make_perturbation({"type": "lighting"})])
    env.task.condition = cond
    try:
        a, _ = _episode(env, snapshot, seed=7)
        b, _ = _episode(env, snapshot, seed=7)
        c, _ = _episode(env, snapshot, seed=8)
    finally:
        env.task.condition = Condition("nominal")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_suites_from_names_and_yaml(tmp_path: Path) -> None:
    assert [c.name for c in load_suite("small")] == ["nominal", "lighting", "placement"]
    full = builtin_suites()["full"]
    assert {p.name for c in full for p in c.perturbations} == set(VISUAL) | set(PHYSICAL)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "conditions:\n  dim: [{type: lighting, scale: [0.2, 0.3]}]\n"
        "  slippery: [{type: friction, scale: [0.3, 0.4]}, {type: placement, radius: 0.02}]\n"
    )
    conds = load_suite(str(suite))
    assert [c.name for c in conds] == ["dim", "slippery"]
    assert conds[0].perturbations[0].scale == (0.2, 0.3)
    assert conds[1].kinds == {"physical"}
    with pytest.raises(SuiteError, match="unknown suite"):
        load_suite("nope")
    with pytest.raises(SuiteError, match="has no option"):
        make_perturbation({"type": "lighting", "brightness": 2})
    with pytest.raises(KeyError, match="unknown perturbation"):
        make_perturbation({"type": "fog"})
