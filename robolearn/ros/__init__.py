"""ROS 2 nodes and message codecs. The only package that imports rclpy.

rclpy comes from a ROS 2 install on robot machines, or from the `ros-kilted-*` wheels on PyPI
(`pip install robolearn[ros]`).
"""

from __future__ import annotations

import os

SIM_DISCOVERY_RANGE = "LOCALHOST"


def restrict_discovery_to_localhost() -> None:
    """Keep DDS discovery on this machine (sim mode), unless the user chose a range.

    Must run before `rclpy.init()`. A simulation on a shared network then never talks to
    somebody else's robot bridge.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", SIM_DISCOVERY_RANGE)


def require_rclpy() -> None:
    try:
        import rclpy  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "rclpy is not available: install the ROS 2 wheels with `pip install robolearn[ros]`"
            f" or source a ROS 2 installation ({err})"
        ) from err
