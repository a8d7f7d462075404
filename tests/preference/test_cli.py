"""The `robolearn pearl` workflow from the command line, the labelling page in the loop, and
the quick profile of `robolearn pearl report`."""

from __future__ import annotations

import json

import numpy as np
import torch
from fastapi.testclient import TestClient

from robolearn.cli.main import main
from robolearn.label import LabelLog, PairSet, create_app
from robolearn.preference.data import load_pairs, preference_path
from robolearn.preference.reward import LearnedReward


def test_pearl_workflow_with_the_labelling_page(tmp_path, capsys):
    torch.set_num_threads(1)
    ds = tmp_path / "reach"
    collect = "pearl collect --task reach --episodes 2 --qualities expert random --image-size 32"
    assert main([*collect.split(), "--out", str(ds), "--cameras", "front"]) == 0
    pairs_cmd = "pearl pairs --pairs 3 --segments 6 --segment-length 10"
    assert main([*pairs_cmd.split(), "--dataset", str(ds)]) == 0
    manifest = ds.with_name("reach.preferences") / "clips" / "pairs.json"
    pairs = PairSet.load(manifest)
    assert len(pairs.pairs) == 3 and all(p.left.stat().st_size > 0 for p in pairs.pairs)
    # a person answers in the page; the answers land in the dataset's preference file
    client = TestClient(create_app(pairs, LabelLog(preference_path(ds, "human"))))
    for pair, choice in zip(pairs.pairs, ["left", "right", "skip"], strict=True):
        assert (
            client.post("/api/label", json={"pair_id": pair.pair_id, "choice": choice}).status_code
            == 200
        )
    human = load_pairs(preference_path(ds, "human"))
    assert [p.label for p in human] == [1.0, 0.0]
    assert human[0].a.to_json() == pairs.pairs[0].meta["a"]

    # scripted labels, transfer to a second dataset, reward, offline and online training
    target = tmp_path / "reach_b"
    assert main([*collect.split(), "--out", str(target), "--seed", "7"]) == 0
    label = "pearl label --pairs 60 --segments 20 --segment-length 10 --flip-rate 0.1"
    assert main([*label.split(), "--dataset", str(ds), "--name", "scripted"]) == 0
    transfer = "pearl transfer --source-prefs scripted --pairs 60 --segments 20"
    assert main([*transfer.split(), "--source", str(ds), "--target", str(target)]) == 0
    assert len(load_pairs(preference_path(target, "transferred"))) == 60
    model = tmp_path / "reward.safetensors"
    relabelled = str(tmp_path / "relabelled")
    reward = ["pearl", "reward", "--dataset", str(target), "--epochs", "5", "--out", str(model)]
    assert main([*reward, "--relabel", relabelled]) == 0
    assert LearnedReward.load(model).state_dim == 31
    capsys.readouterr()
    train = ["pearl", "train", "--task", "reach", "--reward", str(model), "--eval-episodes", "1"]
    assert main([*train, "--learner", "awbc", "--dataset", str(target), "--epochs", "2"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["learner"] == "awbc" and 0.0 <= out["success_rate"] <= 1.0
    rlpd = (
        "--learner rlpd --steps 30 --set agent.utd_ratio=1 --set loop.eval_every=0 "
        "--set agent.hidden_dims=[16,16] --set agent.batch_size=16"
    )
    assert main([*train, *rlpd.split(), "--dataset", str(target)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["learner"] == "rlpd" and out["env_steps"] == 30 and out["updates"] > 0


def test_report_quick_profile(tmp_path, capsys):
    torch.set_num_threads(1)
    assert main(["pearl", "report", "--profile", "quick", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    rows = {r["flip"]: r for r in report["transfer"]}
    assert set(rows) == {0.0, 0.3}
    # reach -> pick_cube: labels transfer well above chance; learned rewards track the true one
    assert rows[0.0]["transfer_accuracy"] > 0.7
    assert rows[0.0]["rrl_correlation"] > 0.3
    assert all(np.isfinite(r["bt_accuracy"]) for r in rows.values())
    assert report["policy"] and "rrl_success" in report["policy"][0]
    (rlpd,) = report["rlpd"]  # RLPD on transferred vs oracle labels (a smoke budget here)
    assert {"transferred_success", "oracle_success", "success_ratio"} <= set(rlpd)
    # both learners ran (side by side, one process each) and left their checkpoints
    for name in ("transferred", "oracle"):
        assert (tmp_path / "rlpd" / f"reach_pick_cube_{name}.safetensors").is_file()
        assert rlpd[f"{name}_wall_s"] > 0
    assert (tmp_path / "pearl_report.png").stat().st_size > 0
    assert "| reach -> pick_cube | 0.3 |" in (tmp_path / "report.md").read_text()


def test_report_profiles_on_the_command_line_are_the_evaluations_profiles():
    import argparse

    from robolearn.cli.main import build_parser
    from robolearn.preference.evaluation import PROFILES

    parser = build_parser()
    pearl = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    pearl_verbs = next(
        a for a in pearl.choices["pearl"]._actions if isinstance(a, argparse._SubParsersAction)
    )
    report = pearl_verbs.choices["report"]
    profile = next(a for a in report._actions if a.dest == "profile")
    assert sorted(profile.choices) == sorted(PROFILES)
