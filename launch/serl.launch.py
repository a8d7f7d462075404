"""Distributed SERL training: one `serl_learner` and N `serl_actor` nodes on the twin.

    ros2 launch robolearn serl.launch.py task:=reach actors:=2 demos:=expert:20 \
        checkpoint_dir:=runs/serl_reach

The learner runs on core 0 and the actors on core 1 by default (serl.yaml's node.cpus).
Actors and learner on different machines: launch the learner alone (`actors:=0`) on the
learner machine and `ros2 run robolearn serl_actor --ros-args -p node.actor_id:=arm_1 ...` on
each actor machine, all with the same ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET.
"""

import os  # noqa: I001 - ruff takes the launch package for this folder

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PARAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serl.yaml")


def _actors(context, *args, **kwargs):  # noqa: ANN001, ANN202 - launch API
    """One actor node per `actors`, each with its own id and seed (names differ, so the
    actors' parameters are given from serl.yaml's serl_actor section directly)."""
    with open(PARAMS) as f:
        actor = yaml.safe_load(f)["serl_actor"]["ros__parameters"]
    count = int(LaunchConfiguration("actors").perform(context))
    return [
        Node(
            package="robolearn",
            executable="serl_actor",
            name=f"serl_actor_{i}",
            parameters=[
                actor,
                {
                    "env.task": LaunchConfiguration("task"),
                    "node.actor_id": f"actor_{i}",
                    "seed": i,
                },
            ],
            output="screen",
        )
        for i in range(count)
    ]


def generate_launch_description() -> LaunchDescription:
    task = LaunchConfiguration("task")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "task", default_value="reach", description="reach | pick_cube | peg_insert"
            ),
            DeclareLaunchArgument(
                "actors", default_value="1", description="actor nodes to start on this machine"
            ),
            DeclareLaunchArgument(
                "demos", default_value="", description="'' | episode store path | expert:N"
            ),
            DeclareLaunchArgument(
                "checkpoint_dir",
                default_value="runs/serl",
                description="learner checkpoints (resumed from if present)",
            ),
            Node(
                package="robolearn",
                executable="serl_learner",
                name="serl_learner",
                parameters=[
                    PARAMS,
                    {
                        "env.task": task,
                        "loop.demos": LaunchConfiguration("demos"),
                        "node.checkpoint_dir": LaunchConfiguration("checkpoint_dir"),
                    },
                ],
                output="screen",
            ),
            OpaqueFunction(function=_actors),
        ]
    )
