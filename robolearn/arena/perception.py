"""Task state from fiducials: what the twin's task reports about its objects (`Task.objects`),
measured on a real cell from a camera frame and the robot state.

Each perceivable task has a `TaskPerception` (registry `TASK_PERCEPTIONS`, keyed by the task's
name) that turns the object poses reconstructed from markers (`reconstruct_from_frame`: ArUco
detection, IPPE pose, camera intrinsics and hand-eye or fixed extrinsics) into the exact keys the
twin's task publishes; success is the task's own `evaluate` on that state. A task whose state no
marker can give (a virtual goal, an insertion depth hidden in a fixture) fails at start with the
reason (`UNPERCEIVABLE`).
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from robolearn.arena.calibrate import CameraCalibration
from robolearn.arena.geometry import make_pose, pose_from_quat, pose_to_quat, upright
from robolearn.arena.markers import Fiducials
from robolearn.arena.reconstruct import ObjectPose, reconstruct_from_frame
from robolearn.registry import Registry
from robolearn.robot.limits import CellLimits
from robolearn.robot.types import RobotState
from robolearn.sim.tasks import TASKS, Task

log = logging.getLogger(__name__)


class PerceptionError(ValueError):
    """A task cannot be perceived with the given markers; the message says why."""


class TaskPerception(abc.ABC):
    """Maps reconstructed object poses to a task's object state (`Task.objects` keys)."""

    task: ClassVar[str]
    bodies: ClassVar[tuple[str, ...]]  # task objects that must carry a marker
    # Snap resting objects onto the table (see `reconstruct_from_frame`); off for objects whose
    # height is what the task measures.
    upright_prior: ClassVar[bool] = False
    # Objects that stay upright (resting, or in a top-down grasp) but leave the table: keep the
    # marker's centre and heading, take the tilt from the prior. One small marker's tilt is
    # weakly observed (several degrees), and the marker sits off the body origin, so a tilt
    # error would also move the body's position.
    keep_upright: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def objects(self, poses: dict[str, ObjectPose]) -> dict[str, np.ndarray]:
        """The task's object state from the pose of every body in `bodies`."""


TASK_PERCEPTIONS: Registry[type[TaskPerception]] = Registry("task perception")

UNPERCEIVABLE: dict[str, str] = {
    "reach": (
        "its object state is goal_pos, a virtual goal the twin draws at each reset; no physical"
        " object carries it, so there is no marker to see"
    ),
    "peg_insert": (
        "its success needs the peg's insertion depth (peg_bottom below the fixture's top); the"
        " peg is held in the gripper and sinks into the hole, where no camera sees a marker on"
        " it, so markers cannot give peg_bottom"
    ),
}


@TASK_PERCEPTIONS.register("pick_cube")
class PickCubePerception(TaskPerception):
    """The cube's body pose: `cube_pos` and `cube_quat` (w, x, y, z), as `PickCubeTask`."""

    task = "pick_cube"
    bodies = ("cube",)
    upright_prior = False  # success is the cube's height above the table
    keep_upright = ("cube",)  # the expert grasps it from above; it is never turned over

    def objects(self, poses: dict[str, ObjectPose]) -> dict[str, np.ndarray]:
        cube = poses["cube"]
        return {
            "cube_pos": np.asarray(cube.position, dtype=np.float64),
            "cube_quat": np.asarray(cube.quat_wxyz, dtype=np.float64),
        }


@dataclass(frozen=True)
class Perceived:
    """One frame's result: the task's object state and its success predicate."""

    objects: dict[str, np.ndarray]
    success: bool
    reprojection_px: dict[str, float]  # per marked object


class FiducialPerceiver:
    """A task's object state from one camera's frames and the robot state (no ROS)."""

    def __init__(
        self,
        task: str,
        camera: CameraCalibration,
        cameras: dict[str, CameraCalibration],
        fiducials: Fiducials,
        limits: CellLimits,
    ) -> None:
        if task in UNPERCEIVABLE:
            raise PerceptionError(
                f"task {task!r} cannot be perceived from fiducials: {UNPERCEIVABLE[task]}"
            )
        if task not in TASK_PERCEPTIONS:
            raise PerceptionError(
                f"task {task!r} has no fiducial perception; perceivable tasks:"
                f" {', '.join(TASK_PERCEPTIONS.names())}"
            )
        self.perception = TASK_PERCEPTIONS.get(task)()
        self.task: Task = TASKS.get(task)(limits)
        marked = {m.object for m in fiducials.objects.values()}
        unmarked = sorted(set(self.perception.bodies) - marked)
        if unmarked:
            raise PerceptionError(
                f"task {task!r} needs a marker on {unmarked}; add them to the fiducials file"
                f" (it marks {sorted(marked)})"
            )
        self._markers = {m.object: m for m in fiducials.objects.values()}
        self.task_name = task
        self.camera = camera
        self.cameras = cameras
        self.fiducials = fiducials

    def perceive(self, image: np.ndarray, state: RobotState) -> Perceived | None:
        """The task state in `image` taken at robot `state`; None unless every needed marker
        was detected (a partial state would be a wrong one)."""
        spec = reconstruct_from_frame(
            self.task_name,
            state.as_vector(),
            image,
            self.camera,
            self.fiducials,
            self.cameras,
            upright_prior=self.perception.upright_prior,
            warn_missing=False,
        )
        if any(body not in spec.objects for body in self.perception.bodies):
            return None
        poses = dict(spec.objects)
        for body in self.perception.keep_upright:
            poses[body] = _upright_about_marker(poses[body], self._markers[body].marker_in_object)
        objects = self.perception.objects(poses)
        markers = spec.source.get("markers", {})
        return Perceived(
            objects=objects,
            success=bool(self.task.evaluate(state, objects).success),
            reprojection_px={k: float(v["reprojection_px"]) for k, v in markers.items()},
        )


def _upright_about_marker(pose: ObjectPose, marker_in_object: np.ndarray) -> ObjectPose:
    """The body pose with its tilt removed, turned about the marker's centre (which the marker
    measures well) rather than the body origin."""
    body = pose_from_quat(pose.position, pose.quat_wxyz)
    marker_centre = (body @ marker_in_object)[:3, 3]
    rot = upright(body[:3, :3])
    pos, quat = pose_to_quat(make_pose(marker_centre - rot @ marker_in_object[:3, 3], rot))
    return ObjectPose(position=pos.tolist(), quat_wxyz=quat.tolist())
