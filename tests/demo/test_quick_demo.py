"""`robolearn demo --quick` end to end, as `make demo` runs it: every stage over the real parts
(ROS 2 nodes and processes, MuJoCo, zarr, torch), the report, the report in headless Chromium,
and a rerun that resumes instead of redoing the work. Several minutes on 2 cores."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robolearn.demo.config import load_config
from tests.browser import chromium_driver

ROOT = Path(__file__).resolve().parents[2]


def _demo(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "robolearn.cli.main", "demo", "--quick", "--out", str(out),
         "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("demo") / "quick"
    t0 = time.monotonic()
    proc = _demo(out)
    print(f"quick demo: {time.monotonic() - t0:.0f} s\n{proc.stdout}")
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    return out, proc


def _stage(out: Path, name: str) -> dict:
    return json.loads((out / "stages" / f"{name}.json").read_text())["result"]


def test_every_stage_ran_and_did_its_job(demo):
    out, proc = demo
    config = load_config("quick")
    for k in range(1, 7):
        assert f"[{k}/6]" in proc.stdout
    rec = _stage(out, "record")
    assert rec["episodes"] == config.record.episodes == rec["successes"]
    assert (Path(rec["dataset"]) / "zarr.json").is_file()

    serl = _stage(out, "serl")
    assert serl["counters"]["env_steps"] >= config.serl.env_steps
    assert serl["counters"]["updates"] > 0
    # weights went learner -> actor and transitions came back acted by them
    assert int(serl["last_status"]["weights_version"]) > 0
    assert int(serl["actors"]["serl_actor/actor_0"]["weights_version"]) > 0
    assert (Path(serl["checkpoint"]) / "agent.safetensors").is_file()
    assert Path(serl["learning_curve"]).is_file()

    cert = _stage(out, "certify")
    bound = cert["certificate"]["lipschitz"]["certified_upper"]
    assert 0 < bound <= config.certify.lipschitz * 1.001
    assert cert["certificate"]["smoothing"]["rows"]
    assert cert["gate"]["certified_bc"]["accepted"]
    assert not cert["gate"]["serl"]["accepted"]  # no certificate: kept off the arm

    pearl = _stage(out, "pearl")
    assert pearl["transfer_accuracy"] > 0.6  # better than chance without one target label
    assert pearl["reward_correlation"] > 0.3
    assert Path(pearl["policy"]).is_file()

    arena = _stage(out, "arena")
    ranking = {r["policy"]: r for r in arena["summary"]["ranking"]}
    assert set(ranking) == {"expert", "random", "serl", "certified_bc", "pearl"}
    scores = arena["summary"]["scores"]
    assert ranking["expert"]["rank"] == 1
    assert scores["expert"]["success_rate"] > scores["random"]["success_rate"]
    for r in ranking.values():
        assert r["ci_low"] <= r["bt_rating"] <= r["ci_high"]


def test_report_links_only_files_that_exist(demo):
    out, _ = demo
    page = (out / "report.html").read_text()
    for heading in ("Learning curves", "Success table", "Ranking with intervals",
                    "Certificates", "Rollout videos"):  # fmt: skip
        assert f">{heading}<" in page
    sources = re.findall(r"(?:src|href)='([^']+)'", page)
    files = [s for s in sources if not s.startswith("data:")]
    assert any(s.endswith(".webm") for s in files) and any(s.endswith(".png") for s in files)
    for s in files:
        assert (out / s).is_file(), s


def test_report_opens_in_headless_chromium_without_console_errors(demo):
    out, _ = demo
    driver = chromium_driver("1200,900")
    try:
        driver.get((out / "report.html").resolve().as_uri())
        deadline = time.monotonic() + 30
        state = {}
        while time.monotonic() < deadline:
            state = driver.execute_script(
                "const imgs = [...document.images];"
                "const vids = [...document.querySelectorAll('video')];"
                "return {ready: document.readyState,"
                " images: imgs.length, broken: imgs.filter(i => !(i.complete &&"
                "  i.naturalWidth > 0)).length,"
                " videos: vids.length, video_errors: vids.filter(v => v.error).length,"
                " video_loaded: vids.filter(v => v.readyState >= 1).length};"
            )
            if state["ready"] == "complete" and state["video_loaded"] == state["videos"]:
                break
            time.sleep(0.2)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    assert not errors, errors
    assert state["images"] >= 4 and state["broken"] == 0, state
    assert state["videos"] >= 3 and state["video_errors"] == 0, state
    assert state["video_loaded"] == state["videos"], state  # the WebM clips decode


def test_a_rerun_resumes_from_the_finished_stages(demo):
    out, _ = demo
    before = (out / "stages" / "serl.json").read_text()
    proc = _demo(out)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("done in an earlier run, skipped") == 5
    assert (out / "stages" / "serl.json").read_text() == before
    assert (out / "report.html").is_file()
