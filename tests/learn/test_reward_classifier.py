"""Reward classifier (SERL): labels from an episode store, episode split, training on twin
frames, the ClassifierReward wrapper, files and the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import robolearn.envs  # noqa: F401 - registers the env ids
from robolearn.data.schema import FieldSpec
from robolearn.data.store import EpisodeMeta, EpisodeStore
from robolearn.learn.reward_classifier import (
    ClassifierReward,
    RewardClassifier,
    RewardClassifierConfig,
    add_classifier_subcommand,
    classification_metrics,
    labelled_frames,
    split_episodes,
    train_reward_classifier,
)

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample_pick_cube"
CAMERAS = ("front", "wrist")
SIZE = 64
ENV_ID = "robolearn/PandaPickCube-v0"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _twin(**kwargs) -> gym.Env:
    return gym.make(ENV_ID, cameras=CAMERAS, image_size=(SIZE, SIZE), **kwargs)


def _frames(obs: dict) -> dict[str, np.ndarray]:
    return {"obs.state": obs["state"], **{f"obs.images.{c}": obs["images"][c] for c in CAMERAS}}


def record_store(path: Path, plan: list[tuple[int, str, int]]) -> None:
    """Record (seed, policy, steps) episodes on the twin into an episode store, with success
    termination off so a solved episode goes on in the success state (the per-step sparse reward
    labels every frame). Policies: the task's scripted expert, or uniform random actions; an
    expert cut short before lifting is an unfinished (failed) episode."""
    env = _twin(terminate_on_success=False)
    base = env.unwrapped
    schema = {
        "obs.state": FieldSpec(env.observation_space["state"].shape, "<f4"),
        **{f"obs.images.{c}": FieldSpec((SIZE, SIZE, 3), "|u1") for c in CAMERAS},
        "action": FieldSpec((7,), "<f4"),
        "reward": FieldSpec((), "<f4"),
        "terminated": FieldSpec((), "|b1"),
        "truncated": FieldSpec((), "|b1"),
        "action_source": FieldSpec((), "|u1"),
    }
    try:
        with EpisodeStore.open_or_create(path, schema, task="pick_cube") as store:
            for seed, policy, steps in plan:
                obs, _ = env.reset(seed=seed)
                expert, rng = base.task.make_expert(), np.random.default_rng(seed)
                writer = store.begin_episode()
                for _ in range(steps):
                    if policy == "expert":
                        action = expert.act(base.robot_state, base.objects())
                    else:
                        action = rng.uniform(-1, 1, 7)
                    next_obs, reward, terminated, truncated, info = env.step(action)
                    writer.add_step(
                        {
                            **_frames(obs),
                            "action": np.asarray(action, np.float32),
                            "reward": np.float32(reward),
                            "terminated": np.bool_(terminated),
                            "truncated": np.bool_(truncated),
                            "action_source": np.uint8(2),
                        }
                    )
                    obs = next_obs
                meta = EpisodeMeta(
                    task="pick_cube", success=bool(info["is_success"]), seed=seed, operator=policy
                )
                writer.commit(meta, _frames(obs))
    finally:
        env.close()


# 5 solved episodes (about 40 steps to lift, then holding the cube up), 2 expert episodes cut
# before the lift (unfinished), 1 random one: about 390 frames, a third of them successes.
PLAN = [(s, "expert", 60) for s in range(5)] + [(100, "expert", 35), (101, "expert", 35)]
PLAN += [(200, "random", 20)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)  # module fixtures run before the autouse one
    root = tmp_path_factory.mktemp("classifier")
    record_store(root / "store", PLAN)
    out = root / "classifier.safetensors"
    report = train_reward_classifier(
        root / "store",
        cameras=CAMERAS,
        epochs=20,
        holdout_fraction=0.3,
        threshold=0.5,
        seed=0,
        out=out,
        progress=False,
    )
    return root / "store", out, report


def test_classifier_learns_success_from_twin_frames(trained):
    store, out, report = trained
    held = report["heldout"]
    print(json.dumps({k: v for k, v in report.items() if k != "history"}))
    # split by episode: 2 of the 5 successful and 1 of the 3 failed episodes held out
    assert len(report["heldout_episodes"]) == 3 and not set(report["heldout_episodes"]) & set(
        report["train_episodes"]
    )
    assert report["heldout_positives"] >= 20
    # measured over split seeds 0-3: accuracy 0.93-0.97, precision 0.79-1.0, recall 0.85-1.0;
    # the errors are frames of the cube grasped but lifted less than the 5 cm of the predicate
    majority = 1 - report["heldout_positives"] / report["heldout_frames"]
    assert held["accuracy"] >= 0.9 and held["accuracy"] > majority + 0.15, report
    assert held["recall"] >= 0.8 and held["precision"] >= 0.75, held
    assert report["history"][-1]["train_loss"] < 0.5 * report["history"][0]["train_loss"]
    # files: safetensors with the report in its metadata, a JSON copy, a PNG curve
    loaded = RewardClassifier.load(out)
    assert loaded.report["heldout"] == held
    assert json.loads(Path(f"{out}.json").read_text())["heldout"] == held
    assert Path(report["plot"]).stat().st_size > 1000


class _ReplayEnv(gym.Env):
    """Plays back one stored episode's next-observations (a stand-in for the camera stream of
    a finished episode), with the stored sparse reward as the env's reward."""

    def __init__(self, store: Path, episode: int) -> None:
        with EpisodeStore.open(store) as s:
            steps = s.episode(episode)
        keys = [f"obs.images.{c}" for c in CAMERAS] + ["obs.state"]
        self.frames = {k: np.concatenate([steps[k][1:], steps[f"final.{k}"][None]]) for k in keys}
        self.first = {k: steps[k][0] for k in keys}
        self.reward = steps["reward"]
        self.observation_space = _twin_space()
        self.action_space = gym.spaces.Box(-1, 1, (7,), np.float32)

    @staticmethod
    def _obs(frame: dict) -> dict:
        return {
            "state": frame["obs.state"],
            "images": {c: frame[f"obs.images.{c}"] for c in CAMERAS},
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(self.first), {}

    def step(self, action):
        frame = {k: v[self.t] for k, v in self.frames.items()}
        reward = float(self.reward[self.t])
        self.t += 1
        done = self.t == len(self.reward)
        return self._obs(frame), reward, False, done, {"is_success": reward > 0}


def _twin_space() -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {
            "state": gym.spaces.Box(-np.inf, np.inf, (35,), np.float32),
            "images": gym.spaces.Dict(
                {c: gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8) for c in CAMERAS}
            ),
        }
    )


def test_wrapper_reward_matches_labels_on_heldout_frames(trained):
    store, out, report = trained
    agree = total = 0
    for episode in report["heldout_episodes"]:
        env = ClassifierReward(_ReplayEnv(store, episode), out)
        env.reset()
        done = False
        while not done:
            _, reward, terminated, truncated, info = env.step(np.zeros(7))
            assert reward == float(info["classifier_probability"] > 0.5)
            assert reward == float(info["classifier_success"])
            agree += reward == info["env_reward"]
            total += 1
            done = terminated or truncated
    # the wrapper's reward on the held-out frames is the held-out accuracy, frame for frame
    assert total == report["heldout_frames"]
    assert agree / total == pytest.approx(report["heldout"]["accuracy"])


def test_wrapper_on_the_live_twin_rewards_and_terminates_on_predicted_success(trained):
    _, out, _ = trained
    env = ClassifierReward(_twin(terminate_on_success=False), out, terminate=True)
    base = env.unwrapped
    try:
        env.reset(seed=300)  # an initial state no training episode had
        expert = base.task.make_expert()
        truth, predicted = [], []
        for _ in range(60):  # stepping on after a predicted success, to compare whole runs
            _, reward, terminated, _, info = env.step(expert.act(base.robot_state, base.objects()))
            assert terminated == (reward > 0)  # the twin's own success termination is off
            truth.append(info["is_success"])
            predicted.append(reward > 0)
    finally:
        env.close()
    truth, predicted = np.array(truth), np.array(predicted)
    assert truth.any() and predicted.any()
    assert np.mean(truth == predicted) >= 0.9, (truth.astype(int), predicted.astype(int))
    # the predicted success starts within 3 control steps (0.3 s) of the twin's predicate
    assert abs(int(np.argmax(predicted)) - int(np.argmax(truth))) <= 3


# --- fast parts: labels, split, metrics, config, files, wrapper checks, CLI ----------------------
def test_labels_from_the_sample_store():
    frames = labelled_frames(SAMPLE, cameras=CAMERAS, state_keys=["state"])
    with EpisodeStore.open(SAMPLE) as store:
        lengths = [store.episode_meta(i).length for i in range(store.n_episodes)]
        final_front = store.episode(0, keys=["obs.images.front"])["final.obs.images.front"]
    assert len(frames) == sum(lengths)
    assert frames.obs["images.front"].shape == (sum(lengths), 64, 64, 3)
    # recorded with success termination: the one success frame of each episode is its last
    assert frames.labels.sum() == 4
    last = np.cumsum(lengths) - 1
    assert frames.labels[last].all()
    np.testing.assert_array_equal(frames.obs["images.front"][last[0]], final_front)
    final = labelled_frames(SAMPLE, cameras=("front",), label="final", final_frames=3)
    assert final.labels.sum() == 12 and final.labels[last].all()
    with pytest.raises(KeyError, match="obs.images.top"):
        labelled_frames(SAMPLE, cameras=("top",))


def test_split_is_by_episode_and_stratified():
    success = np.array([True] * 6 + [False] * 4)
    train, held = split_episodes(success, 0.3, seed=0)
    assert sorted([*train, *held]) == list(range(10)) and not set(train) & set(held)
    assert success[held].sum() == 2 and (~success[held]).sum() == 1
    again, _ = split_episodes(success, 0.3, seed=0)
    assert np.array_equal(train, again)
    with pytest.raises(ValueError, match="record more"):
        split_episodes(np.array([True]), 0.5, seed=0)


def test_classification_metrics():
    probs = np.array([0.9, 0.8, 0.2, 0.7, 0.1, 0.6])
    labels = np.array([1, 1, 1, 0, 0, 0], bool)
    m = classification_metrics(probs, labels, 0.5)
    assert (m["true_positives"], m["false_positives"], m["false_negatives"]) == (2, 2, 1)
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(2 / 3)
    assert classification_metrics(np.zeros(3), np.zeros(3, bool), 0.5)["precision"] is None


@pytest.mark.parametrize(
    "bad",
    [
        {"cameras": ()},
        {"threshold": 1.0},
        {"label": "sometimes"},
        {"holdout_fraction": 0.0},
        {"final_frames": 0},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        RewardClassifierConfig(**{"cameras": ("front",), **bad})


def test_save_load_round_trip_and_wrapper_checks(tmp_path):
    config = RewardClassifierConfig(
        cameras=("front",), state_keys=("state",), encoder_options={"channels": [8, 8]}
    )
    config.encoder_options["strides"] = [2, 2]
    model = RewardClassifier({"images.front": (64, 64, 3), "state": (35,)}, config)
    path = model.save(tmp_path / "c.safetensors", {"note": "x"})
    loaded = RewardClassifier.load(path)
    assert loaded.config == RewardClassifierConfig.from_dict(config.to_dict())
    obs = _twin_space().sample()
    assert loaded.probability(obs) == pytest.approx(model.probability(obs))
    batch = {
        "images": {"front": np.stack([obs["images"]["front"]] * 3)},
        "state": np.zeros((3, 35)),
    }
    assert loaded.probability(batch).shape == (3,)
    assert loaded.report == {"note": "x"}
    with pytest.raises(ValueError, match="not a reward classifier"):
        RewardClassifier.load(SAMPLE / "zarr.json")
    no_cameras = gym.make(ENV_ID)
    try:
        with pytest.raises(KeyError, match="cameras"):
            ClassifierReward(no_cameras, path)
    finally:
        no_cameras.close()
    small = gym.make(ENV_ID, cameras=("front",), image_size=(32, 32))
    try:
        with pytest.raises(ValueError, match="image_size"):
            ClassifierReward(small, path)
    finally:
        small.close()


def test_cli_subcommand_trains_and_prints_a_report(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="robolearn train")
    add_classifier_subcommand(parser.add_subparsers(dest="what"))
    out = tmp_path / "c.safetensors"
    args = parser.parse_args(
        [
            "classifier",
            "--dataset",
            str(SAMPLE),
            "--out",
            str(out),
            "--cameras",
            "front",
            "--label",
            "final",
            "--final-frames",
            "5",
            "--epochs",
            "1",
            "--holdout-fraction",
            "0.25",
            "--json",
        ]
    )
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(out) and out.is_file()
    assert report["heldout_frames"] > 0 and report["heldout_positives"] == 5
    assert 0.0 <= report["heldout"]["accuracy"] <= 1.0
    bad = parser.parse_args(
        ["classifier", "--dataset", str(SAMPLE), "--out", str(out), "--cameras", "top"]
    )
    assert bad.func(bad) == 1
    assert "obs.images.top" in capsys.readouterr().err


@pytest.mark.slow
def test_classifier_on_a_larger_store_reaches_95_percent(tmp_path):
    """18 episodes (12 solved, 4 unfinished, 2 random), 15 epochs: measured 0.96-1.0 held-out
    accuracy over split seeds 0-2 (about 30 s of CPU to record, 10 s to train)."""
    torch.set_num_threads(1)
    plan = [(s, "expert", 60) for s in range(12)]
    plan += [(100 + s, "expert", 35) for s in range(4)] + [(200, "random", 20), (201, "random", 20)]
    record_store(tmp_path / "store", plan)
    report = train_reward_classifier(
        tmp_path / "store",
        cameras=CAMERAS,
        epochs=15,
        holdout_fraction=0.25,
        threshold=0.5,
        seed=0,
        out=tmp_path / "c.safetensors",
        progress=False,
    )
    held = report["heldout"]
    assert held["accuracy"] >= 0.95 and held["precision"] >= 0.9 and held["recall"] >= 0.9, held
