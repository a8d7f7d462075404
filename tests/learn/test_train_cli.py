"""`robolearn train serl`: a tiny-budget run on the twin from the shipped sample dataset, with
interventions, and the errors a user can make."""

from __future__ import annotations

import importlib
import json

import pytest
import torch

from robolearn.cli.main import main
from robolearn.learn.learner import Learner

importlib.import_module("mujoco")

TINY = [
    "--set=agent.utd_ratio=1",
    "--set=agent.n_step=1",
    "--set=agent.hidden_dims=[16, 16]",
    "--set=agent.batch_size=16",
    "--set=agent.num_critics=2",
    "--set=loop.eval_every=0",
    "--set=loop.eval_episodes=1",
    "--no-progress",
]


def _run(capsys, *args: str) -> tuple[int, dict | None, str]:
    capsys.readouterr()
    code = main(["train", "serl", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


def test_serl_from_the_sample_dataset(tmp_path, capsys, monkeypatch):
    """The README's command at a tiny budget: demos from datasets/sample_pick_cube (found in
    the shipped datasets folder from any working directory), all outputs written."""
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "tiny"
    code, summary, err = _run(
        capsys,
        "--task=pick_cube",
        "--demos=datasets/sample_pick_cube",
        "--steps=60",
        "--set=loop.learning_starts=30",
        "--set=loop.checkpoint_every=50",
        "--set=env.action_mode=pose",
        f"--out={out}",
        *TINY,
    )
    assert code == 0, err
    assert summary["env_id"] == "robolearn/PandaPickCube-v0"
    assert summary["env_steps"] == 60 and summary["updates"] == 31
    assert summary["demo_transitions"] == 169  # the sample dataset's 4 episodes
    assert summary["online_transitions"] == 60
    assert [p["step"] for p in summary["curve"]] == [0, 60]
    assert json.loads((out / "summary.json").read_text()) == summary
    for name in ("policy.safetensors", "learning_curve.png", "config.yaml"):
        assert (out / name).is_file(), name
    assert list(out.glob("events.out.tfevents.*"))
    assert Learner.load(out / "checkpoints").env_steps == 60


def test_serl_with_expert_demos_and_a_simulated_operator(tmp_path, capsys):
    torch.set_num_threads(1)
    code, summary, err = _run(
        capsys,
        "--task=reach",
        "--demos=expert:1",
        "--steps=100",
        "--set=loop.learning_starts=50",
        "--intervene=scripted",
        "--intervene-patience=10",
        "--intervene-steps=10",
        "--set=env.terminate_on_success=false",
        "--set=agent.init_temperature=0.001",
        f"--out={tmp_path / 'run'}",
        *TINY,
    )
    assert code == 0, err
    assert "transitions from 1 scripted episodes" in err
    # takeovers of 10 steps after every 10 policy steps (an episode that ends early cuts one)
    assert 0.3 <= summary["intervention_rate"] <= 0.5
    learner = Learner.load(tmp_path / "run" / "checkpoints")
    assert summary["demo_transitions"] == len(learner.demos) > summary["intervention_steps"] > 0
    assert learner.agent.config.init_temperature == 0.001
    assert summary["episodes"] == 2  # episodes run their full 50 steps despite success


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task=reach", "--demos=datasets/sample_pick_cube"], "not 'reach'"),
        (["--demos=datasets/sample_pick_cube", "--set=env.reward=dense"], "sparse reward"),
        (["--demos=expert:x"], "integer N"),
        (["--demos=nowhere/at_all"], "no dataset here"),
        (["--task=fly"], "env.task 'fly'"),
        (["--set=agent.hidden_dims=[a, b]"], "invalid literal"),
        (["--set=agent.init_temperature=0"], "init_temperature must be positive"),
        (["--set=agent.utd=3"], "unknown key 'agent.utd'"),
        (["--env-kwargs=[1]"], "JSON object"),
        (["--env=no.such.module:make"], "cannot import"),
        (["--intervene=scripted", "--intervene-steps=0", "--demos=expert:1", "--task=reach"], ""),
    ],
)
def test_serl_argument_errors(tmp_path, capsys, args, message):
    code, _, err = _run(capsys, f"--out={tmp_path / 'run'}", "--steps=5", *TINY, *args)
    assert code == 2 and "robolearn train serl:" in err and message in err


def test_serl_refuses_to_overwrite_a_run_without_resume(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    args = ["--task=reach", "--steps=20", "--set=loop.learning_starts=10", f"--out={out}", *TINY]
    code, first, err = _run(capsys, *args)
    assert code == 0, err
    code, _, err = _run(capsys, *args)
    assert code == 2 and "--resume" in err
    code, again, err = _run(capsys, *args, "--resume")  # already at --steps: nothing to do
    assert code == 0 and again["resumed_from"] == 20 and again["updates"] == first["updates"]
    code, longer, err = _run(capsys, *args[:1], "--steps=30", *args[2:], "--resume")
    assert code == 0 and longer["env_steps"] == 30 and longer["updates"] == 21


def test_serl_from_pixels_with_a_reward_classifier(tmp_path, capsys):
    """--cameras trains the conv encoder (DrQ) on camera images + state; --reward-classifier
    replaces the twin's reward by the classifier's (here an untrained one, so the check is the
    wiring: the run trains, and its checkpoint holds a conv encoder reading the camera)."""
    from robolearn.learn.reward_classifier import RewardClassifier, RewardClassifierConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = RewardClassifierConfig(cameras=("wrist",), encoder_options={"channels": [8, 8]})
    config.encoder_options["strides"] = [2, 2]
    classifier = RewardClassifier({"images.wrist": (32, 32, 3)}, config)
    clf_path = classifier.save(tmp_path / "clf.safetensors", {})
    out = tmp_path / "pixels"
    code, summary, err = _run(
        capsys,
        "--task=pick_cube",
        "--demos=expert:1",
        "--steps=30",
        "--set=loop.learning_starts=20",
        "--set=env.cameras=[wrist]",
        "--set=env.image_size=[32, 32]",
        f"--reward-classifier={clf_path}",
        "--set=env.terminate_on_success=false",
        f"--out={out}",
        *TINY,
        "--set=agent.batch_size=8",
    )
    assert code == 0, err
    assert summary["env_steps"] == 30 and summary["updates"] > 0
    learner = Learner.load(out / "checkpoints")
    assert learner.agent.config.encoder == "conv"
    assert "images.wrist" in learner.online.obs


def test_serl_pixel_options_need_cameras(tmp_path, capsys):
    code, _, err = _run(
        capsys,
        f"--out={tmp_path / 'run'}",
        "--steps=5",
        *TINY,
        f"--pretrained-encoder={tmp_path / 'x.safetensors'}",
    )
    assert code == 2 and "--pretrained-encoder needs env.cameras" in err
