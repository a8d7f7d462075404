"""Intrinsics and hand-eye calibration on twin-rendered checkerboard images against the twin's
exact camera model, the cameras file, and the `robolearn calibrate` CLI on a recorded dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import pytest

from robolearn.arena.calibrate import (
    CalibrationError,
    Checkerboard,
    Intrinsics,
    calibrate_hand_eye,
    calibrate_intrinsics,
    load_cameras,
    save_cameras,
    twin_camera_calibration,
)
from robolearn.arena.geometry import pose_from_quat, rotation_angle
from robolearn.arena.markers import write_cube_faces
from robolearn.robot.twin import TwinConfig, TwinRobot

BOARD = Checkerboard(cols=7, rows=6, square=0.015)  # odd x even: no 180-degree ambiguity
SIZE = (480, 640)


@dataclass(frozen=True)
class BoardOnTable:
    """A scene edit: a printed checkerboard lying on the table under the home TCP."""

    board: Checkerboard

    def __call__(self, spec: mujoco.MjSpec) -> None:
        image = self.board.image(40)
        n = max(image.shape)
        square = np.full((n, n), 255, np.uint8)
        r0, c0 = (n - image.shape[0]) // 2, (n - image.shape[1]) // 2
        square[r0 : r0 + image.shape[0], c0 : c0 + image.shape[1]] = image
        side = n / 40 * self.board.square
        tex = spec.add_texture(name="board_tex", type=mujoco.mjtTexture.mjTEXTURE_CUBE)
        tex.cubefiles = write_cube_faces(square, fill=255)
        mat = spec.add_material(name="board_mat")
        mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "board_tex"
        body = spec.worldbody.add_body(name="board", pos=[0.45, 0.0, 0.001])
        body.add_geom(
            name="board_geom", type=mujoco.mjtGeom.mjGEOM_BOX, size=[side / 2, side / 2, 0.001],
            material="board_mat", rgba=[1, 1, 1, 1], contype=0, conaffinity=0,
        )  # fmt: skip


@pytest.fixture(scope="module")
def views() -> tuple[list[np.ndarray], list[np.ndarray], object]:
    robot = TwinRobot(TwinConfig(scene_edits=(BoardOnTable(BOARD),)))
    robot.connect()
    truth = twin_camera_calibration(robot, "wrist", SIZE)
    rng = np.random.default_rng(0)
    home = robot.limits.arm.home_joint_positions
    images, poses = [], []
    # Views must be tilted enough: from near-parallel views focal length and board distance
    # are confounded (1 % focal error became 2.4 cm of hand-eye error in the twin).
    spread = np.array([0.3, 0.3, 0.2, 0.3, 0.5, 0.5, 0.6])
    for _ in range(16):
        q = home + rng.uniform(-1.0, 1.0, 7) * spread
        state = robot.reset(q)
        images.append(robot.render("wrist", SIZE))
        poses.append(pose_from_quat(state.ee_pos, state.ee_quat))
    robot.close()
    return images, poses, truth


def test_intrinsics_match_the_twin_camera(views: tuple) -> None:
    images, _, truth = views
    result = calibrate_intrinsics(images, BOARD)
    assert len(result.used) >= 6 and result.rms_px < 0.5
    k, t = result.intrinsics, truth.intrinsics
    assert abs(k.fx / t.fx - 1) < 0.02 and abs(k.fy / t.fy - 1) < 0.02
    assert abs(k.cx - t.cx) < 4 and abs(k.cy - t.cy) < 4


def test_hand_eye_matches_the_twin_camera_mount(views: tuple) -> None:
    images, poses, truth = views
    result = calibrate_hand_eye(images, poses, BOARD, truth.intrinsics)
    assert result.mount == "tcp"
    assert np.linalg.norm(result.pose[:3, 3] - truth.pose[:3, 3]) < 0.01
    assert np.degrees(rotation_angle(result.pose, truth.pose)) < 1.0
    with pytest.raises(CalibrationError, match="images but"):
        calibrate_hand_eye(images, poses[:-1], BOARD, truth.intrinsics)


def test_board_not_found_says_what_to_check(views: tuple) -> None:
    images, _, _ = views
    with pytest.raises(CalibrationError, match="check --board"):
        calibrate_intrinsics(images[:4], Checkerboard(cols=9, rows=4, square=0.015))


def test_cameras_file_round_trip_and_errors(tmp_path: Path) -> None:
    cams = load_cameras()  # the shipped example: the twin's cameras
    assert set(cams) >= {"front", "wrist"} and cams["wrist"].mount == "tcp"
    out = save_cameras(cams, tmp_path / "cameras.yaml")
    again = load_cameras(out)
    np.testing.assert_allclose(again["front"].pose, cams["front"].pose, atol=1e-5)
    bad = tmp_path / "bad.yaml"
    bad.write_text("format_version: 1\ncameras:\n  x: {mount: elbow}\n")
    with pytest.raises(CalibrationError, match="mount must be one of"):
        load_cameras(bad)
    k = Intrinsics.from_fovy(45.0, (480, 640))
    half = k.scaled((240, 320))
    assert half.fx == pytest.approx(k.fx / 2) and half.cx == pytest.approx(159.5)
    assert half.fovy_deg() == pytest.approx(45.0)


def test_calibrate_cli_on_a_recorded_dataset(views: tuple, tmp_path: Path) -> None:
    from robolearn.cli.main import main
    from robolearn.data.schema import FieldSpec
    from robolearn.data.store import EpisodeMeta, EpisodeStore

    images, poses, truth = views
    schema = {
        "obs.state": FieldSpec((21,), "<f4"),
        "obs.images.wrist": FieldSpec((*SIZE, 3), "|u1"),
        "action": FieldSpec((7,), "<f4"),
        "reward": FieldSpec((), "<f4"),
        "terminated": FieldSpec((), "|b1"),
        "truncated": FieldSpec((), "|b1"),
        "action_source": FieldSpec((), "|u1"),
    }
    from robolearn.robot.transforms import mat_to_quat

    n = len(images)
    state = np.zeros((n, 21), np.float32)
    for i, pose in enumerate(poses):
        state[i, :3] = pose[:3, 3]
        state[i, 3:7] = mat_to_quat(pose[:3, :3])
    with EpisodeStore.create(tmp_path / "board", schema) as store:
        writer = store.begin_episode()
        writer.add_steps(
            {
                "obs.state": state,
                "obs.images.wrist": np.stack(images),
                "action": np.zeros((n, 7), np.float32),
                "reward": np.zeros(n, np.float32),
                "terminated": np.zeros(n, bool),
                "truncated": np.zeros(n, bool),
                "action_source": np.full(n, 2, np.uint8),
            }
        )
        writer.commit(EpisodeMeta(task="calibration", success=True))
    out = tmp_path / "cameras.yaml"
    common = ["--camera", "wrist", "--board", "7x6", "--square", "0.015", "--out", str(out)]
    assert main(["calibrate", "intrinsics", "--images", str(tmp_path / "board"), *common]) == 0
    assert main(["calibrate", "hand-eye", "--dataset", str(tmp_path / "board"), *common]) == 0
    cam = load_cameras(out)["wrist"]
    assert abs(cam.intrinsics.fx / truth.intrinsics.fx - 1) < 0.02
    assert np.linalg.norm(cam.pose[:3, 3] - truth.pose[:3, 3]) < 0.01
