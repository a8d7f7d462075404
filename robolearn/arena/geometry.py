"""Rigid transforms (4x4 homogeneous matrices) and camera-frame conventions.

OpenCV cameras look along +z with +y down the image; MuJoCo cameras look along -z with +y up.
Calibration files and OpenCV results use the OpenCV frame; `mujoco_camera_rotation` converts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robolearn.robot.transforms import mat_to_quat, quat_to_mat

# OpenCV camera frame expressed in MuJoCo's camera frame (and back: it is its own inverse).
CV_FROM_MUJOCO = np.diag([1.0, -1.0, -1.0])


def make_pose(position: Sequence[float], rotation: np.ndarray) -> np.ndarray:
    """A 4x4 transform from a position and a 3x3 rotation matrix."""
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = np.asarray(position, dtype=np.float64)
    return pose


def pose_from_quat(position: Sequence[float], quat_wxyz: Sequence[float]) -> np.ndarray:
    q = np.asarray(quat_wxyz, dtype=np.float64)
    return make_pose(position, quat_to_mat(q / np.linalg.norm(q)))


def pose_to_quat(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, quaternion w-x-y-z) of a 4x4 transform."""
    return pose[:3, 3].copy(), mat_to_quat(pose[:3, :3])


def invert(pose: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    rot = pose[:3, :3]
    out[:3, :3] = rot.T
    out[:3, 3] = -rot.T @ pose[:3, 3]
    return out


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (radians) of the rotation between two 3x3 rotations (or the rotation parts)."""
    rel = a[:3, :3].T @ b[:3, :3]
    return float(np.arccos(np.clip((np.trace(rel) - 1.0) / 2.0, -1.0, 1.0)))


def yaw_of(rotation: np.ndarray) -> float:
    """Heading of a rotation's x axis about the world z axis."""
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def yaw_rotation(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def upright(rotation: np.ndarray) -> np.ndarray:
    """The yaw-only rotation closest to `rotation` whose z axis points up: for an object known
    to rest on the table, keep its heading (folded so the object's own z axis stays up)."""
    return yaw_rotation(yaw_of(rotation))


def rvec_tvec_to_pose(rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    import cv2

    rot, _ = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3, 1))
    return make_pose(np.asarray(tvec, dtype=np.float64).reshape(3), rot)
