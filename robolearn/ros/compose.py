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
    recorded: int = 0  # episodes committed by the recorder (0 without one)


def run_sim(
    task: str = "pick_cube",
    episodes: int = 3,
    seed: int = 0,
    publish_hz: float = 100.0,
    real_time_factor: float = 1.0,
    timeout: float | None = None,
    record: str | None = None,
    cameras: tuple[str, ...] = (),
    image_size: tuple[int, int] = (128, 128),
    progress: bool = False,
) -> SimRunResult:
    """Twin bridge + scripted teleop over ROS 2 topics until `episodes` are done; with
    `record`, a recorder node writes every episode (and `cameras`) to that dataset.
    ``progress``: a bar of finished episodes (the nodes then log warnings only)."""
    restrict_discovery_to_localhost()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.logging import LoggingSeverity
    from tqdm import tqdm

    from robolearn.ros.recorder_node import Recorder
    from robolearn.ros.robot_bridge import RobotBridge
    from robolearn.ros.teleop_node import ScriptedTeleopNode

    # Faster or slower than real time, the twin's /clock paces the teleop node and stamps the
    # recording, so an episode is the same in sim time whatever the speed.
    sim_time = real_time_factor != 1.0
    clock_mode = "sim" if sim_time else "wall"
    context = rclpy.Context()
    rclpy.init(context=context)
    bridge = teleop = recorder = None
    t0 = time.monotonic()
    try:
        bridge = RobotBridge(
            context=context,
            task=task,
            seed=seed,
            publish_hz=float(publish_hz),
            real_time_factor=float(real_time_factor),
            clock_mode=clock_mode,
            cameras=list(cameras) or [""],
            image_height=image_size[0],
            image_width=image_size[1],
            # One process and one executor: a target can wait behind the other nodes'
            # callbacks on a busy machine; the real arm's bridge keeps its 0.1 s.
            target_max_age=0.5,
        )
        if record is not None:
            recorder = Recorder(
                context=context, out=str(record), task=task, cameras=list(cameras) or [""],
                operator="scripted_teleop", use_sim_time=sim_time,
            )  # fmt: skip
        teleop = ScriptedTeleopNode(
            context=context, task=task, episodes=episodes, use_sim_time=sim_time
        )
        # Single-threaded: rclpy's multi-threaded executor costs about 3x the CPU per message
        # (the bridge's physics runs in its own loop thread either way).
        executor = SingleThreadedExecutor(context=context)
        for node in (bridge, recorder, teleop):
            if node is not None:
                executor.add_node(node)
                if progress:
                    node.get_logger().set_level(LoggingSeverity.WARN)
        bar = tqdm(total=episodes, desc=f"{task} episodes", unit="ep", disable=not progress)
        if timeout is None:
            timeout = 60.0 + episodes * 3 * teleop.task.episode_seconds / max(real_time_factor, 0.1)
        deadline = time.monotonic() + timeout
        while not teleop.done.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError(f"sim run did not finish {episodes} episodes in {timeout:.0f} s")
            executor.spin_once(timeout_sec=0.05)
            if len(teleop.results) > bar.n:
                bar.update(len(teleop.results) - bar.n)
                bar.set_postfix(successes=sum(teleop.results), refresh=False)
        bar.close()
        results = list(teleop.results)
        recorded = 0
        if recorder is not None:
            # The last episode's end event is in flight: let the recorder commit it.
            wait_until = time.monotonic() + 10.0
            while len(recorder.committed) < len(results) and time.monotonic() < wait_until:
                executor.spin_once(timeout_sec=0.05)
            recorded = len(recorder.committed)
    finally:
        for node in (teleop, recorder, bridge):
            if node is not None:
                node.destroy_node()
        rclpy.shutdown(context=context)
    return SimRunResult(task, len(results), sum(results), time.monotonic() - t0, recorded)
