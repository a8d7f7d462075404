"""`robolearn label serve MANIFEST --labels FILE`: the labelling page for a pair manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robolearn.label.app import DEFAULT_HOST, DEFAULT_PORT


def cmd_serve(args: argparse.Namespace) -> int:
    from robolearn.label import LabelLog, LabelServerError, ManifestError, PairSet, serve

    try:
        pairs = PairSet.load(args.manifest)
        labels = (
            Path(args.labels) if args.labels else Path(args.manifest).with_suffix(".labels.jsonl")
        )
        serve(
            pairs,
            LabelLog(labels),
            host=args.host,
            port=args.port,
            token=args.token,
            labeller=args.labeller,
        )
    except (ManifestError, LabelServerError) as err:
        print(f"robolearn label serve: {err}", file=sys.stderr)
        return 2
    return 0


def add_label_parser(sub: argparse._SubParsersAction) -> None:
    """Register `robolearn label ...` on the top-level parser."""
    label = sub.add_parser("label", help="label pairs of clips in a local web page")
    verbs = label.add_subparsers(dest="label_command", required=True)
    serve = verbs.add_parser("serve", help="serve the labelling page for a pair manifest")
    serve.add_argument("manifest", type=Path, help="pairs JSON (robolearn pearl pairs writes one)")
    serve.add_argument(
        "--labels", type=Path, help="label log (JSONL; default: <manifest>.labels.jsonl)"
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--token", help="required on every request; mandatory off localhost")
    serve.add_argument("--labeller", default="anonymous", help="name stored with each label")
    serve.set_defaults(func=cmd_serve)
