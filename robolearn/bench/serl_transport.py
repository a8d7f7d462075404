"""Distributed SERL transport: payload sizes, codec times and actor -> learner throughput.

    python benchmarks/serl_transport.py [--json] [--task pick_cube] [--env Pendulum-v1]
        [--window 15] [--skip-ros] [--out FILE]

In this process: the policy snapshot of the default agent (256x256, 10 critics) on ``--task``'s
twin env (bytes; `policy_state_dict`, encode, decode and load times) against the whole agent
state, and a batch of 50 transitions with two 128x128 RGB cameras (bytes; encode, into a
UInt8MultiArray, ROS serialise and deserialise, decode). Medians of repeated runs.

Across processes (unless ``--skip-ros``): a `serl_learner` that never trains
(``learning_starts`` out of reach) and one `serl_actor` stepping ``--env`` as fast as it can
(gymnasium's Pendulum-v1 by default, so the transport, not the simulation, is the bound), on a
private ROS domain on localhost. Reported: env steps per second the learner received over
``--window`` seconds, the actor's own rate, and batches lost.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.bench.common import (
    add_output_arguments,
    emit_report,
    machine_info,
    positive_float,
    positive_int,
)


def _median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3, result


def payload_figures(task: str, repeats: int = 20) -> dict[str, Any]:
    """Sizes and codec/serialisation times of a policy snapshot and an image batch."""
    import gymnasium as gym
    import torch
    from rclpy.serialization import deserialize_message, serialize_message
    from safetensors.torch import save
    from std_msgs.msg import UInt8MultiArray

    import robolearn.envs  # noqa: F401 - registers the ids
    from robolearn.envs import ENV_IDS
    from robolearn.learn.codec import (
        TransitionBatch,
        WeightSnapshot,
        decode_transitions,
        decode_weights,
        encode_transitions,
        encode_weights,
    )
    from robolearn.learn.rlpd import RLPDAgent, RLPDConfig
    from robolearn.ros.serl_wire import bytes_msg, msg_bytes

    torch.set_num_threads(1)
    env = gym.make(ENV_IDS[task])
    agent = RLPDAgent(env.observation_space, env.action_space, RLPDConfig())
    env.close()
    out: dict[str, Any] = {"task": task, "agent": "RLPDConfig() defaults: 256x256, 10 critics"}
    ms, state = _median_ms(agent.policy_state_dict, repeats)
    out["policy_parameters"] = int(sum(v.numel() for v in state.values() if v.is_floating_point()))
    out["policy_state_dict_ms"] = ms
    snapshot = WeightSnapshot(state, 1, "bench", agent.config.to_dict())
    out["weights_encode_ms"], data = _median_ms(lambda: encode_weights(snapshot), repeats)
    out["policy_snapshot_bytes"] = len(data)
    out["weights_decode_ms"], decoded = _median_ms(lambda: decode_weights(data), repeats)
    out["weights_load_ms"], _ = _median_ms(
        lambda: agent.load_policy_state_dict(decoded.tensors), repeats
    )
    out["full_agent_state_bytes"] = len(
        save({k: v.contiguous() for k, v in agent.state_dict().items()})
    )

    n, rng = 50, np.random.default_rng(0)

    def obs() -> dict[str, Any]:
        return {
            "state": rng.standard_normal((n, 35)).astype(np.float32),
            "images": {
                cam: rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)
                for cam in ("front", "wrist")
            },
        }

    batch = TransitionBatch(
        "bench",
        0,
        {
            "obs": obs(),
            "next_obs": obs(),
            "action": rng.uniform(-1, 1, (n, 7)).astype(np.float32),
            "reward": np.zeros(n, np.float32),
            "terminated": np.zeros(n, bool),
            "truncated": np.zeros(n, bool),
        },
        np.zeros(n, bool),
        np.zeros(n, bool),
    )
    reps = max(3, repeats // 4)
    out["image_batch"] = "50 transitions, 35-dim state, two 128x128 RGB cameras (obs + next_obs)"
    out["image_batch_encode_ms"], payload = _median_ms(lambda: encode_transitions(batch), reps)
    out["image_batch_bytes"] = len(payload)
    out["image_batch_to_msg_ms"], msg = _median_ms(lambda: bytes_msg(payload), reps)
    out["image_batch_ros_serialize_ms"], raw = _median_ms(lambda: serialize_message(msg), reps)
    out["image_batch_ros_deserialize_ms"], back = _median_ms(
        lambda: deserialize_message(raw, UInt8MultiArray), reps
    )
    out["image_batch_decode_ms"], _ = _median_ms(lambda: decode_transitions(msg_bytes(back)), reps)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def transport_figures(env: str, window: float, batch_size: int, log_dir: Path) -> dict[str, Any]:
    """Env steps/s from one actor process received by one learner process over DDS."""
    domain = str(150 + os.getpid() % 70)
    os.environ["ROS_DOMAIN_ID"] = domain  # before rclpy.init of the probe
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    child_env = dict(os.environ, RCUTILS_LOGGING_BUFFERED_STREAM="0")

    def start(module: str, params: list[str], log: Path) -> subprocess.Popen:
        args = [sys.executable, "-m", module, "--ros-args"]
        for p in params:
            args += ["-p", p]
        with open(log, "wb") as f:
            return subprocess.Popen(args, env=child_env, stdout=f, stderr=subprocess.STDOUT)

    from robolearn.ros.serl_wire import StatusMonitor

    probe = StatusMonitor("serl_bench_probe")
    common = [f"env:={env}"]
    learner = start(
        "robolearn.ros.learner_node",
        [*common, "learning_starts:=2000000000", "hidden_dims:=[32,32]", "num_critics:=2"],
        log_dir / "learner.log",
    )
    actor = start(
        "robolearn.ros.actor_node",
        [*common, "actor_id:=bench", f"batch_size:={batch_size}", "rate_hz:=0.0"],
        log_dir / "actor.log",
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            for proc, name in ((learner, "learner"), (actor, "actor")):
                if proc.poll() is not None:
                    log = (log_dir / f"{name}.log").read_text()[-2000:]
                    raise RuntimeError(f"serl {name} exited ({proc.returncode}):\n{log}")
            try:
                if probe.value("serl_learner", "env_steps") > 0:
                    break
            except KeyError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("no transitions reached the learner within 300 s")
            time.sleep(0.1)
        time.sleep(3.0)  # past the start-up burst of queued batches
        t0 = time.monotonic()
        s0 = probe.value("serl_learner", "env_steps")
        a0 = probe.value("serl_actor/bench", "env_steps")
        time.sleep(window)
        dt = time.monotonic() - t0
        received = (probe.value("serl_learner", "env_steps") - s0) / dt
        stepped = (probe.value("serl_actor/bench", "env_steps") - a0) / dt
        return {
            "transport_env": env,
            "transport_batch_size": batch_size,
            "received_steps_per_s": round(received, 1),
            "actor_steps_per_s": round(stepped, 1),
            "lost_batches": probe.value("serl_learner", "lost_batches"),
            "rejected_batches": probe.value("serl_learner", "rejected_batches"),
            "window_s": round(dt, 1),
        }
    finally:
        for proc in (actor, learner):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        probe.close()


def _table(report: dict[str, Any]) -> str:
    rows = [
        f"policy snapshot: {report['policy_snapshot_bytes']:,} bytes "
        f"({report['policy_parameters']:,} parameters; whole agent "
        f"{report['full_agent_state_bytes']:,} bytes); encode {report['weights_encode_ms']} ms, "
        f"decode {report['weights_decode_ms']} ms, load {report['weights_load_ms']} ms",
        f"image batch: {report['image_batch_bytes']:,} bytes; encode "
        f"{report['image_batch_encode_ms']} ms, to msg {report['image_batch_to_msg_ms']} ms, "
        f"serialise {report['image_batch_ros_serialize_ms']} ms, deserialise "
        f"{report['image_batch_ros_deserialize_ms']} ms, "
        f"decode {report['image_batch_decode_ms']} ms",
    ]
    if "received_steps_per_s" in report:
        rows.append(
            f"actor -> learner ({report['transport_env']}, batches of "
            f"{report['transport_batch_size']}): {report['received_steps_per_s']} steps/s "
            f"received, actor {report['actor_steps_per_s']} steps/s, "
            f"{report['lost_batches']} batches lost"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="pick_cube", help="twin task of the policy snapshot")
    parser.add_argument("--env", default="Pendulum-v1", help="the actor's env (id or entry point)")
    parser.add_argument("--window", type=positive_float, default=15.0, help="seconds measured")
    parser.add_argument("--batch-size", type=positive_int, default=50, help="steps per batch")
    parser.add_argument("--repeats", type=positive_int, default=20, help="codec repetitions")
    parser.add_argument("--skip-ros", action="store_true", help="no cross-process measurement")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    from robolearn.ros import require_rclpy

    require_rclpy()
    report: dict[str, Any] = {"benchmark": "serl_transport"}
    report.update(payload_figures(args.task, args.repeats))
    if not args.skip_ros:
        with tempfile.TemporaryDirectory(prefix="serl_transport_") as tmp:
            report.update(transport_figures(args.env, args.window, args.batch_size, Path(tmp)))
    report["machine"] = machine_info(["torch", "safetensors", "ros-kilted-rclpy"])
    emit_report(report, json_only=args.json, out=args.out, table=_table)
    return 0
