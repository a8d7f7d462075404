"""Sim-only node graph: the MuJoCo twin behind `robot_bridge`, driven by `scripted_teleop`.

    ros2 launch robolearn sim.launch.py task:=pick_cube expert:=true

Without `ros2 launch` (CI, a laptop with the PyPI wheels): `robolearn up sim --task pick_cube
--expert` composes the same nodes in one process.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PARAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sim.yaml")


def generate_launch_description() -> LaunchDescription:
    task = LaunchConfiguration("task")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "task", default_value="pick_cube", description="reach | pick_cube | peg_insert"
            ),
            DeclareLaunchArgument(
                "expert", default_value="true", description="start the scripted teleop node"
            ),
            DeclareLaunchArgument(
                "episodes", default_value="3", description="episodes the scripted teleop runs"
            ),
            DeclareLaunchArgument(
                "record", default_value="false", description="start the recorder node"
            ),
            DeclareLaunchArgument(
                "out", default_value="datasets/recorded", description="dataset the recorder writes"
            ),
            # A simulation never discovers (or commands) robots elsewhere on the network.
            SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
            Node(
                package="robolearn",
                executable="robot_bridge",
                name="robot_bridge",
                parameters=[PARAMS, {"task": task}],
                output="screen",
            ),
            Node(
                package="robolearn",
                executable="scripted_teleop",
                name="scripted_teleop",
                parameters=[PARAMS, {"task": task, "episodes": LaunchConfiguration("episodes")}],
                condition=IfCondition(LaunchConfiguration("expert")),
                output="screen",
            ),
            Node(
                package="robolearn",
                executable="recorder",
                name="recorder",
                parameters=[PARAMS, {"task": task, "out": LaunchConfiguration("out")}],
                condition=IfCondition(LaunchConfiguration("record")),
                output="screen",
            ),
        ]
    )
