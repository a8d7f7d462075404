"""The sim-only mode: the same nodes as `launch/sim.launch.py`, composed in one process.

Runs where `ros2 launch` is not installed (CI included): one rclpy context, one
multi-threaded executor, DDS discovery restricted to localhost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from robolearn.ros import restrict_discovery_to_localhost


@dataclass
class SimRunResult:
    task: str
    episodes: int
    successes: int
    wall_seconds: float


def run_sim(
    task: str = "pick_cube",
    episodes: int = 3,
    seed: int = 0,
    publish_hz: float = 250.0,
    real_time_factor: float = 1.0,
    timeout: float | None = None,
) -> SimRunResult:
    """Twin bridge + scripted teleop over ROS 2 topics until `episodes` are done."""
    restrict_discovery_to_localhost()
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from robolearn.ros.robot_bridge import RobotBridge
    from robolearn.ros.teleop_node import ScriptedTeleop

    context = rclpy.Context()
    rclpy.init(context=context)
    bridge = teleop = None
    t0 = time.monotonic()
    try:
        bridge = RobotBridge(
            context=context,
            task=task,
            seed=seed,
            publish_hz=publish_hz,
            real_time_factor=real_time_factor,
        )
        teleop = ScriptedTeleop(context=context, task=task, episodes=episodes)
        executor = MultiThreadedExecutor(num_threads=3, context=context)
        executor.add_node(bridge)
        executor.add_node(teleop)
        if timeout is None:
            timeout = 60.0 + episodes * 3 * teleop.task.episode_seconds / max(real_time_factor, 0.1)
        deadline = time.monotonic() + timeout
        while not teleop.done.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError(f"sim run did not finish {episodes} episodes in {timeout:.0f} s")
            executor.spin_once(timeout_sec=0.05)
        results = list(teleop.results)
    finally:
        for node in (teleop, bridge):
            if node is not None:
                node.destroy_node()
        rclpy.shutdown(context=context)
    return SimRunResult(task, len(results), sum(results), time.monotonic() - t0)
