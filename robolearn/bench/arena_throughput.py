"""Arena evaluation throughput: episodes/s of the runner with 1 and 2 local worker processes,
and the scaling ratio (target >= 1.7x on 2 cores).

Each measurement evaluates `--episodes` physics-only episodes (no videos, no rendering) of
`robolearn/PandaPickCube-v0`-equivalent arena jobs, half the scripted expert (short, it
succeeds in about 43 steps) and half random actions (the full 100 steps), suite `nominal`,
through `run_episode` in `ProcessExecutor` workers (spawned, one torch thread each). Worker
start-up and scene building are excluded: every worker builds its scene in a warm-up first.
The 1- and 2-worker measurements alternate for `--rounds` rounds so a slow spell of a shared
machine hits both; rates are medians over rounds. Result files are written as in a real run.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robolearn.bench import common

TARGET_SCALING = 1.7


def measure(workers: int, episodes: int, seed_offset: int) -> dict[str, float]:
    """Episodes/s and env steps/s of one timed batch with `workers` processes."""
    from robolearn.arena.perturb import load_suite
    from robolearn.arena.runner import ArenaConfig, ProcessExecutor, plan_jobs

    config = ArenaConfig(
        task="pick_cube",
        policies=["expert", "random"],
        suite="nominal",
        seeds=max(1, episodes // 2),
        seed_offset=seed_offset,
        videos=0,
    )
    jobs = plan_jobs(config, load_suite(config.suite))
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        with ProcessExecutor(config, Path(tmp), workers=workers) as ex:
            ex.warm_up(["nominal"], "expert")
            t0 = time.perf_counter()
            results = list(ex.run(jobs, "bench"))
            wall = time.perf_counter() - t0
    steps = sum(r["steps"] for r in results)
    cpu = sum(r["cpu_s"] for r in results)
    return {
        # CPU seconds the workers got per wall second and worker: 1.0 on an idle machine; far
        # below 1 when other jobs hold the cores (then no worker count can scale)
        "cpu_share_per_worker": cpu / (wall * workers),
        "cpu_s_per_episode": cpu / len(results),
        "episodes": len(results),
        "wall_s": wall,
        "episodes_per_s": len(results) / wall,
        "steps_per_s": steps / wall,
        "workers_used": len({r["pid"] for r in results}),
    }


def run_benchmark(*, episodes: int, rounds: int, progress: bool = True) -> dict[str, Any]:
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    load_before = common.load_average()
    for r in range(rounds):
        for workers in (1, 2):
            result = measure(workers, episodes, seed_offset=10_000 * (r + 1))
            runs[workers].append(result)
            if progress:
                print(
                    f"round {r + 1}/{rounds}, {workers} worker(s): "
                    f"{result['episodes_per_s']:.2f} episodes/s",
                    file=sys.stderr,
                )
    eps = {w: statistics.median(x["episodes_per_s"] for x in runs[w]) for w in runs}
    share = {w: statistics.median(x["cpu_share_per_worker"] for x in runs[w]) for w in runs}
    scaling = eps[2] / eps[1]
    return {
        "benchmark": "arena_throughput",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "episodes_per_measurement": episodes,
        "rounds": rounds,
        "episodes_per_s_1_worker": eps[1],
        "episodes_per_s_2_workers": eps[2],
        "scaling_2_vs_1": scaling,
        "target_scaling": TARGET_SCALING,
        "target_met": scaling >= TARGET_SCALING,
        "cpu_share_per_worker_1": share[1],
        "cpu_share_per_worker_2": share[2],
        "cpu_s_per_episode": statistics.median(
            x["cpu_s_per_episode"] for w in runs for x in runs[w]
        ),
        "details": {str(w): runs[w] for w in runs},
        "load_average_before": load_before,
        "machine": common.machine_info(["mujoco", "ray"]),
    }


def format_table(report: dict[str, Any]) -> str:
    return "\n".join(
        [
            "arena evaluation throughput (pick_cube, expert + random, physics only)",
            f"  1 worker : {report['episodes_per_s_1_worker']:.2f} episodes/s",
            f"  2 workers: {report['episodes_per_s_2_workers']:.2f} episodes/s",
            f"  scaling  : {report['scaling_2_vs_1']:.2f}x (target >= {TARGET_SCALING}x)",
            f"  CPU share per worker: {report['cpu_share_per_worker_1']:.2f} (1 worker),"
            f" {report['cpu_share_per_worker_2']:.2f} (2 workers);"
            f" {report['cpu_s_per_episode']:.3f} CPU s per episode",
            f"  load     : {report['load_average_before']} -> {report['machine']['load_average']}",
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robolearn bench arena", description=__doc__)
    parser.add_argument("--episodes", type=common.positive_int, default=24)
    parser.add_argument("--rounds", type=common.positive_int, default=2)
    parser.add_argument("--no-progress", action="store_true")
    common.add_output_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = run_benchmark(
        episodes=args.episodes, rounds=args.rounds, progress=not args.no_progress
    )
    common.emit_report(report, json_only=args.json, out=args.out, table=format_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
