"""`robolearn pearl <verb>`: PEARL on datasets (see README "Preferences (PEARL)").

collect   record a varied-quality dataset of a twin task (expert, noisy, random episodes)
pairs     sample segment pairs, write their clips and a manifest for `robolearn label serve`
label     label sampled pairs with the scripted (noisy) labeller
transfer  CPA: label target pairs from the source's preferences (no target labels)
reward    train an RRL (or Bradley-Terry) reward model on a preference set; relabel
train     train a target policy on the learned reward: SERL's RLPD online, or offline AWBC
report    the evaluation on twin task pairs (tables and plots)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from robolearn.config import add_arguments as add_config_arguments

TASKS = ("reach", "pick_cube", "peg_insert")


def _guard() -> None:
    # torch's first optimizer step imports triton, fatal after OSMesa loads (robolearn.learn).
    import robolearn.learn  # noqa: F401


def cmd_collect(args: argparse.Namespace) -> int:
    _guard()
    from robolearn.preference.collect import collect_varied

    path = collect_varied(
        args.task, args.out, episodes=args.episodes, qualities=args.qualities, seed=args.seed,
        cameras=tuple(args.cameras), image_size=(args.image_size, args.image_size),
    )  # fmt: skip
    print(f"recorded {args.episodes} episodes of {args.task} into {path}")
    return 0


def cmd_pairs(args: argparse.Namespace) -> int:
    import numpy as np

    from robolearn.data.store import EpisodeStore
    from robolearn.label import LabelPair, PairSet, write_webm
    from robolearn.preference.data import preference_dir, preference_path
    from robolearn.preference.labeller import random_pairs
    from robolearn.preference.segments import resolve, sample_segments

    rng = np.random.default_rng(args.seed)
    out = Path(args.out) if args.out else preference_dir(args.dataset) / "clips"
    key = f"obs.images.{args.camera}"
    pairs = []
    with EpisodeStore.open(args.dataset) as store:
        if key not in store.schema:
            cams = [k.split(".")[-1] for k in store.schema if k.startswith("obs.images.")]
            print(
                f"robolearn pearl pairs: {args.dataset} has no camera {args.camera!r} (has"
                f" {cams or 'none'}); record with --cameras front",
                file=sys.stderr,
            )
            return 2
        refs = sample_segments(store, args.segments, args.segment_length, rng)
        fps = store.episode_meta(0).control_hz
        for n, (i, j) in enumerate(random_pairs(len(refs), args.pairs, rng)):
            clips = []
            for side, ref in (("a", refs[i]), ("b", refs[j])):
                start, _ = store.episode_range(resolve(store, ref))
                frames = store.array(key)[start + ref.start : start + ref.end]
                clips.append(write_webm(list(frames), out / f"pair{n:04d}_{side}.webm", fps=fps))
            meta = {"a": refs[i].to_json(), "b": refs[j].to_json(), "dataset": str(args.dataset)}
            pairs.append(LabelPair(f"pair{n:04d}", clips[0], clips[1], meta))
    manifest = PairSet(args.question, pairs).save(out / "pairs.json")
    labels = preference_path(args.dataset, args.name)
    print(f"wrote {len(pairs)} pairs: {manifest}\nlabel them with:\n"
          f"  robolearn label serve {manifest} --labels {labels}")  # fmt: skip
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from robolearn.preference.labeller import ScriptedLabellerConfig
    from robolearn.preference.pipeline import label_dataset

    labeller = ScriptedLabellerConfig(
        flip_rate=args.flip_rate, equal_margin=args.equal_margin, seed=args.seed
    )
    path = label_dataset(
        args.dataset,
        n_segments=args.segments,
        n_pairs=args.pairs,
        segment_length=args.segment_length,
        labeller=labeller,
        name=args.name,
        seed=args.seed,
    )
    print(f"labelled {args.pairs} pairs (flip rate {args.flip_rate}) into {path}")
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from robolearn.preference.alignment import AlignmentConfig
    from robolearn.preference.pipeline import transfer

    try:
        result = transfer(
            args.source, args.target, source_name=args.source_prefs,
            n_target_segments=args.segments, n_target_pairs=args.pairs,
            config=AlignmentConfig(
                objective=args.objective, alpha=args.alpha, cross_scaling=args.cross_scaling,
                features=args.features, method=args.method, epsilon=args.epsilon,
            ),
            name=args.name, seed=args.seed,
        )  # fmt: skip
    except FileNotFoundError as err:
        print(f"robolearn pearl transfer: {err}", file=sys.stderr)
        return 2
    conf = result.labels.confidence
    print(f"transferred {len(result.pairs)} labels into {result.path} (mean confidence"
          f" {conf.mean():.2f}, mean label {result.labels.labels.mean():.2f})")  # fmt: skip
    return 0


def cmd_reward(args: argparse.Namespace) -> int:
    _guard()
    from robolearn.preference.pipeline import fit_reward
    from robolearn.preference.reward import RewardModelConfig, relabel_dataset

    config = RewardModelConfig(
        type=args.type, ensemble=args.ensemble, epochs=args.epochs, kl_weight=args.kl_weight,
        seed=args.seed,
    )  # fmt: skip
    try:
        model = fit_reward(args.dataset, args.prefs, config, out=args.out, progress=True)
    except FileNotFoundError as err:
        print(f"robolearn pearl reward: {err}", file=sys.stderr)
        return 2
    print(f"reward model ({args.type}) saved to {args.out}")
    if args.relabel:
        print(f"relabelled dataset: {relabel_dataset(model, args.dataset, args.relabel)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    _guard()
    import gymnasium as gym

    import robolearn.envs  # noqa: F401
    from robolearn.envs import ENV_IDS
    from robolearn.preference.offline import AWBCConfig, evaluate_policy, train_awbc
    from robolearn.preference.reward import LearnedReward

    reward = LearnedReward.load(args.reward) if args.reward else None
    if args.learner == "awbc":
        if args.dataset is None:
            print("robolearn pearl train --learner awbc needs --dataset", file=sys.stderr)
            return 2
        policy = train_awbc(args.dataset, reward, AWBCConfig(epochs=args.epochs), progress=True)
        env = gym.make(ENV_IDS[args.task])
        success, ret = evaluate_policy(policy, env, args.eval_episodes)
        env.close()
        print(json.dumps({"learner": "awbc", "success_rate": success, "mean_true_return": ret}))
        return 0
    from robolearn.config import ConfigError, from_arguments, to_yaml
    from robolearn.learn.config import train_config
    from robolearn.preference.pipeline import train_on_reward

    try:  # the training tree of `robolearn train serl`: one set of defaults
        config = from_arguments(
            train_config(args.preset),
            args,
            {
                "env.task": args.task,
                "loop.env_steps": args.steps,
                "seed": args.seed,
            },
        )
    except (ConfigError, OSError) as err:
        print(f"robolearn pearl train: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        print(to_yaml(config), end="")
        return 0
    result = train_on_reward(
        args.task, reward, dataset=args.dataset, config=config, checkpoint=args.checkpoint
    )
    print(json.dumps({"learner": "rlpd", **result.as_dict()}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    _guard()
    from robolearn.preference.evaluation import run_report

    report = run_report(args.profile, args.out)
    print((Path(args.out) / "report.md").read_text())
    print(f"report: {Path(args.out) / 'report.json'}, plots: {Path(args.out) / 'pearl_report.png'}")
    return 0 if report["transfer"] else 1


def add_pearl_parser(sub: argparse._SubParsersAction) -> None:
    """Register `robolearn pearl ...` on the top-level parser."""
    pearl = sub.add_parser("pearl", help="cross-task preference transfer and reward learning")
    verbs = pearl.add_subparsers(dest="pearl_command", required=True)

    p = verbs.add_parser("collect", help="record a varied-quality dataset of a twin task")
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--qualities", nargs="+", default=["expert", "noisy0.3", "noisy0.6", "noisy1.0", "random"]
    )
    p.add_argument("--cameras", nargs="*", default=[], choices=["front", "wrist"])
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_collect)

    p = verbs.add_parser("pairs", help="segment pairs + clips + manifest for the labelling page")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--pairs", type=int, default=40)
    p.add_argument("--segments", type=int, default=60)
    p.add_argument("--segment-length", type=int, default=25)
    p.add_argument("--camera", default="front")
    p.add_argument("--question", default="Which robot makes more progress on the task?")
    p.add_argument("--name", default="human", help="preference set the labels go to")
    p.add_argument("--out", type=Path, help="clip folder (default: <dataset>.preferences/clips)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_pairs)

    p = verbs.add_parser("label", help="label pairs with the scripted (noisy) labeller")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--pairs", type=int, default=300)
    p.add_argument("--segments", type=int, default=100)
    p.add_argument("--segment-length", type=int, default=25)
    p.add_argument("--flip-rate", type=float, default=0.0)
    p.add_argument("--equal-margin", type=float, default=0.0)
    p.add_argument("--name", default="human")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_label)

    p = verbs.add_parser("transfer", help="CPA: source preferences -> target labels")
    p.add_argument("--source", type=Path, required=True)
    p.add_argument("--target", type=Path, required=True)
    p.add_argument("--source-prefs", default="human", help="preference set of the source")
    p.add_argument("--pairs", type=int, default=300)
    p.add_argument("--segments", type=int, default=100)
    p.add_argument(
        "--objective", choices=["fgw", "gw"], default="fgw",
        help="fused Gromov-Wasserstein (structure + cross-task feature cost) or plain GW",
    )  # fmt: skip
    p.add_argument("--alpha", type=float, default=0.5, help="fgw: weight of the structure term")
    p.add_argument("--cross-scaling", choices=["zscore", "rank"], default="zscore", help="fgw")
    p.add_argument(
        "--features", choices=["progress", "tcp"], default="progress",
        help="each task's moved point vs goal (progress) or TCP vs first object (tcp)",
    )  # fmt: skip
    p.add_argument("--method", choices=["entropic", "exact"], default="entropic")
    p.add_argument("--epsilon", type=float, default=0.05)
    p.add_argument("--name", default="transferred")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_transfer)

    p = verbs.add_parser("reward", help="train a reward model on a preference set")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--prefs", default="transferred", help="preference set name")
    p.add_argument("--type", choices=["rrl", "bt"], default="rrl")
    p.add_argument("--ensemble", type=int, default=1)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--kl-weight", type=float, default=0.3)
    p.add_argument("--out", type=Path, required=True, help="model file (.safetensors)")
    p.add_argument(
        "--relabel", type=Path, help="also write a copy of the dataset with learned rewards"
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_reward)

    p = verbs.add_parser("train", help="train a policy on the learned reward (RLPD or AWBC)")
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--reward", type=Path, help="reward model; omit for the true dense reward")
    p.add_argument("--learner", choices=["rlpd", "awbc"], default="rlpd")
    p.add_argument("--dataset", type=Path, help="demos (rlpd) / training data (awbc)")
    p.add_argument("--steps", type=int, default=None, help="rlpd: = loop.env_steps")
    p.add_argument("--seed", type=int, default=None, help="rlpd: = seed")
    p.add_argument(
        "--preset", default="default", help="rlpd: agent preset (robolearn.learn.config)"
    )
    add_config_arguments(p, example="agent.utd_ratio=4")
    p.add_argument("--epochs", type=int, default=150, help="awbc: epochs")
    p.add_argument("--eval-episodes", type=int, default=10, help="awbc: evaluation episodes")
    p.add_argument("--checkpoint", type=Path)
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("report", help="evaluation on twin task pairs (table + plots)")
    p.add_argument("--profile", choices=["quick", "rlpd", "full"], default="quick")
    p.add_argument("--out", type=Path, default=Path("out/pearl_report"))
    p.set_defaults(func=cmd_report)
