"""Learner throughput: gradient updates/s of our RLPD learner against Stable-Baselines3 SAC.

State-based, one process, the same run: observation dim 35 and action dim 7 (PandaPickCube's
state and action), batch 256, MLP 256x256 for actor and critics, Adam, one thread each
(``--threads``). Three learners are timed:

- ``ours_2q``: `RLPDAgent` with 2 critics (same critic count as SB3: same compute, except that
  our critics have LayerNorm, which SB3's have not);
- ``ours_10q``: our default 10-critic ensemble (target: min over a random pair);
- ``sb3``: `stable_baselines3.SAC` (``MlpPolicy``, ``n_critics=2``), timed in
  ``model.train(gradient_steps=N, batch_size=256)`` on a filled replay buffer;
- ``ours_2q_no_layernorm`` (in ``details`` only): 2 critics without LayerNorm, SB3's critic
  architecture exactly.

One gradient step is one critic update plus one actor and temperature update on both sides
(our ``utd_ratio=1``, ``critic_actor_ratio=1``). Our timed step includes drawing its batch (128
rows from an "online" buffer and 128 from a "demo" buffer, RLPD's symmetric sampling); SB3's
includes its replay sampling. Buffers hold 10,000 random transitions.

The learners are timed in interleaved rounds (``ours_2q, ours_10q, sb3, ours_2q, ...``) so a
slow spell of a shared machine hits all of them; each rate is the median over rounds. Rates by
wall time are the headline keys; rates by this process's CPU time are in ``details`` (less
sensitive to other processes competing for the cores).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.bench import common

log = logging.getLogger(__name__)

OBS_DIM = 35  # robolearn/PandaPickCube-v0 state
ACTION_DIM = 7
BATCH_SIZE = 256
HIDDEN = (256, 256)
BUFFER_SIZE = 10_000
DEFAULT_STEPS = 100
DEFAULT_WARMUP = 10
DEFAULT_ROUNDS = 3
DEFAULT_THREADS = 1
TARGETS = {"ratio_vs_sb3_same_critics": 1.5, "ratio_vs_sb3_ensemble": 0.5}


# --- the learners -------------------------------------------------------------------------------
def _random_transitions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "obs": rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        "next_obs": rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        "action": rng.uniform(-1, 1, size=(n, ACTION_DIM)).astype(np.float32),
        "reward": rng.normal(size=n).astype(np.float32),
        "terminated": rng.random(n) < 0.01,
        "truncated": np.zeros(n, np.bool_),
    }


def make_ours(num_critics: int, seed: int, layer_norm: bool = True) -> Callable[[int], None]:
    """``run(n)``: n steps of our learner, each drawing 128 online + 128 demo rows and updating."""
    import gymnasium as gym

    from robolearn.learn.replay import ReplayBuffer
    from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

    obs_space = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)})
    act_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
    config = RLPDConfig(
        num_critics=num_critics,
        critic_subsample=2,
        hidden_dims=HIDDEN,
        batch_size=BATCH_SIZE,
        utd_ratio=1,
        critic_actor_ratio=1,
        critic_layer_norm=layer_norm,
        seed=seed,
    )
    agent = RLPDAgent(obs_space, act_space, config)
    rng = np.random.default_rng(seed)
    buffers = []
    for _ in range(2):  # online, demo
        raw = _random_transitions(BUFFER_SIZE, rng)
        buffer = ReplayBuffer(obs_space, act_space, BUFFER_SIZE)
        buffer.add_batch(
            {**raw, "obs": {"state": raw["obs"]}, "next_obs": {"state": raw["next_obs"]}}
        )
        buffers.append(buffer)
    online, demo = buffers
    n_online, n_demo = config.split()

    def run(steps: int) -> None:
        for _ in range(steps):
            agent.update(online.sample(n_online, rng), demo.sample(n_demo, rng))

    return run


def make_sb3(seed: int) -> Callable[[int], None]:
    """``run(n)``: SB3 SAC's ``model.train(gradient_steps=n)`` on a filled replay buffer."""
    try:
        import gymnasium as gym
        from stable_baselines3 import SAC
        from stable_baselines3.common.logger import configure
    except ImportError as error:
        raise RuntimeError(
            "the learner benchmark compares against Stable-Baselines3; install it with "
            "pip install 'stable-baselines3==2.9.2'"
        ) from error

    class _StateEnv(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
            return np.zeros(OBS_DIM, np.float32), {}

        def step(self, action: np.ndarray) -> tuple:
            return np.zeros(OBS_DIM, np.float32), 0.0, False, False, {}

    model = SAC(
        "MlpPolicy",
        _StateEnv(),
        learning_rate=3e-4,
        buffer_size=BUFFER_SIZE,
        learning_starts=0,
        batch_size=BATCH_SIZE,
        policy_kwargs={"net_arch": list(HIDDEN), "n_critics": 2},
        device="cpu",
        seed=seed,
    )
    model.set_logger(configure(None, []))  # train() records metrics; no output
    raw = _random_transitions(BUFFER_SIZE, np.random.default_rng(seed))
    buffer = model.replay_buffer
    buffer.observations[:] = raw["obs"][:, None]
    buffer.next_observations[:] = raw["next_obs"][:, None]
    buffer.actions[:] = raw["action"][:, None]
    buffer.rewards[:] = raw["reward"][:, None]
    buffer.dones[:] = raw["terminated"][:, None]
    buffer.full = True

    def run(steps: int) -> None:
        model.train(gradient_steps=steps, batch_size=BATCH_SIZE)

    return run


LEARNERS = ("ours_2q", "ours_10q", "sb3", "ours_2q_no_layernorm")


def _time(run: Callable[[int], None], steps: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``run(steps)``."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run(steps)
    return time.perf_counter() - wall0, time.process_time() - cpu0


def _build(name: str, seed: int) -> Callable[[int], None]:
    if name == "ours_2q":
        return make_ours(2, seed)
    if name == "ours_10q":
        return make_ours(10, seed)
    if name == "sb3":
        return make_sb3(seed)
    if name == "ours_2q_no_layernorm":  # SB3's critic architecture exactly (detail only)
        return make_ours(2, seed, layer_norm=False)
    raise ValueError(f"unknown learner {name!r}; known: {', '.join(LEARNERS)}")


# --- the whole benchmark ------------------------------------------------------------------------
def run_benchmark(
    steps: int = DEFAULT_STEPS,
    warmup: int = DEFAULT_WARMUP,
    rounds: int = DEFAULT_ROUNDS,
    threads: int = DEFAULT_THREADS,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Time the three learners in interleaved rounds; return the report (see the module doc)."""
    import torch

    for name, value in (("steps", steps), ("rounds", rounds), ("threads", threads)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runs = {name: _build(name, seed) for name in LEARNERS}
        for run in runs.values():
            if warmup:
                run(warmup)
        wall: dict[str, list[float]] = {name: [] for name in LEARNERS}
        cpu: dict[str, list[float]] = {name: [] for name in LEARNERS}
        for r in range(rounds):
            for name, run in runs.items():
                w, c = _time(run, steps)
                wall[name].append(steps / w)
                cpu[name].append(steps / c if c > 0 else float("nan"))
                if progress:
                    print(
                        f"round {r + 1}/{rounds} {name:9} {steps / w:7.1f} updates/s "
                        f"(cpu time: {steps / c if c > 0 else float('nan'):7.1f}/s)",
                        file=sys.stderr,
                    )
    finally:
        torch.set_num_threads(torch_threads)

    med = {name: statistics.median(v) for name, v in wall.items()}
    med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    same = med["ours_2q"] / med["sb3"]
    ensemble = med["ours_10q"] / med["sb3"]
    met = {
        "ratio_vs_sb3_same_critics": same >= TARGETS["ratio_vs_sb3_same_critics"],
        "ratio_vs_sb3_ensemble": ensemble >= TARGETS["ratio_vs_sb3_ensemble"],
    }
    met["all"] = all(met.values())
    return {
        "benchmark": "learner_throughput",
        "updates_per_s_2q": med["ours_2q"],
        "updates_per_s_10q": med["ours_10q"],
        "sb3_updates_per_s": med["sb3"],
        "ratio_vs_sb3_same_critics": same,
        "ratio_vs_sb3_ensemble": ensemble,
        "targets": dict(TARGETS),
        "targets_met": met,
        "setup": {
            "obs_dim": OBS_DIM,
            "action_dim": ACTION_DIM,
            "batch_size": BATCH_SIZE,
            "hidden": list(HIDDEN),
            "buffer_size": BUFFER_SIZE,
            "ours": "RLPDAgent, utd_ratio=1, critic_actor_ratio=1, LayerNorm critics, "
            "128 online + 128 demo rows per step",
            "sb3": "SAC MlpPolicy, n_critics=2, ent_coef=auto, train(gradient_steps=N)",
            "steps_per_round": steps,
            "warmup_steps": warmup,
            "rounds": rounds,
            "threads": threads,
            "seed": seed,
        },
        "details": {
            "wall_updates_per_s": wall,
            "cpu_updates_per_s": cpu,
            "cpu_median_updates_per_s": med_cpu,
            "cpu_ratio_vs_sb3_same_critics": med_cpu["ours_2q"] / med_cpu["sb3"],
            "cpu_ratio_vs_sb3_ensemble": med_cpu["ours_10q"] / med_cpu["sb3"],
            "median_updates_per_s": med,
            "ratio_vs_sb3_2q_no_layernorm": med["ours_2q_no_layernorm"] / med["sb3"],
        },
        "machine": common.machine_info(("torch", "stable-baselines3", "numpy")),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def format_table(report: dict[str, Any]) -> str:
    d = report["details"]["cpu_median_updates_per_s"]
    lines = [
        f"learner throughput: batch {BATCH_SIZE}, MLP {HIDDEN}, obs {OBS_DIM}, action "
        f"{ACTION_DIM}, {report['setup']['threads']} thread(s), median of "
        f"{report['setup']['rounds']} rounds",
        f"{'':28} {'updates/s':>10} {'(cpu time)':>11}",
        f"{'ours, 2 critics':28} {report['updates_per_s_2q']:10.1f} {d['ours_2q']:11.1f}",
        f"{'ours, 10 critics':28} {report['updates_per_s_10q']:10.1f} {d['ours_10q']:11.1f}",
        f"{'SB3 SAC, 2 critics':28} {report['sb3_updates_per_s']:10.1f} {d['sb3']:11.1f}",
        f"{'ours, 2 critics, no LN':28} "
        f"{report['details']['median_updates_per_s']['ours_2q_no_layernorm']:10.1f} "
        f"{d['ours_2q_no_layernorm']:11.1f}",
    ]
    for key, label in (
        ("ratio_vs_sb3_same_critics", "ours 2q / SB3"),
        ("ratio_vs_sb3_ensemble", "ours 10q / SB3"),
    ):
        verdict = "met" if report["targets_met"][key] else "NOT met"
        lines.append(
            f"{label:28} {report[key]:10.2f}x  target >= {report['targets'][key]:g}: {verdict}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robolearn bench learner",
        description=(
            "Gradient updates/s of our RLPD learner (2 and 10 critics) vs Stable-Baselines3 SAC "
            "(2 critics), state-based, batch 256, MLP 256x256; prints one JSON object."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON on stdout")
    parser.add_argument(
        "--steps", type=common.positive_int, default=DEFAULT_STEPS, help="updates timed per round"
    )
    parser.add_argument(
        "--warmup",
        type=common.nonnegative_int,
        default=DEFAULT_WARMUP,
        help="untimed updates first",
    )
    parser.add_argument(
        "--rounds",
        type=common.positive_int,
        default=DEFAULT_ROUNDS,
        help="interleaved timing rounds",
    )
    parser.add_argument(
        "--threads",
        type=common.positive_int,
        default=DEFAULT_THREADS,
        help="torch threads, both sides",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no per-round lines on stderr")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = run_benchmark(
        steps=args.steps,
        warmup=args.warmup,
        rounds=args.rounds,
        threads=args.threads,
        seed=args.seed,
        progress=not args.no_progress,
    )
    common.emit_report(report, json_only=args.json, out=args.out, table=format_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
