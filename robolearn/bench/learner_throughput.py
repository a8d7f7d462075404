"""Learner throughput: gradient updates/s of our RLPD learner against Stable-Baselines3 SAC, and
how much of the machine's matrix-multiply rate each update achieves.

State-based, one process, the same run: observation dim 35 and action dim 7 (PandaPickCube's
state and action), Adam, one torch thread (``--threads``), on ``--device`` (default the CPU).
The measured configurations (`CONFIGURATIONS`, printed in the table and listed under
``configurations`` in the JSON with their full `RLPDConfig`) are `RLPDConfig()` with a few
fields replaced, so they follow changes of the default config:

- ``ours_2q``: 2 critics, MLP 256x256, batch 256, one critic and one actor step per update
  (``utd_ratio=1``, ``critic_actor_ratio=1``), LayerNorm critics (SB3's compute, except that
  SB3's critics have no LayerNorm);
- ``ours_10q``: the same with a 10-critic ensemble (target: min over a random pair);
- ``ours_2q_no_layernorm`` (a detail): 2 critics without LayerNorm, SB3's critic architecture;
- ``ours_default``: `RLPDConfig()` itself (today 10 critics and ``utd_ratio=20``: one update is
  20 critic steps and one actor step);
- ``sb3``: `stable_baselines3.SAC` (``MlpPolicy``, ``n_critics=2``, 256x256), timed in
  ``model.train(gradient_steps=N, batch_size=256)`` on a filled replay buffer: one update is one
  critic, actor and temperature step.

Our timed update is one ``RLPDAgent.update`` call, including drawing its batch (online rows from
an "online" buffer and demo rows from a "demo" buffer, RLPD's symmetric sampling, ``utd_ratio``
minibatches' worth); SB3's includes its replay sampling. Buffers hold 10,000 random transitions.

Per configuration the report has ``updates_per_s``; ``flops_per_update``, the FLOPs of one
update counted by `torch.utils.flop_counter.FlopCounterMode` over an actual update call
(forward and backward matrix products of critic, target and actor; elementwise, LayerNorm and
Adam arithmetic are not counted); and ``fraction_of_gemm_peak``, the achieved rate
``flops_per_update * updates_per_s`` over ``gemm_peak_gflops``: the best fp32 ``torch.mm`` rate
(256^3 and 1024^3 products; also 4096^3 on CUDA) measured in the same run, with the same thread
count, before and after the timing rounds.

The learners are timed in interleaved rounds (``ours_2q, ours_10q, ..., sb3, ours_2q, ...``) so a
slow spell of a shared machine hits all of them; each rate is the median over rounds. Each
measurement runs about ``--seconds`` (its step count comes from the learner's previous rate), or
exactly ``--steps`` updates. Rates by wall time are the headline keys; rates by this process's
CPU time are in ``details`` (less sensitive to other processes competing for the cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import inspect
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.bench import common

log = logging.getLogger(__name__)

OBS_DIM = 35  # robolearn/PandaPickCube-v0 state
ACTION_DIM = 7
BATCH_SIZE = 256
HIDDEN = (256, 256)
BUFFER_SIZE = 10_000
DEFAULT_SECONDS = 3.0
DEFAULT_WARMUP = 3
DEFAULT_ROUNDS = 3
DEFAULT_THREADS = 1
DEFAULT_GEMM_SECONDS = 0.5  # per matrix size, per GEMM measurement (there are two)
DEVICES = ("cpu", "cuda")
TARGETS = {"ratio_vs_sb3_same_critics": 1.5, "ratio_vs_sb3_ensemble": 0.5}

# Our configurations: (name, label, RLPDConfig fields replaced in RLPDConfig()).
_SAME_AS_SB3 = {
    "hidden_dims": HIDDEN,
    "batch_size": BATCH_SIZE,
    "utd_ratio": 1,
    "critic_actor_ratio": 1,
    "critic_subsample": 2,
    "critic_layer_norm": True,
}
CONFIGURATIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ours_2q", "ours, 2 critics", {**_SAME_AS_SB3, "num_critics": 2}),
    ("ours_10q", "ours, 10 critics", {**_SAME_AS_SB3, "num_critics": 10}),
    (
        "ours_2q_no_layernorm",
        "ours, 2 critics, no LN",
        {**_SAME_AS_SB3, "num_critics": 2, "critic_layer_norm": False},
    ),
    ("ours_default", "ours, RLPDConfig()", {}),
)
SB3 = ("sb3", "SB3 SAC, 2 critics")
LEARNERS = (*(name for name, _, _ in CONFIGURATIONS), SB3[0])
LABELS = {**{name: label for name, label, _ in CONFIGURATIONS}, SB3[0]: SB3[1]}


@dataclasses.dataclass
class Learner:
    """A benchmarked learner: ``run(n)`` does n updates; ``describe`` goes into the report."""

    run: Callable[[int], None]
    describe: dict[str, Any]
    # counters advanced by one update: (critic steps, actor steps); None where not observable
    steps: Callable[[], tuple[int, int]] | None = None


# --- the learners -------------------------------------------------------------------------------
def _random_transitions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "obs": rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        "next_obs": rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        "action": rng.uniform(-1, 1, size=(n, ACTION_DIM)).astype(np.float32),
        "reward": rng.normal(size=n).astype(np.float32),
        "terminated": rng.random(n) < 0.01,
        "truncated": np.zeros(n, np.bool_),
    }


def _check_device(device: str) -> str:
    import torch

    if device not in DEVICES:
        raise ValueError(f"device {device!r}: use one of {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda': no CUDA device is visible (torch.cuda.is_available())")
    return device


def ours_config(overrides: dict[str, Any], seed: int, device: str = "cpu") -> Any:
    """`RLPDConfig()` with ``overrides`` and ``seed`` (and ``device`` if the config has one)."""
    from robolearn.learn.rlpd import RLPDConfig

    fields = {f.name for f in dataclasses.fields(RLPDConfig)}
    extra: dict[str, Any] = {"seed": seed}
    if "device" in fields:
        extra["device"] = device
    return dataclasses.replace(RLPDConfig(), **overrides, **extra)


def _agent_kwargs(device: str) -> dict[str, Any]:
    """``device=...`` for `RLPDAgent` if it takes that keyword (checked at run time)."""
    from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

    if "device" in inspect.signature(RLPDAgent).parameters:
        return {"device": device}
    if device != "cpu" and "device" not in {f.name for f in dataclasses.fields(RLPDConfig)}:
        raise RuntimeError(f"RLPDAgent has no device option: cannot run it on {device!r}")
    return {}


def make_ours(
    overrides: dict[str, Any], seed: int, device: str = "cpu", label: str = ""
) -> Learner:
    """Our `RLPDAgent` with ``ours_config(overrides)``; one update draws ``utd_ratio``
    minibatches' worth of online and demo rows and calls ``agent.update`` once."""
    import gymnasium as gym

    from robolearn.learn.replay import ReplayBuffer
    from robolearn.learn.rlpd import RLPDAgent

    obs_space = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)})
    act_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
    config = ours_config(overrides, seed, device)
    agent = RLPDAgent(obs_space, act_space, config, **_agent_kwargs(device))
    rng = np.random.default_rng(seed)
    buffers = []
    for _ in range(2):  # online, demo
        raw = _random_transitions(BUFFER_SIZE, rng)
        buffer = ReplayBuffer(obs_space, act_space, BUFFER_SIZE)
        buffer.add_batch(
            {**raw, "obs": {"state": raw["obs"]}, "next_obs": {"state": raw["next_obs"]}}
        )
        buffers.append(buffer)
    online, demo = buffers
    n_online, n_demo = config.split()
    g = config.utd_ratio

    def run(steps: int) -> None:
        for _ in range(steps):
            agent.update(
                online.sample(n_online * g, rng), demo.sample(n_demo * g, rng) if n_demo else None
            )

    raw_config = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
    describe = {
        "label": label,
        "learner": "RLPDAgent",
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "config": raw_config,
        "device": str(getattr(agent, "device", device)),
        "rows_per_update": {"online": n_online * g, "demo": n_demo * g},
    }
    return Learner(run, describe, lambda: (agent.critic_steps, agent.actor_steps))


def make_sb3(seed: int, device: str = "cpu") -> Learner:
    """SB3 SAC; ``run(n)`` is ``model.train(gradient_steps=n)`` on a filled replay buffer."""
    try:
        import gymnasium as gym
        from stable_baselines3 import SAC
        from stable_baselines3.common.logger import configure
    except ImportError as error:
        raise RuntimeError(
            "the learner benchmark compares against Stable-Baselines3; install it with "
            "pip install 'stable-baselines3==2.9.2'"
        ) from error

    class _StateEnv(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
            return np.zeros(OBS_DIM, np.float32), {}

        def step(self, action: np.ndarray) -> tuple:
            return np.zeros(OBS_DIM, np.float32), 0.0, False, False, {}

    model = SAC(
        "MlpPolicy",
        _StateEnv(),
        learning_rate=3e-4,
        buffer_size=BUFFER_SIZE,
        learning_starts=0,
        batch_size=BATCH_SIZE,
        policy_kwargs={"net_arch": list(HIDDEN), "n_critics": 2},
        device=device,
        seed=seed,
    )
    model.set_logger(configure(None, []))  # train() records metrics; no output
    raw = _random_transitions(BUFFER_SIZE, np.random.default_rng(seed))
    buffer = model.replay_buffer
    buffer.observations[:] = raw["obs"][:, None]
    buffer.next_observations[:] = raw["next_obs"][:, None]
    buffer.actions[:] = raw["action"][:, None]
    buffer.rewards[:] = raw["reward"][:, None]
    buffer.dones[:] = raw["terminated"][:, None]
    buffer.full = True

    def run(steps: int) -> None:
        model.train(gradient_steps=steps, batch_size=BATCH_SIZE)

    describe = {
        "label": SB3[1],
        "learner": "stable_baselines3.SAC",
        "config": {
            "policy": "MlpPolicy",
            "net_arch": list(HIDDEN),
            "n_critics": 2,
            "batch_size": BATCH_SIZE,
            "ent_coef": str(model.ent_coef),
            "gradient_steps_per_update": 1,
        },
        "device": str(model.device),
    }
    return Learner(run, describe)


def _build(name: str, seed: int, device: str = "cpu") -> Learner:
    if name == SB3[0]:
        return make_sb3(seed, device)
    for known, label, overrides in CONFIGURATIONS:
        if name == known:
            return make_ours(overrides, seed, device, label)
    raise ValueError(f"unknown learner {name!r}; known: {', '.join(LEARNERS)}")


def _time(run: Callable[[int], None], steps: int, device: str = "cpu") -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``run(steps)``."""
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run(steps)
    sync()
    return time.perf_counter() - wall0, time.process_time() - cpu0


def _flops(learner: Learner) -> dict[str, Any]:
    """FLOPs of one update (one ``run(1)`` under FlopCounterMode) and the steps it made."""
    before = learner.steps() if learner.steps else None
    total, modules = common.count_flops(lambda: learner.run(1))
    out: dict[str, Any] = {"flops_per_update": total, "flops_by_module": modules}
    if before is not None and learner.steps is not None:
        after = learner.steps()
        out["critic_steps_per_update"] = after[0] - before[0]
        out["actor_steps_per_update"] = after[1] - before[1]
    else:  # SB3: train(gradient_steps=1) is one critic and one actor step
        out["critic_steps_per_update"] = out["actor_steps_per_update"] = 1
    return out


def _gemm(device: str, seconds: float) -> dict[str, float]:
    sizes = (256, 1024, 4096) if device == "cuda" else (256, 1024)
    return {str(n): common.gemm_gflops(n, seconds=seconds, device=device) for n in sizes}


# --- the whole benchmark ------------------------------------------------------------------------
def run_benchmark(
    seconds: float = DEFAULT_SECONDS,
    warmup: int = DEFAULT_WARMUP,
    rounds: int = DEFAULT_ROUNDS,
    threads: int = DEFAULT_THREADS,
    seed: int = 0,
    progress: bool = True,
    *,
    steps: int | None = None,
    device: str = "cpu",
    gemm_seconds: float = DEFAULT_GEMM_SECONDS,
) -> dict[str, Any]:
    """Time the learners in interleaved rounds and count their FLOPs; return the report (see the
    module doc). ``steps`` (fixed updates per measurement) replaces the ``seconds`` budget."""
    import torch

    for name, value in (("rounds", rounds), ("threads", threads)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    for name, value in (("seconds", seconds), ("gemm_seconds", gemm_seconds)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value}")
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    _check_device(device)

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gemm_before = _gemm(device, gemm_seconds)
        say(f"GEMM fp32 GFLOP/s by size ({threads} thread(s), {device}): {gemm_before}")
        learners = {name: _build(name, seed, device) for name in LEARNERS}
        for name, learner in learners.items():
            say(f"{name:21} {learner.describe['label']}: " + _short_config(learner.describe))
        # warm-up (and, for a time budget, a first rate to size the first round's measurement)
        rate: dict[str, float] = {}
        for name, learner in learners.items():
            n = max(warmup, 0 if steps is not None else 1)
            if n:
                w, _ = _time(learner.run, n, device)
                rate[name] = n / w if w > 0 else float("inf")
        flops = {name: _flops(learner) for name, learner in learners.items()}
        wall: dict[str, list[float]] = {name: [] for name in LEARNERS}
        cpu: dict[str, list[float]] = {name: [] for name in LEARNERS}
        counts: dict[str, list[int]] = {name: [] for name in LEARNERS}
        for r in range(rounds):
            for name, learner in learners.items():
                n = steps if steps is not None else _budget_steps(seconds, rate[name])
                w, c = _time(learner.run, n, device)
                rate[name] = n / w if w > 0 else float("inf")
                wall[name].append(n / w)
                cpu[name].append(n / c if c > 0 else float("nan"))
                counts[name].append(n)
                say(
                    f"round {r + 1}/{rounds} {name:21} {n / w:8.2f} updates/s "
                    f"(cpu time: {n / c if c > 0 else float('nan'):8.2f}/s, {n} updates)"
                )
        gemm_after = _gemm(device, gemm_seconds)
        say(f"GEMM fp32 GFLOP/s by size, after the rounds: {gemm_after}")
    finally:
        torch.set_num_threads(torch_threads)

    peak = max(*gemm_before.values(), *gemm_after.values())
    med = {name: statistics.median(v) for name, v in wall.items()}
    med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    configurations: dict[str, dict[str, Any]] = {}
    for name, learner in learners.items():
        f = flops[name]
        achieved = f["flops_per_update"] * med[name] / 1e9
        configurations[name] = {
            **learner.describe,
            "updates_per_s": med[name],
            "cpu_updates_per_s": med_cpu[name],
            "critic_steps_per_s": med[name] * f["critic_steps_per_update"],
            "flops_per_update": f["flops_per_update"],
            "flops_vs_sb3": f["flops_per_update"] / flops["sb3"]["flops_per_update"],
            "achieved_gflops": achieved,
            "fraction_of_gemm_peak": achieved / peak,
            "critic_steps_per_update": f["critic_steps_per_update"],
            "actor_steps_per_update": f["actor_steps_per_update"],
            "flops_by_module": f["flops_by_module"],
        }
    same = med["ours_2q"] / med["sb3"]
    ensemble = med["ours_10q"] / med["sb3"]
    met = {
        "ratio_vs_sb3_same_critics": same >= TARGETS["ratio_vs_sb3_same_critics"],
        "ratio_vs_sb3_ensemble": ensemble >= TARGETS["ratio_vs_sb3_ensemble"],
    }
    met["all"] = all(met.values())
    cfg = configurations
    return {
        "benchmark": "learner_throughput",
        "updates_per_s_2q": med["ours_2q"],
        "updates_per_s_10q": med["ours_10q"],
        "updates_per_s_default": med["ours_default"],
        "sb3_updates_per_s": med["sb3"],
        "ratio_vs_sb3_same_critics": same,
        "ratio_vs_sb3_ensemble": ensemble,
        "flops_per_update_2q": cfg["ours_2q"]["flops_per_update"],
        "flops_per_update_10q": cfg["ours_10q"]["flops_per_update"],
        "flops_per_update_default": cfg["ours_default"]["flops_per_update"],
        "sb3_flops_per_update": cfg["sb3"]["flops_per_update"],
        "fraction_of_gemm_peak_2q": cfg["ours_2q"]["fraction_of_gemm_peak"],
        "fraction_of_gemm_peak_10q": cfg["ours_10q"]["fraction_of_gemm_peak"],
        "fraction_of_gemm_peak_default": cfg["ours_default"]["fraction_of_gemm_peak"],
        "sb3_fraction_of_gemm_peak": cfg["sb3"]["fraction_of_gemm_peak"],
        "gemm_peak_gflops": peak,
        "configurations": configurations,
        "targets": dict(TARGETS),
        "targets_met": met,
        "setup": {
            "obs_dim": OBS_DIM,
            "action_dim": ACTION_DIM,
            "batch_size": BATCH_SIZE,
            "hidden": list(HIDDEN),
            "buffer_size": BUFFER_SIZE,
            "device": device,
            "ours": "RLPDAgent: RLPDConfig() with the fields in configurations[name]['overrides']; "
            "one update = one agent.update call on utd_ratio minibatches' worth of online + "
            "demo rows",
            "sb3": "SAC MlpPolicy, n_critics=2, ent_coef=auto, train(gradient_steps=N)",
            "flops": "torch.utils.flop_counter.FlopCounterMode over one update call (matrix "
            "products, forward + backward)",
            "gemm": "best fp32 torch.mm rate over sizes "
            f"{sorted(int(n) for n in gemm_before)} with the benchmark's threads, before and "
            "after the rounds",
            "seconds_per_measurement": None if steps is not None else seconds,
            "steps_per_round": steps,
            "warmup_steps": warmup,
            "rounds": rounds,
            "threads": threads,
            "seed": seed,
        },
        "details": {
            "wall_updates_per_s": wall,
            "cpu_updates_per_s": cpu,
            "updates_per_measurement": counts,
            "cpu_median_updates_per_s": med_cpu,
            "cpu_ratio_vs_sb3_same_critics": med_cpu["ours_2q"] / med_cpu["sb3"],
            "cpu_ratio_vs_sb3_ensemble": med_cpu["ours_10q"] / med_cpu["sb3"],
            "median_updates_per_s": med,
            "ratio_vs_sb3_2q_no_layernorm": med["ours_2q_no_layernorm"] / med["sb3"],
            "gemm_gflops_by_size": {"before": gemm_before, "after": gemm_after},
        },
        "machine": common.machine_info(("torch", "stable-baselines3", "numpy")),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _budget_steps(seconds: float, rate: float) -> int:
    return max(1, int(round(seconds * rate))) if math.isfinite(rate) else 1


def _short_config(describe: dict[str, Any]) -> str:
    c = describe["config"]
    if describe["learner"] != "RLPDAgent":
        return f"{c['n_critics']} critics, MLP {tuple(c['net_arch'])}, batch {c['batch_size']}"
    actor = c.get("critic_actor_ratio") or c.get("utd_ratio")
    return (
        f"{c.get('num_critics')} critics (target min of {c.get('critic_subsample')}), MLP "
        f"{tuple(c.get('hidden_dims', ()))}, batch {c.get('batch_size')}, "
        f"utd {c.get('utd_ratio')}, actor every {actor}, LayerNorm {c.get('critic_layer_norm')}"
    )


def format_table(report: dict[str, Any]) -> str:
    setup = report["setup"]
    cfg = report["configurations"]
    lines = [
        f"learner throughput: obs {OBS_DIM}, action {ACTION_DIM}, {setup['device']}, "
        f"{setup['threads']} thread(s), median of {setup['rounds']} rounds; GEMM peak "
        f"{report['gemm_peak_gflops']:.1f} GFLOP/s",
        f"{'':24} {'updates/s':>10} {'(cpu time)':>11} {'GFLOP/upd':>10} {'vs SB3':>7} "
        f"{'GFLOP/s':>8} {'of peak':>8}  configuration",
    ]
    for name in LEARNERS:
        c = cfg[name]
        lines.append(
            f"{c['label']:24} {c['updates_per_s']:10.2f} {c['cpu_updates_per_s']:11.2f} "
            f"{c['flops_per_update'] / 1e9:10.3f} {c['flops_vs_sb3']:6.2f}x "
            f"{c['achieved_gflops']:8.1f} {c['fraction_of_gemm_peak']:8.3f}  {_short_config(c)}"
        )
    for key, label in (
        ("ratio_vs_sb3_same_critics", "ours 2q / SB3"),
        ("ratio_vs_sb3_ensemble", "ours 10q / SB3"),
    ):
        verdict = "met" if report["targets_met"][key] else "NOT met"
        lines.append(
            f"{label:24} {report[key]:10.2f}x  target >= {report['targets'][key]:g}: {verdict}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robolearn bench learner",
        description=(
            "Gradient updates/s, FLOPs per update and fraction of the GEMM rate of our RLPD "
            "learner (2 and 10 critics, RLPDConfig()) vs Stable-Baselines3 SAC (2 critics), "
            "state-based, batch 256, MLP 256x256; prints one JSON object."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON on stdout")
    parser.add_argument(
        "--seconds",
        type=common.positive_float,
        default=DEFAULT_SECONDS,
        help="about this long per learner per round",
    )
    parser.add_argument(
        "--steps",
        type=common.positive_int,
        default=None,
        help="exactly this many updates per learner per round (instead of --seconds)",
    )
    parser.add_argument(
        "--warmup",
        type=common.nonnegative_int,
        default=DEFAULT_WARMUP,
        help="untimed updates first (at least 1 with --seconds)",
    )
    parser.add_argument(
        "--rounds",
        type=common.positive_int,
        default=DEFAULT_ROUNDS,
        help="interleaved timing rounds",
    )
    parser.add_argument(
        "--threads",
        type=common.positive_int,
        default=DEFAULT_THREADS,
        help="torch threads, both sides and the GEMM measurement",
    )
    parser.add_argument(
        "--gemm-seconds",
        type=common.positive_float,
        default=DEFAULT_GEMM_SECONDS,
        help="per matrix size, per GEMM measurement",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="torch device, both sides (cuda: if visible)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no per-round lines on stderr")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    report = run_benchmark(
        seconds=args.seconds,
        warmup=args.warmup,
        rounds=args.rounds,
        threads=args.threads,
        seed=args.seed,
        progress=not args.no_progress,
        steps=args.steps,
        device=args.device,
        gemm_seconds=args.gemm_seconds,
    )
    common.emit_report(report, json_only=args.json, out=args.out, table=format_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
