"""`robolearn arena ...` and `robolearn calibrate ...` argument handling and error exits."""

from __future__ import annotations

from pathlib import Path

import pytest

from robolearn.cli.main import build_parser, main


def test_ray_flag_takes_an_optional_address() -> None:
    parser = build_parser()
    assert parser.parse_args(["arena", "run", "--out", "x"]).ray is None
    assert parser.parse_args(["arena", "run", "--out", "x", "--ray"]).ray == "local"
    args = parser.parse_args(["arena", "run", "--out", "x", "--ray", "ray://head:10001"])
    assert args.ray == "ray://head:10001"
    args = parser.parse_args(["arena", "run", "--out", "x", "--policies", "expert", "rlpd:a.st"])
    assert args.policies == ["expert", "rlpd:a.st"] and args.executor == "processes"


def test_errors_exit_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["arena", "report", "--out", str(tmp_path / "none")]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert main(["arena", "run", "--out", str(tmp_path / "r"), "--scene", "missing.json"]) == 2
    assert "scene spec missing.json not found" in capsys.readouterr().err
    args = ["arena", "run", "--out", str(tmp_path / "p"), "--policies", "expert", "nope"]
    assert main(args) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err
    assert main(["arena", "run", "--out", str(tmp_path / "s"), "--suite", "stormy"]) == 2
    assert "unknown suite 'stormy'" in capsys.readouterr().err
    assert main(["calibrate", "intrinsics", "--images", str(tmp_path), "--board", "seven"]) == 2
    assert "must look like 7x6" in capsys.readouterr().err


def test_markers_are_printable(tmp_path: Path) -> None:
    import cv2

    assert main(["arena", "markers", "--out", str(tmp_path), "--pixels", "300"]) == 0
    image = cv2.imread(str(tmp_path / "cube_id7.png"), cv2.IMREAD_GRAYSCALE)
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    _, ids, _ = detector.detectMarkers(image)
    assert ids is not None and ids.ravel().tolist() == [7]
