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


# --- compute: FLOP counts and the machine's GEMM rate (torch is imported only when used) ------
def count_flops(fn: Callable[[], Any]) -> tuple[int, dict[str, int]]:
    """(total, per top-level module) FLOPs of one call of ``fn``, forward and backward, as
    `torch.utils.flop_counter.FlopCounterMode` counts them: matrix products and convolutions
    only (elementwise work, normalisation and optimiser arithmetic are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    modules = {
        name: int(sum(ops.values()))
        for name, ops in counter.get_flop_counts().items()
        if name != "Global" and "." not in name
    }
    return int(counter.get_total_flops()), modules


def gemm_gflops(size: int, *, seconds: float = 0.5, repeats: int = 5, device: str = "cpu") -> float:
    """Best rate in GFLOP/s (2 n^3 per product) of fp32 ``torch.mm`` of two n x n matrices over
    ``repeats`` timed loops of about ``seconds / repeats`` each, with the caller's torch thread
    count (``torch.set_num_threads``). On CUDA, TF32 is whatever torch's settings say (off by
    default: true fp32)."""
    import time

    import torch

    if size < 1 or repeats < 1 or not seconds > 0:
        raise ValueError(
            f"need size >= 1, repeats >= 1, seconds > 0; got {size}, {repeats}, {seconds}"
        )
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(dev)
    b = torch.randn(size, size, generator=gen).to(dev)
    out = torch.empty(size, size, device=dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    torch.mm(a, b, out=out)  # first call: allocation, kernel choice
    sync()
    t0 = time.perf_counter()
    torch.mm(a, b, out=out)
    sync()
    once = max(time.perf_counter() - t0, 1e-9)
    n = max(1, int(seconds / repeats / once))
    flops = 2.0 * size**3 * n
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            torch.mm(a, b, out=out)
        sync()
        best = max(best, flops / max(time.perf_counter() - t0, 1e-12))
    return best / 1e9
