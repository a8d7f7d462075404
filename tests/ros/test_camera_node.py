"""camera_node over DDS: a real video file (written here with cv2.VideoWriter, read by
cv2.VideoCapture like a USB camera) published as rgb8 camera/<name>/image_raw, resized to the
twin's image size; a missing device fails with a message that says what to check."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from sensor_msgs.msg import Image

from robolearn.ros import codecs, qos
from robolearn.ros.camera_node import CameraError, CameraNode
from tests.ros.conftest import ros_env

# BGR colours as OpenCV writes them; the node must publish them as RGB.
COLOURS_BGR = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]  # red, green, blue


def _write_video(path: Path, frames_per_colour: int = 4) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 120))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi files here"
    for bgr in COLOURS_BGR:
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[:] = bgr
        frame[10:30, 10:50] = 255  # a white patch: frames are images, not flat colours
        for _ in range(frames_per_colour):
            writer.write(frame)
    writer.release()
    return path


def test_publishes_a_video_file_as_resized_rgb8_frames(tmp_path: Path) -> None:
    video = _write_video(tmp_path / "cam.avi")
    context = rclpy.Context()
    rclpy.init(context=context)
    received: list[Image] = []
    full: list[Image] = []
    try:
        listener = rclpy.create_node("listener", context=context)
        listener.create_subscription(Image, "camera/front/image_raw", received.append, qos.SENSOR)
        listener.create_subscription(Image, "camera/front/image_full", full.append, qos.SENSOR)
        camera = CameraNode(context=context, device=str(video), name="front", rate_hz=30.0,
                            image_width=64, image_height=48, loop_file=True,
                            publish_full=True)  # fmt: skip
        executor = MultiThreadedExecutor(num_threads=2, context=context)
        executor.add_node(listener)
        executor.add_node(camera)
        threading.Thread(target=executor.spin, daemon=True).start()
        deadline = time.monotonic() + 30.0
        seen: set[int] = set()
        while time.monotonic() < deadline and len(seen) < 3:
            for msg in list(received):
                rgb = codecs.image_from_msg(msg)
                centre = rgb[30:46, 20:60].reshape(-1, 3).mean(axis=0)
                seen.add(int(np.argmax(centre)))  # 0: red, 1: green, 2: blue
            time.sleep(0.05)
        assert received, "no image on camera/front/image_raw"
        msg = received[0]
        assert (msg.encoding, msg.height, msg.width, msg.step) == ("rgb8", 48, 64, 3 * 64)
        assert msg.header.frame_id == "front"
        stamps = [codecs.from_time(m.header.stamp) for m in received]
        assert stamps[0] > 0 and all(b >= a for a, b in zip(stamps, stamps[1:], strict=False))
        # BGR file -> RGB message: the red frames are red in the message's first channel.
        assert seen == {0, 1, 2}, f"colours seen (channel of the max): {seen}"
        # the white patch survived the area resize (top-left of the 64x48 frame)
        assert codecs.image_from_msg(msg)[6:10, 6:18].min() > 200
        assert camera.error is None and camera.published >= 3
        # the frame as captured, same stamp, for fiducial_perception
        assert full and (full[0].height, full[0].width) == (120, 160)

        def stamps(msgs: list[Image]) -> set[tuple[int, int]]:
            return {(m.header.stamp.sec, m.header.stamp.nanosec) for m in msgs}

        assert stamps(full) & stamps(received), "image_full and image_raw share no stamp"
    finally:
        executor.shutdown(timeout_sec=1.0)
        camera.destroy_node()
        listener.destroy_node()
        rclpy.shutdown(context=context)


def test_missing_device_fails_with_a_clear_message(tmp_path: Path) -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(CameraError, match="cannot open camera device .*check that the file"):
            CameraNode(context=context, device=str(tmp_path / "no-such-camera.avi"))
    finally:
        rclpy.shutdown(context=context)
    # the console script's entry point exits non-zero with the message
    proc = subprocess.run(
        [sys.executable, "-m", "robolearn.ros.camera_node", "--ros-args",
         "-p", "device:=/dev/video99"],
        capture_output=True, text=True, env=ros_env(), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot open camera device '/dev/video99'" in proc.stderr
    assert "/dev/video*" in proc.stderr
