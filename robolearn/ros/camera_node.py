"""`camera_node`: a USB/IP camera (OpenCV `VideoCapture`) as `camera/<name>/image_raw`.

The real cell's counterpart of the twin bridge's rendered cameras: rgb8 `sensor_msgs/Image`
frames with the bridge's encoding (`codecs.image_msg`), stamped with the node clock when the
frame was read and framed as `<name>`, optionally resized to the twin's image size so that
policies, the recorder and `fiducial_perception` see what they see on the twin.

`device` is a camera index ("0"), a device path ("/dev/video2"), a stream URL or a video file;
a file is played at `rate_hz` (and rewound with `loop_file`), a live device is read as fast as
it delivers (so the newest frame is published, never a stale buffered one) and published at
most `rate_hz` times a second.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from robolearn.ros import codecs, qos
from robolearn.ros.params import declare_parameters, parameter_overrides

PARAMETERS: dict[str, tuple[Any, str]] = {
    "device": ("0", "Camera index ('0'), device path, stream URL or video file."),
    "name": ("wrist", "Camera name: publishes camera/<name>/image_raw (as the twin bridge)."),
    "rate_hz": (10.0, "Most frames published per second (a file is played at this rate)."),
    "width": (0, "Capture width requested from the device (0: the device's default)."),
    "height": (0, "Capture height requested from the device (0: the device's default)."),
    "image_width": (0, "Published width, resized with area averaging (0: as captured)."),
    "image_height": (0, "Published height, resized with area averaging (0: as captured)."),
    "publish_full": (
        False,
        "Also publish each frame as captured on camera/<name>/image_full (same stamp), for"
        " fiducial_perception when image_raw is resized for a policy.",
    ),
    "loop_file": (False, "Rewind a video file at its end instead of stopping."),
    "max_failed_reads": (30, "Consecutive failed reads of a live device before giving up."),
}


class CameraError(RuntimeError):
    """The camera could not be opened or stopped delivering frames; the message says why."""


def open_capture(device: str, width: int = 0, height: int = 0) -> cv2.VideoCapture:
    """Open `device` (an index, a path or a URL); raise `CameraError` if it gives no frame."""
    source: int | str = int(device) if device.strip().isdigit() else device
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        hint = (
            "check that the file exists"
            if isinstance(source, str) and not source.startswith(("/dev/", "rtsp:", "http"))
            else "check `ls /dev/video*`, that your user is in the 'video' group and that no"
            " other program holds the camera"
        )
        raise CameraError(f"cannot open camera device {device!r}: {hint}")
    if width > 0:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    if height > 0:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    return cap


class CameraNode(Node):
    """Reads frames in a thread and publishes them (see the module doc)."""

    def __init__(self, *, context: Context | None = None, **overrides: Any) -> None:
        """`overrides` set parameters (as `--ros-args -p name:=value` would)."""
        super().__init__(
            "camera_node", context=context, parameter_overrides=parameter_overrides(overrides)
        )
        p = declare_parameters(self, PARAMETERS)
        self.params = p
        if p["rate_hz"] <= 0:
            raise ValueError(f"rate_hz must be positive, got {p['rate_hz']}")
        if (p["image_width"] > 0) != (p["image_height"] > 0):
            raise ValueError("set both image_width and image_height (or neither)")
        self.name = str(p["name"])
        self.is_file = Path(str(p["device"])).is_file()
        self.cap = open_capture(str(p["device"]), int(p["width"]), int(p["height"]))
        self.topic = f"camera/{self.name}/image_raw"
        self.pub = self.create_publisher(codecs.Image, self.topic, qos.SENSOR)
        self.pub_full = (
            self.create_publisher(codecs.Image, f"camera/{self.name}/image_full", qos.SENSOR)
            if p["publish_full"]
            else None
        )
        self.published = 0
        self.error: str | None = None
        self.done = threading.Event()  # set when the frames end (a file) or the device fails
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="camera_node_loop", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"camera_node up: device={p['device']!r} -> {self.resolve_topic_name(self.topic)}"
            f" at {p['rate_hz']} Hz"
        )

    def _publish(self, bgr: np.ndarray, stamp: codecs.Time) -> None:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB if bgr.ndim == 3 else cv2.COLOR_GRAY2RGB)
        if self.pub_full is not None:
            self.pub_full.publish(codecs.image_msg(rgb, stamp, self.name))
        self.pub.publish(codecs.image_msg(self._resized(rgb), stamp, self.name))

    def _resized(self, rgb: np.ndarray) -> np.ndarray:
        w, h = int(self.params["image_width"]), int(self.params["image_height"])
        if w > 0 and (rgb.shape[1], rgb.shape[0]) != (w, h):
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        return rgb

    def _loop(self) -> None:
        period = 1.0 / float(self.params["rate_hz"])
        failures = 0
        next_due = time.monotonic()
        try:
            while not self._stop.is_set():
                ok, bgr = self.cap.read()
                stamp = self.get_clock().now().to_msg()
                if not ok or bgr is None:
                    if self.is_file:
                        if self.params["loop_file"] and self.published > 0:
                            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                            continue
                        if self.published == 0:
                            raise CameraError(
                                f"{self.params['device']!r} opened but gave no frame (a video"
                                " codec OpenCV cannot decode?)"
                            )
                        self.get_logger().info(f"{self.params['device']}: end of the video")
                        return
                    failures += 1
                    if failures >= int(self.params["max_failed_reads"]):
                        raise CameraError(
                            f"camera {self.params['device']!r} returned no frame"
                            f" {failures} times in a row (unplugged or in use?)"
                        )
                    time.sleep(0.01)
                    continue
                failures = 0
                now = time.monotonic()
                if self.is_file:
                    if now < next_due:  # play a file at rate_hz
                        time.sleep(next_due - now)
                        stamp = self.get_clock().now().to_msg()
                elif now < next_due:  # a live device: keep reading, publish the newest
                    continue
                next_due = max(next_due + period, time.monotonic() - period)
                self._publish(bgr, stamp)
                self.published += 1
        except CameraError as err:
            self.error = str(err)
            self.get_logger().error(self.error)
        finally:
            self.done.set()

    def destroy_node(self) -> None:
        if hasattr(self, "_stop"):
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(timeout=2.0)
        if hasattr(self, "cap"):
            self.cap.release()
        super().destroy_node()


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `camera_node` (`--ros-args -p device:=0 -p name:=wrist`)."""
    rclpy.init(args=list(sys.argv if argv is None else argv))
    node = None
    code = 0
    try:
        node = CameraNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not node.done.is_set():
            executor.spin_once(timeout_sec=0.1)
        if node.error:
            code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except CameraError as err:
        print(f"camera_node: {err}", file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
