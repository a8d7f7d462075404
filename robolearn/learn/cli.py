"""`robolearn train <algorithm> ...`: training commands.

`add_train_parser(subparsers)` registers the `train` verb on the top-level parser. Each
algorithm is a `_add_<name>(sub)` function that registers its arguments and sets `func` to a
`cmd_<name>` taking the parsed `argparse.Namespace` and returning an exit code; add one by
writing both and listing the adder in `SUBCOMMANDS`.

- `robolearn train serl --task pick_cube --demos datasets/sample_pick_cube`: RLPD (SERL's
  learner) in-process on the twin, state-based. Writes into ``--out``: ``checkpoints/``
  (resumable with ``--resume``), TensorBoard events, ``learning_curve.png``,
  ``policy.safetensors`` (the final agent) and ``summary.json``, which is also printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPERT_PREFIX = "expert:"
DEMO_SEED_OFFSET = 10_000  # expert demo episodes use seeds away from the training seeds


class TrainCommandError(RuntimeError):
    """A problem with the command's arguments or inputs, reported without a traceback."""


# --- serl ---------------------------------------------------------------------------------------
def _add_serl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serl",
        help="RLPD from demos on the twin, in-process (SERL's learner; state-based)",
        description=(
            "Train RLPD (SAC with a critic ensemble, 50/50 demo/online batches) on a twin task. "
            "Outputs go to --out: checkpoints/, TensorBoard events, learning_curve.png, "
            "policy.safetensors, summary.json."
        ),
    )
    # No import of robolearn.envs here (MuJoCo): building the parser stays cheap.
    p.add_argument("--task", default="pick_cube", help="a twin task: reach, pick_cube, ...")
    p.add_argument(
        "--demos",
        default=None,
        help="an episode store (zarr, robolearn.data) or expert:N to roll out N scripted "
        "demos; omit to learn without demos",
    )
    p.add_argument("--steps", type=int, default=30_000, help="environment steps in total")
    p.add_argument("--utd", type=int, default=2, help="critic updates per environment step")
    p.add_argument("--reward", choices=["sparse", "dense"], default="sparse")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/serl_TASK)")
    p.add_argument("--resume", action="store_true", help="continue from --out's checkpoints")
    p.add_argument(
        "--checkpoint-every", type=int, default=2_000, help="env steps between checkpoints"
    )
    p.add_argument(
        "--intervene",
        choices=["scripted"],
        default=None,
        help="a simulated operator (the task's scripted expert) takes over now and then "
        "(HIL-SERL); its steps go into both buffers",
    )
    p.add_argument(
        "--intervene-patience", type=int, default=30, help="policy steps before a takeover"
    )
    p.add_argument("--intervene-steps", type=int, default=20, help="steps per takeover")
    p.add_argument(
        "--intervene-episodes",
        type=int,
        default=None,
        help="stop intervening after this many episodes (default: never)",
    )
    p.add_argument(
        "--cameras",
        nargs="*",
        default=[],
        choices=["front", "wrist"],
        help="learn from these cameras too (conv encoder + DrQ); default: state only",
    )
    p.add_argument(
        "--image-size", type=int, nargs=2, default=[128, 128], metavar=("H", "W"), help="pixels"
    )
    p.add_argument(
        "--pretrained-encoder",
        type=Path,
        default=None,
        help="safetensors conv trunks to start from: a file from export_trunks, or a reward "
        "classifier / RLPD checkpoint of the same architecture with --pretrained-prefix "
        "encoder.trunks.",
    )
    p.add_argument("--pretrained-prefix", default="", help="name prefix of the trunk tensors")
    p.add_argument(
        "--freeze-pretrained", action="store_true", help="keep the loaded conv layers fixed"
    )
    p.add_argument(
        "--reward-classifier",
        type=Path,
        default=None,
        help="train on this success classifier's reward (robolearn train classifier) instead of "
        "the twin's; evaluation still reports the twin's success",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learning-starts", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", default="256,256", help="MLP widths, comma separated")
    p.add_argument("--critics", type=int, default=10, help="critic ensemble size")
    p.add_argument("--discount", type=float, default=0.97)
    p.add_argument(
        "--init-temperature", type=float, default=1e-2, help="SAC's initial alpha (SERL: 1e-2)"
    )
    p.add_argument(
        "--terminate-on-success",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="end an episode at success (--no-terminate-on-success: hold it until the end)",
    )
    p.add_argument("--eval-every", type=int, default=2_500, help="0: only at start and end")
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cmd_serl)


def cmd_serl(args: argparse.Namespace) -> int:
    try:
        summary = run_serl(args)
    except TrainCommandError as err:
        print(f"robolearn train serl: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


def run_serl(args: argparse.Namespace) -> dict[str, Any]:
    """`robolearn train serl`: build the twin env, the demos and the config; run `train_rlpd`."""
    import gymnasium as gym
    import torch

    from robolearn.envs import ENV_IDS
    from robolearn.learn.learner import Learner
    from robolearn.learn.rlpd import RLPDConfig
    from robolearn.learn.train import train_rlpd

    if args.steps < 1:
        raise TrainCommandError(f"--steps must be at least 1, got {args.steps}")
    if args.utd < 1:
        raise TrainCommandError(f"--utd must be at least 1, got {args.utd}")
    if not args.init_temperature > 0:
        raise TrainCommandError(f"--init-temperature must be positive, got {args.init_temperature}")
    try:
        hidden = tuple(int(h) for h in str(args.hidden).split(","))
    except ValueError:
        raise TrainCommandError(
            f"--hidden must be comma-separated ints, got {args.hidden!r}"
        ) from None
    if args.task not in ENV_IDS:
        raise TrainCommandError(f"unknown --task {args.task!r}; known: {', '.join(ENV_IDS)}")
    torch.set_num_threads(max(1, args.threads))
    env_id = ENV_IDS[args.task]
    out = args.out or Path("runs") / f"serl_{args.task}"
    checkpoints = out / "checkpoints"
    has_checkpoint = Learner.latest(checkpoints) is not None
    if has_checkpoint and not args.resume:
        raise TrainCommandError(
            f"{out} already holds checkpoints: pass --resume to continue that run, or another "
            "--out to start a new one"
        )
    resuming = args.resume and has_checkpoint
    if args.resume and not has_checkpoint:
        print(f"no checkpoint in {checkpoints} yet: starting a new run", file=sys.stderr)

    import robolearn.envs  # noqa: F401 - registers the ids

    env_kwargs: dict[str, Any] = {
        "reward_type": args.reward,
        "terminate_on_success": args.terminate_on_success,
    }
    if args.cameras:
        env_kwargs.update(cameras=tuple(args.cameras), image_size=tuple(args.image_size))
    env = gym.make(env_id, **env_kwargs)
    eval_env = gym.make(env_id, **env_kwargs)
    try:
        # On resume the demo buffer (with any interventions) comes from the checkpoint.
        demos = None if resuming else _demos(args, env)
        if args.reward_classifier is not None:
            # After the scripted demos: they keep the twin's reward and end at its success.
            from robolearn.learn.reward_classifier import ClassifierReward

            try:
                env = ClassifierReward(env, args.reward_classifier, terminate=True)
            except (KeyError, ValueError, OSError) as err:
                raise TrainCommandError(f"--reward-classifier: {err}") from None
        if args.intervene == "scripted":
            env = _with_operator(env, args)
        config = RLPDConfig(
            hidden_dims=hidden,
            batch_size=args.batch_size,
            utd_ratio=args.utd,
            num_critics=args.critics,
            discount=args.discount,
            init_temperature=args.init_temperature,
            **_encoder(args),
            seed=args.seed,
        )
        out.mkdir(parents=True, exist_ok=True)
        if not resuming:
            run = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
            run.pop("func", None)
            (out / "run.json").write_text(json.dumps(run, indent=2))
        progress = args.progress if args.progress is not None else sys.stderr.isatty()
        result = train_rlpd(
            env,
            demos=demos,
            total_steps=args.steps,
            config=config,
            eval_env=eval_env,
            eval_every=args.eval_every,
            eval_episodes=args.eval_episodes,
            learning_starts=args.learning_starts,
            seed=args.seed,
            checkpoint=out / "policy.safetensors",
            checkpoint_dir=checkpoints,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            log_dir=out,
            progress=progress,
        )
    finally:
        env.close()
        eval_env.close()
    learner = result.learner
    summary = {
        "task": args.task,
        "env_id": env_id,
        "reward": args.reward,
        "env_steps": result.env_steps,
        "updates": result.updates,
        "utd_ratio": result.agent.config.utd_ratio,
        "episodes": result.episodes,
        "train_success_rate": result.train_successes / result.episodes if result.episodes else None,
        "final_success_rate": _nan_to_none(result.final_success_rate),
        "curve": [
            {"step": p.step, "success_rate": _nan_to_none(p.success_rate), "return": p.mean_return}
            for p in result.curve
        ],
        "intervention_steps": result.intervention_steps,
        "intervention_rate": result.intervention_rate,
        "online_transitions": len(learner.online) if learner else None,
        "demo_transitions": len(learner.demos) if learner and learner.demos else 0,
        "resumed_from": result.resumed_from,
        "wall_seconds": round(result.wall_seconds, 1),
        "out": str(out),
        "checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
        "policy": str(result.checkpoint),
        "learning_curve": str(result.learning_curve) if result.learning_curve else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _encoder(args: argparse.Namespace) -> dict[str, Any]:
    """State only: the normalised flat encoder; with cameras: conv trunks + the state."""
    if not args.cameras:
        if args.pretrained_encoder is not None:
            raise TrainCommandError("--pretrained-encoder needs --cameras")
        return {"encoder": "flatten", "encoder_options": {"normalize": True}}
    options: dict[str, Any] = {"normalize_state": True}
    if args.pretrained_encoder is not None:
        if not args.pretrained_encoder.is_file():
            raise TrainCommandError(f"--pretrained-encoder {args.pretrained_encoder}: no such file")
        options.update(
            pretrained=str(args.pretrained_encoder),
            pretrained_prefix=args.pretrained_prefix,
            freeze_pretrained=args.freeze_pretrained,
        )
    return {"encoder": "conv", "encoder_options": options}


def _demos(args: argparse.Namespace, env: Any) -> Any:
    """The prior data: an episode store, ``expert:N`` scripted rollouts, or None."""
    from robolearn.learn.train import collect_expert_demos

    spec = args.demos
    if spec is None:
        return None
    if spec.startswith(EXPERT_PREFIX):
        try:
            n = int(spec[len(EXPERT_PREFIX) :])
        except ValueError:
            raise TrainCommandError(f"--demos expert:N needs an integer N, got {spec!r}") from None
        if n < 1:
            raise TrainCommandError(f"--demos expert:N needs N >= 1, got {n}")
        buffer = collect_expert_demos(env, n, seed=DEMO_SEED_OFFSET + args.seed)
        print(f"collected {len(buffer)} transitions from {n} scripted episodes", file=sys.stderr)
        return buffer
    return _dataset(Path(spec), args)


def _dataset(path: Path, args: argparse.Namespace) -> Path:
    """Check an episode store is usable for this run; returns its path (train_rlpd loads it)."""
    from robolearn.data.store import EpisodeStore, StoreError
    from robolearn.paths import asset_dir

    if not path.exists() and not path.is_absolute():
        shipped = asset_dir("datasets") / path.name  # e.g. datasets/sample_pick_cube
        if shipped.exists():
            path = shipped
    try:
        store = EpisodeStore.open(path)
    except StoreError as err:
        raise TrainCommandError(f"--demos: {err} (or pass expert:N)") from None
    try:
        if store.n_episodes == 0:
            raise TrainCommandError(f"--demos {path}: the dataset has no episodes")
        tasks = {store.episode_meta(i).task for i in range(store.n_episodes)}
    finally:
        store.close()
    if tasks != {args.task}:
        raise TrainCommandError(
            f"--demos {path} holds episodes of task(s) {sorted(tasks)}, not {args.task!r}"
        )
    if args.reward != "sparse":
        raise TrainCommandError(
            f"--demos {path}: episode stores keep the sparse reward; use --reward sparse, or "
            "--demos expert:N to roll out demos with the dense reward"
        )
    return path


def _with_operator(env: Any, args: argparse.Namespace) -> Any:
    """The training env under a simulated operator: the task's scripted expert, on a schedule."""
    from robolearn.learn.simulated_operator import SimulatedOperator, SimulatedOperatorConfig
    from robolearn.teleop.intervention import InterventionWrapper
    from robolearn.teleop.scripted import ScriptedConfig, ScriptedTeleop

    expert = ScriptedTeleop(
        ScriptedConfig(task=args.task, seed=args.seed), expert=env.unwrapped.task.make_expert()
    )
    try:
        config = SimulatedOperatorConfig(
            patience=args.intervene_patience,
            takeover_steps=args.intervene_steps,
            max_episodes=args.intervene_episodes,
            seed=args.seed,
        )
    except ValueError as err:
        raise TrainCommandError(f"--intervene: {err}") from None
    return InterventionWrapper(env, SimulatedOperator(expert, config))


def _nan_to_none(x: float) -> float | None:
    return None if x != x else x


# --- registration -------------------------------------------------------------------------------
def _add_classifier(sub: argparse._SubParsersAction) -> None:
    # robolearn train classifier: SERL's reward classifier (robolearn.learn.reward_classifier)
    from robolearn.learn.reward_classifier import add_classifier_subcommand

    add_classifier_subcommand(sub)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_serl, _add_classifier]


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `train` and its algorithms on the top-level parser's subparsers."""
    train = subparsers.add_parser(
        "train", help="train policies: serl (RLPD from demos), classifier (reward classifier)"
    )
    sub = train.add_subparsers(dest="train_command", required=True, metavar="ALGORITHM")
    for add in SUBCOMMANDS:
        add(sub)
    return train
