"""Fiducial markers (OpenCV ArUco): the `hardware/fiducials.yaml` file, detection and pose
estimation, and painting the same markers on the twin's objects (so twin-rendered images have
real markers with a known ground truth).

A marker's frame is OpenCV's: origin at the marker centre, x to the right and y up in the
printed image, z out of the surface. `marker_in_object` is that frame in the object's body frame.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import mujoco
import numpy as np
import yaml

from robolearn.arena.calibrate import CalibrationError, Intrinsics, _floats
from robolearn.arena.geometry import pose_from_quat, rvec_tvec_to_pose
from robolearn.sim.scene import TASK_PREFIX

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Margin of white around the black square, in marker cells (ArUco needs a quiet zone).
QUIET_CELLS = 1


@dataclass(frozen=True, kw_only=True)
class ObjectMarker:
    """The marker on one object."""

    object: str  # body name in the task scene (without the `task/` prefix)
    marker_id: int
    marker_size: float  # side of the black square, metres
    marker_in_object: np.ndarray  # 4x4
    resting_height: float | None = None  # body origin above the table when it rests upright


@dataclass(frozen=True, kw_only=True)
class Fiducials:
    dictionary: str = "DICT_4X4_50"
    objects: dict[str, ObjectMarker] = field(default_factory=dict)

    def aruco_dictionary(self) -> cv2.aruco.Dictionary:
        code = getattr(cv2.aruco, self.dictionary, None)
        if code is None:
            raise CalibrationError(f"unknown ArUco dictionary {self.dictionary!r}")
        return cv2.aruco.getPredefinedDictionary(code)

    def by_id(self) -> dict[int, ObjectMarker]:
        return {m.marker_id: m for m in self.objects.values()}


def default_fiducials_file() -> Path:
    from robolearn.paths import asset_dir

    return asset_dir("hardware") / "fiducials.yaml"


def load_fiducials(path: str | Path | None = None) -> Fiducials:
    """Read a fiducials file (default `hardware/fiducials.yaml`)."""
    file = Path(path) if path is not None else default_fiducials_file()
    source = str(file)
    if not file.is_file():
        raise CalibrationError(f"{source}: fiducials file not found")
    raw = yaml.safe_load(file.read_text())
    if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
        raise CalibrationError(f"{source}: expected a mapping with format_version {FORMAT_VERSION}")
    objects = {}
    for name, entry in (raw.get("objects") or {}).items():
        where = f"objects.{name}"
        try:
            pose = entry["marker_in_object"]
            marker = ObjectMarker(
                object=str(entry.get("body", name)),
                marker_id=int(entry["marker_id"]),
                marker_size=float(entry["marker_size"]),
                marker_in_object=pose_from_quat(
                    _floats(source, f"{where}.marker_in_object.position", pose["position"], 3),
                    _floats(source, f"{where}.marker_in_object.quat_wxyz", pose["quat_wxyz"], 4),
                ),
                resting_height=(
                    float(entry["resting_height"])
                    if entry.get("resting_height") is not None
                    else None
                ),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CalibrationError(f"{source}: {where} is malformed ({err!r})") from None
        if marker.marker_size <= 0:
            raise CalibrationError(f"{source}: {where}.marker_size must be positive")
        objects[name] = marker
    fid = Fiducials(dictionary=str(raw.get("dictionary", "DICT_4X4_50")), objects=objects)
    fid.aruco_dictionary()  # fail early on a bad name
    ids = [m.marker_id for m in objects.values()]
    if len(set(ids)) != len(ids):
        raise CalibrationError(f"{source}: two objects share a marker id: {ids}")
    return fid


# --- detection --------------------------------------------------------------------------------
@dataclass
class Detection:
    marker_id: int
    corners: (
        np.ndarray
    )  # (4, 2) pixels, ArUco order: top-left, top-right, bottom-right, bottom-left
    pose: np.ndarray  # marker frame in the camera (OpenCV) frame
    reprojection_px: float


def detect_markers(
    image: np.ndarray, fiducials: Fiducials, intr: Intrinsics
) -> dict[int, Detection]:
    """Detect the configured markers in an RGB image and estimate their poses (IPPE square).

    Of IPPE's two solutions (the planar ambiguity) the one with the smaller reprojection error
    is kept."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_APRILTAG
    detector = cv2.aruco.ArucoDetector(fiducials.aruco_dictionary(), params)
    corners, ids, _ = detector.detectMarkers(gray)
    known = fiducials.by_id()
    out: dict[int, Detection] = {}
    if ids is None:
        return out
    k, dist = intr.matrix, np.asarray(intr.dist, dtype=np.float64)
    for c, marker_id in zip(corners, np.ravel(ids), strict=True):
        marker = known.get(int(marker_id))
        if marker is None:
            continue
        s = marker.marker_size / 2.0
        obj = np.array([[-s, s, 0], [s, s, 0], [s, -s, 0], [-s, -s, 0]], dtype=np.float64)
        pts = c.reshape(4, 2).astype(np.float64)
        n, rvecs, tvecs, errs = cv2.solvePnPGeneric(
            obj, pts, k, dist, flags=cv2.SOLVEPNP_IPPE_SQUARE
        )
        if n == 0:
            continue
        best = int(np.argmin(np.ravel(errs)))
        out[int(marker_id)] = Detection(
            marker_id=int(marker_id),
            corners=pts,
            pose=rvec_tvec_to_pose(rvecs[best], tvecs[best]),
            reprojection_px=float(np.ravel(errs)[best]),
        )
    return out


# --- painting markers on twin objects ---------------------------------------------------------
def marker_face_image(fiducials: Fiducials, marker: ObjectMarker, face_size: float) -> np.ndarray:
    """A square grayscale image of a face `face_size` metres wide with the marker centred."""
    cells = 4 + 2  # the DICT_4X4 family: 4 data bits + the black border on each side
    bits = fiducials.aruco_dictionary().markerSize
    cells = bits + 2
    px_per_cell = 20
    marker_px = cells * px_per_cell
    face_px = int(round(marker_px * face_size / marker.marker_size))
    if face_px < marker_px + 2 * QUIET_CELLS * px_per_cell:
        raise CalibrationError(
            f"marker {marker.marker_id} ({marker.marker_size} m) leaves no quiet zone on a"
            f" {face_size} m face"
        )
    image = np.full((face_px, face_px), 255, np.uint8)
    o = (face_px - marker_px) // 2
    image[o : o + marker_px, o : o + marker_px] = cv2.aruco.generateImageMarker(
        fiducials.aruco_dictionary(), marker.marker_id, marker_px
    )
    return image


def _texture_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "robolearn-arena-textures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_cube_faces(top: np.ndarray, fill: int = 235) -> list[str]:
    """Six same-sized PNG files (MuJoCo's cube order +x, -x, +y, -y, +z, -z) with `top` on the
    +z face; cached by content under the temp folder."""
    digest = hashlib.sha1(top.tobytes() + bytes([fill]) + str(top.shape).encode()).hexdigest()[:16]
    folder = _texture_dir()
    top_file = folder / f"{digest}_top.png"
    side_file = folder / f"{digest}_side.png"
    if not top_file.is_file():
        cv2.imwrite(str(side_file), np.full(top.shape[:2], fill, np.uint8))
        cv2.imwrite(str(top_file), top)
    side = str(side_file)
    return [side, side, side, side, str(top_file), side]


@dataclass(frozen=True)
class PaintMarkers:
    """A scene edit (`TwinConfig.scene_edits`) that puts each object's marker on its box geom.

    Only markers on the top (+z) face of a box geom are painted; `marker_in_object` must say
    so (z up, at the top face's height)."""

    fiducials: Fiducials

    def __call__(self, spec: mujoco.MjSpec) -> None:
        for name, marker in self.fiducials.objects.items():
            body = spec.body(TASK_PREFIX + marker.object)
            if body is None:
                continue  # this scene does not hold the object
            geoms = [g for g in body.geoms if g.type == mujoco.mjtGeom.mjGEOM_BOX]
            if not geoms:
                raise CalibrationError(f"object {name!r} has no box geom to carry a marker")
            geom = geoms[0]
            half = np.asarray(geom.size, dtype=np.float64)
            if not math.isclose(half[0], half[1]):
                raise CalibrationError(f"object {name!r}: the top face must be square")
            top = marker_face_image(self.fiducials, marker, 2.0 * half[0])
            # The texture's image rows run along -y of the face and columns along +x; rotate
            # the image so the marker's printed x/y axes land on the body axes
            # that `marker_in_object` declares (see `marker_rotation_k`).
            top = np.rot90(top, k=marker_rotation_k(marker))
            tex = spec.add_texture(
                name=f"arena_marker_{name}", type=mujoco.mjtTexture.mjTEXTURE_CUBE
            )
            tex.cubefiles = write_cube_faces(np.ascontiguousarray(top))
            mat = spec.add_material(name=f"arena_marker_{name}_mat")
            mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
            geom.material = mat.name
            geom.rgba = [1.0, 1.0, 1.0, 1.0]


def marker_rotation_k(marker: ObjectMarker) -> int:
    """Quarter turns (np.rot90) that put the printed marker's axes on the declared yaw."""
    rot = marker.marker_in_object[:3, :3]
    if not np.allclose(rot[:, 2], [0.0, 0.0, 1.0], atol=1e-6):
        raise CalibrationError(f"marker {marker.marker_id}: only top-face markers can be painted")
    yaw = math.degrees(math.atan2(rot[1, 0], rot[0, 0]))
    k = round(yaw / 90.0)
    if abs(yaw - 90.0 * k) > 1e-3:
        raise CalibrationError(f"marker {marker.marker_id}: yaw {yaw} is not a quarter turn")
    return int(k) % 4 + _TEXTURE_BASE_TURNS


# Quarter turns between MuJoCo's +z cube face mapping and an unrotated marker (measured by
# tests/arena/test_reconstruct.py: painted, rendered, detected).
_TEXTURE_BASE_TURNS = 0


def fiducials_to_yaml(fid: Fiducials) -> dict[str, Any]:
    from robolearn.arena.geometry import pose_to_quat

    objects = {}
    for name, m in fid.objects.items():
        pos, quat = pose_to_quat(m.marker_in_object)
        objects[name] = {
            "body": m.object,
            "marker_id": m.marker_id,
            "marker_size": m.marker_size,
            "marker_in_object": {"position": pos.tolist(), "quat_wxyz": quat.tolist()},
            "resting_height": m.resting_height,
        }
    return {"format_version": FORMAT_VERSION, "dictionary": fid.dictionary, "objects": objects}
