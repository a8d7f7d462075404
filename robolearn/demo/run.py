"""`robolearn demo`: the whole stack, sim-only, stage by stage, into one folder and one report.

    OUT/config.yaml           the effective config (profile + file + overrides)
    OUT/stages/<stage>.json   each finished stage's result (a rerun skips it)
    OUT/<stage>/...           what the stage wrote (datasets, checkpoints, logs, videos)
    OUT/report.html           the report

A stage's result is written only once the stage has finished, so a killed demo resumes at the
stage it was in (rerun the same command); a changed config starts over.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from robolearn.demo.config import DemoConfig

log = logging.getLogger(__name__)

STAGES: tuple[tuple[str, str], ...] = (
    ("record", "record scripted demos over ROS 2 (twin bridge + scripted teleop + recorder)"),
    ("serl", "SERL: serl_learner and serl_actor processes on the twin"),
    ("certify", "Lipschitz BC on the demos: bound, smoothing certificate, deployment gate"),
    ("pearl", "PEARL: source preferences -> target task, learned reward, RLPD on it"),
    ("arena", "arena: every policy over the perturbation suite, ranked"),
    ("report", "report"),
)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    from robolearn.arena.runner import write_json_atomic

    write_json_atomic(path, payload)


def _done(out: Path, stage: str, config: dict[str, Any]) -> dict[str, Any] | None:
    path = out / "stages" / f"{stage}.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    return saved["result"] if saved.get("config") == config else None


STAGE_CONFIG = "stage_config.json"


def _stage_folder(folder: Path, config: dict[str, Any]) -> Path:
    """The stage's folder, emptied unless an interrupted attempt with this very config left it
    (then the stage resumes there: the SERL learner from its checkpoint). A folder from another
    config (another task, profile or setting) is never resumed into."""
    import shutil

    marker = folder / STAGE_CONFIG
    if folder.exists():
        same = marker.is_file() and json.loads(marker.read_text()) == config
        if not same:
            log.info("%s holds another config's outputs: starting the stage afresh", folder)
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(config))
    return folder


def _stage_line(stage: str, result: dict[str, Any]) -> str:
    if stage == "record":
        return (
            f"{result['episodes']} episodes ({result['successes']} successful, {result['steps']}"
            f" steps) -> {result['dataset']}"
        )
    if stage == "serl":
        c = result["counters"]
        return (
            f"{c['env_steps']} env steps, {c['updates']} updates; recent training success"
            f" {result['last_status'].get('recent_success_rate', '-')} -> {result['checkpoint']}"
        )
    if stage == "certify":
        cert = result["certificate"]["lipschitz"]
        gate = ", ".join(
            f"{k} {'accepted' if v['accepted'] else 'refused'}" for k, v in result["gate"].items()
        )
        return f"certified L <= {cert['certified_upper']:.3g}; gate on franka: {gate}"
    if stage == "pearl":
        return (
            f"{result['source']} -> {result['target']}: transfer accuracy"
            f" {result['transfer_accuracy']:.2f}, reward correlation"
            f" {result['reward_correlation']:.2f}; RLPD success"
            f" {result['rlpd'].get('final_success_rate', float('nan')):.2f}"
        )
    if stage == "arena":
        rows = result["summary"]["ranking"]
        return "ranking: " + ", ".join(f"{r['rank']}. {r['policy']}" for r in rows)
    return str(result.get("report", ""))


def _choose_ros_domain() -> None:
    """A domain of our own unless the user set one: two demos (or a demo and a test run) on one
    machine must not exchange SERL transitions."""
    if "ROS_DOMAIN_ID" not in os.environ:
        os.environ["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)


def run_demo(
    config: DemoConfig,
    out: str | Path,
    *,
    fresh: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run (or resume) every stage into ``out``; returns the report's path."""
    import robolearn.learn  # noqa: F401 - torch's compiler stack must load before OSMesa
    from robolearn.demo.report import write_report
    from robolearn.demo.serl import run_serl
    from robolearn.demo.stages import arena_evaluation, certify_bc, pearl_transfer, record_demos

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _choose_ros_domain()
    cfg = json.loads(json.dumps(config.as_dict()))  # tuples -> lists, as read back
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    results: dict[str, dict[str, Any]] = {}
    t_start = time.monotonic()
    echo(f"robolearn demo, profile {config.profile!r}, task {config.task!r} -> {out}")
    for k, (stage, title) in enumerate(STAGES, start=1):
        head = f"[{k}/{len(STAGES)}] {title}"
        # A stage that runs again invalidates every later one (they read its outputs).
        done = None if fresh else _done(out, stage, cfg)
        if done is not None and stage != "report":
            results[stage] = done
            echo(f"{head}: done in an earlier run, skipped")
            continue
        echo(f"{head} ...")
        t0 = time.monotonic()
        folder = _stage_folder(out / stage, cfg)
        if stage == "record":
            result = record_demos(config, folder, progress=progress)
        elif stage == "serl":
            result = run_serl(config, Path(results["record"]["dataset"]), folder, progress)
        elif stage == "certify":
            result = certify_bc(
                config, Path(results["record"]["dataset"]), folder,
                results["serl"]["checkpoint"], progress=progress,
            )  # fmt: skip
        elif stage == "pearl":
            result = pearl_transfer(config, folder, progress=progress)
        elif stage == "arena":
            result = arena_evaluation(config, _policies(config, results), folder, progress)
        else:
            result = {"report": str(write_report(out, cfg, results))}
        result["stage_wall_s"] = time.monotonic() - t0
        results[stage] = result
        fresh = True
        _write_json(out / "stages" / f"{stage}.json", {"config": cfg, "result": result})
        echo(f"{head}: {_stage_line(stage, result)} ({result['stage_wall_s']:.0f} s)")
    echo(f"demo finished in {time.monotonic() - t_start:.0f} s; report: {out / 'report.html'}")
    return out / "report.html"


def _policies(config: DemoConfig, results: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Name -> arena spec of every policy under evaluation: baselines and what was trained."""
    policies = {b.split(":")[0]: b for b in config.arena.baselines}
    policies["serl"] = f"rlpd:{results['serl']['checkpoint']}"
    policies["certified_bc"] = f"certified:{results['certify']['policy']}"
    policies["pearl"] = f"rlpd:{results['pearl']['policy']}"
    return policies
