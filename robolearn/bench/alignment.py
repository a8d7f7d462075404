"""CPA alignment: time to align 500 x 500 segments, and transferred-label accuracy (JSON).

    python benchmarks/alignment.py [--json] [--n 500] [--repeats 3]
    python benchmarks/alignment.py --accuracy [--seeds 0 1 2] [--data DIR] [--json]

Same as `robolearn bench alignment`. The segments are real: varied-quality twin episodes,
recorded first (not timed).

Time (default): ``reach`` (source) and ``pick_cube`` (target); the timed part is what
`robolearn pearl transfer` does after reading segments: features, the two 500 x 500 distance
matrices, the transport plan and the label transfer for 1000 target pairs, for plain GW (exact,
POT's conditional gradient, and entropic, epsilon 0.05) and for the default, entropic fused GW.
Target: the default <= 10 s on the project's 2-core machine. The peer is POT's own solver
called on the same matrices (our overhead is features, costs and transfer); its
`solver_only_seconds` isolates it.

Accuracy (``--accuracy``): for every task pair among reach, pick_cube and peg_insert and every
seed ``s``, 300 scripted labels on 100 segments of the source recorded with seed ``s`` are
transferred to 300 pairs of 100 segments of the target recorded with seed ``s + 1`` (as in
`robolearn pearl report`), under plain GW and fused GW, each with the TCP features and the
per-task progress features; the accuracy of the transferred labels against the target's true
returns. 30 episodes per dataset take about 20-40 s each to record on one core; ``--data``
keeps them between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

TASKS = ("reach", "pick_cube", "peg_insert")
TASK_PAIRS = [(s, t) for s in TASKS for t in TASKS if s != t]


def _configs() -> dict:
    from robolearn.preference.alignment import AlignmentConfig

    return {
        "gw_tcp": AlignmentConfig(objective="gw", features="tcp"),  # before the fix
        "gw_progress": AlignmentConfig(objective="gw", features="progress"),
        "fgw_tcp": AlignmentConfig(objective="fgw", features="tcp"),
        "fgw_progress": AlignmentConfig(),  # the default
    }


def run_benchmark(
    n: int = 500, repeats: int = 3, seed: int = 0, workdir: Path | None = None
) -> dict:
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    import robolearn.learn  # noqa: F401 - torch/triton import order (see robolearn.learn)
    from robolearn.data.store import EpisodeStore
    from robolearn.preference.alignment import (
        AlignmentConfig,
        cross_cost,
        distance_matrix,
        gromov_wasserstein_plan,
        segment_features,
        transfer_labels,
    )
    from robolearn.preference.collect import collect_varied
    from robolearn.preference.labeller import random_pairs
    from robolearn.preference.segments import SegmentData, sample_segments

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        data = {}
        for task in ("reach", "pick_cube"):
            path = collect_varied(task, Path(tmp) / task, episodes=20, seed=seed, progress=False)
            with EpisodeStore.open(path) as store:
                segs = SegmentData(store, sample_segments(store, n, 25, rng))
                data[task] = (segs.states, segs.tasks)
    s_pairs = np.array(random_pairs(n, 1000, rng))
    t_pairs = np.array(random_pairs(n, 1000, rng))
    labels = rng.choice([0.0, 0.5, 1.0], size=len(s_pairs))
    configs = {
        "exact": AlignmentConfig(objective="gw", method="exact"),
        "entropic": AlignmentConfig(objective="gw", method="entropic"),
        "fgw_entropic": AlignmentConfig(),  # the default
    }
    results: dict[str, dict[str, float]] = {}
    for key, config in configs.items():
        totals, solver_only = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fs = segment_features(data["reach"][0], tasks=data["reach"][1])
            ft = segment_features(data["pick_cube"][0], tasks=data["pick_cube"][1])
            cs, ct = distance_matrix(fs), distance_matrix(ft)
            cost = cross_cost(fs, ft, config.cross_scaling) if config.objective == "fgw" else None
            t1 = time.perf_counter()
            plan = gromov_wasserstein_plan(cs, ct, config, cost)
            t2 = time.perf_counter()
            transfer_labels(plan, s_pairs, labels, t_pairs)
            t3 = time.perf_counter()
            totals.append(t3 - t0)
            solver_only.append(t2 - t1)
        results[key] = {
            "seconds_median": float(np.median(totals)),
            "seconds_min": float(np.min(totals)),
            "solver_only_seconds_median": float(np.median(solver_only)),
        }
    return {
        "benchmark": "alignment",
        "n_source": n,
        "n_target": n,
        "repeats": repeats,
        **results,
        "default_target_seconds": 10.0,
        "default_meets_target": results["fgw_entropic"]["seconds_median"] <= 10.0,
        "load_average": list(os.getloadavg()),
        "cpu_count": os.cpu_count(),
    }


def run_accuracy(
    seeds: Sequence[int] = (0, 1, 2),
    data: Path | None = None,
    episodes: int = 30,
    task_pairs: Sequence[tuple[str, str]] = TASK_PAIRS,
    configs: Sequence[str] | None = None,
    flip: float = 0.0,
    progress: bool = True,
) -> dict:
    """Transferred-label accuracy per config, task pair and seed (datasets in ``data``)."""
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    import robolearn.learn  # noqa: F401 - torch/triton import order (see robolearn.learn)
    from robolearn.preference.collect import collect_varied
    from robolearn.preference.evaluation import transfer_accuracy

    all_configs = _configs()
    names = list(configs or all_configs)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(data) if data is not None else Path(tmp)

        def dataset(task: str, seed: int) -> Path:
            path = root / f"seed{seed}" / task
            if not (path / "zarr.json").is_file():
                collect_varied(task, path, episodes=episodes, seed=seed, progress=False)
            return path

        rows = []
        for source, target in task_pairs:
            for seed in seeds:
                row: dict = {"source": source, "target": target, "seed": seed}
                for name in names:
                    acc, _ = transfer_accuracy(
                        dataset(source, seed), dataset(target, seed + 1), all_configs[name],
                        flip=flip, seed=seed,
                    )  # fmt: skip
                    row[name] = acc
                rows.append(row)
                if progress:
                    accs = " ".join(f"{k} {row[k]:.3f}" for k in names)
                    print(f"{source:>10} -> {target:<10} seed {seed}: {accs}", file=sys.stderr)
    means = {
        f"{s}->{t}": {
            k: float(np.mean([r[k] for r in rows if (r["source"], r["target"]) == (s, t)]))
            for k in names
        }
        for s, t in task_pairs
    }
    return {
        "benchmark": "alignment_accuracy",
        "configs": {k: repr(all_configs[k]) for k in names},
        "episodes": episodes,
        "flip": flip,
        "seeds": list(seeds),
        "rows": rows,
        "means": means,
        "wall_seconds": time.perf_counter() - start,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="robolearn bench alignment", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    parser.add_argument("--n", type=int, default=500, help="segments per task")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    parser.add_argument(
        "--accuracy", action="store_true", help="transferred-label accuracy instead of time"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="--accuracy")
    parser.add_argument("--episodes", type=int, default=30, help="--accuracy: per dataset")
    parser.add_argument("--flip", type=float, default=0.0, help="--accuracy: source flip rate")
    parser.add_argument(
        "--configs", nargs="+", choices=["gw_tcp", "gw_progress", "fgw_tcp", "fgw_progress"],
        help="--accuracy: alignment settings (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--data", type=Path, help="--accuracy: dataset folder, kept (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    if args.accuracy:
        report = run_accuracy(
            args.seeds, args.data, args.episodes, configs=args.configs, flip=args.flip,
            progress=not args.json,
        )  # fmt: skip
    else:
        report = run_benchmark(n=args.n, repeats=args.repeats, seed=args.seed)
    text = json.dumps(report, indent=None if args.json else 1)
    if args.out:
        args.out.write_text(text)
    print(text)
    if not args.json and not args.accuracy:
        print(
            f"exact GW {report['exact']['seconds_median']:.2f} s, entropic GW"
            f" {report['entropic']['seconds_median']:.2f} s, entropic fused GW (default)"
            f" {report['fgw_entropic']['seconds_median']:.2f} s for {args.n} x {args.n}",
            file=sys.stderr,
        )
    return 0
