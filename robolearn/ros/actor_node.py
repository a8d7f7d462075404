"""`serl_actor`: one SERL actor over ROS 2 (a thin shell over `robolearn.learn.actor.Actor`).

Runs an environment in-process (by default the MuJoCo twin of `task`; any gymnasium id or
``module:callable`` entry point with `env`), acts with the newest policy weights from the
learner and sends its transitions back in batches:

- publishes ``serl/transitions`` (std_msgs/UInt8MultiArray, a `robolearn.learn.codec`
  ``transitions`` payload every `batch_size` steps; reliable). While no learner subscribes, the
  batches wait in a bounded queue and go out when one appears (a learner restarting loses none
  of them unless the queue overflows);
- subscribes ``serl/weights`` (a ``weights`` payload; reliable + transient-local, depth 1, so an
  actor started or restarted after the learner gets the latest snapshot at once);
- publishes its counters on ``/diagnostics`` (name ``serl_actor/<actor_id>``) once a second.

Random actions until the first weights arrive (and for at least `random_steps` steps); then the
stochastic policy. On a hardware robot (the env's `hardware_id`: a bridge's latched backend,
e.g. franka, among the certification's hardware backends) every snapshot passes the deployment
gate, and unless `node.explore_on_hardware` nothing moves before certified weights arrive and
the policy acts with its mean. The last weights received stay in use for as long as the learner
is away. Several actors share one learner: give each its own `actor_id` and `seed`; topic names
are shared.
`intervene` puts a HIL-SERL operator at the actor (a teleop device, or the task's scripted
expert on a schedule); the steps it takes are flagged in the batches.
"""

from __future__ import annotations

import collections
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.context import Context
from rclpy.node import Node
from std_msgs.msg import UInt8MultiArray

from robolearn.certify.gate import (
    CertificateRefused,
    CertificationConfig,
    require_lipschitz_weights,
)
from robolearn.envs import hardware_identity
from robolearn.learn.actor import Actor, with_operator
from robolearn.learn.codec import CodecError, decode_weights, encode_transitions
from robolearn.learn.config import ActorNodeConfig, apply_cpus
from robolearn.ros import qos, restrict_discovery_to_localhost
from robolearn.ros.params import (
    CONFIG_NODE_OPTIONS,
    config_parameters,
    declare_config,
    parameter_overrides,
)
from robolearn.ros.serl_wire import (
    LEARNER_GRACE_S,
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
PARAMETERS = config_parameters(ActorNodeConfig())


class SerlActorNode(Node):
    """The SERL actor: env + policy + transport. `actor` holds the counters."""

    def __init__(self, *, context: Context | None = None, **overrides: Any) -> None:
        """``overrides`` set parameters (as ``--ros-args -p name:=value`` would)."""
        super().__init__(
            "serl_actor",
            context=context,
            parameter_overrides=parameter_overrides(overrides),
            **CONFIG_NODE_OPTIONS,
        )
        self.config = config = declare_config(self, ActorNodeConfig())
        p = config.node
        apply_cpus(p.cpus)
        self.certification = (
            CertificationConfig.from_yaml(p.certification)
            if p.certification
            else CertificationConfig()
        )
        # One observation at a time: more torch threads only contend for the CPU.
        torch.set_num_threads(1)
        spec = config.env.name
        env = with_operator(
            config.env.make(),
            p.intervene,
            seed=config.seed,
            patience=p.intervene_patience,
            takeover_steps=p.intervene_steps,
            max_episodes=None if p.intervene_episodes < 0 else p.intervene_episodes,
        )
        # The robot behind the env says whether it is hardware (a bridge's latched backend):
        # there the gate checks every snapshot, and nothing moves randomly unless asked for.
        self.hardware_id = hardware_identity(env)
        self.on_hardware = self.hardware_id in self.certification.hardware_backends
        explore = p.explore_on_hardware or not self.on_hardware
        if self.on_hardware and p.random_steps and not p.explore_on_hardware:
            env.close()
            raise ValueError(
                f"node.random_steps={p.random_steps} on hardware ({self.hardware_id}): random "
                "actions move the real arm; set node.explore_on_hardware:=true to allow them"
            )
        self.actor = Actor(
            env,
            actor_id=p.actor_id,
            batch_size=p.batch_size,
            random_steps=p.random_steps,
            seed=config.seed,
            deterministic=p.deterministic or not explore,
            device=config.device,
            act_before_weights=explore,
        )
        self.pub_transitions = self.create_publisher(
            UInt8MultiArray, TRANSITIONS_TOPIC, TRANSITIONS_QOS
        )
        self.create_subscription(UInt8MultiArray, WEIGHTS_TOPIC, self._on_weights, WEIGHTS_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos.COMMAND)
        self._queue: collections.deque[bytes] = collections.deque(
            maxlen=max(1, p.max_queued_batches)
        )
        self.batches_sent = 0
        self.batches_dropped = 0
        self.rejected_weights = 0
        self.certified_lipschitz: float | None = None  # of the weights acted with
        # The learner's 1 Hz status is its heartbeat: DDS keeps a killed learner matched until
        # its lease runs out (many seconds), and batches sent to it meanwhile would be lost.
        self._learner_seen = -math.inf
        self._learner_back = -math.inf
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_status, qos.COMMAND)
        self._rate_window = (time.monotonic(), 0)
        self.steps_per_s = 0.0
        rate = float(p.rate_hz)
        # A 0 s timer fires on every executor cycle: one env step per callback, so weights and
        # other callbacks are served between steps.
        self.create_timer(1.0 / rate if rate > 0 else 0.0, self._tick)
        self.create_timer(1.0, self._publish_status)
        before = "random actions" if explore else "no action (hardware)"
        self.get_logger().info(
            f"serl_actor up: actor_id={p.actor_id} env={spec} robot={self.hardware_id}"
            f" batch_size={p.batch_size} rate_hz={rate}; {before} until weights arrive on"
            f" {WEIGHTS_TOPIC}"
        )

    # --- weights ----------------------------------------------------------------------------
    def _on_weights(self, msg: UInt8MultiArray) -> None:
        try:
            snapshot = decode_weights(msg_bytes(msg))
            previous = self.actor.weights_version
            # The deployment gate: on a gated backend (the real arm) weights whose certified
            # Lipschitz bound exceeds the configured limit never reach the policy.
            bound = require_lipschitz_weights(
                snapshot.tensors, snapshot.config, self.certification, self.hardware_id
            )
            self.actor.load_weights(snapshot)
        except (CodecError, ValueError, CertificateRefused) as err:
            self.rejected_weights += 1
            self.get_logger().error(f"weights rejected: {err}", throttle_duration_sec=5.0)
            return
        self.certified_lipschitz = bound
        if snapshot.version != previous:
            self.get_logger().info(
                f"weights version {previous} -> {snapshot.version} (run {snapshot.run_id}, "
                f"certified L <= {bound:.4g})"
            )

    # --- acting -----------------------------------------------------------------------------
    def _tick(self) -> None:
        batch = self.actor.step()
        if batch is not None:
            if len(self._queue) == self._queue.maxlen:
                self.batches_dropped += 1  # the append below pushes the oldest out
            self._queue.append(encode_transitions(batch))
        self._send()

    def _on_status(self, msg: DiagnosticArray) -> None:
        if any(status.name == LEARNER_STATUS for status in msg.status):
            now = time.monotonic()
            if not self.learner_alive:
                self._learner_back = now
            self._learner_seen = now

    @property
    def learner_alive(self) -> bool:
        """True while the learner's status keeps coming (within `learner_timeout_s`)."""
        timeout = self.config.node.learner_timeout_s
        return time.monotonic() - self._learner_seen < timeout

    def _send(self) -> None:
        if not self._queue or not rclpy.ok(context=self.context):
            return
        # Keep the batches while no learner is alive, and for a moment after one appears, so
        # its subscription is matched before they go out (a dead one may still be matched).
        if not self.learner_alive or time.monotonic() - self._learner_back < LEARNER_GRACE_S:
            return
        if self.pub_transitions.get_subscription_count() == 0:
            return
        while self._queue:
            self.pub_transitions.publish(bytes_msg(self._queue.popleft()))
            self.batches_sent += 1

    # --- status -----------------------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        a = self.actor
        return {
            "actor_id": a.actor_id,
            "env_steps": a.env_steps,
            "episodes": a.episodes,
            "successes": a.successes,
            "weights_version": a.weights_version,
            "run_id": a.run_id,
            "weight_updates": a.weight_updates,
            "acting_randomly": a.acting_randomly and not a.waiting_for_weights,
            "hardware_id": self.hardware_id,
            "learner_alive": self.learner_alive,
            "batches_sent": self.batches_sent,
            "batches_queued": len(self._queue),
            "batches_dropped": self.batches_dropped,
            "rejected_weights": self.rejected_weights,
            "steps_per_s": round(self.steps_per_s, 1),
            "intervention_steps": a.intervention_steps,
        }

    def _publish_status(self) -> None:
        now, steps = time.monotonic(), self.actor.env_steps
        then, before = self._rate_window
        self.steps_per_s = (steps - before) / max(now - then, 1e-9)
        self._rate_window = (now, steps)
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK,
            name=f"serl_actor/{self.actor.actor_id}",
            message=(
                "waiting for certified weights"
                if self.actor.waiting_for_weights
                else "random"
                if self.actor.acting_randomly
                else "policy"
            ),
            hardware_id=self.actor.actor_id,
            values=status_values(self.counters()),
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)

    def destroy_node(self) -> None:
        # Also called by rclpy's context shutdown on a node whose __init__ failed part-way.
        if not hasattr(self, "actor"):
            super().destroy_node()
            return
        batch = self.actor.flush()
        if batch is not None:
            self._queue.append(encode_transitions(batch))
        if rclpy.ok(context=self.context):
            self._send()
        self.actor.close()
        super().destroy_node()


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `serl_actor` (``--ros-args -p node.actor_id:=arm_0 -p env.task:=reach``;
    every key of `ActorNodeConfig` is a parameter).

    Discovery stays on this machine unless ``ROS_AUTOMATIC_DISCOVERY_RANGE`` is set (set it to
    ``SUBNET`` to reach a learner on another machine)."""
    restrict_discovery_to_localhost()
    rclpy.init(args=list(sys.argv if argv is None else argv))
    try:
        node = SerlActorNode()
    except BaseException:
        rclpy.shutdown()
        raise
    spin_until_shutdown(node)


if __name__ == "__main__":
    main()
