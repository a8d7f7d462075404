"""The demo's stages other than SERL (`robolearn.demo.serl`): each is the library call a user's
command makes (named in its docstring), writes under its own folder, and returns a JSON-ready
result for the report."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.demo.config import DemoConfig

log = logging.getLogger(__name__)


def _fresh(folder: Path) -> Path:
    """An empty ``folder``: what a crashed earlier attempt of the stage left is removed."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _make_env(task: str, **kwargs: Any) -> Any:
    import gymnasium as gym

    import robolearn.envs  # noqa: F401 - registers the ids
    from robolearn.envs import ENV_IDS

    return gym.make(ENV_IDS[task], **kwargs)


# --- 1. record -------------------------------------------------------------------------------
def record_demos(config: DemoConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """`robolearn up sim --expert --record DIR`: robot bridge on the twin, the scripted teleop
    node and the recorder node in one ROS 2 graph, episodes into a zarr dataset."""
    from robolearn.data.store import EpisodeStore
    from robolearn.ros.compose import run_sim

    dataset = _fresh(out) / config.task
    rc = config.record
    result = run_sim(
        config.task,
        episodes=rc.episodes,
        seed=config.seed,
        real_time_factor=rc.real_time_factor,
        record=str(dataset),
        progress=progress,
    )
    if result.recorded != rc.episodes:
        raise RuntimeError(
            f"the recorder committed {result.recorded} of {rc.episodes} episodes into {dataset}"
        )
    with EpisodeStore.open(dataset) as store:
        steps = int(store.n_steps)
    return {
        "dataset": str(dataset),
        "episodes": result.episodes,
        "successes": result.successes,
        "steps": steps,
        "wall_s": result.wall_seconds,
        "command": (
            f"robolearn up sim --task {config.task} --expert --episodes {rc.episodes}"
            f" --real-time-factor {rc.real_time_factor:g} --record {dataset}"
        ),
    }


# --- 3. certify ------------------------------------------------------------------------------
def certify_bc(
    config: DemoConfig, dataset: Path, out: Path, serl_checkpoint: str | None, progress: bool = True
) -> dict[str, Any]:
    """`robolearn certify train-bc`, `certify smoothing --write`, `certify gate`: a Lipschitz
    BC policy on the recorded demos, its certificate, and the gate's verdicts on the franka
    backend for it and for the (uncertified) SERL policy."""
    import torch

    from robolearn.certify.artifact import create_certificate
    from robolearn.certify.bc import BCConfig, dataset_demos, train_bc
    from robolearn.certify.bounds import certify_lipschitz
    from robolearn.certify.gate import CertificateRefused, CertificationConfig, require_certificate
    from robolearn.certify.policy import load_policy, save_bc_policy
    from robolearn.certify.smoothing import certify_smoothing, plot_smoothing

    cc = config.certify
    _fresh(out)
    t0 = time.monotonic()
    obs, actions = dataset_demos(dataset, config.task)
    bc = BCConfig(
        lipschitz=cc.lipschitz, hidden_dims=cc.hidden_dims, steps=cc.steps, seed=config.seed
    )
    net, info = train_bc(obs, actions, bc, progress=progress)
    policy_path = out / f"{config.task}_bc_L{cc.lipschitz:g}.safetensors"
    save_bc_policy(net, policy_path, task=config.task, dataset=str(dataset), **info)
    bound = certify_lipschitz(net, torch.as_tensor(obs[:256]), seed=config.seed)
    budgets = [float(b) for b in np.linspace(0.0, cc.smoothing_budget, cc.smoothing_points)]
    env = _make_env(config.task)
    try:
        smoothing = certify_smoothing(
            load_policy(policy_path),
            env,
            sigma=cc.smoothing_sigma,
            budgets=budgets,
            episodes=cc.smoothing_episodes,
            alpha=round(1.0 - cc.confidence, 12),
            seed=config.seed,
        )
    finally:
        env.close()
    smoothing_png = out / "smoothing.png"
    plot_smoothing(
        smoothing, str(smoothing_png), title=f"{config.task}: sigma={cc.smoothing_sigma:g}"
    )
    cert = create_certificate(
        policy_path,
        epsilon=cc.epsilon,
        empirical_lower=bound.empirical_lower,
        smoothing=smoothing.as_dict(),
        task=config.task,
        dataset=str(dataset),
    )
    gate_config = CertificationConfig(max_lipschitz=cc.lipschitz)
    gate = {}
    for name, path in (("certified_bc", str(policy_path)), ("serl", serl_checkpoint)):
        if path is None:
            continue
        try:
            accepted = require_certificate(path, "franka", gate_config)
            gate[name] = {
                "accepted": True,
                "reason": f"certified L <= {accepted['lipschitz']['certified_upper']:.4g}",
            }
        except CertificateRefused as err:
            gate[name] = {"accepted": False, "reason": f"{err.reason}: {err}"}
    return {
        "policy": str(policy_path),
        "certificate": cert,
        "bc": {"transitions": len(obs), **{k: v for k, v in info.items() if _scalar(v)}},
        "bound": bound.as_dict(),
        "smoothing_plot": str(smoothing_png),
        "smoothing_table": smoothing.table(),
        "gate": gate,
        "max_lipschitz": cc.lipschitz,
        "wall_s": time.monotonic() - t0,
        "commands": [
            f"robolearn certify train-bc --task {config.task} --dataset {dataset}"
            f" --lipschitz {cc.lipschitz:g} --out {policy_path}",
            f"robolearn certify smoothing --policy {policy_path} --sigma {cc.smoothing_sigma:g}"
            f" --budget {cc.smoothing_budget:g} --episodes {cc.smoothing_episodes} --write",
            f"robolearn certify gate --policy {policy_path} --backend franka"
            f" --max-lipschitz {cc.lipschitz:g}",
        ],
    }


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float | str | bool)


# --- 4. PEARL --------------------------------------------------------------------------------
def pearl_transfer(config: DemoConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """`robolearn pearl collect / label / transfer / reward / train`: source preferences
    transferred to the demo's task by CPA, an RRL reward on them, RLPD on that reward."""
    from robolearn.data.store import EpisodeStore
    from robolearn.learn.config import EnvConfig, LoopConfig, TrainConfig
    from robolearn.preference.collect import collect_varied
    from robolearn.preference.evaluation import strict_accuracy
    from robolearn.preference.labeller import ScriptedLabellerConfig, label_returns
    from robolearn.preference.pipeline import (
        fit_reward,
        label_dataset,
        train_on_rewards,
        transfer,
    )
    from robolearn.preference.reward import RewardModelConfig

    pc = config.pearl
    _fresh(out)
    t0 = time.monotonic()
    source = collect_varied(
        pc.source, out / "data" / pc.source, episodes=pc.episodes, seed=config.seed,
        progress=progress,
    )  # fmt: skip
    target = collect_varied(
        config.task, out / "data" / config.task, episodes=pc.episodes, seed=config.seed + 1,
        progress=progress,
    )  # fmt: skip
    label_dataset(
        source, n_segments=pc.segments, n_pairs=pc.source_pairs,
        segment_length=pc.segment_length, name="scripted", seed=config.seed,
    )  # fmt: skip
    moved = transfer(
        source, target, source_name="scripted", n_target_segments=pc.segments,
        n_target_pairs=pc.target_pairs, seed=config.seed,
    )  # fmt: skip
    returns = moved.target_data.true_returns()
    pairs = moved.target_pairs
    _, truth = label_returns(returns[pairs[:, 0]], returns[pairs[:, 1]], ScriptedLabellerConfig())
    transfer_accuracy = strict_accuracy(moved.labels.labels, truth)
    reward_path = out / "reward.safetensors"
    reward = fit_reward(
        target,
        "transferred",
        RewardModelConfig(epochs=pc.reward_epochs, seed=config.seed),
        out=reward_path,
        progress=progress,
    )
    with EpisodeStore.open(target) as store:
        n = store.n_steps
        states = np.asarray(store.array("obs.state")[:n])
        acts = np.asarray(store.array("action")[:n])
        dense = np.asarray(store.array("reward_dense")[:n])
    correlation = float(np.corrcoef(reward(states, acts), dense)[0, 1])

    train = TrainConfig(
        env=EnvConfig(task=config.task, action_mode=pc.action_mode),
        agent=pc.agent,
        loop=LoopConfig(
            env_steps=pc.rlpd_steps, eval_every=pc.eval_every, eval_episodes=pc.eval_episodes
        ),
        seed=config.seed,
    )

    rewards = {"policy": reward_path}
    if pc.oracle:
        # The same learner and budget on a reward fitted to the target's true preferences:
        # what the transfer's labels are worth against perfect ones.
        label_dataset(
            target, n_segments=pc.segments, n_pairs=pc.target_pairs,
            segment_length=pc.segment_length, name="oracle", seed=config.seed,
        )  # fmt: skip
        fit_reward(
            target,
            "oracle",
            RewardModelConfig(epochs=pc.reward_epochs, seed=config.seed),
            out=out / "oracle_reward.safetensors",
            progress=progress,
        )
        rewards["oracle_policy"] = out / "oracle_reward.safetensors"
    results = train_on_rewards(
        config.task, rewards, dataset=target, config=train, out=out, processes=pc.processes,
        progress=progress,
    )  # fmt: skip
    result = results["policy"]
    oracle: dict[str, Any] | None = None
    if pc.oracle:
        pearl_success = result["final_success_rate"]
        oracle_success = results["oracle_policy"]["final_success_rate"]
        oracle = {
            "reward": str(out / "oracle_reward.safetensors"),
            "policy": str(out / "oracle_policy.safetensors"),
            "rlpd": results["oracle_policy"],
            "success": oracle_success,
            # the transfer's share of the oracle's success (NaN: the oracle did not succeed)
            "success_ratio": pearl_success / oracle_success if oracle_success > 0 else math.nan,
        }
    policy_path = out / "policy.safetensors"
    curve = out / "logs" / "policy" / "learning_curve.png"
    return {
        "source": pc.source,
        "target": config.task,
        "source_dataset": str(source),
        "target_dataset": str(target),
        "source_pairs": pc.source_pairs,
        "target_pairs": len(moved.pairs),
        "transfer_accuracy": transfer_accuracy,
        "mean_confidence": float(moved.labels.confidence.mean()),
        "reward": str(reward_path),
        "reward_correlation": correlation,
        "policy": str(policy_path),
        "rlpd": result,
        "oracle": oracle,
        "learning_curve": str(curve) if curve.is_file() else None,
        "wall_s": time.monotonic() - t0,
        "commands": [
            f"robolearn pearl collect --task {pc.source} --episodes {pc.episodes} --out {source}",
            f"robolearn pearl collect --task {config.task} --episodes {pc.episodes} --out {target}",
            f"robolearn pearl label --dataset {source} --pairs {pc.source_pairs} --name scripted",
            f"robolearn pearl transfer --source {source} --target {target} --source-prefs scripted",
            f"robolearn pearl reward --dataset {target} --prefs transferred --out {reward_path}",
            f"robolearn pearl train --task {config.task} --reward {reward_path} --learner rlpd"
            f" --dataset {target} --steps {pc.rlpd_steps}",
        ],
    }


# --- 5. arena --------------------------------------------------------------------------------
def arena_evaluation(
    config: DemoConfig, policies: dict[str, str], out: Path, progress: bool = True
) -> dict[str, Any]:
    """`robolearn arena run` + `arena report`: every policy over the perturbation suite,
    ranked by Bradley-Terry with bootstrap intervals. ``policies``: name -> spec."""
    from robolearn.arena.report import write_report
    from robolearn.arena.runner import ArenaConfig, run_arena

    ac = config.arena
    _fresh(out)
    entries = [f"{name}={spec}" for name, spec in policies.items()]
    arena = ArenaConfig(
        task=config.task, policies=entries, suite=ac.suite, seeds=ac.seeds, videos=ac.videos,
        suite_seed=config.seed,
    )  # fmt: skip
    summary = run_arena(arena, out, workers=ac.workers, progress=progress)
    report = write_report(out, bootstrap=ac.bootstrap)
    result = json.loads((out / "summary.json").read_text())
    return {
        "folder": str(out),
        "report": str(report),
        "policies": policies,
        "episodes": summary.planned,
        "bootstrap": ac.bootstrap,
        "wall_s": summary.wall_s,
        "summary": result,
        "command": (
            f"robolearn arena run --task {config.task} --suite {ac.suite} --seeds {ac.seeds}"
            f" --policies {' '.join(entries)} --out {out} && robolearn arena report --out {out}"
        ),
    }
