"""End to end: three policies of known quality ranked in the right order with non-overlapping
intervals; a run killed with SIGKILL resumes without repeating episodes (local worker
processes); report, videos, human-label round trip; Ray (slow)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robolearn.arena.metrics import mmrv
from robolearn.arena.perturb import load_suite
from robolearn.arena.preferences import LABELS_FILE, export_pairs, human_comparisons
from robolearn.arena.report import write_report
from robolearn.arena.runner import ArenaConfig, ArenaError, load_results, plan_jobs, run_arena

ROOT = Path(__file__).resolve().parents[2]
QUALITY = ["expert", "noisy_expert:0.5", "random"]  # best first


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("arena") / "e2e"
    config = ArenaConfig(
        task="pick_cube", policies=list(QUALITY), suite="small", seeds=3, videos=1,
        video_size=(48, 64),
    )  # fmt: skip
    summary = run_arena(config, out, executor="serial", progress=False)
    assert summary.ran == summary.planned == 3 * 3 * 3
    return out


def test_three_policies_ranked_in_order_with_separated_intervals(evaluated: Path) -> None:
    report = write_report(evaluated, real={"expert": 0.95, "noisy_expert:0.5": 0.7, "random": 0.0})
    summary = json.loads((evaluated / "summary.json").read_text())
    assert [row["policy"] for row in summary["ranking"]] == QUALITY
    assert summary["separated"], summary["ranking"]
    rows = summary["ranking"]
    assert all(a["ci_low"] > b["ci_high"] for a, b in zip(rows, rows[1:], strict=False))
    elo = {row["policy"]: row["elo"] for row in rows}
    assert elo["expert"] > elo["noisy_expert:0.5"] > elo["random"]
    assert summary["scores"]["expert"]["success_rate"] == 1.0
    assert summary["scores"]["random"]["success_rate"] == 0.0
    agreement = summary["agreement"]
    assert agreement["sim"] == [summary["scores"][p]["success_rate"] for p in QUALITY]
    assert agreement["mmrv"] == pytest.approx(mmrv(agreement["real"], agreement["sim"]))
    assert agreement["mmrv"] < 0.1 and agreement["pearson_r"] > 0.9
    html = report.read_text()
    assert "<video" in html and "Success per perturbation" in html and "Pearson r" in html
    videos = [r["video"] for r in load_results(evaluated) if r["video"]]
    assert len(videos) == 3 * 3  # first seed of every policy x condition
    assert all((evaluated / v).stat().st_size > 500 for v in videos)


def test_human_labels_round_trip_through_the_pair_manifest(evaluated: Path) -> None:
    from robolearn.label import LabelLog, LabelRecord, PairSet

    manifest = PairSet.load(export_pairs(evaluated))
    assert len(manifest.pairs) == 3 * 3  # 3 policy pairs x 3 conditions (seed with videos)
    log = LabelLog(evaluated / LABELS_FILE)
    for pair in manifest.pairs:  # a labeller who prefers the better policy, whatever the side
        left, right = pair.meta["left_policy"], pair.meta["right_policy"]
        better = "left" if QUALITY.index(left) < QUALITY.index(right) else "right"
        log.append(LabelRecord(pair_id=pair.pair_id, choice=better))
    comparisons = human_comparisons(evaluated)
    assert len(comparisons) == len(manifest.pairs)
    assert all(QUALITY.index(c.a) < QUALITY.index(c.b) or c.outcome == 0.0 for c in comparisons)
    write_report(evaluated, bootstrap=100)
    human = json.loads((evaluated / "summary.json").read_text())["human_ranking"]
    assert [row["policy"] for row in human] == QUALITY


def test_killed_run_resumes_without_repeating_episodes(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    args = [
        sys.executable, "-m", "robolearn.cli.main", "arena", "run", "--executor", "serial",
        "--suite", "nominal", "--seeds", "6", "--videos", "0", "--policies", "expert", "random",
        "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    episodes = out / "episodes"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(episodes.glob("*.json"))) < 3:
        if proc.poll() is not None:
            pytest.fail(f"the run exited early with {proc.returncode}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["run_id"])
              for p in episodes.glob("*.json")}  # fmt: skip
    assert 3 <= len(before) < 12, f"{len(before)} episodes finished before the kill"
    config = ArenaConfig(
        task="pick_cube", policies=["expert", "random"], suite="nominal", seeds=6, videos=0
    )
    summary = run_arena(config, out, executor="processes", workers=2, progress=False)
    assert summary.skipped == len(before) and summary.ran == 12 - len(before)
    results = load_results(out)
    assert len(results) == 12 and len({r["id"] for r in results}) == 12
    for r in results:
        name = f"{r['id']}.json"
        if name in before:  # untouched: same file, same run
            assert (episodes / name).stat().st_mtime_ns == before[name][0]
            assert r["run_id"] == before[name][1] != summary.run_id
        else:
            assert r["run_id"] == summary.run_id
    assert len({r["pid"] for r in results if r["run_id"] == summary.run_id}) == 2  # 2 workers
    # a third run has nothing left to do; another configuration in the same folder is refused
    assert run_arena(config, out, executor="serial", progress=False).ran == 0
    with pytest.raises(ArenaError, match="another configuration"):
        run_arena(ArenaConfig(policies=["expert"], suite="nominal", seeds=6), out, progress=False)


def test_plan_interleaves_seeds_and_pairs_videos() -> None:
    config = ArenaConfig(policies=["a", "b"], suite="small", seeds=3, videos=1)
    jobs = plan_jobs(config, load_suite("small"))
    assert len(jobs) == 2 * 3 * 3
    assert {j.seed for j in jobs[:6]} == {1000}  # every policy and condition before seed 2
    assert {(j.policy, j.condition) for j in jobs if j.video} == {
        (p, c) for p in "ab" for c in ("nominal", "lighting", "placement")
    }


@pytest.mark.slow
def test_ray_executor_runs_and_resumes(tmp_path: Path) -> None:
    importlib.import_module("ray")
    config = ArenaConfig(
        policies=["expert", "random"], suite="nominal", seeds=2, videos=1, video_size=(48, 64)
    )
    first = run_arena(config, tmp_path / "ray", executor="ray", workers=2, limit=2, progress=False)
    assert first.ran == 2
    second = run_arena(config, tmp_path / "ray", executor="ray", workers=2, progress=False)
    assert second.skipped == 2 and second.ran == 2
    results = load_results(tmp_path / "ray")
    assert len(results) == 4
    videos = [r["video"] for r in results if r["video"]]
    assert len(videos) == 2 and all((tmp_path / "ray" / v).stat().st_size > 500 for v in videos)
    assert all("_video_bytes" not in r for r in results)
