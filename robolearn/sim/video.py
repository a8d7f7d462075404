"""Write rollout videos with OpenCV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write RGB uint8 frames (H, W, 3) to an .mp4 (mp4v) or .avi (MJPG) file."""
    out = Path(path)
    if not frames:
        raise ValueError("no frames to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if out.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(out), fourcc, float(fps), (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV could not open {out} for writing")
    try:
        for frame in frames:
            if frame.shape[:2] != (height, width):
                raise ValueError(f"frame size changed from {(height, width)} to {frame.shape[:2]}")
            writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return out
