"""`robolearn train <algorithm> ...`: training commands.

`add_train_parser(subparsers)` registers the `train` verb on the top-level parser. Each
algorithm is a `_add_<name>(sub)` function that registers its arguments and sets `func` to a
`cmd_<name>` taking the parsed `argparse.Namespace` and returning an exit code; add one by
writing both and listing the adder in `SUBCOMMANDS`.

- `robolearn train serl --task pick_cube --demos datasets/sample_pick_cube`: RLPD (SERL's
  learner) in-process on a twin task or any gymnasium env (``--env ID``), configured by one
  `robolearn.learn.config.TrainConfig` (``--config``, ``--set``, ``--print-config``). Writes into
  ``--out``: ``config.yaml``, ``checkpoints/`` (resumable with ``--resume``), TensorBoard
  events, ``learning_curve.png``, ``policy.safetensors`` (the final agent) and ``summary.json``,
  which is also printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robolearn.config import ConfigError, from_arguments, to_yaml
from robolearn.config import add_arguments as add_config_arguments
from robolearn.config import diff as config_diff
from robolearn.config import save as save_config

if TYPE_CHECKING:  # torch and the envs load when a command runs, not when the parser is built
    from robolearn.learn.config import TrainConfig
    from robolearn.learn.rlpd import RLPDConfig

log = logging.getLogger(__name__)

EXPERT_PREFIX = "expert:"
DEMO_SEED_OFFSET = 10_000  # expert demo episodes use seeds away from the training seeds


class TrainCommandError(RuntimeError):
    """A problem with the command's arguments or inputs, reported without a traceback."""


# --- serl ---------------------------------------------------------------------------------------
def _add_serl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serl",
        help="RLPD from demos, in-process (SERL's learner), on a twin task or any gymnasium env",
        description=(
            "Train RLPD (SAC with a critic ensemble, 50/50 demo/online batches) on a twin task or "
            "a gymnasium env. Settings are one config tree (robolearn.learn.config.TrainConfig): "
            "--preset, then --config FILE.yaml, then the shortcut flags, then --set KEY=VALUE. "
            "Outputs go to --out: config.yaml, checkpoints/, TensorBoard events, "
            "learning_curve.png, policy.safetensors, summary.json."
        ),
    )
    # No import of robolearn.envs here (MuJoCo): building the parser stays cheap.
    p.add_argument("--preset", default="default", help="agent preset: default, rlpd, serl")
    add_config_arguments(p, example="agent.utd_ratio=4")
    p.add_argument("--task", default=None, help="= env.task: reach, pick_cube, peg_insert")
    p.add_argument("--env", default=None, help="= env.id: any gymnasium id or module:callable")
    p.add_argument("--env-kwargs", default=None, help="= env.kwargs, as a JSON object")
    p.add_argument(
        "--demos",
        default=None,
        help="= loop.demos: an episode store (zarr, robolearn.data) or expert:N to roll out N "
        "scripted demos",
    )
    p.add_argument("--steps", type=int, default=None, help="= loop.env_steps")
    p.add_argument("--seed", type=int, default=None, help="= seed")
    p.add_argument("--device", default=None, help="= device: auto, cpu, cuda")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/serl_TASK)")
    p.add_argument("--resume", action="store_true", help="continue from --out's checkpoints")
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
        "--pretrained-encoder",
        type=Path,
        default=None,
        help="safetensors conv trunks to start from (with env.cameras): a file from "
        "export_trunks, or a reward classifier / RLPD checkpoint of the same architecture with "
        "--pretrained-prefix encoder.trunks.",
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
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    p.set_defaults(func=cmd_serl)


CONFIG_FILE = "config.yaml"
# Keys a resumed run may change: where it runs and how long, not what it learns.
RESUMABLE_KEYS = ("device", "threads", "loop.env_steps", "loop.eval_every", "loop.eval_episodes")


def serl_config(args: argparse.Namespace) -> TrainConfig:
    """The effective `TrainConfig` of a `train serl` command line (preset, file, flags, --set)."""
    from robolearn.learn.config import train_config

    try:
        shortcuts = {
            "env.task": args.task,
            "env.id": args.env,
            "env.kwargs": _json_object(args.env_kwargs, "--env-kwargs"),
            "loop.demos": args.demos,
            "loop.env_steps": args.steps,
            "seed": args.seed,
            "device": args.device,
        }
        return from_arguments(train_config(args.preset), args, shortcuts)
    except (ConfigError, OSError) as err:
        raise TrainCommandError(str(err)) from None


def _json_object(text: str | None, flag: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{flag} is not JSON ({err})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag} must be a JSON object, e.g. '{{\"size\": 3}}'")
    return value


def cmd_serl(args: argparse.Namespace) -> int:
    try:
        config = serl_config(args)
        if args.print_config:
            print(to_yaml(config), end="")
            return 0
        summary = run_serl(args, config)
    except TrainCommandError as err:
        print(f"robolearn train serl: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


def run_serl(args: argparse.Namespace, config: TrainConfig) -> dict[str, Any]:
    """`robolearn train serl`: build the env, the demos and the agent; run `train_rlpd`."""
    import torch

    from robolearn.learn.learner import Learner
    from robolearn.learn.train import train_rlpd

    torch.set_num_threads(config.threads)
    name = config.env.task if not config.env.id else config.env.id.replace("/", "_")
    out = args.out or Path("runs") / f"serl_{name}"
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
    if resuming:
        _check_resumable(out / CONFIG_FILE, config)
    if args.pretrained_encoder is not None and not config.env.cameras:
        raise TrainCommandError(
            "--pretrained-encoder needs env.cameras (--set env.cameras=[wrist])"
        )
    try:
        env = config.env.make()
        eval_env = config.env.make()
    except (ConfigError, ValueError, KeyError, ImportError, gym_error()) as err:
        raise TrainCommandError(f"env {config.env.name}: {err}") from None
    try:
        # On resume the demo buffer (with any interventions) comes from the checkpoint.
        demos = None if resuming else _demos(config, env)
        if args.reward_classifier is not None:
            # After the scripted demos: they keep the twin's reward and end at its success.
            from robolearn.learn.reward_classifier import ClassifierReward

            try:
                env = ClassifierReward(env, args.reward_classifier, terminate=True)
            except (KeyError, ValueError, OSError) as err:
                raise TrainCommandError(f"--reward-classifier: {err}") from None
        if args.intervene == "scripted":
            env = _with_operator(env, args, config)
        agent = _agent_config(config, args)
        out.mkdir(parents=True, exist_ok=True)
        if not resuming:
            save_config(config, out / CONFIG_FILE)
        progress = args.progress if args.progress is not None else sys.stderr.isatty()
        loop = config.loop
        result = train_rlpd(
            env,
            demos=demos,
            total_steps=loop.env_steps,
            config=agent,
            eval_env=eval_env,
            eval_every=loop.eval_every,
            eval_episodes=loop.eval_episodes,
            learning_starts=loop.learning_starts,
            buffer_capacity=loop.buffer_capacity,
            seed=config.seed,
            checkpoint=out / "policy.safetensors",
            checkpoint_dir=checkpoints,
            checkpoint_every=loop.checkpoint_every,
            resume=args.resume,
            log_dir=out,
            progress=progress,
            device=config.device,
        )
    finally:
        env.close()
        eval_env.close()
    learner = result.learner
    summary = {
        "task": config.env.task if not config.env.id else None,
        "env_id": config.env.name,
        "reward": config.env.reward if not config.env.id else None,
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
        "device": str(result.agent.device),
        "out": str(out),
        "config": str(out / CONFIG_FILE),
        "checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
        "policy": str(result.checkpoint),
        "learning_curve": str(result.learning_curve) if result.learning_curve else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def gym_error() -> type[Exception]:
    import gymnasium as gym

    return gym.error.Error


def _check_resumable(path: Path, config: TrainConfig) -> None:
    """Refuse to resume a run whose saved config differs in what it learns."""
    import yaml

    if not path.is_file():
        return  # a run from before configs were saved: its checkpoint still checks the agent
    saved = yaml.safe_load(path.read_text()) or {}
    changed = config_diff(saved, config, ignore=RESUMABLE_KEYS)
    if changed:
        raise TrainCommandError(
            f"{path.parent} was started with another config; --resume continues only the same "
            f"run (changed: {'; '.join(changed)}). Use another --out for a new run."
        )


def _agent_config(config: TrainConfig, args: argparse.Namespace) -> RLPDConfig:
    agent = config.effective_agent()
    if args.pretrained_encoder is not None:
        if not args.pretrained_encoder.is_file():
            raise TrainCommandError(f"--pretrained-encoder {args.pretrained_encoder}: no such file")
        options = dict(agent.encoder_options)
        options.update(
            pretrained=str(args.pretrained_encoder),
            pretrained_prefix=args.pretrained_prefix,
            freeze_pretrained=args.freeze_pretrained,
        )
        agent = dataclasses.replace(agent, encoder_options=options)
    return agent


def _demos(config: TrainConfig, env: Any) -> Any:
    """The prior data: an episode store, ``expert:N`` scripted rollouts, or None."""
    from robolearn.learn.train import collect_expert_demos

    spec = config.loop.demos
    if not spec:
        return None
    if spec.startswith(EXPERT_PREFIX):
        try:
            n = int(spec[len(EXPERT_PREFIX) :])
        except ValueError:
            raise TrainCommandError(f"--demos expert:N needs an integer N, got {spec!r}") from None
        if n < 1:
            raise TrainCommandError(f"--demos expert:N needs N >= 1, got {n}")
        try:
            expert = config.env.expert_policy()
            seed = DEMO_SEED_OFFSET + config.seed
            buffer = collect_expert_demos(env, n, expert=expert, seed=seed)
        except (ConfigError, TypeError, ImportError) as err:
            raise TrainCommandError(f"--demos {spec}: {err}") from None
        print(f"collected {len(buffer)} transitions from {n} scripted episodes", file=sys.stderr)
        return buffer
    return _dataset(Path(spec), config)


def _dataset(path: Path, config: TrainConfig) -> Path:
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
    if not config.env.id and tasks != {config.env.task}:
        raise TrainCommandError(
            f"--demos {path} holds episodes of task(s) {sorted(tasks)}, not {config.env.task!r}"
        )
    if not config.env.id and config.env.reward != "sparse":
        raise TrainCommandError(
            f"--demos {path}: episode stores keep the sparse reward; use env.reward=sparse, or "
            "--demos expert:N to roll out demos with the dense reward"
        )
    return path


def _with_operator(env: Any, args: argparse.Namespace, config: TrainConfig) -> Any:
    """The training env under a simulated operator: the task's scripted expert, on a schedule."""
    from robolearn.learn.simulated_operator import SimulatedOperator, SimulatedOperatorConfig
    from robolearn.teleop.intervention import InterventionWrapper
    from robolearn.teleop.scripted import ScriptedConfig, ScriptedTeleop

    expert = ScriptedTeleop(
        ScriptedConfig(task=config.env.task, seed=config.seed),
        expert=env.unwrapped.task.make_expert(),
    )
    try:
        config = SimulatedOperatorConfig(
            patience=args.intervene_patience,
            takeover_steps=args.intervene_steps,
            max_episodes=args.intervene_episodes,
            seed=config.seed,
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
