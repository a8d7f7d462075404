"""`serl_learner`: the SERL learner over ROS 2 (a thin shell over `robolearn.learn.learner`).

- subscribes ``serl/transitions`` from any number of `serl_actor` nodes (codec ``transitions``
  payloads), adds them to the `Learner` (intervention rows also to its demo buffer) and counts
  the episodes that end in them;
- runs RLPD updates in its spin loop: a timer does at most `max_steps_per_tick` environment
  steps' worth of updates (``utd_ratio`` gradient steps each) per callback, so transitions and
  other callbacks are served in between, and the update-to-data ratio is kept against the
  transitions actually received;
- publishes ``serl/weights`` (codec ``weights``: the policy only, `RLPDAgent.policy_state_dict`)
  every `publish_every` gradient steps with a version that increases by one each time
  (reliable + transient-local, so late actors get the newest at once);
- checkpoints every `checkpoint_every_s` seconds and on shutdown (`Learner.save`, atomic) into
  `checkpoint_dir`, and with `resume` continues from the newest checkpoint there: agent,
  buffers, counters, run id and weights version;
- publishes its counters on ``/diagnostics`` (name ``serl_learner``) once a second, and with
  `log_dir` writes TensorBoard scalars (``episode/*``, ``train/*``, as `robolearn train serl`)
  and ``learning_curve.png`` on shutdown.

The learner builds (and closes) one instance of the env only to read its observation and action
spaces, and to roll out the scripted expert for ``demos:=expert:N``.
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.context import Context
from rclpy.node import Node
from std_msgs.msg import UInt8MultiArray

from robolearn.config import to_dict
from robolearn.learn.actor import episode_stats
from robolearn.learn.codec import (
    CodecError,
    TransitionBatch,
    WeightSnapshot,
    decode_transitions,
    encode_weights,
)
from robolearn.learn.config import LearnerNodeConfig, apply_cpus
from robolearn.learn.learner import Learner
from robolearn.learn.metrics_log import TrainingLog
from robolearn.learn.replay import ReplayBuffer, load_demos
from robolearn.learn.rlpd import RLPDAgent
from robolearn.ros import qos, restrict_discovery_to_localhost
from robolearn.ros.params import (
    CONFIG_NODE_OPTIONS,
    config_parameters,
    declare_config,
    parameter_overrides,
)
from robolearn.ros.serl_wire import (
    LEARNER_STATUS,
    TRANSITIONS_QOS,
    TRANSITIONS_TOPIC,
    WEIGHTS_QOS,
    WEIGHTS_TOPIC,
    bytes_msg,
    msg_bytes,
    spin_until_shutdown,
    status_values,
)

# Every key of the config tree, by dotted name (derived, never a hand-kept copy).
PARAMETERS = config_parameters(LearnerNodeConfig())


class SerlLearnerNode(Node):
    """The SERL learner; `learner` holds the agent, buffers and counters."""

    def __init__(self, *, context: Context | None = None, **overrides: Any) -> None:
        """``overrides`` set parameters by dotted name (as ``-p agent.utd_ratio:=4`` would)."""
        super().__init__(
            "serl_learner",
            context=context,
            parameter_overrides=parameter_overrides(overrides),
            **CONFIG_NODE_OPTIONS,
        )
        self.config = config = declare_config(self, LearnerNodeConfig())
        settings = config.node
        apply_cpus(settings.cpus)
        torch.set_num_threads(config.threads)
        self.env_spec = config.env.name
        env = config.env.make()
        try:
            self.observation_space: gym.Space = env.observation_space
            self.action_space: gym.spaces.Box = env.action_space
            self.checkpoint_dir = Path(settings.checkpoint_dir) if settings.checkpoint_dir else None
            resumable = (
                self.checkpoint_dir is not None
                and settings.resume
                and Learner.latest(self.checkpoint_dir) is not None
            )
            if resumable:
                # A checkpoint of another task, env or agent config is refused, naming the
                # setting that differs (CheckpointError).
                self.learner = Learner.load(
                    self.checkpoint_dir,
                    observation_space=self.observation_space,
                    action_space=self.action_space,
                    expected_config=config.effective_agent(),
                    device=config.device,
                )
                self.run_id = str(self.learner.extra.get("run_id") or _new_run_id())
                self.weights_version = int(self.learner.extra.get("weights_version", 0))
                self.get_logger().info(
                    f"resumed run {self.run_id} from {Learner.latest(self.checkpoint_dir)}: "
                    f"{self.learner.env_steps} env steps, {self.learner.updates} updates, "
                    f"weights version {self.weights_version}"
                )
            else:
                self.learner = self._new_learner(env, config)
                self.run_id = settings.run_id or _new_run_id()
                self.weights_version = 0
            mode = getattr(env.unwrapped, "action_mode", None)
            if mode is not None:
                self.learner.agent.action_mode = mode.name
        finally:
            env.close()

        self.pub_weights = self.create_publisher(UInt8MultiArray, WEIGHTS_TOPIC, WEIGHTS_QOS)
        self.create_subscription(
            UInt8MultiArray, TRANSITIONS_TOPIC, self._on_transitions, TRANSITIONS_QOS
        )
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos.COMMAND)
        self.pending_steps = 0  # env steps whose updates are still owed
        self.forgotten_steps = 0  # owed updates dropped because the backlog overflowed
        self.batches_received = 0
        self.rejected_batches = 0
        self.lost_batches = 0
        self.policy_lag = -1  # of the last batch; -1 until a batch acted with weights
        # Per actor: the last batch's sequence number and the running episode. The sequences
        # come back from a checkpoint, so batches received after it (lost with the process) and
        # batches sent while nobody listened count as lost_batches after a resume.
        self.actors: dict[str, dict[str, Any]] = {
            actor_id: {"sequence": int(sequence), "episode": {}}
            for actor_id, sequence in (self.learner.extra.get("actor_sequences") or {}).items()
        }
        self.recent_success: deque[float] = deque(maxlen=20)
        self.last_metrics: dict[str, float] = {}
        self._published_updates = self.learner.updates
        self.training_log = self._training_log(config.node.log_dir)
        self._last_train_log = 0.0
        self._last_checkpoint = time.monotonic()
        self._saved_at = (self.learner.env_steps, self.learner.updates)
        self._last_log = (time.monotonic(), self.learner.updates, self.learner.env_steps)
        if self.learner.updates > 0:
            self._publish_weights()  # actors (re)joining get the resumed policy at once
        self.create_timer(0.002, self._tick)
        self.create_timer(1.0, self._publish_status)
        self.get_logger().info(
            f"serl_learner up: run {self.run_id} env={self.env_spec} "
            f"online={len(self.learner.online)}/{self.learner.online.capacity} demos="
            f"{len(self.learner.demos) if self.learner.demos is not None else 0} "
            f"utd={self.learner.agent.config.utd_ratio} listening on {TRANSITIONS_TOPIC}"
        )

    def _training_log(self, log_dir: str) -> TrainingLog | None:
        """TensorBoard and the learning curve (same tags as `robolearn train serl`), with the
        plotted history carried through checkpoints."""
        if not log_dir:
            return None
        return TrainingLog(
            log_dir,
            total_steps=0,
            initial_step=self.learner.env_steps,
            history=self.learner.extra.get("log_history"),
        )

    def _new_learner(self, env: gym.Env, config: LearnerNodeConfig) -> Learner:
        agent = RLPDAgent(
            self.observation_space,
            self.action_space,
            config.effective_agent(),
            device=config.device,
        )
        capacity = config.loop.buffer_capacity
        online = ReplayBuffer(self.observation_space, self.action_space, capacity)
        demos = self._demos(env, agent, config)
        return Learner(
            agent, online, demos, learning_starts=config.loop.learning_starts, seed=config.seed
        )

    def _demos(
        self, env: gym.Env, agent: RLPDAgent, config: LearnerNodeConfig
    ) -> ReplayBuffer | None:
        spec = config.loop.demos
        if not spec:
            return None
        if spec.startswith("expert:"):
            from robolearn.learn.train import collect_expert_demos

            count = spec.split(":", 1)[1]
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"demos {spec!r}: expected expert:N with N >= 1 episodes")
            episodes = int(count)
            buffer = collect_expert_demos(
                env, episodes, expert=config.env.expert_policy(), seed=config.seed + 10_000
            )
            self.get_logger().info(
                f"{len(buffer)} demo transitions from {episodes} scripted expert episodes"
            )
            return buffer
        mode = getattr(env.unwrapped, "action_mode", None)  # stores hold 7-D pose actions
        return load_demos(
            spec,
            self.observation_space,
            self.action_space,
            agent.encoder.keys,
            action_map=mode.from_pose if mode is not None and mode.name != "pose" else None,
        )

    # --- transitions ------------------------------------------------------------------------
    def _on_transitions(self, msg: UInt8MultiArray) -> None:
        try:
            batch = decode_transitions(msg_bytes(msg))
            self._add(batch)
        except (CodecError, KeyError, ValueError) as err:
            self.rejected_batches += 1
            self.get_logger().error(f"transition batch rejected: {err}", throttle_duration_sec=5.0)

    def _add(self, batch: TransitionBatch) -> None:
        actor = self.actors.setdefault(batch.actor_id, {"sequence": None, "episode": {}})
        expected = None if actor["sequence"] is None else actor["sequence"] + 1
        if expected is not None and batch.sequence != expected:
            if batch.sequence == 0:
                self.get_logger().info(f"actor {batch.actor_id} restarted")
                actor["episode"] = {}
            elif batch.sequence > expected:
                self.lost_batches += batch.sequence - expected
                self.get_logger().warning(
                    f"lost {batch.sequence - expected} batch(es) from actor {batch.actor_id}"
                )
        actor["sequence"], actor["seen"] = batch.sequence, True
        learner = self.learner
        before = learner.env_steps
        learner.add(batch.transitions, intervened=batch.intervened)
        self.batches_received += 1
        if batch.policy_version >= 0:  # snapshots between the acting policy and the newest
            self.policy_lag = self.weights_version - batch.policy_version
        for episode in episode_stats(batch, actor["episode"]):
            learner.record_episode(
                episode.success,
                episode_return=episode.episode_return,
                length=episode.length,
                interventions=episode.interventions,
            )
            self.recent_success.append(float(episode.success))
            if self.training_log is not None:
                self.training_log.episode(
                    learner.env_steps,
                    episode_return=episode.episode_return,
                    success=episode.success,
                    length=episode.length,
                    intervention_rate=episode.interventions / max(1, episode.length),
                )
        # Updates are owed for steps at or past learning_starts (as in the in-process loop).
        owed = learner.env_steps - max(before, learner.learning_starts - 1)
        self.pending_steps += max(0, min(owed, len(batch)))
        backlog = self.config.node.max_backlog
        if self.pending_steps > backlog:
            self.forgotten_steps += self.pending_steps - backlog
            self.get_logger().warning(
                f"learner behind the actors: forgetting {self.pending_steps - backlog} steps of "
                "owed updates (lower utd_ratio, or fewer/slower actors)",
                throttle_duration_sec=10.0,
            )
            self.pending_steps = backlog

    # --- learning ---------------------------------------------------------------------------
    def _tick(self) -> None:
        learner = self.learner
        if self.pending_steps > 0 and learner.ready():
            steps = min(self.pending_steps, self.config.node.max_steps_per_tick)
            metrics = learner.update(steps)
            self.pending_steps -= steps
            if metrics:
                self.last_metrics = metrics
                now = time.monotonic()
                if self.training_log is not None and now - self._last_train_log >= 5.0:
                    scalars = {**metrics, "policy_lag": float(self.policy_lag)}
                    self.training_log.train_metrics(learner.env_steps, scalars, force=True)
                    self._last_train_log = now
            if learner.updates - self._published_updates >= self.config.node.publish_every:
                self._publish_weights()
        now = time.monotonic()
        if (
            self.checkpoint_dir is not None
            and now - self._last_checkpoint >= self.config.node.checkpoint_every_s
            and self._unsaved()
        ):
            self.save_checkpoint()
        if now - self._last_log[0] >= 10.0:
            self._log_progress(now)

    def _publish_weights(self) -> None:
        self.weights_version += 1
        snapshot = WeightSnapshot(
            self.learner.agent.policy_state_dict(),
            self.weights_version,
            self.run_id,
            self.learner.agent.config.to_dict(),
        )
        self.pub_weights.publish(bytes_msg(encode_weights(snapshot)))
        self._published_updates = self.learner.updates

    def _unsaved(self) -> bool:
        """True if there is something a checkpoint would add to the last one."""
        learner = self.learner
        return learner.env_steps > 0 and self._saved_at != (learner.env_steps, learner.updates)

    def save_checkpoint(self) -> Path | None:
        """Checkpoint now (atomic; `Learner.save`), with the run id and weights version."""
        if self.checkpoint_dir is None:
            return None
        learner = self.learner
        path = learner.save(
            self.checkpoint_dir,
            extra={
                "run_id": self.run_id,
                "weights_version": self.weights_version,
                "actor_sequences": {k: v["sequence"] for k, v in self.actors.items()},
                "log_history": self.training_log.state() if self.training_log else None,
                "config": to_dict(self.config),
            },
        )
        self._last_checkpoint = time.monotonic()
        self._saved_at = (learner.env_steps, learner.updates)
        if rclpy.ok(context=self.context):  # not after a SIGTERM shut the context down
            self.get_logger().info(
                f"checkpoint {path} (env steps {learner.env_steps}, weights version "
                f"{self.weights_version})"
            )
        return path

    # --- status -----------------------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        learner = self.learner
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "weights_version": self.weights_version,
            **learner.counters(),
            "actors": sum(1 for a in self.actors.values() if a.get("seen")),
            "batches_received": self.batches_received,
            "rejected_batches": self.rejected_batches,
            "lost_batches": self.lost_batches,
            "pending_steps": self.pending_steps,
            "forgotten_steps": self.forgotten_steps,
            "policy_lag": self.policy_lag,
            "recent_success_rate": (
                sum(self.recent_success) / len(self.recent_success)
                if self.recent_success
                else math.nan
            ),
        }
        for key in ("critic_loss", "q", "actor_loss", "temperature"):
            if key in self.last_metrics:
                out[key] = self.last_metrics[key]
        return out

    def _publish_status(self) -> None:
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK,
            name=LEARNER_STATUS,
            message="learning" if self.learner.ready() else "collecting",
            hardware_id=self.run_id,
            values=status_values(self.counters()),
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)

    def _log_progress(self, now: float) -> None:
        then, updates, steps = self._last_log
        dt = max(now - then, 1e-9)
        c = self.counters()
        self.get_logger().info(
            f"env steps {c['env_steps']} ({(c['env_steps'] - steps) / dt:.0f}/s from "
            f"{c['actors']} actor(s)), updates {c['updates']} ({(c['updates'] - updates) / dt:.0f}"
            f"/s), episodes {c['episodes']}, recent success {c['recent_success_rate']:.2f}, "
            f"weights v{self.weights_version}, owed {self.pending_steps} steps"
        )
        self._last_log = (now, self.learner.updates, self.learner.env_steps)

    def destroy_node(self) -> None:
        # After a failed __init__ (a refused checkpoint, say) there is no learner to save.
        if getattr(self, "learner", None) is not None:
            if self.checkpoint_dir is not None and self._unsaved():
                self.save_checkpoint()
            if getattr(self, "training_log", None) is not None:
                self.training_log.close()  # writes learning_curve.png
        super().destroy_node()


def _new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `serl_learner` (``--ros-args -p env.task:=reach -p loop.demos:=expert:20
    -p node.checkpoint_dir:=runs/reach``; every key of `LearnerNodeConfig` is a parameter).

    Discovery stays on this machine unless ``ROS_AUTOMATIC_DISCOVERY_RANGE`` is set (set it to
    ``SUBNET`` for actors on other machines)."""
    restrict_discovery_to_localhost()
    rclpy.init(args=list(sys.argv if argv is None else argv))
    try:
        node = SerlLearnerNode()
    except BaseException:
        rclpy.shutdown()
        raise
    spin_until_shutdown(node)


if __name__ == "__main__":
    main()
