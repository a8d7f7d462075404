"""`robolearn data info|validate|video|plot` on the shipped sample dataset."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2

from robolearn.paths import asset_dir

SAMPLE = asset_dir("datasets") / "sample_pick_cube"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "robolearn.cli.main", "data", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_sample_dataset_info() -> None:
    proc = _run("info", str(SAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["episodes"] == 4 and info["success_rate"] == 1.0
    assert info["keys"]["obs.images.wrist"]["shape"] == [64, 64, 3]
    human = _run("info", str(SAMPLE))
    assert "episodes 4" in human.stdout and "obs.images.front" in human.stdout


def test_validate_passes_on_the_sample_and_fails_on_damage(tmp_path: Path) -> None:
    assert _run("validate", str(SAMPLE)).returncode == 0
    damaged = tmp_path / "damaged"
    shutil.copytree(SAMPLE, damaged)
    chunks = sorted(p for p in (damaged / "data" / "action" / "c").rglob("*") if p.is_file())
    chunks[0].write_bytes(b"\x00" * 7)
    proc = _run("validate", str(damaged))
    assert proc.returncode == 1
    assert "key 'action'" in proc.stdout and "episode(s) [0" in proc.stdout


def test_video_and_plot(tmp_path: Path) -> None:
    video = tmp_path / "ep1.mp4"
    assert _run("video", str(SAMPLE), "--episode", "1", str(video)).returncode == 0
    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    assert ok and frame.shape[1] == 2 * frame.shape[0]  # front and wrist side by side
    png = tmp_path / "plot.png"
    assert _run("plot", str(SAMPLE), "--out", str(png)).returncode == 0
    image = cv2.imread(str(png))
    assert image is not None and image.std() > 5


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    proc = _run("info", str(tmp_path / "missing"))
    assert proc.returncode == 1 and "no dataset here" in proc.stderr
    proc = _run("video", str(SAMPLE), "--episode", "9", str(tmp_path / "x.mp4"))
    assert proc.returncode == 1 and "out of range" in proc.stderr
