"""What every benchmark shares: the machine description stored with a result, argparse number
types, and printing the report (a human table, then one JSON object on stdout)."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any


def package_version(dist: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def machine_info(packages: Iterable[str] = ()) -> dict[str, Any]:
    """CPU, load, platform and the versions of ``packages``: enough to tell two results apart."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": cpu_model(),
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{name.replace("-", "_"): package_version(name) for name in packages},
    }


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be non-negative, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` (only the JSON on stdout) and ``--out FILE`` (also write the JSON there)."""
    parser.add_argument("--json", action="store_true", help="print only the JSON on stdout")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")


def emit_report(
    report: dict[str, Any],
    *,
    json_only: bool,
    out: Path | None,
    table: Callable[[dict[str, Any]], str],
) -> None:
    """Write the JSON to ``out`` (if given); print the table (unless ``json_only``), then the
    JSON, so ``... --json | jq`` and a terminal both work."""
    text = json.dumps(report, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    if not json_only:
        print(table(report))
        print()
    print(text)
    sys.stdout.flush()
