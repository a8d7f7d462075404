"""Assemble the twin's MJCF: the cell from `sim/cell.xml`, the Panda arm and Franka hand that
robosuite ships (no run-time downloads), and a task's objects from `sim/scenes/<name>.xml`."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco

from robolearn.paths import asset_dir

ARM_PREFIX = "panda/"
HAND_PREFIX = "hand/"
TASK_PREFIX = "task/"
TCP_SITE = ARM_PREFIX + HAND_PREFIX + "grip_site"
ARM_JOINTS = tuple(f"{ARM_PREFIX}joint{i}" for i in range(1, 8))
FINGER_JOINTS = (
    ARM_PREFIX + HAND_PREFIX + "finger_joint1",
    ARM_PREFIX + HAND_PREFIX + "finger_joint2",
)
CAMERAS = {"front": "front", "wrist": ARM_PREFIX + "eye_in_hand"}


class SceneError(RuntimeError):
    """The twin's assets could not be found or compiled."""


def robosuite_assets() -> Path:
    """Folder of robosuite's MJCF assets, found without importing robosuite (slow, noisy)."""
    spec = importlib.util.find_spec("robosuite")
    if spec is None or not spec.submodule_search_locations:
        raise SceneError("robosuite is not installed; it ships the Panda and Franka hand models")
    root = Path(next(iter(spec.submodule_search_locations))) / "models" / "assets"
    if not (root / "robots" / "panda" / "robot.xml").is_file():
        raise SceneError(f"robosuite's Panda model is missing under {root}")
    return root


def _load_spec(path: Path) -> mujoco.MjSpec:
    """Load an MJCF file and make its mesh paths absolute, so it can be attached anywhere."""
    spec = mujoco.MjSpec.from_file(str(path))
    base = path.parent / (spec.meshdir or "")
    for mesh in spec.meshes:
        mesh.file = str(base / mesh.file)
    for texture in spec.textures:
        if texture.file:
            texture.file = str(base / texture.file)
    spec.meshdir = ""
    spec.texturedir = ""
    return spec


def scene_file(name: str) -> Path:
    path = asset_dir("sim") / "scenes" / f"{name}.xml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.xml"))
        raise SceneError(f"no scene {name!r} in {path.parent}; known: {', '.join(known)}")
    return path


@dataclass(frozen=True)
class BuiltScene:
    model: mujoco.MjModel
    xml: str


SpecEdit = Callable[[mujoco.MjSpec], None]


def build_scene(
    scene: str | None = None, timestep: float = 0.001, edits: Sequence[SpecEdit] = ()
) -> BuiltScene:
    """Compile cell + arm + hand (+ the objects of `scene`) into one MjModel.

    `edits` change the assembled spec before it compiles (added bodies, textures, materials:
    the arena's fiducial markers and perturbations); they must not add degrees of freedom
    ahead of the arm's."""
    assets = robosuite_assets()
    cell = _load_spec(asset_dir("sim") / "cell.xml")
    arm = _load_spec(assets / "robots" / "panda" / "robot.xml")
    hand = _load_spec(assets / "grippers" / "panda_gripper.xml")
    mount = arm.body("right_hand").add_site(name="hand_mount")
    arm.attach(hand, prefix=HAND_PREFIX, site=mount)
    cell.attach(arm, prefix=ARM_PREFIX, site=cell.site("robot_mount"))
    if scene is not None:
        objects = _load_spec(scene_file(scene))
        cell.attach(objects, prefix=TASK_PREFIX, frame=cell.worldbody.add_frame())
    cell.option.timestep = timestep
    for edit in edits:
        edit(cell)
    try:
        model = cell.compile()
    except ValueError as err:
        raise SceneError(f"could not compile the twin scene {scene!r}: {err}") from err
    return BuiltScene(model=model, xml=cell.to_xml())
