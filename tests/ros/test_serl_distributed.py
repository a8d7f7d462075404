"""Distributed SERL over real rclpy: a learner and two actors in separate processes on the twin.

The actors send transitions, the learner trains and sends weights back (versions rise); the
learner is SIGKILLed, the actors keep stepping with their last weights; a new learner resumes
from the checkpoint and the actors receive a higher version. Everything is observed over DDS
(the nodes' /diagnostics), as an operator would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robolearn.learn.learner import Learner
from robolearn.ros.serl_wire import StatusMonitor
from tests.ros.conftest import ros_env

ROOT = Path(__file__).resolve().parents[2]
TINY_LEARNER = [
    "env.task:=reach",
    "agent.hidden_dims:=[32,32]",
    "agent.num_critics:=2",
    "agent.utd_ratio:=1",
    "agent.batch_size:=64",
    "loop.learning_starts:=100",
    "node.publish_every:=10",
    "node.checkpoint_every_s:=2.0",
    "loop.demos:=expert:1",
]


def _start(module: str, params: list[str], log: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", module, "--ros-args"]
    for p in params:
        args += ["-p", p]
    env = ros_env()
    env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"
    with open(log, "ab") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Monitor(StatusMonitor):
    """`StatusMonitor` that can wait for a condition while watching the node processes."""

    def wait_for(self, predicate, what: str, timeout: float, procs=()) -> None:
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            for proc, log in procs:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"{log.name} exited ({proc.returncode}):\n{log.read_text()}"
                    )
            try:
                if predicate():
                    print(f"{time.monotonic() - start:5.1f} s: {what}")
                    return
            except (KeyError, ValueError):
                pass  # no status yet
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; last status: {self.latest}")


@pytest.fixture
def monitor():
    m = Monitor()
    yield m
    m.close()


def test_actors_and_learner_exchange_transitions_and_weights_across_a_learner_restart(
    tmp_path: Path, monitor: Monitor
):
    ckpt, logs_dir = tmp_path / "ckpt", tmp_path / "logs"
    learner_log, logs = tmp_path / "learner.log", []
    procs: list[subprocess.Popen] = []
    learner = None
    try:
        for i in range(2):
            log = tmp_path / f"actor_{i}.log"
            params = [f"node.actor_id:=a{i}", f"seed:={i}", "node.rate_hz:=50.0",
                      "node.batch_size:=20", "env.task:=reach"]  # fmt: skip
            procs.append(_start("robolearn.ros.actor_node", params, log))
            logs.append((procs[-1], log))
        learner = _start(
            "robolearn.ros.learner_node",
            [*TINY_LEARNER, f"node.checkpoint_dir:={ckpt}", f"node.log_dir:={logs_dir}"],
            learner_log,
        )
        watched = [*logs, (learner, learner_log)]
        actors = ("serl_actor/a0", "serl_actor/a1")

        # 1. transitions flow in, the learner trains, both actors act with rising versions
        monitor.wait_for(
            lambda: all(monitor.value(a, "weights_version") >= 3 for a in actors),
            "both actors to receive weights version >= 3",
            timeout=120,
            procs=watched,
        )
        monitor.wait_for(
            lambda: monitor.value("serl_learner", "actors") == 2,
            "the learner to hear from both actors",
            timeout=30,
            procs=watched,
        )
        run_id = monitor.value("serl_learner", "run_id", str)
        online = monitor.value("serl_learner", "online_size")
        monitor.wait_for(
            lambda: monitor.value("serl_learner", "online_size") > online,
            "the learner's buffer to grow",
            timeout=30,
            procs=watched,
        )
        assert monitor.value("serl_learner", "updates") > 0
        # batches acted by the policy come back tagged with the version that acted
        monitor.wait_for(
            lambda: monitor.value("serl_learner", "policy_lag") >= 0,
            "batches acted with learner weights",
            timeout=30,
            procs=watched,
        )
        assert monitor.value("serl_learner", "demo_size") > 0  # expert:1 demos
        assert monitor.value("serl_learner", "rejected_batches") == 0
        for a in actors:
            assert monitor.value(a, "acting_randomly", str) == "False"
            assert monitor.value(a, "run_id", str) == run_id
        # a checkpoint exists before we kill it
        monitor.wait_for(lambda: (ckpt / "latest").is_file(), "a checkpoint", 30, watched)

        # 2. SIGKILL the learner: the actors keep stepping with their last weights
        os.kill(learner.pid, signal.SIGKILL)
        learner.wait(timeout=10)
        learner_status = dict(monitor.latest["serl_learner"])

        def steps_past(marks: dict[str, int], n: int):
            return lambda: all(monitor.value(a, "env_steps") >= marks[a] + n for a in actors)

        # statuses from after the kill (they are published once a second)
        steps_at = {a: monitor.value(a, "env_steps") for a in actors}
        monitor.wait_for(steps_past(steps_at, 60), "fresh actor status", timeout=30, procs=logs)
        killed_at = {a: monitor.value(a, "weights_version") for a in actors}
        steps_at = {a: monitor.value(a, "env_steps") for a in actors}
        monitor.wait_for(
            steps_past(steps_at, 50),
            "the actors to keep stepping without a learner",
            timeout=30,
            procs=logs,
        )
        for a in actors:
            assert monitor.value(a, "acting_randomly", str) == "False"
            assert monitor.value(a, "weights_version") == killed_at[a]
        # without the learner's heartbeat the actors keep their batches for the next learner
        monitor.wait_for(
            lambda: all(
                monitor.value(a, "learner_alive", str) == "False"
                and monitor.value(a, "batches_queued") > 0
                for a in actors
            ),
            "the actors to queue their batches",
            timeout=30,
            procs=logs,
        )
        before_restart = int(learner_status["env_steps"])

        # 3. a new learner resumes from the checkpoint; the actors get a higher version
        monitor.latest.pop("serl_learner")
        learner = _start(
            "robolearn.ros.learner_node",
            [*TINY_LEARNER, f"node.checkpoint_dir:={ckpt}", f"node.log_dir:={logs_dir}"],
            learner_log,
        )
        watched = [*logs, (learner, learner_log)]
        monitor.wait_for(
            lambda: (
                all(monitor.value(a, "weights_version") > killed_at[a] for a in actors)
                and monitor.value("serl_learner", "weights_version") > 0
            ),
            "the actors to receive a version above the one before the restart",
            timeout=120,
            procs=watched,
        )
        assert monitor.value("serl_learner", "run_id", str) == run_id  # the same run continues
        assert "resumed run" in learner_log.read_text()
        # the counters continued from the checkpoint (at most one interval lost), not from 0
        resumed = monitor.value("serl_learner", "env_steps")
        assert resumed > 0.5 * before_restart, (resumed, before_restart)
        for a in actors:
            assert monitor.value(a, "rejected_weights") == 0
        # batches received after the checkpoint died with the learner: counted, not hidden
        print(f"lost batches across the restart: {monitor.value('serl_learner', 'lost_batches')}")

        # 4. a clean stop (SIGTERM) leaves a checkpoint with everything it had, and the curve
        last_seen = monitor.value("serl_learner", "env_steps")
        learner.terminate()
        assert learner.wait(timeout=60) == 0, learner_log.read_text()[-3000:]
        final = json.loads((Learner.latest(ckpt) / "learner.json").read_text())
        assert final["counters"]["env_steps"] >= last_seen
        assert (logs_dir / "learning_curve.png").is_file()
        assert list(logs_dir.glob("events.out.tfevents*"))
    finally:
        for proc in procs + ([learner] if learner is not None else []):
            _terminate(proc)
        for _, log in logs + [(None, learner_log)]:
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_learns_a_toy_task_across_processes(tmp_path: Path, monitor: Monitor):
    """A learner and an actor process on a toy numpy env: the success rate of the actor's
    training episodes (stochastic policy, weights over DDS) rises from ~0 to >= 80%."""
    env = ["env.id:=tests.learn.toy_envs:PointGoalEnv", "env.kwargs.horizon:=20",
           "env.kwargs.step_size:=0.2", "env.kwargs.radius:=0.15"]  # fmt: skip
    learner_log, actor_log = tmp_path / "learner.log", tmp_path / "actor.log"
    learner = _start(
        "robolearn.ros.learner_node",
        [*env, "hidden_dims:=[64,64]", "agent.num_critics:=2", "utd_ratio:=2", "batch_size:=128",
         "discount:=0.97", "loop.learning_starts:=100", "publish_every:=20", "demos:=expert:10"],
        learner_log,
    )  # fmt: skip
    actor = _start(
        "robolearn.ros.actor_node", [*env, "node.rate_hz:=100.0", "node.batch_size:=10"], actor_log
    )
    watched = [(learner, learner_log), (actor, actor_log)]
    try:
        monitor.wait_for(
            lambda: monitor.value("serl_learner", "episodes") >= 20,
            "20 episodes",
            timeout=180,
            procs=watched,
        )
        early = monitor.value("serl_learner", "recent_success_rate", float)
        monitor.wait_for(
            lambda: (
                monitor.value("serl_learner", "recent_success_rate", float) >= 0.8
                or monitor.value("serl_learner", "env_steps") > 8000
            ),
            "success >= 0.8 or 8000 env steps",
            timeout=600,
            procs=watched,
        )
        late = monitor.value("serl_learner", "recent_success_rate", float)
        steps = monitor.value("serl_learner", "env_steps")
        print(f"toy over ROS: recent success {early:.2f} -> {late:.2f} at {steps} env steps")
        assert early <= 0.3 and late >= 0.8
    finally:
        for proc in (actor, learner):
            _terminate(proc)
