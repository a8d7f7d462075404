"""`robolearn pearl report`: PEARL on twin task pairs, RRL vs plain Bradley-Terry.

For every (source task -> target task) pair and every flip rate of the source labels:

- *transfer accuracy*: transferred target labels (CPA) against the target's ground-truth
  preferences (strict pairs; the truth is the larger dense return);
- *reward accuracy* of RRL and BT models trained on the transferred labels, on fresh held-out
  target pairs, and the *Pearson correlation* of their per-step reward with the true dense
  reward over every step of the target dataset;
- for the flip rates in ``policy_flips``, the *success* of an advantage-weighted BC policy
  (`robolearn.preference.offline`) trained on the target dataset with the learned reward, against
  the same learner on the true dense reward.

Datasets are varied-quality twin recordings (`robolearn.preference.collect`); a "variant" target
is the same task recorded with other seeds. Results: ``report.json``, ``report.md`` and plots.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.data.store import EpisodeStore
from robolearn.preference.alignment import AlignmentConfig
from robolearn.preference.collect import collect_varied
from robolearn.preference.labeller import (
    ScriptedLabellerConfig,
    label_returns,
    random_pairs,
    scripted_labels,
)
from robolearn.preference.offline import AWBCConfig, evaluate_policy, train_awbc
from robolearn.preference.pipeline import TransferResult, transfer
from robolearn.preference.reward import (
    PreferenceBatchData,
    RewardModelConfig,
    preference_accuracy,
    train_reward_model,
)
from robolearn.preference.segments import SegmentData, sample_segments

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ReportProfile:
    """How much to run. ``quick`` is what the test runs; ``full`` gave README/BENCHMARKS figures."""

    task_pairs: list[tuple[str, str]]
    flips: list[float]
    policy_flips: list[float]
    episodes: int
    segments: int = 100
    pairs: int = 300
    test_pairs: int = 1000
    segment_length: int = 25
    reward_epochs: int = 100
    awbc: AWBCConfig = field(default_factory=AWBCConfig)
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    policy_eval_episodes: int = 10
    # RLPD policies (the training default) on the RRL reward of the transferred labels and on
    # one fitted to oracle labels (the target pairs' true preferences), same budget, at flip 0,
    # for these task pairs: the transfer's share of the oracle's success.
    rlpd_pairs: list[tuple[str, str]] = field(default_factory=list)
    rlpd_steps: int = 15_000
    rlpd_eval_episodes: int = 20
    rlpd_processes: int = 2  # the transferred- and oracle-label learners side by side
    seed: int = 0


PROFILES: dict[str, ReportProfile] = {
    "quick": ReportProfile(
        task_pairs=[("reach", "pick_cube")],
        flips=[0.0, 0.3],
        policy_flips=[0.3],
        episodes=5,
        segments=40,
        pairs=120,
        test_pairs=400,
        segment_length=20,
        reward_epochs=20,
        awbc=AWBCConfig(epochs=3),
        policy_eval_episodes=1,
        rlpd_pairs=[("reach", "pick_cube")],
        rlpd_steps=200,
        rlpd_eval_episodes=1,
    ),
    "full": ReportProfile(
        task_pairs=[
            ("reach", "pick_cube"),
            ("pick_cube", "reach"),
            ("pick_cube", "peg_insert"),
            ("peg_insert", "pick_cube"),
            ("reach", "reach*"),
            ("pick_cube", "pick_cube*"),
        ],
        flips=[0.0, 0.1, 0.2, 0.3],
        policy_flips=[0.0, 0.3],
        episodes=30,
        awbc=AWBCConfig(epochs=100, beta=0.2),
        rlpd_pairs=[("reach", "pick_cube"), ("pick_cube", "reach")],
    ),
    # Only the RLPD rows of ``full``: transferred vs oracle labels at flip 0, both directions
    # between reach and pick_cube (about 30 min on 2 cores).
    "rlpd": ReportProfile(
        task_pairs=[("reach", "pick_cube"), ("pick_cube", "reach")],
        flips=[0.0],
        policy_flips=[],
        episodes=30,
        rlpd_pairs=[("reach", "pick_cube"), ("pick_cube", "reach")],
    ),
}


def _dataset(root: Path, name: str, episodes: int, seed: int) -> Path:
    """The varied-quality dataset of ``name`` (``task`` or ``task*``, a variant: other seeds)."""
    task = name.rstrip("*")
    path = root / ("variant_" + task if name.endswith("*") else task)
    variant_seed = seed + (100_000 if name.endswith("*") else 0)
    if not (path / "zarr.json").is_file():
        collect_varied(task, path, episodes=episodes, seed=variant_seed, progress=False)
    return path


def strict_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Agreement of ``pred > 0.5`` with the strict (non-tie) labels of ``truth``."""
    strict = truth != 0.5
    return (
        float(np.mean((pred[strict] > 0.5) == (truth[strict] > 0.5)))
        if strict.any()
        else float("nan")
    )


def transfer_accuracy(
    source: str | Path,
    target: str | Path,
    config: AlignmentConfig | None = None,
    *,
    segments: int = 100,
    pairs: int = 300,
    segment_length: int = 25,
    flip: float = 0.0,
    seed: int = 0,
) -> tuple[float, TransferResult]:
    """CPA alone, as `run_report` runs it: scripted labels (``flip`` of them flipped) on
    ``pairs`` pairs of ``segments`` source segments, transferred to as many target pairs; the
    accuracy of the transferred labels against the target's true dense returns (used only
    here, after the transfer)."""
    rng = np.random.default_rng(seed)
    with EpisodeStore.open(source) as store:
        s_data = SegmentData(store, sample_segments(store, segments, segment_length, rng))
    s_pairs = random_pairs(len(s_data), pairs, rng)
    source_prefs = scripted_labels(
        s_data, s_pairs, ScriptedLabellerConfig(flip_rate=flip, seed=seed)
    )
    result = transfer(
        source, target, source_pairs=source_prefs, n_target_segments=segments,
        n_target_pairs=pairs, config=config, seed=seed, write=False,
    )  # fmt: skip
    rt = result.target_data.true_returns()
    tp = result.target_pairs
    _, truth = label_returns(rt[tp[:, 0]], rt[tp[:, 1]], ScriptedLabellerConfig())
    return strict_accuracy(result.labels.labels, truth), result


def run_report(
    profile: str | ReportProfile, out: str | Path, progress: bool = True
) -> dict[str, Any]:
    """Run the evaluation; writes ``out/report.json``, ``out/report.md``, ``out/*.png``."""
    import gymnasium as gym

    import robolearn.envs  # noqa: F401
    from robolearn.envs import ENV_IDS

    prof = PROFILES[profile] if isinstance(profile, str) else profile
    name = profile if isinstance(profile, str) else "custom"
    out = Path(out)
    data_root = out / "datasets"
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    policy_rows: list[dict[str, Any]] = []
    rlpd_rows: list[dict[str, Any]] = []
    true_policy: dict[str, tuple[float, float]] = {}
    rng = np.random.default_rng(prof.seed)
    for source_name, target_name in prof.task_pairs:
        source = _dataset(data_root, source_name, prof.episodes, prof.seed)
        target = _dataset(data_root, target_name, prof.episodes, prof.seed + 1)
        with EpisodeStore.open(source) as store:
            s_data = SegmentData(
                store, sample_segments(store, prof.segments, prof.segment_length, rng)
            )
        with EpisodeStore.open(target) as store:
            test = SegmentData(
                store, sample_segments(store, prof.segments, prof.segment_length, rng)
            )
            n = store.n_steps
            all_states = np.asarray(store.array("obs.state")[:n])
            all_actions = np.asarray(store.array("action")[:n])
            all_true = np.asarray(store.array("reward_dense")[:n])
        test_pairs = np.array(random_pairs(len(test), prof.test_pairs, rng))
        r_test = test.true_returns()
        _, test_truth = label_returns(
            r_test[test_pairs[:, 0]], r_test[test_pairs[:, 1]], ScriptedLabellerConfig()
        )
        s_pairs = random_pairs(len(s_data), prof.pairs, rng)
        for flip in prof.flips:
            t0 = time.perf_counter()
            labeller = ScriptedLabellerConfig(flip_rate=flip, seed=prof.seed)
            source_prefs = scripted_labels(s_data, s_pairs, labeller)
            result = transfer(
                source, target, source_pairs=source_prefs, n_target_segments=prof.segments,
                n_target_pairs=prof.pairs, config=prof.alignment, seed=prof.seed, write=False,
            )  # fmt: skip
            rt = result.target_data.true_returns()
            tp = result.target_pairs
            _, truth = label_returns(rt[tp[:, 0]], rt[tp[:, 1]], ScriptedLabellerConfig())
            row: dict[str, Any] = {
                "source": source_name,
                "target": target_name,
                "flip": flip,
                "transfer_accuracy": strict_accuracy(result.labels.labels, truth),
                "mean_confidence": float(result.labels.confidence.mean()),
            }
            batch = PreferenceBatchData(
                result.target_data.states,
                result.target_data.actions,
                tp,
                result.labels.labels.astype(np.float32),
                result.labels.confidence.astype(np.float32),
            )
            models = {}
            for kind in ("rrl", "bt"):
                model, _ = train_reward_model(
                    batch, RewardModelConfig(type=kind, epochs=prof.reward_epochs, seed=prof.seed)
                )
                models[kind] = model
                row[f"{kind}_accuracy"] = preference_accuracy(
                    model, test.states, test.actions, test_pairs, test_truth
                )
                row[f"{kind}_correlation"] = float(
                    np.corrcoef(model(all_states, all_actions), all_true)[0, 1]
                )
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            log.info("%s", row)
            if progress:
                print(
                    f"{source_name:>10} -> {target_name:<11} flip {flip:.1f}: transfer"
                    f" {row['transfer_accuracy']:.3f}, RRL {row['rrl_accuracy']:.3f}"
                    f" (r={row['rrl_correlation']:.2f}), BT {row['bt_accuracy']:.3f}"
                    f" (r={row['bt_correlation']:.2f})",
                    flush=True,
                )
            if flip == 0.0 and (source_name, target_name) in prof.rlpd_pairs:
                rlpd_rows.append(
                    _rlpd_vs_oracle(prof, source_name, target_name, target, result, truth,
                                    models["rrl"], out / "rlpd", progress)
                )  # fmt: skip
            if flip in prof.policy_flips:
                env = gym.make(ENV_IDS[target_name.rstrip("*")])
                try:
                    if target_name not in true_policy:
                        policy = train_awbc(target, None, prof.awbc)
                        true_policy[target_name] = evaluate_policy(
                            policy, env, prof.policy_eval_episodes
                        )
                    success, ret = true_policy[target_name]
                    prow = {"source": source_name, "target": target_name, "flip": flip,
                            "true_reward_success": success, "true_reward_return": ret}  # fmt: skip
                    for kind, model in models.items():
                        policy = train_awbc(target, model, prof.awbc)
                        success, ret = evaluate_policy(policy, env, prof.policy_eval_episodes)
                        prow[f"{kind}_success"], prow[f"{kind}_return"] = success, ret
                finally:
                    env.close()
                policy_rows.append(prow)
                if progress:
                    print(f"    policy success (AWBC): {prow}", flush=True)
    report = {
        "profile": name,
        "settings": {k: v for k, v in asdict(prof).items() if k != "awbc"}
        | {"awbc": asdict(prof.awbc)},
        "transfer": rows,
        "policy": policy_rows,
        "rlpd": rlpd_rows,
        "wall_seconds": time.perf_counter() - start,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(render_markdown(report))
    _plots(report, out)
    return report


def _rlpd_vs_oracle(
    prof: ReportProfile,
    source_name: str,
    target_name: str,
    target: Path,
    result: Any,
    truth: np.ndarray,
    transferred: Any,
    out: Path,
    progress: bool,
) -> dict[str, Any]:
    """RLPD on the transferred labels' RRL reward and on an oracle-label RRL reward (the same
    target pairs labelled by their true returns), same learner, budget and seed."""
    from robolearn.learn.config import LoopConfig, TrainConfig
    from robolearn.preference.pipeline import train_on_rewards

    task = target_name.rstrip("*")
    tp = result.target_pairs
    oracle_batch = PreferenceBatchData(
        result.target_data.states,
        result.target_data.actions,
        tp,
        truth.astype(np.float32),
        np.ones(len(tp), np.float32),
    )
    oracle, _ = train_reward_model(
        oracle_batch, RewardModelConfig(type="rrl", epochs=prof.reward_epochs, seed=prof.seed)
    )
    config = TrainConfig(
        # varied-quality prior data: no BC anchor of the online rows (as the demo's PEARL stage)
        agent=dataclasses.replace(TrainConfig().agent, bc_prior_steps=0),
        loop=LoopConfig(
            env_steps=prof.rlpd_steps,
            eval_every=0,
            eval_episodes=prof.rlpd_eval_episodes,
        ),
        seed=prof.seed,
    )
    row: dict[str, Any] = {"source": source_name, "target": target_name, "steps": prof.rlpd_steps}
    prefix = f"{source_name}_{task}"
    rewards = {
        name: model.save(out / f"{prefix}_{name}_reward.safetensors")
        for name, model in (("transferred", transferred), ("oracle", oracle))
    }
    trained = train_on_rewards(
        task, {f"{prefix}_{name}": path for name, path in rewards.items()}, dataset=target,
        config=config, out=out, processes=prof.rlpd_processes,
    )  # fmt: skip
    for name in rewards:
        row[f"{name}_success"] = trained[f"{prefix}_{name}"]["final_success_rate"]
        row[f"{name}_wall_s"] = trained[f"{prefix}_{name}"]["wall_seconds"]
    o = row["oracle_success"]
    row["success_ratio"] = row["transferred_success"] / o if o > 0 else math.nan
    if progress:
        print(f"    RLPD policy success, transferred vs oracle labels: {row}", flush=True)
    return row


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# PEARL report ({report['profile']} profile, {report['wall_seconds']:.0f} s)",
        "",
        "| source -> target | flip | transfer acc | RRL acc | BT acc | RRL r | BT r |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["transfer"]:
        lines.append(
            f"| {r['source']} -> {r['target']} | {r['flip']:.1f} | {r['transfer_accuracy']:.3f} |"
            f" {r['rrl_accuracy']:.3f} | {r['bt_accuracy']:.3f} | {r['rrl_correlation']:.2f} |"
            f" {r['bt_correlation']:.2f} |"
        )
    if report["policy"]:
        lines += [
            "",
            "Policy success rate / mean true dense return (advantage-weighted BC on the target"
            " dataset, trained on each reward):",
            "",
            "| source -> target | flip | true reward | RRL reward | BT reward |",
            "|---|---|---|---|---|",
        ]
        for p in report["policy"]:
            lines.append(
                f"| {p['source']} -> {p['target']} | {p['flip']:.1f} |"
                f" {p['true_reward_success']:.2f} / {p['true_reward_return']:.1f} |"
                f" {p['rrl_success']:.2f} / {p['rrl_return']:.1f} |"
                f" {p['bt_success']:.2f} / {p['bt_return']:.1f} |"
            )
    if report.get("rlpd"):
        lines += [
            "",
            "RLPD policy success (the training default, same budget) on the RRL reward of the"
            " transferred labels and of oracle labels (the same pairs' true preferences):",
            "",
            "| source -> target | env steps | transferred | oracle | ratio |",
            "|---|---|---|---|---|",
        ]
        for r in report["rlpd"]:
            lines.append(
                f"| {r['source']} -> {r['target']} | {r['steps']} |"
                f" {r['transferred_success']:.2f} | {r['oracle_success']:.2f} |"
                f" {r['success_ratio']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _plots(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    pairs = sorted({(r["source"], r["target"]) for r in report["transfer"]})
    for pair in pairs:
        rs = [r for r in report["transfer"] if (r["source"], r["target"]) == pair]
        flips = [r["flip"] for r in rs]
        label = f"{pair[0]}->{pair[1]}"
        axes[0].plot(flips, [r["transfer_accuracy"] for r in rs], "o-", label=label)
        (line,) = axes[1].plot(flips, [r["rrl_accuracy"] for r in rs], "o-", label=f"{label} RRL")
        axes[1].plot(
            flips,
            [r["bt_accuracy"] for r in rs],
            "x--",
            color=line.get_color(),
            label=f"{label} BT",
        )
        (line,) = axes[2].plot(
            flips, [r["rrl_correlation"] for r in rs], "o-", label=f"{label} RRL"
        )
        axes[2].plot(flips, [r["bt_correlation"] for r in rs], "x--", color=line.get_color())
    axes[0].set(
        title="transferred-label accuracy", xlabel="source label flip rate", ylim=(0.0, 1.0)
    )
    axes[1].set(
        title="reward model accuracy (held out)", xlabel="source label flip rate", ylim=(0.0, 1.0)
    )
    axes[2].set(title="learned vs true reward (Pearson r)", xlabel="source label flip rate")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "pearl_report.png", dpi=100)
    plt.close(fig)
