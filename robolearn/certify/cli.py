"""`robolearn certify ...`: Lipschitz-constrained BC, bounds, smoothing certificates, the gate.

robolearn certify train-bc --task pick_cube --lipschitz 20 --out out/certify/bc_L20.safetensors
robolearn certify bound --policy out/certify/bc_L20.safetensors --write
robolearn certify smoothing --policy P --sigma 0.01 --budget 0.05 --episodes 100
robolearn certify verify --policy P
robolearn certify report --task pick_cube --profile quick
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

TASKS = ("reach", "pick_cube", "peg_insert")


def _single_thread() -> None:
    import torch

    # Small MLPs and one env: a second intra-op thread only contends with the simulator.
    torch.set_num_threads(1)


def _task_of(args: argparse.Namespace, policy: Any) -> str:
    task = getattr(args, "task", None) or policy.metadata.get("task")
    if task not in TASKS:
        raise SystemExit(
            f"robolearn certify: pass --task ({', '.join(TASKS)}); the checkpoint does not name one"
        )
    return task


def _make_env(task: str, **kwargs: Any) -> Any:
    import gymnasium as gym

    import robolearn.envs  # noqa: F401
    from robolearn.envs import ENV_IDS

    return gym.make(ENV_IDS[task], **kwargs)


def _cmd_train_bc(args: argparse.Namespace) -> int:
    _single_thread()
    import torch

    from robolearn.certify.artifact import create_certificate
    from robolearn.certify.bc import BCConfig, dataset_demos, expert_demos, train_bc
    from robolearn.certify.bounds import certify_lipschitz
    from robolearn.certify.closed_loop import rollouts
    from robolearn.certify.policy import CertifiablePolicy, save_bc_policy

    if args.dataset:
        obs, actions = dataset_demos(args.dataset, args.task)
        dataset = str(args.dataset)
    else:
        obs, actions = expert_demos(
            args.task, episodes=args.demos, seed=args.seed, action_noise=args.action_noise
        )
        dataset = f"scripted expert, {args.demos} episodes, action noise {args.action_noise}"
    cfg = BCConfig(
        lipschitz=args.lipschitz,
        hidden_dims=tuple(args.hidden),
        layer=args.layer,
        activation=args.activation,
        steps=args.steps,
        seed=args.seed,
    )
    net, info = train_bc(obs, actions, cfg, progress=True)
    out = args.out or Path("out/certify") / f"{args.task}_bc_L{args.lipschitz:g}.safetensors"
    save_bc_policy(net, out, task=args.task, dataset=dataset, **info)
    report = certify_lipschitz(net, torch.as_tensor(obs[:256]), seed=args.seed)
    cert = create_certificate(
        out,
        epsilon=args.epsilon,
        empirical_lower=report.empirical_lower,
        task=args.task,
        dataset=dataset,
    )
    print(
        f"BC on {len(obs)} transitions: loss {info['initial_loss']:.4f} -> {info['final_loss']:.4f}"
    )
    print(
        f"certified L <= {report.certified_upper:.4f} ({report.method}); empirical lower "
        f"{report.empirical_lower:.4f}; policy {out}; certificate written"
    )
    if args.eval_episodes:
        env = _make_env(args.task)
        try:
            stats = rollouts(CertifiablePolicy(net), env, args.eval_episodes, seed=1_000_000)
        finally:
            env.close()
        print(f"twin success {stats.successes}/{stats.episodes} ({100 * stats.success_rate:.0f}%)")
    if args.json:
        print(json.dumps(cert, default=str))
    return 0


def _sample_inputs(policy: Any, task: str | None, episodes: int, seed: int) -> Any:
    import torch

    if task is None:
        return None
    from robolearn.certify.bc import expert_demos

    obs, _ = expert_demos(task, episodes=episodes, seed=seed, action_noise=0.1)
    return torch.as_tensor(obs)


def _cmd_bound(args: argparse.Namespace) -> int:
    _single_thread()
    from robolearn.certify.artifact import certificate_path, create_certificate
    from robolearn.certify.bounds import certify_lipschitz
    from robolearn.certify.closed_loop import check_closed_loop
    from robolearn.certify.policy import load_policy

    policy = load_policy(args.policy)
    task = args.task or policy.metadata.get("task")
    inputs = _sample_inputs(policy, task, args.lower_bound_episodes, args.seed)
    report = certify_lipschitz(policy.network, inputs, seed=args.seed)
    print(f"policy {args.policy}")
    print(f"  product of exact layer norms : {report.product:.6g}")
    print(f"  Combettes-Pesquet bound      : {report.combettes_pesquet:.6g}")
    print(f"  certified upper bound        : {report.certified_upper:.6g} ({report.method})")
    if report.empirical_lower is not None:
        print(f"  empirical lower bound (PGD)  : {report.empirical_lower:.6g}")
    print(
        f"  certified action deviation   : {report.certified_upper * args.epsilon:.6g} for "
        f"||d obs|| <= {args.epsilon:g}"
    )
    for note in report.notes:
        print(f"  note: {note}")
    closed = None
    if args.closed_loop_episodes:
        env = _make_env(_task_of(args, policy))
        try:
            check = check_closed_loop(
                policy,
                env,
                epsilon=args.epsilon,
                lipschitz_bound=report.certified_upper,
                episodes=args.closed_loop_episodes,
                seed=args.seed,
            )
        finally:
            env.close()
        closed = check.as_dict()
        print(
            f"  closed loop ({args.closed_loop_episodes} episodes): max PGD action deviation "
            f"{check.max_attack_deviation:.4g} <= {check.certified_action_deviation:.4g}: "
            f"{'holds' if check.holds else 'VIOLATED'}; success clean "
            f"{check.nominal['success_rate']:.2f}, attacked {check.attacked['success_rate']:.2f}"
        )
    if args.write:
        create_certificate(
            args.policy,
            epsilon=args.epsilon,
            closed_loop=closed,
            empirical_lower=report.empirical_lower,
            task=task,
        )
        print(f"  wrote {certificate_path(args.policy)}")
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0 if closed is None or closed["holds"] else 1


def _cmd_smoothing(args: argparse.Namespace) -> int:
    _single_thread()
    import numpy as np

    from robolearn.certify.artifact import create_certificate
    from robolearn.certify.policy import load_policy
    from robolearn.certify.smoothing import certify_smoothing, plot_smoothing

    policy = load_policy(args.policy)
    task = _task_of(args, policy)
    budgets = (
        [float(b) for b in np.linspace(0.0, args.budget[0], args.points)]
        if len(args.budget) == 1
        else sorted(args.budget)
    )
    env = _make_env(task, reward_type=args.reward)
    try:
        cert = certify_smoothing(
            policy,
            env,
            sigma=args.sigma,
            budgets=budgets,
            episodes=args.episodes,
            alpha=round(1.0 - args.confidence, 12),
            seed=args.seed,
            thresholds=args.nu,
        )
    finally:
        env.close()
    print(cert.table())
    out = args.out or Path(args.policy).with_name(Path(args.policy).stem + "_smoothing.png")
    plot_smoothing(cert, str(out), title=f"{task}: policy smoothing, sigma={args.sigma:g}")
    print(f"plot: {out}")
    if args.write:
        create_certificate(args.policy, smoothing=cert.as_dict(), task=task)
        print("certificate updated with the smoothing certificate")
    if args.json:
        print(json.dumps(cert.as_dict()))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    _single_thread()
    from robolearn.certify.artifact import verify_certificate
    from robolearn.certify.policy import load_policy

    env = None
    if args.rerun:
        env = _make_env(_task_of(args, load_policy(args.policy)))
    try:
        result = verify_certificate(args.policy, rerun=args.rerun, env=env, episodes=args.episodes)
    finally:
        if env is not None:
            env.close()
    print(result.summary())
    return 0 if result.ok else 1


def _cmd_gate(args: argparse.Namespace) -> int:
    from robolearn.certify.gate import (
        CertificateRefused,
        CertificationConfig,
        require_certificate,
    )

    cfg = CertificationConfig.from_yaml(args.config) if args.config else CertificationConfig()
    if args.max_lipschitz is not None:
        cfg.max_lipschitz = float(args.max_lipschitz)
    try:
        cert = require_certificate(args.policy, args.backend, cfg)
    except CertificateRefused as exc:
        print(f"REFUSED ({exc.reason}): {exc}")
        return 1
    if cert is None:
        print(f"allowed on {args.backend!r} without a valid certificate (not a gated backend)")
    else:
        bound = cert["lipschitz"]["certified_upper"]
        print(f"ACCEPTED on {args.backend!r}: certified L <= {bound:.4g}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    _single_thread()
    from robolearn.certify.report import profile_with, run_sweep, write_report

    lvals = tuple(args.lipschitz) if args.lipschitz else None
    profile = profile_with(
        args.profile,
        lipschitz_values=lvals,
        eval_episodes=args.episodes,
        epsilon=args.epsilon,
        hidden_dims=tuple(args.hidden) if args.hidden else None,
        steps=args.steps,
        demo_episodes=args.demos,
    )
    slug = "".join(c if c.isalnum() else "_" for c in profile.name)
    out = args.out or Path("out/certify") / f"{args.task}_{slug}"
    result = run_sweep(args.task, profile, out, seed=args.seed)
    md, png = write_report(result, out)
    print(md.read_text())
    print(f"report: {md}\nplot: {png}")
    return 0 if all(r.violations == 0 for r in result.rows) else 1


def add_certify_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``robolearn certify ...`` on the top-level subparsers."""
    cert = sub.add_parser(
        "certify", help="Lipschitz-certified policies, smoothing certificates, deployment gate"
    )
    verbs = cert.add_subparsers(dest="certify_command", required=True)

    t = verbs.add_parser("train-bc", help="Lipschitz-constrained behaviour cloning (hard budget L)")
    t.add_argument("--task", choices=TASKS, default="pick_cube")
    t.add_argument("--lipschitz", type=float, default=50.0, help="budget L (inf: unconstrained)")
    t.add_argument("--demos", type=int, default=50, help="scripted expert episodes")
    t.add_argument("--dataset", type=Path, help="a zarr episode store instead of the expert")
    t.add_argument("--action-noise", type=float, default=0.1, help="expert action noise std")
    t.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    t.add_argument("--layer", default="spectral", choices=["spectral", "orthogonal", "aol", "sll"])
    t.add_argument("--activation", default="groupsort", choices=["groupsort", "relu", "tanh"])
    t.add_argument("--steps", type=int, default=4000)
    t.add_argument("--epsilon", type=float, default=0.01, help="certificate's obs budget")
    t.add_argument("--eval-episodes", type=int, default=10)
    t.add_argument("--out", type=Path, help="policy .safetensors path")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_cmd_train_bc)

    b = verbs.add_parser("bound", help="certified and empirical Lipschitz bounds of a policy")
    b.add_argument("--policy", type=Path, required=True)
    b.add_argument("--task", choices=TASKS, help="for the empirical lower bound's inputs")
    b.add_argument("--epsilon", type=float, default=0.01, help="observation budget (l2)")
    b.add_argument("--lower-bound-episodes", type=int, default=2)
    b.add_argument(
        "--closed-loop-episodes", type=int, default=0, help="also run the PGD check in the twin"
    )
    b.add_argument("--write", action="store_true", help="write <policy>.cert.json")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_bound)

    s = verbs.add_parser("smoothing", help="policy smoothing certificate (Kumar et al. 2022)")
    s.add_argument("--policy", type=Path, required=True)
    s.add_argument("--task", choices=TASKS)
    s.add_argument("--sigma", type=float, required=True, help="Gaussian obs noise std")
    s.add_argument(
        "--budget",
        type=float,
        nargs="+",
        required=True,
        help="total l2 budget B over the episode (one value: a sweep 0..B)",
    )
    s.add_argument("--points", type=int, default=6, help="sweep points for a single --budget")
    s.add_argument("--episodes", type=int, default=100)
    s.add_argument("--confidence", type=float, default=0.95)
    s.add_argument("--nu", type=float, nargs="*", default=[], help="certify P(return >= nu)")
    s.add_argument(
        "--reward",
        choices=["sparse", "dense"],
        default="sparse",
        help="return = success (sparse) or the sum of dense rewards in [0, 1] per step",
    )
    s.add_argument("--out", type=Path, help="plot path (PNG)")
    s.add_argument("--write", action="store_true", help="add it to <policy>.cert.json")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_smoothing)

    v = verbs.add_parser("verify", help="recompute and check a policy's certificate")
    v.add_argument("--policy", type=Path, required=True)
    v.add_argument("--task", choices=TASKS)
    v.add_argument("--rerun", action="store_true", help="re-run the closed-loop PGD check")
    v.add_argument("--episodes", type=int, default=3)
    v.set_defaults(func=_cmd_verify)

    g = verbs.add_parser("gate", help="what the actor's deployment gate says about a policy")
    g.add_argument("--policy", type=Path, required=True)
    g.add_argument("--backend", default="franka")
    g.add_argument("--config", type=Path, help="a YAML with a certification: section")
    g.add_argument("--max-lipschitz", type=float, help="override certification.max_lipschitz")
    g.set_defaults(func=_cmd_gate)

    r = verbs.add_parser("report", help="the L sweep report (markdown + PNG)")
    r.add_argument("--task", choices=TASKS, default="pick_cube")
    r.add_argument("--profile", choices=["tiny", "quick", "full"], default="quick")
    r.add_argument("--lipschitz", type=float, nargs="+", help="override the profile's budgets")
    r.add_argument("--episodes", type=int, help="override evaluation episodes per condition")
    r.add_argument("--epsilon", type=float, help="override the perturbation norm")
    r.add_argument("--hidden", type=int, nargs="+", help="override the hidden layer sizes")
    r.add_argument("--steps", type=int, help="override the BC gradient steps")
    r.add_argument("--demos", type=int, help="override the number of expert demos")
    r.add_argument("--out", type=Path, help="report folder")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(func=_cmd_report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robolearn")
    add_certify_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
