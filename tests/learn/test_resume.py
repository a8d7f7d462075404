"""Crash safety of training: SIGKILL a training run and resume it (the step counter and the
buffers continue from the last checkpoint), and kill a process in the middle of writing
checkpoints (``latest`` always names a complete one)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from robolearn.learn.learner import Learner

ROOT = Path(__file__).resolve().parents[2]
STEPS, EVERY, LEARNING_STARTS, EPISODE = 500, 100, 100, 50  # reach: 50-step episodes


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "MUJOCO_GL": "osmesa",
        "PYOPENGL_PLATFORM": "osmesa",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }


def _train_command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "robolearn.cli.main",
        "train",
        "serl",
        "--task=reach",
        "--demos=expert:2",
        f"--steps={STEPS}",
        "--set=agent.utd_ratio=1",
        "--set=agent.hidden_dims=[32, 32]",
        "--set=agent.batch_size=32",
        "--set=agent.num_critics=2",
        f"--set=loop.learning_starts={LEARNING_STARTS}",
        "--set=loop.eval_every=0",
        "--set=loop.eval_episodes=1",
        f"--set=loop.checkpoint_every={EVERY}",
        f"--out={out}",
        "--no-progress",
        *extra,
    ]


def _checkpoint_steps(directory: Path) -> list[int]:
    return sorted(int(p.name.rsplit("-", 1)[1]) for p in directory.glob("ckpt-*"))


def test_sigkill_during_training_then_resume_continues_the_counters(tmp_path, capsys):
    """`robolearn train serl` in a subprocess, SIGKILLed once a checkpoint past step 200
    exists; `--resume` continues from that checkpoint: same env-step counter and buffer sizes,
    and it finishes with the counters of an uninterrupted run (every env step added once, one
    update per step after learning starts)."""
    importlib.import_module("mujoco")
    out = tmp_path / "run"
    ckpts = out / "checkpoints"
    proc = subprocess.Popen(
        _train_command(out),
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            latest = Learner.latest(ckpts)
            if latest is not None and int(latest.name.rsplit("-", 1)[1]) >= 2 * EVERY:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before the kill: {proc.communicate()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    latest = Learner.latest(ckpts)
    state = json.loads((latest / "learner.json").read_text())
    killed_at = state["counters"]["env_steps"]
    assert 2 * EVERY <= killed_at < STEPS
    assert state["buffers"]["online"]["size"] == killed_at
    demo_size = state["buffers"]["demos"]["size"]
    # checkpoints fall at the first episode end after each interval: at most one interval and
    # one episode apart, so a kill loses at most that much
    steps = _checkpoint_steps(ckpts)
    assert steps[-1] == killed_at and 0 < steps[-1] - steps[-2] <= EVERY + EPISODE

    from robolearn.cli.main import main

    capsys.readouterr()
    assert main(_train_command(out, "--resume")[3:]) == 0  # in this process: no second start-up
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumed_from"] == killed_at
    assert summary["env_steps"] == STEPS and summary["online_transitions"] == STEPS
    assert summary["demo_transitions"] == demo_size
    assert summary["updates"] == STEPS - LEARNING_STARTS + 1  # utd 1, none lost or repeated
    assert summary["episodes"] >= state["counters"]["episodes"] + (STEPS - killed_at) // EPISODE
    final = Learner.load(ckpts)
    assert final.env_steps == STEPS and len(final.online) == STEPS
    assert (out / "policy.safetensors").is_file() and (out / "learning_curve.png").is_file()


_SAVER = textwrap.dedent(
    """
    import sys
    import gymnasium as gym
    import numpy as np
    import torch
    from robolearn.learn.learner import Learner
    from robolearn.learn.replay import ReplayBuffer
    from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

    torch.set_num_threads(1)
    root, n = sys.argv[1], 4000
    if Learner.latest(root) is not None:
        learner = Learner.load(root)
    else:
        obs = gym.spaces.Box(-1, 1, (64,), np.float32)
        act = gym.spaces.Box(-1, 1, (2,), np.float32)
        agent = RLPDAgent(obs, act, RLPDConfig(hidden_dims=(64, 64), num_critics=2))
        learner = Learner(agent, ReplayBuffer(obs, act, 400_000), learning_starts=0)
    rng = np.random.default_rng(learner.env_steps)
    print("ready", flush=True)
    while True:
        i = learner.env_steps
        learner.add({
            "obs": np.full((n, 64), i, np.float32),
            "next_obs": rng.random((n, 64), dtype=np.float32),
            "action": np.zeros((n, 2), np.float32),
            "reward": np.arange(i, i + n, dtype=np.float32),
            "terminated": np.zeros(n, bool),
            "truncated": np.zeros(n, bool),
        })
        print("saving", learner.env_steps, flush=True)
        learner.save(root)
        print("saved", learner.env_steps, flush=True)
    """
)


def test_kill_while_saving_never_leaves_a_corrupt_latest(tmp_path):
    """A process that only writes checkpoints (growing buffers, several MB each) is SIGKILLed
    right after it starts a save, several times. Each time the checkpoint ``latest`` names
    loads completely and holds the last finished save (or the interrupted one, if its rename
    had happened); the next process continues from it and cleans up the partial directory."""
    root = tmp_path / "ckpt"
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    rng = np.random.default_rng(0)
    mid_save_kills, attempts, last_loaded = 0, 0, 0
    while mid_save_kills < 2 and attempts < 6:
        attempts += 1
        proc = subprocess.Popen(
            [sys.executable, str(script), str(root)],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout.readline().strip() == "ready"
            saves_started = 0
            lines = []
            while saves_started < 3:
                line = proc.stdout.readline().split()
                lines.append(line)
                saves_started += line[0] == "saving"
            time.sleep(rng.uniform(0.0, 0.05))  # into the third save
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # What it printed between our last read and the kill (a quiet machine can finish more
        # saves in the few milliseconds before the signal lands).
        lines += [line.split() for line in proc.stdout.read().splitlines() if line.strip()]
        finished = [int(n) for word, n in lines if word == "saved"]
        started = int(lines[-1][1])
        partial = list(root.glob(".tmp-*"))
        mid_save_kills += bool(partial)
        learner = Learner.load(root)
        assert learner.env_steps in (finished[-1], started), (learner.env_steps, lines)
        assert learner.env_steps > last_loaded
        last_loaded = learner.env_steps
        # the buffer is complete: row i holds the transition numbered i
        assert len(learner.online) == learner.env_steps
        np.testing.assert_array_equal(
            learner.online.reward[: learner.env_steps], np.arange(learner.env_steps)
        )
    assert mid_save_kills >= 2, f"no kill hit a save in progress in {attempts} attempts"
