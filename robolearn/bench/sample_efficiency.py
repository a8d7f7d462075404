"""Sample efficiency: environment steps until a learner with 20 scripted demos reaches 90 %
success on a twin task (``pick_cube`` by default; state-based, sparse reward), over several
seeds, for robolearn's default learner, RLPD as published and Stable-Baselines3 SAC (no demos)
in the same run.

Every learner sees the same env and the same evaluation: the deterministic policy over
``--eval-episodes`` episodes on fixed seeds (`robolearn.learn.train.evaluate`) every
``--eval-every`` steps. ``steps_to_90`` is the first evaluation step with success >= 0.9 (null if
never within the budget); the headline figure is its median over seeds (a seed that never gets
there counts as infinitely late). Learners:

- ``default``: `robolearn.learn.config.AGENT_PRESETS["default"]`, what `robolearn train serl`,
  the learner node and the demo run;
- ``rlpd``: the paper's setting (UTD 20, 10 critics). At that UTD a CPU update costs about
  35 times SB3's, so ``--time-cap`` stops it at the CPU seconds the default learner needs for
  the whole budget: equal compute whatever else runs, and the steps it reached are reported;
- ``sb3``: SB3 SAC with its defaults (2 critics, UTD 1), no demos, on the ``state`` vector.

Jobs (learner x seed) run in ``--jobs`` worker processes with one torch thread each. The report
holds per-seed curves, wall and CPU seconds, the medians, and a PNG of the curves.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.bench import common

log = logging.getLogger(__name__)

TASK = "pick_cube"
DEFAULT_STEPS = 15_000
DEFAULT_DEMOS = 20
DEFAULT_EVAL_EVERY = 1_000
DEFAULT_EVAL_EPISODES = 20
DEMO_SEED = 10_000
LEARNERS = ("default", "rlpd", "sb3")
TARGETS = {"median_steps_to_90": 15_000, "wall_seconds": 1_200.0}
SUCCESS_LEVEL = 0.9


def _env_config(task: str, action_mode: str | None) -> Any:
    from robolearn.learn.config import EnvConfig

    env = EnvConfig(task=task)
    if action_mode is not None:
        env.action_mode = action_mode
    return env


def run_rlpd(
    *,
    preset: str,
    task: str,
    steps: int,
    demos: int,
    seed: int,
    eval_every: int,
    eval_episodes: int,
    time_cap: float | None = None,
    action_mode: str | None = None,
    overrides: Sequence[str] = (),
    progress: bool = False,
) -> dict[str, Any]:
    """One seed of an RLPD preset (the training tree of `robolearn train serl`)."""
    import torch

    from robolearn.config import parse_override, set_key, to_dict, validate
    from robolearn.learn.config import train_config
    from robolearn.learn.train import collect_expert_demos, train_rlpd

    torch.set_num_threads(1)
    config = train_config(preset)
    config.env = _env_config(task, action_mode)
    config.seed = seed
    for item in overrides:
        set_key(config, *parse_override(item))
    validate(config)
    env, eval_env = config.env.make(), config.env.make()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    demo_buffer = collect_expert_demos(env, demos, seed=DEMO_SEED)

    def report(step: int, info: dict[str, Any]) -> None:
        if progress:
            print(
                f"[{preset} seed {seed}] step {step}: success {info['eval']['success_rate']:.2f},"
                f" {info['eval']['wall_seconds']:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    result = train_rlpd(
        env,
        demos=demo_buffer,
        total_steps=steps,
        config=config.effective_agent(),
        eval_env=eval_env,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        learning_starts=config.loop.learning_starts,
        seed=seed,
        callback=report,
        device=config.device,
        cpu_limit_s=time_cap,
    )
    env.close()
    eval_env.close()
    return {
        "curve": [(p.step, p.success_rate) for p in result.curve],
        "env_steps": result.env_steps,
        "updates": result.updates,
        "time_limited": result.time_limited,
        "demo_transitions": len(demo_buffer),
        "wall_seconds": time.perf_counter() - wall0,
        "cpu_seconds": time.process_time() - cpu0,
        "config": to_dict(config),
    }


def run_sb3(
    *,
    task: str,
    steps: int,
    seed: int,
    eval_every: int,
    eval_episodes: int,
    action_mode: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """One seed of SB3 SAC (its defaults, no demos) on the same env and evaluation."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from robolearn.learn.train import EVAL_SEED_OFFSET

    torch.set_num_threads(1)

    class StateOnly(gym.ObservationWrapper):
        """SB3's MlpPolicy takes a Box: the ``state`` vector of the dict observation."""

        def __init__(self, env: gym.Env) -> None:
            super().__init__(env)
            self.observation_space = env.observation_space["state"]

        def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
            return observation["state"]

    env_config = _env_config(task, action_mode)
    env, eval_env = StateOnly(env_config.make()), StateOnly(env_config.make())
    curve: list[tuple[int, float]] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()

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
            print(f"[sb3 seed {seed}] step {step}: success {curve[-1][1]:.2f}", file=sys.stderr)

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
    return {
        "curve": curve,
        "env_steps": steps,
        "updates": int(model.num_timesteps - model.learning_starts),
        "time_limited": False,
        "wall_seconds": time.perf_counter() - wall0,
        "cpu_seconds": time.process_time() - cpu0,
    }


def _job(spec: dict[str, Any]) -> dict[str, Any]:
    runs_dir = spec.pop("runs_dir", None)
    if runs_dir is not None:
        path = Path(runs_dir) / f"{spec['learner']}_seed{spec['seed']}.json"
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("spec") == _comparable(spec):
                return saved["result"]
            log.warning("%s was run with another setting; running it again", path)
        result = json.loads(json.dumps(_run_job(dict(spec))))  # as a reuse would read it
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"spec": _comparable(spec), "result": result}))
        tmp.replace(path)
        return result
    return _run_job(spec)


def _comparable(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a job's spec that decides its result (progress printing does not)."""
    return json.loads(json.dumps({k: v for k, v in spec.items() if k != "progress"}))


def _run_job(spec: dict[str, Any]) -> dict[str, Any]:
    learner = spec.pop("learner")
    if learner == "sb3":
        spec.pop("demos", None)
        spec.pop("time_cap", None)
        spec.pop("overrides", None)
        out = run_sb3(**spec)
    else:
        out = run_rlpd(preset=learner, **spec)
    return {"learner": learner, "seed": spec["seed"], **out}


def steps_to(curve: Sequence[tuple[int, float]], level: float = SUCCESS_LEVEL) -> int | None:
    """The first evaluation step whose success rate is at least ``level`` (None if none)."""
    for step, rate in curve:
        if not math.isnan(rate) and rate >= level:
            return int(step)
    return None


def median_steps(values: Sequence[int | None]) -> float | None:
    """The median of steps-to-level over seeds, a seed that never got there being infinitely
    late (None when at least half of the seeds never got there)."""
    finite = [math.inf if v is None else float(v) for v in values]
    if not finite:
        return None
    m = float(np.median(finite))
    return None if math.isinf(m) else m


def summarise(runs: list[dict[str, Any]], learner: str) -> dict[str, Any]:
    """Per-seed table and medians of one learner's runs."""
    mine = sorted((r for r in runs if r["learner"] == learner), key=lambda r: r["seed"])
    per_seed = [
        {
            "seed": r["seed"],
            "steps_to_90": steps_to(r["curve"]),
            "success_at_end": r["curve"][-1][1],
            "env_steps": r["env_steps"],
            "time_limited": r["time_limited"],
            "wall_seconds": round(r["wall_seconds"], 1),
            "cpu_seconds": round(r["cpu_seconds"], 1),
        }
        for r in mine
    ]
    grid = sorted({s for r in mine for s, _ in r["curve"]})
    median_curve = []
    for step in grid:
        rates = [dict(r["curve"]).get(step) for r in mine]
        rates = [x for x in rates if x is not None and not math.isnan(x)]
        if len(rates) == len(mine):  # every seed evaluated there (time-capped ones stop early)
            median_curve.append((step, float(np.median(rates))))
    return {
        "seeds": len(mine),
        "per_seed": per_seed,
        "median_steps_to_90": median_steps([p["steps_to_90"] for p in per_seed]),
        "median_success_at_end": float(np.median([p["success_at_end"] for p in per_seed])),
        "median_wall_seconds": float(np.median([p["wall_seconds"] for p in per_seed])),
        "median_cpu_seconds": float(np.median([p["cpu_seconds"] for p in per_seed])),
        "median_curve": median_curve,
        "curves": {str(r["seed"]): r["curve"] for r in mine},
        "config": mine[0].get("config") if mine else None,
    }


def plot_curves(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = {"default": "tab:blue", "rlpd": "tab:orange", "sb3": "tab:green"}
    labels = {
        "default": f"robolearn default + {report['demos']} demos",
        "rlpd": f"RLPD (paper) + {report['demos']} demos, equal wall clock",
        "sb3": "SB3 SAC, no demos",
    }
    for name, summary in report["learners"].items():
        color = colors.get(name, "grey")
        for curve in summary["curves"].values():
            if curve:
                x, y = zip(*curve, strict=True)
                ax.plot(x, y, color=color, alpha=0.25, linewidth=1)
        if summary["median_curve"]:
            x, y = zip(*summary["median_curve"], strict=True)
            ax.plot(x, y, color=color, linewidth=2.5, marker="o", markersize=3,
                    label=f"{labels.get(name, name)} (median of {summary['seeds']})")  # fmt: skip
    ax.axhline(SUCCESS_LEVEL, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"success rate ({report['eval_episodes']} episodes)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{report['env']}, sparse reward, thin lines: seeds")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_benchmark(
    *,
    task: str = TASK,
    steps: int = DEFAULT_STEPS,
    demos: int = DEFAULT_DEMOS,
    seeds: int = 5,
    rlpd_seeds: int | None = None,
    learners: Sequence[str] = LEARNERS,
    eval_every: int = DEFAULT_EVAL_EVERY,
    eval_episodes: int = DEFAULT_EVAL_EPISODES,
    jobs: int = 1,
    time_cap: float | None = None,
    action_mode: str | None = None,
    overrides: Sequence[str] = (),
    progress: bool = True,
    plot: Path | None = None,
    runs_dir: Path | None = None,
) -> dict[str, Any]:
    """Run every (learner, seed); ``time_cap`` (CPU seconds) stops the ``rlpd`` runs, by default
    at the median CPU seconds of the ``default`` runs (equal compute). ``overrides`` are dotted
    ``--set`` items applied to every RLPD learner's tree; ``rlpd_seeds`` runs the paper's
    setting on fewer seeds (each costs the default's whole CPU budget). With ``runs_dir`` each
    finished run is saved there as it ends and a rerun with the same settings reuses it (an
    interrupted benchmark resumes)."""
    unknown = sorted(set(learners) - set(LEARNERS))
    if unknown:
        raise ValueError(f"unknown learner(s) {unknown}; known: {', '.join(LEARNERS)}")
    machine = common.machine_info(("torch", "stable-baselines3", "mujoco", "numpy"))
    base = {
        "task": task,
        "steps": steps,
        "demos": demos,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "action_mode": action_mode,
        "overrides": list(overrides),
        "progress": progress,
        "runs_dir": None if runs_dir is None else str(runs_dir),
    }

    def specs(names: Sequence[str], cap: float | None) -> list[dict[str, Any]]:
        out = []
        for name in names:
            n = rlpd_seeds if name == "rlpd" and rlpd_seeds is not None else seeds
            for seed in range(n):
                cap_here = cap if name == "rlpd" else None
                out.append({**base, "learner": name, "seed": seed, "time_cap": cap_here})
        return out

    runs: list[dict[str, Any]] = []
    first = [n for n in learners if n != "rlpd"]
    runs += _run_all(specs(first, None), jobs)
    if "rlpd" in learners:
        cap = time_cap
        if cap is None and "default" in learners:
            cap = float(np.median([r["cpu_seconds"] for r in runs if r["learner"] == "default"]))
        runs += _run_all(specs(["rlpd"], cap), jobs)
    else:
        cap = time_cap
    summaries = {name: summarise(runs, name) for name in learners}
    default = summaries.get("default")
    met = {}
    if default is not None:
        m = default["median_steps_to_90"]
        met["median_steps_to_90"] = m is not None and m <= TARGETS["median_steps_to_90"]
        met["wall_seconds"] = default["median_wall_seconds"] <= TARGETS["wall_seconds"]
    report: dict[str, Any] = {
        "benchmark": "sample_efficiency",
        "env": _env_config(task, action_mode).name,
        "task": task,
        "reward": "sparse",
        "budget_steps": steps,
        "demos": demos,
        "seeds": seeds,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "jobs": jobs,
        "rlpd_cpu_cap_s": cap if "rlpd" in learners else None,
        "learners": summaries,
        "median_steps_to_90": default["median_steps_to_90"] if default else None,
        "targets": dict(TARGETS),
        "targets_met": met,
        "machine": machine,
    }
    if plot is not None:
        report["plot"] = str(plot_curves(report, plot))
    return report


def _run_all(specs: list[dict[str, Any]], jobs: int) -> list[dict[str, Any]]:
    if jobs <= 1:
        return [_job(dict(s)) for s in specs]
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch state
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        return list(pool.map(_job, [dict(s) for s in specs]))


def format_table(report: dict[str, Any]) -> str:
    def fmt(x: Any) -> str:
        if x is None:
            return "never"
        return f"{x:.2f}" if isinstance(x, float) and x <= 1.0 else f"{x:.0f}"

    lines = [
        f"{report['env']} (sparse), {report['demos']} demos, budget {report['budget_steps']} "
        f"steps, {report['seeds']} seeds, eval {report['eval_episodes']} episodes every "
        f"{report['eval_every']}",
        f"{'learner':10} {'seed':>4} {'steps to 90%':>13} {'success at end':>15} "
        f"{'env steps':>10} {'wall s':>8} {'cpu s':>8}",
    ]
    for name, s in report["learners"].items():
        for p in s["per_seed"]:
            lines.append(
                f"{name:10} {p['seed']:>4} {fmt(p['steps_to_90']):>13} "
                f"{p['success_at_end']:>15.2f} {p['env_steps']:>10} "
                f"{p['wall_seconds']:>8.0f} {p['cpu_seconds']:>8.0f}"
            )
        lines.append(
            f"{name:10} {'med':>4} {fmt(s['median_steps_to_90']):>13} "
            f"{s['median_success_at_end']:>15.2f} {'':>10} {s['median_wall_seconds']:>8.0f} "
            f"{s['median_cpu_seconds']:>8.0f}"
        )
    met = report["targets_met"]
    if met:
        lines.append(
            f"targets: median steps to 90% <= {report['targets']['median_steps_to_90']}: "
            f"{'met' if met['median_steps_to_90'] else 'NOT met'}; median wall <= "
            f"{report['targets']['wall_seconds']:.0f} s: "
            f"{'met' if met['wall_seconds'] else 'NOT met'}"
        )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The per-seed table and each learner's median curve as Markdown (for BENCHMARKS.md)."""

    def fmt(x: Any) -> str:
        return "never" if x is None else f"{x:.0f}"

    lines = [
        "| learner | seed | steps to 90 % | success at end | env steps | wall s | CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in report["learners"].items():
        for p in s["per_seed"]:
            capped = " (time cap)" if p["time_limited"] else ""
            lines.append(
                f"| {name} | {p['seed']} | {fmt(p['steps_to_90'])} | {p['success_at_end']:.2f} |"
                f" {p['env_steps']}{capped} | {p['wall_seconds']:.0f} | {p['cpu_seconds']:.0f} |"
            )
        lines.append(
            f"| **{name}** | median | **{fmt(s['median_steps_to_90'])}** |"
            f" **{s['median_success_at_end']:.2f}** | | {s['median_wall_seconds']:.0f} |"
            f" {s['median_cpu_seconds']:.0f} |"
        )
    lines += ["", "Median success over seeds at each evaluation:", ""]
    for name, s in report["learners"].items():
        curve = ", ".join(f"{step // 1000}k {rate:.2f}" for step, rate in s["median_curve"])
        lines.append(f"- {name}: {curve}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robolearn bench sample-efficiency", description=__doc__.split("\n\n")[0]
    )
    common.add_output_arguments(parser)
    parser.add_argument("--task", default=TASK, choices=["reach", "pick_cube", "peg_insert"])
    parser.add_argument("--steps", type=common.positive_int, default=DEFAULT_STEPS, help="budget")
    parser.add_argument("--demos", type=common.positive_int, default=DEFAULT_DEMOS)
    parser.add_argument("--seeds", type=common.positive_int, default=5)
    parser.add_argument(
        "--rlpd-seeds", type=common.positive_int, default=None,
        help="seeds of the paper's RLPD (default: --seeds)",
    )  # fmt: skip
    parser.add_argument(
        "--learners", default=",".join(LEARNERS), help=f"comma separated: {', '.join(LEARNERS)}"
    )
    parser.add_argument("--eval-every", type=common.positive_int, default=DEFAULT_EVAL_EVERY)
    parser.add_argument("--eval-episodes", type=common.positive_int, default=DEFAULT_EVAL_EPISODES)
    parser.add_argument(
        "--jobs", type=common.positive_int, default=min(2, os.cpu_count() or 1),
        help="worker processes (one torch thread each)",
    )  # fmt: skip
    parser.add_argument(
        "--time-cap", type=common.positive_float, default=None,
        help="CPU seconds per rlpd run (default: the default learner's median CPU seconds)",
    )  # fmt: skip
    parser.add_argument("--action-mode", default=None, help="env.action_mode for every learner")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a training-config override for the RLPD learners, e.g. agent.utd_ratio=2",
    )  # fmt: skip
    parser.add_argument(
        "--plot", type=Path, default=Path("out/bench/sample_efficiency.png"), help="curves PNG"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--runs", type=Path, default=None, metavar="DIR",
        help="save each finished run in DIR as it ends; a rerun reuses those with equal settings",
    )  # fmt: skip
    parser.add_argument(
        "--markdown", type=Path, default=None, help="also write the per-seed table as Markdown"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = run_benchmark(
        task=args.task,
        steps=args.steps,
        demos=args.demos,
        seeds=args.seeds,
        rlpd_seeds=args.rlpd_seeds,
        learners=[x.strip() for x in args.learners.split(",") if x.strip()],
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        jobs=args.jobs,
        time_cap=args.time_cap,
        action_mode=args.action_mode,
        overrides=args.set,
        progress=not args.no_progress,
        plot=args.plot,
        runs_dir=args.runs,
    )
    common.emit_report(report, json_only=args.json, out=args.out, table=format_table)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
