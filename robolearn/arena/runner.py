"""The evaluation runner: policies x scenes x perturbation conditions x seeds.

Each episode is one job with a stable id. Its result is one JSON file under
`<out>/episodes/`, written atomically (temporary file, fsync, rename) by the worker that ran
it, so a killed run loses at most the episodes in flight and `run` again skips every episode
that has a file. Jobs run in-process (`serial`), in local worker processes (`processes`,
spawned, one torch thread each) or on a Ray cluster (`ray`, `--ray [ADDRESS]`).
Rollout videos (front camera, WebM) are kept for the first `videos` seeds of every
(policy, condition, scene), the same seeds for every policy so they pair up for human labels.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.arena.perturb import Condition, ModelSnapshot, load_suite
from robolearn.registry import Registry

log = logging.getLogger(__name__)

RESULT_FORMAT = "robolearn.arena.episode"


class ArenaError(RuntimeError):
    """The evaluation cannot run as configured; the message says what to change."""


@dataclass(kw_only=True)
class ArenaConfig:
    """One evaluation: what to run and where results go."""

    task: str = "pick_cube"
    policies: list[str] = field(default_factory=lambda: ["expert", "noisy_expert:0.5", "random"])
    suite: str = "small"  # a built-in suite name or a YAML file (robolearn.arena.perturb)
    seeds: int = 10  # episodes per (policy, condition, scene)
    seed_offset: int = 1000
    suite_seed: int = 0
    scenes: list[str] = field(default_factory=list)  # scene spec JSONs; empty: task resets
    videos: int = 1  # seeds per (policy, condition, scene) with a rollout video
    video_size: tuple[int, int] = (96, 128)
    control_hz: float = 10.0
    episode_seconds: float | None = None  # default: the task's

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(raw: dict[str, Any]) -> ArenaConfig:
        raw = dict(raw)
        raw["video_size"] = tuple(raw.get("video_size", (96, 128)))
        return ArenaConfig(**raw)


@dataclass(frozen=True)
class EpisodeJob:
    policy: str
    condition: str
    seed: int
    scene: str | None = None
    video: bool = False

    @property
    def id(self) -> str:
        from robolearn.arena.policies import split_policy_entry

        scene = Path(self.scene).stem if self.scene else "reset"
        raw = f"{split_policy_entry(self.policy)[0]}__{self.condition}__{scene}__{self.seed}"
        return re.sub(r"[^A-Za-z0-9_.=-]+", "-", raw)


def plan_jobs(config: ArenaConfig, conditions: Sequence[Condition]) -> list[EpisodeJob]:
    """Every episode of the evaluation, seeds outermost (a partial run covers every policy)."""
    scenes: list[str | None] = list(config.scenes) or [None]
    jobs = []
    for k in range(config.seeds):
        for cond in conditions:
            for scene in scenes:
                for policy in config.policies:
                    jobs.append(
                        EpisodeJob(
                            policy=policy,
                            condition=cond.name,
                            seed=config.seed_offset + k,
                            scene=scene,
                            video=k < config.videos,
                        )
                    )
    ids = [j.id for j in jobs]
    if len(set(ids)) != len(ids):
        raise ArenaError("two jobs map to the same id: policy or scene names collide")
    return jobs


# --- running one episode (in any worker) ------------------------------------------------------
class _WorkerState:
    """What a worker keeps between episodes: built envs per condition, built policies."""

    def __init__(self, config: ArenaConfig, out_dir: Path) -> None:
        self.config = config
        self.out_dir = out_dir
        self.conditions = {c.name: c for c in load_suite(config.suite)}
        self.envs: dict[tuple[Any, ...], Any] = {}
        self.policies: dict[str, Any] = {}
        self.scenes: dict[str, Any] = {}

    def env_for(
        self, condition: Condition, cameras: tuple[str, ...], image_size: tuple[int, int]
    ) -> Any:
        key = (condition.name, cameras, image_size)
        if key not in self.envs:
            from robolearn.arena.task import ArenaTask
            from robolearn.envs.robot_env import RobotEnv
            from robolearn.robot.twin import TwinConfig, TwinRobot
            from robolearn.sim.tasks import TASKS

            cfg = self.config
            task_cls = TASKS.get(cfg.task)
            robot = TwinRobot(
                TwinConfig(
                    scene=task_cls.scene,
                    cameras=cameras,
                    image_size=image_size,
                    limits_file=condition.limits_file(cfg.suite_seed),
                    scene_edits=condition.spec_edits(cfg.suite_seed),
                )
            )
            task = ArenaTask(task_cls(robot.limits), condition, cfg.suite_seed, cfg.episode_seconds)
            env = RobotEnv(robot, task, control_hz=cfg.control_hz)
            self.envs[key] = (env, ModelSnapshot(robot.model))
        return self.envs[key]

    def policy(self, spec: str) -> Any:
        if spec not in self.policies:
            from robolearn.arena.policies import make_policy

            self.policies[spec] = make_policy(spec)
        return self.policies[spec]

    def scene(self, path: str | None) -> Any:
        if path is None:
            return None
        if path not in self.scenes:
            from robolearn.arena.reconstruct import SceneSpec

            self.scenes[path] = SceneSpec.load(path)
        return self.scenes[path]


def run_episode(state: _WorkerState, job: EpisodeJob, run_id: str) -> dict[str, Any]:
    """Roll out one job and write its result file; returns the result."""
    from robolearn.arena.policies import split_policy_entry

    t0, cpu0 = time.perf_counter(), time.process_time()
    cfg = state.config
    condition = state.conditions.get(job.condition)
    if condition is None:
        raise ArenaError(f"condition {job.condition!r} is not in suite {cfg.suite!r}")
    policy = state.policy(job.policy)
    env, snapshot = state.env_for(condition, tuple(policy.cameras), tuple(policy.image_size))
    snapshot.restore(env.robot.model)
    env.task.prepare(scene=state.scene(job.scene), episode_seed=job.seed)
    obs, info = env.reset(seed=job.seed)
    initial_objects = [float(v) for v in info["object_state"]]
    policy.reset(env, job.seed)
    frames = [env.robot.render("front", cfg.video_size)] if job.video else []
    progress = float(info["dense_reward"])
    total, steps, first_success = 0.0, 0, None
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, env))
        steps += 1
        total += float(reward)
        progress = max(progress, float(info["dense_reward"]))
        if info["is_success"] and first_success is None:
            first_success = steps
        if job.video:
            frames.append(env.robot.render("front", cfg.video_size))
        if terminated or truncated:
            break
    success = bool(info["is_success"])
    video = None
    if job.video:
        video = write_webm(frames, state.out_dir / "videos" / f"{job.id}.webm", cfg.control_hz)
    result = {
        "format": RESULT_FORMAT,
        "id": job.id,
        "run_id": run_id,
        "task": cfg.task,
        **asdict(job),
        "policy": split_policy_entry(job.policy)[0],
        "policy_spec": job.policy,
        "success": success,
        "progress": 1.0 if success else progress,
        "final_dense_reward": float(info["dense_reward"]),
        "return": total,
        "steps": steps,
        "steps_to_success": first_success,
        "max_steps": env.max_episode_steps,
        "terms": {k: float(v) for k, v in info["reward_terms"].items()},
        "initial_object_state": initial_objects,  # the task's object_state after the reset
        "video": str(video.relative_to(state.out_dir)) if video else None,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,  # this worker's CPU time (wall_s minus waiting)
        "pid": os.getpid(),
    }
    write_json_atomic(state.out_dir / "episodes" / f"{job.id}.json", result)
    return result


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write-then-rename with fsyncs: the file is either absent or complete after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as f:
        json.dump(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_webm(frames: Sequence[np.ndarray], path: Path, fps: float) -> Path:
    """A VP8 WebM video (plays in browsers, unlike OpenCV's mp4v)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.webm")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"VP80"), float(fps), (w, h))
    if not writer.isOpened():
        raise ArenaError("OpenCV cannot write VP8 WebM here (opencv-python-headless has it)")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    os.replace(tmp, path)
    return path


# --- executors --------------------------------------------------------------------------------
_STATE: _WorkerState | None = None


def _init_worker(config: dict[str, Any], out_dir: str) -> None:
    """Process-pool initializer: rendering backend, one torch thread, the worker state."""
    global _STATE
    # OSMesa (MuJoCo rendering) and triton each load an LLVM; together they segfault. Workers
    # run torch on the CPU, where torch treats a failed triton import as "no triton".
    sys.modules.setdefault("triton", None)  # type: ignore[arg-type]
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    _STATE = _WorkerState(ArenaConfig.from_json(config), Path(out_dir))


def _run_in_worker(job: dict[str, Any], run_id: str) -> dict[str, Any]:
    if _STATE is None:
        raise ArenaError("worker not initialised")
    return run_episode(_STATE, EpisodeJob(**job), run_id)


def _warm(condition: str, policy: str) -> int:
    """Build a condition's env in this worker (benchmarks exclude start-up this way)."""
    if _STATE is None:
        raise ArenaError("worker not initialised")
    cond = _STATE.conditions[condition]
    pol = _STATE.policy(policy)
    _STATE.env_for(cond, tuple(pol.cameras), tuple(pol.image_size))
    return os.getpid()


class Executor(abc.ABC):
    """Runs episode jobs somewhere and yields their results as they finish."""

    def __init__(
        self, config: ArenaConfig, out_dir: Path, workers: int = 1, address: str | None = None
    ) -> None:
        self.config, self.out_dir, self.workers, self.address = config, out_dir, workers, address

    @abc.abstractmethod
    def run(self, jobs: Sequence[EpisodeJob], run_id: str) -> Iterator[dict[str, Any]]: ...

    def warm_up(self, conditions: Sequence[str], policy: str) -> None:  # noqa: B027
        """Build the envs of `conditions` in every worker before timing anything."""

    def close(self) -> None:  # noqa: B027
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


EXECUTORS: Registry[type[Executor]] = Registry("executor")


@EXECUTORS.register("serial")
class SerialExecutor(Executor):
    """In this process, one episode after the other (debugging, tests, tiny runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = _WorkerState(self.config, self.out_dir)

    def run(self, jobs: Sequence[EpisodeJob], run_id: str) -> Iterator[dict[str, Any]]:
        for job in jobs:
            yield run_episode(self.state, job, run_id)

    def warm_up(self, conditions: Sequence[str], policy: str) -> None:
        pol = self.state.policy(policy)
        for name in conditions:
            self.state.env_for(
                self.state.conditions[name], tuple(pol.cameras), tuple(pol.image_size)
            )


@EXECUTORS.register("processes")
class ProcessExecutor(Executor):
    """Local worker processes (spawned: no forked MuJoCo/OpenGL state), one episode per task."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.config.to_json(), str(self.out_dir)),
        )

    def run(self, jobs: Sequence[EpisodeJob], run_id: str) -> Iterator[dict[str, Any]]:
        from concurrent.futures import as_completed

        futures = [self.pool.submit(_run_in_worker, asdict(j), run_id) for j in jobs]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def warm_up(self, conditions: Sequence[str], policy: str) -> None:
        import time as _time

        # One warm-up task per worker and condition; sleep-free barrier: tasks are short
        # once built, so submitting workers x conditions tasks reaches every worker.
        pids: set[int] = set()
        deadline = _time.monotonic() + 300
        while len(pids) < self.workers and _time.monotonic() < deadline:
            futs = [
                self.pool.submit(_warm, c, policy) for c in conditions for _ in range(self.workers)
            ]
            pids.update(f.result() for f in futs)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """Ray tasks (one CPU each): `address=None` starts a local Ray with `workers` CPUs,
    otherwise joins the cluster at `address` ("auto" or "ray://host:10001")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import ray

        env_vars = {"MUJOCO_GL": "osmesa", "PYOPENGL_PLATFORM": "osmesa", "OMP_NUM_THREADS": "1"}
        if not ray.is_initialized():
            if self.address:
                ray.init(
                    address=self.address, runtime_env={"env_vars": env_vars}, log_to_driver=False
                )
            else:
                ray.init(
                    num_cpus=self.workers,
                    include_dashboard=False,
                    runtime_env={"env_vars": env_vars},
                    log_to_driver=False,
                )
            self._owns_ray = True
        else:
            self._owns_ray = False
        self._ray = ray
        self._task = ray.remote(num_cpus=1)(_ray_episode)

    def run(self, jobs: Sequence[EpisodeJob], run_id: str) -> Iterator[dict[str, Any]]:
        ray = self._ray
        cfg, out = self.config.to_json(), str(self.out_dir)
        pending = [self._task.remote(cfg, out, asdict(j), run_id) for j in jobs]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield self._store_here(ray.get(ref))
        finally:
            for ref in pending:
                ray.cancel(ref)

    def _store_here(self, result: dict[str, Any]) -> dict[str, Any]:
        # On a cluster the worker wrote into its own node's folder: keep a copy of the result
        # (and the video the worker sent along) in the driver's folder too.
        video = result.pop("_video_bytes", None)
        if video is not None and result.get("video"):
            path = self.out_dir / result["video"]
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(video)
        path = self.out_dir / "episodes" / f"{result['id']}.json"
        if not path.is_file():
            write_json_atomic(path, result)
        return result

    def close(self) -> None:
        if self._owns_ray:
            self._ray.shutdown()


def _ray_episode(
    config: dict[str, Any], out_dir: str, job: dict[str, Any], run_id: str
) -> dict[str, Any]:
    # Ray reuses worker processes: the worker state (built envs) survives between tasks.
    global _STATE
    if _STATE is None or _STATE.config.to_json() != config or str(_STATE.out_dir) != out_dir:
        _init_worker(config, out_dir)
    result = _run_in_worker(job, run_id)
    if result.get("video"):
        result = {**result, "_video_bytes": (Path(out_dir) / result["video"]).read_bytes()}
    return result


# --- the run ----------------------------------------------------------------------------------
@dataclass
class RunSummary:
    out_dir: Path
    planned: int
    skipped: int  # already done before this run (resume)
    ran: int
    run_id: str
    wall_s: float


def load_results(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every finished episode of an evaluation folder."""
    folder = Path(out_dir) / "episodes"
    results = []
    for path in sorted(folder.glob("*.json")):
        try:
            results.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            log.warning("ignoring unreadable result %s", path)
    return results


def _check_policies(specs: Sequence[str]) -> None:
    """Build every policy once here, so a typo or a bad checkpoint fails before any worker
    starts (PolicyError names the spec)."""
    from robolearn.arena.policies import make_policy

    if not specs:
        raise ArenaError("no policies to evaluate")
    for spec in specs:
        make_policy(spec)


def run_arena(
    config: ArenaConfig,
    out_dir: str | Path,
    *,
    executor: str = "processes",
    workers: int = 2,
    address: str | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> RunSummary:
    """Run (or resume) an evaluation into `out_dir`; see the module docstring."""
    from tqdm import tqdm

    if workers < 1:
        raise ArenaError(f"workers must be at least 1, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    conditions = load_suite(config.suite)
    # Check everything before the folder is claimed by config.json.
    _check_policies(config.policies)
    for scene in config.scenes:
        if not Path(scene).is_file():
            raise ArenaError(
                f"scene spec {scene} not found (make one with `robolearn arena reconstruct`)"
            )
    config_file = out / "config.json"
    payload = {"config": config.to_json(), "conditions": [c.to_json() for c in conditions]}
    payload = json.loads(json.dumps(payload))  # tuples -> lists, as read back from the file
    if config_file.is_file():
        saved = json.loads(config_file.read_text())
        if saved != payload:
            raise ArenaError(
                f"{out} holds an evaluation with another configuration; resume it with the same"
                " options or choose a new --out"
            )
    else:
        write_json_atomic(config_file, payload)
    jobs = plan_jobs(config, conditions)
    done = {p.stem for p in (out / "episodes").glob("*.json")}
    pending = [j for j in jobs if j.id not in done]
    skipped = len(jobs) - len(pending)
    if limit is not None:
        pending = pending[:limit]
    run_id = uuid.uuid4().hex[:12]
    log.info("%d episodes planned, %d done, %d to run", len(jobs), skipped, len(pending))
    t0 = time.perf_counter()
    ran = 0
    if pending:
        with EXECUTORS.get(executor)(config, out, workers=workers, address=address) as ex:
            bar = tqdm(total=len(pending), desc="arena", unit="ep", disable=not progress)
            for _ in ex.run(pending, run_id):
                ran += 1
                bar.update(1)
            bar.close()
    return RunSummary(out, len(jobs), skipped, ran, run_id, time.perf_counter() - t0)
