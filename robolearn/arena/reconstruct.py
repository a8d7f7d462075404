"""Real-to-sim translation: a twin scene spec (JSON) that reproduces the start of a recorded
episode.

From the episode's first step: the robot's joint configuration and gripper width from its
joint states (`obs.state`); each marked object's pose from its fiducial in the first camera
frame, through the camera intrinsics and the hand-eye (or fixed) extrinsics of
`hardware/cameras.yaml`; the twin's cameras placed from the same calibration. `apply_scene`
puts a twin into that state.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from robolearn.arena.calibrate import CameraCalibration, load_cameras
from robolearn.arena.geometry import (
    CV_FROM_MUJOCO,
    invert,
    make_pose,
    pose_from_quat,
    pose_to_quat,
    upright,
)
from robolearn.arena.markers import Fiducials, detect_markers, load_fiducials
from robolearn.robot.twin import TwinRobot
from robolearn.sim.scene import CAMERAS, FINGER_JOINTS, TASK_PREFIX, TCP_SITE

log = logging.getLogger(__name__)

SCENE_FORMAT = "robolearn.arena.scene"
SCENE_FORMAT_VERSION = 1
# Layout of `obs.state` (robolearn.envs.robot_env.state_vector): proprioception first.
STATE_EE_POS = slice(0, 3)
STATE_EE_QUAT = slice(3, 7)
STATE_GRIPPER = 13
STATE_Q = slice(14, 21)


class ReconstructionError(RuntimeError):
    """The episode's start could not be reconstructed; the message says what was missing."""


@dataclass
class ObjectPose:
    position: list[float]
    quat_wxyz: list[float]


@dataclass
class CameraPose:
    """A twin camera's pose (MuJoCo camera frame) and fovy: in the robot base frame for fixed
    cameras (`SceneSpec.cameras`), in the TCP frame for hand cameras (`hand_cameras`)."""

    position: list[float]
    quat_wxyz: list[float]
    fovy_deg: float


@dataclass
class SceneSpec:
    """The initial state of one twin episode: robot, objects, cameras."""

    task: str
    joint_positions: list[float]
    gripper_width: float
    objects: dict[str, ObjectPose] = field(default_factory=dict)
    cameras: dict[str, CameraPose] = field(default_factory=dict)
    hand_cameras: dict[str, CameraPose] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # where it came from, detections

    def to_json(self) -> dict[str, Any]:
        return {"format": SCENE_FORMAT, "format_version": SCENE_FORMAT_VERSION, **asdict(self)}

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_json(), indent=2))
        return out

    @staticmethod
    def from_json(raw: dict[str, Any]) -> SceneSpec:
        if raw.get("format") != SCENE_FORMAT or raw.get("format_version") != SCENE_FORMAT_VERSION:
            raise ReconstructionError(
                f"not a scene spec (format {raw.get('format')!r} v{raw.get('format_version')!r})"
            )
        return SceneSpec(
            task=str(raw["task"]),
            joint_positions=[float(v) for v in raw["joint_positions"]],
            gripper_width=float(raw["gripper_width"]),
            objects={k: ObjectPose(**v) for k, v in raw.get("objects", {}).items()},
            cameras={k: CameraPose(**v) for k, v in raw.get("cameras", {}).items()},
            hand_cameras={k: CameraPose(**v) for k, v in raw.get("hand_cameras", {}).items()},
            source=dict(raw.get("source", {})),
        )

    @staticmethod
    def load(path: str | Path) -> SceneSpec:
        try:
            return SceneSpec.from_json(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise ReconstructionError(f"{path}: cannot read the scene spec: {err}") from None


def _tcp_pose(state: np.ndarray) -> np.ndarray:
    return pose_from_quat(state[STATE_EE_POS], state[STATE_EE_QUAT])


def camera_in_base(cam: CameraCalibration, tcp_in_base: np.ndarray) -> np.ndarray:
    """A camera's pose (OpenCV frame) in the base frame at a given TCP pose."""
    return tcp_in_base @ cam.pose if cam.mount == "tcp" else cam.pose


def reconstruct_episode(
    dataset: str | Path,
    episode: int = 0,
    *,
    camera: str = "wrist",
    cameras_file: str | Path | None = None,
    fiducials_file: str | Path | None = None,
    step: int = 0,
    upright_prior: bool = True,
) -> SceneSpec:
    """The scene at step `step` of a recorded episode (see the module docstring).

    With `upright_prior`, objects whose fiducial entry has a `resting_height` are snapped onto
    the table (position z and tilt from the prior, x, y and heading from the marker)."""
    from robolearn.data.store import EpisodeStore

    cams = load_cameras(cameras_file)
    fid = load_fiducials(fiducials_file)
    if camera not in cams:
        raise ReconstructionError(f"camera {camera!r} is not calibrated; known: {sorted(cams)}")
    with EpisodeStore.open(dataset) as store:
        key = f"obs.images.{camera}"
        if key not in store.schema:
            have = [k for k in store.schema if k.startswith("obs.images.")]
            raise ReconstructionError(f"{dataset} has no {key}; it has {have}")
        meta = store.episode_meta(episode)
        start, end = store.episode_range(episode)
        if not 0 <= step < end - start:
            raise ReconstructionError(f"step {step} is outside episode {episode} ({end - start})")
        state = np.asarray(store.array("obs.state")[start + step], dtype=np.float64)
        image = np.asarray(store.array(key)[start + step])
    spec = reconstruct_from_frame(
        meta.task, state, image, cams[camera], fid, cams, upright_prior=upright_prior
    )
    spec.source.update({"dataset": str(dataset), "episode": episode, "step": step})
    return spec


def reconstruct_from_frame(
    task: str,
    state: np.ndarray,
    image: np.ndarray,
    camera: CameraCalibration,
    fiducials: Fiducials,
    cameras: dict[str, CameraCalibration],
    *,
    upright_prior: bool = True,
    warn_missing: bool = True,
) -> SceneSpec:
    """The scene from one `obs.state` row and one RGB frame of `camera`.

    `warn_missing=False` leaves the warning about unseen markers to the caller (a node that
    perceives every frame throttles it); `source["missing"]` lists them either way."""
    if state.shape[0] < STATE_Q.stop:
        raise ReconstructionError(f"obs.state has {state.shape[0]} entries; expected >= 21")
    intr = camera.intrinsics.scaled(image.shape[:2])
    tcp = _tcp_pose(state)
    base_cam = camera_in_base(camera, tcp)
    detections = detect_markers(image, fiducials, intr)
    objects: dict[str, ObjectPose] = {}
    found = {}
    for name, marker in fiducials.objects.items():
        det = detections.get(marker.marker_id)
        if det is None:
            continue
        base_obj = base_cam @ det.pose @ invert(marker.marker_in_object)
        if upright_prior and marker.resting_height is not None:
            base_obj = make_pose(
                [base_obj[0, 3], base_obj[1, 3], marker.resting_height], upright(base_obj[:3, :3])
            )
        pos, quat = pose_to_quat(base_obj)
        objects[marker.object] = ObjectPose(position=pos.tolist(), quat_wxyz=quat.tolist())
        found[name] = {"marker_id": det.marker_id, "reprojection_px": det.reprojection_px}
    missing = sorted(set(fiducials.objects) - set(found))
    if missing and warn_missing:
        log.warning("markers of %s not found in the %s image", missing, camera.name)
    twin_cams, hand_cams = {}, {}
    for cal in cameras.values():
        pos, quat = pose_to_quat(_mujoco_frame(cal.pose))
        pose = CameraPose(
            position=pos.tolist(), quat_wxyz=quat.tolist(), fovy_deg=cal.intrinsics.fovy_deg()
        )
        (twin_cams if cal.mount == "base" else hand_cams)[cal.twin_camera] = pose
    return SceneSpec(
        task=task,
        joint_positions=state[STATE_Q].tolist(),
        gripper_width=float(state[STATE_GRIPPER]),
        objects=objects,
        cameras=twin_cams,
        hand_cameras=hand_cams,
        source={"camera": camera.name, "markers": found, "missing": missing},
    )


def _mujoco_frame(cv_pose: np.ndarray) -> np.ndarray:
    out = cv_pose.copy()
    out[:3, :3] = cv_pose[:3, :3] @ CV_FROM_MUJOCO
    return out


def free_joint_of(robot: TwinRobot, body: str) -> int | None:
    """qpos address of a task body's free joint, or None when it has none."""
    m = robot.model
    try:
        b = m.body(TASK_PREFIX + body)
    except KeyError:
        return None
    if m.body_jntnum[b.id] != 1 or m.jnt_type[m.body_jntadr[b.id]] != mujoco.mjtJoint.mjJNT_FREE:
        return None
    return int(m.jnt_qposadr[m.body_jntadr[b.id]])


def apply_scene(robot: TwinRobot, spec: SceneSpec) -> None:
    """Put the connected twin into the scene: joints, gripper, object poses, camera poses.

    Objects without a free joint are moved through their body position (fixtures)."""
    m, d = robot.model, robot.data
    kept = d.qpos.copy()  # what the task's reset placed; reset() below clears it
    robot.reset(np.asarray(spec.joint_positions, dtype=np.float64))
    own = [*range(7), *(int(m.joint(j).qposadr[0]) for j in FINGER_JOINTS)]
    others = np.setdiff1d(np.arange(m.nq), own)
    d.qpos[others] = kept[others]
    robot.set_finger_width(spec.gripper_width)
    for name, pose in spec.objects.items():
        adr = free_joint_of(robot, name)
        if adr is not None:
            d.qpos[adr : adr + 7] = [*pose.position, *pose.quat_wxyz]
            dof = int(m.jnt_dofadr[m.body_jntadr[m.body(TASK_PREFIX + name).id]])
            d.qvel[dof : dof + 6] = 0.0
        else:
            try:
                body = m.body(TASK_PREFIX + name).id
            except KeyError:
                raise ReconstructionError(f"the twin scene has no object {name!r}") from None
            m.body_pos[body] = pose.position
            m.body_quat[body] = pose.quat_wxyz
    for name, cam in spec.cameras.items():
        set_camera_pose(robot, name, cam)
    for name, cam in spec.hand_cameras.items():
        set_hand_camera(robot, name, cam)
    mujoco.mj_forward(m, d)
    robot.mark_state_changed()
    robot.hold()


def set_camera_pose(robot: TwinRobot, name: str, cam: CameraPose) -> None:
    """Place a fixed twin camera (world frame) and set its field of view."""
    m = robot.model
    cid = m.camera(CAMERAS[name]).id
    if int(m.cam_bodyid[cid]) != 0:
        raise ReconstructionError(f"camera {name!r} is carried by the robot; use set_hand_camera")
    m.cam_pos[cid] = cam.position
    m.cam_quat[cid] = cam.quat_wxyz
    m.cam_fovy[cid] = cam.fovy_deg


def set_hand_camera(robot: TwinRobot, name: str, cam: CameraPose) -> None:
    """Place a hand camera from its hand-eye calibration (MuJoCo camera frame in the TCP frame)."""
    m, d = robot.model, robot.data
    mujoco.mj_forward(m, d)
    cid = m.camera(CAMERAS[name]).id
    body = int(m.cam_bodyid[cid])
    tcp = m.site(TCP_SITE).id
    world_tcp = make_pose(d.site_xpos[tcp], d.site_xmat[tcp].reshape(3, 3))
    world_body = make_pose(d.xpos[body], d.xmat[body].reshape(3, 3))
    body_cam = invert(world_body) @ world_tcp @ pose_from_quat(cam.position, cam.quat_wxyz)
    pos, quat = pose_to_quat(body_cam)
    m.cam_pos[cid] = pos
    m.cam_quat[cid] = quat
    m.cam_fovy[cid] = cam.fovy_deg
