"""The learner side of RLPD: replay buffers, update-to-data bookkeeping and checkpoints.

One `Learner` serves both the in-process loop (`robolearn.learn.train.train_rlpd`) and a
distributed learner node that receives transition batches from actors: whoever produces
transitions calls `add`, reports finished episodes with `record_episode`, and calls `update`
with the number of new environment steps; the learner keeps RLPD's update-to-data ratio.

    learner = Learner(agent, ReplayBuffer(obs_space, act_space, 100_000), demos)
    learner.add(batch, intervened=mask)      # replay.py's batch layout
    metrics = learner.update(new_env_steps=len(batch["action"]))
    learner.save("runs/x/checkpoints")        # atomic; Learner.load(...) resumes exactly

Interventions (HIL-SERL, Luo et al. 2024, https://arxiv.org/abs/2410.21845): transitions in
which a human (or a scripted stand-in) overrode the policy go into the online buffer like any
other and also into the demo buffer, which then grows beyond the prior demos.

Checkpoints (`save` / `load`) are directories::

    <directory>/latest                 the name of the newest complete checkpoint
    <directory>/ckpt-000007-step-1400/ agent.safetensors   networks, targets, temperature,
                                                            optimizer moments, agent RNG
                                       online.npz, demos.npz   replay buffers (no pickle)
                                       learner.json        counters, sampling RNG, config, time
                                                            and the caller's ``extra`` state

A checkpoint is written into a temporary directory beside the others, fsynced, renamed into
place, and only then named in ``latest`` (itself replaced atomically), so a process killed at
any moment leaves ``latest`` naming a complete checkpoint. The previous one is kept.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from robolearn.learn.replay import Batch, ReplayBuffer
from robolearn.learn.rlpd import RLPDAgent, RLPDConfig

log = logging.getLogger(__name__)

FORMAT = "robolearn.learner"
FORMAT_VERSION = 1
LATEST = "latest"
AGENT_FILE = "agent.safetensors"
ONLINE_FILE = "online.npz"
DEMOS_FILE = "demos.npz"
STATE_FILE = "learner.json"
_TMP_PREFIX = ".tmp-"
_INITIAL_DEMO_CAPACITY = 1024  # rows, when interventions start a demo buffer from nothing


class CheckpointError(RuntimeError):
    """A checkpoint directory is missing, incomplete or of another format."""


class Learner:
    """RLPD's learner: an agent, an online and a demo replay buffer, counters, checkpoints.

    Counters (plain ints, checkpointed): ``env_steps`` (transitions added), ``updates`` (critic
    gradient steps), ``episodes`` and ``successes`` (from `record_episode`),
    ``intervention_steps`` (transitions added with ``intervened`` set).

    ``learning_starts``: no updates before this many environment steps. ``seed`` seeds the
    minibatch sampling (the agent's own randomness is seeded by its config).

    Not thread-safe: a node that receives transitions on one thread and updates on another
    holds a lock around `add`, `update` and `save`.
    """

    def __init__(
        self,
        agent: RLPDAgent,
        online: ReplayBuffer,
        demos: ReplayBuffer | None = None,
        *,
        learning_starts: int = 1000,
        seed: int = 0,
    ) -> None:
        if learning_starts < 0:
            raise ValueError(f"learning_starts must be >= 0, got {learning_starts}")
        if demos is not None and len(demos) == 0:
            raise ValueError("the demo buffer is empty; pass demos=None to learn without demos")
        self.agent = agent
        self.online = online
        self.demos = demos
        self.learning_starts = int(learning_starts)
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)
        self.env_steps = 0
        self.updates = 0
        self.episodes = 0
        self.successes = 0
        self.intervention_steps = 0
        self.last_episode: dict[str, float] = {}
        # Growth limit of the demo buffer: the prior demos plus as many intervention steps as
        # the online buffer holds; past it the oldest demo rows are overwritten (FIFO).
        self._demo_limit = (len(demos) if demos is not None else 0) + online.capacity
        self.extra: dict[str, Any] = {}  # the caller's state from the last `load`

    # --- data -------------------------------------------------------------------------------
    def add(self, batch: Mapping[str, Any], *, intervened: np.ndarray | None = None) -> None:
        """Append transitions (replay.py's batch layout, a leading row axis) to the online
        buffer. Rows where ``intervened`` is true also go into the demo buffer (HIL-SERL),
        which is created on the first intervention if there were no demos."""
        n = len(batch["action"])
        if n == 0:
            return
        self.online.add_batch(batch)
        self.env_steps += n
        if intervened is None:
            return
        mask = np.asarray(intervened, dtype=bool).reshape(-1)
        if mask.shape != (n,):
            raise ValueError(f"intervened has {mask.size} flags for {n} transitions")
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        self._add_demos(_take(batch, rows))
        self.intervention_steps += len(rows)

    def add_transition(
        self,
        obs: Any,
        action: np.ndarray,
        reward: float,
        next_obs: Any,
        terminated: bool,
        truncated: bool,
        *,
        intervened: bool = False,
    ) -> None:
        """`add` for one transition, with observations as the env returns them."""
        self.online.add(obs, action, reward, next_obs, terminated, truncated)
        self.env_steps += 1
        if intervened:
            self._add_demos(_one_row_batch(obs, action, reward, next_obs, terminated, truncated))
            self.intervention_steps += 1

    def _add_demos(self, batch: Batch) -> None:
        n = len(batch["action"])
        if self.demos is None:
            capacity = min(max(_INITIAL_DEMO_CAPACITY, n), self._demo_limit)
            self.demos = ReplayBuffer(
                self.online.observation_space, self.online.action_space, capacity
            )
        demos = self.demos
        need = len(demos) + n
        if need > demos.capacity and demos.capacity < self._demo_limit:
            demos.grow(min(max(need, 2 * demos.capacity), self._demo_limit))
        if n > demos.capacity:  # more rows than the limit: keep the newest
            batch = _take(batch, np.arange(n - demos.capacity, n))
        demos.add_batch(batch)

    def record_episode(
        self,
        success: bool,
        *,
        episode_return: float = float("nan"),
        length: int = 0,
        interventions: int = 0,
    ) -> None:
        """Count a finished episode (``episodes``, ``successes``) and keep its summary in
        ``last_episode`` for logging. ``interventions`` (steps the operator acted in this
        episode) is only reported there: ``intervention_steps`` counts what `add` was told."""
        self.episodes += 1
        self.successes += int(bool(success))
        self.last_episode = {
            "success": float(bool(success)),
            "return": float(episode_return),
            "length": float(length),
            "interventions": float(interventions),
            "intervention_rate": interventions / length if length > 0 else 0.0,
        }

    # --- learning ---------------------------------------------------------------------------
    def ready(self) -> bool:
        """True once ``learning_starts`` environment steps are in and the buffer is not empty."""
        return self.env_steps >= self.learning_starts and len(self.online) > 0

    def update(self, new_env_steps: int = 1) -> dict[str, float]:
        """``utd_ratio`` critic steps (and the actor steps they imply) per new environment step,
        once `ready`; nothing before. Each minibatch is half demo, half online (all online
        without demos). The observation normaliser, if any, is fitted first on every
        observation so far. Returns the agent's metrics plus ``utd`` (critic steps per
        environment step since learning started) and ``temperature``; {} when not ready."""
        if new_env_steps < 0:
            raise ValueError(f"new_env_steps must be >= 0, got {new_env_steps}")
        if not self.ready() or new_env_steps == 0:
            return {}
        agent, cfg = self.agent, self.agent.config
        if agent.needs_observation_stats:
            agent.fit_observation_stats(_stats_sample(self.online, self.demos, agent.encoder.keys))
        if agent.needs_bc_prior and self.demos is not None:
            loss = agent.fit_bc_prior(self.demos.batch(np.arange(len(self.demos))))
            log.info("BC prior fitted on %d demo transitions (loss %.4f)", len(self.demos), loss)
        g = cfg.utd_ratio
        n_online, n_demo = cfg.split() if self.demos is not None else (cfg.batch_size, 0)
        demos = self.demos if n_demo > 0 else None  # demo_fraction 0: plain online batches
        metrics: dict[str, float] = {}
        for _ in range(new_env_steps):
            if cfg.n_step > 1:
                online = self.online.sample_nstep(g * n_online, self.rng, cfg.n_step, cfg.discount)
                demo = (
                    demos.sample_nstep(g * n_demo, self.rng, cfg.n_step, cfg.discount)
                    if demos is not None
                    else None
                )
            else:
                online = self.online.sample(g * n_online, self.rng)
                demo = demos.sample(g * n_demo, self.rng) if demos is not None else None
            metrics = agent.update(online, demo)
            self.updates += g
        metrics["temperature"] = agent.temperature
        metrics["utd"] = self.utd
        return metrics

    @property
    def utd(self) -> float:
        """Critic gradient steps per environment step since learning could start."""
        since = self.env_steps - max(self.learning_starts, 1) + 1
        return self.updates / since if since > 0 else 0.0

    def counters(self) -> dict[str, float]:
        """Counters and rates for logging."""
        return {
            "env_steps": self.env_steps,
            "updates": self.updates,
            "episodes": self.episodes,
            "successes": self.successes,
            "intervention_steps": self.intervention_steps,
            "intervention_rate": self.intervention_steps / max(1, self.env_steps),
            "online_size": len(self.online),
            "demo_size": len(self.demos) if self.demos is not None else 0,
            "utd": self.utd,
        }

    # --- checkpoints ------------------------------------------------------------------------
    def save(self, directory: str | Path, *, extra: Mapping[str, Any] | None = None) -> Path:
        """Write a checkpoint under ``directory`` atomically and name it in ``latest``; the
        previous checkpoint is kept, older ones are removed. ``extra``: JSON-ready state of the
        caller (the training loop's env RNG, evaluation curve, ...), returned by `load` in
        ``extra``. Returns the new checkpoint's directory."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(root)
        index = max((i for i, _ in _checkpoints(root)), default=0) + 1
        name = f"ckpt-{index:06d}-step-{self.env_steps}"
        tmp = root / f"{_TMP_PREFIX}{name}-{os.getpid()}"
        tmp.mkdir()
        try:
            started = time.perf_counter()
            self.agent.save(tmp / AGENT_FILE)
            self.online.save(tmp / ONLINE_FILE)
            if self.demos is not None:
                self.demos.save(tmp / DEMOS_FILE)
            state = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "saved_at": datetime.now(UTC).isoformat(),
                "counters": {
                    "env_steps": self.env_steps,
                    "updates": self.updates,
                    "episodes": self.episodes,
                    "successes": self.successes,
                    "intervention_steps": self.intervention_steps,
                },
                "learning_starts": self.learning_starts,
                "seed": self.seed,
                "demo_limit": self._demo_limit,
                "rng": self.rng.bit_generator.state,
                "agent_config": self.agent.config.to_dict(),
                "buffers": {
                    "online": {"size": len(self.online), "capacity": self.online.capacity},
                    "demos": (
                        {"size": len(self.demos), "capacity": self.demos.capacity}
                        if self.demos is not None
                        else None
                    ),
                },
                "last_episode": self.last_episode,
                "extra": dict(extra or {}),
            }
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
            for path in tmp.iterdir():
                _fsync(path)
            _fsync(tmp)
            final = root / name
            os.replace(tmp, final)  # a fresh name: the rename of a complete directory
            _fsync(root)
            _write_atomic(root / LATEST, name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for _, old in _checkpoints(root)[:-2]:  # keep the new one and the previous one
            shutil.rmtree(old, ignore_errors=True)
        log.info("checkpoint %s (%.2f s)", final, time.perf_counter() - started)
        return final

    @staticmethod
    def latest(directory: str | Path) -> Path | None:
        """The newest complete checkpoint under ``directory`` (or ``directory`` itself if it is
        one), None if there is none."""
        root = Path(directory)
        if (root / STATE_FILE).is_file():
            return root
        pointer = root / LATEST
        if pointer.is_file():
            named = root / pointer.read_text().strip()
            if (named / STATE_FILE).is_file():
                return named
            log.warning(
                "%s names %s, which is incomplete; using the newest complete", pointer, named
            )
        complete = [p for _, p in _checkpoints(root) if (p / STATE_FILE).is_file()]
        return complete[-1] if complete else None

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        agent: RLPDAgent | None = None,
        observation_space: gym.Space | None = None,
        action_space: gym.spaces.Box | None = None,
        expected_config: RLPDConfig | None = None,
        device: str = "auto",
    ) -> Learner:
        """Restore the checkpoint at ``directory`` (a checkpoint root: its ``latest``; or one
        checkpoint's directory) exactly: agent, buffers, counters, sampling RNG.

        The agent is ``agent`` (its state replaced) or a new one built from the stored config
        on ``observation_space`` / ``action_space`` (default: the online buffer's, rebuilt from
        the stored arrays; pass the env's spaces when the encoder depends on their bounds), on
        ``device``. A checkpoint whose observations or actions do not fit the given spaces, or
        whose agent config differs from ``expected_config``, raises `CheckpointError` naming
        what differs (instead of a tensor-size error half way through loading)."""
        path = cls.latest(directory)
        if path is None:
            raise CheckpointError(
                f"no complete learner checkpoint under {directory} (expected {LATEST} or "
                f"ckpt-* directories with {STATE_FILE}); start without resume"
            )
        state = json.loads((path / STATE_FILE).read_text())
        if state.get("format") != FORMAT or state.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: not a {FORMAT} v{FORMAT_VERSION} checkpoint "
                f"(format {state.get('format')!r} v{state.get('format_version')!r})"
            )
        if expected_config is not None:
            from robolearn.config import diff

            changed = diff(state["agent_config"], expected_config, ignore=("seed",))
            if changed:
                raise CheckpointError(
                    f"{path} was trained with another agent config ({'; '.join(changed)}); "
                    "start a new run (another checkpoint folder) or use the saved settings"
                )
        online = ReplayBuffer.load(path / ONLINE_FILE)
        _check_spaces(path, online, observation_space, action_space)
        demos = ReplayBuffer.load(path / DEMOS_FILE) if (path / DEMOS_FILE).is_file() else None
        if agent is None:
            config = RLPDConfig.from_dict(state["agent_config"])
            agent = RLPDAgent(
                observation_space or online.observation_space,
                action_space or online.action_space,
                config,
                device=device,
            )
        agent.load(path / AGENT_FILE)
        if observation_space is not None:
            online.observation_space = observation_space
        learner = cls(
            agent,
            online,
            demos,
            learning_starts=state["learning_starts"],
            seed=state["seed"],
        )
        for key, value in state["counters"].items():
            setattr(learner, key, int(value))
        learner.rng.bit_generator.state = state["rng"]
        learner._demo_limit = int(state["demo_limit"])
        learner.last_episode = dict(state.get("last_episode") or {})
        learner.extra = dict(state.get("extra") or {})
        log.info(
            "resumed %s: %d env steps, %d updates, %d online + %d demo transitions",
            path,
            learner.env_steps,
            learner.updates,
            len(online),
            len(demos) if demos is not None else 0,
        )
        return learner


# --- helpers ------------------------------------------------------------------------------------
def _stats_sample(
    online: ReplayBuffer, demos: ReplayBuffer | None, keys: Sequence[str]
) -> dict[str, np.ndarray]:
    """Every observation so far of the given keys: the online buffer's and the demos'."""
    parts = [online] + ([demos] if demos is not None else [])
    return {
        key: np.concatenate([p.obs[key][: len(p)] for p in parts])
        for key in keys
        if all(key in p.obs for p in parts)
    }


def _check_spaces(
    path: Path,
    online: ReplayBuffer,
    observation_space: gym.Space | None,
    action_space: gym.spaces.Box | None,
) -> None:
    """The checkpoint's stored observation keys/shapes and action shape fit the env's."""
    from robolearn.learn.networks import flatten_space

    if observation_space is not None:
        want = {k: tuple(s.shape) for k, s in flatten_space(observation_space).items()}
        have = {k: shape for k, (shape, _) in online.obs_specs.items()}
        wrong = {k: (have.get(k), want.get(k)) for k in set(want) | set(have)}
        wrong = {k: v for k, v in wrong.items() if v[0] != v[1] and k in have}
        if wrong:
            detail = ", ".join(f"{k or 'obs'} {a} vs the env's {b}" for k, (a, b) in wrong.items())
            raise CheckpointError(
                f"{path} holds observations of another env ({detail}): a checkpoint of another "
                "task or env; start a new run in another checkpoint folder"
            )
    if action_space is not None and tuple(online.action_space.shape) != tuple(action_space.shape):
        raise CheckpointError(
            f"{path} holds actions of shape {tuple(online.action_space.shape)}, the env's are "
            f"{tuple(action_space.shape)} (another task, env or action mode); start a new run"
        )


def _take(batch: Mapping[str, Any], rows: np.ndarray) -> Batch:
    """The given rows of a batch (nested observation dicts kept nested)."""
    out: Batch = {}
    for key, value in batch.items():
        if isinstance(value, Mapping):
            out[key] = _take(value, rows)
        else:
            out[key] = np.asarray(value)[rows]
    return out


def _one_row_batch(
    obs: Any, action: Any, reward: float, next_obs: Any, terminated: bool, truncated: bool
) -> Batch:
    def rows(x: Any) -> Any:
        if isinstance(x, Mapping):
            return {k: rows(v) for k, v in x.items()}
        return np.asarray(x)[None]

    return {
        "obs": rows(obs),
        "next_obs": rows(next_obs),
        "action": np.asarray(action)[None],
        "reward": np.asarray([reward], np.float32),
        "terminated": np.asarray([terminated]),
        "truncated": np.asarray([truncated]),
    }


def _checkpoints(root: Path) -> list[tuple[int, Path]]:
    """The ``ckpt-NNNNNN-*`` directories under ``root``, oldest first."""
    found = []
    for path in root.glob("ckpt-*"):
        parts = path.name.split("-")
        if path.is_dir() and len(parts) > 1 and parts[1].isdigit():
            found.append((int(parts[1]), path))
    return sorted(found)


def _remove_stale_temporaries(root: Path) -> None:
    """Temporary directories left by a save that was killed (one writer per directory)."""
    for path in root.glob(f"{_TMP_PREFIX}*"):
        log.warning("removing %s, left by an interrupted checkpoint", path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)
