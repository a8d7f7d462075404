import json
import subprocess
import sys
from pathlib import Path

import cv2


def test_cli_help_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "robolearn.cli.main", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for verb in ("sim", "demo", "bench"):
        assert verb in out


def test_sim_expert_prints_success_and_writes_a_video(tmp_path: Path) -> None:
    video = tmp_path / "pick.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "robolearn.cli.main", "sim", "--task", "pick_cube", "--expert",
         "--episodes", "2", "--video", str(video), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "pick_cube: expert success 2/2" in proc.stdout
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["success_rate"] == 1.0
    cap = cv2.VideoCapture(str(video))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    assert ok and frames > 10 and frame.std() > 5.0


def test_sim_rejects_unknown_task() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "robolearn.cli.main", "sim", "--task", "juggle", "--expert"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "invalid choice: 'juggle'" in proc.stderr
