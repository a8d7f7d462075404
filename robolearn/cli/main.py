"""`robolearn <verb> ...`: thin wrappers that parse arguments and call library code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from robolearn import __version__

TASK_NAMES = ("reach", "pick_cube", "peg_insert")


def _cmd_sim(args: argparse.Namespace) -> int:
    from robolearn.envs.rollout import run_expert

    if not args.expert:
        print("robolearn sim: only --expert rollouts exist so far; pass --expert", file=sys.stderr)
        return 2
    summary = run_expert(
        args.task,
        episodes=args.episodes,
        seed=args.seed,
        control_hz=args.control_hz,
        video=args.video,
    )
    print(
        f"{args.task}: expert success {summary.successes}/{summary.episodes}"
        f" ({100 * summary.success_rate:.0f}%), mean length"
        f" {summary.as_dict()['mean_episode_length']:.1f} steps"
    )
    if summary.video:
        print(f"video: {summary.video}")
    if args.json:
        print(json.dumps(summary.as_dict()))
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from robolearn.ros.compose import run_sim

    if args.mode != "sim":
        print(
            "robolearn up real: use `ros2 launch launch/real.launch.py` on the robot workstation",
            file=sys.stderr,
        )
        return 2
    if not args.expert:
        print("robolearn up sim: pass --expert (the scripted teleop node)", file=sys.stderr)
        return 2
    result = run_sim(
        args.task,
        episodes=args.episodes,
        seed=args.seed,
        publish_hz=args.publish_hz,
        real_time_factor=args.real_time_factor,
        record=str(args.record) if args.record else None,
        cameras=tuple(args.cameras),
    )
    print(
        f"{result.task} over ROS 2 (twin bridge + scripted teleop): success"
        f" {result.successes}/{result.episodes} in {result.wall_seconds:.1f} s"
    )
    if args.record:
        print(f"recorded {result.recorded} episodes into {args.record}")
    return 0 if result.successes == result.episodes else 1


def _cmd_record(args: argparse.Namespace) -> int:
    from robolearn.data.recorder import record

    options = {}
    if args.teleop == "scripted" and args.noise:
        options["noise_std"] = args.noise
    summary = record(
        args.task,
        args.out,
        teleop=args.teleop,
        episodes=args.episodes,
        seed=args.seed,
        cameras=tuple(args.cameras),
        image_size=(args.image_size, args.image_size),
        control_hz=args.control_hz,
        operator=args.operator,
        keep_failures=not args.drop_failures,
        teleop_options=options,
    )
    d = summary.as_dict()
    print(
        f"recorded {d['committed']} episodes ({d['successes']} successful, {d['steps']} steps,"
        f" {d['human_steps']} human steps, {d['discarded']} discarded) into {summary.path}"
    )
    return 0


# `robolearn bench NAME ...` runs the `main(argv)` of the module named here.
BENCHMARKS = {
    "env": "robolearn.bench.env_throughput",
    "ros": "robolearn.bench.ros_latency",
    "data": "robolearn.bench.dataset_io",
    "learner": "robolearn.bench.learner_throughput",
    "sample-efficiency": "robolearn.bench.sample_efficiency",
    "arena": "robolearn.bench.arena_throughput",
    "alignment": "robolearn.bench.alignment",
    "image-learner": "robolearn.bench.image_learner",
    "serl-transport": "robolearn.bench.serl_transport",
}


def _cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    return importlib.import_module(BENCHMARKS[args.what]).main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robolearn",
        description="Real-robot learning for the Franka Panda and its MuJoCo digital twin.",
    )
    parser.add_argument("--version", action="version", version=f"robolearn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("sim", help="run a task in the twin (scripted expert for now)")
    sim.add_argument("--task", choices=TASK_NAMES, default="pick_cube")
    sim.add_argument("--expert", action="store_true", help="act with the task's scripted expert")
    sim.add_argument("--episodes", type=int, default=10)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--control-hz", type=float, default=10.0)
    sim.add_argument("--video", type=Path, help="write a rollout video of the first episode")
    sim.add_argument("--json", action="store_true", help="also print a JSON summary")
    sim.set_defaults(func=_cmd_sim)

    from robolearn.demo.cli import add_demo_parser

    add_demo_parser(sub)

    rec = sub.add_parser("record", help="teleoperate the twin and record episodes (zarr)")
    rec.add_argument("--task", choices=TASK_NAMES, default="pick_cube")
    rec.add_argument(
        "--teleop", default="scripted", choices=["scripted", "keyboard", "spacemouse", "gamepad"]
    )
    rec.add_argument("--episodes", type=int, default=20)
    rec.add_argument("--out", type=Path, required=True, help="dataset folder (created or appended)")
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--cameras", nargs="*", default=["front", "wrist"], choices=["front", "wrist"])
    rec.add_argument("--image-size", type=int, default=128, help="square camera images (pixels)")
    rec.add_argument("--control-hz", type=float, default=10.0)
    rec.add_argument("--operator", default=None, help="stored per episode (default: device)")
    rec.add_argument("--noise", type=float, default=0.0, help="scripted: action noise std")
    rec.add_argument("--drop-failures", action="store_true", help="do not keep failed episodes")
    rec.set_defaults(func=_cmd_record)

    up = sub.add_parser("up", help="bring up the ROS 2 node graph (sim: in one process)")
    up.add_argument("mode", choices=["sim", "real"])
    up.add_argument("--task", choices=TASK_NAMES, default="pick_cube")
    up.add_argument("--expert", action="store_true", help="drive the arm with scripted_teleop")
    up.add_argument("--episodes", type=int, default=3)
    up.add_argument("--seed", type=int, default=0)
    up.add_argument("--publish-hz", type=float, default=100.0)
    up.add_argument("--real-time-factor", type=float, default=1.0)
    up.add_argument("--record", type=Path, help="also run the recorder node into this dataset")
    up.add_argument(
        "--cameras", nargs="*", default=[], choices=["front", "wrist"], help="cameras to record"
    )
    up.set_defaults(func=_cmd_up)

    bench = sub.add_parser("bench", help="benchmarks against peers (see BENCHMARKS.md)")
    bench.add_argument("what", choices=sorted(BENCHMARKS))
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark")
    bench.set_defaults(func=_cmd_bench)
    from robolearn.data.cli import add_data_parser

    add_data_parser(sub)
    from robolearn.arena.cli import add_arena_parser, add_calibrate_parser

    add_arena_parser(sub)
    add_calibrate_parser(sub)
    from robolearn.certify.cli import add_certify_parser

    add_certify_parser(sub)
    from robolearn.learn.cli import add_train_parser

    add_train_parser(sub)
    from robolearn.preference.cli import add_pearl_parser

    add_pearl_parser(sub)
    from robolearn.label.cli import add_label_parser

    add_label_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
