"""Camera calibration: the `hardware/cameras.yaml` file, and OpenCV intrinsics and hand-eye
calibration over recorded images of a checkerboard (`robolearn calibrate ...`).

A camera is either fixed in the cell (`mount: base`, its pose in the robot base frame) or
carried by the hand (`mount: tcp`, its pose in the TCP frame: the hand-eye calibration).
Poses are of the OpenCV camera frame (x right, y down, z along the optical axis).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from robolearn.arena.geometry import (
    CV_FROM_MUJOCO,
    invert,
    make_pose,
    pose_from_quat,
    pose_to_quat,
    rvec_tvec_to_pose,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MOUNTS = ("base", "tcp")


class CalibrationError(ValueError):
    """A calibration file is malformed, or a calibration could not be computed."""


@dataclass(frozen=True, kw_only=True)
class Intrinsics:
    """Pinhole intrinsics for images of `image_size` (height, width), plus OpenCV distortion."""

    fx: float
    fy: float
    cx: float
    cy: float
    image_size: tuple[int, int]
    dist: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, image_size: tuple[int, int]) -> Intrinsics:
        """The same camera at another resolution (same field of view, pixel centres kept)."""
        h0, w0 = self.image_size
        h, w = image_size
        sx, sy = w / w0, h / h0
        return Intrinsics(
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            image_size=(int(h), int(w)),
            dist=self.dist,
        )

    @staticmethod
    def from_fovy(fovy_deg: float, image_size: tuple[int, int]) -> Intrinsics:
        """A MuJoCo camera's intrinsics (square pixels, principal point at the centre)."""
        h, w = image_size
        f = 0.5 * h / math.tan(math.radians(fovy_deg) / 2.0)
        return Intrinsics(fx=f, fy=f, cx=w / 2.0 - 0.5, cy=h / 2.0 - 0.5, image_size=(h, w))

    def fovy_deg(self) -> float:
        return math.degrees(2.0 * math.atan(0.5 * self.image_size[0] / self.fy))


@dataclass(frozen=True, kw_only=True)
class CameraCalibration:
    """One camera: intrinsics and its pose (OpenCV frame) in the frame named by `mount`."""

    name: str
    twin_camera: str  # the camera of the twin it corresponds to (robolearn.sim.scene.CAMERAS)
    mount: str  # "base": pose in the robot base frame; "tcp": pose in the TCP frame
    intrinsics: Intrinsics
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))

    def to_yaml(self) -> dict[str, Any]:
        pos, quat = pose_to_quat(self.pose)
        k = self.intrinsics
        return {
            "twin_camera": self.twin_camera,
            "mount": self.mount,
            "image_size": list(k.image_size),
            "intrinsics": {
                "fx": float(k.fx),
                "fy": float(k.fy),
                "cx": float(k.cx),
                "cy": float(k.cy),
                "dist": [float(d) for d in k.dist],
            },
            "pose": {
                "position": [round(float(v), 6) for v in pos],
                "quat_wxyz": [round(float(v), 6) for v in quat],
            },
        }


def default_cameras_file() -> Path:
    from robolearn.paths import asset_dir

    return asset_dir("hardware") / "cameras.yaml"


def _floats(source: str, where: str, value: Any, n: int | None = None) -> list[float]:
    if not isinstance(value, list) or (n is not None and len(value) != n):
        size = f"{n} " if n is not None else ""
        raise CalibrationError(f"{source}: {where} must be a list of {size}numbers, got {value!r}")
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        raise CalibrationError(f"{source}: {where} must hold numbers, got {value!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise CalibrationError(f"{source}: {where} holds NaN or inf: {value!r}")
    return out


def load_cameras(path: str | Path | None = None) -> dict[str, CameraCalibration]:
    """Read a cameras file (default `hardware/cameras.yaml`); errors name the file and field."""
    file = Path(path) if path is not None else default_cameras_file()
    source = str(file)
    if not file.is_file():
        raise CalibrationError(f"{source}: cameras file not found")
    raw = yaml.safe_load(file.read_text())
    if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
        raise CalibrationError(f"{source}: expected a mapping with format_version {FORMAT_VERSION}")
    cameras = raw.get("cameras")
    if not isinstance(cameras, dict) or not cameras:
        raise CalibrationError(f"{source}: missing the 'cameras' mapping")
    out = {}
    for name, entry in cameras.items():
        where = f"cameras.{name}"
        if not isinstance(entry, dict):
            raise CalibrationError(f"{source}: {where} must be a mapping")
        mount = entry.get("mount")
        if mount not in MOUNTS:
            raise CalibrationError(
                f"{source}: {where}.mount must be one of {MOUNTS}, got {mount!r}"
            )
        try:
            k = entry["intrinsics"]
            size = _floats(source, f"{where}.image_size", entry["image_size"], 2)
            pose = entry["pose"]
            position = _floats(source, f"{where}.pose.position", pose["position"], 3)
            quat = _floats(source, f"{where}.pose.quat_wxyz", pose["quat_wxyz"], 4)
            intr = Intrinsics(
                fx=float(k["fx"]),
                fy=float(k["fy"]),
                cx=float(k["cx"]),
                cy=float(k["cy"]),
                image_size=(int(size[0]), int(size[1])),
                dist=tuple(_floats(source, f"{where}.intrinsics.dist", k.get("dist", [0.0] * 5))),
            )
        except (KeyError, TypeError) as err:
            raise CalibrationError(f"{source}: {where} lacks field {err}") from None
        out[name] = CameraCalibration(
            name=name,
            twin_camera=str(entry.get("twin_camera", name)),
            mount=mount,
            intrinsics=intr,
            pose=pose_from_quat(position, quat),
        )
    return out


def save_cameras(cameras: dict[str, CameraCalibration], path: str | Path, note: str = "") -> Path:
    """Write (or update) a cameras file; other cameras already in the file are kept."""
    file = Path(path)
    existing: dict[str, Any] = {}
    if file.is_file():
        raw = yaml.safe_load(file.read_text()) or {}
        existing = dict(raw.get("cameras") or {})
    existing.update({name: cam.to_yaml() for name, cam in cameras.items()})
    header = (
        "# Camera intrinsics and extrinsics (robolearn calibrate). Poses are of the OpenCV\n"
        "# camera frame (x right, y down, z forward); mount base = in the robot base frame,\n"
        "# mount tcp = in the TCP frame (hand-eye). Units: metres, pixels.\n"
    )
    if note:
        header += "".join(f"# {line}\n" for line in note.splitlines())
    file.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(
        {"format_version": FORMAT_VERSION, "cameras": existing},
        sort_keys=False,
        default_flow_style=None,  # short lists on one line
    )
    file.write_text(header + body)
    return file


# --- the twin's own cameras (ground truth for tests, and the example file) --------------------
def twin_camera_calibration(
    robot: Any, name: str, image_size: tuple[int, int] = (480, 640)
) -> CameraCalibration:
    """The exact calibration of a twin camera, read from the MuJoCo model (robot connected).

    Cameras on a moving body get `mount: tcp` with their pose in the TCP frame; fixed ones
    `mount: base`. This is what a perfect `robolearn calibrate` on the twin would return."""
    import mujoco

    from robolearn.sim.scene import CAMERAS, TCP_SITE

    m, d = robot.model, robot.data
    mujoco.mj_forward(m, d)
    cam = m.camera(CAMERAS[name])
    world_cam = make_pose(d.cam_xpos[cam.id], d.cam_xmat[cam.id].reshape(3, 3) @ CV_FROM_MUJOCO)
    fixed = int(m.cam_bodyid[cam.id]) == 0
    if fixed:
        pose, mount = world_cam, "base"
    else:
        tcp = m.site(TCP_SITE).id
        world_tcp = make_pose(d.site_xpos[tcp], d.site_xmat[tcp].reshape(3, 3))
        pose, mount = invert(world_tcp) @ world_cam, "tcp"
    return CameraCalibration(
        name=name,
        twin_camera=name,
        mount=mount,
        intrinsics=Intrinsics.from_fovy(float(m.cam_fovy[cam.id]), image_size),
        pose=pose,
    )


# --- checkerboards ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Checkerboard:
    """A checkerboard with `cols` x `rows` inner corners and squares of `square` metres."""

    cols: int = 7
    rows: int = 5
    square: float = 0.02

    def object_points(self) -> np.ndarray:
        grid = np.mgrid[0 : self.cols, 0 : self.rows].T.reshape(-1, 2)
        pts = np.zeros((self.cols * self.rows, 3), np.float32)
        pts[:, :2] = grid * self.square
        return pts

    def image(self, pixels_per_square: int = 40) -> np.ndarray:
        """A printable grayscale image of the board with a one-square white margin."""
        n_x, n_y = self.cols + 1, self.rows + 1
        p = pixels_per_square
        board = np.full(((n_y + 2) * p, (n_x + 2) * p), 255, np.uint8)
        for j in range(n_y):
            for i in range(n_x):
                if (i + j) % 2 == 0:
                    board[(j + 1) * p : (j + 2) * p, (i + 1) * p : (i + 2) * p] = 0
        return board

    @staticmethod
    def parse(text: str, square: float) -> Checkerboard:
        try:
            cols, rows = (int(v) for v in text.lower().split("x"))
        except ValueError:
            raise CalibrationError(
                f"--board must look like 7x6 (inner corners), got {text!r}"
            ) from None
        if cols < 2 or rows < 2 or square <= 0:
            raise CalibrationError("a board needs at least 2x2 inner corners and square > 0")
        return Checkerboard(cols=cols, rows=rows, square=square)


def find_corners(image: np.ndarray, board: Checkerboard) -> np.ndarray | None:
    """Sub-pixel inner corners (N, 1, 2) of the board in an RGB or gray image, or None."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    found, corners = cv2.findChessboardCorners(
        gray,
        (board.cols, board.rows),
        flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE,
    )
    if not found:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    return cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)


@dataclass
class IntrinsicsResult:
    intrinsics: Intrinsics
    rms_px: float  # reprojection error
    used: list[int]  # indices of the images where the board was found


def calibrate_intrinsics(
    images: Sequence[np.ndarray],
    board: Checkerboard,
    *,
    fix_principal_point: bool = False,
    zero_tangential: bool = True,
) -> IntrinsicsResult:
    """`cv2.calibrateCamera` over the images in which the board is found (at least 3)."""
    if not images:
        raise CalibrationError("no images to calibrate from")
    size = images[0].shape[:2]
    obj, img, used = [], [], []
    for i, image in enumerate(images):
        if image.shape[:2] != size:
            raise CalibrationError(f"image {i} is {image.shape[:2]}, the first was {size}")
        corners = find_corners(image, board)
        if corners is not None:
            obj.append(board.object_points())
            img.append(corners)
            used.append(i)
    if len(used) < 3:
        raise CalibrationError(
            f"the {board.cols}x{board.rows} board was found in {len(used)} of {len(images)}"
            " images; need at least 3 (check --board: inner corners, columns x rows)"
        )
    flags = cv2.CALIB_FIX_K3
    if zero_tangential:
        flags |= cv2.CALIB_ZERO_TANGENT_DIST
    if fix_principal_point:
        flags |= cv2.CALIB_FIX_PRINCIPAL_POINT
    h, w = size
    rms, k, dist, _, _ = cv2.calibrateCamera(obj, img, (w, h), None, None, flags=flags)
    intr = Intrinsics(
        fx=float(k[0, 0]),
        fy=float(k[1, 1]),
        cx=float(k[0, 2]),
        cy=float(k[1, 2]),
        image_size=(h, w),
        dist=tuple(float(v) for v in np.ravel(dist)[:5]),
    )
    log.info("intrinsics from %d images: rms %.3f px", len(used), rms)
    return IntrinsicsResult(intrinsics=intr, rms_px=float(rms), used=used)


def board_pose(image: np.ndarray, board: Checkerboard, intr: Intrinsics) -> np.ndarray | None:
    """The board's pose in the camera (OpenCV) frame, or None when it is not found."""
    corners = find_corners(image, board)
    if corners is None:
        return None
    ok, rvec, tvec = cv2.solvePnP(
        board.object_points(), corners, intr.matrix, np.asarray(intr.dist), flags=cv2.SOLVEPNP_IPPE
    )
    if not ok:
        return None
    return rvec_tvec_to_pose(rvec, tvec)


HAND_EYE_METHODS = {
    "tsai": cv2.CALIB_HAND_EYE_TSAI,
    "park": cv2.CALIB_HAND_EYE_PARK,
    "horaud": cv2.CALIB_HAND_EYE_HORAUD,
    "andreff": cv2.CALIB_HAND_EYE_ANDREFF,
    "daniilidis": cv2.CALIB_HAND_EYE_DANIILIDIS,
}


@dataclass
class HandEyeResult:
    pose: np.ndarray  # camera (OpenCV frame) in the TCP frame (mount tcp) or base (mount base)
    mount: str
    used: list[int]


def calibrate_hand_eye(
    images: Sequence[np.ndarray],
    tcp_poses: Sequence[np.ndarray],
    board: Checkerboard,
    intr: Intrinsics,
    *,
    mount: str = "tcp",
    method: str = "park",
) -> HandEyeResult:
    """`cv2.calibrateHandEye` from images of a fixed board and the TCP poses (base frame) at
    which they were taken.

    `mount="tcp"` (eye-in-hand) returns the camera pose in the TCP frame. `mount="base"`
    (eye-to-hand, the board held by the gripper) returns the camera pose in the base frame,
    by feeding OpenCV the inverted robot poses."""
    if mount not in MOUNTS:
        raise CalibrationError(f"mount must be one of {MOUNTS}, got {mount!r}")
    if method not in HAND_EYE_METHODS:
        raise CalibrationError(f"unknown method {method!r}; known: {', '.join(HAND_EYE_METHODS)}")
    if len(images) != len(tcp_poses):
        raise CalibrationError(f"{len(images)} images but {len(tcp_poses)} robot poses")
    r_g2b, t_g2b, r_t2c, t_t2c, used = [], [], [], [], []
    scaled = intr.scaled(images[0].shape[:2]) if images else intr
    for i, (image, tcp) in enumerate(zip(images, tcp_poses, strict=True)):
        target = board_pose(image, board, scaled)
        if target is None:
            continue
        gripper = tcp if mount == "tcp" else invert(tcp)
        r_g2b.append(gripper[:3, :3])
        t_g2b.append(gripper[:3, 3].reshape(3, 1))
        r_t2c.append(target[:3, :3])
        t_t2c.append(target[:3, 3].reshape(3, 1))
        used.append(i)
    if len(used) < 3:
        raise CalibrationError(
            f"the board was found in {len(used)} of {len(images)} images; hand-eye calibration"
            " needs at least 3 views from distinct, non-parallel rotations"
        )
    rot, trans = cv2.calibrateHandEye(r_g2b, t_g2b, r_t2c, t_t2c, method=HAND_EYE_METHODS[method])
    return HandEyeResult(pose=make_pose(np.ravel(trans), rot), mount=mount, used=used)
