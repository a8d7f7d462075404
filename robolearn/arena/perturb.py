"""Perturbation axes and suites: named, seeded, composable changes of a twin scene.

A perturbation may change the scene before it compiles (`spec_edit`: textures, distractor
objects), the robot's configuration (`limits_overrides`: controller gains), and each episode
after the task's reset (`apply`: colours, lighting, camera pose, object placement, friction,
mass). Condition-level randomness comes from the condition's seed, episode-level randomness
from (condition seed, episode seed): every policy sees the same perturbed episode.

A *condition* is a list of perturbations applied together; a *suite* a named list of
conditions. Suites: `SUITES` here, or a YAML file::

    conditions:
      dim_light: [{type: lighting, scale: [0.3, 0.5]}]
      shifted: [{type: placement, radius: 0.03}, {type: friction, scale: [0.5, 0.7]}]
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import mujoco
import numpy as np
import yaml

from robolearn.registry import Registry
from robolearn.robot.twin import TwinRobot
from robolearn.sim.scene import CAMERAS, TASK_PREFIX, SpecEdit

log = logging.getLogger(__name__)


class SuiteError(ValueError):
    """A suite or perturbation is unknown or misconfigured."""


def stable_seed(*parts: object) -> int:
    """A seed from strings and numbers that is the same in every process (unlike hash())."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(rng.uniform(lo, hi))


def _task_geoms(m: mujoco.MjModel) -> list[int]:
    return [g for g in range(m.ngeom) if (m.geom(g).name or "").startswith(TASK_PREFIX)]


def _task_bodies(m: mujoco.MjModel) -> list[int]:
    return [b for b in range(m.nbody) if m.body(b).name.startswith(TASK_PREFIX)]


class Perturbation(abc.ABC):
    """One axis of variation; subclasses are keyword-only dataclasses holding its ranges."""

    name: ClassVar[str]
    kind: ClassVar[str]  # "visual" or "physical"

    def spec_edit(self, rng: np.random.Generator) -> SpecEdit | None:
        """A scene edit applied before compiling (condition-level), or None."""
        return None

    def limits_overrides(self, rng: np.random.Generator) -> dict[str, dict[str, Any]] | None:
        """Changes of `hardware/franka.yaml` sections for this condition, or None."""
        return None

    def apply(self, robot: TwinRobot, rng: np.random.Generator) -> None:  # noqa: B027
        """Change the model or state after the task's reset (episode-level)."""

    def to_json(self) -> dict[str, Any]:
        return {"type": self.name, **asdict(self)}  # type: ignore[call-overload]


PERTURBATIONS: Registry[type[Perturbation]] = Registry("perturbation")


def register(cls: type[Perturbation]) -> type[Perturbation]:
    return PERTURBATIONS.register(cls.name)(cls)


# --- visual -----------------------------------------------------------------------------------
@register
@dataclass(kw_only=True)
class Colors(Perturbation):
    """Random colours for the task objects and the table top."""

    name: ClassVar[str] = "colors"
    kind: ClassVar[str] = "visual"
    tint: float = 0.6  # how far each channel may move towards a random colour

    def apply(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        m = robot.model
        for g in _task_geoms(m):
            target = rng.uniform(0.05, 1.0, 3)
            m.geom_rgba[g, :3] = (1 - self.tint) * m.geom_rgba[g, :3] + self.tint * target
        table = m.geom("table_top")
        mat = int(m.geom_matid[table.id])
        color = rng.uniform(0.15, 0.9, 3)
        if mat >= 0:
            m.mat_rgba[mat, :3] = color
        else:
            m.geom_rgba[table.id, :3] = color


@register
@dataclass(kw_only=True)
class Texture(Perturbation):
    """A random procedural texture (checker or gradient) on the table top."""

    name: ClassVar[str] = "texture"
    kind: ClassVar[str] = "visual"
    repeat: tuple[float, float] = (4.0, 12.0)

    def spec_edit(self, rng: np.random.Generator) -> SpecEdit:
        builtin = str(rng.choice(["checker", "gradient"]))
        rgb1, rgb2 = rng.uniform(0.1, 0.9, 3).tolist(), rng.uniform(0.1, 0.9, 3).tolist()
        rep = _uniform(rng, self.repeat)
        return _TableTexture(builtin=builtin, rgb1=rgb1, rgb2=rgb2, repeat=rep)


@dataclass(frozen=True)
class _TableTexture:
    builtin: str
    rgb1: list[float]
    rgb2: list[float]
    repeat: float

    def __call__(self, spec: mujoco.MjSpec) -> None:
        tex = spec.add_texture(name="arena_table_tex", type=mujoco.mjtTexture.mjTEXTURE_2D)
        tex.builtin = {
            "checker": mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
            "gradient": mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        }[self.builtin]
        tex.rgb1, tex.rgb2 = self.rgb1, self.rgb2
        tex.width = tex.height = 256
        mat = spec.add_material(name="arena_table_mat")
        mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
        mat.texrepeat = [self.repeat, self.repeat]
        spec.geom("table_top").material = mat.name


@register
@dataclass(kw_only=True)
class Lighting(Perturbation):
    """Brightness and direction of the key light, and the ambient (head) light."""

    name: ClassVar[str] = "lighting"
    kind: ClassVar[str] = "visual"
    scale: tuple[float, float] = (0.3, 1.6)
    direction_jitter: float = 0.5

    def apply(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        m = robot.model
        s = _uniform(rng, self.scale)
        m.light_diffuse[:] = np.clip(m.light_diffuse * s, 0.0, 1.0)
        direction = m.light_dir + rng.uniform(
            -self.direction_jitter, self.direction_jitter, (m.nlight, 3)
        )
        direction[:, 2] = -np.abs(direction[:, 2])
        m.light_dir[:] = direction / np.linalg.norm(direction, axis=1, keepdims=True)
        m.vis.headlight.ambient[:] = np.clip(np.asarray(m.vis.headlight.ambient) * s, 0.0, 1.0)
        m.vis.headlight.diffuse[:] = np.clip(np.asarray(m.vis.headlight.diffuse) * s, 0.0, 1.0)


@register
@dataclass(kw_only=True)
class CameraPose(Perturbation):
    """Moves and turns a fixed camera (as a re-mounted or bumped camera would be)."""

    name: ClassVar[str] = "camera"
    kind: ClassVar[str] = "visual"
    camera: str = "front"
    shift: float = 0.03  # metres, per axis
    turn: float = 0.05  # radians, per axis

    def apply(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        from robolearn.robot.transforms import quat_mul, rotvec_to_quat

        m = robot.model
        cid = m.camera(CAMERAS[self.camera]).id
        m.cam_pos[cid] += rng.uniform(-self.shift, self.shift, 3)
        m.cam_quat[cid] = quat_mul(
            rotvec_to_quat(rng.uniform(-self.turn, self.turn, 3)), m.cam_quat[cid]
        )


@register
@dataclass(kw_only=True)
class Distractors(Perturbation):
    """Static clutter on the table beside the task area (boxes and cylinders)."""

    name: ClassVar[str] = "distractors"
    kind: ClassVar[str] = "visual"
    count: tuple[int, int] = (2, 4)

    def spec_edit(self, rng: np.random.Generator) -> SpecEdit:
        n = int(rng.integers(self.count[0], self.count[1] + 1))
        items = []
        for _ in range(n):
            side = float(rng.choice([-1.0, 1.0]))
            items.append(
                {
                    "shape": str(rng.choice(["box", "cylinder"])),
                    "pos": [float(rng.uniform(0.35, 0.65)), side * float(rng.uniform(0.21, 0.28))],
                    "size": float(rng.uniform(0.015, 0.03)),
                    "height": float(rng.uniform(0.02, 0.06)),
                    "rgba": [*rng.uniform(0.05, 1.0, 3).tolist(), 1.0],
                }
            )
        return _AddDistractors(items=tuple(json.dumps(i) for i in items))


@dataclass(frozen=True)
class _AddDistractors:
    items: tuple[str, ...]

    def __call__(self, spec: mujoco.MjSpec) -> None:
        for k, raw in enumerate(self.items):
            item = json.loads(raw)
            body = spec.worldbody.add_body(
                name=f"arena_distractor_{k}", pos=[*item["pos"], item["height"] / 2]
            )
            geom_type = (
                mujoco.mjtGeom.mjGEOM_BOX
                if item["shape"] == "box"
                else mujoco.mjtGeom.mjGEOM_CYLINDER
            )
            size = [item["size"], item["size"], item["height"] / 2]
            body.add_geom(
                name=f"arena_distractor_{k}_geom", type=geom_type, size=size, rgba=item["rgba"]
            )


# --- physical ---------------------------------------------------------------------------------
@register
@dataclass(kw_only=True)
class Placement(Perturbation):
    """Shifts and turns the loose task objects (free bodies the robot does not hold)."""

    name: ClassVar[str] = "placement"
    kind: ClassVar[str] = "physical"
    radius: float = 0.03  # metres, per axis in x and y
    yaw: float = 0.3  # radians

    def apply(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        from robolearn.robot.transforms import quat_mul
        from robolearn.sim.tasks.base import yaw_quat

        m, d = robot.model, robot.data
        held = _bodies_touching_robot(m, d)
        for b in _task_bodies(m):
            if m.body_jntnum[b] != 1 or m.jnt_type[m.body_jntadr[b]] != mujoco.mjtJoint.mjJNT_FREE:
                continue
            if b in held:
                continue
            adr = int(m.jnt_qposadr[m.body_jntadr[b]])
            d.qpos[adr : adr + 2] += rng.uniform(-self.radius, self.radius, 2)
            d.qpos[adr + 3 : adr + 7] = quat_mul(
                yaw_quat(_uniform(rng, (-self.yaw, self.yaw))), d.qpos[adr + 3 : adr + 7]
            )
        mujoco.mj_forward(m, d)
        robot.mark_state_changed()


def _bodies_touching_robot(m: mujoco.MjModel, d: mujoco.MjData) -> set[int]:
    mujoco.mj_forward(m, d)
    robot_prefix = "panda/"
    out = set()
    for c in d.contact[: d.ncon]:
        b1, b2 = int(m.geom_bodyid[c.geom1]), int(m.geom_bodyid[c.geom2])
        for a, b in ((b1, b2), (b2, b1)):
            if m.body(a).name.startswith(robot_prefix):
                out.add(b)
    return out


@register
@dataclass(kw_only=True)
class Friction(Perturbation):
    """Scales the sliding friction of the task objects and the table."""

    name: ClassVar[str] = "friction"
    kind: ClassVar[str] = "physical"
    scale: tuple[float, float] = (0.4, 1.5)

    def apply(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        m = robot.model
        s = _uniform(rng, self.scale)
        for g in [*_task_geoms(m), m.geom("table_top").id]:
            m.geom_friction[g, 0] *= s


@register
@dataclass(kw_only=True)
class Mass(Perturbation):
    """Scales the mass (and inertia) of the task's objects."""

    name: ClassVar[str] = "mass"
    kind: ClassVar[str] = "physical"
    scale: tuple[float, float] = (0.5, 3.0)

    def apply(self, robot: TwinRobot, rng: np.random.Generator) -> None:
        m = robot.model
        s = _uniform(rng, self.scale)
        for b in _task_bodies(m):
            m.body_mass[b] *= s
            m.body_inertia[b] *= s


@register
@dataclass(kw_only=True)
class Gains(Perturbation):
    """Scales the Cartesian impedance stiffness of the controller (condition-level)."""

    name: ClassVar[str] = "gains"
    kind: ClassVar[str] = "physical"
    scale: tuple[float, float] = (0.5, 1.5)

    def limits_overrides(self, rng: np.random.Generator) -> dict[str, dict[str, Any]]:
        from robolearn.robot.limits import load_limits

        gains = load_limits().impedance
        s = _uniform(rng, self.scale)
        return {
            "impedance": {
                "translational_stiffness": gains.translational_stiffness * s,
                "rotational_stiffness": gains.rotational_stiffness * s,
            }
        }


# --- conditions and suites --------------------------------------------------------------------
# Model fields that `apply` may change; restored before every episode.
_MODEL_FIELDS = (
    "geom_rgba", "mat_rgba", "light_diffuse", "light_dir", "light_pos", "cam_pos", "cam_quat",
    "cam_fovy", "geom_friction", "body_mass", "body_inertia", "body_pos", "body_quat",
)  # fmt: skip


class ModelSnapshot:
    """The perturbable model fields of a compiled model, to undo episode-level changes."""

    def __init__(self, model: mujoco.MjModel) -> None:
        self.fields = {name: getattr(model, name).copy() for name in _MODEL_FIELDS}
        self.headlight = (
            np.asarray(model.vis.headlight.ambient).copy(),
            np.asarray(model.vis.headlight.diffuse).copy(),
        )

    def restore(self, model: mujoco.MjModel) -> None:
        for name, value in self.fields.items():
            getattr(model, name)[:] = value
        model.vis.headlight.ambient[:] = self.headlight[0]
        model.vis.headlight.diffuse[:] = self.headlight[1]


@dataclass
class Condition:
    """Perturbations applied together, under one name."""

    name: str
    perturbations: list[Perturbation] = field(default_factory=list)

    @property
    def kinds(self) -> set[str]:
        return {p.kind for p in self.perturbations}

    def seed(self, suite_seed: int) -> int:
        return stable_seed("condition", self.name, suite_seed)

    def spec_edits(self, suite_seed: int) -> tuple[SpecEdit, ...]:
        rng = np.random.default_rng([self.seed(suite_seed), 1])
        edits = [p.spec_edit(rng) for p in self.perturbations]
        return tuple(e for e in edits if e is not None)

    def limits_file(self, suite_seed: int) -> str | None:
        """A perturbed copy of `hardware/franka.yaml` when a perturbation changes it."""
        rng = np.random.default_rng([self.seed(suite_seed), 2])
        overrides: dict[str, dict[str, Any]] = {}
        for p in self.perturbations:
            for section, values in (p.limits_overrides(rng) or {}).items():
                overrides.setdefault(section, {}).update(values)
        if not overrides:
            return None
        from robolearn.robot.limits import default_limits_file

        raw = yaml.safe_load(default_limits_file().read_text())
        for section, values in overrides.items():
            raw[section].update(values)
        text = yaml.safe_dump(raw, sort_keys=False)
        folder = Path(tempfile.gettempdir()) / "robolearn-arena-limits"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.yaml"
        if not path.is_file():
            tmp = path.with_suffix(f".{np.random.default_rng().integers(1 << 30)}.tmp")
            tmp.write_text(text)
            tmp.replace(path)
        return str(path)

    def apply(self, robot: TwinRobot, suite_seed: int, episode_seed: int) -> None:
        rng = np.random.default_rng([self.seed(suite_seed), 3, episode_seed])
        for p in self.perturbations:
            p.apply(robot, rng)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "perturbations": [p.to_json() for p in self.perturbations]}


def make_perturbation(raw: dict[str, Any]) -> Perturbation:
    raw = dict(raw)
    kind = raw.pop("type", None)
    if kind is None:
        raise SuiteError(f"a perturbation needs a 'type'; got {raw}")
    cls = PERTURBATIONS.get(str(kind))
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SuiteError(
            f"perturbation {kind!r} has no option(s) {unknown}; it has {sorted(known)}"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return cls(**values)


def _cond(name: str, *types: str) -> Condition:
    return Condition(name, [make_perturbation({"type": t}) for t in types])


def builtin_suites() -> dict[str, list[Condition]]:
    visual = [_cond(t, t) for t in ("colors", "texture", "lighting", "camera", "distractors")]
    physical = [_cond(t, t) for t in ("placement", "friction", "mass", "gains")]
    return {
        "nominal": [_cond("nominal")],
        "small": [_cond("nominal"), _cond("lighting", "lighting"), _cond("placement", "placement")],
        "visual": [_cond("nominal"), *visual],
        "physical": [_cond("nominal"), *physical],
        "full": [
            _cond("nominal"),
            *visual,
            *physical,
            _cond("all", "colors", "texture", "lighting", "camera", "distractors", "placement",
                  "friction", "mass", "gains"),
        ],
    }  # fmt: skip


SUITES = tuple(builtin_suites())


def load_suite(name_or_path: str) -> list[Condition]:
    """A built-in suite by name, or a YAML file of named conditions (see the module docs)."""
    suites = builtin_suites()
    if name_or_path in suites:
        return suites[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise SuiteError(
            f"unknown suite {name_or_path!r}; built-in: {', '.join(suites)}, or a YAML file"
        )
    raw = yaml.safe_load(path.read_text()) or {}
    conditions = raw.get("conditions")
    if not isinstance(conditions, dict) or not conditions:
        raise SuiteError(
            f"{path}: expected a 'conditions' mapping of name -> list of perturbations"
        )
    return [
        Condition(str(n), [make_perturbation(p) for p in (ps or [])])
        for n, ps in conditions.items()
    ]
