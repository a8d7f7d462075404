"""Hardware node graph: a Franka behind `robot_bridge` (pylibfranka).

    ros2 launch robolearn real.launch.py fci_ip:=172.16.0.2

The bridge starts disarmed: call `ros2 service call /arm std_srvs/srv/Trigger` after the
first-motion checklist in hardware/README.md. Needs a real-time kernel. Every FrankaConfig
setting is a `franka.NAME` parameter (real.yaml sets the checklist's cautious values).
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PARAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "real.yaml")


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "fci_ip", default_value="", description="FCI address; empty: hardware/franka.yaml"
            ),
            DeclareLaunchArgument(
                "limits_file", default_value="", description="cell limits YAML; empty: installed"
            ),
            Node(
                package="robolearn",
                executable="robot_bridge",
                name="robot_bridge",
                parameters=[
                    PARAMS,
                    {
                        "franka.fci_ip": LaunchConfiguration("fci_ip"),
                        "limits_file": LaunchConfiguration("limits_file"),
                    },
                ],
                output="screen",
            ),
        ]
    )
