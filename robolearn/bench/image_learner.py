"""Image learner throughput: RLPD gradient steps/s from pixels (one JSON object).

`RLPDAgent` with the ``conv`` encoder (`robolearn.learn.networks.ConvEncoder`, default
options: four 3x3 stride-2 convolutions of 32 channels per camera, a 64-d bottleneck), two
cameras (PandaPickCube's front and wrist) plus the 35-d state, the default 10-critic
ensemble, MLP 256x256, DrQ random shift on; one gradient step is a critic step and an actor +
temperature step (``utd_ratio=1``, ``critic_actor_ratio=1``) on a batch drawn from a replay
buffer of random frames. Timed at each ``--sizes`` (square images), ``--steps`` steps after
``--warmup``, median over ``--rounds``; the DrQ shift of one batch is timed on its own.

    python benchmarks/image_learner.py [--json] [--sizes 64 128] [--batch 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from robolearn.bench import common

CAMERAS = ("front", "wrist")
STATE_DIM = 35
ACTION_DIM = 7
BUFFER_SIZE = 1024


def _agent_and_buffer(size: int, batch: int, critics: int, seed: int) -> tuple[Any, Any]:
    import gymnasium as gym

    from robolearn.learn.replay import ReplayBuffer
    from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

    space = gym.spaces.Dict(
        {
            "state": gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32),
            "images": gym.spaces.Dict(
                {c: gym.spaces.Box(0, 255, (size, size, 3), np.uint8) for c in CAMERAS}
            ),
        }
    )
    action = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
    config = RLPDConfig(
        encoder="conv", num_critics=critics, batch_size=batch, utd_ratio=1, seed=seed
    )
    agent = RLPDAgent(space, action, config)
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(space, action, BUFFER_SIZE)

    def frames() -> dict[str, Any]:
        images = {c: rng.integers(0, 256, (BUFFER_SIZE, size, size, 3), np.uint8) for c in CAMERAS}
        state = rng.normal(size=(BUFFER_SIZE, STATE_DIM)).astype(np.float32)
        return {"state": state, "images": images}

    buffer.add_batch(
        {
            "obs": frames(),
            "next_obs": frames(),
            "action": rng.uniform(-1, 1, (BUFFER_SIZE, ACTION_DIM)).astype(np.float32),
            "reward": rng.random(BUFFER_SIZE).astype(np.float32),
            "terminated": rng.random(BUFFER_SIZE) < 0.01,
            "truncated": np.zeros(BUFFER_SIZE, bool),
        }
    )
    return agent, buffer


def measure(
    size: int, *, batch: int, critics: int, steps: int, warmup: int, rounds: int, seed: int
) -> dict[str, Any]:
    import torch

    agent, buffer = _agent_and_buffer(size, batch, critics, seed)
    rng = np.random.default_rng(seed + 1)
    for _ in range(warmup):
        agent.update(buffer.sample(batch, rng))
    wall, cpu = [], []
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            agent.update(buffer.sample(batch, rng))
        wall.append(steps / (time.perf_counter() - w0))
        cpu.append(steps / (time.process_time() - c0))
    images = torch.as_tensor(buffer.sample(batch, rng)["obs"]["images.front"])
    generator = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(10):
        agent.augmentation(images, generator)
    shift_ms = (time.perf_counter() - t0) / 10 * 1e3
    return {
        "image_size": size,
        "updates_per_s": round(statistics.median(wall), 3),
        "updates_per_s_cpu_time": round(statistics.median(cpu), 3),
        "drq_shift_ms_per_camera_batch": round(shift_ms, 2),
        "encoder_params": sum(p.numel() for p in agent.encoder.parameters()),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    results = [
        measure(
            size,
            batch=args.batch,
            critics=args.critics,
            steps=args.steps,
            warmup=args.warmup,
            rounds=args.rounds,
            seed=args.seed,
        )
        for size in args.sizes
    ]
    report: dict[str, Any] = {
        "benchmark": "image_learner",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": {
            "cameras": list(CAMERAS),
            "batch_size": args.batch,
            "num_critics": args.critics,
            "hidden": [256, 256],
            "augmentation": "drq",
            "steps": args.steps,
            "rounds": args.rounds,
            "threads": args.threads,
        },
        "machine": common.machine_info(["torch"]),
    }
    for r in results:
        report[f"updates_per_s_{r['image_size']}px"] = r["updates_per_s"]
    report["details"] = results
    return report


def _table(report: dict[str, Any]) -> str:
    lines = [f"{'image':>7} {'updates/s':>10} {'(cpu time)':>11} {'DrQ shift ms':>13}"]
    for r in report["details"]:
        lines.append(
            f"{r['image_size']:>5}px {r['updates_per_s']:>10.2f} "
            f"{r['updates_per_s_cpu_time']:>11.2f} {r['drq_shift_ms_per_camera_batch']:>13.1f}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=common.positive_int, nargs="+", default=[64, 128])
    p.add_argument("--batch", type=common.positive_int, default=256)
    p.add_argument("--critics", type=common.positive_int, default=10)
    p.add_argument("--steps", type=common.positive_int, default=5)
    p.add_argument("--warmup", type=common.nonnegative_int, default=1)
    p.add_argument("--rounds", type=common.positive_int, default=3)
    p.add_argument("--threads", type=common.positive_int, default=1)
    p.add_argument("--seed", type=int, default=0)
    common.add_output_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = run(args)
    common.emit_report(report, json_only=args.json, out=args.out, table=_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
