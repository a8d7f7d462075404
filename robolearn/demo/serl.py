"""Stage 2: distributed SERL on the twin, the learner and each actor a separate ROS 2 process.

The processes are the console scripts `serl_learner` / `serl_actor` (run as
``python -m robolearn.ros.learner_node`` so the venv's interpreter is used) with a parameter
file written here, exactly what a user starts by hand. The demo watches their ``/diagnostics``
and stops the learner with SIGTERM once it has received the env-step budget: it checkpoints and
writes its learning curve on the way out.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from robolearn.demo.config import DemoConfig
from robolearn.learn.config import (
    ActorNodeConfig,
    ActorSettings,
    EnvConfig,
    LearnerNodeConfig,
    LearnerSettings,
    LoopConfig,
)
from robolearn.ros.params import parameter_file_tree

log = logging.getLogger(__name__)


STATUS_TIMEOUT_S = 180.0  # the nodes import torch and build the twin before they report


class NodeProcessError(RuntimeError):
    """A node process died or the run did not reach its budget in time."""


def node_configs(
    config: DemoConfig, dataset: Path, out: Path
) -> tuple[LearnerNodeConfig, ActorNodeConfig]:
    """The learner's and the actors' config trees for this demo (the actors' ids and seeds are
    set per process on the command line)."""
    s = config.serl
    env = EnvConfig(task=config.task, action_mode=s.action_mode)
    learner = LearnerNodeConfig(
        env=env,
        agent=s.agent,
        loop=LoopConfig(
            env_steps=s.env_steps, learning_starts=s.learning_starts, demos=str(dataset)
        ),
        seed=config.seed,
        device="auto",
        threads=1,
        node=LearnerSettings(
            publish_every=s.publish_every,
            checkpoint_dir=str(out / "checkpoints"),
            log_dir=str(out / "logs"),
            checkpoint_every_s=120.0,
            resume=True,
            cpus=s.learner_cpus,
        ),
    )
    actor = ActorNodeConfig(
        env=env,
        seed=config.seed,
        node=ActorSettings(
            batch_size=s.actor_batch_size,
            rate_hz=float(s.actor_rate_hz),
            cpus=s.actor_cpus,
        ),
    )
    return learner, actor


def serl_parameters(config: DemoConfig, dataset: Path, out: Path) -> dict[str, Any]:
    """The ROS parameter file (``--params-file``) of the learner and the actors: their whole
    config trees, nested."""
    learner, actor = node_configs(config, dataset, out)
    return {
        "serl_learner": {"ros__parameters": parameter_file_tree(learner)},
        "serl_actor": {"ros__parameters": parameter_file_tree(actor)},
    }


def _command(module: str, params_file: Path, extra: list[str]) -> list[str]:
    args = [sys.executable, "-m", module, "--ros-args", "--params-file", str(params_file)]
    for p in extra:
        args += ["-p", p]
    return args


CONSOLE_SCRIPTS = {
    "robolearn.ros.learner_node": "serl_learner",
    "robolearn.ros.actor_node": "serl_actor",
}


def _as_console_script(cmd: list[str]) -> str:
    """``python -m robolearn.ros.learner_node ...`` as the user types it: ``serl_learner ...``."""
    return " ".join([CONSOLE_SCRIPTS[cmd[2]], *cmd[3:]])


def _stop(proc: subprocess.Popen, timeout: float) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop in %.0f s: killing it", proc.pid, timeout)
            proc.kill()
            proc.wait()
    return proc.returncode


def run_serl(config: DemoConfig, dataset: Path, out: Path, progress: bool = True) -> dict[str, Any]:
    """Run learner + actors until the learner has ``serl.env_steps`` env steps; the result
    holds the counters, the checkpoint folder, the curve and the commands that were run."""
    from tqdm import tqdm

    from robolearn.learn.learner import Learner
    from robolearn.ros import restrict_discovery_to_localhost
    from robolearn.ros.serl_wire import StatusMonitor

    restrict_discovery_to_localhost()
    s = config.serl
    out.mkdir(parents=True, exist_ok=True)
    params_file = out / "params.yaml"
    params_file.write_text(yaml.safe_dump(serl_parameters(config, dataset, out), sort_keys=False))
    env = dict(os.environ, RCUTILS_LOGGING_BUFFERED_STREAM="0")
    commands = {"serl_learner": _command("robolearn.ros.learner_node", params_file, [])}
    for i in range(s.actors):
        commands[f"serl_actor/actor_{i}"] = _command(
            "robolearn.ros.actor_node",
            params_file,
            [f"node.actor_id:=actor_{i}", f"seed:={config.seed + i}"],
        )
    procs: dict[str, tuple[subprocess.Popen, Path]] = {}
    monitor = StatusMonitor("demo_serl_monitor")
    t0 = time.monotonic()
    status: dict[str, str] = {}
    try:
        for name, cmd in commands.items():
            logfile = out / f"{name.replace('/', '_')}.log"
            with open(logfile, "ab") as fh:
                procs[name] = (
                    subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT),
                    logfile,
                )
        bar = tqdm(total=s.env_steps, desc="serl env steps", unit="step", disable=not progress)
        deadline = t0 + s.timeout_s
        steps = 0
        while steps < s.env_steps:
            for name, (proc, logfile) in procs.items():
                if proc.poll() is not None:
                    tail = logfile.read_text(errors="replace")[-3000:]
                    raise NodeProcessError(
                        f"{name} exited with code {proc.returncode}; its log ({logfile}):\n{tail}"
                    )
            if time.monotonic() > deadline:
                raise NodeProcessError(
                    f"the learner had {steps}/{s.env_steps} env steps after {s.timeout_s:.0f} s;"
                    f" raise serl.timeout_s or lower serl.env_steps (logs in {out})"
                )
            status = dict(monitor.latest.get("serl_learner", {}))
            if not status and time.monotonic() - t0 > STATUS_TIMEOUT_S:
                raise NodeProcessError(
                    f"no /diagnostics from serl_learner after {STATUS_TIMEOUT_S:.0f} s: the"
                    f" processes run but DDS does not connect them (ROS_DOMAIN_ID,"
                    f" ROS_AUTOMATIC_DISCOVERY_RANGE, a firewall?); logs in {out}"
                )
            if "env_steps" in status:
                new = int(status["env_steps"])
                bar.update(max(0, min(new, s.env_steps) - steps))
                steps = new
                bar.set_postfix(
                    updates=status.get("updates", "0"),
                    success=status.get("recent_success_rate", "-"),
                    version=status.get("weights_version", "0"),
                    refresh=False,
                )
            time.sleep(0.5)
        bar.close()
        actor_status = {
            name: dict(monitor.latest.get(name, {})) for name in commands if name != "serl_learner"
        }
    finally:
        # The learner first: it checkpoints and writes its curve on SIGTERM.
        codes = {}
        for name in commands:
            if name in procs:
                codes[name] = _stop(procs[name][0], timeout=120.0 if name == "serl_learner" else 20)
        monitor.close()
    if codes.get("serl_learner") != 0:
        raise NodeProcessError(
            f"serl_learner exited with {codes.get('serl_learner')} on SIGTERM; see {out}"
        )
    checkpoint = Learner.latest(out / "checkpoints")
    if checkpoint is None:
        raise NodeProcessError(f"the learner left no checkpoint in {out / 'checkpoints'}")
    final = json.loads((checkpoint / "learner.json").read_text())
    curve = out / "logs" / "learning_curve.png"
    return {
        "checkpoint": str(checkpoint),
        "learning_curve": str(curve) if curve.is_file() else None,
        "counters": final["counters"],
        "last_status": status,
        "actors": actor_status,
        "wall_s": time.monotonic() - t0,
        "commands": {k: _as_console_script(v) for k, v in commands.items()},
        "params_file": str(params_file),
    }
