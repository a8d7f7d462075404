"""Environment throughput: the twin env against robosuite and against raw MuJoCo physics.

Measurements, all without rendering at the same control rate (20 Hz by default):

- ``twin``: env steps/s of ``robolearn/PandaPickCube-v0`` (1 ms physics, so 50 physics steps and
  50 ticks of the compiled impedance law per env step);
- ``robosuite``: Panda ``Lift`` with robosuite's default composite controller (BASIC: OSC_POSE arm
  + gripper), at OUR physics timestep of 1 ms (``robosuite.macros.SIMULATION_TIMESTEP``), and
  again at robosuite's default 2 ms for context;
- ``physics``: raw ``mujoco.mj_step`` on the twin's ``pick_cube`` scene (arm held at home by its
  gravity-compensating torques, state restored every simulated second), divided by the physics
  steps per env step: the env rate if the controller and the env code cost nothing.

Each measurement runs in its own fresh Python process, one after another, so none can slow
another (no shared imports, numba/BLAS thread pools, caches, or robosuite's global macros).
Actions are drawn up front from a seeded generator, uniform over the action space; envs reset
when an episode ends and the resets are timed (an RL loop pays for them too). Warm-up steps
(numba compilation or cache loading, first-call allocations) run before timing. Thread-count
variables such as ``OPENBLAS_NUM_THREADS`` are passed through unchanged, and recorded.

``main(["--json"])`` prints only the JSON object on stdout; progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from robolearn.bench import common

ENV_ID = "robolearn/PandaPickCube-v0"
SCENE = "pick_cube"
DEFAULT_STEPS = 2000
DEFAULT_WARMUP = 100
DEFAULT_SEED = 0
CONTROL_HZ = 20.0
PHYSICS_DT = 0.001  # the twin's 1 kHz physics; robosuite is run at the same timestep
ROBOSUITE_DEFAULT_DT = 0.002  # robosuite.macros.SIMULATION_TIMESTEP as shipped
PHYSICS_RESTORE_EVERY_S = 1.0  # simulated seconds between state restores in the raw-physics loop
TARGETS = {"ratio_vs_robosuite": 5.0, "fraction_of_physics_limit": 0.6}
THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _bar(total: int, desc: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit="step",
        file=sys.stderr,
        disable=not enabled,
        leave=True,
        dynamic_ncols=True,
    )


def _steps_per_env_step(control_hz: float, physics_dt: float) -> int:
    ratio = 1.0 / (control_hz * physics_dt)
    n = round(ratio)
    if n < 1 or abs(ratio - n) > 1e-6:
        raise ValueError(
            f"control rate {control_hz} Hz is not a whole number of {physics_dt} s physics steps"
        )
    return n


def _random_actions(
    low: np.ndarray, high: np.ndarray, count: int, seed: int, dtype: Any = np.float64
) -> np.ndarray:
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError("random actions need a bounded action space")
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=(count, *low.shape)).astype(dtype)


def _timing(steps: int, wall: float, cpu: float, resets: int, reset_wall: float) -> dict[str, Any]:
    return {
        "steps_per_s": steps / wall,  # resets included: an RL loop pays for them too
        "steps": steps,
        "seconds": wall,
        "cpu_seconds": cpu,  # ~= seconds when single-threaded; more means extra threads ran
        "resets": resets,
        "reset_seconds": reset_wall,
        "steps_per_s_excluding_resets": steps / (wall - reset_wall),
    }


# --- the three measurements (each meant to run in a fresh process) ----------------------------


def _find_mj_model(env: Any) -> Any:
    """The MjModel behind a gymnasium env, looked up by duck typing; None if not found."""
    import mujoco

    inner = getattr(env, "unwrapped", env)
    candidates = [inner]
    for name in ("robot", "_robot", "twin", "sim", "_sim", "physics"):
        if hasattr(inner, name):
            candidates.append(getattr(inner, name))
    for obj in candidates:
        for name in ("model", "_model", "mj_model"):
            value = getattr(obj, name, None)
            if isinstance(value, mujoco.MjModel):
                return value
    return None


def measure_twin(
    steps: int,
    seed: int = DEFAULT_SEED,
    warmup: int = DEFAULT_WARMUP,
    control_hz: float = CONTROL_HZ,
    progress: bool = True,
) -> dict[str, Any]:
    """Env steps/s of the twin gymnasium env with random actions, no rendering."""
    import gymnasium

    import robolearn.envs  # noqa: F401 - registers the robolearn/* ids

    env = gymnasium.make(ENV_ID, control_hz=control_hz)
    try:
        model = _find_mj_model(env)
        physics_dt = float(model.opt.timestep) if model is not None else None
        space = env.action_space
        actions = _random_actions(space.low, space.high, warmup + steps, seed, space.dtype)
        env.action_space.seed(seed)

        env.reset(seed=seed)
        for action in actions[:warmup]:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        env.reset(seed=seed + 1)

        resets, reset_wall = 0, 0.0
        with _bar(steps, "twin env", progress) as bar:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for action in actions[warmup:]:
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    reset0 = time.perf_counter()
                    env.reset()
                    reset_wall += time.perf_counter() - reset0
                    resets += 1
                bar.update()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        env.close()
    result = _timing(steps, wall, cpu, resets, reset_wall)
    result.update(
        env_id=ENV_ID,
        physics_dt=physics_dt,
        physics_dt_source="env model" if physics_dt is not None else "not found",
        action_shape=list(space.shape),
    )
    return result


def measure_robosuite(
    steps: int,
    seed: int = DEFAULT_SEED,
    warmup: int = DEFAULT_WARMUP,
    control_hz: float = CONTROL_HZ,
    timestep: float = PHYSICS_DT,
    progress: bool = True,
) -> dict[str, Any]:
    """Env steps/s of robosuite Panda Lift (default controller) at the given physics timestep."""
    import robosuite
    import robosuite.macros as macros

    def check_timestep(env: Any) -> None:
        actual = float(env.sim.model.opt.timestep)
        if not math.isclose(actual, timestep, rel_tol=0, abs_tol=1e-12):
            raise RuntimeError(f"robosuite ran at {actual} s, not the requested {timestep} s")

    # robosuite reads the macro when it builds the world and the controllers, and again at every
    # hard reset (which rebuilds the model), so it stays set for the whole run.
    saved = macros.SIMULATION_TIMESTEP
    macros.SIMULATION_TIMESTEP = timestep
    try:
        env = robosuite.make(
            "Lift",
            robots="Panda",
            has_renderer=False,
            has_offscreen_renderer=False,
            use_camera_obs=False,
            control_freq=control_hz,
        )
        try:
            check_timestep(env)
            robot = env.robots[0]
            controller = {
                "composite": robot.composite_controller_config.get("type"),
                **{
                    part: getattr(ctrl, "name", type(ctrl).__name__)
                    for part, ctrl in robot.part_controllers.items()
                },
            }
            low, high = env.action_spec
            actions = _random_actions(low, high, warmup + steps, seed)

            env.reset()
            for action in actions[:warmup]:
                if env.step(action)[2]:
                    env.reset()
            env.reset()

            resets, reset_wall = 0, 0.0
            with _bar(steps, f"robosuite {timestep * 1e3:g} ms", progress) as bar:
                wall0, cpu0 = time.perf_counter(), time.process_time()
                for action in actions[warmup:]:
                    if env.step(action)[2]:
                        reset0 = time.perf_counter()
                        env.reset()
                        reset_wall += time.perf_counter() - reset0
                        resets += 1
                    bar.update()
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            check_timestep(env)  # still right after any hard resets
            substeps = round(env.control_timestep / env.model_timestep)
            horizon, hard_reset = env.horizon, env.hard_reset
        finally:
            env.close()
    finally:
        macros.SIMULATION_TIMESTEP = saved
    result = _timing(steps, wall, cpu, resets, reset_wall)
    result.update(
        env="Lift",
        robot="Panda",
        controller=controller,
        physics_dt=timestep,
        physics_steps_per_env_step=substeps,
        horizon=horizon,
        hard_reset=hard_reset,
        action_shape=list(np.shape(low)),
    )
    return result


def measure_physics(
    steps: int,
    control_hz: float = CONTROL_HZ,
    progress: bool = True,
) -> dict[str, Any]:
    """Raw `mj_step` rate of the twin scene, also expressed as env steps/s.

    `steps` counts env steps, so `steps * physics steps per env step` mj_steps are timed. The
    arm starts at home with the torques the impedance law applies there (one env step of the real
    controller), which are then frozen; the state is restored every simulated second (outside
    the timed region) so the arm stays near the configuration the env runs in.
    """
    import mujoco

    from robolearn.robot.base import make_robot

    robot = make_robot("twin", scene=SCENE)
    robot.connect()
    try:
        m, d = robot.model, robot.data
        physics_dt = float(m.opt.timestep)
        per_env = _steps_per_env_step(control_hz, physics_dt)
        robot.reset()
        robot.advance(per_env * physics_dt)  # the controller sets holding torques + fingers
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        start = np.empty(mujoco.mj_stateSize(m, spec))
        mujoco.mj_getState(m, d, start, spec)
        chunk = max(1, round(PHYSICS_RESTORE_EVERY_S / physics_dt))
        step = mujoco.mj_step

        for _ in range(min(chunk, per_env * steps)):  # warm-up
            step(m, d)

        total = per_env * steps
        done = 0
        wall = cpu = 0.0
        with _bar(total, "raw mj_step", progress) as bar:
            while done < total:
                k = min(chunk, total - done)
                mujoco.mj_setState(m, d, start, spec)
                wall0, cpu0 = time.perf_counter(), time.process_time()
                for _ in range(k):
                    step(m, d)
                wall += time.perf_counter() - wall0
                cpu += time.process_time() - cpu0
                done += k
                bar.update(k)
        if not np.all(np.isfinite(d.qpos)):
            raise RuntimeError("the raw physics loop diverged")
    finally:
        robot.close()
    raw = total / wall
    return {
        "raw_mj_step_per_s": raw,
        "steps_per_s": raw / per_env,
        "mj_steps": total,
        "seconds": wall,
        "cpu_seconds": cpu,
        "physics_dt": physics_dt,
        "physics_steps_per_env_step": per_env,
        "scene": SCENE,
        "nq": int(m.nq),
        "nv": int(m.nv),
    }


def _worker(
    kind: str, steps: int, seed: int, warmup: int, control_hz: float, progress: bool
) -> dict:
    if kind == "physics":
        return measure_physics(steps, control_hz, progress)
    if kind == "twin":
        return measure_twin(steps, seed, warmup, control_hz, progress)
    if kind == "robosuite":
        return measure_robosuite(steps, seed, warmup, control_hz, PHYSICS_DT, progress)
    if kind == "robosuite_default":
        return measure_robosuite(steps, seed, warmup, control_hz, ROBOSUITE_DEFAULT_DT, progress)
    raise ValueError(f"unknown measurement {kind!r}")


WORKERS = ("physics", "twin", "robosuite", "robosuite_default")


def _run_isolated(
    kind: str, steps: int, seed: int, warmup: int, control_hz: float, progress: bool
) -> dict:
    """Run one measurement in a fresh interpreter; its stdout is forwarded to our stderr."""
    with tempfile.TemporaryDirectory(prefix="robolearn-bench-") as tmp:
        out = Path(tmp) / f"{kind}.json"
        cmd = [
            sys.executable,
            "-m",
            __name__ if __name__ != "__main__" else "robolearn.bench.env_throughput",
            "--worker",
            kind,
            "--worker-out",
            str(out),
            "--steps",
            str(steps),
            "--seed",
            str(seed),
            "--warmup",
            str(warmup),
            "--control-hz",
            repr(control_hz),
        ]
        if not progress:
            cmd.append("--no-progress")
        # The environment is inherited as is (thread-count variables included).
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
        if proc.stdout:
            sys.stderr.write(proc.stdout)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(
                f"the {kind!r} measurement failed (exit status {proc.returncode}); "
                "its traceback is on stderr above"
            )
        return json.loads(out.read_text())


# --- the whole benchmark ----------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info = common.machine_info(("mujoco", "robosuite", "numpy", "numba", "gymnasium"))
    info["thread_env"] = {name: os.environ.get(name) for name in THREAD_VARS}
    return info


def run_benchmark(
    steps: int = DEFAULT_STEPS,
    seed: int = DEFAULT_SEED,
    warmup: int = DEFAULT_WARMUP,
    control_hz: float = CONTROL_HZ,
    progress: bool = True,
    isolate: bool = True,
) -> dict[str, Any]:
    """Run all measurements (one fresh process each unless `isolate=False`); return the report."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    run = _run_isolated if isolate else _worker
    details = {kind: run(kind, steps, seed, warmup, control_hz, progress) for kind in WORKERS}
    physics, twin = details["physics"], details["twin"]
    robosuite, robosuite_default = details["robosuite"], details["robosuite_default"]

    warnings = []
    if twin["physics_dt"] is None:
        warnings.append("could not read the twin env's physics timestep; assumed the twin default")
    elif not math.isclose(twin["physics_dt"], physics["physics_dt"], rel_tol=1e-9):
        warnings.append(
            f"the twin env steps physics at {twin['physics_dt']} s but the raw-physics scene at "
            f"{physics['physics_dt']} s; the physics limit is not comparable"
        )
    if not math.isclose(robosuite["physics_dt"], physics["physics_dt"], rel_tol=1e-9):
        warnings.append("robosuite and the twin ran at different physics timesteps")

    ratio = twin["steps_per_s"] / robosuite["steps_per_s"]
    fraction = twin["steps_per_s"] / physics["steps_per_s"]
    met = {
        "ratio_vs_robosuite": ratio >= TARGETS["ratio_vs_robosuite"],
        "fraction_of_physics_limit": fraction >= TARGETS["fraction_of_physics_limit"],
    }
    met["all"] = all(met.values())
    return {
        "benchmark": "env_throughput",
        "env_id": ENV_ID,
        "twin_steps_per_s": twin["steps_per_s"],
        "robosuite_steps_per_s": robosuite["steps_per_s"],
        "robosuite_steps_per_s_default_timestep": robosuite_default["steps_per_s"],
        "physics_limit_steps_per_s": physics["steps_per_s"],
        "raw_mj_step_per_s": physics["raw_mj_step_per_s"],
        "ratio_vs_robosuite": ratio,
        "fraction_of_physics_limit": fraction,
        "targets": dict(TARGETS),
        "targets_met": met,
        "steps": steps,
        "warmup_steps": warmup,
        "seed": seed,
        "control_hz": control_hz,
        "physics_dt": physics["physics_dt"],
        "physics_steps_per_env_step": physics["physics_steps_per_env_step"],
        "robosuite_default_physics_dt": ROBOSUITE_DEFAULT_DT,
        "isolation": "one subprocess per measurement, sequential" if isolate else "in-process",
        "machine": machine_info(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "warnings": warnings,
        "details": details,
    }


def format_table(report: dict[str, Any]) -> str:
    """A readable summary of `run_benchmark`'s report."""
    d = report["details"]
    dt_ms = report["physics_dt"] * 1e3
    rows = [
        ("twin env (robolearn)", d["twin"], f"{dt_ms:g} ms physics"),
        ("robosuite Lift", d["robosuite"], f"{dt_ms:g} ms physics (same as twin)"),
        (
            "robosuite Lift",
            d["robosuite_default"],
            f"{report['robosuite_default_physics_dt'] * 1e3:g} ms physics (robosuite default)",
        ),
        (
            "physics limit",
            d["physics"],
            f"raw mj_step {report['raw_mj_step_per_s']:,.0f}/s "
            f"/ {report['physics_steps_per_env_step']}",
        ),
    ]
    lines = [
        f"env throughput at {report['control_hz']:g} Hz control, {report['steps']} env steps, "
        f"seed {report['seed']}",
        f"{'':24} {'env steps/s':>12} {'seconds':>9} {'resets':>7} {'reset s':>8}  notes",
    ]
    for name, r, note in rows:
        rate, seconds = r["steps_per_s"], r["seconds"]
        resets = r.get("resets", "")
        reset_s = f"{r['reset_seconds']:.2f}" if "reset_seconds" in r else ""
        lines.append(f"{name:24} {rate:12.1f} {seconds:9.2f} {resets!s:>7} {reset_s:>8}  {note}")
    for key, label, unit in (
        ("ratio_vs_robosuite", "twin / robosuite", "x"),
        ("fraction_of_physics_limit", "twin / physics limit", " "),
    ):
        verdict = "met" if report["targets_met"][key] else "NOT met"
        lines.append(
            f"{label:24} {report[key]:12.2f}{unit}  target >= {report['targets'][key]:g}: {verdict}"
        )
    for warning in report["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robolearn bench env",
        description=(
            "Env steps/s of the twin env vs robosuite Lift (same 1 ms physics) vs the raw "
            "MuJoCo limit; prints one JSON object."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON on stdout")
    parser.add_argument(
        "--steps", type=common.positive_int, default=DEFAULT_STEPS, help="env steps timed per env"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the random actions")
    parser.add_argument(
        "--warmup", type=common.nonnegative_int, default=DEFAULT_WARMUP, help="untimed steps first"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the measurements in this process instead of one fresh process each",
    )
    parser.add_argument("--control-hz", type=float, default=CONTROL_HZ, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress = not args.no_progress
    if args.worker:
        result = _worker(args.worker, args.steps, args.seed, args.warmup, args.control_hz, progress)
        text = json.dumps(result, indent=2)
        if args.worker_out:
            args.worker_out.write_text(text + "\n")
        else:
            print(text)
        return 0

    report = run_benchmark(
        steps=args.steps,
        seed=args.seed,
        warmup=args.warmup,
        control_hz=args.control_hz,
        progress=progress,
        isolate=not args.in_process,
    )
    common.emit_report(report, json_only=args.json, out=args.out, table=format_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
