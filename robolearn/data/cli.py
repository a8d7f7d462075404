"""`robolearn data <verb> ...`: dataset commands (export, import; room for info, validate, ...).

`add_data_parser(subparsers)` registers the `data` verb on the top-level parser. Each sub-verb
is a `_add_<verb>(sub)` function that registers its arguments and sets `func` to a `cmd_<verb>`
taking the parsed `argparse.Namespace` and returning an exit code; add a verb by writing both
and listing the adder in `SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("robomimic",)


def cmd_export(args: argparse.Namespace) -> int:
    from robolearn.data.robomimic_io import RobomimicFormatError, export_robomimic
    from robolearn.data.store import StoreError

    try:
        summary = export_robomimic(
            args.path,
            args.out,
            env_name=args.env_name,
            done_mode=args.done_mode,
            image_compression=args.image_compression,
            overwrite=args.overwrite,
        )
    except (FileExistsError, StoreError, RobomimicFormatError) as err:
        print(f"robolearn data export: {err}", file=sys.stderr)
        return 1
    keys = ", ".join(f"{k} <- {v}" for k, v in summary.obs_keys.items())
    print(
        f"wrote {summary.path}: {summary.demos} demos, {summary.samples} samples"
        f" (obs: {keys}; env {summary.env_args['env_name']})"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from robolearn.data.robomimic_io import RobomimicFormatError, import_robomimic
    from robolearn.data.schema import SchemaError
    from robolearn.data.store import StoreError

    try:
        summary = import_robomimic(
            args.input,
            args.path,
            task=args.task,
            state_keys=args.state_keys.split(",") if args.state_keys else None,
            filter_key=args.filter_key,
        )
    except (FileNotFoundError, StoreError, SchemaError, RobomimicFormatError) as err:
        print(f"robolearn data import: {err}", file=sys.stderr)
        return 1
    print(f"imported {summary.episodes} episodes ({summary.steps} steps) into {summary.path}")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a dataset in another format (robomimic HDF5)",
        description="Export an episode dataset, e.g. `robolearn data export DATASET --format"
        " robomimic OUT.hdf5` (robomimic's data/demo_i/{obs,next_obs,actions,rewards,dones,"
        "states} layout).",
    )
    p.add_argument("path", type=Path, help="the episode dataset (a zarr folder)")
    p.add_argument("out", type=Path, help="the file to write, e.g. OUT.hdf5")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="robomimic")
    p.add_argument("--env-name", help="env_args env_name (default: the task's registered id)")
    p.add_argument(
        "--done-mode",
        choices=("episode_end", "terminated"),
        default="episode_end",
        help="dones: terminated or the last step (robomimic's human demos), or terminated only",
    )
    p.add_argument(
        "--image-compression", choices=("gzip", "lzf"), help="HDF5 filter for images (none)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_export)


def _add_import(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="append the demos of a robomimic HDF5 file to a dataset",
        description="Import robomimic demos, e.g. `robolearn data import IN.hdf5 DATASET"
        " --task pick_cube`; the dataset is created if it does not exist.",
    )
    p.add_argument("input", type=Path, help="the robomimic HDF5 file")
    p.add_argument("path", type=Path, help="the episode dataset to create or append to")
    p.add_argument("--task", help="task name for the episodes (default: from the file)")
    p.add_argument(
        "--state-keys",
        help="comma-separated obs keys concatenated into obs.state when the file has no"
        " 'state' observation (default: all low-dimensional keys, sorted)",
    )
    p.add_argument("--filter-key", help="import only the demos under mask/<KEY>")
    p.set_defaults(func=cmd_import)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def cmd_info(args: argparse.Namespace) -> int:
    import json

    from robolearn.data.store import EpisodeStore, StoreError

    try:
        with EpisodeStore.open(args.path) as store:
            info = store.info()
            lengths = [store.episode_meta(i).length for i in range(store.n_episodes)]
    except StoreError as err:
        print(f"robolearn data info: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"{info['path']}  (robolearn.episodes v{info['format_version']})")
    print(
        f"episodes {info['episodes']}   steps {info['steps']}   success rate"
        f" {100 * info['success_rate']:.0f}%   tasks {', '.join(info['tasks']) or '-'}"
    )
    if lengths:
        print(f"episode length min/mean/max {min(lengths)}/{sum(lengths) / len(lengths):.1f}"
              f"/{max(lengths)}")  # fmt: skip
    print(f"size on disk {_human_bytes(info['size_on_disk_bytes'])}")
    print("keys:")
    for key, spec in info["keys"].items():
        print(f"  {key:<24} {str(tuple(spec['shape'])):<16} {spec['dtype']}")
    return 0


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="episodes, steps, keys, shapes, success rate, size")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)


def cmd_validate(args: argparse.Namespace) -> int:
    from robolearn.data.store import EpisodeStore, StoreError

    try:
        with EpisodeStore.open(args.path) as store:
            problems = store.validate()
            n = store.n_episodes
    except StoreError as err:
        print(f"robolearn data validate: {err}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem)
    print(f"{args.path}: {n} episodes, {len(problems)} problem(s)")
    return 1 if problems else 0


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="read every chunk; name damaged episodes and keys")
    p.add_argument("path", type=Path)
    p.set_defaults(func=cmd_validate)


def cmd_video(args: argparse.Namespace) -> int:
    from robolearn.data.inspect import episode_video

    try:
        out = episode_video(args.path, args.episode, args.out, cameras=args.cameras or None)
    except (KeyError, IndexError) as err:
        print(f"robolearn data video: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def _add_video(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="an episode's camera frames as a video (OpenCV)")
    p.add_argument("path", type=Path)
    p.add_argument("--episode", type=int, default=0)
    p.add_argument("--cameras", nargs="*", help="default: all cameras, side by side")
    p.add_argument("out", type=Path, help="output .mp4 (or .avi)")
    p.set_defaults(func=cmd_video)


def cmd_plot(args: argparse.Namespace) -> int:
    from robolearn.data.inspect import plot_episodes

    try:
        out = plot_episodes(args.path, args.out, episodes=args.episodes)
    except (KeyError, IndexError) as err:
        print(f"robolearn data plot: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="state and action traces as a PNG")
    p.add_argument("path", type=Path)
    p.add_argument("--episodes", type=int, nargs="*", help="default: the first five")
    p.add_argument("--out", type=Path, default=Path("episodes.png"))
    p.set_defaults(func=cmd_plot)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_info,
    _add_validate,
    _add_video,
    _add_plot,
    _add_export,
    _add_import,
]


def add_data_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `data` and its sub-verbs on the top-level parser's subparsers."""
    data = subparsers.add_parser(
        "data", help="dataset tools: info, validate, video, plot, export, import"
    )
    sub = data.add_subparsers(dest="data_command", required=True, metavar="VERB")
    for add in SUBCOMMANDS:
        add(sub)
    return data
