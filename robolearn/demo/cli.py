"""`robolearn demo [--quick] [--out DIR] [--config FILE] [--set key=value ...] [--fresh]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from robolearn.demo.config import load_config

    try:
        config = load_config("quick" if args.quick else "default", args.config, args.set)
    except (ValueError, OSError) as err:
        print(f"robolearn demo: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        import yaml

        print(yaml.safe_dump(config.as_dict(), sort_keys=False), end="")
        return 0
    from robolearn.demo.run import run_demo

    run_demo(config, args.out, fresh=args.fresh, progress=not args.no_progress)
    return 0


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    """Register `robolearn demo` on the top-level parser."""
    demo = sub.add_parser(
        "demo",
        help="the main job, sim-only: record, SERL, certify, PEARL, arena, one HTML report",
        description=(
            "Runs the whole stack on the twin and writes OUT/report.html. A rerun resumes: "
            "finished stages are skipped unless the config changed or --fresh is given."
        ),
    )
    demo.add_argument(
        "--quick", action="store_true", help="the quick profile (reach, small budgets; <10 min)"
    )
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="demo folder")
    demo.add_argument("--config", type=Path, help="YAML of config keys over the profile")
    demo.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override one key, e.g. --set serl.env_steps=5000 (repeatable)",
    )  # fmt: skip
    demo.add_argument("--fresh", action="store_true", help="rerun every stage")
    demo.add_argument("--print-config", action="store_true", help="print the config and exit")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(func=_cmd_demo)
