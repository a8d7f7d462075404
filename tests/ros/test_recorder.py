"""Recording over the ROS 2 graph: twin bridge + scripted teleop + recorder node."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from std_msgs.msg import Float64MultiArray

from robolearn.data.schema import ActionSource
from robolearn.data.store import EpisodeStore
from robolearn.ros import qos
from tests.ros.conftest import ros_env, start_bridge, stop


def test_up_sim_records_complete_episodes_with_images(tmp_path: Path) -> None:
    out = tmp_path / "pick"
    proc = subprocess.run(
        [sys.executable, "-m", "robolearn.cli.main", "up", "sim", "--task", "pick_cube",
         "--expert", "--episodes", "2", "--record", str(out), "--cameras", "front"],
        capture_output=True, text=True, env=ros_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"recorded 2 episodes into {out}" in proc.stdout
    with EpisodeStore.open(out) as store:
        assert store.n_episodes == 2 and store.validate() == []
        for i in range(2):
            meta = store.episode_meta(i)
            assert meta.success and meta.backend == "twin" and meta.task == "pick_cube"
            ep = store.episode(i)
            assert ep["terminated"][-1] and not ep["terminated"][:-1].any()
            # sparse reward as the gymnasium env gives it: 1 for the step that reached success
            assert ep["reward"][-1] == 1.0 and not ep["reward"][:-1].any()
            assert np.all(ep["action_source"] == ActionSource.SCRIPTED)
            assert np.all(np.abs(ep["action"]) <= 1.0 + 1e-6)
            assert ep["obs.images.front"].shape[1:] == (128, 128, 3)
            assert ep["obs.images.front"].std() > 5.0
            # the cube ends lifted in the recorded object state (obs.state's last 7 entries)
            assert ep["final.obs.state"][-5] > 0.06


def test_operator_controls_commit_discard_and_mark(tmp_path: Path) -> None:
    """Recorder services driven by hand, against a slow-publishing twin bridge of its own."""
    import threading

    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from std_srvs.srv import Trigger

    from robolearn.ros.recorder_node import Recorder

    bridge = start_bridge("task:=pick_cube", "publish_hz:=50.0", namespace="/manual")
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("operator", context=context)
    recorder = Recorder(context=context, out=str(tmp_path / "manual"), task="pick_cube",
                        operator="alice", robot_namespace="/manual")  # fmt: skip
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    executor.add_node(recorder)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    pub = node.create_publisher(Float64MultiArray, "/manual/teleop/action", qos.COMMAND)
    calls = {s: node.create_client(Trigger, f"recorder/{s}") for s in
             ("start", "mark_success", "mark_failure", "discard", "stop")}  # fmt: skip

    def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if predicate():
                    return
            except Exception:  # noqa: BLE001 - not there yet
                pass
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def call(name: str) -> str:
        assert calls[name].wait_for_service(timeout_sec=10)
        future = calls[name].call_async(Trigger.Request())
        wait_for(future.done, f"recorder/{name}")
        return future.result().message

    def act(n: int, source: ActionSource) -> None:
        for _ in range(n):
            pub.publish(Float64MultiArray(data=[0.1] * 7 + [float(source)]))
            time.sleep(0.05)
        wait_for(lambda: recorder.recorded_steps == n, f"{n} recorded steps")

    try:
        wait_for(lambda: recorder.client.state() is not None, "bridge state", timeout=60)
        wait_for(lambda: recorder.client.objects() is not None, "task state")
        # Messages published before DDS matches publisher and subscriber are not delivered.
        wait_for(lambda: pub.get_subscription_count() > 0, "discovery")
        assert call("start") == "recording"
        act(5, ActionSource.HUMAN)
        assert "committed (success)" in call("mark_success")
        assert call("start") == "recording"
        act(4, ActionSource.HUMAN)
        assert "discarded" in call("discard")
        assert call("start") == "recording"
        act(3, ActionSource.POLICY)
        assert "committed (failure)" in call("mark_failure")
        assert call("mark_success").startswith("error")  # nothing being recorded
        assert recorder.dropped_actions == 0
    finally:
        executor.shutdown(timeout_sec=1.0)
        recorder.destroy_node()
        node.destroy_node()
        rclpy.shutdown(context=context)
        stop(bridge)
    with EpisodeStore.open(tmp_path / "manual") as store:
        assert store.n_episodes == 2
        assert [store.episode_meta(i).success for i in range(2)] == [True, False]
        assert store.episode_meta(0).operator == "alice"
        first, second = store.episode(0), store.episode(1)
        assert len(first["action"]) == 5 and len(second["action"]) == 3
        assert np.all(first["action_source"] == ActionSource.HUMAN)
        assert np.all(second["action_source"] == ActionSource.POLICY)
        assert first["terminated"][-1] and second["truncated"][-1]
        assert first["reward"][-1] == 1.0 and not second["reward"].any()
