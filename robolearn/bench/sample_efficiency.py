"""Sample efficiency: environment steps until RLPD with 20 scripted demos reaches 90 % success on
``robolearn/PandaPickCube-v0`` (state-based), and Stable-Baselines3 SAC without demos at the same
budget, in the same run.

Both learners see the same env (sparse reward by default: 1 when the cube is 5 cm up, which
ends the episode; 100 steps of 0.1 s otherwise) and the same evaluation: the deterministic policy
over ``--eval-episodes`` episodes on fixed seeds (`robolearn.learn.train.evaluate`), every
``--eval-every`` steps. ``steps_to_90`` is the first evaluation step with success >= 0.9 (null
if never within the budget). SB3's SAC uses its defaults (2 critics, 256x256, batch 256, one
gradient step per env step, learning from step 100) on the ``state`` vector; ours uses
``--utd`` critic steps per env step, 10 critics and the demos in half of every batch.

Writes the JSON report and a learning-curve PNG (both learners' success rate against env steps).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.bench import common

log = logging.getLogger(__name__)

ENV_ID = "robolearn/PandaPickCube-v0"
DEFAULT_STEPS = 30_000
DEFAULT_DEMOS = 20
DEFAULT_UTD = 1
DEFAULT_EVAL_EVERY = 2_500
DEFAULT_EVAL_EPISODES = 50
DEFAULT_LEARNING_STARTS = 500
DEMO_SEED = 10_000
TARGETS = {"steps_to_90": 30_000}
SUCCESS_LEVEL = 0.9


def ours_config(utd: int, seed: int) -> dict[str, Any]:
    """The RLPD settings of this benchmark (SERL's, with observation normalisation)."""
    return {
        "hidden_dims": (256, 256),
        "batch_size": 256,
        "utd_ratio": utd,
        "discount": 0.97,
        "encoder_options": {"normalize": True},
        "seed": seed,
    }


def _make_env(reward: str) -> Any:
    import gymnasium as gym

    import robolearn.envs  # noqa: F401 - registers the ids

    return gym.make(ENV_ID, reward_type=reward)


def run_ours(
    *,
    steps: int,
    demos: int,
    utd: int,
    reward: str,
    eval_every: int,
    eval_episodes: int,
    seed: int,
    progress: bool,
    learning_starts: int = DEFAULT_LEARNING_STARTS,
) -> dict[str, Any]:
    from robolearn.learn.rlpd import RLPDConfig
    from robolearn.learn.train import collect_expert_demos, train_rlpd

    env, eval_env = _make_env(reward), _make_env(reward)
    start = time.perf_counter()
    demo_buffer = collect_expert_demos(env, demos, seed=DEMO_SEED)

    def report(step: int, info: dict[str, Any]) -> None:
        if progress:
            print(
                f"[ours] step {step}: success {info['eval']['success_rate']:.2f}, "
                f"{info['eval']['wall_seconds']:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    result = train_rlpd(
        env,
        demos=demo_buffer,
        total_steps=steps,
        config=RLPDConfig(**ours_config(utd, seed)),
        eval_env=eval_env,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        learning_starts=learning_starts,
        seed=seed,
        callback=report,
    )
    env.close()
    eval_env.close()
    return {
        "curve": [(p.step, p.success_rate) for p in result.curve],
        "demo_transitions": len(demo_buffer),
        "updates": result.updates,
        "wall_seconds": time.perf_counter() - start,
    }


def run_sb3(
    *,
    steps: int,
    reward: str,
    eval_every: int,
    eval_episodes: int,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    import gymnasium as gym
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from robolearn.learn.train import EVAL_SEED_OFFSET

    class StateOnly(gym.ObservationWrapper):
        """SB3's MlpPolicy takes a Box: the ``state`` vector of the dict observation."""

        def __init__(self, env: gym.Env) -> None:
            super().__init__(env)
            self.observation_space = env.observation_space["state"]

        def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
            return observation["state"]

    env, eval_env = StateOnly(_make_env(reward)), StateOnly(_make_env(reward))
    curve: list[tuple[int, float]] = []
    start = time.perf_counter()

    def evaluate(model: SAC, step: int) -> None:
        successes = []
        for i in range(eval_episodes):
            obs, _ = eval_env.reset(seed=seed + EVAL_SEED_OFFSET + i)
            done, info = False, {}
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, _, terminated, truncated, info = eval_env.step(action)
                done = terminated or truncated
            successes.append(bool(info.get("is_success", False)))
        curve.append((step, float(np.mean(successes))))
        if progress:
            print(
                f"[sb3] step {step}: success {curve[-1][1]:.2f}, "
                f"{time.perf_counter() - start:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    class Every(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0 and self.num_timesteps < steps:
                evaluate(self.model, self.num_timesteps)
            return True

    model = SAC("MlpPolicy", env, seed=seed, verbose=0, device="cpu")
    evaluate(model, 0)
    model.learn(total_timesteps=steps, callback=Every() if eval_every else None)
    evaluate(model, steps)
    env.close()
    eval_env.close()
    return {"curve": curve, "wall_seconds": time.perf_counter() - start}


def steps_to(curve: Sequence[tuple[int, float]], level: float = SUCCESS_LEVEL) -> int | None:
    """The first evaluation step whose success rate is at least ``level`` (None if none)."""
    for step, rate in curve:
        if not math.isnan(rate) and rate >= level:
            return int(step)
    return None


def plot_curves(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, label in (("ours", f"RLPD + {report['demos']} demos"), ("sb3", "SB3 SAC")):
        curve = report["curves"].get(name)
        if curve:
            x, y = zip(*curve, strict=True)
            ax.plot(x, y, marker="o", label=label)
    ax.axhline(SUCCESS_LEVEL, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"success rate ({report['eval_episodes']} episodes)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{ENV_ID}, {report['reward']} reward, UTD {report['utd_ratio']}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_benchmark(
    *,
    steps: int = DEFAULT_STEPS,
    demos: int = DEFAULT_DEMOS,
    utd: int = DEFAULT_UTD,
    reward: str = "sparse",
    eval_every: int = DEFAULT_EVAL_EVERY,
    eval_episodes: int = DEFAULT_EVAL_EPISODES,
    seed: int = 0,
    threads: int = 1,
    sb3: bool = True,
    progress: bool = True,
    plot: Path | None = None,
    learning_starts: int = DEFAULT_LEARNING_STARTS,
) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    machine = common.machine_info(("torch", "stable-baselines3", "mujoco", "numpy"))
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "ours": lambda: run_ours(
            steps=steps,
            demos=demos,
            utd=utd,
            reward=reward,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            seed=seed,
            progress=progress,
            learning_starts=learning_starts,
        )
    }
    if sb3:
        runs["sb3"] = lambda: run_sb3(
            steps=steps,
            reward=reward,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            seed=seed,
            progress=progress,
        )
    results = {name: run() for name, run in runs.items()}
    ours = results["ours"]
    sb3_result = results.get("sb3")
    to_90 = steps_to(ours["curve"])
    report: dict[str, Any] = {
        "benchmark": "sample_efficiency",
        "env": ENV_ID,
        "reward": reward,
        "budget_steps": steps,
        "demos": demos,
        "demo_transitions": ours["demo_transitions"],
        "utd_ratio": utd,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "steps_to_90": to_90,
        "success_at_budget": ours["curve"][-1][1],
        "sb3_success_at_budget": sb3_result["curve"][-1][1] if sb3_result else None,
        "sb3_steps_to_90": steps_to(sb3_result["curve"]) if sb3_result else None,
        "wall_seconds": ours["wall_seconds"],
        "sb3_wall_seconds": sb3_result["wall_seconds"] if sb3_result else None,
        "updates": ours["updates"],
        "learning_starts": learning_starts,
        "config": {
            k: list(v) if isinstance(v, tuple) else v for k, v in ours_config(utd, seed).items()
        },
        "curves": {name: r["curve"] for name, r in results.items()},
        "targets": dict(TARGETS),
        "targets_met": {"steps_to_90": to_90 is not None and to_90 <= TARGETS["steps_to_90"]},
        "threads": threads,
        "machine": machine,
    }
    if plot is not None:
        report["plot"] = str(plot_curves(report, plot))
    return report


def format_table(report: dict[str, Any]) -> str:
    def rate(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    to_90 = report["steps_to_90"]
    verdict = "met" if report["targets_met"]["steps_to_90"] else "NOT met"
    lines = [
        f"{report['env']} ({report['reward']} reward), {report['demos']} demos, "
        f"UTD {report['utd_ratio']}, budget {report['budget_steps']} steps",
        f"{'steps to 90% (ours)':28} {to_90 if to_90 is not None else 'never':>10}  "
        f"target <= {report['targets']['steps_to_90']}: {verdict}",
        f"{'success at budget (ours)':28} {rate(report['success_at_budget']):>10}",
        f"{'success at budget (SB3 SAC)':28} {rate(report['sb3_success_at_budget']):>10}",
        f"{'wall time ours / SB3 (s)':28} {report['wall_seconds']:10.0f} / "
        f"{report['sb3_wall_seconds'] or 0:.0f}",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robolearn bench sample-efficiency",
        description=__doc__.split("\n\n")[0],
    )
    common.add_output_arguments(parser)
    parser.add_argument("--steps", type=common.positive_int, default=DEFAULT_STEPS, help="budget")
    parser.add_argument("--demos", type=common.positive_int, default=DEFAULT_DEMOS)
    parser.add_argument(
        "--utd", type=common.positive_int, default=DEFAULT_UTD, help="our critic steps per step"
    )
    parser.add_argument("--reward", choices=["sparse", "dense"], default="sparse")
    parser.add_argument("--eval-every", type=common.positive_int, default=DEFAULT_EVAL_EVERY)
    parser.add_argument("--eval-episodes", type=common.positive_int, default=DEFAULT_EVAL_EPISODES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=common.positive_int, default=1, help="torch threads")
    parser.add_argument("--no-sb3", action="store_true", help="skip the SB3 SAC peer")
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path("out/bench/sample_efficiency.png"),
        help="learning-curve PNG",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = run_benchmark(
        steps=args.steps,
        demos=args.demos,
        utd=args.utd,
        reward=args.reward,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        seed=args.seed,
        threads=args.threads,
        sb3=not args.no_sb3,
        progress=not args.no_progress,
        plot=args.plot,
    )
    common.emit_report(report, json_only=args.json, out=args.out, table=format_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
