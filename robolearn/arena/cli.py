"""`robolearn arena ...` (evaluate, rank, report, reconstruct) and `robolearn calibrate ...`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _cmd_run(args: argparse.Namespace) -> int:
    from robolearn.arena.perturb import SuiteError
    from robolearn.arena.policies import PolicyError
    from robolearn.arena.runner import ArenaConfig, ArenaError, run_arena

    config = ArenaConfig(
        task=args.task,
        policies=list(args.policies),
        suite=args.suite,
        seeds=args.seeds,
        seed_offset=args.seed_offset,
        suite_seed=args.suite_seed,
        scenes=[str(s) for s in args.scene],
        videos=args.videos,
        video_size=(args.video_size[0], args.video_size[1]),
        control_hz=args.control_hz,
        episode_seconds=args.episode_seconds,
    )
    executor = "ray" if args.ray is not None else args.executor
    address = None if args.ray in (None, "local") else args.ray
    try:
        summary = run_arena(
            config, args.out, executor=executor, workers=args.workers, address=address,
            limit=args.limit,
        )  # fmt: skip
    except (ArenaError, PolicyError, SuiteError) as err:
        print(f"robolearn arena run: {err}", file=sys.stderr)
        return 2
    print(
        f"arena: {summary.ran} episodes run, {summary.skipped} already done, "
        f"{summary.planned} planned, in {summary.wall_s:.1f} s -> {summary.out_dir}"
    )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from robolearn.arena.report import write_report

    try:
        real = json.loads(Path(args.real).read_text()) if args.real else None
        path = write_report(args.out, real=real, labels=args.labels, bootstrap=args.bootstrap)
    except (FileNotFoundError, ValueError) as err:
        print(f"robolearn arena report: {err}", file=sys.stderr)
        return 2
    summary = json.loads((Path(args.out) / "summary.json").read_text())
    for row in summary["ranking"]:
        print(
            f"{row['rank']}. {row['policy']:<24} BT {row['bt_rating']:7.1f} "
            f"[{row['ci_low']:7.1f}, {row['ci_high']:7.1f}]  Elo {row['elo']:7.1f}"
        )
    if summary["agreement"]:
        a = summary["agreement"]
        print(f"real-vs-sim: Pearson r {a['pearson_r']:.3f}, MMRV {a['mmrv']:.3f}")
    print(f"report: {path}")
    return 0


def _cmd_pairs(args: argparse.Namespace) -> int:
    from robolearn.arena.preferences import export_pairs

    try:
        path = export_pairs(args.out)
    except ValueError as err:
        print(f"robolearn arena pairs: {err}", file=sys.stderr)
        return 2
    print(f"pair manifest: {path}\nlabel it with: robolearn label serve {path}")
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from robolearn.arena.reconstruct import ReconstructionError, reconstruct_episode

    try:
        spec = reconstruct_episode(
            args.dataset, args.episode, camera=args.camera, cameras_file=args.cameras_file,
            fiducials_file=args.fiducials_file, step=args.step,
            upright_prior=not args.no_upright_prior,
        )  # fmt: skip
    except ReconstructionError as err:
        print(f"robolearn arena reconstruct: {err}", file=sys.stderr)
        return 2
    path = spec.save(args.out)
    print(f"scene spec: {path} ({len(spec.objects)} objects; missing: {spec.source['missing']})")
    return 0 if not spec.source["missing"] else 1


def _cmd_markers(args: argparse.Namespace) -> int:
    import cv2

    from robolearn.arena.markers import load_fiducials

    fid = load_fiducials(args.fiducials_file)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, m in fid.objects.items():
        image = cv2.aruco.generateImageMarker(fid.aruco_dictionary(), m.marker_id, args.pixels)
        path = out / f"{name}_id{m.marker_id}.png"
        cv2.imwrite(str(path), np.pad(image, args.pixels // 6, constant_values=255))
        print(f"{path}: print the black square {1000 * m.marker_size:.1f} mm wide")
    return 0


def add_arena_parser(sub: argparse._SubParsersAction) -> None:
    """Register `robolearn arena ...` on the top-level parser."""
    # Keep this import-light: MuJoCo loaded (OSMesa) before torch._dynamo kills the process.
    arena = sub.add_parser("arena", help="real-to-sim policy evaluation and ranking (RobotArena)")
    verbs = arena.add_subparsers(dest="arena_command", required=True)

    run = verbs.add_parser("run", help="evaluate policies over a perturbation suite (resumable)")
    run.add_argument("--task", default="pick_cube", choices=["reach", "pick_cube", "peg_insert"])
    run.add_argument(
        "--policies", nargs="+", default=["expert", "noisy_expert:0.5", "random"],
        help="policy specs: expert, noisy_expert:STD, random, rlpd:PATH, module.path:factory[:ARG]",
    )  # fmt: skip
    run.add_argument(
        "--suite",
        default="small",
        help="nominal, small, visual, physical, full, or a YAML file (robolearn.arena.perturb)",
    )
    run.add_argument("--seeds", type=int, default=10, help="episodes per policy and condition")
    run.add_argument("--seed-offset", type=int, default=1000)
    run.add_argument("--suite-seed", type=int, default=0, help="seeds condition-level draws")
    run.add_argument(
        "--scene", type=Path, action="append", default=[],
        help="scene spec JSON (robolearn arena reconstruct); repeat for several",
    )  # fmt: skip
    run.add_argument("--videos", type=int, default=1, help="seeds per cell with a video")
    run.add_argument("--video-size", type=int, nargs=2, default=[96, 128], metavar=("H", "W"))
    run.add_argument("--control-hz", type=float, default=10.0)
    run.add_argument("--episode-seconds", type=float, default=None)
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--executor", choices=["processes", "serial"], default="processes")
    run.add_argument(
        "--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
        help="run on Ray: a local instance, or the cluster at ADDRESS (auto, ray://host:10001)",
    )  # fmt: skip
    run.add_argument("--limit", type=int, default=None, help="run at most this many episodes")
    run.add_argument("--out", type=Path, required=True, help="evaluation folder (resumes there)")
    run.set_defaults(func=_cmd_run)

    rep = verbs.add_parser("report", help="rank the policies and write report.html")
    rep.add_argument("--out", type=Path, required=True)
    rep.add_argument("--real", type=Path, help='real success rates JSON {"policy": rate}')
    rep.add_argument(
        "--labels", type=Path, help="human label log (default: OUT/pairs.labels.jsonl)"
    )
    rep.add_argument("--bootstrap", type=int, default=500)
    rep.set_defaults(func=_cmd_report)

    pairs = verbs.add_parser("pairs", help="pair manifest of rollout videos for human labels")
    pairs.add_argument("--out", type=Path, required=True)
    pairs.set_defaults(func=_cmd_pairs)

    rec = verbs.add_parser("reconstruct", help="twin scene spec from a recorded episode")
    rec.add_argument("--dataset", type=Path, required=True)
    rec.add_argument("--episode", type=int, default=0)
    rec.add_argument("--step", type=int, default=0)
    rec.add_argument("--camera", default="wrist", help="calibrated camera that sees the markers")
    rec.add_argument(
        "--cameras-file", type=Path, default=None, help="default hardware/cameras.yaml"
    )
    rec.add_argument(
        "--fiducials-file", type=Path, default=None, help="default hardware/fiducials.yaml"
    )
    rec.add_argument("--no-upright-prior", action="store_true", help="keep full 6-D marker poses")
    rec.add_argument("--out", type=Path, required=True, help="scene spec JSON to write")
    rec.set_defaults(func=_cmd_reconstruct)

    mk = verbs.add_parser("markers", help="write printable marker images")
    mk.add_argument("--out", type=Path, required=True)
    mk.add_argument("--pixels", type=int, default=600)
    mk.add_argument("--fiducials-file", type=Path, default=None)
    mk.set_defaults(func=_cmd_markers)


# --- calibrate --------------------------------------------------------------------------------
def _load_images(
    source: Path, camera: str, every: int
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Images (RGB) and, for a dataset, the TCP poses they were taken at."""
    import cv2

    from robolearn.arena.geometry import pose_from_quat
    from robolearn.arena.reconstruct import STATE_EE_POS, STATE_EE_QUAT

    if (source / "zarr.json").is_file():
        from robolearn.data.store import EpisodeStore

        with EpisodeStore.open(source) as store:
            key = f"obs.images.{camera}"
            if key not in store.schema:
                raise SystemExit(f"{source} has no {key}")
            n = store.n_steps
            rows = range(0, n, every)
            images = [np.asarray(store.array(key)[i]) for i in rows]
            states = [np.asarray(store.array("obs.state")[i], dtype=np.float64) for i in rows]
        return images, [pose_from_quat(s[STATE_EE_POS], s[STATE_EE_QUAT]) for s in states]
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"{source}: no .png/.jpg images and not a dataset")
    return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files[::every]], None


def _cmd_intrinsics(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from robolearn.arena.calibrate import (
        CalibrationError,
        CameraCalibration,
        Checkerboard,
        calibrate_intrinsics,
        load_cameras,
        save_cameras,
    )

    try:
        board = Checkerboard.parse(args.board, args.square)
        images, _ = _load_images(args.images, args.camera, args.every)
        result = calibrate_intrinsics(images, board)
        try:
            cam = replace(load_cameras(args.out)[args.camera], intrinsics=result.intrinsics)
        except (CalibrationError, KeyError):
            cam = CameraCalibration(
                name=args.camera,
                twin_camera=args.camera,
                mount=args.mount,
                intrinsics=result.intrinsics,
            )
        save_cameras({args.camera: cam}, args.out)
    except CalibrationError as err:
        print(f"robolearn calibrate intrinsics: {err}", file=sys.stderr)
        return 2
    k = result.intrinsics
    print(
        f"{args.camera}: fx {k.fx:.2f} fy {k.fy:.2f} cx {k.cx:.2f} cy {k.cy:.2f} from"
        f" {len(result.used)}/{len(images)} images, rms {result.rms_px:.3f} px -> {args.out}"
    )
    return 0


def _cmd_hand_eye(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from robolearn.arena.calibrate import (
        CalibrationError,
        Checkerboard,
        calibrate_hand_eye,
        load_cameras,
        save_cameras,
    )

    try:
        board = Checkerboard.parse(args.board, args.square)
        cams = load_cameras(args.out)
        if args.camera not in cams:
            raise CalibrationError(
                f"{args.out} has no camera {args.camera!r}; run intrinsics first"
            )
        images, poses = _load_images(args.dataset, args.camera, args.every)
        if poses is None:
            raise CalibrationError("hand-eye needs a dataset (images with the robot's TCP poses)")
        result = calibrate_hand_eye(
            images, poses, board, cams[args.camera].intrinsics, mount=args.mount, method=args.method
        )
        save_cameras(
            {args.camera: replace(cams[args.camera], mount=result.mount, pose=result.pose)},
            args.out,
        )
    except CalibrationError as err:
        print(f"robolearn calibrate hand-eye: {err}", file=sys.stderr)
        return 2
    print(
        f"{args.camera} ({result.mount}): position {np.round(result.pose[:3, 3], 4).tolist()} from"
        f" {len(result.used)}/{len(images)} views -> {args.out}"
    )
    return 0


def add_calibrate_parser(sub: argparse._SubParsersAction) -> None:
    """Register `robolearn calibrate intrinsics|hand-eye`."""
    from robolearn.paths import asset_dir

    try:
        default_out = asset_dir("hardware") / "cameras.yaml"
    except FileNotFoundError:
        default_out = Path("hardware/cameras.yaml")
    cal = sub.add_parser("calibrate", help="camera intrinsics and hand-eye calibration (OpenCV)")
    verbs = cal.add_subparsers(dest="calibrate_command", required=True)
    for name, helptext in (
        ("intrinsics", "intrinsics from images of a checkerboard"),
        ("hand-eye", "camera pose from board images and the robot's TCP poses"),
    ):
        p = verbs.add_parser(name, help=helptext)
        source = "--images" if name == "intrinsics" else "--dataset"
        p.add_argument(
            source, dest="images" if name == "intrinsics" else "dataset", type=Path, required=True,
            help="a folder of images or a recorded dataset" if name == "intrinsics"
            else "a recorded dataset (obs.images.<camera> + obs.state TCP poses)",
        )  # fmt: skip
        p.add_argument("--camera", default="wrist", help="camera name (and obs.images.<camera>)")
        p.add_argument("--board", default="7x6", help="inner corners, columns x rows")
        p.add_argument("--square", type=float, default=0.02, help="square side, metres")
        p.add_argument("--every", type=int, default=1, help="use every n-th frame")
        p.add_argument(
            "--mount", choices=["tcp", "base"], default="tcp",
            help="tcp: camera on the hand (board fixed); base: fixed camera (board in the hand)",
        )  # fmt: skip
        p.add_argument("--out", type=Path, default=default_out, help="cameras file to update")
        if name == "hand-eye":
            p.add_argument(
                "--method",
                default="park",
                choices=["andreff", "daniilidis", "horaud", "park", "tsai"],
            )
            p.set_defaults(func=_cmd_hand_eye)
        else:
            p.set_defaults(func=_cmd_intrinsics)
